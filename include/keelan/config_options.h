#pragma once
// The daemon's user options (the rows of configFields() that name an
// `option`) as layers. Each layer (keelan.toml, the flags of the running
// daemon, the flags given now) gives some options a checked value; applied
// in that order over the defaults, a later layer wins and every value
// records where it came from ("file", "flag"; otherwise "default"). The same
// check serves a flag's text and a file's value. Pure: no I/O.
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "keelan/config.h"
#include "keelan/error.h"

namespace keelan {

// option → its checked value, as the member holds it (sizes in bytes,
// paths absolute).
using OptionLayer = std::map<std::string, nlohmann::json>;

// Checks `value` (a JSON value as a file or a flag gives it) for `field`:
// its type, its range, and its kind (sizes such as "10M" become bytes;
// paths are made absolute against `directory`). The message names no option.
Result<nlohmann::json> checkOptionValue(const ConfigField& field, const nlohmann::json& value,
                                        const std::string& directory);
// A flag's text as the JSON value a file would hold: an integer for an
// integer option, true for a boolean one given without text, else a string.
Result<nlohmann::json> optionValueFromText(const ConfigField& field, const std::string& text);

// Sets each option of `layer` in `config` and records `source` for it.
void applyLayer(DaemonConfig& config, const OptionLayer& layer, const std::string& source);

// From a running daemon's "config"."options" (optionsJson): the options its
// flags set, so that a restart keeps them unless it is given others.
OptionLayer flagLayerOf(const nlohmann::json& options);
// The options whose value in `wanted` differs from `options` (optionsJson
// of the running daemon), in table order.
std::vector<const ConfigField*> changedOptions(const nlohmann::json& options, const DaemonConfig& wanted);

// An in-place restart's new options (option → value), checked again: each
// must be a live option. Applied to `config` (with `sources` as the new
// sources when given, else as flags); returns one
// line per change ("webhook: '' -> 'http://x'") for the log.
Result<std::vector<std::string>> applyLiveOptions(DaemonConfig& config, const nlohmann::json& options,
                                                  const std::optional<std::map<std::string, std::string>>& sources);

}  // namespace keelan
