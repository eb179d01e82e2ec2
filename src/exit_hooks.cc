#include "keelan/exit_hooks.h"

#include <fcntl.h>

#include <csignal>

#include "keelan/hook_output.h"
#include "keelan/time_util.h"
#include "keelan/unique_fd.h"

namespace keelan {

void ExitHooks::run(const ShipRecord& record) {
  const std::string& command = record.spec.onExit.empty() ? config_.defaultOnExit : record.spec.onExit;
  if (command.empty()) return;
  const ExitStatus& exit = record.exit;
  ProcessSpec process;
  process.argv = {"/bin/sh", "-c", command};
  process.env = {std::string("PATH=") + kShipPath,
                 "KEELAN_SHIP=" + record.spec.name,
                 "KEELAN_PID=" + std::to_string(record.pid),
                 "KEELAN_EXIT_CODE=" + (exit.kind == ExitStatus::Kind::exited ? std::to_string(exit.code) : std::string()),
                 "KEELAN_SIGNAL=" + (exit.kind == ExitStatus::Kind::signaled ? signalName(exit.signal) : std::string()),
                 "KEELAN_STATUS=" + std::string(statusName(record.status)),
                 "KEELAN_BASE_DIRECTORY=" + config_.paths.base};
  process.cwd = config_.paths.base;
  // Output appends to logs/hooks.log, so that a hook that prints does not
  // fail; /dev/null if that file cannot be opened.
  std::string outputError;
  std::string path = (config_.paths.base == "/" ? "" : config_.paths.base) + "/logs/hooks.log";
  UniqueFd output(openHookOutput(path, outputError));
  if (!output) {
    if (!outputErrorLogged_) log_.error("on-exit hooks write to /dev/null: " + outputError);
    outputErrorLogged_ = true;
    output.reset(open("/dev/null", O_WRONLY | O_CLOEXEC));
  } else {
    outputErrorLogged_ = false;
  }
  process.stdoutFd = process.stderrFd = output.get();
  SpawnResult started = spawner_.spawn(process);
  if (!started.error.empty()) {
    log_.error("on-exit hook for ship " + record.spec.name + " cannot start: " + started.cause);
    return;
  }
  running_[started.pid] = {record.spec.name, monotonicMs() + kTimeoutMs};
}

bool ExitHooks::claim(pid_t pid, const ExitStatus& exit) {
  auto hook = running_.find(pid);
  if (hook == running_.end()) return false;
  std::string text = "on-exit hook for ship " + hook->second.first + " " + exit.describe();
  if (exit.success()) log_.info(text);
  else log_.warn(text);
  running_.erase(hook);
  return true;
}

void ExitHooks::killOverdue() {
  int64_t now = monotonicMs();
  for (auto& [pid, hook] : running_)
    if (hook.second != 0 && now > hook.second) {
      log_.warn("on-exit hook for ship " + hook.first + " ran over 30 s; killing it");
      kill(-pid, SIGKILL);
      hook.second = 0;
    }
}

}  // namespace keelan
