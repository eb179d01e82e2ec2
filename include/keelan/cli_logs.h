#pragma once
// Reading logs from the CLI: the last lines of a file whatever its size, and
// `keelan logs NAME [-f]`, which reads the ships' log files directly (the
// daemon need not run) and follows them across rotation.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "keelan/cli_client.h"

namespace keelan {

// The last `count` lines of a file (none when it cannot be opened).
std::vector<std::string> lastLines(const std::string& path, size_t count);

void addLogsCommand(CLI::App& app, CliAction& action);

}  // namespace keelan
