#include "keelan/ship_transitions.h"

namespace keelan {

namespace {
Transition refuse(const ShipRecord& record, const std::string& event) {
  Transition t;
  t.reason = "ship " + record.spec.name + ": event '" + event + "' is impossible in state " +
             statusName(record.status);
  return t;
}
Transition accept(const std::string& event) {
  Transition t;
  t.accepted = true;
  t.event = event;
  return t;
}
}  // namespace

Transition onSpawned(ShipRecord& record, pid_t pid, uint64_t startTime, const std::string& bootId,
                     const std::string& at) {
  switch (record.status) {
    case ShipStatus::running:
      return refuse(record, "spawned");
    case ShipStatus::backoff:
    case ShipStatus::stopped:
    case ShipStatus::failed:
    case ShipStatus::lost:
      record.status = ShipStatus::running;
      record.pid = pid;
      record.startTime = startTime;
      record.bootId = bootId;
      record.startedAt = at;
      record.stoppedAt.clear();
      record.exit = {};
      record.exitSource.clear();
      record.stoppedReason.clear();
      record.error.clear();
      record.adopted = false;
      record.adoptedReason.clear();
      record.leftoverProcesses = 0;
      record.processesLeft = 0;
      record.lastCheckedAt.clear();
      record.nextAttemptMs = 0;
      record.deployCount += 1;
      return accept("deployed");
  }
  return refuse(record, "spawned");
}

Transition onSpawnFailed(ShipRecord& record, const std::string& error, const std::string& at) {
  switch (record.status) {
    case ShipStatus::running:
      return refuse(record, "spawn_failed");
    case ShipStatus::backoff:
    case ShipStatus::stopped:
    case ShipStatus::failed:
    case ShipStatus::lost: {
      record.status = ShipStatus::failed;
      record.pid = 0;
      record.startTime = 0;
      record.startedAt = at;
      record.stoppedAt = at;
      record.exit = {};
      record.exitSource.clear();
      record.stoppedReason = "spawn failed";
      record.error = error;
      record.adopted = false;
      record.deployCount += 1;
      record.runCount += 1;
      Transition t = accept("failed");
      t.finishedRun = RunRecord{record.runCount, 0, at, at, {}, "spawn failed: " + error};
      return t;
    }
  }
  return refuse(record, "spawn_failed");
}

Transition onExited(ShipRecord& record, const ExitStatus& exit, const std::string& source,
                    const std::string& reason, const std::string& at, uint64_t leftoverProcesses) {
  switch (record.status) {
    case ShipStatus::running:
    case ShipStatus::lost: {
      record.leftoverProcesses = leftoverProcesses;
      record.processesLeft = leftoverProcesses;
      record.status = ShipStatus::stopped;
      record.stoppedAt = at;
      record.exit = exit;
      record.exitSource = exit.known() ? source : "";
      record.stoppedReason = reason;
      record.runCount += 1;
      Transition t = accept("stopped");
      t.finishedRun = RunRecord{record.runCount, record.pid, record.startedAt, at, exit, reason, leftoverProcesses};
      return t;
    }
    case ShipStatus::stopped:
    case ShipStatus::failed:
    case ShipStatus::backoff:
      return refuse(record, "exited");
  }
  return refuse(record, "exited");
}

Transition onReconciled(ShipRecord& record, pid_t pid, uint64_t startTime, const std::string& bootId,
                        const std::string& reason, const std::string& at) {
  if (record.status == ShipStatus::running) return refuse(record, "reconciled");
  Transition t = onSpawned(record, pid, startTime, bootId, at);
  record.adopted = true;
  record.adoptedReason = reason;
  record.lastCheckedAt = at;
  t.event = "adopted";
  return t;
}

Transition onAdopted(ShipRecord& record, const std::string& at) {
  switch (record.status) {
    case ShipStatus::running:
    case ShipStatus::lost:
      record.status = ShipStatus::running;
      record.adopted = true;
      record.lastCheckedAt = at;
      return accept("adopted");
    case ShipStatus::stopped:
    case ShipStatus::failed:
    case ShipStatus::backoff:
      return refuse(record, "adopted");
  }
  return refuse(record, "adopted");
}

Transition onBackoff(ShipRecord& record, int64_t nextAttemptMs, uint64_t streak) {
  switch (record.status) {
    case ShipStatus::stopped:
    case ShipStatus::failed:
      record.status = ShipStatus::backoff;
      record.nextAttemptMs = nextAttemptMs;
      record.restartStreak = streak;
      return accept("backoff");
    case ShipStatus::running:
    case ShipStatus::lost:
    case ShipStatus::backoff:
      return refuse(record, "backoff");
  }
  return refuse(record, "backoff");
}

Transition onRestartCancelled(ShipRecord& record, const std::string& at) {
  switch (record.status) {
    case ShipStatus::backoff:
      record.status = record.error.empty() ? ShipStatus::stopped : ShipStatus::failed;
      record.nextAttemptMs = 0;
      record.restartStreak = 0;
      record.stoppedReason = "pending restart cancelled";
      record.lastCheckedAt = at;
      return accept("stopped");
    case ShipStatus::running:
    case ShipStatus::stopped:
    case ShipStatus::failed:
    case ShipStatus::lost:
      return refuse(record, "restart_cancelled");
  }
  return refuse(record, "restart_cancelled");
}

}  // namespace keelan
