#pragma once
// Starting the daemon in the background: double fork and setsid before any
// libuv or LMDB call, then wait for the daemon to say it is ready.
#include <sys/types.h>

#include <string>

#include "keelan/daemon.h"

namespace keelan {

struct StartResult {
  bool ok = false;
  pid_t pid = 0;
  std::string message;  // the daemon's own reason when !ok
};

StartResult startDetachedDaemon(DaemonConfig config);
std::string selfExecutable();

}  // namespace keelan
