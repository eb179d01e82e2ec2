#include "keelan/ship_transitions.h"
#include "keelan/ship_machine.h"

#include "keelan/time_util.h"

#include <utility>

namespace keelan {

namespace {

using Level = ship_action::Log::Level;

const char* eventName(const ship_event::DeployRequested&) { return "deploy_requested"; }
const char* eventName(const ship_event::Spawned&) { return "spawned"; }
const char* eventName(const ship_event::SpawnFailed&) { return "spawn_failed"; }
const char* eventName(const ship_event::Exited&) { return "exited"; }
const char* eventName(const ship_event::Adopted&) { return "adopted"; }
const char* eventName(const ship_event::StopRequested&) { return "stop_requested"; }
const char* eventName(const ship_event::RestartDue&) { return "restart_due"; }
const char* eventName(const ship_event::Checked&) { return "checked"; }
const char* eventName(const ship_event::Reconciled&) { return "reconciled"; }

// One step: the record, the world, and the actions gathered so far. Each
// event has its handler; the state switches live in the transitions of
// ship.h, which leave the record alone when they refuse.
class Stepper {
 public:
  Stepper(ShipRecord& record, const MachineNow& now, const MachineSettings& settings)
      : record_(record), now_(now), settings_(settings) {}

  StepResult take() && { return std::move(result_); }

  void operator()(const ship_event::DeployRequested& event);
  void operator()(const ship_event::Spawned& event);
  void operator()(const ship_event::SpawnFailed& event);
  void operator()(const ship_event::Exited& event);
  void operator()(const ship_event::Adopted& event);
  void operator()(const ship_event::StopRequested& event);
  void operator()(const ship_event::RestartDue& event);
  void operator()(const ship_event::Checked& event);
  void operator()(const ship_event::Reconciled& event);

 private:
  const std::string& name() const { return record_.spec.name; }
  void accept() { result_.accepted = true; }
  void refuse(const std::string& reason) {
    result_.accepted = false;
    result_.refusal = reason;
    result_.actions.clear();
  }
  void refuseEvent(const char* event) {
    refuse("ship " + name() + ": event '" + event + "' is impossible in state " + statusName(record_.status));
  }
  void act(ShipAction action) { result_.actions.push_back(std::move(action)); }
  void log(Level level, std::string text) { act(ship_action::Log{level, std::move(text)}); }
  bool commit(const Transition& transition);
  bool posted(const Transition& transition) const;
  bool restartByPolicy(int64_t runMs);

  ShipRecord& record_;
  const MachineNow& now_;
  const MachineSettings& settings_;
  StepResult result_;
};

// What the daemon's apply() did with a transition: the record goes to the
// batch and its event is published after the commit; a failure is posted.
bool Stepper::commit(const Transition& transition) {
  if (!transition.accepted) {
    // The first transition of a step decides whether the step is accepted;
    // a later refusal cannot happen with the states that lead to it.
    if (!result_.accepted) refuse(transition.reason);
    else log(Level::warn, transition.reason);
    return false;
  }
  accept();
  act(ship_action::Commit{transition.event, shipRecordText(record_), transition.finishedRun});
  if (settings_.webhook && posted(transition)) act(ship_action::NotifyFailure{record_, transition.event});
  return true;
}

// Whether --webhook-on posts this transition. An exit asked for by an
// operator (stop, rm, restart) is not a failure, whatever its status: a
// ship killed by the SIGTERM of `keelan stop` did what it was told.
bool Stepper::posted(const Transition& transition) const {
  switch (settings_.webhookOn) {
    case WebhookOn::all: return true;
    case WebhookOn::exit: return transition.finishedRun.has_value();
    case WebhookOn::failure: break;
  }
  if (transition.event == "failed") return true;
  return transition.event == "stopped" && transition.finishedRun && !record_.stopRequested && record_.exit.known() &&
         !record_.exit.success();
}

// After an exit (or a failed automatic restart) that nobody asked for: back
// off and restart, as the ship's policy says. Returns whether a restart is
// pending.
bool Stepper::restartByPolicy(int64_t runMs) {
  if (record_.stopRequested) {
    record_.stopRequested = false;
    return false;
  }
  if (record_.spec.restart.mode == RestartPolicy::Mode::no) return false;
  RestartDecision decision =
      decideRestart(record_.spec.restart, record_.exit, record_.restartStreak, runMs, settings_.backoffFirstMs);
  if (!decision.restart) {
    if (record_.restartStreak > 0)
      log(Level::warn,
          "ship " + name() + " gave up after " + std::to_string(record_.restartStreak) + " restarts in a row");
    return false;
  }
  int64_t atMs = now_.wallMs + decision.delayMs;
  if (!commit(onBackoff(record_, atMs, decision.streak))) return false;
  log(Level::info, "ship " + name() + " restarts in " + std::to_string(decision.delayMs) + " ms (attempt " +
                       std::to_string(decision.streak) + ")");
  act(ship_action::ScheduleBackoff{atMs});
  return true;
}

// The caller spawns after this step; only a deploy by hand ends a backoff
// (and its streak) here, a restart by policy spawns from the backoff.
void Stepper::operator()(const ship_event::DeployRequested& event) {
  if (record_.status == ShipStatus::running) return refuseEvent(eventName(event));
  accept();
  if (record_.status == ShipStatus::backoff && !event.automatic) {
    act(ship_action::CancelBackoff{});
    record_.restartStreak = 0;
  }
  record_.stopRequested = false;
  // A restart by policy keeps the wish; a client's deploy (or apply) makes it.
  if (!event.automatic) record_.wanted = Wanted::running;
}

void Stepper::operator()(const ship_event::Spawned& event) {
  if (!commit(onSpawned(record_, event.pid, event.startTime, event.bootId, now_.iso))) return;
  act(ship_action::CountSpawn{false});
  log(Level::info, "ship " + name() + " deployed pid=" + std::to_string(event.pid));
}

// A failed spawn that is not retried ends the ship for good: waits on it
// (a ship in backoff is waited on) are answered.
void Stepper::operator()(const ship_event::SpawnFailed& event) {
  if (!commit(onSpawnFailed(record_, event.error, now_.iso))) return;
  act(ship_action::CountSpawn{true});
  log(Level::warn, "ship " + name() + " failed to spawn: " + event.error);
  if (event.automatic && restartByPolicy(0)) return;
  act(ship_action::Stopped{});
}

void Stepper::operator()(const ship_event::Exited& event) {
  std::string reason = event.reason.empty() && record_.stopRequested ? "stopped by request" : event.reason;
  if (!commit(onExited(record_, event.exit, event.source, reason, now_.iso, event.leftoverProcesses))) return;
  act(ship_action::CountExit{event.exit});
  // The reason as the event gave it: a stop by request is not spelled out.
  log(Level::info, "ship " + name() + " pid=" + std::to_string(record_.pid) + " stopped: " + event.exit.describe() +
                       (event.reason.empty() ? "" : " (" + event.reason + ")"));
  act(ship_action::Unwatch{});
  if (!record_.spec.onExit.empty() || settings_.defaultOnExit) act(ship_action::RunExitHook{record_});
  int64_t started = parseIsoTime(record_.startedAt);
  int64_t runMs = started < 0 ? 0 : now_.wallMs - started;
  if (restartByPolicy(runMs)) return;
  act(ship_action::Stopped{});
}

void Stepper::operator()(const ship_event::Adopted& event) {
  if (!commit(onAdopted(record_, now_.iso))) return;
  if (!event.zombie) log(Level::info, "adopted ship " + name() + " pid=" + std::to_string(record_.pid));
}

// A running ship is signalled by the caller; what is recorded here is that
// its coming exit was asked for. A stop of a ship that is not running and
// not backing off has nothing to do.
void Stepper::operator()(const ship_event::StopRequested& event) {
  bool wasWanted = record_.wanted == Wanted::running;
  record_.wanted = Wanted::stopped;
  switch (record_.status) {
    case ShipStatus::running:
      accept();
      record_.stopRequested = true;
      return;
    case ShipStatus::backoff:
      act(ship_action::CancelBackoff{});
      if (!commit(onRestartCancelled(record_, now_.iso))) return;
      log(Level::info, "ship " + name() + ": pending restart cancelled");
      act(ship_action::Stopped{});
      return;
    case ShipStatus::stopped:
    case ShipStatus::failed:
    case ShipStatus::lost:
      accept();
      // Nothing runs, but the wish changed: stored, so a reboot leaves it down.
      if (wasWanted) act(ship_action::Commit{"stopped", shipRecordText(record_), std::nullopt});
      return;
  }
  refuseEvent(eventName(event));
}

// The restart is counted in the record now; it reaches the store with the
// record the spawn (or its failure) commits.
void Stepper::operator()(const ship_event::RestartDue& event) {
  if (record_.status != ShipStatus::backoff) return refuseEvent(eventName(event));
  accept();
  record_.restarts += 1;
  act(ship_action::CountRestart{});
  log(Level::info, "restarting ship " + name() + " (restart " + std::to_string(record_.restarts) + ")");
  act(ship_action::Spawn{});
}

// Written to the record but not committed: a check that finds nothing new
// costs no write; the time goes out with the next commit.
void Stepper::operator()(const ship_event::Checked& event) {
  if (record_.status != ShipStatus::running) return refuseEvent(eventName(event));
  accept();
  record_.lastCheckedAt = now_.iso;
}

// Its wish is unknown (no deploy was acknowledged): it is not wanted running,
// so it is not restarted by policy nor started after a reboot.
void Stepper::operator()(const ship_event::Reconciled& event) {
  if (!commit(onReconciled(record_, event.pid, event.startTime, event.bootId, event.reason, now_.iso))) return;
  log(Level::warn, "ship " + name() + " pid=" + std::to_string(event.pid) + " adopted: " + event.reason);
}

}  // namespace

StepResult step(ShipRecord& record, const ShipEvent& event, const MachineNow& now, const MachineSettings& settings) {
  Stepper stepper(record, now, settings);
  std::visit(stepper, event);
  return std::move(stepper).take();
}

const char* shipEventName(const ShipEvent& event) {
  return std::visit([](const auto& alternative) { return eventName(alternative); }, event);
}

}  // namespace keelan
