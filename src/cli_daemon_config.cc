#include "keelan/cli_daemon_config.h"

#include <iostream>
#include <memory>

#include "keelan/cli_render.h"
#include "keelan/config_file.h"
#include "keelan/daemonize.h"

namespace keelan {

using nlohmann::json;

namespace {

bool isBooleanOption(const ConfigField& field) {
  return std::holds_alternative<bool DaemonConfig::*>(field.member);
}

DaemonConfig configFrom(const ConfigFileChoice& choice, const OptionLayer& flags, const json* running) {
  DaemonConfig config;
  config.paths = basePaths();
  auto file = readConfigFile(choice);
  if (!file) fail(kExitUsage, file.error().message);
  if (file.value()) {
    applyLayer(config, *file.value(), "file");
    config.configFile = choice.path;
  }
  if (running != nullptr && running->contains("config"))
    applyLayer(config, flagLayerOf((*running)["config"].value("options", json::object())), "flag");
  applyLayer(config, flags, "flag");
  config.selfExe = selfExecutable();
  return config;
}

std::string runningFile(const json* running) {
  if (running == nullptr || !running->contains("config")) return "";
  json file = (*running)["config"].value("file", json());
  return file.is_string() ? file.get<std::string>() : "";
}

std::string valueText(const json& value) {
  if (value.is_string()) return value.get<std::string>().empty() ? "\"\"" : value.get<std::string>();
  return value.dump();
}

void printConfig(const DaemonConfig& config, const ConfigFileChoice& choice, bool asJson) {
  if (asJson) {
    json out = configStatusFields(config)["config"];
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << "configuration file: "
            << (config.configFile.empty() ? "none (" + choice.path + " does not exist)" : config.configFile) << "\n";
  std::vector<std::vector<std::string>> rows = {{"OPTION", "VALUE", "SOURCE"}};
  json options = optionsJson(config);
  for (const ConfigField& field : configFields()) {
    if (field.option == nullptr) continue;
    const json& entry = options[field.option];
    rows.push_back({field.option, valueText(entry["value"]), entry["source"].get<std::string>()});
  }
  printTable(rows);
}

struct ConfigCommandOptions {
  GivenOptions given;
  std::string check;
  bool asJson = false;
};

int daemonConfig(const ConfigCommandOptions& o) {
  OptionLayer flags = flagLayer(o.given);
  ConfigFileChoice choice =
      o.check.empty() ? chooseConfigFile(basePaths().base) : ConfigFileChoice{absolutePath(o.check, currentDirectory()), true};
  DaemonConfig config = configFrom(choice, flags, nullptr);
  if (!o.check.empty() && !o.asJson) {
    std::cout << choice.path << ": ok\n";
    return kExitOk;
  }
  printConfig(config, choice, o.asJson);
  return kExitOk;
}

}  // namespace

void addConfigOptions(CLI::App* command, GivenOptions& given) {
  for (const ConfigField& field : configFields()) {
    if (field.option == nullptr) continue;
    std::string name = std::string("--") + field.option;
    std::string option = field.option;
    if (isBooleanOption(field))
      command->add_flag_callback(name, [&given, option] { given[option] = "true"; }, field.help);
    else
      command
          ->add_option_function<std::string>(name, [&given, option](const std::string& text) { given[option] = text; },
                                             field.help)
          ->type_name(field.kind == OptionKind::path ? "PATH" : field.optionMin < field.optionMax ? "INT" : "TEXT");
  }
}

OptionLayer flagLayer(const GivenOptions& given) {
  OptionLayer layer;
  std::string cwd = currentDirectory();
  for (const auto& [option, text] : given) {
    const ConfigField* field = findOption(option);
    if (field == nullptr) continue;
    auto value = optionValueFromText(*field, text);
    if (value) value = checkOptionValue(*field, value.value(), cwd);
    if (!value) fail(kExitUsage, "--" + option + ": " + value.error().message);
    layer[option] = std::move(value).value();
  }
  return layer;
}

DaemonConfig resolveDaemonConfig(const OptionLayer& flags, const json* running) {
  return configFrom(chooseConfigFile(basePaths().base, runningFile(running)), flags, running);
}

DaemonConfig resolveDaemonConfigLeniently(const OptionLayer& flags) {
  try {
    return resolveDaemonConfig(flags);
  } catch (const CliError& e) {
    std::cerr << "keelan: warning: " << e.message << "; using the defaults\n";
  }
  DaemonConfig config;
  config.paths = basePaths();
  applyLayer(config, flags, "flag");
  return config;
}

void addDaemonConfigCommand(CLI::App* daemon, CliAction& action) {
  auto o = std::make_shared<ConfigCommandOptions>();
  auto* command = daemon->add_subcommand(
      "config", "print the effective configuration (keelan.toml, then these flags) and where each value came from");
  command->add_flag("--json", o->asJson, "print JSON");
  command->add_option("--check", o->check, "validate this configuration file; start nothing");
  addConfigOptions(command, o->given);
  command->callback([&action, o] { action = [o] { return daemonConfig(*o); }; });
}

}  // namespace keelan
