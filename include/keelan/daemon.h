#pragma once
// The daemon: one process, one libuv loop, one reaper, one store. It owns
// every handle; everything else in the library is passive.
#include "keelan/config.h"

namespace keelan {

// Runs the daemon until SIGTERM/SIGINT; returns the process exit code.
int runDaemon(const DaemonConfig& config);

}  // namespace keelan
