#pragma once
// `keelan apply PATH... [--prune] [--dry-run] [--json]`: the ships of fleet
// files, ship files and directories of them, brought to the daemon. Files
// are read and checked here (exit 2 with FILE:LINE:COLUMN before anything
// is sent); the plan (fleet_plan.h) is computed from the daemon's records;
// each step is one request, and a ship that fails does not stop the others
// (exit 1 then). The summary line is applySummary()'s.
#include <CLI/CLI.hpp>

#include "keelan/cli_client.h"

namespace keelan {

void addApplyCommand(CLI::App& app, CliAction& action);

}  // namespace keelan
