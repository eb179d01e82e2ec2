#include "keelan/daemonize.h"

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
}  // namespace

StartResult startDetachedDaemon(DaemonConfig config) {
  StartResult result;
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) {
    result.message = std::string("cannot create a pipe: ") + strerror(errno);
    return result;
  }
  pid_t child = fork();
  if (child < 0) {
    result.message = std::string("cannot fork: ") + strerror(errno);
    return result;
  }
  if (child == 0) {
    close(ready[0]);
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
    config.readyFd = ready[1];
    config.foreground = false;
    _exit(runDaemon(config));
  }
  close(ready[1]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  std::string text;
  char chunk[512];
  ssize_t n;
  // A daemon that neither says "ready" nor exits within 30 s has hung.
  int64_t deadline = monotonicMs() + 30000;
  for (;;) {
    pollfd pfd{ready[0], POLLIN, 0};
    int wait = static_cast<int>(deadline - monotonicMs());
    if (wait <= 0 || poll(&pfd, 1, wait) == 0) {
      result.message = "the daemon did not become ready within 30 s; see " + config.paths.logFile;
      close(ready[0]);
      return result;
    }
    n = read(ready[0], chunk, sizeof chunk);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    text.append(chunk, static_cast<size_t>(n));
    if (text.find('\n') != std::string::npos) break;
  }
  close(ready[0]);
  if (text.rfind("ok ", 0) == 0) {
    result.ok = true;
    result.pid = static_cast<pid_t>(atoi(text.c_str() + 3));
    return result;
  }
  if (text.rfind("error ", 0) == 0) {
    result.message = text.substr(6);
    while (!result.message.empty() && result.message.back() == '\n') result.message.pop_back();
  } else {
    result.message = "the daemon exited during start-up; see " + config.paths.logFile;
  }
  return result;
}

}  // namespace keelan
