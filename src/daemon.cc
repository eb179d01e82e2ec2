#include "keelan/daemon.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

#include "keelan/chroot_path.h"
#include "keelan/fs_trust.h"
#include "keelan/handled_signals.h"
#include "keelan/hook_output.h"
#include "keelan/http_endpoint.h"
#include "keelan/log_rotation.h"
#include "keelan/logger.h"
#include "keelan/metrics.h"
#include "keelan/pidfd.h"
#include "keelan/pidfile.h"
#include "keelan/proc_info.h"
#include "keelan/protocol.h"
#include "keelan/ship.h"
#include "keelan/ship_exec.h"
#include "keelan/ship_ops.h"
#include "keelan/store.h"
#include "keelan/store_file.h"
#include "keelan/store_outage.h"
#include "keelan/time_util.h"
#include "keelan/version.h"
#include "keelan/webhook.h"

namespace keelan {

using nlohmann::json;

namespace {

constexpr size_t kMaxClients = 256;
constexpr size_t kMaxNamesPerRequest = 1000;
// Unix-socket clients are answered `busy` while fewer fds than this are
// left under RLIMIT_NOFILE: the rest is for ship logs, hooks and the store.
constexpr rlim_t kClientFdReserve = 16;
constexpr const char* kShipPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

template <typename Handle>
void closeAndDelete(Handle* handle) {
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(handle))) return;
  uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) { delete reinterpret_cast<Handle*>(h); });
}

void writeReady(int fd, const std::string& line) {
  if (fd < 0) return;
  ssize_t ignored = write(fd, line.data(), line.size());
  (void)ignored;
}

// systemd's readiness protocol: one datagram to $NOTIFY_SOCKET.
void notifySystemd(const std::string& message) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (path == nullptr || (path[0] != '/' && path[0] != '@')) return;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  size_t length = strlen(path);
  if (length >= sizeof address.sun_path) return;
  memcpy(address.sun_path, path, length);
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&address),
         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length));
  close(fd);
}

// Creates a directory and its parents. A symlink in any part is refused
// before anything is created through it (a planted link must not make root
// create directories where it points); ownership is checkTrustedPath's job.
std::string makeDirectory(const std::string& path, mode_t mode) {
  std::string partial;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    partial = path.substr(0, end);
    start = end + 1;
    if (partial.empty() || partial.back() == '/') continue;
    struct stat info {};
    if (lstat(partial.c_str(), &info) == 0) {
      if (S_ISLNK(info.st_mode)) return "refusing directory " + partial + ": it is a symlink";
      if (!S_ISDIR(info.st_mode)) return "refusing directory " + partial + ": not a directory";
      continue;
    }
    if (mkdir(partial.c_str(), end == path.size() ? mode : 0755) != 0 && errno != EEXIST)
      return "cannot create directory " + partial + ": " + strerror(errno);
  }
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0) return "cannot create directory " + path + ": " + strerror(errno);
  if (S_ISLNK(info.st_mode)) return "refusing directory " + path + ": it is a symlink";
  if (!S_ISDIR(info.st_mode)) return "refusing directory " + path + ": not a directory";
  return "";
}

// Whatever the daemon inherited (from a shell, a test runner, systemd) must
// not leak into every ship it spawns.
void markInheritedFdsCloseOnExec() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  int self = dirfd(dir);
  while (dirent* entry = readdir(dir)) {
    int fd = atoi(entry->d_name);
    if (fd > STDERR_FILENO && fd != self) fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
  }
  closedir(dir);
}

bool isDirectory(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

struct Client {
  uv_pipe_t pipe{};
  uint64_t id = 0;
  std::string input;
  int64_t partialSince = 0;  // when an unfinished line started, 0 if none
  bool subscribed = false;   // events are sent to it
  bool subscribing = false;  // asked for events; counted in subscribers_ from then on
  bool closing = false;
  int64_t closingSince = 0;  // a closing client that will not take its last bytes is dropped
  bool paused = false;  // not read while its replies pile up
  uid_t uid = 0;  // the peer's, from SO_PEERCRED
  gid_t gid = 0;
};

struct PendingReply {
  uint64_t clientId;
  json requestId;
};

struct StopRequest {
  PendingReply reply;
  std::set<std::string> remaining;
  std::vector<std::string> names;
  bool removeAfter = false;
  ShipOp kind = ShipOp::stop;  // what is pending on `remaining` (see ship_ops.h)
  std::function<void()> then;  // runs instead of the reply (deploy --replace)
  uv_timer_t* timer = nullptr;
};

class Daemon;

// One ship we do not parent. The handles' data points here.
struct AdoptedWatch {
  Daemon* daemon = nullptr;
  std::string name;
  int pidfd = -1;
  uv_timer_t* retry = nullptr;
  int retries = 0;
};

class Daemon {
 public:
  explicit Daemon(const DaemonConfig& config) : config_(config) {}
  int run();

 private:
  // start-up
  std::string prepareFiles();
  std::string listen();
  void loadAndRecover();
  void failStart(const std::string& message);
  int abortStart(const std::string& message);
  void closeLoop();
  std::string lockDataDirectory();

  // reaping and store
  void reap();
  // A pidfd for watching a ship, or -1 when there is none or when it would
  // eat into the fds kept for clients and ship logs: a ship without one is
  // still reaped exactly (waitid(P_ALL)) or, adopted, polled.
  int openWatchPidfd(pid_t pid) {
    int fd = openPidfd(pid);
    if (fd >= 0 && static_cast<rlim_t>(fd) >= pidfdCeiling_) {
      close(fd);
      if (!pidfdCeilingLogged_) {
        pidfdCeilingLogged_ = true;
        log_.warn("file descriptor limit near (" + std::to_string(fdLimit()) +
                  "): further ships are watched without pidfds (one commit per exit, adopted ones polled); "
                  "raise the daemon's RLIMIT_NOFILE (e.g. LimitNOFILE= in the unit)");
      }
      return -1;
    }
    return fd;
  }
  // Registers a ship we parent; `pidfd` is one already open on it, or -1.
  void trackChild(pid_t pid, const std::string& name, int pidfd = -1);
  void collectShipExits();
  void shipExited(pid_t pid, const siginfo_t& info);
  void reapCommitted();
  void finishExit(ShipRecord& record, const ExitStatus& exit, const std::string& source,
                  const std::string& reason);
  // Queues the record for the next commit and publishes the event; returns
  // the record's text ("" when the transition was refused).
  std::string apply(ShipRecord& record, const Transition& transition);
  void deliver(std::function<void()> notice);
  void flush();
  void publish(const std::string& event, const std::string& name, const std::string& recordText);
  // `{"id":ID,"ok":true,` : the start of a success reply composed as text.
  static std::string replyHead(const PendingReply& to) {
    return "{\"id\":" + to.requestId.dump(-1, ' ', false, json::error_handler_t::replace) + ",\"ok\":true,";
  }

  // adopted ships
  // `pidfd`: opened on the ship before its identity was checked, or -1.
  void watchAdopted(ShipRecord& record, int pidfd);
  void onAdoptedExit(AdoptedWatch& watch);
  void collectAdoptedExits();
  void unwatch(const std::string& name);
  void healthCheck();

  // clients
  void onConnection(int status);
  void onRead(Client& client, ssize_t nread, const uv_buf_t* buf);
  void startReading(Client& client);
  void processInput(Client& client);
  void onWritten(uint64_t clientId);
  bool peerAllowed(const ucred& peer) const;
  void handleLine(Client& client, const std::string& line);
  void send(uint64_t clientId, const json& message);
  void sendLine(uint64_t clientId, std::string line);
  void reply(const PendingReply& to, json response) {
    response["id"] = to.requestId;
    if (!response.contains("ok")) response["ok"] = true;
    try {
      sendReplyLine(to, encodeLine(response));
    } catch (const std::bad_alloc&) {
      send(to.clientId, errorResponse(to.requestId, {errc::out_of_memory, "out of memory building the reply"}));
    }
  }
  // Sends a reply, or `reply_too_large` instead when it is over the limit.
  void sendReplyLine(const PendingReply& to, std::string line) {
    if (line.size() > config_.maxReplyBytes) return send(to.clientId, tooLarge(to));
    sendLine(to.clientId, std::move(line));
  }
  json tooLarge(const PendingReply& to) const {
    return errorResponse(to.requestId, {errc::reply_too_large, "the reply would exceed " +
                                                                   std::to_string(config_.maxReplyBytes) + " bytes"});
  }
  // Every reply, errors included, waits behind what was decided before it,
  // so replies on one connection keep their order.
  void replyError(const PendingReply& to, const char* code, const std::string& message) {
    deliver([this, to, response = errorResponse(to.requestId, {code, message})] { send(to.clientId, response); });
  }
  void closeClient(Client& client);
  // The peer is gone (a write or read failed) or will not take its last
  // bytes: close at once, whatever is queued, paused or not.
  void dropClient(Client& client);
  void sweepStalledClients();

  // operations
  void opStatus(const PendingReply& to);
  void opDeploy(const PendingReply& to, const json& body);
  void opList(const PendingReply& to, const json& body);
  void opInspect(const PendingReply& to, const json& body);
  void opStop(const PendingReply& to, const json& body);
  void opWait(const PendingReply& to, const json& body);
  void opRemove(const PendingReply& to, const json& body);
  void opEvents(Client& client, const PendingReply& to);
  void opRestart(Client& client, const PendingReply& to, const json& body);
  void opStoreBackup(const Client& client, const PendingReply& to, const json& body);
  void execInPlace();

  void deploy(const PendingReply& to, const ShipSpec& spec);
  std::string spawn(const ShipSpec& spec, pid_t& pid);
  void stopShips(StopRequest request, int signal, int64_t timeoutMs);
  // Replies `conflict` and returns true when an operation pending on `name`
  // forbids `incoming` now.
  bool refuseConflicting(const PendingReply& to, const std::string& name, ShipOp incoming);
  void onStopped(const std::string& name);
  bool applyRestartPolicy(ShipRecord& record, int64_t runMs);
  void scheduleBackoff(const ShipRecord& record);
  void cancelBackoff(ShipRecord& record);
  void armBackoffTimer();
  void runExitHook(const ShipRecord& record);
  std::string renderMetrics() const;
  std::string listenMetrics();
  void killOverdueHooks();
  void rotateShipLogs();
  void notifyFailure(const ShipRecord& record);
  void restartDue();
  void escalate(StopRequest* request);
  bool signalShip(const ShipRecord& record, int signal);
  ShipRecord* find(const std::string& name);
  json countsByStatus() const;

  void beginShutdown(const char* why);
  void dropPendingWebhooks();

  DaemonConfig config_;
  Logger log_;
  PidFile pidFile_;
  Store store_;
  std::string bootId_;
  int64_t startedMs_ = 0;
  gid_t socketGid_ = static_cast<gid_t>(-1);
  int dataLockFd_ = -1;
  pid_t self_ = 0;
  int devNull_ = -1;
  std::string shipExec_;  // the static chroot helper; empty: `keelan __ship-exec`

  uv_loop_t loop_{};
  uv_pipe_t* server_ = nullptr;
  PathIdentity socketIdentity_;  // what we bound: the only socket we unlink
  uv_signal_t* sigchld_ = nullptr;
  uv_signal_t* sigterm_ = nullptr;
  uv_signal_t* sigint_ = nullptr;
  uv_signal_t* sighup_ = nullptr;
  uv_timer_t* safetyNet_ = nullptr;
  uv_timer_t* childScan_ = nullptr;
  uv_timer_t* health_ = nullptr;
  uv_check_t* flusher_ = nullptr;
  uv_timer_t* shutdownDeadline_ = nullptr;
  uv_timer_t* restartTimer_ = nullptr;
  // Ships in backoff, by when their restart is due (wall-clock ms); one
  // timer for the earliest, however many ships wait.
  std::multimap<int64_t, std::string> backoffQueue_;
  uv_timer_t* backoffTimer_ = nullptr;
  // Ships being stopped on request: their exit must not trigger a restart.
  std::set<std::string> stopRequested_;
  // Running on-exit hooks: pid -> (ship, deadline in monotonic ms).
  std::unordered_map<pid_t, std::pair<std::string, int64_t>> hooks_;
  std::string hookLogPath() const { return (config_.paths.base == "/" ? "" : config_.paths.base) + "/logs/hooks.log"; }

  struct Counters {
    uint64_t spawns = 0, spawnFailures = 0, restarts = 0;
    uint64_t exitsZero = 0, exitsNonZero = 0, exitsSignal = 0, exitsUnknown = 0;
  } counters_;
  Histogram exitToCommit_, commitDuration_;
  double lastHealthCheckSeconds_ = 0;
  std::unique_ptr<HttpEndpoint> metricsServer_;
  uv_timer_t* rotation_ = nullptr;
  std::set<std::string> rotationErrorsLogged_;
  // Ships with a log size limit of their own: without a daemon-wide limit,
  // only these are checked, so an idle daemon does not walk every ship.
  std::set<std::string> logLimited_;
  uint64_t restartRequester_ = 0;
  int64_t restartRequestedMs_ = 0;
  // Why the last in-place restart of this image failed (exec error); sent
  // in `ping` and `status` so that `keelan daemon restart` can say so.
  std::string restartError_;
  // Ships whose failure webhook is on the thread pool; at stop they get 2 s
  // (webhookGrace_), then are dropped and we exit without joining the pool.
  std::multiset<std::string> webhooksInFlight_;
  uv_timer_t* webhookGrace_ = nullptr;

  std::map<std::string, ShipRecord> ships_;
  std::unordered_map<pid_t, std::string> byPid_;
  // A pidfd per ship we parent, all in one epoll set the loop polls: an
  // exit storm is read in one pass and committed in one transaction.
  int childEpoll_ = -1;
  uv_poll_t* childPoll_ = nullptr;
  std::unordered_map<pid_t, int> childPidfd_;
  std::unordered_map<int, pid_t> childByFd_;
  // Zombies whose exits are in batch_: reaped once it is committed
  // (pid, pidfd or -1).
  std::vector<std::pair<pid_t, int>> awaitingCommit_;
  std::vector<std::chrono::steady_clock::time_point> exitSeen_;
  int safetyNetTicks_ = 0;
  static constexpr rlim_t kFdHeadroom = 256;
  rlim_t pidfdCeiling_ = 1024 - kFdHeadroom;  // set from RLIMIT_NOFILE at start
  // RLIMIT_NOFILE as it is now (prlimit can change it under us).
  static rlim_t fdLimit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return RLIM_INFINITY;
    return limit.rlim_cur;
  }
  // Session id (the ship's first PID) -> ship name, kept after the ship
  // exits so that its orphans, reaped later, are still attributed to it.
  std::unordered_map<pid_t, std::string> sessionOwner_;
  std::unordered_map<uint64_t, std::unique_ptr<Client>> clients_;
  uint64_t nextClientId_ = 1;
  std::multimap<std::string, PendingReply> waiters_;
  std::vector<std::unique_ptr<StopRequest>> stops_;
  std::map<std::string, std::unique_ptr<AdoptedWatch>> adopted_;
  // Adopted ships' pidfds, edge-triggered in one epoll set: an edge at the
  // exit, and another when the real parent reaps it (when PIDFD_GET_INFO
  // has the exact status). pidfd -> ship name.
  int adoptedEpoll_ = -1;
  uv_poll_t* adoptedPoll_ = nullptr;
  std::unordered_map<int, std::string> adoptedByFd_;

  StoreBatch batch_;
  std::vector<std::function<void()>> notices_;
  StoreOutage outage_;
  uint64_t quarantined_ = 0;
  uint64_t strangersReaped_ = 0;
  size_t subscribers_ = 0;
  // Flags, together so that the class is not mostly padding.
  bool hookOutputErrorLogged_ = false;
  bool execRequested_ = false;
  bool webhooksDropped_ = false;
  bool shuttingDown_ = false;
  bool pidfdCeilingLogged_ = false;
  bool fdBusyLogged_ = false;  // once per episode of clients answered busy
  // Set while a read is served during an outage: its reply goes out at
  // once instead of behind the notices waiting for the stuck commit.
  bool replyAtOnce_ = false;
};

// ---------------------------------------------------------------- start-up

std::string Daemon::lockDataDirectory() {
  if (config_.inheritedDataLockFd >= 0) {
    dataLockFd_ = config_.inheritedDataLockFd;
    fcntl(dataLockFd_, F_SETFD, FD_CLOEXEC);
    return "";
  }
  std::string path = config_.paths.dataDir + "/daemon.lock";
  dataLockFd_ = openFileNoFollow(path, O_RDWR | O_CREAT, 0600);
  if (dataLockFd_ < 0) return "cannot open " + path + ": " + openErrorText(dataLockFd_);
  if (flock(dataLockFd_, LOCK_EX | LOCK_NB) != 0)
    return "already running: another daemon uses the database in " + config_.paths.dataDir;
  return "";
}

// Close whatever is left (the unref'd shutdown deadline) so the loop can close.
void Daemon::closeLoop() {
  uv_walk(&loop_, [](uv_handle_t* handle, void*) {
    if (!uv_is_closing(handle)) uv_close(handle, nullptr);
  }, nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
  delete shutdownDeadline_;
  shutdownDeadline_ = nullptr;
}

// A failure once the loop exists: report it, then shut down as on SIGTERM.
int Daemon::abortStart(const std::string& message) {
  failStart(message);
  beginShutdown("start-up failure");
  uv_run(&loop_, UV_RUN_DEFAULT);
  closeLoop();
  return 1;
}

void Daemon::failStart(const std::string& message) {
  log_.error(message);
  writeReady(config_.readyFd, "error " + message + "\n");
}

std::string Daemon::prepareFiles() {
  const Paths& p = config_.paths;
  // StrictModes: a directory someone else can write, anywhere up to "/",
  // could swap our files for theirs. Existing ones are checked, never trusted.
  const uid_t self = geteuid();
  if (auto e = makeDirectory(parentDirectory(p.logFile), 0755); !e.empty()) return e;
  if (auto e = checkTrustedPath(parentDirectory(p.logFile), self); !e.empty()) return e;
  if (auto e = log_.open(p.logFile, config_.foreground); !e.empty()) return e;
  if (!config_.socketGroup.empty()) {
    group* entry = getgrnam(config_.socketGroup.c_str());
    if (entry == nullptr) return "no such group '" + config_.socketGroup + "' (--socket-group)";
    socketGid_ = entry->gr_gid;
  }
  // The socket's directory is the first gate: 0700, or 0750 for a group.
  // Only our own run/ directory is tightened; a directory the user named
  // for --socket is theirs to set.
  std::string socketDir = parentDirectory(p.socket);
  mode_t socketDirMode = config_.socketGroup.empty() ? 0700 : 0750;
  if (auto e = makeDirectory(socketDir, socketDirMode); !e.empty()) return e;
  // Checked before it is tightened: what others could write, they could have planted in.
  if (auto e = checkTrustedPath(socketDir, self); !e.empty()) return e;
  if (socketDir == p.base + "/run" || (p.base == "/" && socketDir == "/run")) {
    if (socketGid_ != static_cast<gid_t>(-1) && chown(socketDir.c_str(), static_cast<uid_t>(-1), socketGid_) != 0)
      return "cannot give " + socketDir + " to group " + config_.socketGroup + ": " + strerror(errno);
    if (chmod(socketDir.c_str(), socketDirMode) != 0) return "cannot set the mode of " + socketDir + ": " + strerror(errno);
  }
  if (auto e = makeDirectory(parentDirectory(p.pidFile), 0755); !e.empty()) return e;
  if (auto e = makeDirectory(p.dataDir, 0700); !e.empty()) return e;
  if (auto e = makeDirectory(p.shipLogDir, 0750); !e.empty()) return e;
  std::vector<std::string> used = {p.base, parentDirectory(p.pidFile), p.dataDir, p.shipLogDir};
  if (isDirectory(p.shipsDir)) used.push_back(p.shipsDir);
  for (const auto& dir : used)
    if (auto e = checkTrustedPath(dir, self); !e.empty()) return e;
  return "";
}

std::string Daemon::listen() {
  const std::string& path = config_.paths.socket;
  server_ = new uv_pipe_t;
  uv_pipe_init(&loop_, server_, 0);
  server_->data = this;
  if (config_.inheritedListenFd >= 0) {
    if (int rc = uv_pipe_open(server_, config_.inheritedListenFd); rc != 0)
      return std::string("cannot reuse the inherited socket: ") + uv_strerror(rc);
  } else {
    if (path.size() >= sizeof(sockaddr_un::sun_path))
      return "socket path " + path + " is longer than " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
             " bytes";
    // Our PID file lock says nothing about a --socket another daemon uses.
    if (auto e = clearStaleSocket(path); !e.empty()) return e;
    // The socket is born 0600 (0660 for a group): no window where it is wider.
    mode_t previous = umask(config_.socketGroup.empty() ? 0177 : 0117);
    int rc = uv_pipe_bind(server_, path.c_str());
    umask(previous);
    if (rc != 0) return "cannot bind socket " + path + ": " + uv_strerror(rc);
    if (socketGid_ != static_cast<gid_t>(-1) && lchown(path.c_str(), static_cast<uid_t>(-1), socketGid_) != 0)
      return "cannot give socket " + path + " to group " + config_.socketGroup + ": " + strerror(errno);
  }
  socketIdentity_ = identityOf(path);
  int rc = uv_listen(reinterpret_cast<uv_stream_t*>(server_), 128, [](uv_stream_t* server, int status) {
    static_cast<Daemon*>(server->data)->onConnection(status);
  });
  if (rc != 0) return "cannot listen on " + path + ": " + uv_strerror(rc);
  return "";
}

int Daemon::run() {
  self_ = getpid();
  startedMs_ = monotonicMs();
  signal(SIGPIPE, SIG_IGN);  // libuv writes without MSG_NOSIGNAL; libuv resets it in ships
  markInheritedFdsCloseOnExec();

  if (auto e = prepareFiles(); !e.empty()) {
    failStart(e);
    return 1;
  }
  PidFile::Result lock;
  if (config_.inheritedPidFileFd >= 0) {
    lock.error = pidFile_.adopt(config_.inheritedPidFileFd, config_.paths.pidFile);
    lock.outcome = lock.error.empty() ? PidFile::Outcome::acquired : PidFile::Outcome::failed;
  } else {
    lock = pidFile_.acquire(config_.paths.pidFile, self_);
  }
  if (lock.outcome == PidFile::Outcome::held) {
    std::string message = "already running (pid " + std::to_string(lock.holder) + ")";
    log_.warn("not starting: " + message);
    writeReady(config_.readyFd, "error " + message + "\n");
    return 1;
  }
  if (lock.outcome == PidFile::Outcome::failed) {
    failStart(lock.error);
    return 1;
  }
  if (lock.replacedStale) log_.warn("replaced a stale PID file " + config_.paths.pidFile);
  // One daemon per database, whatever --pid-file says: a lock beside it.
  if (auto e = lockDataDirectory(); !e.empty()) {
    failStart(e);
    return 1;
  }
  if (!config_.noSubreaper && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    failStart(std::string("cannot become a child subreaper: ") + strerror(errno));
    return 1;
  }
  if (!config_.fromBackup.empty()) {
    std::string note;
    if (auto e = restoreFromBackup(config_.fromBackup, config_.paths.dataDir, note); !e.empty()) {
      failStart(e);
      return 1;
    }
    log_.warn("store restored from the backup " + config_.fromBackup + (note.empty() ? "" : "; " + note));
  }
  if (config_.salvage) {
    std::string note;
    if (auto e = salvageStore(config_.paths.dataDir, note); !e.empty()) {
      failStart(e);
      return 1;
    }
    if (!note.empty()) log_.error(note);
  }
  if (auto e = checkStoreBeforeOpen(config_.paths.dataDir, config_.paths.shipLogDir,
                                    config_.newStore || !config_.fromBackup.empty());
      !e.empty()) {
    failStart(e);
    return 1;
  }
  if (auto e = store_.open(config_.paths.dataDir); !e.empty()) {
    failStart(e);
    return 1;
  }
  devNull_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (rlimit limit{}; getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    pidfdCeiling_ = limit.rlim_cur > 2 * kFdHeadroom ? limit.rlim_cur - kFdHeadroom : limit.rlim_cur / 2;
  else
    pidfdCeiling_ = RLIM_INFINITY;
  shipExec_ = findShipExecBinary(config_.selfExe);
  bootId_ = readBootId();
  if (config_.restarts > 0) log_.info("daemon re-executed in place (restart " + std::to_string(config_.restarts) + ")");
  log_.info("daemon starting version=" + std::string(kVersion) + " pid=" + std::to_string(self_) +
            " base=" + config_.paths.base + " socket=" + config_.paths.socket + " pidFile=" +
            config_.paths.pidFile + " data=" + config_.paths.dataDir +
            " interval=" + std::to_string(config_.intervalSeconds) + "s chrootHelper=" +
            (shipExec_.empty() ? config_.selfExe + " " + kShipExecVerb : shipExec_));

  if (!config_.webhookUrl.empty()) initWebhooks();
  uv_loop_init(&loop_);
  loop_.data = this;
  auto makeSignal = [this](int signum, uv_signal_cb cb) {
    auto* handle = new uv_signal_t;
    uv_signal_init(&loop_, handle);
    handle->data = this;
    uv_signal_start(handle, cb, signum);
    return handle;
  };
  // SIGCHLD: ships' exits at once (their pidfds), and the walk over every
  // child for orphans and hooks at most every 20 ms. waitid(P_ALL) costs
  // O(children), 2 ms with 10,000, and an exit storm sends thousands.
  childScan_ = new uv_timer_t;
  uv_timer_init(&loop_, childScan_);
  childScan_->data = this;
  sigchld_ = makeSignal(SIGCHLD, [](uv_signal_t* h, int) {
    auto* self = static_cast<Daemon*>(h->data);
    self->collectShipExits();
    self->flush();
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(self->childScan_)))
      uv_timer_start(self->childScan_, [](uv_timer_t* t) { static_cast<Daemon*>(t->data)->reap(); }, 20, 0);
  });
  sigterm_ = makeSignal(SIGTERM, [](uv_signal_t* h, int) { static_cast<Daemon*>(h->data)->beginShutdown("SIGTERM"); });
  sigint_ = makeSignal(SIGINT, [](uv_signal_t* h, int) { static_cast<Daemon*>(h->data)->beginShutdown("SIGINT"); });
  sighup_ = makeSignal(SIGHUP, [](uv_signal_t* h, int) {
    auto* self = static_cast<Daemon*>(h->data);
    auto error = self->log_.reopen();
    if (!error.empty()) self->log_.error(error);
    else self->log_.info("log file reopened (SIGHUP)");
  });
  // Blocked across an in-place re-exec (execInPlace): now that the handlers
  // exist, what arrived meanwhile is delivered to them.
  unblockHandledSignals();
  flusher_ = new uv_check_t;
  uv_check_init(&loop_, flusher_);
  flusher_->data = this;
  uv_check_start(flusher_, [](uv_check_t* h) { static_cast<Daemon*>(h->data)->flush(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(flusher_));

  backoffTimer_ = new uv_timer_t;
  uv_timer_init(&loop_, backoffTimer_);
  backoffTimer_->data = this;
  childEpoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (childEpoll_ >= 0) {
    childPoll_ = new uv_poll_t;
    uv_poll_init(&loop_, childPoll_, childEpoll_);
    childPoll_->data = this;
    // Ships' exits only: the O(children) walk for orphans is SIGCHLD's, rate-limited.
    uv_poll_start(childPoll_, UV_READABLE, [](uv_poll_t* h, int, int) {
      auto* self = static_cast<Daemon*>(h->data);
      self->collectShipExits();
      self->flush();
    });
  } else {
    log_.warn(std::string("no epoll set for child pidfds (") + strerror(errno) + "); exits are committed one by one");
  }
  adoptedEpoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (adoptedEpoll_ >= 0) {
    adoptedPoll_ = new uv_poll_t;
    uv_poll_init(&loop_, adoptedPoll_, adoptedEpoll_);
    adoptedPoll_->data = this;
    uv_poll_start(adoptedPoll_, UV_READABLE,
                  [](uv_poll_t* h, int, int) { static_cast<Daemon*>(h->data)->collectAdoptedExits(); });
  }
  loadAndRecover();
  flush();
  // Recovery's parsed records and batch copies are gone; give the memory back
  // rather than idle at the start-up peak.
  malloc_trim(0);

  if (auto e = listen(); !e.empty()) return abortStart(e);
  if (!config_.metricsAddress.empty()) {
    if (auto e = listenMetrics(); !e.empty()) return abortStart(e);
  }

  // Drops clients that stalled mid-request and kills overdue hooks. It also
  // drains the reaper every 30 s, belt and braces: libuv's signal pipe
  // coalesces SIGCHLD but does not lose one, and waitid(P_ALL) walks every
  // child (2 ms with 10,000), which once a second was most of our idle CPU.
  safetyNet_ = new uv_timer_t;
  uv_timer_init(&loop_, safetyNet_);
  safetyNet_->data = this;
  uv_timer_start(safetyNet_, [](uv_timer_t* h) {
    auto* self = static_cast<Daemon*>(h->data);
    if (++self->safetyNetTicks_ % 30 == 0) self->reap();
    if (self->outage_.active()) self->flush();  // the retry while nothing else wakes the loop
    self->sweepStalledClients();
    self->killOverdueHooks();
  }, 1000, 1000);
  // Ship logs are checked for size every 5 s, only while some limit is set.
  rotation_ = new uv_timer_t;
  uv_timer_init(&loop_, rotation_);
  rotation_->data = this;
  uv_timer_start(rotation_, [](uv_timer_t* h) { static_cast<Daemon*>(h->data)->rotateShipLogs(); }, 5000, 5000);
  health_ = new uv_timer_t;
  uv_timer_init(&loop_, health_);
  health_->data = this;
  uint64_t intervalMs = static_cast<uint64_t>(config_.intervalSeconds) * 1000;
  uv_timer_start(health_, [](uv_timer_t* h) { static_cast<Daemon*>(h->data)->healthCheck(); }, intervalMs,
                 intervalMs);

  reap();  // children that ended while we were starting (after an in-place restart)
  flush();
  armBackoffTimer();
  log_.info("daemon started pid=" + std::to_string(self_) + " interval=" + std::to_string(config_.intervalSeconds) +
            "s ships=" + std::to_string(ships_.size()) + " adopted=" + std::to_string(adopted_.size()));
  writeReady(config_.readyFd, "ok " + std::to_string(self_) + "\n");
  if (config_.readyFd >= 0) close(config_.readyFd);
  notifySystemd("READY=1\nMAINPID=" + std::to_string(self_) + "\n");

  uv_run(&loop_, UV_RUN_DEFAULT);
  // An in-place restart stops the loop to exec; we are still here if the
  // exec failed or a stop came first.
  while (execRequested_) {
    execRequested_ = false;
    execInPlace();
    uv_run(&loop_, UV_RUN_DEFAULT);
  }

  if (webhooksDropped_) {
    // A pool thread may sit in libcurl for seconds more, and exit() would
    // join it (libuv's thread pool destructor): finish our part, then _exit.
    flush();
    store_.close();
    unlink(config_.paths.socket.c_str());
    pidFile_.release();
    log_.info("daemon stopped");
    _exit(0);
  }
  flush();
  if (!batch_.empty())
    log_.error("stopping with changes the store could not commit; ships still running are adopted at the next start");
  closeLoop();
  store_.close();
  unlinkIfSame(config_.paths.socket, socketIdentity_);
  pidFile_.release();
  log_.info("daemon stopped");
  return 0;
}

void Daemon::loadAndRecover() {
  std::vector<ShipRecord> records;
  std::vector<std::string> quarantined;
  if (auto e = store_.loadShips(records, &quarantined); !e.empty()) log_.error(e);
  for (const auto& line : quarantined) log_.error(line);
  quarantined_ = store_.quarantinedCount();
  std::string now = nowIso();
  for (auto& record : records) {
    const std::string name = record.spec.name;
    auto [it, inserted] = ships_.emplace(name, std::move(record));
    ShipRecord& ship = it->second;
    if (ship.spec.maxLogSize > 0) logLimited_.insert(name);
    if (ship.pid > 0) sessionOwner_[ship.pid] = name;
    if (ship.status == ShipStatus::backoff) backoffQueue_.emplace(ship.nextAttemptMs, name);
    if (ship.status != ShipStatus::running) continue;
    if (ship.bootId != bootId_) {
      finishExit(ship, {}, "", "the system rebooted while the daemon was not running");
      continue;
    }
    // The pidfd first, then /proc: the pidfd pins the PID, so a start time
    // read after it proves the pidfd is the ship's. One read per ship.
    int fd = ship.pid > 0 ? openWatchPidfd(ship.pid) : -1;
    auto stat = readProcStat(ship.pid);
    if (stat && stat->startTime == ship.startTime && stat->ppid == self_) {
      // Still our child, alive or a zombie (we were re-executed in place):
      // waitpid collects its exact status.
      trackChild(ship.pid, name, fd);
      continue;
    }
    switch (ship.pid > 0 ? livenessOf(stat, ship.startTime) : Liveness::gone) {
      case Liveness::alive: {
        apply(ship, onAdopted(ship, now));
        log_.info("adopted ship " + name + " pid=" + std::to_string(ship.pid));
        watchAdopted(ship, fd);
        break;
      }
      case Liveness::gone:
        if (stat && stat->startTime == ship.startTime && stat->state == 'Z') {
          // Exited, but its new parent has not reaped it yet: a pidfd still
          // reaches it, and on Linux 6.15+ gives the exact status once reaped.
          apply(ship, onAdopted(ship, now));
          watchAdopted(ship, fd);
          break;
        }
        if (fd >= 0) close(fd);
        finishExit(ship, {}, "", "exited while the daemon was not running");
        break;
      case Liveness::reused:
        if (fd >= 0) close(fd);
        finishExit(ship, {}, "", "pid reused");
        break;
    }
  }
}

// ---------------------------------------------------------------- reaping

ExitStatus exitFromSiginfo(const siginfo_t& info) {
  switch (info.si_code) {
    case CLD_EXITED: return ExitStatus::exited(info.si_status);
    case CLD_KILLED: return ExitStatus::signaled(info.si_status, false);
    case CLD_DUMPED: return ExitStatus::signaled(info.si_status, true);
    default: return {};
  }
}

void Daemon::trackChild(pid_t pid, const std::string& name, int pidfd) {
  byPid_[pid] = name;
  if (childEpoll_ < 0) {
    if (pidfd >= 0) close(pidfd);
    return;
  }
  // Race-free: an unreaped child's PID cannot be reused. Without a pidfd
  // (fd limit reached) the ship is still reaped, through waitid(P_ALL).
  if (childPidfd_.count(pid) != 0) {  // tracked already (a duplicate record)
    if (pidfd >= 0) close(pidfd);
    return;
  }
  int fd = pidfd >= 0 ? pidfd : openWatchPidfd(pid);
  if (fd < 0) return;
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = fd;
  if (epoll_ctl(childEpoll_, EPOLL_CTL_ADD, fd, &event) != 0) {
    close(fd);
    return;
  }
  childPidfd_[pid] = fd;
  childByFd_[fd] = pid;
}

// Every ship whose pidfd is readable: peek its status (WNOWAIT keeps the
// zombie), record it. The caller commits the lot once, then reaps.
void Daemon::collectShipExits() {
  if (childEpoll_ < 0) return;
  epoll_event events[256];
  for (;;) {
    int n = epoll_wait(childEpoll_, events, 256, 0);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      auto tracked = childByFd_.find(fd);
      siginfo_t info{};
      if (tracked == childByFd_.end() ||
          waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
          info.si_pid == 0) {
        // Unknown, or readable but not waitable (a kernel without
        // P_PIDFD): leave it to the P_ALL walk rather than spin on a
        // level-triggered fd.
        epoll_ctl(childEpoll_, EPOLL_CTL_DEL, fd, nullptr);
        continue;
      }
      shipExited(tracked->second, info);
    }
    if (n < 256) break;
  }
}

// A ship we parent has exited and is still a zombie: record the exit and
// queue the zombie to be reaped once the record is committed (also when the
// PID no longer names a running ship).
void Daemon::shipExited(pid_t pid, const siginfo_t& info) {
  int fd = -1;
  if (auto tracked = childPidfd_.find(pid); tracked != childPidfd_.end()) {
    fd = tracked->second;
    epoll_ctl(childEpoll_, EPOLL_CTL_DEL, fd, nullptr);
    childPidfd_.erase(tracked);
    childByFd_.erase(fd);
  }
  awaitingCommit_.emplace_back(pid, fd);
  auto known = byPid_.find(pid);
  if (known == byPid_.end()) return;
  std::string name = known->second;
  byPid_.erase(known);
  ShipRecord* record = find(name);
  if (record == nullptr || record->pid != pid || record->status != ShipStatus::running) return;
  auto seen = std::chrono::steady_clock::now();
  finishExit(*record, exitFromSiginfo(info), "waitpid", "");
  exitSeen_.push_back(seen);
}

// Durable before the zombie goes: a crash before this leaves the zombies,
// whose statuses the next daemon reads through pidfds, so no exact status
// is ever lost between reaping and committing.
void Daemon::reapCommitted() {
  auto now = std::chrono::steady_clock::now();
  for (auto seen : exitSeen_) exitToCommit_.observe(std::chrono::duration<double>(now - seen).count());
  exitSeen_.clear();
  for (auto [pid, fd] : awaitingCommit_) {
    siginfo_t info{};
    int rc = -1;
    if (fd >= 0) {
      while ((rc = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &info, WEXITED | WNOHANG)) != 0 &&
             errno == EINTR) {
      }
      close(fd);
    }
    if (fd < 0 || (rc != 0 && errno == EINVAL)) {  // no pidfd, or a kernel without P_PIDFD (before 5.4)
      while (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) != 0 && errno == EINTR) {
      }
    }
  }
  awaitingCommit_.clear();
}

void Daemon::reap() {
  collectShipExits();
  flush();
  for (;;) {
    siginfo_t info{};
    // Peek without reaping: a ship's zombie keeps its status until we commit it.
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) break;
    pid_t pid = info.si_pid;
    if (!awaitingCommit_.empty()) break;  // the commit failed: keep the zombies, retry on the next tick
    if (byPid_.count(pid) != 0) {
      // A ship that exited after the pidfd pass, or has no pidfd.
      shipExited(pid, info);
      collectShipExits();
      flush();
      continue;
    }
    if (auto hook = hooks_.find(pid); hook != hooks_.end()) {
      ExitStatus exit = exitFromSiginfo(info);
      std::string text = "on-exit hook for ship " + hook->second.first + " " + exit.describe();
      if (exit.success()) log_.info(text);
      else log_.warn(text);
      hooks_.erase(hook);
    } else {
      std::string from;
      if (auto stat = readProcStat(pid)) {
        auto owner = sessionOwner_.find(stat->session);
        if (owner != sessionOwner_.end()) from = owner->second;
      }
      ++strangersReaped_;
      log_.info("reaped orphan pid=" + std::to_string(pid) + (from.empty() ? "" : " of ship " + from) + ": " +
                exitFromSiginfo(info).describe());
    }
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) < 0 && errno == EINTR) {
    }
  }
}

void Daemon::finishExit(ShipRecord& record, const ExitStatus& exit, const std::string& source,
                        const std::string& reason) {
  Transition t = onExited(record, exit, source,
                          reason.empty() && stopRequested_.count(record.spec.name) ? "stopped by request" : reason,
                          nowIso());
  apply(record, t);
  if (!t.accepted) return;
  switch (exit.kind) {
    case ExitStatus::Kind::exited: ++(exit.code == 0 ? counters_.exitsZero : counters_.exitsNonZero); break;
    case ExitStatus::Kind::signaled: ++counters_.exitsSignal; break;
    case ExitStatus::Kind::unknown: ++counters_.exitsUnknown; break;
  }
  log_.info("ship " + record.spec.name + " pid=" + std::to_string(record.pid) + " stopped: " + exit.describe() +
            (reason.empty() ? "" : " (" + reason + ")"));
  unwatch(record.spec.name);
  if (!record.spec.onExit.empty() || !config_.defaultOnExit.empty())
    deliver([this, snapshot = record] { runExitHook(snapshot); });
  int64_t started = parseIsoTime(record.startedAt);
  int64_t runMs = started < 0 ? 0 : wallClockMs() - started;
  if (applyRestartPolicy(record, runMs)) return;
  onStopped(record.spec.name);
}

// After an exit (or a failed spawn) that nobody asked for: back off and
// restart, as the ship's policy says. Returns whether a restart is pending.
bool Daemon::applyRestartPolicy(ShipRecord& record, int64_t runMs) {
  const std::string& name = record.spec.name;
  if (stopRequested_.erase(name) > 0) return false;
  if (record.spec.restart.mode == RestartPolicy::Mode::no) return false;
  RestartDecision decision = decideRestart(record.spec.restart, record.exit, record.restartStreak, runMs,
                                           config_.backoffFirstMs);
  if (!decision.restart) {
    if (record.restartStreak > 0)
      log_.warn("ship " + name + " gave up after " + std::to_string(record.restartStreak) + " restarts in a row");
    return false;
  }
  apply(record, onBackoff(record, wallClockMs() + decision.delayMs, decision.streak));
  log_.info("ship " + name + " restarts in " + std::to_string(decision.delayMs) + " ms (attempt " +
            std::to_string(decision.streak) + ")");
  scheduleBackoff(record);
  return true;
}

constexpr int64_t kHookTimeoutMs = 30000;

// The hook runs once the exit is committed, detached, with the exit in its
// environment. It never blocks the loop: the reaper collects it, and a hook
// still running after 30 s is killed with its process group.
void Daemon::runExitHook(const ShipRecord& record) {
  const std::string& command = record.spec.onExit.empty() ? config_.defaultOnExit : record.spec.onExit;
  const ExitStatus& exit = record.exit;
  std::vector<std::string> envStrings = {
      std::string("PATH=") + kShipPath,
      "KEELAN_SHIP=" + record.spec.name,
      "KEELAN_PID=" + std::to_string(record.pid),
      "KEELAN_EXIT_CODE=" + (exit.kind == ExitStatus::Kind::exited ? std::to_string(exit.code) : std::string()),
      "KEELAN_SIGNAL=" + (exit.kind == ExitStatus::Kind::signaled ? signalName(exit.signal) : std::string()),
      "KEELAN_STATUS=" + std::string(statusName(record.status)),
      "KEELAN_BASE_DIRECTORY=" + config_.paths.base};
  std::vector<char*> envp;
  for (auto& entry : envStrings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::string shell = "/bin/sh", flag = "-c", body = command;
  char* argv[] = {shell.data(), flag.data(), body.data(), nullptr};
  // stdout and stderr append to logs/hooks.log, so that a hook that prints
  // does not fail; /dev/null if that file cannot be opened.
  std::string outputError;
  int output = openHookOutput(hookLogPath(), outputError);
  if (output < 0) {
    if (!hookOutputErrorLogged_) log_.error("on-exit hooks write to /dev/null: " + outputError);
    hookOutputErrorLogged_ = true;
    output = open("/dev/null", O_WRONLY | O_CLOEXEC);
  } else {
    hookOutputErrorLogged_ = false;
  }
  uv_stdio_container_t stdio[3];
  for (auto& slot : stdio) slot.flags = UV_INHERIT_FD;
  stdio[0].data.fd = devNull_;
  stdio[1].data.fd = output;
  stdio[2].data.fd = output;
  uv_process_options_t options{};
  options.file = argv[0];
  options.args = argv;
  options.env = envp.data();
  options.cwd = config_.paths.base.c_str();
  options.flags = UV_PROCESS_DETACHED;
  options.stdio_count = 3;
  options.stdio = stdio;
  auto* process = new uv_process_t;
  int rc = uv_spawn(&loop_, process, &options);
  if (output >= 0) close(output);
  if (rc != 0) {
    log_.error("on-exit hook for ship " + record.spec.name + " cannot start: " + uv_strerror(rc));
  } else {
    hooks_[process->pid] = {record.spec.name, monotonicMs() + kHookTimeoutMs};
  }
  closeAndDelete(process);  // our reaper, not libuv, collects it
}

void Daemon::notifyFailure(const ShipRecord& record) {
  std::string name = record.spec.name;
  json body = shipRecordToJson(record);
  // Ship environments often hold secrets: the receiver gets the keys only.
  if (!config_.webhookIncludeEnv && body.contains("env") && body["env"].is_object())
    for (auto& value : body["env"]) value = nullptr;
  webhooksInFlight_.insert(name);
  // The pool's threads are created by the first uv_queue_work and inherit
  // this mask: signals then always go to the loop's thread, never to a
  // thread that an in-place re-exec would take away with them.
  sigset_t previousMask;
  blockHandledSignals(&previousMask);
  postWebhook(&loop_, config_.webhookUrl, body.dump(-1, ' ', false, json::error_handler_t::replace),
              [this, name](const WebhookResult& result) {
                if (auto it = webhooksInFlight_.find(name); it != webhooksInFlight_.end()) webhooksInFlight_.erase(it);
                if (webhooksInFlight_.empty() && webhookGrace_ != nullptr) {
                  closeAndDelete(webhookGrace_);
                  webhookGrace_ = nullptr;
                }
                if (result.delivered) {
                  log_.info("webhook for ship " + name + " delivered (attempts " + std::to_string(result.attempts) + ")");
                } else {
                  log_.warn("webhook for ship " + name + " failed after " + std::to_string(result.attempts) +
                            " attempts: " +
                            (result.lastError.empty() ? "HTTP " + std::to_string(result.lastStatus) : result.lastError));
                }
              });
  restoreSignalMask(previousMask);
}

void Daemon::rotateShipLogs() {
  auto check = [this](const ShipRecord& record) {
    const std::string& name = record.spec.name;
    uint64_t maxSize = record.spec.maxLogSize > 0 ? record.spec.maxLogSize : config_.maxLogSize;
    if (maxSize == 0) return;
    int maxFiles = record.spec.maxLogFiles > 0 ? record.spec.maxLogFiles : config_.maxLogFiles;
    for (const std::string& path : {config_.paths.shipOutLog(name), config_.paths.shipErrLog(name)}) {
      RotationResult result = rotateLogIfLarger(path, maxSize, maxFiles);
      if (result.rotated) log_.info("rotated " + path);
      if (!result.error.empty() && rotationErrorsLogged_.insert(path).second) log_.error(result.error);
    }
  };
  if (config_.maxLogSize > 0) {
    for (const auto& [name, record] : ships_) check(record);
    return;
  }
  for (const auto& name : logLimited_)
    if (const ShipRecord* record = find(name)) check(*record);
}

void Daemon::killOverdueHooks() {
  int64_t now = monotonicMs();
  for (auto& [pid, hook] : hooks_)
    if (hook.second != 0 && now > hook.second) {
      log_.warn("on-exit hook for ship " + hook.first + " ran over 30 s; killing it");
      kill(-pid, SIGKILL);
      hook.second = 0;
    }
}

void Daemon::scheduleBackoff(const ShipRecord& record) {
  backoffQueue_.emplace(record.nextAttemptMs, record.spec.name);
  armBackoffTimer();
}

void Daemon::cancelBackoff(ShipRecord& record) {
  for (auto it = backoffQueue_.begin(); it != backoffQueue_.end(); ++it)
    if (it->second == record.spec.name) {
      backoffQueue_.erase(it);
      break;
    }
}

void Daemon::armBackoffTimer() {
  if (backoffTimer_ == nullptr || shuttingDown_) return;
  if (backoffQueue_.empty()) {
    uv_timer_stop(backoffTimer_);
    return;
  }
  int64_t wait = std::max<int64_t>(0, backoffQueue_.begin()->first - wallClockMs());
  uv_timer_start(backoffTimer_, [](uv_timer_t* h) { static_cast<Daemon*>(h->data)->restartDue(); },
                 static_cast<uint64_t>(wait), 0);
}

void Daemon::restartDue() {
  if (outage_.active()) {  // nothing is spawned that could not be recorded
    uv_timer_start(backoffTimer_, [](uv_timer_t* h) { static_cast<Daemon*>(h->data)->restartDue(); },
                   StoreOutage::kRetryMs, 0);
    return;
  }
  int64_t now = wallClockMs();
  while (!backoffQueue_.empty() && backoffQueue_.begin()->first <= now) {
    std::string name = backoffQueue_.begin()->second;
    backoffQueue_.erase(backoffQueue_.begin());
    ShipRecord* record = find(name);
    if (record == nullptr || record->status != ShipStatus::backoff) continue;
    record->restarts += 1;
    ++counters_.restarts;
    log_.info("restarting ship " + name + " (restart " + std::to_string(record->restarts) + ")");
    deploy(PendingReply{0, nullptr}, record->spec);
  }
  armBackoffTimer();
}

std::string Daemon::apply(ShipRecord& record, const Transition& transition) {
  if (!transition.accepted) {
    log_.warn(transition.reason);
    return "";
  }
  std::string text = batch_.put(record);
  if (transition.finishedRun) batch_.runs.emplace_back(record.spec.name, *transition.finishedRun);
  publish(transition.event, record.spec.name, text);
  bool failure = transition.event == "failed" ||
                 (transition.event == "stopped" && record.exit.known() && !record.exit.success());
  if (failure && !config_.webhookUrl.empty()) deliver([this, snapshot = record] { notifyFailure(snapshot); });
  return text;
}

// Everything a client may learn waits until the batch it depends on is
// committed; with nothing pending it goes out at once.
void Daemon::deliver(std::function<void()> notice) {
  if ((batch_.empty() && notices_.empty()) || replyAtOnce_) {
    notice();
    return;
  }
  notices_.push_back(std::move(notice));
}

void Daemon::flush() {
  if (!batch_.empty()) {
    if (!outage_.retryDue(monotonicMs())) return;
    auto started = std::chrono::steady_clock::now();
    std::string error = store_.commit(batch_);
    commitDuration_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (!error.empty()) {
      // Keep the batch and its notices; retried about once a second.
      if (auto line = outage_.failed(error, monotonicMs(), nowIso()); !line.empty()) log_.error(line);
      return;
    }
    if (auto line = outage_.recovered(monotonicMs()); !line.empty()) log_.info(line);
    batch_.clear();
  }
  if (!awaitingCommit_.empty()) reapCommitted();
  auto notices = std::move(notices_);
  notices_.clear();
  for (auto& notice : notices) notice();
}

void Daemon::publish(const std::string& event, const std::string& name, const std::string& recordText) {
  if (subscribers_ == 0) return;  // nobody to tell: build nothing
  // Keys in the order a json object would dump them.
  std::string line = "{\"at\":" + json(nowIso()).dump() + ",\"event\":" + json(event).dump() +
                     ",\"record\":" + recordText + ",\"ship\":" +
                     json(name).dump(-1, ' ', false, json::error_handler_t::replace) + "}\n";
  deliver([this, line = std::move(line)] {
    std::vector<uint64_t> subscribers;
    for (auto& [id, client] : clients_)
      if (client->subscribed && !client->closing) subscribers.push_back(id);
    for (uint64_t id : subscribers) sendLine(id, line);
  });
}

// ---------------------------------------------------------------- adopted ships

void Daemon::watchAdopted(ShipRecord& record, int fd) {
  auto watch = std::make_unique<AdoptedWatch>();
  watch->daemon = this;
  watch->name = record.spec.name;
  // --x-no-pidfd forces the polling fallback (kernels without pidfd_open).
  if (fd >= 0 && config_.noPidfd) {
    close(fd);
    fd = -1;
  }
  if (fd >= 0) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLET;
    event.data.fd = fd;
    if (adoptedEpoll_ < 0 || epoll_ctl(adoptedEpoll_, EPOLL_CTL_ADD, fd, &event) != 0) {
      close(fd);  // watched by polling, like a kernel without pidfds
    } else {
      watch->pidfd = fd;
      adoptedByFd_[fd] = record.spec.name;
    }
  }
  adopted_[record.spec.name] = std::move(watch);
}

void Daemon::collectAdoptedExits() {
  epoll_event events[256];
  for (;;) {
    int n = epoll_wait(adoptedEpoll_, events, 256, 0);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      auto name = adoptedByFd_.find(events[i].data.fd);
      if (name == adoptedByFd_.end()) continue;
      auto watch = adopted_.find(name->second);
      if (watch == adopted_.end()) continue;
      onAdoptedExit(*watch->second);
    }
    if (n < 256) break;
  }
}

void Daemon::onAdoptedExit(AdoptedWatch& watch) {
  ShipRecord* record = find(watch.name);
  if (record == nullptr) return;
  std::optional<ExitStatus> exact;
  if (watch.pidfd >= 0) exact = pidfdExitStatus(watch.pidfd);
  if (!exact && watch.pidfd >= 0 && pidfdExitInfoSupported() && watch.retries < 10) {
    // The kernel knows the status only once the ship's real parent has
    // reaped it. The reap's edge normally comes first; these timers (1 ms
    // doubling to 512 ms, ~1 s in all) are for a parent that is slow to
    // reap, or never does (a non-reaping init).
    if (watch.retry == nullptr) {
      watch.retry = new uv_timer_t;
      uv_timer_init(&loop_, watch.retry);
      watch.retry->data = &watch;
    }
    uint64_t delay = uint64_t{1} << watch.retries;
    ++watch.retries;
    uv_timer_start(watch.retry, [](uv_timer_t* h) {
      auto* w = static_cast<AdoptedWatch*>(h->data);
      w->daemon->onAdoptedExit(*w);
    }, delay, 0);
    return;
  }
  record->lastCheckedAt = nowIso();
  if (exact) finishExit(*record, *exact, "pidfd", "");
  else finishExit(*record, {}, "", "exited while adopted; its exit status is not visible to keelan");
}

void Daemon::unwatch(const std::string& name) {
  auto it = adopted_.find(name);
  if (it == adopted_.end()) return;
  AdoptedWatch& watch = *it->second;
  if (watch.retry != nullptr) closeAndDelete(watch.retry);
  if (watch.pidfd >= 0) {
    epoll_ctl(adoptedEpoll_, EPOLL_CTL_DEL, watch.pidfd, nullptr);
    adoptedByFd_.erase(watch.pidfd);
    close(watch.pidfd);
  }
  adopted_.erase(it);
}

// The fallback for ships without a pidfd: O(adopted ships), writes only on
// a change.
void Daemon::healthCheck() {
  auto started = std::chrono::steady_clock::now();
  struct Timer {
    std::chrono::steady_clock::time_point from;
    double& into;
    ~Timer() { into = std::chrono::duration<double>(std::chrono::steady_clock::now() - from).count(); }
  } timer{started, lastHealthCheckSeconds_};
  std::vector<std::string> names;
  for (auto& [name, watch] : adopted_)
    if (watch->pidfd < 0) names.push_back(name);
  std::string now = nowIso();
  for (const auto& name : names) {
    ShipRecord* record = find(name);
    if (record == nullptr) continue;
    Liveness liveness = checkLiveness(record->pid, record->startTime);
    record->lastCheckedAt = now;
    if (liveness == Liveness::alive) continue;
    finishExit(*record, {}, "",
               liveness == Liveness::reused ? "pid reused" : "exited while adopted; its exit status is not visible to keelan");
  }
}

// ---------------------------------------------------------------- clients

void Daemon::onConnection(int status) {
  if (status != 0 || shuttingDown_) return;
  auto client = std::make_unique<Client>();
  client->id = nextClientId_++;
  uv_pipe_init(&loop_, &client->pipe, 0);
  client->pipe.data = client.get();
  Client* raw = client.get();
  clients_[raw->id] = std::move(client);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(server_), reinterpret_cast<uv_stream_t*>(&raw->pipe)) != 0) {
    raw->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&raw->pipe), [](uv_handle_t* handle) {
      auto* self = static_cast<Daemon*>(handle->loop->data);
      self->clients_.erase(static_cast<Client*>(handle->data)->id);
    });
    return;
  }

  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<uv_handle_t*>(&raw->pipe), &fd);
  ucred peer{};
  socklen_t length = sizeof peer;
  bool allowed = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0 && peerAllowed(peer);
  raw->uid = peer.uid;
  raw->gid = peer.gid;
  if (!allowed) {
    log_.warn("refused connection from uid=" + std::to_string(peer.uid) + " pid=" + std::to_string(peer.pid));
    send(raw->id, errorResponse(nullptr, {errc::permission_denied, "permission denied: uid " +
                                                                         std::to_string(peer.uid) +
                                                                         " may not use this daemon"}));
    closeClient(*raw);
    return;
  }
  if (clients_.size() > kMaxClients) {
    send(raw->id, errorResponse(nullptr, {errc::busy, "too many connections (limit " + std::to_string(kMaxClients) + ")"}));
    closeClient(*raw);
    return;
  }
  // fds are numbered lowest first, so a high one means few are left.
  if (rlim_t limit = fdLimit(); static_cast<rlim_t>(fd) + kClientFdReserve >= limit) {
    if (!fdBusyLogged_)
      log_.warn("file descriptor limit near (" + std::to_string(limit) + ", fd " + std::to_string(fd) +
                " in use): answering new clients busy; raise the daemon's RLIMIT_NOFILE");
    fdBusyLogged_ = true;
    send(raw->id, errorResponse(nullptr, {errc::busy, "the daemon is near its file descriptor limit (" +
                                                          std::to_string(limit) + "); try again later"}));
    closeClient(*raw);
    return;
  }
  fdBusyLogged_ = false;
  startReading(*raw);
}

void Daemon::startReading(Client& client) {
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&client.pipe),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = new char[suggested];
        buf->len = suggested;
      },
      [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
        auto* c = static_cast<Client*>(stream->data);
        auto* self = static_cast<Daemon*>(stream->loop->data);
        self->onRead(*c, nread, buf);
        delete[] buf->base;
      });
}

// Root, our own uid, and with --socket-group the members of that group
// (primary or supplementary, as the user database says).
bool Daemon::peerAllowed(const ucred& peer) const {
  if (peer.uid == 0 || peer.uid == geteuid()) return true;
  if (socketGid_ == static_cast<gid_t>(-1)) return false;
  if (peer.gid == socketGid_) return true;
  passwd* user = getpwuid(peer.uid);
  if (user == nullptr) return false;
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  if (getgrouplist(user->pw_name, user->pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count));
    if (getgrouplist(user->pw_name, user->pw_gid, groups.data(), &count) < 0) return false;
  }
  groups.resize(static_cast<size_t>(count));
  return std::find(groups.begin(), groups.end(), socketGid_) != groups.end();
}

void Daemon::onRead(Client& client, ssize_t nread, const uv_buf_t* buf) {
  if (nread < 0) {
    if (nread == UV_EOF) closeClient(client);
    else dropClient(client);
    return;
  }
  if (client.closing) return;
  client.input.append(buf->base, static_cast<size_t>(nread));
  processInput(client);
}

// Handles the complete lines buffered so far. A client whose replies pile
// up (it does not read them) is paused: neither read nor served until its
// queue drains, so no client makes the daemon buffer without bound.
void Daemon::processInput(Client& client) {
  auto* stream = reinterpret_cast<uv_stream_t*>(&client.pipe);
  size_t start = 0;
  while (!client.closing) {
    if (uv_stream_get_write_queue_size(stream) > config_.writeHighWater) {
      if (!client.paused) uv_read_stop(stream);
      client.paused = true;
      break;
    }
    size_t newline = client.input.find('\n', start);
    if (newline == std::string::npos) break;
    std::string line = client.input.substr(start, newline - start);
    start = newline + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    handleLine(client, line);
  }
  if (client.closing) return;
  client.input.erase(0, start);
  if (client.input.size() > kMaxRequestBytes && client.input.find('\n') == std::string::npos) {
    send(client.id, errorResponse(nullptr, {errc::request_too_large, "request line exceeds 1 MiB"}));
    closeClient(client);
    return;
  }
  client.partialSince = client.input.empty() ? 0 : (client.partialSince ? client.partialSince : monotonicMs());
}

// A paused client resumes once its queue has drained to half the mark.
void Daemon::onWritten(uint64_t clientId) {
  auto it = clients_.find(clientId);
  if (it == clients_.end() || !it->second->paused || it->second->closing) return;
  Client& client = *it->second;
  if (uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&client.pipe)) > config_.writeHighWater / 2) return;
  client.paused = false;
  processInput(client);
  if (!client.paused && !client.closing) startReading(client);
}

void Daemon::sweepStalledClients() {
  int64_t now = monotonicMs();
  std::vector<Client*> stalled;
  for (auto& [id, client] : clients_)
    if (!client->closing && client->partialSince != 0 && now - client->partialSince > config_.stallTimeoutMs)
      stalled.push_back(client.get());
  std::vector<Client*> lingering;
  for (auto& [id, client] : clients_)
    if (client->closing && client->closingSince != 0 && now - client->closingSince > config_.stallTimeoutMs)
      lingering.push_back(client.get());
  for (Client* client : lingering) {
    client->closingSince = 0;
    dropClient(*client);
  }
  for (Client* client : stalled) {
    log_.warn("client " + std::to_string(client->id) + " stalled mid-request; dropping it");
    send(client->id, errorResponse(nullptr, {errc::invalid_request, "request not finished within " +
                                                                       std::to_string(config_.stallTimeoutMs) + " ms"}));
    closeClient(*client);
  }
}

void Daemon::send(uint64_t clientId, const json& message) { sendLine(clientId, encodeLine(message)); }

void Daemon::sendLine(uint64_t clientId, std::string line) {
  auto it = clients_.find(clientId);
  if (it == clients_.end() || it->second->closing) return;
  Client& client = *it->second;
  auto* stream = reinterpret_cast<uv_stream_t*>(&client.pipe);
  if (client.subscribed && uv_stream_get_write_queue_size(stream) > config_.writeHighWater) {
    log_.warn("events subscriber " + std::to_string(clientId) + " is too slow; dropping it");
    closeClient(client);
    return;
  }
  struct WriteRequest {
    uv_write_t request;
    std::string data;
    uint64_t clientId;
  };
  auto* request = new WriteRequest;
  request->data = std::move(line);
  request->clientId = clientId;
  uv_buf_t buf = uv_buf_init(request->data.data(), static_cast<unsigned>(request->data.size()));
  int rc = uv_write(&request->request, stream, &buf, 1, [](uv_write_t* r, int status) {
    auto* written = reinterpret_cast<WriteRequest*>(r);
    uint64_t id = written->clientId;
    auto* self = static_cast<Daemon*>(r->handle->loop->data);
    delete written;
    if (status == 0) return self->onWritten(id);
    if (status == UV_ECANCELED) return;  // the handle is closing already
    if (auto found = self->clients_.find(id); found != self->clients_.end()) self->dropClient(*found->second);
  });
  if (rc != 0) {
    delete request;
    dropClient(client);
  }
}

void Daemon::closeClient(Client& client) {
  if (client.closing) return;
  client.closing = true;
  client.closingSince = monotonicMs();
  if (client.subscribing) --subscribers_;
  uint64_t id = client.id;
  // Let queued replies reach the peer, then close.
  auto* shutdown = new uv_shutdown_t;
  shutdown->data = this;
  int rc = uv_shutdown(shutdown, reinterpret_cast<uv_stream_t*>(&client.pipe), [](uv_shutdown_t* request, int) {
    auto* c = static_cast<Client*>(request->handle->data);
    delete request;
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->pipe))) return;  // dropped meanwhile
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), [](uv_handle_t* handle) {
      auto* self = static_cast<Daemon*>(handle->loop->data);
      self->clients_.erase(static_cast<Client*>(handle->data)->id);
    });
  });
  if (rc != 0) {
    delete shutdown;
    uv_close(reinterpret_cast<uv_handle_t*>(&client.pipe), [](uv_handle_t* handle) {
      auto* self = static_cast<Daemon*>(handle->loop->data);
      self->clients_.erase(static_cast<Client*>(handle->data)->id);
    });
  }
  (void)id;
}

void Daemon::dropClient(Client& client) {
  if (!client.closing) {
    client.closing = true;
    if (client.subscribing) --subscribers_;
  }
  client.input.clear();
  client.input.shrink_to_fit();
  auto* handle = reinterpret_cast<uv_handle_t*>(&client.pipe);
  if (uv_is_closing(handle)) return;
  // Pending writes and the shutdown are cancelled (UV_ECANCELED) before
  // the close callback runs.
  uv_close(handle, [](uv_handle_t* h) {
    auto* self = static_cast<Daemon*>(h->loop->data);
    self->clients_.erase(static_cast<Client*>(h->data)->id);
  });
}

void Daemon::handleLine(Client& client, const std::string& line) {
  ProtocolError error;
  json id;
  auto request = parseRequest(line, error, id);
  if (!request) {
    deliver([this, clientId = client.id, response = errorResponse(id, error)] { send(clientId, response); });
    return;
  }
  PendingReply to{client.id, request->id};
  if (shuttingDown_) {
    replyError(to, errc::shutting_down, "the daemon is shutting down");
    return;
  }
  const std::string& op = request->op;
  const json& body = request->body;
  if (outage_.active()) {
    // Writes are refused at once; reads are answered at once, from memory.
    if (op == "deploy" || op == "stop" || op == "rm" || op == "restart") {
      send(client.id, errorResponse(to.requestId, {errc::store_unavailable, outage_.message()}));
      return;
    }
    replyAtOnce_ = true;
  }
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{replyAtOnce_};
  try {
    if (op == "ping") {
      deliver([this, to] {
        json pong = {{"pid", self_}, {"version", kVersion}, {"generation", config_.restarts}};
        if (!restartError_.empty()) pong["restartError"] = restartError_;
        reply(to, pong);
      });
    }
    else if (op == "status") opStatus(to);
    else if (op == "deploy") opDeploy(to, body);
    else if (op == "list") opList(to, body);
    else if (op == "inspect") opInspect(to, body);
    else if (op == "stop") opStop(to, body);
    else if (op == "wait") opWait(to, body);
    else if (op == "rm") opRemove(to, body);
    else if (op == "events") opEvents(client, to);
    else if (op == "restart") opRestart(client, to, body);
    else if (op == "metrics") deliver([this, to] { reply(to, {{"text", renderMetrics()}}); });
    else if (op == "store-backup") opStoreBackup(client, to, body);
    else if (op == "store-check")
      deliver([this, to, report = storeCheckReport(config_.paths.dataDir)] { reply(to, {{"report", report}}); });
    else replyError(to, errc::unknown_op, "unknown op '" + op + "'");
  } catch (const ProtocolError& e) {
    replyError(to, e.code.c_str(), e.message);
  } catch (const std::invalid_argument& e) {
    replyError(to, errc::invalid_argument, e.what());
  } catch (const json::exception& e) {
    replyError(to, errc::invalid_argument, e.what());
  } catch (const std::bad_alloc&) {
    log_.warn("out of memory handling a " + op + " request");
    replyError(to, errc::out_of_memory, "out of memory handling the request");
  }
}

// ---------------------------------------------------------------- operations

ShipRecord* Daemon::find(const std::string& name) {
  auto it = ships_.find(name);
  return it == ships_.end() ? nullptr : &it->second;
}

json Daemon::countsByStatus() const {
  const ShipStatus all[] = {ShipStatus::running, ShipStatus::stopped, ShipStatus::failed, ShipStatus::lost,
                           ShipStatus::backoff};
  size_t counts[std::size(all)] = {};
  for (const auto& [name, record] : ships_) ++counts[static_cast<size_t>(record.status)];
  json out = json::object();
  for (ShipStatus status : all) out[statusName(status)] = counts[static_cast<size_t>(status)];
  return out;
}

void Daemon::opStatus(const PendingReply& to) {
  json out = {{"running", true},
              {"pid", self_},
              {"version", kVersion},
              {"uptimeSeconds", (monotonicMs() - startedMs_) / 1000},
              {"socket", config_.paths.socket},
              {"intervalSeconds", config_.intervalSeconds},
              {"logFile", config_.paths.logFile},
              {"pidFile", config_.paths.pidFile},
              {"baseDirectory", config_.paths.base},
              {"ships", countsByStatus()},
              {"adopted", adopted_.size()},
              {"orphansReaped", strangersReaped_},
              {"clients", clients_.size()},
              {"generation", config_.restarts},
              {"store", outage_.toJson(monotonicMs())}};
  if (!restartError_.empty()) out["restartError"] = restartError_;
  out["store"]["quarantined"] = quarantined_;
  deliver([this, to, out] { reply(to, out); });
}

void Daemon::opList(const PendingReply& to, const json& body) {
  bool all = optionalBool(body, "all", false);
  // Written as text, a record at a time: with 10,000 ships a DOM of the
  // whole reply would be built, copied and dumped for nothing.
  std::string line = replyHead(to) + "\"ships\":[";
  bool first = true;
  for (const auto& [name, record] : ships_) {
    if (!all && record.status != ShipStatus::running && record.status != ShipStatus::backoff) continue;
    std::string text = shipRecordText(record);
    // One allocation, sized from the first record: growing a multi-MB string
    // by doubling copies it and touches twice the fresh pages.
    if (first) line.reserve(std::min(line.size() + (text.size() + 64) * ships_.size() + 4, config_.maxReplyBytes + 1));
    else line.push_back(',');
    first = false;
    line += text;
    if (line.size() > config_.maxReplyBytes) break;  // refused below: stop building it
  }
  line += "]}\n";
  deliver([this, to, line = std::move(line)]() mutable { sendReplyLine(to, std::move(line)); });
}

void Daemon::opInspect(const PendingReply& to, const json& body) {
  std::string name = requireString(body, "name");
  ShipRecord* record = find(name);
  if (record == nullptr) return replyError(to, errc::not_found, "no ship named '" + name + "'");
  std::vector<RunRecord> runs;
  flush();  // the history read below must include everything decided so far
  if (auto e = store_.loadRuns(name, runs); !e.empty()) return replyError(to, errc::storage_failed, e);
  json history = json::array();
  for (const auto& run : runs) history.push_back(runRecordToJson(run));
  json ship = shipRecordToJson(*record);
  ship["history"] = std::move(history);
  deliver([this, to, ship = std::move(ship)] { reply(to, {{"ship", ship}}); });
}

void Daemon::opDeploy(const PendingReply& to, const json& body) {
  std::string name = requireString(body, "name");
  if (auto e = validateShipName(name); !e.empty()) return replyError(to, errc::invalid_argument, e);
  ShipSpec spec;
  ShipRecord* existing = find(name);
  if (body.contains("ship") && !body["ship"].is_null() && optionalBool(body, "merge", false)) {
    // Flags given without a command override the last definition.
    if (existing == nullptr)
      return replyError(to, errc::not_found, "ship '" + name + "' was never deployed; give a command or a ship file");
    json merged = shipSpecToJson(existing->spec);
    merged.erase("name");
    for (auto& [key, value] : body["ship"].items()) {
      if (key == "env" && value.is_object() && merged["env"].is_object()) merged["env"].update(value);
      else merged[key] = value;
    }
    spec = shipSpecFromJson(merged, name);
    spec.name = name;
  } else if (body.contains("ship") && !body["ship"].is_null()) {
    spec = shipSpecFromJson(body["ship"], name);
    spec.name = name;
  } else if (existing != nullptr) {
    spec = existing->spec;
  } else {
    return replyError(to, errc::not_found, "ship '" + name + "' was never deployed; give a command or a ship file");
  }
  if (auto e = validateShipSpec(spec); !e.empty()) return replyError(to, errc::invalid_argument, e);
  if (!spec.user.empty() && geteuid() != 0)
    return replyError(to, errc::invalid_argument, "user '" + spec.user + "' needs a daemon running as root");
  bool replace = optionalBool(body, "replace", false);
  if (refuseConflicting(to, name, replace ? ShipOp::replace : ShipOp::deploy)) return;
  if (existing != nullptr && existing->status == ShipStatus::running) {
    if (!replace)
      return replyError(to, errc::already_running,
                        "ship '" + name + "' is already running (pid " + std::to_string(existing->pid) +
                            "); use --replace");
    StopRequest request;
    request.reply = to;
    request.names = {name};
    request.remaining = {name};
    request.kind = ShipOp::replace;
    request.then = [this, to, spec] { deploy(to, spec); };
    stopShips(std::move(request), SIGTERM, 10000);
    return;
  }
  deploy(to, spec);
}

void Daemon::deploy(const PendingReply& to, const ShipSpec& spec) {
  if (outage_.active()) {  // e.g. deploy --replace whose stop ended during an outage
    if (to.clientId != 0) send(to.clientId, errorResponse(to.requestId, {errc::store_unavailable, outage_.message()}));
    return;
  }
  auto [it, inserted] = ships_.try_emplace(spec.name);
  ShipRecord& record = it->second;
  if (record.status == ShipStatus::running)
    return replyError(to, errc::already_running, "ship '" + spec.name + "' is already running");
  bool automatic = to.clientId == 0;
  if (record.status == ShipStatus::backoff && !automatic) {
    // A deploy by hand replaces the pending restart and starts a new streak.
    cancelBackoff(record);
    record.restartStreak = 0;
  }
  record.spec = spec;
  if (spec.maxLogSize > 0) logLimited_.insert(spec.name);
  else logLimited_.erase(spec.name);
  stopRequested_.erase(spec.name);
  pid_t pid = 0;
  std::string error = spawn(spec, pid);
  std::string now = nowIso();
  if (!error.empty()) {
    apply(record, onSpawnFailed(record, error, now));
    ++counters_.spawnFailures;
    log_.warn("ship " + spec.name + " failed to spawn: " + error);
    if (automatic) applyRestartPolicy(record, 0);
    deliver([this, to, error] { replyError(to, errc::spawn_failed, error); });
    return;
  }
  uint64_t startTime = 0;
  if (auto stat = readProcStat(pid)) startTime = stat->startTime;
  if (auto owned = sessionOwner_.find(record.pid); owned != sessionOwner_.end() && owned->second == spec.name)
    sessionOwner_.erase(owned);
  std::string text = apply(record, onSpawned(record, pid, startTime, bootId_, now));
  if (text.empty()) text = shipRecordText(record);  // refused transition: still answer with the record
  ++counters_.spawns;
  trackChild(pid, spec.name);
  sessionOwner_[pid] = spec.name;
  log_.info("ship " + spec.name + " deployed pid=" + std::to_string(pid));
  deliver([this, to, line = replyHead(to) + "\"ship\":" + text + "}\n"]() mutable {
    sendLine(to.clientId, std::move(line));
  });
}

std::string Daemon::spawn(const ShipSpec& spec, pid_t& pid) {
  // Check what can be checked, so a typo gives a reason rather than exit 127.
  if (!spec.root.empty() && !isDirectory(spec.root)) return "root " + spec.root + " is not a directory";
  const std::string& program = spec.command[0];
  if (program[0] == '/') {
    if (!isExecutableInRoot(spec.root, program))
      return "command " + program + " is not an executable file" + (spec.root.empty() ? "" : " inside root " + spec.root);
  } else if (program.find('/') == std::string::npos && !spec.root.empty()) {
    auto custom = spec.env.find("PATH");
    std::string path = custom != spec.env.end() ? custom->second : kShipPath;
    bool found = false;
    for (size_t start = 0; start <= path.size() && !found;) {
      size_t end = std::min(path.find(':', start), path.size());
      std::string dir = path.substr(start, end - start);
      if (!dir.empty() && isExecutableInRoot(spec.root, (dir[0] == '/' ? dir : "/" + dir) + "/" + program)) found = true;
      start = end + 1;
    }
    if (!found) return "command " + program + " not found in the PATH inside root " + spec.root;
  }
  std::string cwd = spec.cwd;
  if (!cwd.empty() && !(spec.root.empty() ? isDirectory(cwd) : isDirectoryInRoot(spec.root, cwd)))
    return "cwd " + cwd + " is not a directory" + (spec.root.empty() ? "" : " inside root " + spec.root);
  // The helper gets numeric ids: the root may have no passwd, and the
  // static helper no NSS.
  std::string ids;
  if (!spec.user.empty()) {
    passwd* entry = getpwnam(spec.user.c_str());
    if (entry == nullptr) return "no such user '" + spec.user + "'";
    ids = std::to_string(entry->pw_uid) + ":" + std::to_string(entry->pw_gid);
    std::vector<gid_t> groups(32);
    int count = static_cast<int>(groups.size());
    while (getgrouplist(spec.user.c_str(), entry->pw_gid, groups.data(), &count) < 0) {
      if (static_cast<size_t>(count) <= groups.size()) return "cannot list the groups of user '" + spec.user + "'";
      groups.resize(static_cast<size_t>(count));
    }
    for (int i = 0; i < count; ++i) ids += (i == 0 ? ":" : ",") + std::to_string(groups[static_cast<size_t>(i)]);
  }

  int out = openAppendNoFollow(config_.paths.shipOutLog(spec.name), 0640);
  if (out < 0) return "cannot open " + config_.paths.shipOutLog(spec.name) + ": " + openErrorText(out);
  int err = openAppendNoFollow(config_.paths.shipErrLog(spec.name), 0640);
  if (err < 0) {
    close(out);
    return "cannot open " + config_.paths.shipErrLog(spec.name) + ": " + openErrorText(err);
  }

  std::vector<std::string> args;
  bool helper = !spec.root.empty() || !spec.user.empty();
  // Without a root the ship starts in the base directory, with or without the helper.
  if (helper) {
    if (shipExec_.empty()) args = {config_.selfExe, kShipExecVerb};
    else args = {shipExec_};
    args.insert(args.end(), {spec.root, cwd.empty() && spec.root.empty() ? config_.paths.base : cwd, ids, "--"});
  }
  args.insert(args.end(), spec.command.begin(), spec.command.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  std::vector<std::string> envStrings = {std::string("PATH=") + kShipPath, "KEELAN_SHIP=" + spec.name};
  for (const auto& [key, value] : spec.env) {
    if (key == "PATH" || key == "KEELAN_SHIP") envStrings.erase(envStrings.begin() + (key == "PATH" ? 0 : 1));
    envStrings.push_back(key + "=" + value);
  }
  std::vector<char*> envp;
  for (auto& entry : envStrings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_INHERIT_FD;
  stdio[0].data.fd = devNull_;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = out;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = err;

  std::string workDir = helper ? "/" : (cwd.empty() ? config_.paths.base : cwd);
  uv_process_options_t options{};
  options.file = argv[0];
  options.args = argv.data();
  options.env = envp.data();
  options.cwd = workDir.c_str();
  options.flags = UV_PROCESS_DETACHED;
  options.stdio_count = 3;
  options.stdio = stdio;
  options.exit_cb = nullptr;

  auto* process = new uv_process_t;
  int rc = uv_spawn(&loop_, process, &options);
  close(out);
  close(err);
  if (rc != 0) {
    // A failed uv_spawn still initialised the handle; it must be closed.
    closeAndDelete(process);
    return "cannot execute " + program + ": " + uv_strerror(rc);
  }
  pid = process->pid;
  // libuv would reap this child itself; closing the handle makes it forget
  // the child, so our waitid/wait4 loop is the one and only reaper.
  closeAndDelete(process);
  return "";
}

bool Daemon::signalShip(const ShipRecord& record, int signal) {
  auto watch = adopted_.find(record.spec.name);
  if (watch != adopted_.end() && watch->second->pidfd >= 0) {
    // No PID-reuse race for a process we do not parent.
    return pidfdSendSignal(watch->second->pidfd, signal) == 0;
  }
  if (kill(-record.pid, signal) == 0) return true;
  return kill(record.pid, signal) == 0;
}

void Daemon::opStop(const PendingReply& to, const json& body) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  if (body.contains("names")) {
    if (!body["names"].is_array()) throw ProtocolError{errc::invalid_argument, "field 'names' must be an array of strings"};
    for (const auto& item : body["names"]) {
      if (!item.is_string()) throw ProtocolError{errc::invalid_argument, "field 'names' must be an array of strings"};
      // Each ship once: a name repeated a million times must not cost a
      // million records in the reply.
      std::string name = item.get<std::string>();
      if (!seen.insert(name).second) continue;
      if (names.size() == kMaxNamesPerRequest)
        throw ProtocolError{errc::invalid_argument,
                            "at most " + std::to_string(kMaxNamesPerRequest) + " ships per request"};
      names.push_back(std::move(name));
    }
  } else {
    names.push_back(requireString(body, "name"));
  }
  if (names.empty()) throw ProtocolError{errc::invalid_argument, "no ship named"};
  int signal = SIGTERM;
  if (body.contains("signal")) {
    const json& value = body["signal"];
    signal = value.is_string() ? parseSignal(value.get<std::string>())
             : value.is_number_integer() ? static_cast<int>(optionalInt(body, "signal", 15, 1, 64)) : 0;
    if (signal == 0) throw ProtocolError{errc::invalid_argument, "field 'signal' is not a signal"};
  }
  int64_t timeoutMs = optionalInt(body, "timeoutSeconds", 10, 0, 86400) * 1000;
  for (const auto& name : names)
    if (find(name) == nullptr) return replyError(to, errc::not_found, "no ship named '" + name + "'");
  for (const auto& name : names)
    if (refuseConflicting(to, name, ShipOp::stop)) return;
  StopRequest request;
  request.reply = to;
  request.names = names;
  for (const auto& name : names) {
    ShipRecord* record = find(name);
    if (record->status == ShipStatus::running) request.remaining.insert(name);
    if (record->status == ShipStatus::backoff) {
      cancelBackoff(*record);
      apply(*record, onRestartCancelled(*record, nowIso()));
      log_.info("ship " + name + ": pending restart cancelled");
      onStopped(name);
    }
  }
  request.removeAfter = false;
  stopShips(std::move(request), signal, timeoutMs);
}

void Daemon::stopShips(StopRequest request, int signal, int64_t timeoutMs) {
  auto owned = std::make_unique<StopRequest>(std::move(request));
  StopRequest* stop = owned.get();
  for (const auto& name : stop->remaining) {
    stopRequested_.insert(name);
    ShipRecord* record = find(name);
    log_.info("stopping ship " + name + " pid=" + std::to_string(record->pid) + " with " + signalName(signal));
    if (!signalShip(*record, signal)) log_.warn("cannot signal ship " + name + ": " + strerror(errno));
  }
  stops_.push_back(std::move(owned));
  if (stop->remaining.empty()) {
    onStopped("");
    return;
  }
  stop->timer = new uv_timer_t;
  uv_timer_init(&loop_, stop->timer);
  stop->timer->data = stop;
  uv_timer_start(stop->timer, [](uv_timer_t* h) {
    auto* s = static_cast<StopRequest*>(h->data);
    auto* self = static_cast<Daemon*>(h->loop->data);
    self->escalate(s);
  }, static_cast<uint64_t>(timeoutMs), 0);
}

bool Daemon::refuseConflicting(const PendingReply& to, const std::string& name, ShipOp incoming) {
  for (const auto& stop : stops_) {
    if (stop->remaining.count(name) == 0) continue;
    if (const char* why = shipOpConflict(stop->kind, incoming)) {
      replyError(to, errc::conflict, std::string("cannot ") + shipOpName(incoming) + " ship '" + name + "': " + why +
                                          "; try again when it is done");
      return true;
    }
  }
  return false;
}

void Daemon::escalate(StopRequest* stop) {
  for (const auto& name : stop->remaining) {
    ShipRecord* record = find(name);
    if (record == nullptr || record->status != ShipStatus::running) continue;
    log_.warn("ship " + name + " did not stop in time; sending SIGKILL");
    signalShip(*record, SIGKILL);
  }
}

// Called when a ship has stopped (or with "" to re-check): completes waits
// and stop requests that were waiting for it.
void Daemon::onStopped(const std::string& name) {
  if (!name.empty()) {
    auto range = waiters_.equal_range(name);
    std::vector<PendingReply> done;
    for (auto it = range.first; it != range.second; ++it) done.push_back(it->second);
    waiters_.erase(range.first, range.second);
    if (ShipRecord* record = find(name)) {
      json ship = shipRecordToJson(*record);
      for (const auto& to : done) deliver([this, to, ship] { reply(to, {{"ship", ship}}); });
    }
  }
  for (auto it = stops_.begin(); it != stops_.end();) {
    StopRequest& stop = **it;
    if (!name.empty()) stop.remaining.erase(name);
    if (!stop.remaining.empty()) {
      ++it;
      continue;
    }
    if (stop.timer != nullptr) closeAndDelete(stop.timer);
    std::unique_ptr<StopRequest> finished = std::move(*it);
    it = stops_.erase(it);
    if (finished->then) {
      finished->then();
      continue;
    }
    json ships = json::array();
    for (const auto& n : finished->names) {
      ShipRecord* record = find(n);
      if (record == nullptr) continue;
      ships.push_back(shipRecordToJson(*record));
      if (finished->removeAfter) {
        // Only this ship's entries: its old PID may name another ship by now.
        if (auto owned = byPid_.find(record->pid); owned != byPid_.end() && owned->second == n) byPid_.erase(owned);
        if (auto owned = sessionOwner_.find(record->pid); owned != sessionOwner_.end() && owned->second == n)
          sessionOwner_.erase(owned);
        ships_.erase(n);
        logLimited_.erase(n);
        batch_.remove(n);
        log_.info("ship " + n + " removed");
        json event = {{"event", "removed"}, {"ship", n}, {"at", nowIso()}, {"record", ships.back()}};
        deliver([this, event] {
          for (auto& [id, client] : clients_)
            if (client->subscribed) send(id, event);
        });
      }
    }
    PendingReply to = finished->reply;
    deliver([this, to, ships = std::move(ships)] { reply(to, {{"ships", ships}}); });
  }
}

void Daemon::opWait(const PendingReply& to, const json& body) {
  std::string name = requireString(body, "name");
  ShipRecord* record = find(name);
  if (record == nullptr) return replyError(to, errc::not_found, "no ship named '" + name + "'");
  // A ship in backoff has not stopped for good: wait on.
  if (record->status != ShipStatus::running && record->status != ShipStatus::backoff) {
    json ship = shipRecordToJson(*record);
    deliver([this, to, ship] { reply(to, {{"ship", ship}}); });
    return;
  }
  waiters_.emplace(name, to);
}

void Daemon::opRemove(const PendingReply& to, const json& body) {
  std::string name = requireString(body, "name");
  bool force = optionalBool(body, "force", false);
  ShipRecord* record = find(name);
  if (record == nullptr) return replyError(to, errc::not_found, "no ship named '" + name + "'");
  if (refuseConflicting(to, name, ShipOp::remove)) return;
  if (record->status == ShipStatus::running && !force)
    return replyError(to, errc::already_running, "ship '" + name + "' is running; stop it first or use --force");
  if (record->status == ShipStatus::backoff) {
    cancelBackoff(*record);
    apply(*record, onRestartCancelled(*record, nowIso()));
    onStopped(name);
  }
  StopRequest request;
  request.reply = to;
  request.names = {name};
  if (record->status == ShipStatus::running) request.remaining = {name};
  request.removeAfter = true;
  request.kind = ShipOp::remove;
  stopShips(std::move(request), SIGTERM, optionalInt(body, "timeoutSeconds", 10, 0, 86400) * 1000);
}

// The subscription starts in order with the replies: events decided before
// it are not sent to it.
void Daemon::opEvents(Client& client, const PendingReply& to) {
  // Counted now, so events decided before the reply goes out are built and
  // queued behind it, and the subscriber gets them.
  if (!client.subscribing && !client.closing) {
    client.subscribing = true;
    ++subscribers_;
  }
  deliver([this, to] {
    auto it = clients_.find(to.clientId);
    if (it == clients_.end()) return;
    it->second->subscribed = true;
    reply(to, {{"subscribed", true}});
  });
}

// A compacted copy of the committed store while the daemon runs. Writers
// wait meanwhile (one loop); see docs/protocol.md for how long.
void Daemon::opStoreBackup(const Client& client, const PendingReply& to, const json& body) {
  std::string path = requireString(body, "path");
  std::string error;
  int fd = createBackupFile(path, client.uid, client.gid, error);
  if (fd < 0) return replyError(to, errc::storage_failed, error);
  flush();  // everything decided so far, unless the store cannot commit
  auto started = std::chrono::steady_clock::now();
  error = store_.backupTo(fd);
  struct stat info {};
  fstat(fd, &info);
  close(fd);
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (!error.empty()) {
    removeBackupFile(path);
    log_.error("store backup to " + path + " failed: " + error);
    return replyError(to, errc::storage_failed, error);
  }
  log_.info("store backed up to " + path + " (" + std::to_string(info.st_size) + " bytes, " + std::to_string(ms) + " ms)");
  json out = {{"path", path}, {"bytes", info.st_size}, {"durationMs", ms}, {"uncommitted", !batch_.empty()}};
  deliver([this, to, out] { reply(to, out); });
}

// ---------------------------------------------------------------- metrics

std::string Daemon::renderMetrics() const {
  std::string out;
  std::vector<std::pair<Labels, double>> byStatus;
  json counts = countsByStatus();
  for (auto& [status, count] : counts.items()) byStatus.push_back({{{"status", status}}, count.get<double>()});
  renderFamily(out, "keelan_ships", "gauge", "Ships by status.", byStatus);
  renderValue(out, "keelan_adopted_ships", "gauge", "Running ships the daemon watches but does not parent.",
              static_cast<double>(adopted_.size()));
  renderValue(out, "keelan_spawns_total", "counter", "Ships spawned.", static_cast<double>(counters_.spawns));
  renderValue(out, "keelan_spawn_failures_total", "counter", "Spawns that failed.",
              static_cast<double>(counters_.spawnFailures));
  renderFamily(out, "keelan_exits_total", "counter", "Ship exits by kind.",
               {{{{"kind", "zero"}}, static_cast<double>(counters_.exitsZero)},
                {{{"kind", "nonzero"}}, static_cast<double>(counters_.exitsNonZero)},
                {{{"kind", "signal"}}, static_cast<double>(counters_.exitsSignal)},
                {{{"kind", "unknown"}}, static_cast<double>(counters_.exitsUnknown)}});
  renderValue(out, "keelan_restarts_total", "counter", "Automatic restarts by policy.",
              static_cast<double>(counters_.restarts));
  renderValue(out, "keelan_orphans_reaped_total", "counter", "Orphaned descendants reaped as subreaper.",
              static_cast<double>(strangersReaped_));
  exitToCommit_.render(out, "keelan_exit_to_commit_seconds", "From seeing an exit to its durable record.");
  commitDuration_.render(out, "keelan_lmdb_commit_seconds", "LMDB write transaction commits.");
  renderValue(out, "keelan_health_check_seconds", "gauge", "Duration of the last health-check cycle.",
              lastHealthCheckSeconds_);
  renderValue(out, "keelan_client_connections", "gauge", "Open client connections.",
              static_cast<double>(clients_.size()));
  long pages = 0, resident = 0;
  if (FILE* statm = fopen("/proc/self/statm", "re")) {
    if (fscanf(statm, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(statm);
  }
  renderValue(out, "keelan_resident_memory_bytes", "gauge", "Daemon resident set size.",
              static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)));
  renderValue(out, "keelan_uptime_seconds", "gauge", "Seconds since the daemon (re)started.",
              static_cast<double>(monotonicMs() - startedMs_) / 1000.0);
  return out;
}

std::string Daemon::listenMetrics() {
  HttpEndpointOptions options;
  options.headerTimeoutMs = config_.httpHeaderTimeoutMs;
  metricsServer_ = std::make_unique<HttpEndpoint>(&loop_, log_, [this] { return renderMetrics(); }, options);
  return metricsServer_->listen(config_.metricsAddress);
}

// ---------------------------------------------------------------- in-place restart

// Re-executing keeps our PID, so we stay the parent and subreaper of every
// ship: exits during the exec wait as zombies and are reaped, exactly, by
// the new image. The listening socket stays open, so connections made
// meanwhile queue in its backlog instead of being refused.
void Daemon::opRestart(Client& client, const PendingReply& to, const json& body) {
  if (restartTimer_ != nullptr) return replyError(to, errc::busy, "a restart is already under way");
  config_.intervalSeconds =
      static_cast<int>(optionalInt(body, "intervalSeconds", config_.intervalSeconds, 1, 86400));
  log_.info("in-place restart requested");
  restartRequester_ = client.id;
  restartRequestedMs_ = monotonicMs();
  restartError_.clear();
  deliver([this, to] { reply(to, {{"pid", self_}, {"restarting", true}, {"generation", config_.restarts}}); });
  flush();
  closeClient(client);
  // Exec once the reply has reached the requester (its connection closed),
  // or after half a second at most.
  restartTimer_ = new uv_timer_t;
  uv_timer_init(&loop_, restartTimer_);
  restartTimer_->data = this;
  uv_timer_start(restartTimer_, [](uv_timer_t* h) {
    auto* self = static_cast<Daemon*>(h->data);
    if (self->clients_.count(self->restartRequester_) && monotonicMs() - self->restartRequestedMs_ < 500) return;
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
  flush();
  if (!batch_.empty()) log_.error("restarting with uncommitted records; they are recovered from /proc");
  if (!webhooksInFlight_.empty())
    log_.warn("re-executing drops " + std::to_string(webhooksInFlight_.size()) + " webhook deliveries in flight");
  store_.close();
  int listenFd = -1;
  uv_fileno(reinterpret_cast<uv_handle_t*>(server_), &listenFd);
  fcntl(listenFd, F_SETFD, 0);
  pidFile_.keepAcrossExec(true);
  DaemonConfig next = config_;
  next.inheritedListenFd = listenFd;
  next.inheritedPidFileFd = pidFile_.fd();
  next.readyFd = -1;
  next.restarts = config_.restarts + 1;
  next.inheritedDataLockFd = dataLockFd_;
  fcntl(dataLockFd_, F_SETFD, 0);
  std::string encoded = encodeReexecConfig(next);
  log_.info("re-executing " + config_.selfExe);
  setenv(kReexecConfigVariable, encoded.c_str(), 1);
  std::vector<char*> argv = {config_.selfExe.data(), const_cast<char*>(kDaemonReexecVerb), nullptr};
  // Still blocked: the new image unblocks them once its handlers exist (run()).
  execv(config_.selfExe.c_str(), argv.data());
  int execError = errno;
  restoreSignalMask(previousMask);
  unsetenv(kReexecConfigVariable);
  fcntl(dataLockFd_, F_SETFD, FD_CLOEXEC);
  // Still here: the exec failed. Carry on as we were.
  restartError_ = "cannot execute " + config_.selfExe + ": " + strerror(execError);
  log_.error("in-place restart failed: " + restartError_ + "; the old image carries on");
  fcntl(listenFd, F_SETFD, FD_CLOEXEC);
  pidFile_.keepAcrossExec(false);
  if (auto e = store_.open(config_.paths.dataDir); !e.empty()) {
    log_.error(e);
    beginShutdown("a failed restart");
  }
  closeAndDelete(restartTimer_);
  restartTimer_ = nullptr;
}

// ---------------------------------------------------------------- shutdown

// Deliveries still running 2 s into a stop are given up: they never delay
// the stop by more (a receiver that accepts and never answers would hold
// each attempt for its whole 5 s timeout).
void Daemon::dropPendingWebhooks() {
  if (webhooksInFlight_.empty()) return;
  std::string ships;
  for (const auto& name : webhooksInFlight_) ships += (ships.empty() ? "" : ", ") + name;
  log_.warn("dropped " + std::to_string(webhooksInFlight_.size()) +
            " webhook deliveries still pending 2 s into the stop (ships: " + ships + ")");
  webhooksDropped_ = true;
  uv_stop(&loop_);
}

void Daemon::beginShutdown(const char* why) {
  if (shuttingDown_) return;
  shuttingDown_ = true;
  log_.info(std::string("received ") + why + ", shutting down");
  if (server_ != nullptr) closeAndDelete(server_);
  if (metricsServer_ != nullptr) metricsServer_->close();
  unlinkIfSame(config_.paths.socket, socketIdentity_);
  for (auto& [name, to] : waiters_) replyError(to, errc::shutting_down, "the daemon is shutting down");
  waiters_.clear();
  for (auto& stop : stops_) {
    if (stop->timer != nullptr) closeAndDelete(stop->timer);
    replyError(stop->reply, errc::shutting_down, "the daemon is shutting down");
  }
  stops_.clear();
  flush();
  for (auto* handle : {sigchld_, sigterm_, sigint_, sighup_})
    if (handle != nullptr) closeAndDelete(handle);
  // Closing them restored the default actions: a SIGHUP or SIGINT right
  // behind the SIGTERM would kill us mid-stop, leaving the PID file behind.
  ignoreTerminationSignals();
  if (childPoll_ != nullptr) closeAndDelete(childPoll_);
  if (adoptedPoll_ != nullptr) closeAndDelete(adoptedPoll_);
  for (auto* timer : {safetyNet_, childScan_, health_, restartTimer_, backoffTimer_, rotation_})
    if (timer != nullptr) closeAndDelete(timer);
  if (flusher_ != nullptr) closeAndDelete(flusher_);
  std::vector<std::string> watched;
  for (auto& [name, watch] : adopted_) watched.push_back(name);
  for (const auto& name : watched) unwatch(name);
  std::vector<Client*> open;
  for (auto& [id, client] : clients_) open.push_back(client.get());
  for (Client* client : open) closeClient(*client);
  if (!webhooksInFlight_.empty()) {
    log_.info("waiting up to 2 s for " + std::to_string(webhooksInFlight_.size()) + " pending webhook deliveries");
    webhookGrace_ = new uv_timer_t;
    uv_timer_init(&loop_, webhookGrace_);
    webhookGrace_->data = this;
    uv_timer_start(webhookGrace_, [](uv_timer_t* h) { static_cast<Daemon*>(h->data)->dropPendingWebhooks(); }, 2000, 0);
    // Only the deliveries themselves keep the loop running.
    uv_unref(reinterpret_cast<uv_handle_t*>(webhookGrace_));
  }
  // Clients that will not take their last bytes do not hold us past a second.
  shutdownDeadline_ = new uv_timer_t;
  uv_timer_init(&loop_, shutdownDeadline_);
  uv_timer_start(shutdownDeadline_, [](uv_timer_t* h) {
    // Except the webhooks' 2 s grace, which ends the loop if need be.
    uv_walk(h->loop, [](uv_handle_t* handle, void* grace) {
      if (handle != grace && !uv_is_closing(handle)) uv_close(handle, nullptr);
    }, static_cast<Daemon*>(h->loop->data)->webhookGrace_);
  }, 800, 0);
  uv_unref(reinterpret_cast<uv_handle_t*>(shutdownDeadline_));
}

}  // namespace

int runDaemon(const DaemonConfig& config) {
  Daemon daemon(config);
  return daemon.run();
}

}  // namespace keelan
