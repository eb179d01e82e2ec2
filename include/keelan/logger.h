#pragma once
// The daemon's log: one line per event, "TIMESTAMP LEVEL message". The file
// is opened without following symlinks and reopened on SIGHUP for logrotate.
// Batched (the daemon's loop turns it on), lines gather in memory and go out
// in one write per target at flush(): once per loop turn, and at shutdown,
// before a re-exec and at destruction. A WARN or ERROR line, or 64 KiB of
// lines, flushes at once, so a fatal error is never left in the buffer.
#include <cstdint>
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
  void setBatched(bool on);
  void flush();
  // What waits for the next flush (tests).
  const std::string& pending() const { return pending_; }
  void info(const std::string& message) { log(LogLevel::info, message); }
  void warn(const std::string& message) { log(LogLevel::warn, message); }
  void error(const std::string& message) { log(LogLevel::error, message); }
  const std::string& path() const { return path_; }

 private:
  static constexpr size_t kFlushAtBytes = 64 * 1024;
  std::string path_;
  int fd_ = -1;
  bool alsoStderr_ = false;
  bool batched_ = false;
  std::string pending_;
  int64_t stampMs_ = -1;  // the millisecond whose text is in stamp_
  std::string stamp_;
};

// Opens a regular file for appending without following a symlink in any
// part of its path (see fs_trust.h). Returns the fd or -errno.
int openAppendNoFollow(const std::string& path, int mode);

}  // namespace keelan
