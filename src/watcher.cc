#include "keelan/watcher.h"

#include <sys/epoll.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <vector>

#include "keelan/pidfd.h"

namespace keelan {

struct Watcher::Watch {
  Watcher* owner = nullptr;
  std::string name;
  pid_t pid = 0;
  uint64_t startTime = 0;
  UniqueFd pidfd;
  UvHandle<uv_timer_t> retry;
  int retries = 0;
};

Watcher::Watcher(Logger& log) : log_(log) {}
Watcher::~Watcher() = default;

Liveness pollLiveness(pid_t pid, uint64_t startTime, bool& procUnreadable) {
  procUnreadable = false;
  if (pid <= 0) return Liveness::gone;
  if (kill(pid, 0) != 0 && errno == ESRCH) return Liveness::gone;
  auto stat = readProcStat(pid);
  if (!stat) {
    // kill() says the PID exists (EPERM counts): without /proc that is all
    // we can know, and a reused PID looks alive.
    if (kill(pid, 0) != 0 && errno == ESRCH) return Liveness::gone;
    procUnreadable = true;
    return Liveness::alive;
  }
  return livenessOf(stat, startTime);
}

void Watcher::start(uv_loop_t* loop, uint64_t pollEveryMs, bool noPidfd) {
  loop_ = loop;
  noPidfd_ = noPidfd;
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (epoll_) {
    uv_poll_init(loop, epollPoll_.make(), epoll_.get());
    epollPoll_->data = this;
    uv_poll_start(epollPoll_.get(), UV_READABLE, [](uv_poll_t* h, int, int) { static_cast<Watcher*>(h->data)->collect(); });
  }
  uv_timer_init(loop, pollTimer_.make());
  pollTimer_->data = this;
  uv_timer_start(pollTimer_.get(), [](uv_timer_t* h) { static_cast<Watcher*>(h->data)->poll(); }, pollEveryMs,
                 pollEveryMs);
}

void Watcher::stop() {
  std::vector<std::string> names;
  for (auto& [name, watch] : watches_) names.push_back(name);
  for (const auto& name : names) unwatch(name);
  epollPoll_.reset();
  pollTimer_.reset();
}

void Watcher::watch(const std::string& name, pid_t pid, uint64_t startTime, UniqueFd pidfd) {
  unwatch(name);
  auto watch = std::make_unique<Watch>();
  watch->owner = this;
  watch->name = name;
  watch->pid = pid;
  watch->startTime = startTime;
  if (noPidfd_) pidfd.reset();  // --x-no-pidfd: as on a kernel without pidfd_open
  if (pidfd) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLET;
    event.data.fd = pidfd.get();
    if (epoll_ && epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pidfd.get(), &event) == 0) {
      nameOfFd_[pidfd.get()] = name;
      watch->pidfd = std::move(pidfd);
    }  // else polled, like a kernel without pidfds
  }
  watches_[name] = std::move(watch);
}

void Watcher::unwatch(const std::string& name) {
  auto it = watches_.find(name);
  if (it == watches_.end()) return;
  Watch& watch = *it->second;
  if (watch.pidfd) {
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, watch.pidfd.get(), nullptr);
    nameOfFd_.erase(watch.pidfd.get());
  }
  watches_.erase(it);
}

std::optional<bool> Watcher::signal(const std::string& name, int signal) const {
  auto it = watches_.find(name);
  if (it == watches_.end() || !it->second->pidfd) return std::nullopt;
  // No PID-reuse race for a process we do not parent.
  return pidfdSendSignal(it->second->pidfd.get(), signal) == 0;
}

void Watcher::collect() {
  epoll_event events[256];
  for (;;) {
    int n = epoll_wait(epoll_.get(), events, 256, 0);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      auto name = nameOfFd_.find(events[i].data.fd);
      if (name == nameOfFd_.end()) continue;
      auto watch = watches_.find(name->second);
      if (watch != watches_.end()) onExit(*watch->second);
    }
    if (n < 256) break;
  }
}

void Watcher::onExit(Watch& watch) {
  std::optional<ExitStatus> exact;
  if (watch.pidfd) exact = pidfdExitStatus(watch.pidfd.get());
  if (!exact && watch.pidfd && pidfdExitInfoSupported() && watch.retries < 10) {
    // The kernel knows the status only once the ship's real parent has
    // reaped it. The reap's edge normally comes first; these timers (1 ms
    // doubling to 512 ms, ~1 s in all) are for a parent that is slow to
    // reap, or never does (a non-reaping init).
    if (!watch.retry) {
      uv_timer_init(loop_, watch.retry.make());
      watch.retry->data = &watch;
    }
    uint64_t delay = uint64_t{1} << watch.retries;
    ++watch.retries;
    uv_timer_start(watch.retry.get(), [](uv_timer_t* h) {
      auto* w = static_cast<Watch*>(h->data);
      w->owner->onExit(*w);
    }, delay, 0);
    return;
  }
  std::string name = watch.name;  // the listener unwatches, which frees `watch`
  listener_->adoptedEnded(name, exact, exact ? "" : "exited while adopted; its exit status is not visible to keelan");
}

// The fallback for ships without a pidfd: O(adopted ships), no write unless
// one ended.
void Watcher::poll() {
  auto started = std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, Liveness>> results;
  for (auto& [name, watch] : watches_) {
    if (watch->pidfd) continue;
    bool procUnreadable = false;
    results.emplace_back(name, pollLiveness(watch->pid, watch->startTime, procUnreadable));
    if (procUnreadable && !procUnreadableLogged_) {
      procUnreadableLogged_ = true;
      log_.warn("cannot read /proc/" + std::to_string(watch->pid) +
                "/stat: adopted ships are checked with kill(pid, 0) alone, which cannot tell a reused PID");
    }
  }
  for (const auto& [name, liveness] : results) {
    if (liveness == Liveness::alive) listener_->adoptedChecked(name);
    else
      listener_->adoptedEnded(name, std::nullopt,
                             liveness == Liveness::reused ? "pid reused"
                                                          : "exited while adopted; its exit status is not visible to keelan");
  }
  lastPollSeconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

}  // namespace keelan
