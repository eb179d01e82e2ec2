#pragma once
// The daemon's log: one line per event, "TIMESTAMP LEVEL message". The file
// is opened without following symlinks and reopened on SIGHUP for logrotate.
#include <string>

namespace keelan {

enum class LogLevel { debug, info, warn, error };

std::string formatLogLine(int64_t epochMs, LogLevel level, const std::string& message);

class Logger {
 public:
  Logger() = default;
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Returns an error message, empty on success.
  std::string open(const std::string& path, bool alsoStderr);
  std::string reopen();
  void log(LogLevel level, const std::string& message);
  void info(const std::string& message) { log(LogLevel::info, message); }
  void warn(const std::string& message) { log(LogLevel::warn, message); }
  void error(const std::string& message) { log(LogLevel::error, message); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool alsoStderr_ = false;
};

// Opens a regular file for appending without following a symlink in any
// part of its path (see fs_trust.h). Returns the fd or -errno.
int openAppendNoFollow(const std::string& path, int mode);

}  // namespace keelan
