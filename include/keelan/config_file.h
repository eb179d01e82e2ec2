#pragma once
// keelan.toml, the daemon's configuration file: which file, and its keys
// read into an OptionLayer (config_options.h). Its keys are the options of
// configFields() (the long options of `daemon start`). keelan runs as root,
// so the file is hostile input: at most 1 MiB, a regular file that only root
// (or the caller) can write, and every unknown key, wrong type or bad value
// is refused as "FILE:LINE:COLUMN: message". Only the daemon commands read
// it: toml++ stays out of the other commands.
#include <optional>
#include <string>
#include <string_view>

#include "keelan/config_options.h"
#include "keelan/error.h"

namespace keelan {

inline constexpr size_t kMaxConfigFileBytes = size_t{1} << 20;

// `keelan --config PATH`, set by runCli before any command runs.
void setConfigFileOption(const std::string& path);

struct ConfigFileChoice {
  std::string path;       // absolute
  bool required = false;  // given explicitly: absent is an error
};
// --config PATH; else KEELAN_CONFIG; else, when BASE_DIRECTORY came from
// the defaults file, its KEELAN_CONFIG=; else `runningFile` (the file of the
// daemon being restarted) when not empty; else BASE/keelan.toml (optional).
ConfigFileChoice chooseConfigFile(const std::string& base, const std::string& runningFile = "");

// TOML text to options; `name` prefixes messages, relative paths resolve
// against `directory`.
Result<OptionLayer> parseConfigText(std::string_view text, const std::string& name, const std::string& directory);
// The chosen file's options; nullopt when an optional file is absent.
Result<std::optional<OptionLayer>> readConfigFile(const ConfigFileChoice& choice);

}  // namespace keelan
