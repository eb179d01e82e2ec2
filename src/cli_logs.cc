#include "keelan/cli_logs.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <utility>

#include "keelan/fs_trust.h"
#include "keelan/pidfile.h"
#include "keelan/protocol.h"
#include "keelan/ship.h"
#include "keelan/time_util.h"

namespace keelan {

namespace {

// The file's last blocks, oldest first, until more than `count` newlines
// are in: 4 KiB at first, twice as much each step after, up to 256 KiB.
std::string tailBytes(int fd, size_t count) {
  struct stat info {};
  if (fstat(fd, &info) != 0) return "";
  off_t start = info.st_size;
  off_t step = 4096;
  size_t newlines = 0;
  std::vector<std::string> blocks;  // newest first
  size_t total = 0;
  while (start > 0 && newlines <= count) {
    off_t chunk = std::min(start, step);
    start -= chunk;
    std::string block(static_cast<size_t>(chunk), '\0');
    if (pread(fd, block.data(), block.size(), start) != chunk) break;
    newlines += static_cast<size_t>(std::count(block.begin(), block.end(), '\n'));
    total += block.size();
    blocks.push_back(std::move(block));
    step = std::min<off_t>(step * 2, 256 * 1024);
  }
  std::string tail;
  tail.reserve(total);
  for (auto block = blocks.rbegin(); block != blocks.rend(); ++block) tail += *block;
  return tail;
}

}  // namespace

// Reads backwards from the end, so `daemon status` reads the daemon log's
// last few KiB, whatever its size.
std::vector<std::string> lastLines(const std::string& path, size_t count) {
  std::vector<std::string> lines;
  if (count == 0) return lines;
  int fd = openFileNoFollow(path, O_RDONLY);  // a planted FIFO must not hang us
  if (fd < 0) return lines;
  std::string tail = tailBytes(fd, count);
  close(fd);
  // Split as std::getline does: a last line without '\n' counts, the empty
  // "line" after a final '\n' does not.
  size_t from = 0;
  while (from < tail.size()) {
    size_t newline = tail.find('\n', from);
    if (newline == std::string::npos) newline = tail.size();
    lines.emplace_back(tail, from, newline - from);
    from = newline + 1;
  }
  if (lines.size() > count) lines.erase(lines.begin(), lines.end() - static_cast<long>(count));
  return lines;
}

namespace {

// The newest lines, reaching back into rotated files (NAME.out.log.1, .2,
// ...) as needed.
std::vector<std::string> newestLines(const std::string& path, int lines) {
  std::vector<std::string> shown = lastLines(path, static_cast<size_t>(lines));
  for (int n = 1; shown.size() < static_cast<size_t>(lines); ++n) {
    std::string rotated = path + "." + std::to_string(n);
    if (access(rotated.c_str(), R_OK) != 0) break;
    std::vector<std::string> older = lastLines(rotated, static_cast<size_t>(lines) - shown.size());
    shown.insert(shown.begin(), older.begin(), older.end());
  }
  return shown;
}

// Tells when the ship has stopped for good, from the daemon's `wait`: the
// ship's run is over and no restart is pending. A `wait` answered with the
// same run as the last answer means nothing started since; a new run (a
// `keelan restart`, a deploy) means waiting again. A daemon that goes away
// leaves nobody to ask: `armed()` is then false until arm() succeeds.
class ShipWatch {
 public:
  ShipWatch(std::string socketPath, std::string name) : socketPath_(std::move(socketPath)), name_(std::move(name)) {}
  bool armed() const { return armed_; }
  void arm() {
    client_ = DaemonClient{};
    armed_ = client_.connect(socketPath_).empty() && client_.send({{"op", "wait"}, {"name", name_}});
  }
  // Reads an answer if one has come; never blocks for long.
  bool ended() {
    if (!armed_) return false;
    pollfd ready{client_.fd(), POLLIN, 0};
    if (poll(&ready, 1, 0) <= 0) return false;
    auto reply = client_.receive(1000);
    armed_ = false;
    if (!reply) return false;  // the daemon went away (or restarts in place)
    if (!reply->value("ok", false)) return errorCode(*reply) == errc::not_found;  // removed: nothing comes any more
    const nlohmann::json& ship = (*reply)["ship"];
    Run run{ship.value("deployCount", uint64_t{0}), ship.value("runCount", uint64_t{0})};
    if (last_ && *last_ == run) return true;
    last_ = run;
    armed_ = client_.send({{"op", "wait"}, {"name", name_}});
    return false;
  }

 private:
  using Run = std::pair<uint64_t, uint64_t>;  // deployCount, runCount
  std::string socketPath_, name_;
  DaemonClient client_;
  bool armed_ = false;
  std::optional<Run> last_;
};

// Follows one log file: new output as it comes, across both kinds of
// rotation. Ships write their logs themselves, so following goes on without
// the daemon; but it says when the daemon goes away (or comes back). With a
// watch it ends, once the output is drained, when the ship has stopped for
// good.
class LogFollower {
 public:
  LogFollower(std::string path, std::string pidFile, std::unique_ptr<ShipWatch> watch)
      : path_(std::move(path)), pidFile_(std::move(pidFile)), watch_(std::move(watch)) {}
  // A log that was not there when the command began is followed from its start.
  void fromStart() { fromStart_ = true; }
  ~LogFollower() {
    if (fd_ >= 0) close(fd_);
  }
  LogFollower(const LogFollower&) = delete;
  LogFollower& operator=(const LogFollower&) = delete;

  int run() {
    fd_ = openFileNoFollow(path_, O_RDONLY);
    if (fd_ < 0) fail(kExitFailed, "cannot open " + path_);
    if (!fromStart_) lseek(fd_, 0, SEEK_END);
    daemonUp_ = probePidFile(pidFile_).locked;
    if (watch_ && daemonUp_) watch_->arm();
    nextCheck_ = monotonicMs() + 1000;
    for (;;) {
      reportDaemonChange();
      if (copyNewOutput() || rewoundInPlace()) continue;
      if (rotatedAway()) {
        if (!reopen()) return kExitOk;
        continue;
      }
      if (watch_ && watch_->ended()) {
        while (copyNewOutput()) {
        }
        return kExitOk;
      }
      usleep(100000);
    }
  }

 private:
  // Checked every second.
  void reportDaemonChange() {
    if (monotonicMs() < nextCheck_) return;
    nextCheck_ = monotonicMs() + 1000;
    bool up = probePidFile(pidFile_).locked;
    if (up != daemonUp_)
      std::cerr << (up ? "keelan: the daemon is back\n" : "keelan: the daemon is gone; still following " + path_ + "\n");
    daemonUp_ = up;
    if (up && watch_ && !watch_->armed()) watch_->arm();
  }

  bool copyNewOutput() {
    ssize_t n = read(fd_, buffer_, sizeof buffer_);
    if (n <= 0) return false;
    fwrite(buffer_, 1, static_cast<size_t>(n), stdout);
    fflush(stdout);
    return true;
  }

  // Rotated in place by the daemon (its head cut out): the unread bytes
  // moved back by the block-aligned length that was cut.
  bool rewoundInPlace() {
    struct stat now {};
    off_t offset = lseek(fd_, 0, SEEK_CUR);
    if (fstat(fd_, &now) != 0 || now.st_size >= offset) return false;
    off_t block = now.st_blksize > 0 ? now.st_blksize : 4096;
    lseek(fd_, std::min<off_t>(offset % block, now.st_size), SEEK_SET);
    return true;
  }

  bool rotatedAway() const {
    struct stat current {}, opened {};
    return stat(path_.c_str(), &current) == 0 && fstat(fd_, &opened) == 0 && current.st_ino != opened.st_ino;
  }

  // The new file, from its start.
  bool reopen() {
    close(fd_);
    fd_ = openFileNoFollow(path_, O_RDONLY);
    return fd_ >= 0;
  }

  std::string path_, pidFile_;
  std::unique_ptr<ShipWatch> watch_;
  bool fromStart_ = false;
  int fd_ = -1;
  bool daemonUp_ = false;
  int64_t nextCheck_ = 0;
  char buffer_[65536];
};

struct LogsOptions {
  std::string name;
  bool stderrLog = false, follow = false, retry = false;
  int lines = 10;
};

int logsCommand(const LogsOptions& o) {
  if (auto e = validateShipName(o.name); !e.empty()) fail(kExitUsage, e);
  if (o.retry && !o.follow) fail(kExitUsage, "--retry goes with --follow");
  Paths paths = basePaths();
  std::string path = o.stderrLog ? paths.shipErrLog(o.name) : paths.shipOutLog(o.name);
  // --retry, as tail's: a log that is not there yet is waited for.
  bool waited = false;
  for (; o.retry && access(path.c_str(), R_OK) != 0; waited = true) usleep(100000);
  if (access(path.c_str(), R_OK) != 0)
    fail(kExitFailed, "no logs for ship '" + o.name + "' (" + path + ": " + strerror(errno) + ")");
  if (!waited)
    for (const auto& line : newestLines(path, o.lines)) std::cout << line << "\n";
  std::cout.flush();
  if (!o.follow) return kExitOk;
  std::unique_ptr<ShipWatch> watch;
  if (!o.retry) watch = std::make_unique<ShipWatch>(clientSocket(paths), o.name);
  auto follower = std::make_unique<LogFollower>(path, paths.pidFile, std::move(watch));
  if (waited) follower->fromStart();
  return follower->run();
}

}  // namespace

void addLogsCommand(CLI::App& app, CliAction& action) {
  auto o = std::make_shared<LogsOptions>();
  auto* logs = app.add_subcommand("logs", "a ship's output");
  logs->add_option("name", o->name, "ship name")->required();
  logs->add_flag("--stderr", o->stderrLog, "show stderr instead of stdout");
  logs->add_option("-n,--lines", o->lines, "lines to show (default 10)")->check(CLI::Range(0, 100000000));
  logs->add_flag("-f,--follow", o->follow, "keep printing new output until the ship has stopped for good");
  logs->add_flag("--retry", o->retry, "with -f: keep following across stops and restarts; wait for a log not there yet");
  logs->callback([&action, o] { action = [o] { return logsCommand(*o); }; });
}

}  // namespace keelan
