#include "keelan/logger.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "keelan/fs_trust.h"
#include "keelan/time_util.h"

namespace keelan {

namespace {
const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "DEBUG";
    case LogLevel::info: return "INFO";
    case LogLevel::warn: return "WARN";
    case LogLevel::error: return "ERROR";
  }
  return "INFO";
}

void writeAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}
}  // namespace

std::string formatLogLine(int64_t epochMs, LogLevel level, const std::string& message) {
  std::string line = isoTime(epochMs);
  line += ' ';
  line += levelName(level);
  line += ' ';
  for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
  line += '\n';
  return line;
}

int openAppendNoFollow(const std::string& path, int mode) {
  return openFileNoFollow(path, O_WRONLY | O_APPEND | O_CREAT, static_cast<mode_t>(mode));
}

Logger::~Logger() {
  if (fd_ >= 0) close(fd_);
}

std::string Logger::open(const std::string& path, bool alsoStderr) {
  path_ = path;
  alsoStderr_ = alsoStderr;
  return reopen();
}

std::string Logger::reopen() {
  int fd = openAppendNoFollow(path_, 0640);
  if (fd == -ELOOP || fd == -ENXIO) return "refusing log file " + path_ + ": " + openErrorText(fd);
  if (fd < 0) return "cannot open log file " + path_ + ": " + strerror(-fd);
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  return "";
}

void Logger::log(LogLevel level, const std::string& message) {
  std::string line = formatLogLine(wallClockMs(), level, message);
  if (fd_ >= 0) writeAll(fd_, line);
  if (alsoStderr_) writeAll(STDERR_FILENO, line);
}

}  // namespace keelan
