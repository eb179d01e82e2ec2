#include "keelan/proc_info.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>

namespace keelan {

std::optional<ProcStat> parseProcStat(const std::string& text) {
  size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return std::nullopt;
  std::istringstream fields(text.substr(close + 2));
  ProcStat stat;
  std::string skip;
  // Field 3 is the state; 4 ppid; 5 pgrp; 6 session; 22 starttime.
  if (!(fields >> stat.state >> stat.ppid >> skip >> stat.session)) return std::nullopt;
  for (int field = 7; field < 22; ++field)
    if (!(fields >> skip)) return std::nullopt;
  if (!(fields >> stat.startTime)) return std::nullopt;
  return stat;
}

namespace {
std::string readSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text;
  char buffer[1024];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<size_t>(n));
  ::close(fd);
  return text;
}
}  // namespace

std::optional<ProcStat> readProcStat(pid_t pid) {
  std::string text = readSmallFile("/proc/" + std::to_string(pid) + "/stat");
  if (text.empty()) return std::nullopt;
  return parseProcStat(text);
}

std::string readBootId() {
  std::string id = readSmallFile("/proc/sys/kernel/random/boot_id");
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id;
}

Liveness checkLiveness(pid_t pid, uint64_t startTime) {
  if (pid <= 0) return Liveness::gone;
  auto stat = readProcStat(pid);
  if (!stat) return Liveness::gone;
  if (stat->startTime != startTime) return Liveness::reused;
  if (stat->state == 'Z' || stat->state == 'X') return Liveness::gone;
  return Liveness::alive;
}

}  // namespace keelan
