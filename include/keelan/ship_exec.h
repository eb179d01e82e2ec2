#pragma once
// The chroot helper the daemon spawns for a ship with a root or a user:
//   keelan-ship-exec [OPTION]... ROOT CWD IDS -- COMMAND...   (src/ship_exec.c)
// or, where that static binary is missing, the same code as
//   keelan __ship-exec [OPTION]... ROOT CWD IDS -- COMMAND...
// IDS is empty or UID:GID[:G1,G2,...], resolved by the daemon.
#include <string>

namespace keelan {

inline constexpr const char* kShipExecVerb = "__ship-exec";
inline constexpr const char* kShipExecBinary = "keelan-ship-exec";
// `keelan __ship-exec ...`: argv[1] is the verb.
int runShipExec(int argc, char** argv);

// The static helper beside `selfExe` (build tree) or in
// ../libexec/keelan/ (installed); empty when there is none.
std::string findShipExecBinary(const std::string& selfExe);

}  // namespace keelan
