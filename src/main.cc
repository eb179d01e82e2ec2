#include <cstring>

#include "keelan/cli.h"
#include "keelan/daemon.h"
#include "keelan/ship_exec.h"

int main(int argc, char** argv) {
  // The chroot helper runs once per ship spawn: keep it off the CLI path.
  if (argc > 1 && strcmp(argv[1], keelan::kShipExecVerb) == 0) return keelan::runShipExec(argc, argv);
  if (argc == 3 && strcmp(argv[1], keelan::kDaemonReexecVerb) == 0) {
    keelan::DaemonConfig config;
    if (!keelan::decodeReexecConfig(argv[2], config).empty()) return 1;
    return keelan::runDaemon(config);
  }
  return keelan::runCli(argc, argv);
}
