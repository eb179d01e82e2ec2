#pragma once
// Facts about a process read from /proc, used to tell a live ship from a
// zombie or from a stranger that reused its PID.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace keelan {

struct ProcStat {
  char state = '?';
  pid_t ppid = 0;
  pid_t session = 0;
  uint64_t startTime = 0;  // clock ticks since boot (field 22)
};

// Parses the text of /proc/PID/stat; fields after the command are read after
// the *last* ')' because the command itself may contain ')'.
std::optional<ProcStat> parseProcStat(const std::string& text);
std::optional<ProcStat> readProcStat(pid_t pid);
std::string readBootId();

enum class Liveness { alive, gone, reused };
// alive: the PID names a non-zombie process with this start time.
Liveness checkLiveness(pid_t pid, uint64_t startTime);
// The same, from a /proc/PID/stat already read (nullopt: no such process).
Liveness livenessOf(const std::optional<ProcStat>& stat, uint64_t startTime);

}  // namespace keelan
