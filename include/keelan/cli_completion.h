#pragma once
// `keelan completion bash|zsh|fish`: a completion script for the shell,
// generated from the CLI's own table of subcommands and options (so it
// never drifts from them), which asks the daemon for ship names as you
// type (`keelan completion --ships`: quiet and fast, nothing when no
// daemon answers).
#include <CLI/CLI.hpp>

#include "keelan/cli_client.h"

namespace keelan {

// Last in the table: it reads every subcommand registered before it.
void addCompletionCommand(CLI::App& app, CliAction& action);

}  // namespace keelan
