#include "keelan/daemon.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <optional>
#include <vector>

#include "keelan/config_options.h"
#include "keelan/daemon_metrics.h"
#include "keelan/fs_trust.h"
#include "keelan/handled_signals.h"
#include "keelan/http_endpoint.h"
#include "keelan/loop_turn.h"
#include "keelan/operations.h"
#include "keelan/pidfile.h"
#include "keelan/proc_info.h"
#include "keelan/protocol.h"
#include "keelan/startup_files.h"
#include "keelan/store_file.h"
#include "keelan/store_flusher.h"
#include "keelan/time_util.h"
#include "keelan/version.h"

namespace keelan {

using nlohmann::json;

namespace {

// Everything that lives on the loop, built once the loop exists, each part
// after those it calls; those that call back up (the server, the reaper and
// the watcher) are given their handler or listener once it exists.
struct Modules {
  Modules(uv_loop_t* loop, Logger& log, const DaemonConfig& config, Store& store, DaemonControl& control)
      : pidfds(log),
        spawner(loop, config, pidfds),
        hooks(spawner, log, config),
        notifier(loop, log, config),
        server(loop, log, config),
        watcher(log),
        supervisor(loop, log, config, {store, spawner, reaper, watcher, hooks, notifier, server, pidfds}),
        operations(supervisor, control, config, log),
        flusher(loop, store, log, config) {
    reaper.setListener(supervisor);
    watcher.setListener(supervisor);
    server.setHandler(operations);
    // KEELAN_TEST_SESSION_TRACKING=1 (tests only) forces the fallback.
    const char* session = std::getenv("KEELAN_TEST_SESSION_TRACKING");
    if (session != nullptr && std::string(session) == "1") cgroupsWhy = "forced by KEELAN_TEST_SESSION_TRACKING";
    else cgroups = ShipCgroups::open(config.paths.base, cgroupsWhy);
    supervisor.setCgroups(cgroups.get());
  }
  std::string cgroupsWhy;  // why there are none
  std::unique_ptr<ShipCgroups> cgroups;  // outlives the supervisor that points at it
  PidfdBudget pidfds;
  Spawner spawner;
  ExitHooks hooks;
  FailureNotifier notifier;
  Server server;
  Reaper reaper;
  Watcher watcher;
  Supervisor supervisor;
  Operations operations;
  StoreFlusher flusher;
};

class Daemon : public DaemonControl {
 public:
  explicit Daemon(const DaemonConfig& config) : config_(config) {}
  int run();

  // DaemonControl
  bool shuttingDown() const override { return shuttingDown_; }
  json identity() const override;
  int64_t uptimeSeconds() const override { return (monotonicMs() - startedMs_) / 1000; }
  std::string renderMetrics() const override;
  void restart(const ClientInfo& client, const PendingReply& to, const requests::Restart& request) override;

 private:
  // Start-up, step by step: each returns an error, empty on success.
  std::string prepareFiles() { return prepareDaemonFiles(config_, log_, socketGid_); }
  std::string lockPidFile();
  std::string lockDataDirectory();
  std::string becomeSubreaper();
  std::string prepareStore();
  std::string startLoop();
  std::string listen();
  void startTimers();
  void announceReady();

  int failStart(const std::string& message);
  int abortStart(const std::string& message);
  void closeLoop();
  void onSafetyNetTick();
  void execInPlace();
  // Group durability: every commit onto the device before the store closes.
  void syncStore() {
    if (auto e = store_.sync(); !e.empty()) log_.error(e);
  }
  void beginShutdown(const char* why);
  int finish();

  DaemonConfig config_;
  Logger log_;
  PidFile pidFile_;
  Store store_;
  std::string bootId_;
  int64_t startedMs_ = 0;
  gid_t socketGid_ = static_cast<gid_t>(-1);
  UniqueFd dataLock_;
  pid_t self_ = 0;
  bool pidFileHeld_ = false;

  uv_loop_t loop_{};
  std::unique_ptr<Modules> m_;
  std::unique_ptr<HttpEndpoint> metricsServer_;
  UvHandle<uv_signal_t> sigterm_, sigint_, sighup_;
  UvHandle<uv_timer_t> safetyNet_, rotation_, restartTimer_, shutdownDeadline_;
  LoopTurn turn_;
  int safetyNetTicks_ = 0;
  uint64_t restartRequester_ = 0;
  int64_t restartRequestedMs_ = 0;
  // Why the last in-place restart of this image failed (exec error); sent
  // in `ping` and `status` so that `keelan daemon restart` can say so.
  std::string restartError_;
  bool execRequested_ = false;
  bool shuttingDown_ = false;
};

// ---------------------------------------------------------------- start-up

int Daemon::failStart(const std::string& message) {
  log_.error(message);
  writeReady(config_.readyFd, "error " + message + "\n");
  return 1;
}

// A failure once the loop exists: report it, then shut down as on SIGTERM.
int Daemon::abortStart(const std::string& message) {
  failStart(message);
  beginShutdown("start-up failure");
  uv_run(&loop_, UV_RUN_DEFAULT);
  closeLoop();
  return 1;
}

// Close whatever is left so the loop can close. The shutdown deadline is
// ours to free: closed here through its owner, not by the walk.
void Daemon::closeLoop() {
  shutdownDeadline_.reset();
  uv_walk(&loop_, [](uv_handle_t* handle, void*) {
    if (!uv_is_closing(handle)) uv_close(handle, nullptr);
  }, nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

std::string Daemon::lockPidFile() {
  PidFile::Result lock;
  if (config_.inheritedPidFileFd >= 0) {
    lock.error = pidFile_.adopt(config_.inheritedPidFileFd, config_.paths.pidFile);
    lock.outcome = lock.error.empty() ? PidFile::Outcome::acquired : PidFile::Outcome::failed;
  } else {
    lock = pidFile_.acquire(config_.paths.pidFile, self_);
  }
  if (lock.outcome == PidFile::Outcome::held) {
    pidFileHeld_ = true;
    return "already running (pid " + std::to_string(lock.holder) + ")";
  }
  if (lock.outcome == PidFile::Outcome::failed) return lock.error;
  if (lock.replacedStale) log_.warn("replaced a stale PID file " + config_.paths.pidFile);
  return "";
}

// One daemon per database, whatever --pid-file says: a lock beside it.
std::string Daemon::lockDataDirectory() {
  if (config_.inheritedDataLockFd >= 0) {
    dataLock_.reset(config_.inheritedDataLockFd);
    fcntl(dataLock_.get(), F_SETFD, FD_CLOEXEC);
    return "";
  }
  std::string path = config_.paths.dataDir + "/daemon.lock";
  dataLock_.reset(openFileNoFollow(path, O_RDWR | O_CREAT, 0600));
  if (!dataLock_) return "cannot open " + path + ": " + openErrorText(dataLock_.release());
  if (flock(dataLock_.get(), LOCK_EX | LOCK_NB) != 0)
    return "already running: another daemon uses the database in " + config_.paths.dataDir;
  return "";
}

std::string Daemon::becomeSubreaper() {
  if (config_.noSubreaper) {
    log_.warn("not a child subreaper (--x-no-subreaper): orphans of ships are not reaped by this daemon");
    return "";
  }
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return std::string("cannot become a child subreaper: ") + strerror(errno);
  return "";
}

std::string Daemon::prepareStore() {
  std::string note;
  if (!config_.fromBackup.empty()) {
    if (auto e = restoreFromBackup(config_.fromBackup, config_.paths.dataDir, note); !e.empty()) return e;
    log_.warn("store restored from the backup " + config_.fromBackup + (note.empty() ? "" : "; " + note));
  }
  if (config_.salvage) {
    note.clear();
    if (auto e = salvageStore(config_.paths.dataDir, note); !e.empty()) return e;
    if (!note.empty()) log_.error(note);
  }
  if (auto e = checkStoreBeforeOpen(config_.paths.dataDir, config_.paths.shipLogDir,
                                    config_.newStore || !config_.fromBackup.empty());
      !e.empty())
    return e;
  return store_.open(config_.paths.dataDir);
}

// The loop and every part on it, then the store's ships settled.
std::string Daemon::startLoop() {
  bootId_ = config_.bootIdOverride.empty() ? readBootId() : config_.bootIdOverride;
  uv_loop_init(&loop_);
  loop_.data = this;
  m_ = std::make_unique<Modules>(&loop_, log_, config_, store_, *this);
  if (config_.restarts > 0) log_.info("daemon re-executed in place (restart " + std::to_string(config_.restarts) + ")");
  log_.info("daemon starting version=" + std::string(kVersion) + " pid=" + std::to_string(self_) +
            " base=" + config_.paths.base + " socket=" + config_.paths.socket + " pidFile=" +
            config_.paths.pidFile + " data=" + config_.paths.dataDir +
            " interval=" + std::to_string(config_.intervalSeconds) + "s chrootHelper=" +
            m_->spawner.helperDescription());
  auto signal = [this](UvHandle<uv_signal_t>& handle, int signum, uv_signal_cb cb) {
    uv_signal_init(&loop_, handle.make());
    handle->data = this;
    uv_signal_start(handle.get(), cb, signum);
  };
  signal(sigterm_, SIGTERM, [](uv_signal_t* h, int) { static_cast<Daemon*>(h->data)->beginShutdown("SIGTERM"); });
  signal(sigint_, SIGINT, [](uv_signal_t* h, int) { static_cast<Daemon*>(h->data)->beginShutdown("SIGINT"); });
  signal(sighup_, SIGHUP, [](uv_signal_t* h, int) {
    auto* self = static_cast<Daemon*>(h->data);
    self->m_->spawner.forgetLogFiles();
    auto error = self->log_.reopen();
    if (!error.empty()) self->log_.error(error);
    else self->log_.info("log file reopened (SIGHUP)");
  });
  m_->flusher.start();  // before recovery's commits
  if (auto warning = m_->reaper.start(&loop_); !warning.empty()) log_.warn(warning);
  // Blocked across an in-place re-exec (execInPlace): now that the handlers
  // exist, what arrived meanwhile is delivered to them.
  unblockHandledSignals();
  // Once per loop pass, after the callbacks: what they saw (exits) is
  // committed, then a bounded share of requests is served and committed.
  // The log lines go out in one write before the replies they precede; the
  // second write catches what the commit itself logged.
  auto commit = [this] {
    log_.flush();
    m_->supervisor.flush();
    log_.flush();
  };
  turn_.start(&loop_, {commit, [this] { return m_->server.serveTurn(kTurnRequests, kTurnBudget); }});
  m_->server.setWake([this] { turn_.comeBack(); });
  log_.setBatched(true);
  m_->watcher.start(&loop_, static_cast<uint64_t>(config_.intervalSeconds) * 1000, config_.noPidfd);
  if (m_->cgroups) {
    m_->cgroups->start(&loop_, m_->supervisor);
    log_.info("process tracking: cgroup " + m_->cgroups->subtree());
  } else {
    log_.warn("process tracking: session (" + m_->cgroupsWhy + ")");
  }
  m_->supervisor.recover(bootId_, self_);
  m_->supervisor.flush();
  // Recovery's parsed records and batch copies are gone; give the memory back
  // rather than idle at the start-up peak.
  malloc_trim(0);
  return "";
}

std::string Daemon::listen() {
  if (auto e = m_->server.listen(socketGid_); !e.empty()) return e;
  if (config_.metricsAddress.empty()) return "";
  HttpEndpointOptions options;
  options.headerTimeoutMs = config_.httpHeaderTimeoutMs;
  metricsServer_ = std::make_unique<HttpEndpoint>(&loop_, log_, [this] { return renderMetrics(); }, options);
  return metricsServer_->listen(config_.metricsAddress);
}

void Daemon::startTimers() {
  // Drops clients that stalled mid-request and kills overdue hooks. It also
  // drains the reaper every 30 s, belt and braces: libuv's signal pipe
  // coalesces SIGCHLD but does not lose one, and waitid(P_ALL) walks every
  // child (2 ms with 10,000), which once a second was most of our idle CPU.
  uv_timer_init(&loop_, safetyNet_.make());
  safetyNet_->data = this;
  uv_timer_start(safetyNet_.get(), [](uv_timer_t* h) { static_cast<Daemon*>(h->data)->onSafetyNetTick(); }, 1000, 1000);
  // Ship logs are checked for size every 5 s, only while some limit is set.
  uv_timer_init(&loop_, rotation_.make());
  rotation_->data = this;
  uv_timer_start(rotation_.get(), [](uv_timer_t* h) { static_cast<Daemon*>(h->data)->m_->supervisor.rotateLogs(); },
                 5000, 5000);
  m_->reaper.walk();  // children that ended while we were starting (after an in-place restart)
  m_->supervisor.flush();
  m_->supervisor.start(&loop_);
}

void Daemon::onSafetyNetTick() {
  if (++safetyNetTicks_ % 30 == 0) m_->reaper.walk();
  if (m_->supervisor.gate().outage().active()) m_->supervisor.flush();  // the retry while nothing else wakes the loop
  m_->server.sweep();
  m_->hooks.killOverdue();
}

void Daemon::announceReady() {
  log_.info("daemon started pid=" + std::to_string(self_) + " interval=" + std::to_string(config_.intervalSeconds) +
            "s ships=" + std::to_string(m_->supervisor.ships().size()) +
            " adopted=" + std::to_string(m_->supervisor.adopted()));
  log_.flush();  // start-up's lines are in the file before anyone is told we are up
  writeReady(config_.readyFd, "ok " + std::to_string(self_) + "\n");
  if (config_.readyFd >= 0) close(config_.readyFd);
  notifySystemd("READY=1\nMAINPID=" + std::to_string(self_) + "\n");
}

int Daemon::run() {
  self_ = getpid();
  startedMs_ = monotonicMs();
  signal(SIGPIPE, SIG_IGN);  // libuv writes without MSG_NOSIGNAL; libuv resets it in ships
  markInheritedFdsCloseOnExec();
  // Before the loop: a failure is reported and we exit.
  using Step = std::string (Daemon::*)();
  for (Step step : {&Daemon::prepareFiles, &Daemon::lockPidFile, &Daemon::lockDataDirectory, &Daemon::becomeSubreaper,
                    &Daemon::prepareStore}) {
    std::string e = (this->*step)();
    if (e.empty()) continue;
    if (!pidFileHeld_) return failStart(e);
    log_.warn("not starting: " + e);
    writeReady(config_.readyFd, "error " + e + "\n");
    return 1;
  }
  // With the loop: a failure is reported and we shut down as on SIGTERM.
  for (Step step : {&Daemon::startLoop, &Daemon::listen})
    if (auto e = (this->*step)(); !e.empty()) return abortStart(e);
  startTimers();
  announceReady();
  uv_run(&loop_, UV_RUN_DEFAULT);
  // An in-place restart stops the loop to exec; we are still here if the
  // exec failed or a stop came first.
  while (execRequested_) {
    execRequested_ = false;
    execInPlace();
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  return finish();
}

int Daemon::finish() {
  if (m_->notifier.dropped()) {
    // A pool thread may sit in libcurl for seconds more, and exit() would
    // join it (libuv's thread pool destructor): finish our part, then _exit.
    m_->supervisor.flush();
    store_.close();
    unlink(config_.paths.socket.c_str());
    pidFile_.release();
    log_.info("daemon stopped");
    log_.flush();
    _exit(0);
  }
  m_->supervisor.flush();
  if (m_->supervisor.gate().uncommitted())
    log_.error("stopping with changes the store could not commit; ships still running are adopted at the next start");
  closeLoop();
  syncStore();
  store_.close();
  pidFile_.release();
  log_.info("daemon stopped");
  log_.flush();
  return 0;
}

// ---------------------------------------------------------------- what the daemon answers

json Daemon::identity() const {
  json out = {{"pid", self_}, {"version", kVersion}, {"generation", config_.restarts}};
  if (!restartError_.empty()) out["restartError"] = restartError_;
  return out;
}

std::string Daemon::renderMetrics() const {
  return renderDaemonMetrics({m_->supervisor, m_->flusher, m_->watcher.lastPollSeconds(), m_->server.clients(),
                              static_cast<double>(monotonicMs() - startedMs_) / 1000.0});
}

// ---------------------------------------------------------------- in-place restart

// Re-executing keeps our PID, so we stay the parent and subreaper of every
// ship: exits during the exec wait as zombies and are reaped, exactly, by
// the new image. The listening socket stays open, so connections made
// meanwhile queue in its backlog instead of being refused.
void Daemon::restart(const ClientInfo& client, const PendingReply& to, const requests::Restart& request) {
  Supervisor& supervisor = m_->supervisor;
  if (restartTimer_) return supervisor.gate().replyError(to, errc::busy, "a restart is already under way");
  // The new image starts with the new options: that is how they apply.
  DaemonConfig next = config_;
  if (request.intervalSeconds) next.intervalSeconds = *request.intervalSeconds;
  auto changes = applyLiveOptions(next, request.options.is_null() ? json::object() : request.options, request.sources);
  if (!changes) return supervisor.gate().replyError(to, changes.error().code.c_str(), changes.error().message);
  if (request.configFile) next.configFile = *request.configFile;
  config_ = std::move(next);
  for (const std::string& change : changes.value()) log_.info("configuration changed in place: " + change);
  log_.info("in-place restart requested");
  restartRequester_ = client.id;
  restartRequestedMs_ = monotonicMs();
  restartError_.clear();
  supervisor.gate().deliver([this, to] {
    m_->supervisor.gate().reply(to, {{"pid", self_}, {"restarting", true}, {"generation", config_.restarts}});
  });
  supervisor.flush();
  m_->server.close(client.id);
  // Exec once the reply has reached the requester (its connection closed),
  // or after half a second at most.
  uv_timer_init(&loop_, restartTimer_.make());
  restartTimer_->data = this;
  uv_timer_start(restartTimer_.get(), [](uv_timer_t* h) {
    auto* self = static_cast<Daemon*>(h->data);
    if (self->m_->server.isOpen(self->restartRequester_) && monotonicMs() - self->restartRequestedMs_ < 500) return;
    uv_timer_stop(h);
    // Exec from outside the loop (run()): see execInPlace.
    self->execRequested_ = true;
    uv_stop(h->loop);
  }, 1, 2);
}

void Daemon::execInPlace() {
  // A signal that libuv's handler already caught waits in the loop's signal
  // pipe, which the exec would discard: block new ones, then let the loop
  // dispatch those (this is why we exec from outside uv_run). SIGTERM among
  // them wins over the restart.
  sigset_t previousMask;
  blockHandledSignals(&previousMask);
  uv_run(&loop_, UV_RUN_NOWAIT);
  if (shuttingDown_) {
    restoreSignalMask(previousMask);
    log_.info("in-place restart abandoned: shutting down");
    return;
  }
  m_->supervisor.flush();
  if (m_->supervisor.gate().uncommitted()) log_.error("restarting with uncommitted records; they are recovered from /proc");
  if (m_->notifier.inFlight() > 0)
    log_.warn("re-executing drops " + std::to_string(m_->notifier.inFlight()) + " webhook deliveries in flight");
  syncStore();
  store_.close();
  int listenFd = m_->server.listenFd();
  fcntl(listenFd, F_SETFD, 0);
  pidFile_.keepAcrossExec(true);
  DaemonConfig next = config_;
  next.inheritedListenFd = listenFd;
  next.inheritedPidFileFd = pidFile_.fd();
  next.readyFd = -1;
  next.restarts = config_.restarts + 1;
  next.inheritedDataLockFd = dataLock_.get();
  fcntl(dataLock_.get(), F_SETFD, 0);
  std::string encoded = encodeReexecConfig(next);
  log_.info("re-executing " + config_.selfExe);
  log_.flush();
  setenv(kReexecConfigVariable, encoded.c_str(), 1);
  std::vector<char*> argv = {config_.selfExe.data(), const_cast<char*>(kDaemonReexecVerb), nullptr};
  // Still blocked: the new image unblocks them once its handlers exist (startLoop()).
  execv(config_.selfExe.c_str(), argv.data());
  int execError = errno;
  restoreSignalMask(previousMask);
  unsetenv(kReexecConfigVariable);
  fcntl(dataLock_.get(), F_SETFD, FD_CLOEXEC);
  // Still here: the exec failed. Carry on as we were.
  restartError_ = "cannot execute " + config_.selfExe + ": " + strerror(execError);
  log_.error("in-place restart failed: " + restartError_ + "; the old image carries on");
  fcntl(listenFd, F_SETFD, FD_CLOEXEC);
  pidFile_.keepAcrossExec(false);
  if (auto e = store_.open(config_.paths.dataDir); !e.empty()) {
    log_.error(e);
    beginShutdown("a failed restart");
  }
  restartTimer_.reset();
}

// ---------------------------------------------------------------- shutdown

void Daemon::beginShutdown(const char* why) {
  if (shuttingDown_) return;
  shuttingDown_ = true;
  log_.info(std::string("received ") + why + ", shutting down");
  m_->server.stopListening();
  if (metricsServer_ != nullptr) metricsServer_->close();
  m_->supervisor.shutDown();
  m_->supervisor.flush();
  for (auto* handle : {&sigterm_, &sigint_, &sighup_}) handle->reset();
  // Closing them restored the default actions: a SIGHUP or SIGINT right
  // behind the SIGTERM would kill us mid-stop, leaving the PID file behind.
  ignoreTerminationSignals();
  m_->reaper.stop();
  m_->watcher.stop();
  for (auto* timer : {&safetyNet_, &rotation_, &restartTimer_}) timer->reset();
  turn_.stop();
  m_->flusher.stop();
  m_->server.closeAll();
  m_->notifier.graceThen([this] { uv_stop(&loop_); });
  // Clients that will not take their last bytes do not hold us past a second.
  uv_timer_init(&loop_, shutdownDeadline_.make());
  shutdownDeadline_->data = this;
  uv_timer_start(shutdownDeadline_.get(), [](uv_timer_t* h) {
    // Except the webhooks' 2 s grace, which ends the loop if need be.
    auto* self = static_cast<Daemon*>(h->data);
    uv_walk(h->loop, [](uv_handle_t* handle, void* grace) {
      if (handle != grace && !uv_is_closing(handle)) uv_close(handle, nullptr);
    }, self->m_->notifier.graceHandle());
  }, 800, 0);
  uv_unref(shutdownDeadline_.base());
  log_.flush();  // the loop's flusher is gone
}

}  // namespace

int runDaemon(const DaemonConfig& config) {
  Daemon daemon(config);
  return daemon.run();
}

}  // namespace keelan
