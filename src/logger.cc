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

// Appends "STAMP LEVEL message\n"; a newline in the message cannot forge a line.
void appendLine(std::string& out, const std::string& stamp, LogLevel level, const std::string& message) {
  out += stamp;
  out += ' ';
  out += levelName(level);
  out += ' ';
  size_t body = out.size();
  out += message;
  for (size_t i = body; i < out.size(); ++i)
    if (out[i] == '\n' || out[i] == '\r') out[i] = ' ';
  out += '\n';
}
}  // namespace

std::string formatLogLine(int64_t epochMs, LogLevel level, const std::string& message) {
  std::string line;
  appendLine(line, isoTime(epochMs), level, message);
  return line;
}

int openAppendNoFollow(const std::string& path, int mode) {
  return openFileNoFollow(path, O_WRONLY | O_APPEND | O_CREAT, static_cast<mode_t>(mode));
}

Logger::~Logger() {
  flush();
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
  flush();  // what was logged before the reopen belongs to the old file
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  return "";
}

void Logger::log(LogLevel level, const std::string& message) {
  int64_t now = wallClockMs();
  if (now != stampMs_) {
    stampMs_ = now;
    stamp_ = isoTime(now);
  }
  appendLine(pending_, stamp_, level, message);
  // Only the routine lines wait: a warning or an error is on disk at once.
  if (!batched_ || level >= LogLevel::warn || pending_.size() >= kFlushAtBytes) flush();
}

void Logger::setBatched(bool on) {
  batched_ = on;
  if (!on) flush();
}

void Logger::flush() {
  if (pending_.empty()) return;
  if (fd_ >= 0) writeAll(fd_, pending_);
  if (alsoStderr_) writeAll(STDERR_FILENO, pending_);
  pending_.clear();
}

}  // namespace keelan
