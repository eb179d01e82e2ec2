#include "keelan/reaper.h"

#include <sys/epoll.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <csignal>
#include <string>

namespace keelan {

ExitStatus exitFromSiginfo(const siginfo_t& info) {
  switch (info.si_code) {
    case CLD_EXITED: return ExitStatus::exited(info.si_status);
    case CLD_KILLED: return ExitStatus::signaled(info.si_status, false);
    case CLD_DUMPED: return ExitStatus::signaled(info.si_status, true);
    default: return {};
  }
}

std::string Reaper::start(uv_loop_t* loop) {
  // SIGCHLD: ships' exits at once (their pidfds), and the walk over every
  // child for orphans and hooks at most every 20 ms. waitid(P_ALL) costs
  // O(children), 2 ms with 10,000, and an exit storm sends thousands.
  uv_timer_init(loop, walkTimer_.make());
  walkTimer_->data = this;
  uv_signal_init(loop, sigchld_.make());
  sigchld_->data = this;
  uv_signal_start(sigchld_.get(), [](uv_signal_t* h, int) { static_cast<Reaper*>(h->data)->onSigchld(); }, SIGCHLD);
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return std::string("no epoll set for child pidfds (") + strerror(errno) + "); exits are committed one by one";
  uv_poll_init(loop, poll_.make(), epoll_.get());
  poll_->data = this;
  // Ships' exits only: the O(children) walk for orphans is SIGCHLD's, rate-limited.
  uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
    auto* self = static_cast<Reaper*>(h->data);
    self->collect();
    self->listener_->exitsCollected();
  });
  return "";
}

void Reaper::stop() {
  poll_.reset();
  sigchld_.reset();
  walkTimer_.reset();
}

void Reaper::onSigchld() {
  collect();
  listener_->exitsCollected();
  if (!uv_is_active(walkTimer_.base()))
    uv_timer_start(walkTimer_.get(), [](uv_timer_t* t) { static_cast<Reaper*>(t->data)->walk(); }, 20, 0);
}

void Reaper::track(pid_t pid, UniqueFd pidfd) {
  tracked_.insert(pid);
  if (!epoll_ || !pidfd || pidfdOf_.count(pid) != 0) return;  // no set, no pidfd, or tracked already
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = pidfd.get();
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pidfd.get(), &event) != 0) return;
  pidOfFd_[pidfd.get()] = pid;
  pidfdOf_[pid] = std::move(pidfd);
}

void Reaper::untrack(pid_t pid) { tracked_.erase(pid); }

// Every child whose pidfd is readable: peek its status (WNOWAIT keeps the
// zombie), hand it on. The listener commits the lot once, then releases.
void Reaper::collect() {
  if (!epoll_) return;
  epoll_event events[256];
  for (;;) {
    int n = epoll_wait(epoll_.get(), events, 256, 0);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      auto known = pidOfFd_.find(fd);
      siginfo_t info{};
      if (known == pidOfFd_.end() ||
          waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
          info.si_pid == 0) {
        // Unknown, or readable but not waitable (a kernel without
        // P_PIDFD): leave it to the walk rather than spin on a
        // level-triggered fd.
        epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
        continue;
      }
      exited(known->second, info);
    }
    if (n < 256) break;
  }
}

// A child we parent has exited and is still a zombie: hand the exit on and
// keep the zombie until release() (also when nobody tracks the PID any more).
void Reaper::exited(pid_t pid, const siginfo_t& info) {
  UniqueFd fd;
  if (auto it = pidfdOf_.find(pid); it != pidfdOf_.end()) {
    fd = std::move(it->second);
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd.get(), nullptr);
    pidOfFd_.erase(fd.get());
    pidfdOf_.erase(it);
  }
  unreleased_.emplace_back(pid, std::move(fd));
  if (tracked_.erase(pid) == 0) return;
  listener_->childExited(pid, exitFromSiginfo(info), std::chrono::steady_clock::now());
}

// Durable before the zombie goes: a crash before this leaves the zombies,
// whose statuses the next daemon reads through pidfds, so no exact status
// is ever lost between reaping and committing.
void Reaper::release() {
  for (auto& [pid, fd] : unreleased_) {
    siginfo_t info{};
    int rc = -1;
    if (fd) {
      while ((rc = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd.get()), &info, WEXITED | WNOHANG)) !=
                 0 &&
             errno == EINTR) {
      }
    }
    if (!fd || (rc != 0 && errno == EINVAL)) {  // no pidfd, or a kernel without P_PIDFD (before 5.4)
      while (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) != 0 && errno == EINTR) {
      }
    }
  }
  unreleased_.clear();
}

void Reaper::walk() {
  collect();
  listener_->exitsCollected();
  for (;;) {
    siginfo_t info{};
    // Peek without reaping: a ship's zombie keeps its status until it is committed.
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) break;
    pid_t pid = info.si_pid;
    if (!unreleased_.empty()) break;  // the commit failed: keep the zombies, retry on the next walk
    if (tracked_.count(pid) != 0) {
      // A ship that exited after the pidfd pass, or has none.
      exited(pid, info);
      collect();
      listener_->exitsCollected();
      continue;
    }
    listener_->strangerExited(pid, exitFromSiginfo(info));
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) < 0 && errno == EINTR) {
    }
  }
}

}  // namespace keelan
