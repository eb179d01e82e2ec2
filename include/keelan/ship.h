#pragma once
// A ship: its definition (what to run) and its record (what happened to it),
// and their JSON (the state machine that moves a record is ship_machine.h). Nothing
// here makes a system call, so all of it is unit-tested.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "keelan/exit_status.h"
#include "keelan/resource_limits.h"

namespace keelan {

// What to do when a ship exits on its own. MAX caps the automatic restarts
// in a row (0: no cap); a run of 60 s or more starts the count afresh.
struct RestartPolicy {
  enum class Mode { no, onFailure, always };
  Mode mode = Mode::no;
  int maxAttempts = 0;
  bool operator==(const RestartPolicy&) const = default;
};
// "no", "on-failure", "on-failure:3", "always", "always:5".
std::optional<RestartPolicy> parseRestartPolicy(const std::string& text);
std::string restartPolicyText(const RestartPolicy& policy);

inline constexpr int64_t kBackoffFirstMs = 1000;
inline constexpr int64_t kBackoffCapMs = 300000;
inline constexpr int64_t kBackoffResetAfterMs = 60000;

struct RestartDecision {
  bool restart = false;
  int64_t delayMs = 0;
  uint64_t streak = 0;  // restarts in a row, this one included
};
// Pure: whether a ship that just ended (after running runMs) is restarted,
// and after how long: 1 s (firstMs), doubling, capped at 5 min.
// `firstMs`: the first delay (tests shorten it).
RestartDecision decideRestart(const RestartPolicy& policy, const ExitStatus& exit, uint64_t streak, int64_t runMs,
                              int64_t firstMs = kBackoffFirstMs);

struct ShipSpec {
  std::string name;
  std::string root;  // empty: no chroot
  std::string cwd;   // empty: "/" inside the root, else the daemon's base directory
  std::map<std::string, std::string> env;
  std::vector<std::string> command;
  std::string user;  // empty: the daemon's own user
  RestartPolicy restart;
  std::string onExit;  // shell command run after each exit is committed; empty: none
  uint64_t maxLogSize = 0;  // rotate the ship's logs past this size; 0: the daemon's default
  int maxLogFiles = 0;      // rotated files kept; 0: the daemon's default
  int reloadSignal = 0;     // what `keelan reload` sends; 0: SIGHUP
  // KEY=VALUE files read by the daemon at each start (env_file.h); their
  // values are never stored: only these paths are.
  std::vector<std::string> envFiles;
  std::map<std::string, std::string> labels;  // selectors of ps, stop, rm (labelsMatch)
  // Process tree (issue 15)
  // control-group (systemd's KillMode=): stop signals every process of the
  // ship's cgroup, and what its main process leaves behind is killed.
  // process: only the main process is signalled; leftovers run on.
  enum class KillMode { controlGroup, process };
  KillMode killMode = KillMode::controlGroup;
  // Not part of the definition: set when `keelan apply` deployed it, so
  // `apply --prune` never removes a ship deployed by hand. Stored in the
  // record as `applied`; ignored when definitions are compared.
  bool managedByApply = false;
  // Resources (issue 15)
  std::map<std::string, Rlimit> limits;  // rlimits by name (rlimitNames()), set by the helper before exec
};

// The signal `keelan reload` sends to this ship.
int reloadSignalOf(const ShipSpec& spec);

// Whether `labels` holds every KEY=VALUE of `selector` (an empty selector
// matches every ship).
bool labelsMatch(const std::map<std::string, std::string>& labels, const std::map<std::string, std::string>& selector);

const char* killModeName(ShipSpec::KillMode mode);
std::optional<ShipSpec::KillMode> parseKillMode(const std::string& text);

// Returns an error message, empty when valid.
std::string validateShipName(const std::string& name);
std::string validateShipSpec(const ShipSpec& spec);
inline constexpr size_t kMaxEnvFiles = 16;
inline constexpr size_t kMaxLabels = 64;
// A label: key 1..63 of [A-Za-z0-9._/-], value up to 253 without NUL or newline.
std::string validateLabel(const std::string& key, const std::string& value);

// Reads the fields of a ship file / deploy request; unknown fields and wrong
// types are errors. Throws std::invalid_argument with a message naming the field.
ShipSpec shipSpecFromJson(const nlohmann::json& json, const std::string& name);
nlohmann::json shipSpecToJson(const ShipSpec& spec);

enum class ShipStatus { running, stopped, failed, lost, backoff };
// Desired state: deploy, apply and restart want it running, stop wants it
// stopped. After a reboot the daemon starts every ship wanted running.
enum class Wanted { running, stopped };
const char* statusName(ShipStatus status);
const char* wantedName(Wanted wanted);
std::optional<ShipStatus> parseStatus(const std::string& text);

struct RunRecord {
  uint64_t run = 0;
  pid_t pid = 0;
  std::string startedAt;
  std::string stoppedAt;
  ExitStatus exit;
  std::string stoppedReason;
  uint64_t leftoverProcesses = 0;  // processes left in the run's cgroup when its main process ended
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
  std::string adoptedReason;  // why an adopted run was not ours on record (reconciliation)
  std::string lastCheckedAt;
  Wanted wanted = Wanted::stopped;
  uint64_t deployCount = 0;
  uint64_t runCount = 0;  // runs appended to the history so far
  uint64_t restarts = 0;       // automatic restarts, all time
  uint64_t restartStreak = 0;  // automatic restarts in a row
  int64_t nextAttemptMs = 0;   // with backoff: when, in wall-clock ms
  // Process tree (issue 15): the run's cgroup ("" without cgroup tracking),
  // what its main process left behind at its end, and how many of those
  // still run (kill mode process, or control-group while they are killed).
  std::string cgroup;
  uint64_t leftoverProcesses = 0;
  uint64_t processesLeft = 0;
  // In memory only (never stored): a stop was asked for, so the next exit
  // is "stopped by request" and not restarted. Set by the ship machine.
  bool stopRequested = false;
};

nlohmann::json shipRecordToJson(const ShipRecord& record);
// The same as one line of JSON text (invalid UTF-8 replaced): what the store
// keeps and what replies and events embed.
std::string shipRecordText(const ShipRecord& record);
ShipRecord shipRecordFromJson(const nlohmann::json& json);
nlohmann::json runRecordToJson(const RunRecord& run);
RunRecord runRecordFromJson(const nlohmann::json& json);

}  // namespace keelan
