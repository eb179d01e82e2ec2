#pragma once
// The ship state machine. One function, step(), moves a ship's record on an
// event and returns what the supervisor must now do: commit and publish,
// spawn, schedule or cancel a restart, run the exit hook, post the webhook,
// wake the waiters, log. Restart decisions, stop requests, cancellation and
// backoff all live here. No system calls: every (state, event) pair is
// unit-tested, and nothing outside this module writes a record's status,
// pid, exit, restart counters or check time.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "keelan/exit_status.h"
#include "keelan/ship.h"

namespace keelan {

// What the machine needs to know of the world at this step.
struct MachineNow {
  std::string iso;     // wall clock, ISO 8601 (records' timestamps)
  int64_t wallMs = 0;  // wall clock, ms since the epoch (backoff deadlines, run lengths)
};

// Daemon-wide settings that change which actions a step returns.
// What the webhook hears of (`daemon start --webhook-on`).
enum class WebhookOn {
  failure,  // a non-zero exit, a signal, a failed spawn; not an exit an operator asked for (stop, rm, restart)
  exit,     // every end of a run: each exit, whatever its code or cause, and each failed spawn
  all,      // every committed change: deployed, stopped, failed, backoff, adopted
};

struct MachineSettings {
  int64_t backoffFirstMs = kBackoffFirstMs;
  bool defaultOnExit = false;  // the daemon has an --on-exit for ships without one
  bool webhook = false;        // a webhook is set (--webhook)
  WebhookOn webhookOn = WebhookOn::failure;
};

namespace ship_event {
// A deploy (by hand or a restart) is about to spawn the ship with its spec
// (the caller sets record.spec, steps this, then spawns: no Spawn action).
// Refused on a running ship (the deploy is answered already_running).
struct DeployRequested {
  bool automatic = false;  // a restart by policy, not a client's deploy
};
struct Spawned {
  pid_t pid = 0;
  uint64_t startTime = 0;
  std::string bootId;
};
struct SpawnFailed {
  std::string error;
  bool automatic = false;  // a restart by policy failed: the policy applies again
};
// The main process ended. `reason` empty: by request if a stop was asked for.
struct Exited {
  ExitStatus exit;  // unknown when the status could not be had
  std::string source;  // "waitpid", "pidfd", or "" when unknown
  std::string reason;
  uint64_t leftoverProcesses = 0;  // still in the run's cgroup (or session) when the main process ended
};
// A running ship found alive (or a zombie we do not parent) at start-up.
struct Adopted {
  bool zombie = false;  // exited, not yet reaped by its parent: not logged as adopted
};
// A process found in a ship's cgroup at start-up with no running record
// (spawned just before a daemon crash, never committed): recorded as an
// adopted run with `reason`. Refused on a running ship.
struct Reconciled {
  pid_t pid = 0;
  uint64_t startTime = 0;
  std::string bootId;
  std::string reason;
};
// `stop` or `rm`: a running ship's next exit is not restarted; a pending
// restart (backoff) is cancelled at once. Any other ship: nothing to do.
struct StopRequested {};
// The backoff deadline passed. Refused unless the ship is in backoff.
struct RestartDue {};
// A liveness check of an adopted ship: its time goes into the record, with
// no commit of its own (the next commit carries it). Step it before the
// Exited that the check may find.
struct Checked {};
}  // namespace ship_event

using ShipEvent = std::variant<ship_event::DeployRequested, ship_event::Spawned, ship_event::SpawnFailed,
                               ship_event::Exited, ship_event::Adopted, ship_event::StopRequested,
                               ship_event::RestartDue, ship_event::Checked, ship_event::Reconciled>;

namespace ship_action {
// Write the record (as it was at this point of the step) to the store's
// next batch, append `run` to the history, and publish `event` after the
// commit. `recordText` is shipRecordText() of the record then.
struct Commit {
  std::string event;  // "deployed", "failed", "stopped", "adopted", "backoff"
  std::string recordText;
  std::optional<RunRecord> run;
};
// A restart by policy: deploy the record's spec automatically (step
// DeployRequested{automatic=true}, spawn, then step Spawned or
// SpawnFailed{automatic=true}).
struct Spawn {};
// A restart is due at `atMs` (wall clock); one pending per ship.
struct ScheduleBackoff {
  int64_t atMs = 0;
};
struct CancelBackoff {};
// After the commit: run the ship's on-exit hook (or the daemon's) with this
// snapshot of the record in its environment.
struct RunExitHook {
  ShipRecord snapshot;
};
// After the commit: post this snapshot to the webhook, with the event of
// the commit ("stopped", "failed"…; what --webhook-on chose to post).
struct NotifyFailure {
  ShipRecord snapshot;
  std::string event;
};
// The ship stopped for good (no restart pending): wake `wait`s, complete
// stop and rm requests. As in today's daemon, a failed spawn returns none.
struct Stopped {};
// Stop watching the ship as an adopted one (it ended).
struct Unwatch {};
// Count the exit in the metrics (keelan_exits_total) or the restart.
struct CountExit {
  ExitStatus exit;
};
struct CountRestart {};
struct CountSpawn {
  bool failed = false;
};
struct Log {
  enum class Level { info, warn } level = Level::info;
  std::string text;
};
}  // namespace ship_action

using ShipAction = std::variant<ship_action::Commit, ship_action::Spawn, ship_action::ScheduleBackoff,
                                ship_action::CancelBackoff, ship_action::RunExitHook, ship_action::NotifyFailure,
                                ship_action::Stopped, ship_action::Unwatch, ship_action::CountExit,
                                ship_action::CountRestart, ship_action::CountSpawn, ship_action::Log>;

struct StepResult {
  bool accepted = false;
  std::string refusal;  // why not (an impossible pair); callers log it
  std::vector<ShipAction> actions;
};

// Moves `record` (in place) on `event`. A refused event leaves the record
// as it was and returns no action but the refusal.
StepResult step(ShipRecord& record, const ShipEvent& event, const MachineNow& now, const MachineSettings& settings);

// The name of an event, for messages and tests ("spawned", "exited", ...).
const char* shipEventName(const ShipEvent& event);

}  // namespace keelan
