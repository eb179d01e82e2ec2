#pragma once
// The ship machine's transitions, one per event, each a switch on the
// record's state: it moves the record and names the event to publish, or
// refuses an impossible pair and changes nothing. Only ship_machine.cc
// (and tests) call these; everything else steps the machine.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "keelan/exit_status.h"
#include "keelan/ship.h"

namespace keelan {

// The state machine. Each event either moves the record and names the event
// to publish, or is refused (an impossible pair, which callers log).
struct Transition {
  bool accepted = false;
  std::string event;   // "deployed", "stopped", "failed", "adopted", ...
  std::string reason;  // why it was refused
  std::optional<RunRecord> finishedRun;  // a run that ended: append to history
};

Transition onSpawned(ShipRecord& record, pid_t pid, uint64_t startTime, const std::string& bootId,
                     const std::string& at);
Transition onSpawnFailed(ShipRecord& record, const std::string& error, const std::string& at);
Transition onExited(ShipRecord& record, const ExitStatus& exit, const std::string& source,
                    const std::string& reason, const std::string& at, uint64_t leftoverProcesses = 0);
Transition onAdopted(ShipRecord& record, const std::string& at);
Transition onReconciled(ShipRecord& record, pid_t pid, uint64_t startTime, const std::string& bootId,
                        const std::string& reason, const std::string& at);
// stopped/failed -> backoff: a restart is due at nextAttemptMs.
Transition onBackoff(ShipRecord& record, int64_t nextAttemptMs, uint64_t streak);
// backoff -> stopped: `keelan stop` or `rm` cancelled the pending restart.
Transition onRestartCancelled(ShipRecord& record, const std::string& at);

}  // namespace keelan
