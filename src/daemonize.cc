#include "keelan/daemonize.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "keelan/fs_trust.h"
#include "keelan/logger.h"
#include "keelan/paths.h"
#include "keelan/time_util.h"

namespace keelan {

std::string selfExecutable() {
  char buffer[4096];
  ssize_t n = readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n <= 0) return "keelan";
  return std::string(buffer, static_cast<size_t>(n));
}

namespace {

// Owns one fd.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

void redirectStdio(const std::string& logFile) {
  int in = open("/dev/null", O_RDONLY);
  if (in >= 0 && in != STDIN_FILENO) {
    dup2(in, STDIN_FILENO);
    close(in);
  }
  // If the log cannot be opened the daemon says why through the ready pipe.
  // Not even stdout goes into a directory the daemon would refuse.
  int out = checkTrustedPath(parentDirectory(logFile), geteuid()).empty() ? openAppendNoFollow(logFile, 0640) : -1;
  if (out < 0) out = open("/dev/null", O_WRONLY);
  if (out >= 0) {
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    if (out > STDERR_FILENO) close(out);
  }
}

// Every fd above stderr is closed by the exec, except `keep`.
void closeOnExecAllBut(int keep) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir != nullptr) {
    int own = dirfd(dir);
    while (dirent* entry = readdir(dir)) {
      int fd = atoi(entry->d_name);
      if (fd > STDERR_FILENO && fd != own && fd != keep) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    closedir(dir);
  }
  if (keep >= 0) fcntl(keep, F_SETFD, 0);
}

// Returns only when the exec failed, with the reason.
// By default the daemon runs the file the CLI runs from, by its path: the
// kernel names a process after the file it execs, and logrotate and ps look
// for "keelan" (exec'ing /proc/self/exe would name it "exe"). A file removed
// since (an upgrade mid-start) leaves /proc/self/exe as the way to this image.
std::string execDaemon(const DaemonConfig& config, const std::string& requested) {
  std::string binary = requested;
  if (binary.empty()) {
    bool pathRuns = !config.selfExe.empty() && access(config.selfExe.c_str(), X_OK) == 0;
    binary = pathRuns ? config.selfExe : "/proc/self/exe";
  }
  closeOnExecAllBut(config.readyFd);
  std::string encoded = encodeStartConfig(config);
  setenv(kDaemonConfigVariable, encoded.c_str(), 1);
  std::string argv0 = config.selfExe.empty() ? binary : config.selfExe;
  char* argv[] = {argv0.data(), const_cast<char*>(kDaemonVerb), nullptr};
  execv(binary.c_str(), argv);
  std::string reason = "cannot execute " + binary + ": " + strerror(errno);
  unsetenv(kDaemonConfigVariable);
  if (config.readyFd >= 0) fcntl(config.readyFd, F_SETFD, FD_CLOEXEC);
  return reason;
}

// In the first child: detach for good, then become the daemon.
[[noreturn]] void becomeDaemon(DaemonConfig config, const std::string& binary, int readyFd) {
  setsid();
  pid_t daemon = fork();
  if (daemon != 0) _exit(daemon < 0 ? 1 : 0);
  umask(022);
  if (chdir("/") != 0) _exit(1);
  // The log's directory may not exist yet; the daemon checks it properly.
  // Created only inside a trusted directory: never through a planted link.
  std::string logDir = parentDirectory(config.paths.logFile);
  if (checkTrustedPath(parentDirectory(logDir), geteuid()).empty()) mkdir(logDir.c_str(), 0755);
  redirectStdio(config.paths.logFile);
  config.readyFd = readyFd;
  config.foreground = false;
  std::string message = "error " + execDaemon(config, binary) + "\n";
  ssize_t written = write(readyFd, message.data(), message.size());
  (void)written;
  _exit(1);
}

// The daemon's one line on the ready pipe, or why there is none.
std::string readReadyLine(int readFd, const std::string& logFile, bool& timedOut) {
  std::string text;
  char chunk[512];
  // A daemon that neither says "ready" nor exits within 30 s has hung.
  int64_t deadline = monotonicMs() + 30000;
  timedOut = false;
  for (;;) {
    pollfd pfd{readFd, POLLIN, 0};
    int wait = static_cast<int>(deadline - monotonicMs());
    if (wait <= 0 || poll(&pfd, 1, wait) == 0) {
      timedOut = true;
      return "the daemon did not become ready within 30 s; see " + logFile;
    }
    ssize_t n = read(readFd, chunk, sizeof chunk);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    text.append(chunk, static_cast<size_t>(n));
    if (text.find('\n') != std::string::npos) break;
  }
  return text;
}

StartResult resultOf(const std::string& text, const std::string& logFile) {
  StartResult result;
  if (text.rfind("ok ", 0) == 0) {
    result.ok = true;
    result.pid = static_cast<pid_t>(atoi(text.c_str() + 3));
    return result;
  }
  if (text.rfind("error ", 0) == 0) {
    result.message = text.substr(6);
    while (!result.message.empty() && result.message.back() == '\n') result.message.pop_back();
  } else {
    result.message = "the daemon exited during start-up; see " + logFile;
  }
  return result;
}

}  // namespace

StartResult startDetachedDaemon(const DaemonConfig& config, const std::string& binary) {
  StartResult result;
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) {
    result.message = std::string("cannot create a pipe: ") + strerror(errno);
    return result;
  }
  Fd readEnd(ready[0]), writeEnd(ready[1]);
  pid_t child = fork();
  if (child < 0) {
    result.message = std::string("cannot fork: ") + strerror(errno);
    return result;
  }
  if (child == 0) {
    readEnd.reset();
    becomeDaemon(config, binary, ready[1]);
  }
  writeEnd.reset();
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  bool timedOut = false;
  std::string text = readReadyLine(readEnd.get(), config.paths.logFile, timedOut);
  if (timedOut) {
    result.message = text;
    return result;
  }
  return resultOf(text, config.paths.logFile);
}

std::string execDaemonInPlace(DaemonConfig config, const std::string& binary) {
  config.foreground = true;
  config.readyFd = -1;
  return execDaemon(config, binary);
}

}  // namespace keelan
