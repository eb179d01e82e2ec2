#pragma once
// The verbs that act on running ships without redefining them: restart
// (stop, then start with the same definition), kill (a signal, nothing
// more) and reload (each ship's own reload signal). Each is one request.
#include <CLI/CLI.hpp>

#include "keelan/cli_client.h"

namespace keelan {

// After stop and wait: restart, kill, reload.
void addVerbCommands(CLI::App& app, CliAction& action);

}  // namespace keelan
