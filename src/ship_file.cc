#include "keelan/ship_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <toml++/toml.h>

#include "keelan/protocol.h"
#include "keelan/requests.h"
#include "keelan/ship.h"
#include "keelan/unique_fd.h"

namespace keelan {

using nlohmann::json;

const ShipKey kShipKeys[13] = {
    {"root", "root", ShipKeyKind::string},
    {"cwd", "cwd", ShipKeyKind::string},
    {"command", "command", ShipKeyKind::strings},
    {"env", "env", ShipKeyKind::stringTable},
    {"env-file", "envFile", ShipKeyKind::stringOrStrings},
    {"user", "user", ShipKeyKind::string},
    {"restart", "restart", ShipKeyKind::string},
    {"on-exit", "onExit", ShipKeyKind::string},
    {"labels", "labels", ShipKeyKind::stringTable},
    {"max-log-size", "maxLogSize", ShipKeyKind::sizeOrInteger},
    {"max-log-files", "maxLogFiles", ShipKeyKind::integer},
    {"reload-signal", "reloadSignal", ShipKeyKind::string},
    {"kill-mode", "killMode", ShipKeyKind::string},
};

namespace {

Error at(const std::string& path, const toml::source_region& where, const std::string& what) {
  return {errc::invalid_argument,
          path + ":" + std::to_string(where.begin.line) + ":" + std::to_string(where.begin.column) + ": " + what};
}

const ShipKey* findKey(std::string_view toml) {
  for (const auto& key : kShipKeys)
    if (toml == key.toml) return &key;
  return nullptr;
}

std::optional<json> strings(const toml::node& node) {
  const toml::array* array = node.as_array();
  if (array == nullptr) return std::nullopt;
  json out = json::array();
  for (const auto& item : *array) {
    if (!item.is_string()) return std::nullopt;
    out.push_back(item.as_string()->get());
  }
  return out;
}

std::optional<json> stringTable(const toml::node& node) {
  const toml::table* table = node.as_table();
  if (table == nullptr) return std::nullopt;
  json out = json::object();
  for (const auto& [key, item] : *table) {
    if (!item.is_string()) return std::nullopt;
    out[std::string(key.str())] = item.as_string()->get();
  }
  return out;
}

// The TOML value as the JSON field holds it, or nullopt for a wrong type.
std::optional<json> convert(const toml::node& node, ShipKeyKind kind) {
  switch (kind) {
    case ShipKeyKind::string:
      if (node.is_string()) return json(node.as_string()->get());
      return std::nullopt;
    case ShipKeyKind::strings: return strings(node);
    case ShipKeyKind::stringOrStrings:
      if (node.is_string()) return json(node.as_string()->get());
      return strings(node);
    case ShipKeyKind::stringTable: return stringTable(node);
    case ShipKeyKind::sizeOrInteger:
      if (node.is_string()) return json(node.as_string()->get());
      [[fallthrough]];
    case ShipKeyKind::integer:
      if (node.is_integer() && node.as_integer()->get() >= 0) return json(static_cast<uint64_t>(node.as_integer()->get()));
      return std::nullopt;
  }
  return std::nullopt;
}

const char* kindText(ShipKeyKind kind) {
  switch (kind) {
    case ShipKeyKind::string: return "a string";
    case ShipKeyKind::strings: return "an array of strings";
    case ShipKeyKind::stringOrStrings: return "a string or an array of strings";
    case ShipKeyKind::stringTable: return "a table of strings";
    case ShipKeyKind::sizeOrInteger: return "a size such as \"10M\" or a number of bytes";
    case ShipKeyKind::integer: return "a non-negative integer";
  }
  return "a value";
}

// One field alone, checked as the daemon will check it, so a bad value is
// reported where it stands. "" when fine.
std::string checkField(const char* field, const json& value) {
  json alone = {{field, value}};
  if (std::string_view(field) != "command") alone["command"] = {"true"};
  try {
    return validateShipSpec(shipSpecFromJson(alone, "x"));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

Result<ShipDefinition> shipFromTable(const toml::table& table, const std::string& name, const std::string& path) {
  ShipDefinition definition{name, json::object(), ""};
  const auto& where = table.source();
  definition.origin = path + ":" + std::to_string(where.begin.line) + ":" + std::to_string(where.begin.column);
  if (auto e = validateShipName(name); !e.empty()) return at(path, where, e);
  for (const auto& [key, node] : table) {
    const ShipKey* row = findKey(key.str());
    if (row == nullptr) return at(path, key.source(), "unknown key '" + std::string(key.str()) + "'");
    auto value = convert(node, row->kind);
    if (!value) return at(path, node.source(), std::string("'") + row->toml + "' must be " + kindText(row->kind));
    if (auto e = checkField(row->json, *value); !e.empty()) return at(path, node.source(), row->toml + std::string(": ") + e);
    definition.ship[row->json] = std::move(*value);
  }
  if (!definition.ship.contains("command")) return at(path, where, "ship '" + name + "' has no 'command'");
  return definition;
}

std::string stemOf(const std::string& path) {
  std::string file = path.substr(path.find_last_of('/') + 1);
  return file.substr(0, file.find_last_of('.'));
}

// The offset of the first byte that is not well-formed UTF-8, or npos.
// TOML files must be UTF-8, and toml++ 3.3 asserts on some invalid bytes
// instead of reporting them, so they never reach it.
size_t invalidUtf8At(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
    unsigned char lead = byte(i);
    size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || i + length > text.size() || (length == 2 && lead < 0xC2)) return i;
    uint32_t code = length == 1 ? lead : lead & (0x7F >> length);
    for (size_t k = 1; k < length; ++k) {
      if ((byte(i + k) & 0xC0) != 0x80) return i;
      code = (code << 6) | (byte(i + k) & 0x3F);
    }
    if ((length == 3 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) ||
        (length == 4 && (code < 0x10000 || code > 0x10FFFF)))
      return i;
    i += length;
  }
  return std::string_view::npos;
}

Result<std::vector<ShipDefinition>> parseToml(std::string_view text, const std::string& path) {
  if (size_t bad = invalidUtf8At(text); bad != std::string_view::npos) {
    size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n'));
    size_t lineStart = text.rfind('\n', bad == 0 ? 0 : bad - 1);
    size_t column = lineStart == std::string_view::npos || bad == 0 ? bad + 1 : bad - lineStart;
    return Error{errc::invalid_argument,
                 path + ":" + std::to_string(line) + ":" + std::to_string(column) + ": not valid UTF-8"};
  }
  // toml++ 3.3 asserts on a line that opens with "[[[" (seen: "[[[a]]]")
  // instead of reporting it; no ship key takes such a value either.
  for (size_t start = 0, line = 1; start < text.size(); ++line) {
    size_t end = std::min(text.find('\n', start), text.size());
    size_t first = text.find_first_not_of(" \t", start);
    if (first < end && text.compare(first, 3, "[[[") == 0)
      return Error{errc::invalid_argument, path + ":" + std::to_string(line) + ":" + std::to_string(first - start + 1) +
                                               ": a line may not open with '[[['"};
    start = end + 1;
  }
  toml::table document;
  try {
    document = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return at(path, e.source(), std::string(e.description()));
  }
  std::vector<ShipDefinition> out;
  const toml::node* fleet = document.get("ship");
  if (fleet == nullptr || !fleet->is_table()) {
    auto one = shipFromTable(document, stemOf(path), path);
    if (!one) return one.error();
    out.push_back(std::move(one).value());
    return out;
  }
  for (const auto& [key, node] : document)
    if (key.str() != "ship") return at(path, key.source(), "unknown key '" + std::string(key.str()) + "' (a fleet file holds [ship.NAME] tables)");
  for (const auto& [name, node] : *fleet->as_table()) {
    if (!node.is_table()) return at(path, node.source(), "ship." + std::string(name.str()) + " must be a table");
    if (out.size() == kMaxShipsPerRequest)
      return at(path, node.source(), "more than " + std::to_string(kMaxShipsPerRequest) + " ships in one file");
    auto one = shipFromTable(*node.as_table(), std::string(name.str()), path);
    if (!one) return one.error();
    out.push_back(std::move(one).value());
  }
  return out;
}

Result<std::vector<ShipDefinition>> parseJson(std::string_view text, const std::string& path) {
  json parsed = json::parse(text.begin(), text.end(), nullptr, false);
  if (parsed.is_discarded()) return Error{errc::invalid_argument, "ship file " + path + " is not valid JSON"};
  if (!parsed.is_object()) return Error{errc::invalid_argument, "ship file " + path + " is not a JSON object"};
  std::string name = stemOf(path);
  try {
    // Decoded only: `deploy --file` may add the command from its flags.
    (void)shipSpecFromJson(parsed, name);
  } catch (const std::invalid_argument& e) {
    return Error{errc::invalid_argument, path + ": " + e.what()};
  }
  parsed.erase("name");
  return std::vector<ShipDefinition>{{name, std::move(parsed), path}};
}

bool endsWith(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Error fileError(const std::string& path, const std::string& why) {
  return {errc::invalid_argument, "cannot read " + path + ": " + why};
}

}  // namespace

Result<std::vector<ShipDefinition>> parseShipFileText(std::string_view text, const std::string& path) {
  if (text.size() > kMaxShipFileBytes) return fileError(path, "larger than " + std::to_string(kMaxShipFileBytes) + " bytes");
  if (endsWith(path, ".toml")) return parseToml(text, path);
  return parseJson(text, path);
}

Result<std::vector<ShipDefinition>> readShipFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return fileError(path, strerror(errno));
  struct stat info {};
  if (fstat(fd.get(), &info) != 0) return fileError(path, strerror(errno));
  if (!S_ISREG(info.st_mode)) return fileError(path, "not a regular file");
  std::string text;
  char buffer[65536];
  for (;;) {
    ssize_t n = read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fileError(path, strerror(errno));
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxShipFileBytes) return fileError(path, "larger than " + std::to_string(kMaxShipFileBytes) + " bytes");
  }
  return parseShipFileText(text, path);
}

namespace {
// The *.toml and *.json files of a directory, sorted.
Result<std::vector<std::string>> filesIn(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> handle(opendir(dir.c_str()), closedir);
  if (!handle) return fileError(dir, strerror(errno));
  std::vector<std::string> files;
  while (dirent* entry = readdir(handle.get())) {
    std::string name = entry->d_name;
    if (name.empty() || name[0] == '.' || !(endsWith(name, ".toml") || endsWith(name, ".json"))) continue;
    if (files.size() == kMaxShipFiles) return fileError(dir, "more than " + std::to_string(kMaxShipFiles) + " ship files");
    files.push_back(dir + (endsWith(dir, "/") ? "" : "/") + name);
  }
  std::sort(files.begin(), files.end());
  return files;
}
}  // namespace

Result<std::vector<ShipDefinition>> readShipFiles(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& path : paths) {
    struct stat info {};
    if (stat(path.c_str(), &info) != 0) return fileError(path, strerror(errno));
    if (!S_ISDIR(info.st_mode)) {
      files.push_back(path);
      continue;
    }
    auto inside = filesIn(path);
    if (!inside) return inside.error();
    files.insert(files.end(), inside.value().begin(), inside.value().end());
  }
  std::vector<ShipDefinition> all;
  std::map<std::string, std::string> seen;  // name -> origin
  for (const auto& file : files) {
    auto ships = readShipFile(file);
    if (!ships) return ships.error();
    for (auto& ship : ships.value()) {
      if (auto [it, fresh] = seen.emplace(ship.name, ship.origin); !fresh)
        return Error{errc::invalid_argument, ship.origin + ": ship '" + ship.name + "' is also defined at " + it->second};
      if (all.size() == kMaxShipsPerRequest)
        return Error{errc::invalid_argument, "more than " + std::to_string(kMaxShipsPerRequest) + " ships"};
      all.push_back(std::move(ship));
    }
  }
  return all;
}

}  // namespace keelan
