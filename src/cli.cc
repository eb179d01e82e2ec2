#include "keelan/cli.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <thread>

#include "keelan/client.h"
#include "keelan/daemon.h"
#include "keelan/daemonize.h"
#include "keelan/exit_status.h"
#include "keelan/fs_trust.h"
#include "keelan/json_text.h"
#include "keelan/log_rotation.h"
#include "keelan/paths.h"
#include "keelan/pidfd.h"
#include "keelan/pidfile.h"
#include "keelan/proc_info.h"
#include "keelan/protocol.h"
#include "keelan/ship.h"
#include "keelan/store.h"
#include "keelan/store_file.h"
#include "keelan/time_util.h"
#include "keelan/version.h"

namespace keelan {

using nlohmann::json;

namespace {

// An error that ends the command with a code; only runCli turns it into one.
struct CliError {
  int code;
  std::string message;
};

[[noreturn]] void fail(int code, const std::string& message) { throw CliError{code, message}; }

// How long each request may wait for its reply (--timeout, KEELAN_TIMEOUT;
// default 30 s). Set once by runCli before any command runs.
int callTimeoutMs = 30000;

std::string secondsText(int ms) {
  char buffer[32];
  snprintf(buffer, sizeof buffer, "%g", ms / 1000.0);
  return buffer;
}

// SO_PEERCRED on our end of the connection names the process that called
// listen(): the daemon, even when it is stopped and answers nothing.
pid_t peerPid(const DaemonClient& client) {
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (client.fd() >= 0 && getsockopt(client.fd(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0)
    return credentials.pid;
  return 0;
}

void onAlarm(int) {}

Paths basePaths();

// The daemon's PID from the PID file, for when the socket names none.
std::string notAcceptedText() {
  PidFileState state = probePidFile(basePaths().pidFile);
  return "the daemon (pid " + (state.pid > 0 ? std::to_string(state.pid) : std::string("?")) +
         ") did not answer within " + secondsText(callTimeoutMs) + " s (it accepts no connection)";
}

// connect() to a Unix socket whose backlog is full blocks until the daemon
// accepts (a wedged one never does): a one-shot SIGALRM, installed without
// SA_RESTART, bounds it to the deadline. EINTR in `err` means it passed.
std::string connectWithin(DaemonClient& client, const std::string& socketPath, int* err = nullptr) {
  struct sigaction action {}, previous {};
  action.sa_handler = onAlarm;
  sigemptyset(&action.sa_mask);
  sigaction(SIGALRM, &action, &previous);
  itimerval timer{};
  timer.it_value.tv_sec = callTimeoutMs / 1000;
  timer.it_value.tv_usec = callTimeoutMs % 1000 * 1000;
  setitimer(ITIMER_REAL, &timer, nullptr);
  int error = 0;
  std::string message = client.connect(socketPath, &error);
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
  sigaction(SIGALRM, &previous, nullptr);
  if (err != nullptr) *err = error;
  return message;
}

std::string noAnswerText(const DaemonClient& client, int timeoutMs) {
  pid_t pid = peerPid(client);
  return "the daemon (pid " + (pid > 0 ? std::to_string(pid) : std::string("?")) + ") did not answer within " +
         secondsText(timeoutMs) + " s";
}

struct DaemonOptions {
  int interval = 30;
  std::string logFile, pidFile, socket;
  bool foreground = false;
  int timeout = 10;
  bool cold = false;
  bool intervalGiven = false;
  std::string socketGroup;
  std::string onExit;
  std::string metricsAddress;
  std::string maxLogSize;
  int maxLogFiles = 5;
  std::string webhook;
  bool webhookIncludeEnv = false;
  bool newStore = false;
  std::string fromBackup;
  bool salvage = false;
  DaemonConfig tuning;  // the hidden --x-… options
};

Paths basePaths() { return defaultPaths(currentBaseDirectory()); }

// Where clients look for the daemon: KEELAN_SOCKET overrides the default.
std::string clientSocket(const Paths& paths) {
  const char* env = getenv("KEELAN_SOCKET");
  return (env != nullptr && *env != '\0') ? absolutePath(env, currentDirectory()) : paths.socket;
}

DaemonConfig daemonConfig(const DaemonOptions& options) {
  Paths paths = basePaths();
  std::string cwd = currentDirectory();
  if (!options.logFile.empty()) paths.logFile = absolutePath(options.logFile, cwd);
  if (!options.pidFile.empty()) paths.pidFile = absolutePath(options.pidFile, cwd);
  if (!options.socket.empty()) paths.socket = absolutePath(options.socket, cwd);
  DaemonConfig config;
  config.paths = paths;
  config.intervalSeconds = options.interval;
  config.socketGroup = options.socketGroup;
  config.defaultOnExit = options.onExit;
  config.metricsAddress = options.metricsAddress;
  if (!options.maxLogSize.empty()) {
    auto size = parseSize(options.maxLogSize);
    if (!size) fail(kExitUsage, "--max-log-size: '" + options.maxLogSize + "' is not a size such as 10M");
    config.maxLogSize = *size;
  }
  config.maxLogFiles = options.maxLogFiles;
  config.webhookUrl = options.webhook;
  config.webhookIncludeEnv = options.webhookIncludeEnv;
  if (!options.webhook.empty() && options.webhook.rfind("http://", 0) != 0 && options.webhook.rfind("https://", 0) != 0)
    fail(kExitUsage, "--webhook: '" + options.webhook + "' is not an http:// or https:// URL");
  config.writeHighWater = options.tuning.writeHighWater;
  config.stallTimeoutMs = options.tuning.stallTimeoutMs;
  config.httpHeaderTimeoutMs = options.tuning.httpHeaderTimeoutMs;
  config.maxReplyBytes = options.tuning.maxReplyBytes;
  config.backoffFirstMs = options.tuning.backoffFirstMs;
  config.noPidfd = options.tuning.noPidfd;
  config.noSubreaper = options.tuning.noSubreaper;
  config.foreground = options.foreground;
  config.newStore = options.newStore;
  config.salvage = options.salvage;
  if (!options.fromBackup.empty()) config.fromBackup = absolutePath(options.fromBackup, cwd);
  config.selfExe = selfExecutable();
  return config;
}

std::string errorText(const json& response) {
  if (response.contains("error") && response["error"].is_object())
    return response["error"].value("message", std::string("unknown error"));
  return "unknown error";
}

std::string errorCode(const json& response) {
  if (response.contains("error") && response["error"].is_object())
    return response["error"].value("code", std::string());
  return "";
}

int codeFor(const json& response) {
  return errorCode(response) == errc::invalid_argument ? kExitUsage : kExitFailed;
}

DaemonClient connectOrFail(const std::string& socketPath) {
  DaemonClient client;
  int err = 0;
  if (auto e = connectWithin(client, socketPath, &err); !e.empty()) {
    if (err == EINTR) fail(kExitFailed, notAcceptedText());
    if (err == ENOENT || err == ECONNREFUSED)
      fail(kExitFailed, "the daemon is not running (no answer on " + socketPath + "); start it with `keelan daemon start`");
    fail(kExitFailed, e);
  }
  return client;
}

constexpr const char* kNoAnswer = "the daemon closed the connection without answering";

json checkResponse(std::optional<json> response) {
  if (!response) fail(kExitFailed, kNoAnswer);
  if (!response->value("ok", false)) fail(codeFor(*response), errorText(*response));
  return std::move(*response);
}

// One request within the deadline, plus `extraMs` for requests that wait on
// a ship by design (stop's own timeout); a daemon that does not answer in
// time ends the command. nullopt: the connection closed without a reply.
std::optional<json> callWithin(DaemonClient& client, const json& request, int extraMs = 0) {
  int timeoutMs = callTimeoutMs + extraMs;
  int64_t started = monotonicMs();
  auto response = client.call(request, timeoutMs);
  if (!response && monotonicMs() - started >= timeoutMs) fail(kExitFailed, noAnswerText(client, timeoutMs));
  return response;
}

json callOrFail(DaemonClient& client, const json& request, int extraMs = 0) {
  return checkResponse(callWithin(client, request, extraMs));
}

std::string humanSize(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char buffer[32];
  snprintf(buffer, sizeof buffer, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return buffer;
}

std::string humanDuration(int64_t seconds) {
  std::string out;
  if (seconds >= 86400) out += std::to_string(seconds / 86400) + "d ";
  if (seconds >= 3600) out += std::to_string(seconds % 86400 / 3600) + "h ";
  if (seconds >= 60) out += std::to_string(seconds % 3600 / 60) + "m ";
  out += std::to_string(seconds % 60) + "s";
  return out;
}

// The last `count` lines of a file. Reads backwards from the end, 4 KiB at a
// time at first (twice as much each step after, up to 256 KiB), until more
// than `count` newlines are in: `daemon status` reads the daemon log's last
// few KiB, whatever its size.
std::vector<std::string> lastLines(const std::string& path, size_t count) {
  std::vector<std::string> lines;
  if (count == 0) return lines;
  int fd = openFileNoFollow(path, O_RDONLY);  // a planted FIFO must not hang us
  if (fd < 0) return lines;
  struct stat info {};
  if (fstat(fd, &info) != 0) {
    close(fd);
    return lines;
  }
  off_t start = info.st_size;
  off_t step = 4096;
  size_t newlines = 0;
  std::vector<std::string> blocks;  // newest first
  size_t total = 0;
  while (start > 0 && newlines <= count) {
    off_t chunk = std::min(start, step);
    start -= chunk;
    std::string block(static_cast<size_t>(chunk), '\0');
    if (pread(fd, block.data(), block.size(), start) != chunk) break;
    newlines += static_cast<size_t>(std::count(block.begin(), block.end(), '\n'));
    total += block.size();
    blocks.push_back(std::move(block));
    step = std::min<off_t>(step * 2, 256 * 1024);
  }
  close(fd);
  std::string tail;
  tail.reserve(total);
  for (auto block = blocks.rbegin(); block != blocks.rend(); ++block) tail += *block;
  // Split as std::getline does: a last line without '\n' counts, the empty
  // "line" after a final '\n' does not.
  size_t from = 0;
  while (from < tail.size()) {
    size_t newline = tail.find('\n', from);
    if (newline == std::string::npos) newline = tail.size();
    lines.emplace_back(tail, from, newline - from);
    from = newline + 1;
  }
  if (lines.size() > count) lines.erase(lines.begin(), lines.end() - static_cast<long>(count));
  return lines;
}

std::string exitColumn(const json& ship) {
  if (ship["exitCode"].is_number()) return std::to_string(ship["exitCode"].get<int>());
  if (ship["termSignal"].is_number()) return signalName(ship["termSignal"].get<int>());
  return "-";
}

ExitStatus exitOf(const json& ship) {
  if (ship.value("exitCode", json()).is_number()) return ExitStatus::exited(ship["exitCode"].get<int>());
  if (ship.value("termSignal", json()).is_number())
    return ExitStatus::signaled(ship["termSignal"].get<int>(), ship.value("coreDumped", json(false)) == true);
  return {};
}

std::string str(const json& value) { return value.is_string() ? value.get<std::string>() : "-"; }

// How a stopped ship ended, in words.
std::string endingOf(const json& ship) {
  std::string status = ship.value("status", "");
  if (status == "failed") return "failed to start: " + str(ship["error"]);
  std::string text = exitOf(ship).describe();
  if (ship["stoppedReason"].is_string()) text += " (" + ship["stoppedReason"].get<std::string>() + ")";
  return text;
}

// ------------------------------------------------------------ daemon commands

int daemonStart(const DaemonOptions& options, bool quiet = false) {
  DaemonConfig config = daemonConfig(options);
  if (options.foreground) return runDaemon(config);
  StartResult started = startDetachedDaemon(config);
  if (!started.ok) fail(kExitFailed, started.message);
  // Ready means it answers on its socket: check it.
  DaemonClient client = connectOrFail(config.paths.socket);
  callOrFail(client, {{"op", "ping"}});
  if (!quiet) std::cout << "keelan daemon started (pid " << started.pid << ")\n";
  return kExitOk;
}

bool processGone(pid_t pid) {
  if (kill(pid, 0) != 0) return errno == ESRCH;
  auto stat = readProcStat(pid);
  return !stat || stat->state == 'Z';
}

bool waitUntil(int64_t deadlineMs, const std::function<bool()>& done) {
  while (!done()) {
    if (monotonicMs() >= deadlineMs) return false;
    usleep(5000);
  }
  return true;
}

int daemonStop(const DaemonOptions& options) {
  DaemonConfig config = daemonConfig(options);
  PidFileState state = probePidFile(config.paths.pidFile);
  if (!state.locked || state.pid <= 0) {
    std::cout << "keelan daemon is not running\n";
    return kExitOk;
  }
  pid_t pid = state.pid;
  std::string refused;
  int pidfd = openVerifiedDaemonPidfd(state, config.paths.pidFile, getuid(), refused);
  if (pidfd < 0) fail(kExitFailed, refused);
  struct PidfdCloser {
    int fd;
    ~PidfdCloser() { close(fd); }
  } closer{pidfd};
  if (pidfdSendSignal(pidfd, SIGTERM) != 0)
    fail(kExitFailed, "cannot signal the daemon (pid " + std::to_string(pid) + "): " + strerror(errno));
  auto stopped = [&] { return !probePidFile(config.paths.pidFile).locked && processGone(pid); };
  if (!waitUntil(monotonicMs() + int64_t{options.timeout} * 1000, stopped)) {
    std::cerr << "keelan: warning: the daemon (pid " << pid << ") did not stop within " << options.timeout
              << " s; sending SIGKILL\n";
    pidfdSendSignal(pidfd, SIGKILL);
    if (!waitUntil(monotonicMs() + 5000, [&] { return processGone(pid); }))
      fail(kExitFailed, "the daemon (pid " + std::to_string(pid) + ") survived SIGKILL");
  }
  std::cout << "keelan daemon stopped\n";
  return kExitOk;
}

// `daemon status` when the daemon may run but cannot be asked: LSB's
// "status unknown" (4), with the reason on stderr (and in --json).
int statusUnknown(const std::string& reason, pid_t pid, const std::string& socketPath, bool asJson) {
  if (asJson) {
    json out = {{"running", nullptr}, {"reason", reason}, {"socket", socketPath}};
    out["pid"] = pid > 0 ? json(pid) : json(nullptr);
    std::cout << out.dump(2) << "\n";
  }
  std::cerr << "keelan: " << reason << "\n";
  return kExitStatusUnknown;
}

int daemonStatus(const DaemonOptions& options, bool asJson, int lines) {
  DaemonConfig config = daemonConfig(options);
  std::string socketPath = options.socket.empty() ? clientSocket(config.paths) : config.paths.socket;
  DaemonClient client;
  std::optional<json> status;
  int err = 0;
  std::string connectError = connectWithin(client, socketPath, &err);
  if (err == EINTR) return statusUnknown(notAcceptedText(), probePidFile(config.paths.pidFile).pid, socketPath, asJson);
  if (err == EACCES || err == EPERM)
    return statusUnknown("permission denied on " + socketPath + "; cannot tell whether the daemon runs", 0, socketPath,
                         asJson);
  if (connectError.empty()) {
    int64_t started = monotonicMs();
    status = client.call({{"op", "status"}}, callTimeoutMs);
    if (!status && monotonicMs() - started >= callTimeoutMs)
      return statusUnknown(noAnswerText(client, callTimeoutMs), peerPid(client), socketPath, asJson);
    if (status && !status->value("ok", false))
      return statusUnknown(errorText(*status), peerPid(client), socketPath, asJson);
  }
  if (!status) {
    PidFileState state = probePidFile(config.paths.pidFile);
    if (state.locked)
      return statusUnknown("the daemon (pid " + std::to_string(state.pid) + ") runs but is not answering on " +
                               socketPath + (connectError.empty() ? ": " + std::string(kNoAnswer) : ": " + connectError),
                           state.pid, socketPath, asJson);
    if (!connectError.empty() && err != ENOENT && err != ECONNREFUSED)
      return statusUnknown(connectError, 0, socketPath, asJson);
    if (asJson) {
      json out = {{"running", false}, {"pidFile", config.paths.pidFile}, {"socket", socketPath},
                  {"stalePidFile", state.exists}, {"logFile", config.paths.logFile}};
      std::cout << out.dump(2) << "\n";
    } else {
      std::cout << "keelan daemon is not running";
      if (state.exists)
        std::cout << " (stale PID file " << config.paths.pidFile << (state.pid > 0 ? ", pid " + std::to_string(state.pid) : "")
                  << ")";
      std::cout << "\n";
    }
    return kExitNotRunning;
  }
  json& s = *status;
  std::string logFile = s.value("logFile", config.paths.logFile);
  struct stat info {};
  uint64_t logSize = stat(logFile.c_str(), &info) == 0 ? static_cast<uint64_t>(info.st_size) : 0;
  std::vector<std::string> recent = lastLines(logFile, static_cast<size_t>(lines));
  if (asJson) {
    json out = {{"running", true},
                {"pid", s["pid"]},
                {"version", s["version"]},
                {"uptimeSeconds", s["uptimeSeconds"]},
                {"socket", s["socket"]},
                {"intervalSeconds", s["intervalSeconds"]},
                {"logFile", logFile},
                {"logSizeBytes", logSize},
                {"pidFile", s["pidFile"]},
                {"baseDirectory", s["baseDirectory"]},
                {"recentLog", recent},
                {"ships", s["ships"]},
                {"adopted", s["adopted"]},
                {"orphansReaped", s["orphansReaped"]},
                {"generation", s.value("generation", json())},
                {"store", s.value("store", json::object())}};
    if (s.contains("restartError")) out["restartError"] = s["restartError"];
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  const json& ships = s["ships"];
  std::cout << "keelan daemon is running (pid " << s["pid"].get<int>() << ")\n"
            << "  version:   " << str(s["version"]) << "\n"
            << "  uptime:    " << humanDuration(s["uptimeSeconds"].get<int64_t>()) << "\n"
            << "  base:      " << str(s["baseDirectory"]) << "\n"
            << "  socket:    " << str(s["socket"]) << "\n"
            << "  interval:  " << s["intervalSeconds"].get<int>() << "s\n"
            << "  log file:  " << logFile << " (" << humanSize(logSize) << ")\n"
            << "  pid file:  " << str(s["pidFile"]) << "\n"
            << "  ships:     running " << ships.value("running", 0) << ", stopped " << ships.value("stopped", 0)
            << ", failed " << ships.value("failed", 0) << ", backoff " << ships.value("backoff", 0) << ", lost "
            << ships.value("lost", 0) << " (adopted "
            << s.value("adopted", 0) << ")\n";
  if (s.contains("store") && s["store"].is_object()) {
    const json& store = s["store"];
    if (store.value("available", true))
      std::cout << "  store:     ok";
    else
      std::cout << "  store:     UNAVAILABLE since " << store.value("unavailableSince", "?") << " ("
                << store.value("unavailableSeconds", 0) << " s): " << store.value("reason", "") << "; writes are refused";
    std::cout << ", quarantined records " << store.value("quarantined", 0) << "\n";
  }
  if (!recent.empty()) {
    std::cout << "recent log:\n";
    for (const auto& line : recent) std::cout << "  " << line << "\n";
  }
  return kExitOk;
}

int daemonRestart(const DaemonOptions& options) {
  bool pathsGiven = !options.logFile.empty() || !options.pidFile.empty() || !options.socket.empty();
  DaemonConfig config = daemonConfig(options);
  DaemonClient client;
  bool running = connectWithin(client, config.paths.socket).empty();
  if (options.cold || pathsGiven || !running) {
    if (running && !options.cold)
      std::cerr << "keelan: new paths need a cold restart (stop, then start); ships will be adopted\n";
    daemonStop(options);
    return daemonStart(options);
  }
  // In place: the daemon re-executes itself, keeping its PID, its children
  // and its listening socket.
  json request = {{"op", "restart"}};
  if (options.intervalGiven) request["intervalSeconds"] = options.interval;
  json response = callOrFail(client, request);
  pid_t pid = response["pid"].get<pid_t>();
  // Success is the new image answering: its generation is one more. A daemon
  // too old to send one is taken at its first answer, as before.
  int64_t generation = response.value("generation", int64_t{-1});
  int64_t deadline = monotonicMs() + callTimeoutMs;
  auto remaining = [&] { return static_cast<int>(std::max<int64_t>(1, deadline - monotonicMs())); };
  while (monotonicMs() < deadline && client.receive(remaining())) {
  }  // EOF: the old image is about to exec
  std::string pidText = "the daemon (pid " + std::to_string(pid) + ")";
  for (;;) {
    if (processGone(pid)) fail(kExitFailed, pidText + " exited while restarting in place; see " + config.paths.logFile);
    DaemonClient fresh;
    if (connectWithin(fresh, config.paths.socket).empty()) {
      auto pong = fresh.call({{"op", "ping"}}, remaining());
      if (pong && pong->value("ok", false)) {
        if (generation < 0 || pong->value("generation", int64_t{-1}) > generation) break;
        if (pong->contains("restartError"))
          fail(kExitFailed, "the in-place restart failed: " + pong->value("restartError", std::string()) + "; " +
                                pidText + " carries on with its old image; see " + config.paths.logFile);
      }
    }
    if (monotonicMs() >= deadline)
      fail(kExitFailed, pidText + " did not answer within " + secondsText(callTimeoutMs) +
                            " s after restarting in place; see " + config.paths.logFile);
    usleep(5000);
  }
  std::cout << "keelan daemon restarted in place (pid " << pid << ")\n";
  return kExitOk;
}

// ------------------------------------------------------------ ship commands

DaemonClient connectStartingIfNeeded(const Paths& paths) {
  std::string socketPath = clientSocket(paths);
  DaemonClient client;
  int err = 0;
  std::string refused = connectWithin(client, socketPath, &err);
  if (refused.empty()) return client;
  if (err == EINTR) fail(kExitFailed, notAcceptedText());
  if (err != ENOENT && err != ECONNREFUSED) fail(kExitFailed, refused);
  DaemonOptions defaults;
  daemonStart(defaults, true);
  std::cerr << "keelan: no daemon was running on " << paths.base << "; started one\n";
  return connectOrFail(socketPath);
}

struct DeployOptions {
  std::string name, root, cwd, file, user, restart, onExit, maxLogSize;
  int maxLogFiles = 0;
  std::vector<std::string> env, command;
  bool replace = false, wait = false;
};

int printWaitResult(const std::string& name, const json& ship, bool asJson);

json readShipFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(kExitUsage, "cannot read ship file " + path + ": " + strerror(errno));
  json parsed = json::parse(in, nullptr, false);
  if (parsed.is_discarded()) fail(kExitUsage, "ship file " + path + " is not valid JSON");
  if (!parsed.is_object()) fail(kExitUsage, "ship file " + path + " is not a JSON object");
  return parsed;
}

int deployCommand(const DeployOptions& o) {
  if (auto e = validateShipName(o.name); !e.empty()) fail(kExitUsage, e);
  Paths paths = basePaths();
  std::string cwd = currentDirectory();
  bool flagsGiven = !o.root.empty() || !o.cwd.empty() || !o.env.empty() || !o.command.empty() || !o.user.empty() ||
                    !o.restart.empty() || !o.onExit.empty() || !o.maxLogSize.empty() || o.maxLogFiles > 0;
  if (!o.restart.empty() && !parseRestartPolicy(o.restart))
    fail(kExitUsage, "--restart: '" + o.restart + "' is not no, on-failure[:MAX] or always[:MAX]");
  json ship;
  if (!o.file.empty()) ship = readShipFile(absolutePath(o.file, cwd));
  if (!o.file.empty() || flagsGiven) {
    if (ship.is_null()) ship = json::object();
    if (!o.root.empty()) ship["root"] = absolutePath(o.root, cwd);
    if (!o.cwd.empty()) ship["cwd"] = o.cwd;
    if (!o.user.empty()) ship["user"] = o.user;
    if (!o.restart.empty()) ship["restart"] = o.restart;
    if (!o.onExit.empty()) ship["onExit"] = o.onExit;
    if (!o.maxLogSize.empty()) ship["maxLogSize"] = o.maxLogSize;
    if (o.maxLogFiles > 0) ship["maxLogFiles"] = o.maxLogFiles;
    if (!o.command.empty()) ship["command"] = o.command;
    for (const auto& pair : o.env) {
      size_t eq = pair.find('=');
      if (eq == std::string::npos || eq == 0) fail(kExitUsage, "--env takes KEY=VALUE, got '" + pair + "'");
      if (!ship.contains("env") || !ship["env"].is_object()) ship["env"] = json::object();
      ship["env"][pair.substr(0, eq)] = pair.substr(eq + 1);
    }
    try {
      ShipSpec spec = shipSpecFromJson(ship, o.name);
      spec.name = o.name;
      bool amending = o.command.empty() && o.file.empty();
      if (auto e = validateShipSpec(spec); !e.empty() && !(amending && spec.command.empty())) fail(kExitUsage, e);
    } catch (const std::invalid_argument& e) {
      fail(kExitUsage, e.what());
    }
  }
  DaemonClient client = connectStartingIfNeeded(paths);
  json request = {{"op", "deploy"}, {"name", o.name}, {"replace", o.replace}};
  if (!ship.is_null()) request["ship"] = ship;
  // Flags without a command or a file amend the last definition.
  if (flagsGiven && o.command.empty() && o.file.empty()) request["merge"] = true;
  // --replace waits for the old run to stop: up to the daemon's 10 s, then SIGKILL.
  int replaceMs = o.replace ? 10000 : 0;
  auto response = callWithin(client, request, replaceMs);
  if (!response) fail(kExitFailed, "the daemon closed the connection without answering");
  if (!response->value("ok", false) && errorCode(*response) == errc::not_found && ship.is_null()) {
    // Never deployed: fall back to BASE_DIRECTORY/ships/NAME.json.
    std::string shipFile = paths.shipsDir + "/" + o.name + ".json";
    if (access(shipFile.c_str(), F_OK) != 0)
      fail(kExitUsage, "ship '" + o.name + "' was never deployed and " + shipFile +
                           " does not exist; give a command after --, or --file SHIP.json");
    // The daemon runs this as root: only a file nobody else could have planted.
    if (auto e = checkTrustedFile(shipFile, getuid()); !e.empty()) fail(kExitFailed, e);
    request["ship"] = readShipFile(shipFile);
    response = callWithin(client, request, replaceMs);
    if (!response) fail(kExitFailed, "the daemon closed the connection without answering");
  }
  if (!response->value("ok", false)) {
    // With --wait, a spawn that failed ends like `keelan wait` on it.
    if (o.wait && errorCode(*response) == errc::spawn_failed) {
      std::cerr << "keelan: " << errorText(*response) << "\n";
      return 127;
    }
    fail(codeFor(*response), errorText(*response));
  }
  const json& record = (*response)["ship"];
  std::cout << "deployed " << o.name << " (pid " << record["processId"] << ")\n";
  if (!o.wait) return kExitOk;
  // Waiting for the ship has no deadline.
  json waited = checkResponse(client.call({{"op", "wait"}, {"name", o.name}}));
  return printWaitResult(o.name, waited["ship"], false);
}

void printTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

int psCommand(bool all, bool asJson) {
  DaemonClient client = connectOrFail(clientSocket(basePaths()));
  json request = {{"op", "list"}, {"all", all}};
  json response;
  if (asJson) {
    // `ps --json` prints the reply's `ships` as ships.dump() would. The daemon
    // writes its replies in that very form, so when this one is, print its
    // text as it came: no DOM of every record (10,000 ships: a 5.6 MB line).
    // Otherwise (an error, or a reply in another form) parse it as before.
    client.send(request);
    int64_t started = monotonicMs();
    std::optional<std::string_view> line = client.receiveLine(callTimeoutMs);
    if (!line && monotonicMs() - started >= callTimeoutMs) fail(kExitFailed, noAnswerText(client, callTimeoutMs));
    if (!line) fail(kExitFailed, kNoAnswer);
    std::vector<JsonMember> members;
    if (isCompactJsonDump(*line, &members)) {
      const JsonMember *ok = nullptr, *ships = nullptr;
      for (const auto& member : members) {
        if (member.key == "ok") ok = &member;
        if (member.key == "ships") ships = &member;
      }
      if (ok != nullptr && ok->value == "true" && ships != nullptr) {
        std::cout.write(ships->value.data(), static_cast<std::streamsize>(ships->value.size())) << "\n";
        return kExitOk;
      }
    }
    auto parsed = json::parse(line->begin(), line->end(), nullptr, false);
    response = checkResponse(parsed.is_discarded() ? std::nullopt : std::optional<json>(std::move(parsed)));
    std::cout << response["ships"].dump() << "\n";
    return kExitOk;
  }
  response = callOrFail(client, request);
  const json& ships = response["ships"];
  std::vector<std::vector<std::string>> rows = {{"NAME", "STATUS", "PID", "STARTED", "STOPPED", "EXIT"}};
  for (const auto& ship : ships) {
    std::string status = ship.value("status", "");
    if (ship.value("adopted", false) && status == "running") status += " (adopted)";
    if (status == "backoff") status += " until " + str(ship["nextAttemptAt"]);
    rows.push_back({ship["name"].get<std::string>(), status,
                    ship["processId"].is_number() ? std::to_string(ship["processId"].get<int>()) : "-",
                    str(ship["startedAt"]), str(ship["stoppedAt"]), exitColumn(ship)});
  }
  printTable(rows);
  return kExitOk;
}

int inspectCommand(const std::string& name, bool asJson) {
  if (auto e = validateShipName(name); !e.empty()) fail(kExitUsage, e);
  DaemonClient client = connectOrFail(clientSocket(basePaths()));
  json response = callOrFail(client, {{"op", "inspect"}, {"name", name}});
  const json& ship = response["ship"];
  if (asJson) {
    std::cout << ship.dump(2) << "\n";
    return kExitOk;
  }
  auto field = [&](const char* label, const std::string& value) { std::cout << label << value << "\n"; };
  field("name:         ", ship["name"].get<std::string>());
  field("status:       ", ship["status"].get<std::string>() + (ship.value("adopted", false) ? " (adopted)" : ""));
  field("pid:          ", ship["processId"].is_number() ? std::to_string(ship["processId"].get<int>()) : "-");
  std::string command;
  for (const auto& arg : ship["command"]) command += (command.empty() ? "" : " ") + arg.get<std::string>();
  field("command:      ", command);
  field("root:         ", str(ship["root"]));
  field("cwd:          ", str(ship["cwd"]));
  field("user:         ", str(ship["user"]));
  field("restart:      ", str(ship["restart"]) + " (" + std::to_string(ship.value("restarts", 0)) + " restarts so far" +
                             (ship["nextAttemptAt"].is_string() ? ", next at " + str(ship["nextAttemptAt"]) : "") + ")");
  if (ship["onExit"].is_string()) field("on exit:      ", str(ship["onExit"]));
  field("started:      ", str(ship["startedAt"]));
  field("stopped:      ", str(ship["stoppedAt"]));
  if (ship["status"] != "running") {
    std::string source = ship["exitStatusSource"].is_string()
                             ? " [exact, from " + ship["exitStatusSource"].get<std::string>() + "]"
                             : (ship["status"] == "stopped" ? " [unknown: not observed by keelan]" : "");
    field("ending:       ", endingOf(ship) + source);
  }
  field("deploys:      ", std::to_string(ship.value("deployCount", 0)));
  field("last checked: ", str(ship["lastCheckedAt"]));
  std::cout << "history (last " << ship["history"].size() << " runs):\n";
  std::vector<std::vector<std::string>> rows = {{"  RUN", "PID", "STARTED", "STOPPED", "EXIT"}};
  for (const auto& run : ship["history"])
    rows.push_back({"  " + std::to_string(run.value("run", 0)),
                    run["pid"].is_number() ? std::to_string(run["pid"].get<int>()) : "-", str(run["startedAt"]),
                    str(run["stoppedAt"]), exitColumn(run)});
  printTable(rows);
  return kExitOk;
}

int exitCodeOf(const json& ship) {
  if (ship.value("status", "") == "failed") return 127;
  int code = exitOf(ship).shellCode();
  return code < 0 ? kExitFailed : code;
}

int printWaitResult(const std::string& name, const json& ship, bool asJson) {
  if (asJson) std::cout << ship.dump(2) << "\n";
  else std::cout << name << " " << endingOf(ship) << "\n";
  return exitCodeOf(ship);
}

// A restart of the daemon closes our connection: reconnect and ask again
// (for up to the --timeout, 30 s by default), so `wait` outlives daemon
// restarts. The wait itself has no deadline, but a daemon that does not
// answer a ping first is reported at once.
int waitCommand(const std::string& name, bool asJson) {
  if (auto e = validateShipName(name); !e.empty()) fail(kExitUsage, e);
  std::string socketPath = clientSocket(basePaths());
  DaemonClient client = connectOrFail(socketPath);
  callOrFail(client, {{"op", "ping"}});
  for (;;) {
    auto response = client.call({{"op", "wait"}, {"name", name}});
    if (response) {
      if (!response->value("ok", false) && errorCode(*response) != errc::shutting_down)
        fail(codeFor(*response), errorText(*response));
      if (response->value("ok", false)) return printWaitResult(name, (*response)["ship"], asJson);
    }
    int64_t deadline = monotonicMs() + callTimeoutMs;
    for (;;) {
      DaemonClient fresh;
      if (connectWithin(fresh, socketPath).empty()) {
        client = std::move(fresh);
        break;
      }
      if (monotonicMs() > deadline)
        fail(kExitFailed, "lost the daemon while waiting for " + name + "; it did not come back within " +
                              secondsText(callTimeoutMs) + " s");
      usleep(20000);
    }
  }
}

int stopCommand(const std::vector<std::string>& names, const std::string& signal, int timeout, bool asJson) {
  for (const auto& name : names)
    if (auto e = validateShipName(name); !e.empty()) fail(kExitUsage, e);
  if (parseSignal(signal) == 0) fail(kExitUsage, "--signal: '" + signal + "' is not a signal");
  DaemonClient client = connectOrFail(clientSocket(basePaths()));
  // The reply comes once the ships are dead: after their timeout, SIGKILL and the reap.
  json response = callOrFail(client, {{"op", "stop"}, {"names", names}, {"signal", signal}, {"timeoutSeconds", timeout}},
                             timeout * 1000);
  if (asJson) {
    std::cout << response["ships"].dump(2) << "\n";
    return kExitOk;
  }
  for (const auto& ship : response["ships"]) std::cout << ship["name"].get<std::string>() << " " << endingOf(ship) << "\n";
  return kExitOk;
}

int rmCommand(const std::string& name, bool force) {
  if (auto e = validateShipName(name); !e.empty()) fail(kExitUsage, e);
  DaemonClient client = connectOrFail(clientSocket(basePaths()));
  callOrFail(client, {{"op", "rm"}, {"name", name}, {"force", force}}, force ? 10000 : 0);
  std::cout << "removed " << name << "\n";
  return kExitOk;
}

// Events have no deadline. When the connection ends (the daemon stopped,
// died, or restarted in place or cold), it reconnects for up to the
// --timeout and says so on stderr; events in between are not seen.
// --no-reconnect: the end of the connection ends the command, exit 1.
int eventsCommand(bool asJson, bool reconnect) {
  std::string socketPath = clientSocket(basePaths());
  DaemonClient client = connectOrFail(socketPath);
  callOrFail(client, {{"op", "events"}});
  std::cout.flush();
  for (;;) {
    while (auto event = client.receive()) {
      if (asJson) {
        std::cout << event->dump() << std::endl;
        continue;
      }
      const json& record = (*event)["record"];
      std::string line = str((*event)["at"]) + " " + str((*event)["event"]) + " " + str((*event)["ship"]);
      if (record["processId"].is_number()) line += " pid=" + std::to_string(record["processId"].get<int>());
      std::string ev = str((*event)["event"]);
      if (ev == "stopped" || ev == "failed") line += ": " + endingOf(record);
      std::cout << line << std::endl;
    }
    if (!reconnect) fail(kExitFailed, "lost the daemon on " + socketPath);
    std::cerr << "keelan: lost the daemon on " << socketPath << "; reconnecting\n";
    int64_t deadline = monotonicMs() + callTimeoutMs;
    for (;;) {
      DaemonClient fresh;
      if (connectWithin(fresh, socketPath).empty()) {
        auto subscribed = fresh.call({{"op", "events"}}, static_cast<int>(std::max<int64_t>(1, deadline - monotonicMs())));
        if (subscribed && subscribed->value("ok", false)) {
          std::cerr << "keelan: reconnected to the daemon (pid " << peerPid(fresh)
                    << "); events while disconnected are not shown\n";
          client = std::move(fresh);
          break;
        }
      }
      if (monotonicMs() >= deadline)
        fail(kExitFailed, "lost the daemon on " + socketPath + "; it did not come back within " +
                              secondsText(callTimeoutMs) + " s");
      usleep(20000);
    }
  }
}

int logsCommand(const std::string& name, bool stderrLog, int lines, bool follow) {
  if (auto e = validateShipName(name); !e.empty()) fail(kExitUsage, e);
  Paths paths = basePaths();
  std::string path = stderrLog ? paths.shipErrLog(name) : paths.shipOutLog(name);
  if (access(path.c_str(), R_OK) != 0) fail(kExitFailed, "no logs for ship '" + name + "' (" + path + ": " + strerror(errno) + ")");
  // The newest lines, reaching back into rotated files (NAME.out.log.1, .2, ...) as needed.
  std::vector<std::string> shown = lastLines(path, static_cast<size_t>(lines));
  for (int n = 1; shown.size() < static_cast<size_t>(lines); ++n) {
    std::string rotated = path + "." + std::to_string(n);
    if (access(rotated.c_str(), R_OK) != 0) break;
    std::vector<std::string> older = lastLines(rotated, static_cast<size_t>(lines) - shown.size());
    shown.insert(shown.begin(), older.begin(), older.end());
  }
  for (const auto& line : shown) std::cout << line << "\n";
  std::cout.flush();
  if (!follow) return kExitOk;
  int fd = openFileNoFollow(path, O_RDONLY);
  if (fd < 0) fail(kExitFailed, "cannot open " + path);
  lseek(fd, 0, SEEK_END);
  char buffer[65536];
  // Ships write their logs themselves, so following goes on without the
  // daemon; but say when it goes away (or comes back), checked every second.
  bool daemonUp = probePidFile(paths.pidFile).locked;
  int64_t nextCheck = monotonicMs() + 1000;
  for (;;) {
    if (monotonicMs() >= nextCheck) {
      nextCheck = monotonicMs() + 1000;
      bool up = probePidFile(paths.pidFile).locked;
      if (up != daemonUp)
        std::cerr << (up ? "keelan: the daemon is back\n" : "keelan: the daemon is gone; still following " + path + "\n");
      daemonUp = up;
    }
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n > 0) {
      fwrite(buffer, 1, static_cast<size_t>(n), stdout);
      fflush(stdout);
      continue;
    }
    // Rotated in place by the daemon (its head cut out): the unread bytes
    // moved back by the block-aligned length that was cut.
    struct stat now {};
    off_t offset = lseek(fd, 0, SEEK_CUR);
    if (fstat(fd, &now) == 0 && now.st_size < offset) {
      off_t block = now.st_blksize > 0 ? now.st_blksize : 4096;
      lseek(fd, std::min<off_t>(offset % block, now.st_size), SEEK_SET);
      continue;
    }
    // Rotated away: reopen the new file from its start.
    struct stat current {}, opened {};
    if (stat(path.c_str(), &current) == 0 && fstat(fd, &opened) == 0 && current.st_ino != opened.st_ino) {
      close(fd);
      fd = openFileNoFollow(path, O_RDONLY);
      if (fd < 0) return kExitOk;
      continue;
    }
    usleep(100000);
  }
}

// ------------------------------------------------------------ store commands

// The daemon if it answers, else nullopt (no daemon: work offline).
std::optional<DaemonClient> daemonIfRunning(const std::string& socketPath) {
  DaemonClient client;
  int err = 0;
  if (auto e = client.connect(socketPath, &err); !e.empty()) {
    if (err == ENOENT || err == ECONNREFUSED) return std::nullopt;
    fail(kExitFailed, e);
  }
  return client;
}

// Offline work on the store holds the daemon's lock, so no daemon starts
// meanwhile.
int lockStoreOffline(const Paths& paths) {
  std::string path = paths.dataDir + "/daemon.lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) fail(kExitFailed, "no store in " + paths.dataDir + " (" + path + ": " + strerror(errno) + ")");
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    fail(kExitFailed, "a daemon holds the store in " + paths.dataDir + " but does not answer on " + clientSocket(paths));
  }
  return fd;
}

int storeBackupCommand(const std::string& file) {
  Paths paths = basePaths();
  std::string path = absolutePath(file, currentDirectory());
  if (auto client = daemonIfRunning(clientSocket(paths))) {
    json reply = callOrFail(*client, {{"op", "store-backup"}, {"path", path}});
    std::cout << "store backed up to " << path << " (" << reply.value("bytes", 0) << " bytes, "
              << reply.value("durationMs", 0) << " ms, live)\n";
    return kExitOk;
  }
  int lock = lockStoreOffline(paths);
  DataFileState state;
  if (auto e = checkDataFiles(paths.dataDir, state); !e.empty()) fail(kExitFailed, e);
  if (!state.dataExists || state.dataSize == 0) fail(kExitFailed, "no store in " + paths.dataDir + " (data.mdb is missing or empty)");
  Store store;
  if (auto e = store.open(paths.dataDir); !e.empty()) fail(kExitFailed, e);
  std::string error;
  int fd = createBackupFile(path, getuid(), getgid(), error);
  if (fd < 0) fail(kExitFailed, error);
  error = store.backupTo(fd);
  struct stat info {};
  fstat(fd, &info);
  close(fd);
  close(lock);
  if (!error.empty()) {
    removeBackupFile(path);
    fail(kExitFailed, error);
  }
  std::cout << "store backed up to " << path << " (" << info.st_size << " bytes, offline)\n";
  return kExitOk;
}

int storeCheckCommand(const std::string& file, bool asJson) {
  Paths paths = basePaths();
  json report;
  std::string what;
  if (!file.empty()) {
    what = absolutePath(file, currentDirectory());
    int fd = open(what.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat info {};
    if (fd < 0) fail(kExitFailed, "cannot open " + what + ": " + strerror(errno));
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
      close(fd);
      fail(kExitFailed, "refusing " + what + ": not a regular file");
    }
    report = storeCheckReport(fd);
    close(fd);
  } else if (auto client = daemonIfRunning(clientSocket(paths))) {
    report = callOrFail(*client, {{"op", "store-check"}})["report"];
    what = paths.dataDir + "/data.mdb (live)";
  } else {
    int lock = lockStoreOffline(paths);
    report = storeCheckReport(paths.dataDir);
    close(lock);
    what = paths.dataDir + "/data.mdb (offline)";
  }
  report["file"] = what;
  bool ok = report.value("ok", false);
  if (asJson) {
    std::cout << report.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return ok ? kExitOk : kExitFailed;
  }
  std::cout << "store " << what << ": " << (ok ? "ok" : "DAMAGED") << "\n";
  if (report.contains("pagesChecked"))
    std::cout << "  pages checked: " << report.value("pagesChecked", 0) << " (page size " << report.value("pageSize", 0)
              << ")\n";
  if (report.contains("byStatus")) {
    const json& by = report["byStatus"];
    std::cout << "  ships:         " << report.value("ships", 0) << " (running " << by.value("running", 0) << ", stopped "
              << by.value("stopped", 0) << ", failed " << by.value("failed", 0) << ", backoff " << by.value("backoff", 0)
              << ", lost " << by.value("lost", 0) << ")\n"
              << "  runs:          " << report.value("runs", 0) << "\n"
              << "  quarantined:   " << report.value("quarantined", 0) << "\n";
  }
  for (const auto& problem : report.value("problems", json::array()))
    std::cout << "  problem:       " << problem.get<std::string>() << "\n";
  for (const auto& bad : report.value("badRecords", json::array()))
    std::cout << "  bad record:    " << bad.value("table", "") << " '"
              << json(bad.value("key", "")).dump(-1, ' ', false, json::error_handler_t::replace) << "': "
              << bad.value("error", "") << "\n";
  return ok ? kExitOk : kExitFailed;
}

void addDaemonStartOptions(CLI::App* command, DaemonOptions& options) {
  command->add_option_function<int>("--interval", [&options](const int& value) {
        options.interval = value;
        options.intervalGiven = true;
      }, "health-check period in seconds for adopted ships (1-86400)")
      ->check(CLI::Range(1, 86400));
  command->add_option("--log-file", options.logFile, "daemon log file (default BASE/logs/monitor-daemon.log)");
  command->add_option("--pid-file", options.pidFile, "PID file (default BASE/run/monitor-daemon.pid)");
  command->add_option("--socket", options.socket, "control socket (default BASE/run/keelan.sock)");
  command->add_option("--socket-group", options.socketGroup,
                      "let this group's members use the socket (0660, directory 0750); it grants root-equivalent power");
  command->add_option("--on-exit", options.onExit, "shell command run after each ship exit (ships may override)");
  command->add_option("--metrics-address", options.metricsAddress, "serve Prometheus metrics at http://HOST:PORT/metrics");
  command->add_option("--max-log-size", options.maxLogSize, "rotate ship logs past this size (e.g. 10M); default: never");
  command->add_option("--max-log-files", options.maxLogFiles, "rotated ship log files kept (default 5)")
      ->check(CLI::Range(1, 1000));
  command->add_option("--webhook", options.webhook, "POST each ship failure's record (JSON) to this URL");
  command->add_flag("--webhook-include-env", options.webhookIncludeEnv,
                    "send the ships' env values in webhook bodies (default: keys only, values null)");
  // For tests: limits and delays they can reach quickly. Not in --help.
  DaemonConfig& t = options.tuning;
  command->add_option("--x-write-high-water", t.writeHighWater)->group("")->check(CLI::Range(size_t{1}, size_t{1} << 40));
  command->add_option("--x-stall-timeout-ms", t.stallTimeoutMs)->group("")->check(CLI::Range(int64_t{1}, int64_t{86400000}));
  command->add_option("--x-http-header-timeout-ms", t.httpHeaderTimeoutMs)->group("")->check(CLI::Range(int64_t{1}, int64_t{86400000}));
  command->add_option("--x-max-reply-bytes", t.maxReplyBytes)->group("")->check(CLI::Range(size_t{1}, size_t{1} << 40));
  command->add_option("--x-backoff-first-ms", t.backoffFirstMs)->group("")->check(CLI::Range(int64_t{1}, int64_t{300000}));
  command->add_flag("--x-no-pidfd", t.noPidfd)->group("");
  command->add_flag("--x-no-subreaper", t.noSubreaper)->group("");
}

}  // namespace

int runCli(int argc, char** argv) {
  CLI::App app{"keelan: a supervisor that knows exactly how every ship ended"};
  app.set_version_flag("--version", std::string("keelan ") + kVersion);
  app.require_subcommand(1);
  app.fallthrough();
  double timeoutSeconds = 30;
  app.add_option("--timeout", timeoutSeconds,
                 "seconds to wait for each answer of the daemon (default 30; env KEELAN_TIMEOUT); "
                 "after a subcommand that has its own --timeout, give it before the subcommand")
      ->envname("KEELAN_TIMEOUT")
      ->check(CLI::Range(0.001, 86400.0));

  std::function<int()> action;
  DaemonOptions daemonOptions;
  bool asJson = false;
  int lines = 10;

  auto* daemon = app.add_subcommand("daemon", "start, stop and inspect the daemon");
  daemon->require_subcommand(1);
  auto* start = daemon->add_subcommand("start", "start the daemon");
  addDaemonStartOptions(start, daemonOptions);
  start->add_flag("--foreground", daemonOptions.foreground, "stay in the foreground; log to stderr too");
  start->add_flag("--new-store", daemonOptions.newStore,
                  "begin with an empty store although data/data.mdb is gone and an earlier one left traces");
  start->add_flag("--salvage", daemonOptions.salvage,
                  "if data/data.mdb is damaged, keep it aside and start from every record on its sound pages");
  start->add_option("--from-backup", daemonOptions.fromBackup,
                    "install this backup (from `keelan store backup`) as the store, keeping the current one aside");
  start->callback([&] { action = [&] { return daemonStart(daemonOptions); }; });

  auto* stop = daemon->add_subcommand("stop", "stop the daemon (ships keep running)");
  stop->add_option("--timeout", daemonOptions.timeout, "seconds before SIGKILL (default 10)")->check(CLI::Range(0, 86400));
  stop->add_option("--pid-file", daemonOptions.pidFile, "PID file");
  stop->callback([&] { action = [&] { return daemonStop(daemonOptions); }; });

  auto* status = daemon->add_subcommand("status", "is the daemon running, and how");
  status->add_flag("--json", asJson, "print JSON");
  status->add_option("--lines", lines, "recent log lines to show (default 10)")->check(CLI::Range(0, 100000));
  status->add_option("--pid-file", daemonOptions.pidFile, "PID file");
  status->add_option("--socket", daemonOptions.socket, "control socket");
  status->callback([&] { action = [&] { return daemonStatus(daemonOptions, asJson, lines); }; });

  auto* restart = daemon->add_subcommand("restart", "re-execute the daemon in place (same PID); --cold: stop, then start");
  addDaemonStartOptions(restart, daemonOptions);
  restart->add_option("--timeout", daemonOptions.timeout, "seconds before SIGKILL when stopping")->check(CLI::Range(0, 86400));
  restart->add_flag("--cold", daemonOptions.cold, "stop, then start (ships are adopted)");
  restart->callback([&] { action = [&] { return daemonRestart(daemonOptions); }; });

  DeployOptions deploy;
  auto* deployCmd = app.add_subcommand("deploy", "run a ship");
  deployCmd->add_option("name", deploy.name, "ship name")->required();
  deployCmd->add_option("--root", deploy.root, "chroot directory");
  deployCmd->add_option("--cwd", deploy.cwd, "working directory (inside the root)");
  deployCmd->add_option("--env", deploy.env, "KEY=VALUE for the ship's environment (repeatable)")
      ->allow_extra_args(false);  // one value each, so "--env A=1 -- cmd" ends at --
  deployCmd->add_option("--user", deploy.user, "run as this user (root daemon only)");
  deployCmd->add_option("--file", deploy.file, "ship file (JSON)");
  deployCmd->add_option("--restart", deploy.restart, "no (default), on-failure[:MAX] or always[:MAX]");
  deployCmd->add_option("--on-exit", deploy.onExit, "shell command run after each exit of this ship");
  deployCmd->add_option("--max-log-size", deploy.maxLogSize, "rotate this ship's logs past this size (e.g. 10M)");
  deployCmd->add_option("--max-log-files", deploy.maxLogFiles, "rotated log files kept for this ship")
      ->check(CLI::Range(1, 1000));
  deployCmd->add_flag("--replace", deploy.replace, "stop a running ship of this name first");
  deployCmd->add_flag("--wait", deploy.wait, "wait for the ship to stop and exit with its code");
  deployCmd->add_option("command", deploy.command, "COMMAND [ARG...] after --");
  deployCmd->callback([&] { action = [&] { return deployCommand(deploy); }; });

  bool all = false;
  auto* ps = app.add_subcommand("ps", "list ships");
  ps->add_flag("--all,-a", all, "include stopped and failed ships");
  ps->add_flag("--json", asJson, "print JSON");
  ps->callback([&] { action = [&] { return psCommand(all, asJson); }; });

  std::string name;
  auto* inspect = app.add_subcommand("inspect", "a ship's whole record and run history");
  inspect->add_option("name", name, "ship name")->required();
  inspect->add_flag("--json", asJson, "print JSON");
  inspect->callback([&] { action = [&] { return inspectCommand(name, asJson); }; });

  std::vector<std::string> names;
  std::string signal = "TERM";
  int timeout = 10;
  auto* stopShip = app.add_subcommand("stop", "stop ships");
  stopShip->add_option("names", names, "ship names")->required();
  stopShip->add_option("--signal,-s", signal, "signal to send first (default TERM)");
  stopShip->add_option("--timeout,-t", timeout, "seconds before SIGKILL (default 10)")->check(CLI::Range(0, 86400));
  stopShip->add_flag("--json", asJson, "print JSON");
  stopShip->callback([&] { action = [&] { return stopCommand(names, signal, timeout, asJson); }; });

  auto* wait = app.add_subcommand("wait", "wait for a ship to stop; exit with its code");
  wait->add_option("name", name, "ship name")->required();
  wait->add_flag("--json", asJson, "print JSON");
  wait->callback([&] { action = [&] { return waitCommand(name, asJson); }; });

  bool stderrLog = false, follow = false;
  int logLines = 10;
  auto* logs = app.add_subcommand("logs", "a ship's output");
  logs->add_option("name", name, "ship name")->required();
  logs->add_flag("--stderr", stderrLog, "show stderr instead of stdout");
  logs->add_option("-n,--lines", logLines, "lines to show (default 10)")->check(CLI::Range(0, 100000000));
  logs->add_flag("-f,--follow", follow, "keep printing new output");
  logs->callback([&] { action = [&] { return logsCommand(name, stderrLog, logLines, follow); }; });

  bool force = false;
  auto* rm = app.add_subcommand("rm", "forget a stopped ship");
  rm->add_option("name", name, "ship name")->required();
  rm->add_flag("--force,-f", force, "stop it first if it runs");
  rm->callback([&] { action = [&] { return rmCommand(name, force); }; });

  auto* metrics = app.add_subcommand("metrics", "the daemon's metrics, in Prometheus text format");
  metrics->callback([&] {
    action = [] {
      DaemonClient client = connectOrFail(clientSocket(basePaths()));
      std::cout << callOrFail(client, {{"op", "metrics"}})["text"].get<std::string>();
      return kExitOk;
    };
  });

  auto* store = app.add_subcommand("store", "back up and check the ship store");
  store->require_subcommand(1);
  std::string storeFile;
  auto* backup = store->add_subcommand("backup", "write a consistent, compacted copy of the store (live or offline)");
  backup->add_option("file", storeFile, "new file to write (never overwritten)")->required();
  backup->callback([&] { action = [&] { return storeBackupCommand(storeFile); }; });
  auto* check = store->add_subcommand("check", "check every page and record of the store; exit 1 if something is bad");
  check->add_flag("--json", asJson, "print JSON");
  check->add_option("--file", storeFile, "check this backup file instead of the store");
  check->callback([&] { action = [&] { return storeCheckCommand(storeFile, asJson); }; });

  auto* events = app.add_subcommand("events", "stream state changes");
  events->add_flag("--json", asJson, "one JSON object per line");
  bool noReconnect = false;
  events->add_flag("--no-reconnect", noReconnect, "exit 1 when the daemon goes away instead of reconnecting");
  events->callback([&] { action = [&] { return eventsCommand(asJson, !noReconnect); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "keelan: " << e.what() << "\n";
    std::cerr << "Run with --help for more information.\n";
    return kExitUsage;
  }
  callTimeoutMs = static_cast<int>(timeoutSeconds * 1000);
  try {
    return action ? action() : kExitUsage;
  } catch (const CliError& e) {
    std::cerr << "keelan: " << e.message << "\n";
    return e.code;
  } catch (const std::exception& e) {
    std::cerr << "keelan: " << e.what() << "\n";
    return kExitFailed;
  }
}

}  // namespace keelan
