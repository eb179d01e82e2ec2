#pragma once
// pidfds: a handle on a process that is not our child. Readable once it
// exits; on Linux 6.15+ it can also tell how it exited once its real parent
// has reaped it (PIDFD_GET_INFO with PIDFD_INFO_EXIT).
#include <sys/types.h>

#include <optional>

#include "keelan/exit_status.h"

namespace keelan {

// -errno on failure (ENOSYS where the kernel has no pidfd_open).
int openPidfd(pid_t pid);
int pidfdSendSignal(int pidfd, int signal);
// The exact status, or nullopt when the kernel cannot (yet) say.
std::optional<ExitStatus> pidfdExitStatus(int pidfd);
// Whether this kernel answers PIDFD_GET_INFO at all (checked once).
bool pidfdExitInfoSupported();

}  // namespace keelan
