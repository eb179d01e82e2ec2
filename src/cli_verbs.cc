#include "keelan/cli_verbs.h"

#include <iostream>
#include <map>
#include <memory>

#include "keelan/exit_status.h"
#include "keelan/protocol.h"
#include "keelan/ship.h"

namespace keelan {

using nlohmann::json;

namespace {

struct VerbOptions {
  std::vector<std::string> names, labels;
  std::string signal = "TERM";
  int timeout = 10;
  bool asJson = false;
};

// Names or a label selector, checked before any daemon is reached.
std::map<std::string, std::string> checkedSelection(const char* verb, const VerbOptions& o) {
  auto selector = labelOptions(o.labels);
  if (selector.empty() == o.names.empty())
    fail(kExitUsage, std::string(verb) + ": give ship names or --label KEY=VALUE, " +
                         (o.names.empty() ? "one of them" : "not both"));
  for (const auto& name : o.names)
    if (auto e = validateShipName(name); !e.empty()) fail(kExitUsage, e);
  return selector;
}

// The ships named, or those carrying every label (listed by the daemon
// first, as rm does; for a signal only the running ones, as `docker kill
// $(docker ps -q --filter label=…)`); empty: the selector matched nothing.
std::vector<std::string> selectedShips(DaemonClient& client, const std::map<std::string, std::string>& selector,
                                       const VerbOptions& o, bool runningOnly) {
  return selector.empty() ? o.names : labelledShips(client, selector, runningOnly);
}

// Exit 1 when a ship did not start again: its record says why.
int restartCommand(const VerbOptions& o) {
  auto selector = checkedSelection("restart", o);
  DaemonClient client = connectOrFail(clientSocket(basePaths()));
  std::vector<std::string> names = selectedShips(client, selector, o, false);
  if (names.empty()) {  // nothing carries the label
    if (o.asJson) std::cout << "[]\n";
    return kExitOk;
  }
  // Like stop, the reply comes once the old runs are reaped and the new ones spawned.
  json response = callOrFail(client, {{"op", "restart-ships"}, {"names", names}, {"timeoutSeconds", o.timeout}},
                             o.timeout * 1000);
  int code = kExitOk;
  if (o.asJson) std::cout << response["ships"].dump(2) << "\n";
  for (const auto& ship : response["ships"]) {
    std::string name = ship.value("name", "");
    if (ship.value("status", "") != "running") {
      std::cerr << "keelan: ship '" << name << "' did not start again: " << ship.value("error", "not running") << "\n";
      code = kExitFailed;
    } else if (!o.asJson) {
      std::cout << "restarted " << name << " (pid " << ship["processId"] << ")\n";
    }
  }
  return code;
}

// `signal` empty: each ship's reloadSignal (op reload).
int signalCommand(const VerbOptions& o, bool reload) {
  auto selector = checkedSelection(reload ? "reload" : "kill", o);
  if (!reload && parseSignal(o.signal) == 0) fail(kExitUsage, "--signal: '" + o.signal + "' is not a signal");
  DaemonClient client = connectOrFail(clientSocket(basePaths()));
  std::vector<std::string> names = selectedShips(client, selector, o, true);
  if (names.empty()) {
    if (o.asJson) std::cout << "[]\n";
    return kExitOk;
  }
  json request = {{"op", reload ? "reload" : "kill"}, {"names", names}};
  if (!reload) request["signal"] = o.signal;
  json response = callOrFail(client, request);
  if (o.asJson) std::cout << response["ships"].dump(2) << "\n";
  int code = kExitOk;
  for (const auto& ship : response["ships"]) {
    std::string line = ship.value("signal", "") + " to " + ship.value("name", "") + " (pid " +
                       ship["processId"].dump() + ")";
    if (!ship.value("delivered", false)) {
      std::cerr << "keelan: could not send " << line << "\n";
      code = kExitFailed;
    } else if (!o.asJson) {
      std::cout << "sent " << line << "\n";
    }
  }
  return code;
}

}  // namespace

void addVerbCommands(CLI::App& app, CliAction& action) {
  auto o = std::make_shared<VerbOptions>();
  auto* restart = app.add_subcommand("restart", "stop ships, then start them again with the same definition");
  restart->add_option("names", o->names, "ship names");
  restart->add_option("--label", o->labels, "the ships with this KEY=VALUE label (repeatable: all of them)")
      ->allow_extra_args(false);
  restart->add_option("--timeout,-t", o->timeout, "seconds before SIGKILL (default 10)")->check(CLI::Range(0, 86400));
  restart->add_flag("--json", o->asJson, "print JSON");
  restart->callback([&action, o] { action = [o] { return restartCommand(*o); }; });

  auto* kill = app.add_subcommand("kill", "send a signal to running ships (no stop, no SIGKILL)");
  kill->add_option("names", o->names, "ship names");
  kill->add_option("--label", o->labels, "the ships with this KEY=VALUE label (repeatable: all of them)")
      ->allow_extra_args(false);
  kill->add_option("--signal,-s", o->signal, "the signal (default TERM)");
  kill->add_flag("--json", o->asJson, "print JSON");
  kill->callback([&action, o] { action = [o] { return signalCommand(*o, false); }; });

  auto* reload = app.add_subcommand("reload", "send running ships their reload signal (default HUP)");
  reload->add_option("names", o->names, "ship names");
  reload->add_option("--label", o->labels, "the ships with this KEY=VALUE label (repeatable: all of them)")
      ->allow_extra_args(false);
  reload->add_flag("--json", o->asJson, "print JSON");
  reload->callback([&action, o] { action = [o] { return signalCommand(*o, true); }; });
}

}  // namespace keelan
