#pragma once
// `keelan daemon start|stop|status|restart`: the daemon seen from outside,
// through its PID file, its socket and `keelan __daemon` (daemonize.h). It
// never runs the daemon inside the CLI's own process image.
#include <CLI/CLI.hpp>

#include "keelan/cli_client.h"

namespace keelan {

void addDaemonCommands(CLI::App& app, CliAction& action);

// Starts a daemon with the default configuration and waits until it answers
// (the commands that start one when none runs). Throws CliError on failure.
void startDefaultDaemon();

}  // namespace keelan
