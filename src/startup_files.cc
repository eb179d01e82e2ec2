#include "keelan/startup_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "keelan/fs_trust.h"
#include "keelan/paths.h"

namespace keelan {

namespace {
// Creates a directory and its parents. A symlink in any part is refused
// before anything is created through it (a planted link must not make root
// create directories where it points); ownership is checkTrustedPath's job.
std::string makeDirectory(const std::string& path, mode_t mode) {
  std::string partial;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    partial = path.substr(0, end);
    start = end + 1;
    if (partial.empty() || partial.back() == '/') continue;
    struct stat info {};
    if (lstat(partial.c_str(), &info) == 0) {
      if (S_ISLNK(info.st_mode)) return "refusing directory " + partial + ": it is a symlink";
      if (!S_ISDIR(info.st_mode)) return "refusing directory " + partial + ": not a directory";
      continue;
    }
    if (mkdir(partial.c_str(), end == path.size() ? mode : 0755) != 0 && errno != EEXIST)
      return "cannot create directory " + partial + ": " + strerror(errno);
  }
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0) return "cannot create directory " + path + ": " + strerror(errno);
  if (S_ISLNK(info.st_mode)) return "refusing directory " + path + ": it is a symlink";
  if (!S_ISDIR(info.st_mode)) return "refusing directory " + path + ": not a directory";
  return "";
}

bool isDirectory(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

}  // namespace

// Whatever the daemon inherited (from a shell, a test runner, systemd) must
// not leak into every ship it spawns.
void markInheritedFdsCloseOnExec() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  int self = dirfd(dir);
  while (dirent* entry = readdir(dir)) {
    int fd = atoi(entry->d_name);
    if (fd > STDERR_FILENO && fd != self) fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
  }
  closedir(dir);
}

void writeReady(int fd, const std::string& line) {
  if (fd < 0) return;
  ssize_t ignored = write(fd, line.data(), line.size());
  (void)ignored;
}

// systemd's readiness protocol: one datagram to $NOTIFY_SOCKET.
void notifySystemd(const std::string& message) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (path == nullptr || (path[0] != '/' && path[0] != '@')) return;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  size_t length = strlen(path);
  if (length >= sizeof address.sun_path) return;
  memcpy(address.sun_path, path, length);
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&address),
         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length));
  close(fd);
}

std::string prepareDaemonFiles(const DaemonConfig& config, Logger& log, gid_t& socketGid) {
  const Paths& p = config.paths;
  // StrictModes: a directory someone else can write, anywhere up to "/",
  // could swap our files for theirs. Existing ones are checked, never trusted.
  const uid_t self = geteuid();
  if (auto e = makeDirectory(parentDirectory(p.logFile), 0755); !e.empty()) return e;
  if (auto e = checkTrustedPath(parentDirectory(p.logFile), self); !e.empty()) return e;
  if (auto e = log.open(p.logFile, config.foreground); !e.empty()) return e;
  if (!config.socketGroup.empty()) {
    group* entry = getgrnam(config.socketGroup.c_str());
    if (entry == nullptr) return "no such group '" + config.socketGroup + "' (--socket-group)";
    socketGid = entry->gr_gid;
  }
  // The socket's directory is the first gate: 0700, or 0750 for a group.
  // Only our own run/ directory is tightened; a directory the user named
  // for --socket is theirs to set.
  std::string socketDir = parentDirectory(p.socket);
  mode_t socketDirMode = config.socketGroup.empty() ? 0700 : 0750;
  if (auto e = makeDirectory(socketDir, socketDirMode); !e.empty()) return e;
  // Checked before it is tightened: what others could write, they could have planted in.
  if (auto e = checkTrustedPath(socketDir, self); !e.empty()) return e;
  if (socketDir == p.base + "/run" || (p.base == "/" && socketDir == "/run")) {
    if (socketGid != static_cast<gid_t>(-1) && chown(socketDir.c_str(), static_cast<uid_t>(-1), socketGid) != 0)
      return "cannot give " + socketDir + " to group " + config.socketGroup + ": " + strerror(errno);
    if (chmod(socketDir.c_str(), socketDirMode) != 0) return "cannot set the mode of " + socketDir + ": " + strerror(errno);
  }
  if (auto e = makeDirectory(parentDirectory(p.pidFile), 0755); !e.empty()) return e;
  if (auto e = makeDirectory(p.dataDir, 0700); !e.empty()) return e;
  if (auto e = makeDirectory(p.shipLogDir, 0750); !e.empty()) return e;
  std::vector<std::string> used = {p.base, parentDirectory(p.pidFile), p.dataDir, p.shipLogDir};
  if (isDirectory(p.shipsDir)) used.push_back(p.shipsDir);
  for (const auto& dir : used)
    if (auto e = checkTrustedPath(dir, self); !e.empty()) return e;
  return "";
}

}  // namespace keelan
