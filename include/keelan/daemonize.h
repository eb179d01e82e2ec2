#pragma once
// Starting the daemon: `keelan __daemon` with the whole DaemonConfig in
// KEELAN_DAEMON_CONFIG. In the background: fork, setsid, fork again, stdio to
// the log, then exec it with the ready pipe as its only inherited fd beyond
// stdio, and wait for it to say "ok PID" or "error REASON" (a failed exec says
// so through the same pipe). In the foreground: exec it in place.
// Fork before any libuv or LMDB call: the CLI makes none.
#include <sys/types.h>

#include <string>

#include "keelan/config.h"

namespace keelan {

struct StartResult {
  bool ok = false;
  pid_t pid = 0;
  std::string message;  // the daemon's own reason when !ok
};

// The binary that is started is `binary`; by default the CLI's own file by
// its path (so the daemon is named "keelan"), or this very image when that
// file has been removed since.
StartResult startDetachedDaemon(const DaemonConfig& config, const std::string& binary = {});
// Returns only when the exec failed, with the reason.
std::string execDaemonInPlace(DaemonConfig config, const std::string& binary = {});
std::string selfExecutable();

}  // namespace keelan
