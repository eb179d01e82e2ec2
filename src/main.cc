#include <cstdlib>
#include <cstring>

#include "keelan/cli.h"
#include "keelan/daemon.h"
#include "keelan/ship_exec.h"

int main(int argc, char** argv) {
  // The chroot helper runs once per ship spawn: keep it off the CLI path.
  if (argc > 1 && strcmp(argv[1], keelan::kShipExecVerb) == 0) return keelan::runShipExec(argc, argv);
  if (argc == 2 && strcmp(argv[1], keelan::kDaemonReexecVerb) == 0) {
    const char* encoded = getenv(keelan::kReexecConfigVariable);
    keelan::DaemonConfig config;
    if (encoded == nullptr || !keelan::decodeReexecConfig(encoded, config).empty()) return 1;
    unsetenv(keelan::kReexecConfigVariable);
    return keelan::runDaemon(config);
  }
  return keelan::runCli(argc, argv);
}
