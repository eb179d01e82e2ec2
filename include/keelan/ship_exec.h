#pragma once
// `keelan __ship-exec ROOT CWD USER -- COMMAND...`: what the daemon spawns
// for a ship with a root. Like chroot(8), but it also enters CWD inside the
// root and switches to USER with their supplementary groups, then execs
// COMMAND so the ship keeps this PID.
namespace keelan {

inline constexpr const char* kShipExecVerb = "__ship-exec";
int runShipExec(int argc, char** argv);

}  // namespace keelan
