#pragma once
// Ship files and fleet files, read by the CLI (deploy --file, apply): a TOML
// file whose keys are the long options of `deploy` (kShipKeys maps each to
// today's camelCase JSON field), or a JSON ship file as before. A fleet file
// holds many ships as [ship.NAME] tables; a ship file holds one, named after
// the file (ships/NAME.toml). Files are hostile: at most kMaxShipFileBytes,
// every unknown key, wrong type or bad value an error "FILE:LINE:COLUMN: ...",
// never a crash. The result is the JSON definition the daemon's `deploy`
// takes, so paths in it are paths on the daemon's host.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "keelan/error.h"

namespace keelan {

inline constexpr size_t kMaxShipFileBytes = 1 << 20;
inline constexpr size_t kMaxShipFiles = 1000;  // files one apply reads from its directories

// One row per ship option: its TOML key (deploy's long option) and JSON field.
enum class ShipKeyKind { string, strings, stringOrStrings, stringTable, sizeOrInteger, integer };
struct ShipKey {
  const char* toml;
  const char* json;
  ShipKeyKind kind;
};
extern const ShipKey kShipKeys[13];

struct ShipDefinition {
  std::string name;
  nlohmann::json ship;  // the `ship` of a deploy request
  std::string origin;   // FILE:LINE:COLUMN of its table, for messages
};

// Parses the text of one file named `path` (".toml": TOML, else JSON). A
// TOML file with a [ship] table is a fleet file; otherwise it is one ship
// named after the file's stem.
Result<std::vector<ShipDefinition>> parseShipFileText(std::string_view text, const std::string& path);

// Reads one file (regular, bounded) and parses it.
Result<std::vector<ShipDefinition>> readShipFile(const std::string& path);

// Files, and directories of *.toml and *.json files (sorted by name); a ship
// named twice is an error naming both places.
Result<std::vector<ShipDefinition>> readShipFiles(const std::vector<std::string>& paths);

}  // namespace keelan
