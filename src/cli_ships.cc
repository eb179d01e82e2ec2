#include "keelan/cli_ships.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>

#include "keelan/cli_daemon.h"
#include "keelan/cli_render.h"
#include "keelan/exit_status.h"
#include "keelan/fs_trust.h"
#include "keelan/json_text.h"
#include "keelan/protocol.h"
#include "keelan/ship.h"
#include "keelan/ship_file.h"
#include "keelan/time_util.h"

namespace keelan {

using nlohmann::json;

DaemonClient connectStartingIfNeeded(const Paths& paths) {
  std::string socketPath = clientSocket(paths);
  DaemonClient client;
  int err = 0;
  std::string refused = connectWithin(client, socketPath, &err);
  if (refused.empty()) return client;
  if (err == EINTR) fail(kExitFailed, notAcceptedText());
  if (err != ENOENT && err != ECONNREFUSED) fail(kExitFailed, refused);
  startDefaultDaemon();
  std::cerr << "keelan: no daemon was running on " << paths.base << "; started one\n";
  return connectOrFail(socketPath);
}

namespace {

// ------------------------------------------------------------ deploy

struct DeployOptions {
  std::string name, root, cwd, file, user, restart, onExit, maxLogSize, reloadSignal, killMode;
  int maxLogFiles = 0;
  std::vector<std::string> env, command, envFiles, labels, limits;
  bool replace = false, wait = false;

  bool flagsGiven() const {
    return !root.empty() || !cwd.empty() || !env.empty() || !command.empty() || !user.empty() || !restart.empty() ||
           !onExit.empty() || !maxLogSize.empty() || maxLogFiles > 0 || !reloadSignal.empty() || !killMode.empty() ||
           !envFiles.empty() || !labels.empty() || !limits.empty();
  }
};

// One ship's definition from a TOML or JSON ship file (ship_file.h).
json readOneShip(const std::string& path) {
  auto ships = readShipFile(path);
  if (!ships) fail(kExitUsage, ships.error().message);
  if (ships.value().size() != 1)
    fail(kExitUsage, path + " is a fleet file of " + std::to_string(ships.value().size()) + " ships; use keelan apply");
  return ships.value().front().ship;
}

void applyFlags(const DeployOptions& o, const std::string& cwd, json& ship) {
  if (!o.root.empty()) ship["root"] = absolutePath(o.root, cwd);
  if (!o.cwd.empty()) ship["cwd"] = o.cwd;
  if (!o.user.empty()) ship["user"] = o.user;
  if (!o.restart.empty()) ship["restart"] = o.restart;
  if (!o.onExit.empty()) ship["onExit"] = o.onExit;
  if (!o.maxLogSize.empty()) ship["maxLogSize"] = o.maxLogSize;
  if (o.maxLogFiles > 0) ship["maxLogFiles"] = o.maxLogFiles;
  if (!o.reloadSignal.empty()) ship["reloadSignal"] = o.reloadSignal;
  if (!o.killMode.empty()) ship["killMode"] = o.killMode;
  if (!o.command.empty()) ship["command"] = o.command;
  if (!o.envFiles.empty()) {
    json files = json::array();
    for (const auto& file : o.envFiles) files.push_back(absolutePath(file, cwd));
    ship["envFile"] = files;
  }
  if (!o.labels.empty()) ship["labels"] = labelOptions(o.labels);
  for (const auto& pair : o.limits) {
    size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) fail(kExitUsage, "--limit takes NAME=N[:M], got '" + pair + "'");
    if (!ship.contains("limits") || !ship["limits"].is_object()) ship["limits"] = json::object();
    ship["limits"][pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  for (const auto& pair : o.env) {
    size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) fail(kExitUsage, "--env takes KEY=VALUE, got '" + pair + "'");
    if (!ship.contains("env") || !ship["env"].is_object()) ship["env"] = json::object();
    ship["env"][pair.substr(0, eq)] = pair.substr(eq + 1);
  }
}

// The ship definition the flags and --file give (null: neither), checked
// here so that usage errors need no daemon.
json shipFromOptions(const DeployOptions& o) {
  std::string cwd = currentDirectory();
  if (!o.restart.empty() && !parseRestartPolicy(o.restart))
    fail(kExitUsage, "--restart: '" + o.restart + "' is not no, on-failure[:MAX] or always[:MAX]");
  json ship;
  if (!o.file.empty()) ship = readOneShip(o.file);
  if (o.file.empty() && !o.flagsGiven()) return ship;
  if (ship.is_null()) ship = json::object();
  applyFlags(o, cwd, ship);
  try {
    ShipSpec spec = shipSpecFromJson(ship, o.name);
    spec.name = o.name;
    bool amending = o.command.empty() && o.file.empty();
    if (auto e = validateShipSpec(spec); !e.empty() && !(amending && spec.command.empty())) fail(kExitUsage, e);
  } catch (const std::invalid_argument& e) {
    fail(kExitUsage, e.what());
  }
  return ship;
}

// Never deployed: fall back to BASE_DIRECTORY/ships/NAME.toml, else NAME.json.
json shipFromShipsDirectory(const Paths& paths, const std::string& name) {
  std::string shipFile = paths.shipsDir + "/" + name + ".toml";
  if (access(shipFile.c_str(), F_OK) != 0) shipFile = paths.shipsDir + "/" + name + ".json";
  if (access(shipFile.c_str(), F_OK) != 0)
    fail(kExitUsage, "ship '" + name + "' was never deployed and neither " + paths.shipsDir + "/" + name +
                         ".toml nor " + shipFile + " exists; give a command after --, or --file SHIP.toml");
  // The daemon runs this as root: only a file nobody else could have planted.
  if (auto e = checkTrustedFile(shipFile, getuid()); !e.empty()) fail(kExitFailed, e);
  return readOneShip(shipFile);
}

int deployCommand(const DeployOptions& o) {
  if (auto e = validateShipName(o.name); !e.empty()) fail(kExitUsage, e);
  Paths paths = basePaths();
  json ship = shipFromOptions(o);
  DaemonClient client = connectStartingIfNeeded(paths);
  json request = {{"op", "deploy"}, {"name", o.name}, {"replace", o.replace}};
  if (!ship.is_null()) request["ship"] = ship;
  // Flags without a command or a file amend the last definition.
  if (o.flagsGiven() && o.command.empty() && o.file.empty()) request["merge"] = true;
  // --replace waits for the old run to stop: up to the daemon's 10 s, then SIGKILL.
  int replaceMs = o.replace ? 10000 : 0;
  auto response = callWithin(client, request, replaceMs);
  if (!response) fail(kExitFailed, kNoAnswer);
  if (!response->value("ok", false) && errorCode(*response) == errc::not_found && ship.is_null()) {
    request["ship"] = shipFromShipsDirectory(paths, o.name);
    response = callWithin(client, request, replaceMs);
    if (!response) fail(kExitFailed, kNoAnswer);
  }
  if (!response->value("ok", false)) {
    // With --wait, a spawn that failed ends like `keelan wait` on it.
    if (o.wait && errorCode(*response) == errc::spawn_failed) {
      std::cerr << "keelan: " << errorText(*response) << "\n";
      return 127;
    }
    fail(codeFor(*response), errorText(*response));
  }
  std::cout << "deployed " << o.name << " (pid " << (*response)["ship"]["processId"] << ")\n";
  if (!o.wait) return kExitOk;
  // Waiting for the ship has no deadline.
  json waited = checkResponse(client.call({{"op", "wait"}, {"name", o.name}}));
  return printWaitResult(o.name, waited["ship"], false);
}

// ------------------------------------------------------------ ps, inspect

// `ps --json` prints the reply's `ships` as ships.dump() would. The daemon
// writes its replies in that very form, so when this one is, print its text
// as it came: no DOM of every record (10,000 ships: a 5.6 MB line).
// Otherwise (an error, or a reply in another form) parse it as before.
int printShipsJson(DaemonClient& client, const json& request) {
  client.send(request);
  int64_t started = monotonicMs();
  std::optional<std::string_view> line = client.receiveLine(callTimeoutMs());
  if (!line && monotonicMs() - started >= callTimeoutMs()) fail(kExitFailed, noAnswerText(client, callTimeoutMs()));
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
  json response = checkResponse(parsed.is_discarded() ? std::nullopt : std::optional<json>(std::move(parsed)));
  std::cout << response["ships"].dump() << "\n";
  return kExitOk;
}

int psCommand(bool all, bool asJson, const std::vector<std::string>& labels) {
  auto selector = labelOptions(labels);
  DaemonClient client = connectOrFail(clientSocket(basePaths()));
  json request = {{"op", "list"}, {"all", all}};
  if (!selector.empty()) request["labels"] = selector;
  if (asJson) return printShipsJson(client, request);
  printShipTable(callOrFail(client, request)["ships"]);
  return kExitOk;
}

int inspectCommand(const std::string& name, bool asJson) {
  if (auto e = validateShipName(name); !e.empty()) fail(kExitUsage, e);
  DaemonClient client = connectOrFail(clientSocket(basePaths()));
  json response = callOrFail(client, {{"op", "inspect"}, {"name", name}});
  const json& ship = response["ship"];
  if (asJson)
    std::cout << ship.dump(2) << "\n";
  else
    printShipDetails(ship);
  return kExitOk;
}

// ------------------------------------------------------------ wait, stop, rm

// Until the daemon answers again on `socketPath` (for up to the --timeout).
DaemonClient reconnect(const std::string& socketPath, const std::string& name) {
  int64_t deadline = monotonicMs() + callTimeoutMs();
  for (;;) {
    DaemonClient fresh;
    if (connectWithin(fresh, socketPath).empty()) return fresh;
    if (monotonicMs() > deadline)
      fail(kExitFailed, "lost the daemon while waiting for " + name + "; it did not come back within " +
                            secondsText(callTimeoutMs()) + " s");
    usleep(20000);
  }
}

// A restart of the daemon closes our connection: reconnect and ask again, so
// `wait` outlives daemon restarts. The wait itself has no deadline, but a
// daemon that does not answer a ping first is reported at once.
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
    client = reconnect(socketPath, name);
  }
}

// Ship names, or else `all` (--all, --all-stopped), never both nor neither.
json namesOrAll(const std::vector<std::string>& names, bool all, const char* allFlag, const char* allField) {
  if (all && !names.empty()) fail(kExitUsage, std::string("give ship names or ") + allFlag + ", not both");
  if (all) return {{allField, true}};
  if (names.empty()) fail(kExitUsage, std::string("give ship names, ") + allFlag + " or --label KEY=VALUE");
  for (const auto& name : names)
    if (auto e = validateShipName(name); !e.empty()) fail(kExitUsage, e);
  return {{"names", names}};
}

// Names, --all, or a label selector the daemon resolves.
int stopCommand(const std::vector<std::string>& names, bool all, const std::vector<std::string>& labels,
                const std::string& signal, int timeout, bool asJson) {
  auto selector = labelOptions(labels);
  if (!selector.empty() && (all || !names.empty()))
    fail(kExitUsage, "stop: give ship names, --all or --label KEY=VALUE, not several");
  json request = selector.empty() ? namesOrAll(names, all, "--all", "all") : json{{"labels", selector}};
  if (parseSignal(signal) == 0) fail(kExitUsage, "--signal: '" + signal + "' is not a signal");
  DaemonClient client = connectOrFail(clientSocket(basePaths()));
  request.update({{"op", "stop"}, {"signal", signal}, {"timeoutSeconds", timeout}});
  // The reply comes once the ships are dead: after their timeout, SIGKILL and the reap.
  json response = callOrFail(client, request, timeout * 1000);
  if (asJson) {
    std::cout << response["ships"].dump(2) << "\n";
    return kExitOk;
  }
  for (const auto& ship : response["ships"]) std::cout << ship["name"].get<std::string>() << " " << endingOf(ship) << "\n";
  return kExitOk;
}

// All or nothing: one running ship (without --force) or unknown name
// fails the whole request, and nothing is removed. With --label, the
// daemon first lists the ships the selector names.
int rmCommand(const std::vector<std::string>& names, const std::vector<std::string>& labels, bool allStopped,
              bool force) {
  auto selector = labelOptions(labels);
  if (!selector.empty() && (allStopped || !names.empty()))
    fail(kExitUsage, "rm: give ship names, --all-stopped or --label KEY=VALUE, not several");
  if (allStopped && force) fail(kExitUsage, "--all-stopped removes only stopped ships: --force makes no sense with it");
  DaemonClient client = connectOrFail(clientSocket(basePaths()));
  json request;
  if (selector.empty()) {
    request = namesOrAll(names, allStopped, "--all-stopped", "allStopped");
  } else {
    std::vector<std::string> selected = labelledShips(client, selector);
    if (selected.empty()) return kExitOk;  // nothing carries the label
    request = {{"names", selected}};
  }
  request.update({{"op", "rm"}, {"force", force}});
  json response = callOrFail(client, request, force ? 10000 : 0);
  for (const auto& ship : response["ships"]) std::cout << "removed " << ship.value("name", "") << "\n";
  return kExitOk;
}

// ------------------------------------------------------------ events

// A new subscription once the daemon is back (for up to the --timeout).
DaemonClient resubscribe(const std::string& socketPath) {
  int64_t deadline = monotonicMs() + callTimeoutMs();
  for (;;) {
    DaemonClient fresh;
    if (connectWithin(fresh, socketPath).empty()) {
      auto subscribed = fresh.call({{"op", "events"}}, static_cast<int>(std::max<int64_t>(1, deadline - monotonicMs())));
      if (subscribed && subscribed->value("ok", false)) {
        std::cerr << "keelan: reconnected to the daemon (pid " << peerPid(fresh)
                  << "); events while disconnected are not shown\n";
        return fresh;
      }
    }
    if (monotonicMs() >= deadline)
      fail(kExitFailed, "lost the daemon on " + socketPath + "; it did not come back within " +
                            secondsText(callTimeoutMs()) + " s");
    usleep(20000);
  }
}

// Events have no deadline. When the connection ends (the daemon stopped,
// died, or restarted in place or cold), it reconnects for up to the
// --timeout and says so on stderr; events in between are not seen.
// --no-reconnect: the end of the connection ends the command, exit 1.
int eventsCommand(bool asJson, bool reconnectAfterLoss) {
  std::string socketPath = clientSocket(basePaths());
  DaemonClient client = connectOrFail(socketPath);
  callOrFail(client, {{"op", "events"}});
  std::cout.flush();
  for (;;) {
    while (auto event = client.receive()) std::cout << (asJson ? event->dump() : eventLine(*event)) << std::endl;
    if (!reconnectAfterLoss) fail(kExitFailed, "lost the daemon on " + socketPath);
    std::cerr << "keelan: lost the daemon on " << socketPath << "; reconnecting\n";
    client = resubscribe(socketPath);
  }
}

// ------------------------------------------------------------ registration

// The options of the ship subcommands, alive until the action has run.
struct ShipCommandOptions {
  DeployOptions deploy;
  bool asJson = false, all = false, force = false, noReconnect = false;
  std::string name, signal = "TERM";
  std::vector<std::string> names, labels;
  int timeout = 10;
};
using Shared = std::shared_ptr<ShipCommandOptions>;

void addDeploy(CLI::App& app, CliAction& action, const Shared& o) {
  DeployOptions& d = o->deploy;
  auto* deploy = app.add_subcommand("deploy", "run a ship");
  deploy->add_option("name", d.name, "ship name")->required();
  deploy->add_option("--root", d.root, "chroot directory");
  deploy->add_option("--cwd", d.cwd, "working directory (inside the root)");
  deploy->add_option("--env", d.env, "KEY=VALUE for the ship's environment (repeatable)")
      ->allow_extra_args(false);  // one value each, so "--env A=1 -- cmd" ends at --
  deploy->add_option("--user", d.user, "run as this user (root daemon only)");
  deploy->add_option("--file", d.file, "ship file (TOML or JSON)");
  deploy->add_option("--env-file", d.envFiles, "KEY=VALUE file read at each start (repeatable)")->allow_extra_args(false);
  deploy->add_option("--label", d.labels, "KEY=VALUE label (repeatable); ps, stop and rm select by it")
      ->allow_extra_args(false);
  deploy->add_option("--limit", d.limits, "NAME=N[:M] rlimit (nofile, nproc, core, as, fsize, cpu, memlock, stack; "
                                          "infinity allowed; repeatable)")
      ->allow_extra_args(false);
  deploy->add_option("--restart", d.restart, "no (default), on-failure[:MAX] or always[:MAX]");
  deploy->add_option("--on-exit", d.onExit, "shell command run after each exit of this ship");
  deploy->add_option("--max-log-size", d.maxLogSize, "rotate this ship's logs past this size (e.g. 10M)");
  deploy->add_option("--max-log-files", d.maxLogFiles, "rotated log files kept for this ship")->check(CLI::Range(1, 1000));
  deploy->add_option("--reload-signal", d.reloadSignal, "what `keelan reload` sends this ship (default HUP)");
  deploy->add_option("--kill-mode", d.killMode, "control-group (stop every process of the ship) or process (only the main one)")
      ->check(CLI::IsMember({"control-group", "process"}));
  deploy->add_flag("--replace", d.replace, "stop a running ship of this name first");
  deploy->add_flag("--wait", d.wait, "wait for the ship to stop and exit with its code");
  deploy->add_option("command", d.command, "COMMAND [ARG...] after --");
  deploy->callback([&action, o] { action = [o] { return deployCommand(o->deploy); }; });
}

void addPsInspect(CLI::App& app, CliAction& action, const Shared& o) {
  auto* ps = app.add_subcommand("ps", "list ships");
  ps->add_flag("--all,-a", o->all, "include stopped and failed ships");
  ps->add_flag("--json", o->asJson, "print JSON");
  ps->add_option("--label", o->labels, "only ships with this KEY=VALUE label (repeatable: all of them)")
      ->allow_extra_args(false);
  ps->callback([&action, o] { action = [o] { return psCommand(o->all, o->asJson, o->labels); }; });

  auto* inspect = app.add_subcommand("inspect", "a ship's whole record and run history");
  inspect->add_option("name", o->name, "ship name")->required();
  inspect->add_flag("--json", o->asJson, "print JSON");
  inspect->callback([&action, o] { action = [o] { return inspectCommand(o->name, o->asJson); }; });
}

void addStopWait(CLI::App& app, CliAction& action, const Shared& o) {
  auto* stop = app.add_subcommand("stop", "stop ships");
  stop->add_option("names", o->names, "ship names");
  stop->add_flag("--all", o->all, "every running ship, and every pending restart");
  stop->add_option("--label", o->labels, "the ships with this KEY=VALUE label (repeatable: all of them)")
      ->allow_extra_args(false);
  stop->add_option("--signal,-s", o->signal, "signal to send first (default TERM)");
  stop->add_option("--timeout,-t", o->timeout, "seconds before SIGKILL (default 10)")->check(CLI::Range(0, 86400));
  stop->add_flag("--json", o->asJson, "print JSON");
  stop->callback([&action, o] { action = [o] { return stopCommand(o->names, o->all, o->labels, o->signal, o->timeout, o->asJson); }; });

  auto* wait = app.add_subcommand("wait", "wait for a ship to stop; exit with its code");
  wait->add_option("name", o->name, "ship name")->required();
  wait->add_flag("--json", o->asJson, "print JSON");
  wait->callback([&action, o] { action = [o] { return waitCommand(o->name, o->asJson); }; });
}

int metricsCommand() {
  DaemonClient client = connectOrFail(clientSocket(basePaths()));
  std::cout << callOrFail(client, {{"op", "metrics"}})["text"].get<std::string>();
  return kExitOk;
}

}  // namespace

void addShipCommands(CLI::App& app, CliAction& action) {
  auto o = std::make_shared<ShipCommandOptions>();
  addDeploy(app, action, o);
  addPsInspect(app, action, o);
  addStopWait(app, action, o);
}

void addRemoveAndMetricsCommands(CLI::App& app, CliAction& action) {
  auto o = std::make_shared<ShipCommandOptions>();
  auto* rm = app.add_subcommand("rm", "forget stopped ships");
  rm->add_option("names", o->names, "ship names");
  rm->add_option("--label", o->labels, "the ships with this KEY=VALUE label (repeatable: all of them)")
      ->allow_extra_args(false);
  rm->add_flag("--force,-f", o->force, "stop them first if they run");
  rm->add_flag("--all-stopped", o->all, "every ship that is neither running nor waiting to restart");
  rm->callback([&action, o] { action = [o] { return rmCommand(o->names, o->labels, o->all, o->force); }; });

  auto* metrics = app.add_subcommand("metrics", "the daemon's metrics, in Prometheus text format");
  metrics->callback([&action] { action = metricsCommand; });
}

void addEventsCommand(CLI::App& app, CliAction& action) {
  auto o = std::make_shared<ShipCommandOptions>();
  auto* events = app.add_subcommand("events", "stream state changes");
  events->add_flag("--json", o->asJson, "one JSON object per line");
  events->add_flag("--no-reconnect", o->noReconnect, "exit 1 when the daemon goes away instead of reconnecting");
  events->callback([&action, o] { action = [o] { return eventsCommand(o->asJson, !o->noReconnect); }; });
}

}  // namespace keelan
