// The `keelan` command line: a table of subcommands, each registered by its
// module (cli_daemon, cli_ships, cli_logs, cli_store), then one dispatch.
#include "keelan/cli.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "keelan/cli_apply.h"
#include "keelan/cli_client.h"
#include "keelan/cli_completion.h"
#include "keelan/cli_daemon.h"
#include "keelan/cli_logs.h"
#include "keelan/cli_ships.h"
#include "keelan/cli_store.h"
#include "keelan/cli_verbs.h"
#include "keelan/config_file.h"
#include "keelan/version.h"

namespace keelan {

namespace {

// Every subcommand, in the order `keelan --help` lists them.
constexpr void (*kCommands[])(CLI::App&, CliAction&) = {
    addDaemonCommands,            // daemon start|stop|status|restart
    addShipCommands,              // deploy, ps, inspect, stop, wait
    addVerbCommands,              // restart, kill, reload
    addApplyCommand,              // apply
    addLogsCommand,               // logs
    addRemoveAndMetricsCommands,  // rm, metrics
    addStoreCommands,             // store backup|check
    addEventsCommand,             // events
    addCompletionCommand,         // completion (last: it reads the others)
};

// CLI11's own parse error codes (105, 106, 109…) become the usage error.
int parseOrExit(CLI::App& app, int argc, char** argv, bool& parsed) {
  parsed = false;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "keelan: " << e.what() << "\n";
    std::cerr << "Run with --help for more information.\n";
    return kExitUsage;
  }
  parsed = true;
  return kExitOk;
}

// Only here does an error become an exit code.
int runAction(const CliAction& action) {
  try {
    return action ? action() : kExitUsage;
  } catch (const CliError& e) {
    std::cerr << "keelan: " << e.message << "\n";
    return e.code;
  } catch (const std::exception& e) {
    std::cerr << "keelan: " << e.what() << "\n";
    return kExitFailed;
  }
}

}  // namespace

int runCli(int argc, char** argv) {
  CLI::App app{"keelan: a supervisor that knows exactly how every ship ended"};
  app.set_version_flag("--version", std::string("keelan ") + kVersion);
  app.require_subcommand(1);
  app.fallthrough();  // before the subcommands, so --timeout may follow them
  double timeoutSeconds = 30;
  app.add_option("--timeout", timeoutSeconds,
                 "seconds to wait for each answer of the daemon (default 30; env KEELAN_TIMEOUT); "
                 "after a subcommand that has its own --timeout, give it before the subcommand")
      ->envname("KEELAN_TIMEOUT")
      ->check(CLI::Range(0.001, 86400.0));
  std::string configFile;
  app.add_option("--config", configFile,
                 "the daemon's configuration file for commands that start or restart one "
                 "(default: KEELAN_CONFIG, else BASE/keelan.toml)");
  CliAction action;
  for (auto addCommands : kCommands) addCommands(app, action);
  bool parsed = false;
  int code = parseOrExit(app, argc, argv, parsed);
  if (!parsed) return code;
  setCallTimeoutMs(static_cast<int>(timeoutSeconds * 1000));
  setConfigFileOption(configFile);
  return runAction(action);
}

}  // namespace keelan
