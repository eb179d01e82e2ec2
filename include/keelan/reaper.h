#pragma once
// The reaper: the only code that waits for children. Ships we parent are
// watched by pidfds in one epoll set, so an exit storm is read in one pass.
// An exit is peeked (waitid WNOWAIT: the zombie keeps its status) and handed
// to the listener; the zombie is released only after the listener has made
// the exit durable (release()). A rate-limited waitid(P_ALL) walk finds the
// rest: ships without a pidfd, hooks and orphans we inherit as subreaper.
#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "keelan/exit_status.h"
#include "keelan/unique_fd.h"
#include "keelan/uv_handle.h"

namespace keelan {

class ReaperListener {
 public:
  virtual ~ReaperListener() = default;
  // A tracked child exited; its zombie stays until release().
  virtual void childExited(pid_t pid, const ExitStatus& exit, std::chrono::steady_clock::time_point seen) = 0;
  // A pass found exits: commit them now, then call release().
  virtual void exitsCollected() = 0;
  // A child we do not track (a hook, an orphan) ended. Called while it is
  // still a zombie, so /proc/PID still describes it; reaped right after.
  virtual void strangerExited(pid_t pid, const ExitStatus& exit) = 0;
};

ExitStatus exitFromSiginfo(const siginfo_t& info);

// What the supervisor needs of a reaper (a fake in tests).
class ChildTracker {
 public:
  virtual ~ChildTracker() = default;
  virtual void track(pid_t pid, UniqueFd pidfd) = 0;
  virtual void untrack(pid_t pid) = 0;
  virtual bool holdsUnreleased() const = 0;
  virtual void release() = 0;
};

class Reaper : public ChildTracker {
 public:
  Reaper() = default;
  // Set before start(): who hears of exits.
  void setListener(ReaperListener& listener) { listener_ = &listener; }
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  // Starts watching: the epoll set, and SIGCHLD for the walk. Returns a
  // warning (empty if none): without an epoll set exits are still reaped,
  // one commit each.
  std::string start(uv_loop_t* loop);
  void stop();

  // A child we parent; `pidfd` one open on it, or none (then it is found
  // by the walk). Race-free: an unreaped child's PID cannot be reused.
  void track(pid_t pid, UniqueFd pidfd) override;
  void untrack(pid_t pid) override;
  // Reads every readable pidfd (no walk).
  void collect();
  // collect(), then waitid(P_ALL) over every child.
  void walk();
  // Reaps the zombies whose exits the listener has now made durable.
  void release() override;
  bool holdsUnreleased() const override { return !unreleased_.empty(); }

 private:
  void exited(pid_t pid, const siginfo_t& info);
  void onSigchld();

  ReaperListener* listener_ = nullptr;
  UniqueFd epoll_;
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_signal_t> sigchld_;
  UvHandle<uv_timer_t> walkTimer_;
  std::unordered_set<pid_t> tracked_;
  std::unordered_map<pid_t, UniqueFd> pidfdOf_;
  std::unordered_map<int, pid_t> pidOfFd_;
  // Zombies whose exits await the commit: pid and pidfd (or none).
  std::vector<std::pair<pid_t, UniqueFd>> unreleased_;
};

}  // namespace keelan
