#pragma once
// The ship commands: deploy, ps, inspect, stop, wait, rm, metrics and events,
// each one request (or a stream) over the daemon's socket.
#include <CLI/CLI.hpp>

#include "keelan/cli_client.h"

namespace keelan {

// In the order `keelan --help` lists them: deploy, ps, inspect, stop, wait.
void addShipCommands(CLI::App& app, CliAction& action);
// After `logs`: rm and metrics.
void addRemoveAndMetricsCommands(CLI::App& app, CliAction& action);
// Last: events.
void addEventsCommand(CLI::App& app, CliAction& action);

}  // namespace keelan
