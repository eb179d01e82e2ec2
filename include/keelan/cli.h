#pragma once
// The `keelan` command line: a thin table of subcommands over the protocol.
// Exit codes: 0 success, 1 the operation failed, 2 usage error, 3 daemon not
// running and 4 status unknown (running but not answering, or not permitted)
// (`keelan daemon status` only, as LSB init scripts); `wait` exits with the
// ship's code.
namespace keelan {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotRunning = 3;
inline constexpr int kExitStatusUnknown = 4;

int runCli(int argc, char** argv);

}  // namespace keelan
