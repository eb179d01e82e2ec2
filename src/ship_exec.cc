#include "keelan/ship_exec.h"

#include <unistd.h>

extern "C" int keelan_ship_exec(int argc, char** argv);

namespace keelan {

int runShipExec(int argc, char** argv) { return keelan_ship_exec(argc - 1, argv + 1); }

std::string findShipExecBinary(const std::string& selfExe) {
  size_t slash = selfExe.rfind('/');
  if (slash == std::string::npos) return "";
  std::string dir = selfExe.substr(0, slash);
  for (std::string candidate : {dir + "/" + kShipExecBinary, dir + "/../libexec/keelan/" + kShipExecBinary})
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  return "";
}

}  // namespace keelan
