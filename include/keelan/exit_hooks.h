#pragma once
// On-exit hooks: a shell command run once a ship's exit is committed,
// detached, with the exit in its environment and its output appended to
// BASE/logs/hooks.log. A hook never blocks the loop: the reaper collects it
// (claim()), and one still running after 30 s is killed with its group.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

#include "keelan/exit_status.h"
#include "keelan/logger.h"
#include "keelan/ship.h"
#include "keelan/spawner.h"

namespace keelan {

class ExitHooks {
 public:
  ExitHooks(ProcessStarter& spawner, Logger& log, const DaemonConfig& config)
      : spawner_(spawner), log_(log), config_(config) {}

  // The ship's own hook, else the daemon's --on-exit; none: nothing.
  void run(const ShipRecord& record);
  // Whether `pid` was a hook (then its end is logged).
  bool claim(pid_t pid, const ExitStatus& exit);
  void killOverdue();

 private:
  static constexpr int64_t kTimeoutMs = 30000;
  ProcessStarter& spawner_;
  Logger& log_;
  const DaemonConfig& config_;
  // pid -> (ship, deadline in monotonic ms; 0 once killed)
  std::unordered_map<pid_t, std::pair<std::string, int64_t>> running_;
  bool outputErrorLogged_ = false;
};

}  // namespace keelan
