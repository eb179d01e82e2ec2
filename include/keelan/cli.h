#pragma once
// The `keelan` command line: a thin table of subcommands over the protocol.
// Exit codes: 0 success, 1 the operation failed, 2 usage error, 3 daemon not
// running (`keelan daemon status` only); `wait` exits with the ship's code.
namespace keelan {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotRunning = 3;

int runCli(int argc, char** argv);

}  // namespace keelan
