#include "keelan/config_options.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <utility>

#include "keelan/log_rotation.h"
#include "keelan/paths.h"
#include "keelan/protocol.h"

namespace keelan {

using nlohmann::json;

namespace {

Error invalid(std::string message) { return Error{errc::invalid_argument, std::move(message)}; }

std::string quoted(const json& value) { return value.is_string() ? "'" + value.get<std::string>() + "'" : value.dump(); }

Result<json> checkInteger(const ConfigField& field, const json& value) {
  if (!value.is_number_integer()) return invalid(quoted(value) + " is not an integer");
  if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()})
    return invalid(quoted(value) + " is out of range");
  int64_t number = value.get<int64_t>();
  if (field.optionMin != field.optionMax && (number < field.optionMin || number > field.optionMax))
    return invalid(value.dump() + " is not in " + std::to_string(field.optionMin) + ".." +
                   std::to_string(field.optionMax));
  return json(number);
}

Result<json> checkSize(const json& value) {
  if (value.is_number_integer()) {
    if (value.get<int64_t>() < 0 && !value.is_number_unsigned()) return invalid(value.dump() + " is negative");
    return json(value.get<uint64_t>());
  }
  if (!value.is_string()) return invalid(quoted(value) + " is not a size such as 10M");
  auto size = parseSize(value.get<std::string>());
  if (!size) return invalid(quoted(value) + " is not a size such as 10M");
  return json(*size);
}

Result<json> checkString(const ConfigField& field, const json& value, const std::string& directory) {
  if (!value.is_string()) return invalid(quoted(value) + " is not a string");
  std::string text = value.get<std::string>();
  if (text.find('\0') != std::string::npos) return invalid("the value holds a NUL byte");
  if (!field.choices.empty() && std::find(field.choices.begin(), field.choices.end(), text) == field.choices.end()) {
    std::string allowed;
    for (const auto& choice : field.choices) allowed += (allowed.empty() ? "" : ", ") + choice;
    return invalid("'" + text + "' is not one of " + allowed);
  }
  switch (field.kind) {
    case OptionKind::path:
      if (text.empty()) return invalid("the path is empty");
      return json(absolutePath(text, directory));
    case OptionKind::url:
      if (!text.empty() && text.rfind("http://", 0) != 0 && text.rfind("https://", 0) != 0)
        return invalid("'" + text + "' is not an http:// or https:// URL");
      return json(text);
    default:
      return json(text);
  }
}

}  // namespace

// Only for its members' types.
const DaemonConfig kTypes{};

Result<json> checkOptionValue(const ConfigField& field, const json& value, const std::string& directory) {
  if (field.kind == OptionKind::size) return checkSize(value);
  return withConfigMember(kTypes, field.member, [&](const auto& member) -> Result<json> {
    using T = std::decay_t<decltype(member)>;
    if constexpr (std::is_same_v<T, bool>) {
      if (!value.is_boolean()) return invalid(quoted(value) + " is not a boolean (true or false)");
      return value;
    } else if constexpr (std::is_integral_v<T>) {
      auto number = checkInteger(field, value);
      if (!number) return number;
      if (!std::in_range<T>(number.value().template get<int64_t>())) return invalid(value.dump() + " is out of range");
      return number;
    } else if constexpr (std::is_same_v<T, std::string>) {
      return checkString(field, value, directory);
    } else {
      return invalid("is not an option");
    }
  });
}

Result<json> optionValueFromText(const ConfigField& field, const std::string& text) {
  if (field.kind == OptionKind::size) return json(text);
  return withConfigMember(kTypes, field.member, [&](const auto& member) -> Result<json> {
    using T = std::decay_t<decltype(member)>;
    if constexpr (std::is_same_v<T, bool>) {
      if (text.empty() || text == "true") return json(true);
      if (text == "false") return json(false);
      return invalid("'" + text + "' is not true or false");
    } else if constexpr (std::is_integral_v<T>) {
      int64_t number = 0;
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
      if (error != std::errc() || end != text.data() + text.size() || text.empty())
        return invalid("'" + text + "' is not an integer");
      return json(number);
    } else {
      return json(text);
    }
  });
}

void applyLayer(DaemonConfig& config, const OptionLayer& layer, const std::string& source) {
  for (const auto& entry : layer) {
    const ConfigField* field = findOption(entry.first);
    if (field == nullptr) continue;
    const json& value = entry.second;  // a structured binding cannot be captured before clang 16
    withConfigMember(config, field->member, [&](auto& member) { member = value.get<std::decay_t<decltype(member)>>(); });
    config.optionSources[entry.first] = source;
  }
}

OptionLayer flagLayerOf(const json& options) {
  OptionLayer layer;
  if (!options.is_object()) return layer;
  for (const auto& [option, entry] : options.items()) {
    const ConfigField* field = findOption(option);
    if (field == nullptr || !entry.is_object() || entry.value("source", "") != "flag" || !entry.contains("value"))
      continue;
    if (auto checked = checkOptionValue(*field, entry["value"], "/")) layer[option] = checked.value();
  }
  return layer;
}

std::vector<const ConfigField*> changedOptions(const json& options, const DaemonConfig& wanted) {
  std::vector<const ConfigField*> changed;
  for (const ConfigField& field : configFields()) {
    if (field.option == nullptr) continue;
    auto entry = options.is_object() ? options.find(field.option) : options.end();
    json running = entry != options.end() && entry->is_object() ? entry->value("value", json()) : json();
    if (running != fieldValue(wanted, field)) changed.push_back(&field);
  }
  return changed;
}

Result<std::vector<std::string>> applyLiveOptions(DaemonConfig& config, const json& options,
                                                  const std::optional<std::map<std::string, std::string>>& sources) {
  if (!options.is_object()) return invalid("field 'config' must be an object");
  DaemonConfig next = config;
  OptionLayer layer;
  std::vector<std::string> changes;
  for (const auto& [option, value] : options.items()) {
    const ConfigField* field = findOption(option);
    if (field == nullptr) return invalid("unknown option '" + option + "'");
    if (field->change != Change::live)
      return invalid("'" + option + "' cannot change in place; a cold restart (stop, then start) can");
    auto checked = checkOptionValue(*field, value, "/");
    if (!checked) return invalid(option + ": " + checked.error().message);
    json before = fieldValue(config, *field);
    if (before != checked.value()) changes.push_back(option + ": " + quoted(before) + " -> " + quoted(checked.value()));
    layer[option] = checked.value();
  }
  applyLayer(next, layer, "flag");
  if (sources) next.optionSources = *sources;
  config = std::move(next);
  return changes;
}

}  // namespace keelan
