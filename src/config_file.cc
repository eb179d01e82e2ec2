#include "keelan/config_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
// toml++ 3.3.0 asserts (an abort without NDEBUG, as in the asan preset) on a
// table header such as "[=" just before its parser reports that error
// itself: its assertions stay out, so hostile input is an error, never an abort.
#define TOML_ASSERT(expr) static_assert(true)
#include <toml++/toml.h>

#include "keelan/fs_trust.h"
#include "keelan/paths.h"
#include "keelan/protocol.h"
#include "keelan/unique_fd.h"

namespace keelan {

using nlohmann::json;

namespace {

std::string& configFileOption() {
  static std::string path;
  return path;
}

Error invalid(std::string message) { return Error{errc::invalid_argument, std::move(message)}; }

std::string at(const std::string& name, const toml::source_region& where) {
  return name + ":" + std::to_string(where.begin.line) + ":" + std::to_string(where.begin.column) + ": ";
}

enum class ValueType { boolean, integer, string, size };

ValueType valueType(const ConfigField& field) {
  if (field.kind == OptionKind::size) return ValueType::size;
  static const DaemonConfig types{};
  return withConfigMember(types, field.member, [](const auto& member) {
    using T = std::decay_t<decltype(member)>;
    if constexpr (std::is_same_v<T, bool>) return ValueType::boolean;
    else if constexpr (std::is_integral_v<T>) return ValueType::integer;
    else return ValueType::string;
  });
}

// What the option's row expects, for "must be …" messages.
const char* expectedType(const ConfigField& field) {
  switch (valueType(field)) {
    case ValueType::boolean: return "a boolean";
    case ValueType::integer: return "an integer";
    case ValueType::size: return "an integer or a size such as \"10M\"";
    default: return "a string";
  }
}

const char* typeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date or time";
  }
}

// The node as the JSON value checkOptionValue takes; nullopt for a type no
// option has (tables, arrays, floats, dates).
std::optional<json> scalar(const toml::node& node) {
  if (auto v = node.as_integer()) return json(v->get());
  if (auto v = node.as_boolean()) return json(v->get());
  if (auto v = node.as_string()) return json(v->get());
  return std::nullopt;
}

bool typeFits(const ConfigField& field, const json& value) {
  switch (valueType(field)) {
    case ValueType::boolean: return value.is_boolean();
    case ValueType::integer: return value.is_number_integer();
    case ValueType::size: return value.is_number_integer() || value.is_string();
    default: return value.is_string();
  }
}

}  // namespace

void setConfigFileOption(const std::string& path) { configFileOption() = path; }

ConfigFileChoice chooseConfigFile(const std::string& base, const std::string& runningFile) {
  std::string cwd = currentDirectory();
  if (!configFileOption().empty()) return {absolutePath(configFileOption(), cwd), true};
  const char* fromEnvironment = getenv("KEELAN_CONFIG");
  if (fromEnvironment != nullptr && *fromEnvironment != '\0') return {absolutePath(fromEnvironment, cwd), true};
  const char* baseVariable = getenv("BASE_DIRECTORY");
  if (baseVariable == nullptr || *baseVariable == '\0') {
    std::string fromDefaults = valueFromDefaultsFile(defaultsFilePath(), "KEELAN_CONFIG");
    if (!fromDefaults.empty()) return {absolutePath(fromDefaults, cwd), true};
  }
  if (!runningFile.empty()) return {runningFile, false};
  return {(base == "/" ? "" : base) + "/keelan.toml", false};
}

Result<OptionLayer> parseConfigText(std::string_view text, const std::string& name, const std::string& directory) {
  toml::table table;
  try {
    table = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    return invalid(at(name, e.source()) + std::string(e.description()));
  }
  OptionLayer layer;
  for (auto&& [key, node] : table) {
    std::string option(key.str());
    const ConfigField* field = findOption(option);
    if (field == nullptr) return invalid(at(name, key.source()) + "unknown key '" + option + "'");
    std::optional<json> value = scalar(node);
    if (!value || !typeFits(*field, *value))
      return invalid(at(name, node.source()) + "'" + option + "' must be " + expectedType(*field) + ", not " +
                     typeName(node));
    auto checked = checkOptionValue(*field, *value, directory);
    if (!checked) return invalid(at(name, node.source()) + option + ": " + checked.error().message);
    layer[option] = std::move(checked).value();
  }
  return layer;
}

Result<std::optional<OptionLayer>> readConfigFile(const ConfigFileChoice& choice) {
  const std::string& path = choice.path;
  struct stat info {};
  if (stat(path.c_str(), &info) != 0 && errno == ENOENT) {
    if (!choice.required) return std::optional<OptionLayer>();
    return invalid("the configuration file " + path + " does not exist");
  }
  if (auto refused = checkTrustedFile(path, getuid()); !refused.empty()) return invalid(refused);
  UniqueFd fd(openFileNoFollow(path, O_RDONLY));
  if (!fd) return invalid("cannot read " + path + ": " + openErrorText(fd.release()));
  if (fstat(fd.get(), &info) != 0) return invalid("cannot read " + path + ": " + strerror(errno));
  if (static_cast<uint64_t>(info.st_size) > kMaxConfigFileBytes)
    return invalid(path + " is over " + std::to_string(kMaxConfigFileBytes >> 20) + " MiB");
  std::string text(static_cast<size_t>(info.st_size) + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return invalid("cannot read " + path + ": " + strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > kMaxConfigFileBytes) return invalid(path + " is over " + std::to_string(kMaxConfigFileBytes >> 20) + " MiB");
  text.resize(got);
  auto layer = parseConfigText(text, path, parentDirectory(path));
  if (!layer) return layer.error();
  return std::optional<OptionLayer>(std::move(layer).value());
}

}  // namespace keelan
