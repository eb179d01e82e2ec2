#include "keelan/proc_info.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <type_traits>
#include <string>

namespace keelan {

std::optional<ProcStat> parseProcStat(const std::string& text) {
  size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return std::nullopt;
  // Hand-rolled: a cold start reads this for every ship, and istringstream
  // was a quarter of it.
  const char* cursor = text.c_str() + close + 2;
  auto nextField = [&cursor]() -> const char* {
    while (*cursor == ' ') ++cursor;
    if (*cursor == '\0') return nullptr;
    const char* start = cursor;
    while (*cursor != ' ' && *cursor != '\0') ++cursor;
    return start;
  };
  auto number = [](const char* field, auto& into) {
    char* end = nullptr;
    errno = 0;
    long long value = strtoll(field, &end, 10);
    if (end == field || (*end != ' ' && *end != '\0' && *end != '\n') || errno != 0) return false;
    into = static_cast<std::remove_reference_t<decltype(into)>>(value);
    return true;
  };
  ProcStat stat;
  // Field 3 is the state; 4 ppid; 5 pgrp; 6 session; 22 starttime.
  const char* field = nextField();
  if (field == nullptr) return std::nullopt;
  stat.state = field[0];
  for (int index = 4; index <= 22; ++index) {
    field = nextField();
    if (field == nullptr) return std::nullopt;
    bool ok = true;
    if (index == 4) ok = number(field, stat.ppid);
    else if (index == 6) ok = number(field, stat.session);
    else if (index == 22) ok = field[0] != '-' && number(field, stat.startTime);
    if (!ok) return std::nullopt;
  }
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
  return livenessOf(readProcStat(pid), startTime);
}

Liveness livenessOf(const std::optional<ProcStat>& stat, uint64_t startTime) {
  if (!stat) return Liveness::gone;
  if (stat->startTime != startTime) return Liveness::reused;
  if (stat->state == 'Z' || stat->state == 'X') return Liveness::gone;
  return Liveness::alive;
}

}  // namespace keelan
