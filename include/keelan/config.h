#pragma once
// The daemon's configuration: every option of `daemon start`, and what an
// in-place restart carries across the exec. Pure data; no I/O.
//
// ONE list of fields (configFields()) drives the JSON encodings (the first
// start's `keelan __daemon` and the in-place restart's `keelan
// __daemon-reexec`), their decoding, the hidden `daemon start --x-…` test
// options and the configuration part of the daemon's `status` reply. Adding
// an option is one line there (and its member here). A row that names an
// `option` is also a flag of `daemon start`/`restart`, a key of keelan.toml
// (config_file.h) and an entry of `daemon config` and `status`'s "config".
#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "keelan/paths.h"

namespace keelan {

// Grouped by meaning, not packed: there is one per daemon, and every option
// added would otherwise reshuffle it.
struct DaemonConfig {  // NOLINT(clang-analyzer-optin.performance.Padding)
  Paths paths;
  int intervalSeconds = 30;
  // With a group: the socket is 0660 and its directory 0750, owned by it,
  // and the group's members may connect. Empty: root and our uid only.
  std::string socketGroup;
  // Run after every ship exit that has no --on-exit of its own; empty: none.
  std::string defaultOnExit;
  // HOST:PORT to serve GET /metrics on; empty: not served.
  std::string metricsAddress;
  // Ship log rotation defaults (ships may override): 0 bytes means off.
  uint64_t maxLogSize = 0;
  int maxLogFiles = 5;
  // POST each failure's record here (http or https); empty: none.
  std::string webhookUrl;
  // How a commit reaches the device (README, "Durability"). "strict": each
  // commit is synchronous, nothing is told before it is on the device.
  // "group": commits are not synced, told at once, and the store is flushed
  // at most every flushIntervalMs, off the request path (store_flusher.h).
  std::string durability = "strict";
  int64_t flushIntervalMs = 100;
  // Webhook bodies carry `env` values only when set (else keys, values null).
  bool webhookIncludeEnv = false;
  // What is posted: failure, exit or all (ship_machine.h's WebhookOn).
  std::string webhookOn = "failure";
  bool foreground = false;
  // Where to report "ready" or the reason start failed; -1 for none.
  int readyFd = -1;
  // The binary to run as the chroot helper (`keelan __ship-exec`).
  std::string selfExe;
  // Set when the daemon re-executed itself in place: the listening socket
  // and the locked PID file it keeps across the exec; -1 for none.
  int inheritedListenFd = -1;
  int inheritedPidFileFd = -1;
  int inheritedDataLockFd = -1;
  int restarts = 0;  // in-place restarts so far
  // Start-up only (not carried across an in-place restart): begin with an
  // empty store although an earlier one left traces (--new-store); install
  // this backup as the store first (--from-backup).
  bool newStore = false;
  std::string fromBackup;
  bool salvage = false;  // --salvage: rebuild a damaged store from its sound pages

  // Limits and timings with hidden `daemon start --x-…` options, so that
  // tests reach them in milliseconds instead of real seconds or megabytes.
  size_t writeHighWater = size_t{8} << 20;   // --x-write-high-water BYTES
  int64_t stallTimeoutMs = 10000;            // --x-stall-timeout-ms
  int64_t httpHeaderTimeoutMs = 5000;        // --x-http-header-timeout-ms
  size_t maxReplyBytes = size_t{64} << 20;   // --x-max-reply-bytes
  int64_t backoffFirstMs = 1000;             // --x-backoff-first-ms: the first restart delay
  bool noPidfd = false;                      // --x-no-pidfd: adopted ships are polled
  bool noSubreaper = false;                  // --x-no-subreaper: the negative control of orphan reaping
  std::string bootIdOverride;                // --x-boot-id: a simulated reboot for tests; empty: the kernel's

  // The keelan.toml read when the daemon started (or last restarted); empty:
  // none. Where each option's value came from: option → "file" or "flag"
  // (an option not named has its default).
  std::string configFile;
  std::map<std::string, std::string> optionSources;
};

static_assert(std::is_same_v<size_t, uint64_t>, "the field table holds sizes as uint64_t");

// One member of DaemonConfig (or of its Paths), by type.
using ConfigMember =
    std::variant<int DaemonConfig::*, int64_t DaemonConfig::*, uint64_t DaemonConfig::*, bool DaemonConfig::*,
                 std::string DaemonConfig::*, std::string Paths::*, std::map<std::string, std::string> DaemonConfig::*>;

// Which encodings carry a field.
enum class Carried {
  always,          // the first start and every in-place restart
  firstStartOnly,  // start-up requests (--new-store, the ready pipe…): done once
};

// How a running daemon takes a new value of an option.
enum class Change {
  live,  // `daemon restart` applies it in place (the new image starts with it)
  cold,  // only a cold restart (stop, then start): the socket, the PID file…
};

// How an option's text or file value becomes its member's value.
enum class OptionKind {
  plain,  // the member's own type (integers within optionMin..optionMax)
  path,   // a string made absolute (against the cwd for a flag, the file's directory in keelan.toml)
  size,   // bytes: an integer, or a size such as "10M"
  url,    // empty, or an http:// or https:// URL
};

struct ConfigField {
  const char* key;  // its JSON key in both encodings
  ConfigMember member;
  Carried carried;
  // Fields added after the first encoding may be missing (an older daemon's
  // re-exec): they then keep their default, or take `ifMissing` when set.
  bool optional;
  nlohmann::json ifMissing = nullptr;
  const char* statusKey = nullptr;  // its key in the daemon's `status` reply
  const char* hiddenOption = nullptr;  // `daemon start --x-…`, for tests
  int64_t optionMin = 0, optionMax = 0;  // an integer option's range (hidden or not)
  // The user's option: `daemon start --OPTION` and the key OPTION of keelan.toml.
  const char* option = nullptr;
  const char* help = nullptr;
  OptionKind kind = OptionKind::plain;
  Change change = Change::cold;
  // A string's allowed values, checked wherever a value arrives; empty: any.
  std::vector<std::string> choices = {};
};

const std::vector<ConfigField>& configFields();
// The row whose `option` is `option`; nullptr for none.
const ConfigField* findOption(const std::string& option);
// The field with this key; nullptr if none.
const ConfigField* findConfigField(const std::string& key);

// Calls `visit` with the member of `config` that `member` names.
template <typename Config, typename Visitor>
auto withConfigMember(Config& config, const ConfigMember& member, Visitor&& visit) {
  return std::visit(
      [&](auto pointer) {
        if constexpr (std::is_same_v<decltype(pointer), std::string Paths::*>)
          return visit(config.paths.*pointer);
        else
          return visit(config.*pointer);
      },
      member);
}

// `keelan __daemon` with the whole configuration in KEELAN_DAEMON_CONFIG:
// how `daemon start` runs the daemon (after forking, or in place with
// --foreground).
inline constexpr const char* kDaemonVerb = "__daemon";
inline constexpr const char* kDaemonConfigVariable = "KEELAN_DAEMON_CONFIG";
std::string encodeStartConfig(const DaemonConfig& config);

// `keelan __daemon-reexec` with the configuration in KEELAN_REEXEC_CONFIG:
// how the daemon re-executes itself in place. Start-only fields are left out.
inline constexpr const char* kDaemonReexecVerb = "__daemon-reexec";
inline constexpr const char* kReexecConfigVariable = "KEELAN_REEXEC_CONFIG";
std::string encodeReexecConfig(const DaemonConfig& config);

// Decodes either encoding into `config` (missing optional fields keep the
// values `config` has). Returns an error message, empty on success; a value
// of the wrong type or out of its type's range is an error.
std::string decodeConfig(const std::string& text, DaemonConfig& config);
inline std::string decodeReexecConfig(const std::string& text, DaemonConfig& config) {
  return decodeConfig(text, config);
}

// The configuration fields of the daemon's `status` reply: socket,
// intervalSeconds, logFile, pidFile and baseDirectory, and "config":
// {"file": PATH|null, "options": optionsJson(config)}.
nlohmann::json configStatusFields(const DaemonConfig& config);

// Every option's value and where it came from, in table order:
// {"interval": {"value": 30, "source": "default"}, ...}.
nlohmann::json optionsJson(const DaemonConfig& config);
// The value of `field`'s member as JSON.
nlohmann::json fieldValue(const DaemonConfig& config, const ConfigField& field);

}  // namespace keelan
