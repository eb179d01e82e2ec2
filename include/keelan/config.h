#pragma once
// The daemon's configuration: every option of `daemon start`, and what an
// in-place restart carries across the exec. Pure data; no I/O.
#include <cstddef>
#include <cstdint>
#include <string>

#include "keelan/paths.h"

namespace keelan {

struct DaemonConfig {
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
  // Webhook bodies carry `env` values only when set (else keys, values null).
  bool webhookIncludeEnv = false;
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
};

// `keelan __daemon-reexec` with the configuration in KEELAN_REEXEC_CONFIG:
// how the daemon re-executes itself in place.
inline constexpr const char* kDaemonReexecVerb = "__daemon-reexec";
inline constexpr const char* kReexecConfigVariable = "KEELAN_REEXEC_CONFIG";
std::string encodeReexecConfig(const DaemonConfig& config);
// Returns an error message, empty on success.
std::string decodeReexecConfig(const std::string& text, DaemonConfig& config);

}  // namespace keelan
