#pragma once
// A ship: its definition (what to run) and its record (what happened to it),
// and the one state machine that moves a record from state to state. Nothing
// here makes a system call, so all of it is unit-tested.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "keelan/exit_status.h"

namespace keelan {

struct ShipSpec {
  std::string name;
  std::string root;  // empty: no chroot
  std::string cwd;   // empty: "/" inside the root, else the daemon's base directory
  std::map<std::string, std::string> env;
  std::vector<std::string> command;
  std::string user;  // empty: the daemon's own user
};

// Returns an error message, empty when valid.
std::string validateShipName(const std::string& name);
std::string validateShipSpec(const ShipSpec& spec);

// Reads the fields of a ship file / deploy request; unknown fields and wrong
// types are errors. Throws std::invalid_argument with a message naming the field.
ShipSpec shipSpecFromJson(const nlohmann::json& json, const std::string& name);
nlohmann::json shipSpecToJson(const ShipSpec& spec);

enum class ShipStatus { running, stopped, failed, lost };
const char* statusName(ShipStatus status);
std::optional<ShipStatus> parseStatus(const std::string& text);

struct RunRecord {
  uint64_t run = 0;
  pid_t pid = 0;
  std::string startedAt;
  std::string stoppedAt;
  ExitStatus exit;
  std::string stoppedReason;
};

struct ShipRecord {
  ShipSpec spec;
  ShipStatus status = ShipStatus::stopped;
  pid_t pid = 0;
  uint64_t startTime = 0;  // /proc/PID/stat field 22 at spawn
  std::string bootId;
  std::string startedAt;
  std::string stoppedAt;
  ExitStatus exit;
  // Whether the exit status is exact (reaped by us or read from the kernel)
  // or unknown; kept apart from `exit` so `inspect` can say which.
  std::string exitSource;  // "waitpid", "pidfd", or "" when unknown
  std::string stoppedReason;
  std::string error;  // why a spawn failed
  bool adopted = false;
  std::string lastCheckedAt;
  uint64_t deployCount = 0;
  uint64_t runCount = 0;  // runs appended to the history so far
};

nlohmann::json shipRecordToJson(const ShipRecord& record);
ShipRecord shipRecordFromJson(const nlohmann::json& json);
nlohmann::json runRecordToJson(const RunRecord& run);
RunRecord runRecordFromJson(const nlohmann::json& json);

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
                    const std::string& reason, const std::string& at);
Transition onAdopted(ShipRecord& record, const std::string& at);

}  // namespace keelan
