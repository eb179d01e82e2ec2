// The keelan binary: the CLI, and the hidden verbs by which it becomes the
// daemon (`__daemon`, `__daemon-reexec`) or a ship's chroot helper.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "keelan/cli.h"
#include "keelan/config.h"
#include "keelan/daemon.h"
#include "keelan/ship_exec.h"

namespace {

// The daemon, configured by `variable`; it is unset before the daemon runs,
// so no ship ever sees it.
int runDaemonFrom(const char* variable) {
  const char* encoded = getenv(variable);
  if (encoded == nullptr) {
    fprintf(stderr, "keelan: %s is not set\n", variable);
    return 1;
  }
  keelan::DaemonConfig config;
  std::string error = keelan::decodeConfig(encoded, config);
  unsetenv(variable);
  if (!error.empty()) {
    fprintf(stderr, "keelan: cannot decode %s: %s\n", variable, error.c_str());
    return 1;
  }
  return keelan::runDaemon(config);
}

}  // namespace

int main(int argc, char** argv) {
  // The chroot helper runs once per ship spawn: keep it off the CLI path.
  if (argc > 1 && strcmp(argv[1], keelan::kShipExecVerb) == 0) return keelan::runShipExec(argc, argv);
  if (argc == 2 && strcmp(argv[1], keelan::kDaemonVerb) == 0) return runDaemonFrom(keelan::kDaemonConfigVariable);
  if (argc == 2 && strcmp(argv[1], keelan::kDaemonReexecVerb) == 0)
    return runDaemonFrom(keelan::kReexecConfigVariable);
  return keelan::runCli(argc, argv);
}
