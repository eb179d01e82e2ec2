#pragma once
// How the CLI arrives at a daemon's configuration, for every way one starts
// (`daemon start`, the auto-start of `deploy`, the systemd unit's `daemon
// start --foreground`, an in-place or cold `daemon restart`): the defaults,
// then keelan.toml (config_file.h), then the flags the running daemon was
// given (a restart keeps them), then the flags given now. And `keelan daemon
// config [--json] [--check FILE]`, which shows the result.
#include <CLI/CLI.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "keelan/cli_client.h"
#include "keelan/config.h"
#include "keelan/config_options.h"

namespace keelan {

// option → its text as typed ("true" for a boolean flag).
using GivenOptions = std::map<std::string, std::string>;

// Every option of configFields() as a flag of `command` (`--interval` …).
void addConfigOptions(CLI::App* command, GivenOptions& given);
// The flags' layer; a bad value fails with exit 2, naming the flag.
OptionLayer flagLayer(const GivenOptions& given);

// The effective configuration. `running`: the running daemon's status reply
// when restarting it (its flags are kept, its file is read again), else
// nullptr. A bad or missing-but-required file fails with exit 2.
DaemonConfig resolveDaemonConfig(const OptionLayer& flags, const nlohmann::json* running = nullptr);
// For `daemon stop` and `status`, which must work whatever the file says: a
// bad file is a warning on stderr, and the defaults and flags are used.
DaemonConfig resolveDaemonConfigLeniently(const OptionLayer& flags);

void addDaemonConfigCommand(CLI::App* daemon, CliAction& action);

}  // namespace keelan
