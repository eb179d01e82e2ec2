#include "keelan/pidfd.h"

#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace keelan {

namespace {
// From the kernel's uapi <linux/pidfd.h> (6.15); Debian 12's headers lack it.
struct PidfdInfo {
  uint64_t mask;
  uint64_t cgroupid;
  uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  int32_t exit_code;
  uint32_t coredump_mask;
  uint32_t spare1;
};
constexpr uint64_t kPidfdInfoExit = 1u << 3;
constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, PidfdInfo);
}  // namespace

int openPidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return -errno;
  return static_cast<int>(fd);
#else
  (void)pid;
  return -ENOSYS;
#endif
}

int pidfdSendSignal(int pidfd, int signal) {
#ifdef SYS_pidfd_send_signal
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
#else
  (void)pidfd;
  (void)signal;
  errno = ENOSYS;
  return -1;
#endif
}

std::optional<ExitStatus> pidfdExitStatus(int pidfd) {
  PidfdInfo info{};
  info.mask = kPidfdInfoExit;
  if (ioctl(pidfd, kPidfdGetInfo, &info) != 0) return std::nullopt;
  if ((info.mask & kPidfdInfoExit) == 0) return std::nullopt;
  return ExitStatus::fromWaitStatus(info.exit_code);
}

bool pidfdExitInfoSupported() {
  static const bool supported = [] {
    int fd = openPidfd(getpid());
    if (fd < 0) return false;
    PidfdInfo info{};
    bool ok = ioctl(fd, kPidfdGetInfo, &info) == 0;
    close(fd);
    return ok;
  }();
  return supported;
}

}  // namespace keelan
