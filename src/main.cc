#include <cstring>

#include "keelan/cli.h"
#include "keelan/ship_exec.h"

int main(int argc, char** argv) {
  // The chroot helper runs once per ship spawn: keep it off the CLI path.
  if (argc > 1 && strcmp(argv[1], keelan::kShipExecVerb) == 0) return keelan::runShipExec(argc, argv);
  return keelan::runCli(argc, argv);
}
