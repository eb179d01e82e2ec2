#include "keelan/cli_daemon.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>

#include "keelan/cli_daemon_config.h"
#include "keelan/cli_logs.h"
#include "keelan/cli_render.h"
#include "keelan/config.h"
#include "keelan/daemonize.h"
#include "keelan/pidfd.h"
#include "keelan/pidfile.h"
#include "keelan/time_util.h"

namespace keelan {

using nlohmann::json;

namespace {

struct DaemonOptions {
  GivenOptions given;  // the options of the configuration (cli_daemon_config.h)
  bool foreground = false;
  int timeout = 10;
  bool cold = false;
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

// What a start asks for beyond the configuration: done once, by this start.
void addStartRequests(const DaemonOptions& options, DaemonConfig& config) {
  copyTuning(options.tuning, config);
  config.foreground = options.foreground;
  config.newStore = options.newStore;
  config.salvage = options.salvage;
  if (!options.fromBackup.empty()) config.fromBackup = absolutePath(options.fromBackup, currentDirectory());
}

DaemonConfig daemonConfig(const DaemonOptions& options) {
  DaemonConfig config = resolveDaemonConfig(flagLayer(options.given));
  addStartRequests(options, config);
  return config;
}

// ------------------------------------------------------------ start, stop

int startWith(const DaemonConfig& config, const DaemonOptions& options, bool quiet = false) {
  if (options.foreground) fail(kExitFailed, execDaemonInPlace(config));
  StartResult started = startDetachedDaemon(config);
  if (!started.ok) fail(kExitFailed, started.message);
  // Ready means it answers on its socket: check it.
  DaemonClient client = connectOrFail(config.paths.socket);
  callOrFail(client, {{"op", "ping"}});
  if (!quiet) std::cout << "keelan daemon started (pid " << started.pid << ")\n";
  return kExitOk;
}

int daemonStart(const DaemonOptions& options, bool quiet = false) {
  return startWith(daemonConfig(options), options, quiet);
}

// Owns a pidfd.
struct PidfdCloser {
  int fd;
  ~PidfdCloser() { close(fd); }
};

int stopByPidFile(const std::string& pidFile, int timeout);

int daemonStop(const DaemonOptions& options) {
  return stopByPidFile(resolveDaemonConfigLeniently(flagLayer(options.given)).paths.pidFile, options.timeout);
}

int stopByPidFile(const std::string& pidFile, int timeout) {
  PidFileState state = probePidFile(pidFile);
  if (!state.locked || state.pid <= 0) {
    std::cout << "keelan daemon is not running\n";
    return kExitOk;
  }
  pid_t pid = state.pid;
  std::string refused;
  int pidfd = openVerifiedDaemonPidfd(state, pidFile, getuid(), refused);
  if (pidfd < 0) fail(kExitFailed, refused);
  PidfdCloser closer{pidfd};
  if (pidfdSendSignal(pidfd, SIGTERM) != 0)
    fail(kExitFailed, "cannot signal the daemon (pid " + std::to_string(pid) + "): " + strerror(errno));
  auto stopped = [&] { return !probePidFile(pidFile).locked && processGone(pid); };
  if (!waitUntil(monotonicMs() + int64_t{timeout} * 1000, stopped)) {
    std::cerr << "keelan: warning: the daemon (pid " << pid << ") did not stop within " << timeout
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
  DaemonConfig config = resolveDaemonConfigLeniently(flagLayer(options.given));
  std::string socketPath = options.given.count("socket") ? config.paths.socket : clientSocket(config.paths);
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

// The running daemon's status reply; nullopt when none answers.
std::optional<json> runningStatus(const std::string& socketPath) {
  DaemonClient client;
  if (!connectWithin(client, socketPath).empty()) return std::nullopt;
  auto reply = callWithin(client, {{"op", "status"}});
  if (!reply || !reply->value("ok", false)) return std::nullopt;
  return reply;
}

// What `wanted` changes that an in-place restart cannot: the daemon keeps
// its socket, PID file, log file and base across the exec.
std::string coldChanges(const json& status, const DaemonConfig& wanted) {
  std::string names;
  auto add = [&](const std::string& name) { names += (names.empty() ? "" : ", ") + name; };
  if (status.value("baseDirectory", wanted.paths.base) != wanted.paths.base) add("base");
  for (const ConfigField* field : changedOptions(status["config"].value("options", json::object()), wanted))
    if (field->change == Change::cold) add(field->option);
  return names;
}

// Sends the `restart` request, then waits for the new image; its PID.
pid_t restartWith(const json& request, const std::string& socketPath, const DaemonConfig& wanted) {
  DaemonClient client = connectOrFail(socketPath);
  json response = callOrFail(client, request);
  pid_t pid = response["pid"].get<pid_t>();
  DaemonConfig reached = wanted;
  reached.paths.socket = socketPath;
  awaitNewImage(client, pid, response.value("generation", int64_t{-1}), reached);
  return pid;
}

int restartInPlace(const json& status, const DaemonConfig& wanted, const std::string& socketPath) {
  if (auto cold = coldChanges(status, wanted); !cold.empty())
    fail(kExitUsage, cold + " cannot change in place (an in-place restart keeps the socket, PID file, log file and "
                            "base); use `keelan daemon restart --cold` (stop, then start; ships are adopted)");
  json changes = json::object();
  std::string changed;
  for (const ConfigField* field : changedOptions(status["config"].value("options", json::object()), wanted)) {
    changes[field->option] = fieldValue(wanted, *field);
    changed += (changed.empty() ? "" : ", ") + std::string(field->option);
  }
  json request = {{"op", "restart"}, {"config", changes}, {"sources", wanted.optionSources},
                  {"configFile", wanted.configFile}};
  pid_t pid = restartWith(request, socketPath, wanted);
  std::cout << "keelan daemon restarted in place (pid " << pid << ")"
            << (changed.empty() ? "" : "; changed: " + changed) << "\n";
  return kExitOk;
}

// The in-place restart of a daemon too old to report its configuration: it
// takes a new interval and nothing else.
int restartOldDaemon(const DaemonOptions& options, const std::string& socketPath, const DaemonConfig& wanted) {
  for (const auto& [option, text] : options.given)
    if (option != "interval")
      fail(kExitUsage, "the running daemon cannot change --" + option + " in place; use `keelan daemon restart --cold`");
  json request = {{"op", "restart"}};
  if (options.given.count("interval")) request["intervalSeconds"] = wanted.intervalSeconds;
  pid_t pid = restartWith(request, socketPath, wanted);
  std::cout << "keelan daemon restarted in place (pid " << pid << ")\n";
  return kExitOk;
}

// Every restart reads keelan.toml again and keeps the flags the running
// daemon was given, unless given new ones.
int daemonRestart(const DaemonOptions& options) {
  OptionLayer flags = flagLayer(options.given);
  DaemonConfig here = resolveDaemonConfig({});  // where the running daemon is (a bad file fails here)
  std::string socketPath = clientSocket(here.paths);
  std::optional<json> status = runningStatus(socketPath);
  if (std::string before = clientSocket(basePaths()); !status && before != socketPath) {
    // The file may name a new socket that the running daemon does not use yet.
    status = runningStatus(before);
    if (status) socketPath = before;
  }
  if (!status) {
    // None runs, or it does not answer: stop whatever holds the PID file, then start.
    stopByPidFile(here.paths.pidFile, options.timeout);
    return daemonStart(options);
  }
  DaemonConfig wanted = resolveDaemonConfig(flags, &*status);
  addStartRequests(options, wanted);
  if (options.cold) {
    stopByPidFile(status->value("pidFile", here.paths.pidFile), options.timeout);
    return startWith(wanted, options);
  }
  if (!status->contains("config")) return restartOldDaemon(options, socketPath, wanted);
  return restartInPlace(*status, wanted, socketPath);
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
  addConfigOptions(command, options.given);
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
  stop->add_option_function<std::string>("--pid-file", [&d](const std::string& v) { d.given["pid-file"] = v; }, "PID file");
  stop->callback([&action, o] { action = [o] { return daemonStop(o->daemon); }; });

  auto* status = daemon->add_subcommand("status", "is the daemon running, and how");
  status->add_flag("--json", o->asJson, "print JSON");
  status->add_option("--lines", o->lines, "recent log lines to show (default 10)")->check(CLI::Range(0, 100000));
  status->add_option_function<std::string>("--pid-file", [&d](const std::string& v) { d.given["pid-file"] = v; },
                                           "PID file");
  status->add_option_function<std::string>("--socket", [&d](const std::string& v) { d.given["socket"] = v; },
                                           "control socket");
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
  addDaemonConfigCommand(daemon, action);
}

void startDefaultDaemon() { daemonStart(DaemonOptions{}, true); }

}  // namespace keelan
