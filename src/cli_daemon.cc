#include "keelan/cli_daemon.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>

#include "keelan/cli_logs.h"
#include "keelan/cli_render.h"
#include "keelan/config.h"
#include "keelan/daemonize.h"
#include "keelan/log_rotation.h"
#include "keelan/pidfd.h"
#include "keelan/pidfile.h"
#include "keelan/time_util.h"

namespace keelan {

using nlohmann::json;

namespace {

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

// Every field with a hidden option, as in the configuration's field table.
void copyTuning(const DaemonConfig& from, DaemonConfig& to) {
  for (const ConfigField& field : configFields()) {
    if (field.hiddenOption == nullptr) continue;
    withConfigMember(to, field.member, [&](auto& value) {
      withConfigMember(from, field.member, [&](const auto& source) {
        if constexpr (std::is_same_v<std::decay_t<decltype(value)>, std::decay_t<decltype(source)>>) value = source;
      });
    });
  }
}

void checkWebhook(const std::string& url) {
  if (!url.empty() && url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    fail(kExitUsage, "--webhook: '" + url + "' is not an http:// or https:// URL");
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
  checkWebhook(options.webhook);
  copyTuning(options.tuning, config);
  config.foreground = options.foreground;
  config.newStore = options.newStore;
  config.salvage = options.salvage;
  if (!options.fromBackup.empty()) config.fromBackup = absolutePath(options.fromBackup, cwd);
  config.selfExe = selfExecutable();
  return config;
}

// ------------------------------------------------------------ start, stop

int daemonStart(const DaemonOptions& options, bool quiet = false) {
  DaemonConfig config = daemonConfig(options);
  if (options.foreground) fail(kExitFailed, execDaemonInPlace(config));
  StartResult started = startDetachedDaemon(config);
  if (!started.ok) fail(kExitFailed, started.message);
  // Ready means it answers on its socket: check it.
  DaemonClient client = connectOrFail(config.paths.socket);
  callOrFail(client, {{"op", "ping"}});
  if (!quiet) std::cout << "keelan daemon started (pid " << started.pid << ")\n";
  return kExitOk;
}

// Owns a pidfd.
struct PidfdCloser {
  int fd;
  ~PidfdCloser() { close(fd); }
};

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
  PidfdCloser closer{pidfd};
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

// ------------------------------------------------------------ status

// `daemon status` when the daemon may run but cannot be asked: LSB's
// "status unknown" (4), with the reason on stderr (and in --json).
struct StatusUnknown {
  std::string reason;
  pid_t pid;
};

int reportUnknown(const StatusUnknown& unknown, const std::string& socketPath, bool asJson) {
  if (asJson) {
    json out = {{"running", nullptr}, {"reason", unknown.reason}, {"socket", socketPath}};
    out["pid"] = unknown.pid > 0 ? json(unknown.pid) : json(nullptr);
    std::cout << out.dump(2) << "\n";
  }
  std::cerr << "keelan: " << unknown.reason << "\n";
  return kExitStatusUnknown;
}

// What asking the daemon for its status gave.
struct StatusQuery {
  std::optional<json> reply;
  std::optional<StatusUnknown> unknown;
  std::string connectError;
  int err = 0;
};

StatusQuery queryStatus(const std::string& socketPath, const std::string& pidFile) {
  StatusQuery q;
  DaemonClient client;
  q.connectError = connectWithin(client, socketPath, &q.err);
  if (q.err == EINTR) {
    q.unknown = StatusUnknown{notAcceptedText(), probePidFile(pidFile).pid};
    return q;
  }
  if (q.err == EACCES || q.err == EPERM) {
    q.unknown = StatusUnknown{"permission denied on " + socketPath + "; cannot tell whether the daemon runs", 0};
    return q;
  }
  if (!q.connectError.empty()) return q;
  int64_t started = monotonicMs();
  q.reply = client.call({{"op", "status"}}, callTimeoutMs());
  if (!q.reply && monotonicMs() - started >= callTimeoutMs())
    q.unknown = StatusUnknown{noAnswerText(client, callTimeoutMs()), peerPid(client)};
  else if (q.reply && !q.reply->value("ok", false))
    q.unknown = StatusUnknown{errorText(*q.reply), peerPid(client)};
  return q;
}

// No status reply: not running (3), or running but not answering (4).
int reportNoReply(const StatusQuery& q, const DaemonConfig& config, const std::string& socketPath, bool asJson) {
  PidFileState state = probePidFile(config.paths.pidFile);
  if (state.locked)
    return reportUnknown({"the daemon (pid " + std::to_string(state.pid) + ") runs but is not answering on " +
                              socketPath +
                              (q.connectError.empty() ? ": " + std::string(kNoAnswer) : ": " + q.connectError),
                          state.pid},
                         socketPath, asJson);
  if (!q.connectError.empty() && q.err != ENOENT && q.err != ECONNREFUSED)
    return reportUnknown({q.connectError, 0}, socketPath, asJson);
  if (asJson) {
    json out = {{"running", false}, {"pidFile", config.paths.pidFile}, {"socket", socketPath},
                {"stalePidFile", state.exists}, {"logFile", config.paths.logFile}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "keelan daemon is not running";
    if (state.exists)
      std::cout << " (stale PID file " << config.paths.pidFile
                << (state.pid > 0 ? ", pid " + std::to_string(state.pid) : "") << ")";
    std::cout << "\n";
  }
  return kExitNotRunning;
}

int daemonStatus(const DaemonOptions& options, bool asJson, int lines) {
  DaemonConfig config = daemonConfig(options);
  std::string socketPath = options.socket.empty() ? clientSocket(config.paths) : config.paths.socket;
  StatusQuery q = queryStatus(socketPath, config.paths.pidFile);
  if (q.unknown) return reportUnknown(*q.unknown, socketPath, asJson);
  if (!q.reply) return reportNoReply(q, config, socketPath, asJson);
  const json& s = *q.reply;
  std::string logFile = s.value("logFile", config.paths.logFile);
  struct stat info {};
  uint64_t logSize = stat(logFile.c_str(), &info) == 0 ? static_cast<uint64_t>(info.st_size) : 0;
  DaemonStatusView view{s, logFile, logSize, lastLines(logFile, static_cast<size_t>(lines))};
  if (asJson)
    printDaemonStatusJson(view);
  else
    printDaemonStatus(view);
  return kExitOk;
}

// ------------------------------------------------------------ restart

// Success is the new image answering: its generation is one more. A daemon
// too old to send one (generation < 0) is taken at its first answer.
void awaitNewImage(DaemonClient& client, pid_t pid, int64_t generation, const DaemonConfig& config) {
  int64_t deadline = monotonicMs() + callTimeoutMs();
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
        if (generation < 0 || pong->value("generation", int64_t{-1}) > generation) return;
        if (pong->contains("restartError"))
          fail(kExitFailed, "the in-place restart failed: " + pong->value("restartError", std::string()) + "; " +
                                pidText + " carries on with its old image; see " + config.paths.logFile);
      }
    }
    if (monotonicMs() >= deadline)
      fail(kExitFailed, pidText + " did not answer within " + secondsText(callTimeoutMs()) +
                            " s after restarting in place; see " + config.paths.logFile);
    usleep(5000);
  }
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
  awaitNewImage(client, pid, response.value("generation", int64_t{-1}), config);
  std::cout << "keelan daemon restarted in place (pid " << pid << ")\n";
  return kExitOk;
}

// ------------------------------------------------------------ options

// For tests: limits and delays they can reach quickly. Not in --help.
void addHiddenOptions(CLI::App* command, DaemonConfig& tuning) {
  for (const ConfigField& field : configFields()) {
    if (field.hiddenOption == nullptr) continue;
    withConfigMember(tuning, field.member, [&](auto& value) {
      using T = std::remove_reference_t<decltype(value)>;
      if constexpr (std::is_same_v<T, bool>)
        command->add_flag(field.hiddenOption, value)->group("");
      else if constexpr (std::is_same_v<T, std::string>)
        command->add_option(field.hiddenOption, value)->group("");
      else if constexpr (std::is_integral_v<T>)
        command->add_option(field.hiddenOption, value)
            ->group("")
            ->check(CLI::Range(static_cast<T>(field.optionMin), static_cast<T>(field.optionMax)));
    });
  }
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
  addHiddenOptions(command, options.tuning);
}

// The options of the daemon subcommands, alive until the action has run.
struct DaemonCommandOptions {
  DaemonOptions daemon;
  bool asJson = false;
  int lines = 10;
};

void addStart(CLI::App* daemon, CliAction& action, const std::shared_ptr<DaemonCommandOptions>& o) {
  auto* start = daemon->add_subcommand("start", "start the daemon");
  DaemonOptions& d = o->daemon;
  addDaemonStartOptions(start, d);
  start->add_flag("--foreground", d.foreground, "stay in the foreground; log to stderr too");
  start->add_flag("--new-store", d.newStore,
                  "begin with an empty store although data/data.mdb is gone and an earlier one left traces");
  start->add_flag("--salvage", d.salvage,
                  "if data/data.mdb is damaged, keep it aside and start from every record on its sound pages");
  start->add_option("--from-backup", d.fromBackup,
                    "install this backup (from `keelan store backup`) as the store, keeping the current one aside");
  start->callback([&action, o] { action = [o] { return daemonStart(o->daemon); }; });
}

void addStopStatusRestart(CLI::App* daemon, CliAction& action, const std::shared_ptr<DaemonCommandOptions>& o) {
  DaemonOptions& d = o->daemon;
  auto* stop = daemon->add_subcommand("stop", "stop the daemon (ships keep running)");
  stop->add_option("--timeout", d.timeout, "seconds before SIGKILL (default 10)")->check(CLI::Range(0, 86400));
  stop->add_option("--pid-file", d.pidFile, "PID file");
  stop->callback([&action, o] { action = [o] { return daemonStop(o->daemon); }; });

  auto* status = daemon->add_subcommand("status", "is the daemon running, and how");
  status->add_flag("--json", o->asJson, "print JSON");
  status->add_option("--lines", o->lines, "recent log lines to show (default 10)")->check(CLI::Range(0, 100000));
  status->add_option("--pid-file", d.pidFile, "PID file");
  status->add_option("--socket", d.socket, "control socket");
  status->callback([&action, o] { action = [o] { return daemonStatus(o->daemon, o->asJson, o->lines); }; });

  auto* restart = daemon->add_subcommand("restart", "re-execute the daemon in place (same PID); --cold: stop, then start");
  addDaemonStartOptions(restart, d);
  restart->add_option("--timeout", d.timeout, "seconds before SIGKILL when stopping")->check(CLI::Range(0, 86400));
  restart->add_flag("--cold", d.cold, "stop, then start (ships are adopted)");
  restart->callback([&action, o] { action = [o] { return daemonRestart(o->daemon); }; });
}

}  // namespace

void addDaemonCommands(CLI::App& app, CliAction& action) {
  auto o = std::make_shared<DaemonCommandOptions>();
  auto* daemon = app.add_subcommand("daemon", "start, stop and inspect the daemon");
  daemon->require_subcommand(1);
  addStart(daemon, action, o);
  addStopStatusRestart(daemon, action, o);
}

void startDefaultDaemon() { daemonStart(DaemonOptions{}, true); }

}  // namespace keelan
