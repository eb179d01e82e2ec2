#pragma once
// The ship commands: deploy, ps, inspect, stop, wait, rm, metrics and events,
// each one request (or a stream) over the daemon's socket.
#include <CLI/CLI.hpp>

#include <map>
#include <string>
#include <vector>

#include "keelan/cli_client.h"

namespace keelan {

// Connects to the daemon of `paths`, starting one (as `daemon start` would)
// when none runs: deploy and apply.
DaemonClient connectStartingIfNeeded(const Paths& paths);
// --label KEY=VALUE options as a selector or a ship's labels; usage error
// (exit 2) on a malformed one.
std::map<std::string, std::string> labelOptions(const std::vector<std::string>& pairs);

// In the order `keelan --help` lists them: deploy, ps, inspect, stop, wait.
void addShipCommands(CLI::App& app, CliAction& action);
// After `logs`: rm and metrics.
void addRemoveAndMetricsCommands(CLI::App& app, CliAction& action);
// Last: events.
void addEventsCommand(CLI::App& app, CliAction& action);

}  // namespace keelan
