#pragma once
// The supervisor: the ships in memory and the rule that nothing is told
// before it is committed. Every change of a ship goes through step() of the
// ship machine; the supervisor runs the actions it returns (commit, spawn,
// backoff timers, hooks, webhooks, waking waiters), batches the records
// into one store commit per loop pass, and only then lets replies and
// events out and the reaper release the zombies whose exits it committed.
#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "keelan/commit_gate.h"
#include "keelan/config.h"
#include "keelan/exit_hooks.h"
#include "keelan/failure_notifier.h"
#include "keelan/logger.h"
#include "keelan/metrics.h"
#include "keelan/pidfd_budget.h"
#include "keelan/reaper.h"
#include "keelan/server.h"
#include "keelan/ship_cgroups.h"
#include "keelan/ship_machine.h"
#include "keelan/ship_ops.h"
#include "keelan/spawner.h"
#include "keelan/store.h"
#include "keelan/store_outage.h"
#include "keelan/uv_handle.h"
#include "keelan/watcher.h"

namespace keelan {

struct Counters {
  uint64_t spawns = 0, spawnFailures = 0, restarts = 0, orphansReaped = 0;
  uint64_t exitsZero = 0, exitsNonZero = 0, exitsSignal = 0, exitsUnknown = 0;
};

// The parts a supervisor drives; the daemon owns them.
struct SupervisorParts {
  RecordStore& store;
  ProcessStarter& spawner;
  ChildTracker& reaper;
  AdoptedShips& watcher;
  ExitHooks& hooks;
  FailureNotifier& notifier;
  Outbox& outbox;
  PidfdBudget& pidfds;
};

class Supervisor;
// What a ship's main process left behind, on its way out: SIGKILL (or
// cgroup.kill) at the timeout.
struct LeftoverKill {
  Supervisor* owner = nullptr;
  std::string dir;  // a run cgroup, or "" for a session
  pid_t session = 0;
  UvHandle<uv_timer_t> timer;
};

class Supervisor : public ReaperListener, public WatcherListener, public CgroupListener {
 public:
  Supervisor(uv_loop_t* loop, Logger& log, const DaemonConfig& config, SupervisorParts parts);
  ~Supervisor() override;
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Process trees (issue 15): with cgroups (set before recover()), each run
  // has its own; without, its session is found through /proc.
  void setCgroups(ShipCgroups* cgroups) { cgroups_ = cgroups; }
  const char* processTracking() const { return cgroups_ != nullptr ? "cgroup" : "session"; }
  // pause / resume: freezes or thaws running ships' cgroups (all or nothing).
  void pauseShips(const PendingReply& to, const std::vector<std::string>& names, bool pause);

  // Loads the store and settles every ship it names: still our child,
  // adopted, or ended while we were away. Backoff timers are armed.
  void recover(const std::string& bootId, pid_t self);

  // Replies and events wait here for the commit before them.
  CommitGate& gate() { return gate_; }
  const CommitGate& gate() const { return gate_; }
  void flush() { gate_.flush(); }
  RecordStore& store() { return parts_.store; }
  Outbox& outbox() { return parts_.outbox; }

  // ---- ships
  const std::map<std::string, ShipRecord>& ships() const { return ships_; }
  const ShipRecord* find(const std::string& name) const;
  nlohmann::json countsByStatus() const;
  // The names of the ships carrying every label of `selector`, in name
  // order: what `labels` in a request means, for every op that takes it.
  std::vector<std::string> shipsWithLabels(const std::map<std::string, std::string>& selector) const;
  size_t adopted() const { return parts_.watcher.size(); }
  const Counters& counters() const { return counters_; }
  // Records set aside at start-up (read once, so status needs no store read).
  uint64_t quarantined() const { return quarantined_; }

  // ---- operations (validated by the caller)
  void deploy(const PendingReply& to, const ShipSpec& spec, bool replace);
  void stop(const PendingReply& to, const std::vector<std::string>& names, int signal, int64_t timeoutMs);
  void remove(const PendingReply& to, const std::vector<std::string>& names, bool force, int64_t timeoutMs);
  // Stops the running ones (as stop does, SIGKILL past the timeout), then
  // starts every named ship again with its definition: one new run each.
  void restartShips(const PendingReply& to, const std::vector<std::string>& names, int64_t timeoutMs);
  // Signals running ships and nothing else; nullopt: each ship's reloadSignal.
  void signalShips(const PendingReply& to, const std::vector<std::string>& names, std::optional<int> signal);
  void wait(const PendingReply& to, const std::string& name);
  // Replies `conflict` and returns true when an operation pending on `name`
  // forbids `incoming` now.
  bool refuseConflicting(const PendingReply& to, const std::string& name, ShipOp incoming);

  // ---- timers and shutdown
  void start(uv_loop_t* loop);  // the backoff timer
  void rotateLogs();
  // Every waiter and pending stop is told the daemon is shutting down.
  void shutDown();

  // ReaperListener
  void childExited(pid_t pid, const ExitStatus& exit, std::chrono::steady_clock::time_point seen) override;
  void exitsCollected() override { flush(); }
  void strangerExited(pid_t pid, const ExitStatus& exit) override;
  // WatcherListener
  void adoptedEnded(const std::string& name, std::optional<ExitStatus> exact, const std::string& why) override;
  void adoptedChecked(const std::string& name) override;
  // CgroupListener
  void cgroupEmptied(const std::string& dir) override;

  struct StopRequest;

 private:
  ShipRecord* findMutable(const std::string& name);
  // Steps the ship's machine and runs the actions; returns the text of the
  // last record committed by it ("" if none or refused).
  std::string stepShip(ShipRecord& record, const ShipEvent& event);
  void run(ShipRecord& record, const ShipAction& action, std::string& committed, bool& stopped);
  void spawn(const PendingReply& to, const ShipSpec& spec);
  // Deploys `spec` on `record` and spawns it; returns the committed record's
  // text, or "" with `error` set when the spawn failed.
  std::string startShip(ShipRecord& record, const ShipSpec& spec, bool automatic, std::string& error);
  void startAgain(const PendingReply& to, const std::vector<std::string>& names);
  bool refuseUnknown(const PendingReply& to, const std::vector<std::string>& names);
  void stopShips(std::unique_ptr<StopRequest> request, int signal, int64_t timeoutMs);
  void onStopped(const std::string& name);
  void finishStop(StopRequest& stop);
  void forgetShip(const std::string& name);
  void escalate(StopRequest& stop);
  bool signalShip(const ShipRecord& record, int signal);
  void armBackoffTimer();
  void restartDue();
  void recoverRunning(ShipRecord& ship, const std::string& bootId, pid_t self);
  void startWantedAfterReboot(const std::string& bootId);
  // ---- process trees (supervisor_trees.cc)
  friend void killLeftoversNow(LeftoverKill& kill);
  // Steps Exited with what the main process left behind, then deals with it.
  void shipExited(ShipRecord& record, ship_event::Exited exited);
  uint64_t countLeftovers(const ShipRecord& record) const;
  std::vector<pid_t> sessionMembers(pid_t session) const;
  void handleLeftovers(const std::string& name, const std::string& dir);
  void killLeftovers(const std::string& dir, pid_t session, int64_t timeoutMs);
  void trackCgroup(const std::string& dir, const std::string& name);
  void releaseCgroup(const std::string& dir);
  // Whether the ship's stop must wait for its tree (control-group, leftovers alive).
  bool treeBusy(const ShipRecord& record) const;
  bool signalTree(const ShipRecord& record, int signal);
  void killTree(const ShipRecord& record);
  void reconcileCgroups();

  uv_loop_t* loop_;
  Logger& log_;
  const DaemonConfig& config_;
  SupervisorParts parts_;
  MachineSettings settings_;
  std::string bootId_;

  std::map<std::string, ShipRecord> ships_;
  std::unordered_map<pid_t, std::string> shipOfPid_;  // children we parent
  // Session id (the ship's first PID) -> ship name, kept after the ship
  // exits so that its orphans, reaped later, are still attributed to it.
  std::unordered_map<pid_t, std::string> sessionOwner_;
  // Ships with a log size limit of their own: without a daemon-wide limit,
  // only these are checked, so an idle daemon does not walk every ship.
  std::set<std::string> logLimited_;
  std::set<std::string> rotationErrorsLogged_;

  CommitGate gate_;
  Counters counters_;
  uint64_t quarantined_ = 0;

  // Ships in backoff, by when their restart is due (wall-clock ms); one
  // timer for the earliest, however many ships wait.
  std::multimap<int64_t, std::string> backoffQueue_;
  UvHandle<uv_timer_t> backoffTimer_;
  std::multimap<std::string, PendingReply> waiters_;
  std::vector<std::unique_ptr<StopRequest>> stops_;
  bool shuttingDown_ = false;

  ShipCgroups* cgroups_ = nullptr;
  std::map<std::string, std::string> shipOfCgroup_;  // run cgroup -> ship, until it is removed
  std::set<std::string> treeWaiters_;  // ships stopped whose stop completes when their cgroup empties
  std::map<std::string, std::unique_ptr<LeftoverKill>> leftoverKills_;  // run cgroup or "session:PID" -> SIGKILL timer
  bool crashAfterSpawn_ = false;  // KEELAN_TEST_CRASH_AFTER_SPAWN: tests only
};

// stop, rm, restart or deploy --replace, waiting for its ships to die.
struct Supervisor::StopRequest {
  PendingReply reply;
  std::set<std::string> remaining;
  std::vector<std::string> names;
  bool removeAfter = false;
  ShipOp kind = ShipOp::stop;  // what is pending on `remaining` (see ship_ops.h)
  std::function<void()> then;  // runs instead of the reply (deploy --replace, restart)
  UvHandle<uv_timer_t> timer;
  Supervisor* owner = nullptr;
};

}  // namespace keelan
