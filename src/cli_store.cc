#include "keelan/cli_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>

#include "keelan/cli_render.h"
#include "keelan/store.h"
#include "keelan/store_file.h"

namespace keelan {

using nlohmann::json;

namespace {

// Owns one fd.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) close(fd);
  }
};

// The daemon if it answers, else nullopt (no daemon: work offline).
std::optional<DaemonClient> daemonIfRunning(const std::string& socketPath) {
  DaemonClient client;
  int err = 0;
  if (auto e = client.connect(socketPath, &err); !e.empty()) {
    if (err == ENOENT || err == ECONNREFUSED) return std::nullopt;
    fail(kExitFailed, e);
  }
  return client;
}

// Offline work on the store holds the daemon's lock, so no daemon starts
// meanwhile.
int lockStoreOffline(const Paths& paths) {
  std::string path = paths.dataDir + "/daemon.lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) fail(kExitFailed, "no store in " + paths.dataDir + " (" + path + ": " + strerror(errno) + ")");
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    fail(kExitFailed, "a daemon holds the store in " + paths.dataDir + " but does not answer on " + clientSocket(paths));
  }
  return fd;
}

int backupOffline(const Paths& paths, const std::string& path) {
  FdCloser lock{lockStoreOffline(paths)};
  DataFileState state;
  if (auto e = checkDataFiles(paths.dataDir, state); !e.empty()) fail(kExitFailed, e);
  if (!state.dataExists || state.dataSize == 0) fail(kExitFailed, "no store in " + paths.dataDir + " (data.mdb is missing or empty)");
  Store store;
  if (auto e = store.open(paths.dataDir); !e.empty()) fail(kExitFailed, e);
  std::string error;
  int fd = createBackupFile(path, getuid(), getgid(), error);
  if (fd < 0) fail(kExitFailed, error);
  error = store.backupTo(fd);
  struct stat info {};
  fstat(fd, &info);
  close(fd);
  if (!error.empty()) {
    removeBackupFile(path);
    fail(kExitFailed, error);
  }
  std::cout << "store backed up to " << path << " (" << info.st_size << " bytes, offline)\n";
  return kExitOk;
}

int storeBackupCommand(const std::string& file) {
  Paths paths = basePaths();
  std::string path = absolutePath(file, currentDirectory());
  if (auto client = daemonIfRunning(clientSocket(paths))) {
    json reply = callOrFail(*client, {{"op", "store-backup"}, {"path", path}});
    std::cout << "store backed up to " << path << " (" << reply.value("bytes", 0) << " bytes, "
              << reply.value("durationMs", 0) << " ms, live)\n";
    return kExitOk;
  }
  return backupOffline(paths, path);
}

// The report on a backup file; `what` names it.
json checkBackupFile(const std::string& file, std::string& what) {
  what = absolutePath(file, currentDirectory());
  FdCloser fd{open(what.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
  struct stat info {};
  if (fd.fd < 0) fail(kExitFailed, "cannot open " + what + ": " + strerror(errno));
  if (fstat(fd.fd, &info) != 0 || !S_ISREG(info.st_mode)) fail(kExitFailed, "refusing " + what + ": not a regular file");
  return storeCheckReport(fd.fd);
}

int storeCheckCommand(const std::string& file, bool asJson) {
  Paths paths = basePaths();
  json report;
  std::string what;
  if (!file.empty()) {
    report = checkBackupFile(file, what);
  } else if (auto client = daemonIfRunning(clientSocket(paths))) {
    report = callOrFail(*client, {{"op", "store-check"}})["report"];
    what = paths.dataDir + "/data.mdb (live)";
  } else {
    FdCloser lock{lockStoreOffline(paths)};
    report = storeCheckReport(paths.dataDir);
    what = paths.dataDir + "/data.mdb (offline)";
  }
  report["file"] = what;
  bool ok = report.value("ok", false);
  if (asJson)
    std::cout << report.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  else
    printStoreReport(report, what);
  return ok ? kExitOk : kExitFailed;
}

struct StoreCommandOptions {
  std::string file;
  bool asJson = false;
};

}  // namespace

void addStoreCommands(CLI::App& app, CliAction& action) {
  auto o = std::make_shared<StoreCommandOptions>();
  auto* store = app.add_subcommand("store", "back up and check the ship store");
  store->require_subcommand(1);
  auto* backup = store->add_subcommand("backup", "write a consistent, compacted copy of the store (live or offline)");
  backup->add_option("file", o->file, "new file to write (never overwritten)")->required();
  backup->callback([&action, o] { action = [o] { return storeBackupCommand(o->file); }; });
  auto* check = store->add_subcommand("check", "check every page and record of the store; exit 1 if something is bad");
  check->add_flag("--json", o->asJson, "print JSON");
  check->add_option("--file", o->file, "check this backup file instead of the store");
  check->callback([&action, o] { action = [o] { return storeCheckCommand(o->file, o->asJson); }; });
}

}  // namespace keelan
