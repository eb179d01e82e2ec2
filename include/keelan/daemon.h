#pragma once
// The daemon: one process, one libuv loop, one reaper, one store. It owns
// every handle; everything else in the library is passive.
#include <string>

#include "keelan/paths.h"

namespace keelan {

struct DaemonConfig {
  Paths paths;
  int intervalSeconds = 30;
  bool foreground = false;
  // Where to report "ready" or the reason start failed; -1 for none.
  int readyFd = -1;
  // The binary to run as the chroot helper (`keelan __ship-exec`).
  std::string selfExe;
  // A listening socket inherited across an in-place restart; -1 for none.
  int inheritedListenFd = -1;
};

// Runs the daemon until SIGTERM/SIGINT; returns the process exit code.
int runDaemon(const DaemonConfig& config);

}  // namespace keelan
