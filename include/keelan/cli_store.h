#pragma once
// `keelan store backup|check`: through the daemon when it answers, else
// offline on the store's files, holding the daemon's lock so that no daemon
// starts meanwhile.
#include <CLI/CLI.hpp>

#include "keelan/cli_client.h"

namespace keelan {

void addStoreCommands(CLI::App& app, CliAction& action);

}  // namespace keelan
