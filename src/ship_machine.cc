#include "keelan/ship_machine.h"

#include "keelan/time_util.h"

namespace keelan {

namespace {
using namespace ship_action;

void commit(StepResult& r, const ShipRecord& record, const Transition& t) {
  r.actions.push_back(Commit{t.event, shipRecordText(record), t.finishedRun});
}
bool isFailure(const Transition& t, const ShipRecord& record) {
  return t.event == "failed" || (t.event == "stopped" && record.exit.known() && !record.exit.success());
}
StepResult refused(const std::string& reason) {
  StepResult r;
  r.refusal = reason;
  return r;
}
// After an exit or failed restart nobody asked for: back off, or stop for good.
void afterEnd(StepResult& r, ShipRecord& record, int64_t runMs, const MachineNow& now, const MachineSettings& settings) {
  const std::string& name = record.spec.name;
  bool requested = record.stopRequested;
  record.stopRequested = false;
  if (!requested && record.spec.restart.mode != RestartPolicy::Mode::no) {
    RestartDecision d = decideRestart(record.spec.restart, record.exit, record.restartStreak, runMs, settings.backoffFirstMs);
    if (d.restart) {
      Transition t = onBackoff(record, now.wallMs + d.delayMs, d.streak);
      commit(r, record, t);
      r.actions.push_back(Log{Log::Level::info, "ship " + name + " restarts in " + std::to_string(d.delayMs) +
                                                    " ms (attempt " + std::to_string(d.streak) + ")"});
      r.actions.push_back(ScheduleBackoff{record.nextAttemptMs});
      return;
    }
    if (record.restartStreak > 0)
      r.actions.push_back(Log{Log::Level::warn, "ship " + name + " gave up after " +
                                                    std::to_string(record.restartStreak) + " restarts in a row"});
  }
  r.actions.push_back(Stopped{});
}
}  // namespace

StepResult step(ShipRecord& record, const ShipEvent& event, const MachineNow& now, const MachineSettings& settings) {
  StepResult r;
  r.accepted = true;
  const std::string& name = record.spec.name;
  if (auto* e = std::get_if<ship_event::DeployRequested>(&event)) {
    if (record.status == ShipStatus::running) return refused("ship " + name + ": event 'deploy' is impossible in state running");
    if (record.status == ShipStatus::backoff && !e->automatic) {
      r.actions.push_back(CancelBackoff{});
      record.restartStreak = 0;
    }
    record.stopRequested = false;
    return r;
  }
  if (auto* e = std::get_if<ship_event::Spawned>(&event)) {
    Transition t = onSpawned(record, e->pid, e->startTime, e->bootId, now.iso);
    if (!t.accepted) return refused(t.reason);
    commit(r, record, t);
    r.actions.push_back(CountSpawn{false});
    return r;
  }
  if (auto* e = std::get_if<ship_event::SpawnFailed>(&event)) {
    Transition t = onSpawnFailed(record, e->error, now.iso);
    if (!t.accepted) return refused(t.reason);
    commit(r, record, t);
    if (settings.webhook) r.actions.push_back(NotifyFailure{record});
    r.actions.push_back(CountSpawn{true});
    r.actions.push_back(Log{Log::Level::warn, "ship " + name + " failed to spawn: " + e->error});
    if (e->automatic) afterEnd(r, record, 0, now, settings);
    return r;
  }
  if (auto* e = std::get_if<ship_event::Exited>(&event)) {
    std::string reason = e->reason.empty() && record.stopRequested ? "stopped by request" : e->reason;
    Transition t = onExited(record, e->exit, e->source, reason, now.iso);
    if (!t.accepted) return refused(t.reason);
    commit(r, record, t);
    if (settings.webhook && isFailure(t, record)) r.actions.push_back(NotifyFailure{record});
    r.actions.push_back(CountExit{e->exit});
    r.actions.push_back(Log{Log::Level::info, "ship " + name + " pid=" + std::to_string(record.pid) + " stopped: " +
                                                  e->exit.describe() + (reason.empty() ? "" : " (" + reason + ")")});
    r.actions.push_back(Unwatch{});
    if (!record.spec.onExit.empty() || settings.defaultOnExit) r.actions.push_back(RunExitHook{record});
    int64_t started = parseIsoTime(record.startedAt);
    afterEnd(r, record, started < 0 ? 0 : now.wallMs - started, now, settings);
    return r;
  }
  if (std::holds_alternative<ship_event::Adopted>(event)) {
    Transition t = onAdopted(record, now.iso);
    if (!t.accepted) return refused(t.reason);
    commit(r, record, t);
    return r;
  }
  if (std::holds_alternative<ship_event::StopRequested>(event)) {
    if (record.status == ShipStatus::running) {
      record.stopRequested = true;
      return r;
    }
    Transition t = onRestartCancelled(record, now.iso);
    if (!t.accepted) return refused(t.reason);
    r.actions.push_back(CancelBackoff{});
    commit(r, record, t);
    r.actions.push_back(Log{Log::Level::info, "ship " + name + ": pending restart cancelled"});
    r.actions.push_back(Stopped{});
    return r;
  }
  if (std::holds_alternative<ship_event::RestartDue>(event)) {
    if (record.status != ShipStatus::backoff) return refused("ship " + name + ": no restart is pending");
    record.restarts += 1;
    r.actions.push_back(CountRestart{});
    r.actions.push_back(Log{Log::Level::info, "restarting ship " + name + " (restart " + std::to_string(record.restarts) + ")"});
    r.actions.push_back(Spawn{});
    return r;
  }
  record.lastCheckedAt = now.iso;  // Checked
  return r;
}

const char* shipEventName(const ShipEvent& event) {
  static const char* const names[] = {"deploy", "spawned", "spawn_failed", "exited", "adopted", "stop", "restart_due", "checked"};
  return names[event.index()];
}

}  // namespace keelan
