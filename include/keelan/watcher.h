#pragma once
// The watcher: ships we do not parent (adopted at start-up). With a pidfd
// each is an edge in one epoll set: one at the exit and one when its real
// parent reaps it, when PIDFD_GET_INFO can tell the exact status (retried
// for about a second). Without one it is polled every interval: kill(pid, 0)
// first (ESRCH: gone), then /proc/PID/stat for the start time and zombie
// state; where /proc cannot be read, kill(pid, 0) alone (a reused PID then
// looks alive, which is logged once).
#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "keelan/exit_status.h"
#include "keelan/logger.h"
#include "keelan/proc_info.h"
#include "keelan/unique_fd.h"
#include "keelan/uv_handle.h"

namespace keelan {

class WatcherListener {
 public:
  virtual ~WatcherListener() = default;
  // The ship ended: `exact` when the kernel told its status; else `why`.
  virtual void adoptedEnded(const std::string& name, std::optional<ExitStatus> exact, const std::string& why) = 0;
  // A poll found it still alive.
  virtual void adoptedChecked(const std::string& name) = 0;
};

// The polling check, on its own for tests: kill(pid, 0), then /proc.
Liveness pollLiveness(pid_t pid, uint64_t startTime, bool& procUnreadable);

// What the supervisor needs of a watcher (a fake in tests).
class AdoptedShips {
 public:
  virtual ~AdoptedShips() = default;
  virtual void watch(const std::string& name, pid_t pid, uint64_t startTime, UniqueFd pidfd) = 0;
  virtual void unwatch(const std::string& name) = 0;
  // nullopt: not watched through a pidfd (signal by PID instead).
  virtual std::optional<bool> signal(const std::string& name, int signal) const = 0;
  virtual size_t size() const = 0;
};

class Watcher : public AdoptedShips {
 public:
  explicit Watcher(Logger& log);
  // Set before start(): who hears of ends and checks.
  void setListener(WatcherListener& listener) { listener_ = &listener; }
  ~Watcher() override;
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // `pollEveryMs`: the polling fallback's period. `noPidfd` forces it.
  void start(uv_loop_t* loop, uint64_t pollEveryMs, bool noPidfd);
  void stop();

  // `pidfd`: opened on the ship before its identity was checked, or none.
  void watch(const std::string& name, pid_t pid, uint64_t startTime, UniqueFd pidfd) override;
  void unwatch(const std::string& name) override;
  std::optional<bool> signal(const std::string& name, int signal) const override;
  size_t size() const override { return watches_.size(); }
  double lastPollSeconds() const { return lastPollSeconds_; }

  struct Watch;

 private:
  void collect();
  void onExit(Watch& watch);
  void poll();

  WatcherListener* listener_ = nullptr;
  Logger& log_;
  uv_loop_t* loop_ = nullptr;
  bool noPidfd_ = false;
  bool procUnreadableLogged_ = false;
  UniqueFd epoll_;
  UvHandle<uv_poll_t> epollPoll_;
  UvHandle<uv_timer_t> pollTimer_;
  std::map<std::string, std::unique_ptr<Watch>> watches_;
  std::unordered_map<int, std::string> nameOfFd_;
  double lastPollSeconds_ = 0;
};

}  // namespace keelan
