#pragma once
// The spawner: the only code that starts processes. Ships and on-exit hooks
// alike become one ProcessSpec, started detached (own session) by uv_spawn,
// whose handle is closed at once so that libuv forgets the child and the
// reaper alone collects it. A ship's definition is checked first (root,
// command, cwd, user), so that a typo gives a reason rather than exit 127.
#include <sys/types.h>
#include <uv.h>

#include <string>
#include <vector>

#include "keelan/config.h"
#include "keelan/pidfd_budget.h"
#include "keelan/ship.h"
#include "keelan/ship_log_files.h"
#include "keelan/unique_fd.h"
#include "keelan/user_ids.h"

namespace keelan {

// The PATH ships and hooks get unless they set their own.
inline constexpr const char* kShipPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct ProcessSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // KEY=VALUE
  std::string cwd;
  int stdoutFd = -1;
  int stderrFd = -1;
  std::string name;  // for messages: the ship's command, not the helper's
};

struct SpawnResult {
  pid_t pid = 0;
  UniqueFd pidfd;     // opened on the new child; none where not supported
  std::string error;  // empty on success
  std::string cause;  // uv_spawn's reason alone, when it failed
};

// What the supervisor and the hooks need of a spawner (a fake in tests).
class ProcessStarter {
 public:
  virtual ~ProcessStarter() = default;
  virtual SpawnResult spawnShip(const ShipSpec& spec) = 0;
  // The same, the ship joining the cgroup `cgroupDir` (through the helper)
  // before it execs, so nothing it forks escapes; "": none.
  virtual SpawnResult spawnShipIn(const ShipSpec& spec, const std::string& /*cgroupDir*/) { return spawnShip(spec); }
  virtual SpawnResult spawn(const ProcessSpec& process) = 0;
  // The ship is gone (rm): whatever is kept for it (its log fds) is closed.
  virtual void forgetShip(const std::string& /*name*/) {}
};

class Spawner : public ProcessStarter {
 public:
  Spawner(uv_loop_t* loop, const DaemonConfig& config, PidfdBudget& pidfds);
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  // The ship's logs are opened (appending, never through a symlink), then
  // its command runs, through the chroot helper when it has a root or user.
  SpawnResult spawnShip(const ShipSpec& spec) override { return spawnShipIn(spec, ""); }
  SpawnResult spawnShipIn(const ShipSpec& spec, const std::string& cgroupDir) override;
  SpawnResult spawn(const ProcessSpec& process) override;
  void forgetShip(const std::string& name) override { logFiles_.forget(name); }
  // SIGHUP (logrotate): kept ship log fds are closed, reopened at the next spawn.
  void forgetLogFiles() { logFiles_.forgetAll(); }
  // What runs as the chroot helper, for the start-up log line.
  std::string helperDescription() const;

 private:
  std::string check(const ShipSpec& spec) const;

  uv_loop_t* loop_;
  const DaemonConfig& config_;
  PidfdBudget& pidfds_;
  UniqueFd devNull_;
  std::string shipExec_;  // the static chroot helper; empty: `keelan __ship-exec`
  UserIdCache users_;
  ShipLogFiles logFiles_;
};

}  // namespace keelan
