#include "keelan/config.h"

#include <algorithm>
#include <limits>

namespace keelan {

using nlohmann::json;

namespace {

using C = DaemonConfig;
using P = Paths;
constexpr Carried kAlways = Carried::always;
constexpr Carried kStartOnly = Carried::firstStartOnly;
constexpr bool kSinceFirst = false;  // in the first encoding: always present
constexpr bool kLater = true;        // added later: may be missing
constexpr Change kLive = Change::live;
constexpr OptionKind kPath = OptionKind::path;
constexpr OptionKind kSize = OptionKind::size;
constexpr OptionKind kUrl = OptionKind::url;

std::vector<ConfigField> makeFields() {
  // The keys of the first fields are as the first re-exec format spelled them:
  // a newer binary must decode an older daemon's encoding during an upgrade.
  return {
      {"base", &P::base, kAlways, kSinceFirst, nullptr, "baseDirectory"},
      {.key = "logFile", .member = &P::logFile, .carried = kAlways, .optional = kSinceFirst, .statusKey = "logFile",
       .option = "log-file", .help = "daemon log file (default BASE/logs/monitor-daemon.log)", .kind = kPath},
      {.key = "pidFile", .member = &P::pidFile, .carried = kAlways, .optional = kSinceFirst, .statusKey = "pidFile",
       .option = "pid-file", .help = "PID file (default BASE/run/monitor-daemon.pid)", .kind = kPath},
      {.key = "socket", .member = &P::socket, .carried = kAlways, .optional = kSinceFirst, .statusKey = "socket",
       .option = "socket", .help = "control socket (default BASE/run/keelan.sock)", .kind = kPath},
      {"dataDir", &P::dataDir, kAlways, kSinceFirst},
      {"shipLogDir", &P::shipLogDir, kAlways, kSinceFirst},
      {"shipsDir", &P::shipsDir, kAlways, kSinceFirst},
      {.key = "interval", .member = &C::intervalSeconds, .carried = kAlways, .optional = kSinceFirst,
       .statusKey = "intervalSeconds", .optionMin = 1, .optionMax = 86400, .option = "interval",
       .help = "health-check period in seconds for adopted ships (1-86400)", .change = kLive},
      {"foreground", &C::foreground, kAlways, kSinceFirst},
      {"selfExe", &C::selfExe, kAlways, kSinceFirst},
      {"listenFd", &C::inheritedListenFd, kAlways, kSinceFirst},
      {"pidFileFd", &C::inheritedPidFileFd, kAlways, kSinceFirst},
      // An older daemon that sent no count had restarted at least once.
      {"restarts", &C::restarts, kAlways, kLater, 1},
      {"dataLockFd", &C::inheritedDataLockFd, kAlways, kLater},
      {.key = "socketGroup", .member = &C::socketGroup, .carried = kAlways, .optional = kLater,
       .option = "socket-group",
       .help = "let this group's members use the socket (0660, directory 0750); it grants root-equivalent power"},
      {.key = "defaultOnExit", .member = &C::defaultOnExit, .carried = kAlways, .optional = kLater, .option = "on-exit",
       .help = "shell command run after each ship exit (ships may override)", .change = kLive},
      {.key = "metricsAddress", .member = &C::metricsAddress, .carried = kAlways, .optional = kLater,
       .option = "metrics-address", .help = "serve Prometheus metrics at http://HOST:PORT/metrics", .change = kLive},
      {.key = "maxLogSize", .member = &C::maxLogSize, .carried = kAlways, .optional = kLater, .option = "max-log-size",
       .help = "rotate ship logs past this size (e.g. 10M); default: never", .kind = kSize, .change = kLive},
      {.key = "maxLogFiles", .member = &C::maxLogFiles, .carried = kAlways, .optional = kLater, .optionMin = 1,
       .optionMax = 1000, .option = "max-log-files", .help = "rotated ship log files kept (default 5)",
       .change = kLive},
      {.key = "webhookUrl", .member = &C::webhookUrl, .carried = kAlways, .optional = kLater, .option = "webhook",
       .help = "POST each ship failure's record (JSON) to this URL", .kind = kUrl, .change = kLive},
      {.key = "webhookIncludeEnv", .member = &C::webhookIncludeEnv, .carried = kAlways, .optional = kLater,
       .option = "webhook-include-env",
       .help = "send the ships' env values in webhook bodies (default: keys only, values null)", .change = kLive},
      {.key = "webhookOn", .member = &C::webhookOn, .carried = kAlways, .optional = kLater, .option = "webhook-on",
       .help = "what the webhook hears of: failure (default; not stops asked for by an operator), exit (every exit), "
               "all (every state change)",
       .change = kLive, .choices = {"failure", "exit", "all"}},
      {.key = "durability", .member = &C::durability, .carried = kAlways, .optional = kLater, .statusKey = "durability",
       .option = "durability",
       .help = "strict: a record is on the device before anyone is told (default); group: told at once, flushed "
               "every flush-interval ms (see README, Durability)",
       .choices = {"strict", "group"}},
      {.key = "flushIntervalMs", .member = &C::flushIntervalMs, .carried = kAlways, .optional = kLater,
       .statusKey = "flushIntervalMs", .optionMin = 1, .optionMax = 60000, .option = "flush-interval",
       .help = "with durability group: flush to the device at most every MS ms (default 100)"},
      {"configFile", &C::configFile, kAlways, kLater},
      {"optionSources", &C::optionSources, kAlways, kLater},
      {"writeHighWater", &C::writeHighWater, kAlways, kLater, nullptr, nullptr, "--x-write-high-water", 1, int64_t{1} << 40},
      {"stallTimeoutMs", &C::stallTimeoutMs, kAlways, kLater, nullptr, nullptr, "--x-stall-timeout-ms", 1, 86400000},
      {"httpHeaderTimeoutMs", &C::httpHeaderTimeoutMs, kAlways, kLater, nullptr, nullptr, "--x-http-header-timeout-ms", 1,
       86400000},
      {"maxReplyBytes", &C::maxReplyBytes, kAlways, kLater, nullptr, nullptr, "--x-max-reply-bytes", 1, int64_t{1} << 40},
      {"backoffFirstMs", &C::backoffFirstMs, kAlways, kLater, nullptr, nullptr, "--x-backoff-first-ms", 1, 300000},
      {"noPidfd", &C::noPidfd, kAlways, kLater, nullptr, nullptr, "--x-no-pidfd"},
      {"noSubreaper", &C::noSubreaper, kAlways, kLater, nullptr, nullptr, "--x-no-subreaper"},
      {"bootIdOverride", &C::bootIdOverride, kAlways, kLater, nullptr, nullptr, "--x-boot-id"},
      {"readyFd", &C::readyFd, kStartOnly, kLater},
      {"newStore", &C::newStore, kStartOnly, kLater},
      {"fromBackup", &C::fromBackup, kStartOnly, kLater},
      {"salvage", &C::salvage, kStartOnly, kLater},
  };
}

template <typename T>
std::string readValue(const json& value, T& out) {
  if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    if (!value.is_object()) return "is not an object";
    for (const auto& [key, text] : value.items())
      if (!text.is_string()) return "holds a value that is not a string";
    out = value.get<T>();
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!value.is_boolean()) return "is not a boolean";
    out = value.get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!value.is_string()) return "is not a string";
    out = value.get<std::string>();
  } else if constexpr (std::is_unsigned_v<T>) {
    if (!value.is_number_unsigned()) return "is not a non-negative integer";
    out = value.get<T>();
  } else {
    if (!value.is_number_integer()) return "is not an integer";
    int64_t number = value.get<int64_t>();
    if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()})
      return "is out of range";
    if (number < std::numeric_limits<T>::min() || number > std::numeric_limits<T>::max()) return "is out of range";
    out = static_cast<T>(number);
  }
  return "";
}

std::string encode(const DaemonConfig& config, bool firstStart) {
  json out = json::object();
  for (const ConfigField& field : configFields()) {
    if (field.carried == Carried::firstStartOnly && !firstStart) continue;
    withConfigMember(config, field.member, [&](const auto& value) { out[field.key] = value; });
  }
  out["format"] = 1;
  return out.dump();
}

// The field's own limits, beyond its type's.
template <typename T>
std::string checkLimits(const ConfigField& field, const T& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (field.choices.empty() || std::find(field.choices.begin(), field.choices.end(), value) != field.choices.end())
      return "";
    std::string allowed;
    for (const auto& choice : field.choices) allowed += (allowed.empty() ? "" : ", ") + choice;
    return "is '" + value + "', not one of " + allowed;
  } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (field.optionMin >= field.optionMax) return "";
    auto number = static_cast<int64_t>(value);
    if (number >= field.optionMin && number <= field.optionMax) return "";
    return "is " + std::to_string(number) + ", not in " + std::to_string(field.optionMin) + ".." +
           std::to_string(field.optionMax);
  } else {
    return "";
  }
}

std::string decodeField(const ConfigField& field, const json& in, DaemonConfig& config) {
  auto found = in.find(field.key);
  const json* value = found != in.end() ? &*found : nullptr;
  if (value == nullptr) {
    if (!field.optional) return std::string("the field '") + field.key + "' is missing";
    if (field.ifMissing.is_null()) return "";
    value = &field.ifMissing;
  }
  std::string error = withConfigMember(config, field.member, [&](auto& member) {
    std::string e = readValue(*value, member);
    return e.empty() ? checkLimits(field, member) : e;
  });
  return error.empty() ? "" : std::string("the field '") + field.key + "' " + error;
}

}  // namespace

const std::vector<ConfigField>& configFields() {
  static const std::vector<ConfigField> fields = makeFields();
  return fields;
}

const ConfigField* findConfigField(const std::string& key) {
  for (const ConfigField& field : configFields())
    if (key == field.key) return &field;
  return nullptr;
}

std::string encodeStartConfig(const DaemonConfig& config) { return encode(config, true); }

std::string encodeReexecConfig(const DaemonConfig& config) { return encode(config, false); }

std::string decodeConfig(const std::string& text, DaemonConfig& config) {
  json in = json::parse(text, nullptr, false);
  if (in.is_discarded()) return "the configuration is not valid JSON";
  if (!in.is_object()) return "the configuration is not a JSON object";
  // Decoded into a copy: a bad field leaves `config` as it was.
  DaemonConfig decoded = config;
  for (const ConfigField& field : configFields())
    if (auto e = decodeField(field, in, decoded); !e.empty()) return e;
  config = std::move(decoded);
  return "";
}

const ConfigField* findOption(const std::string& option) {
  for (const ConfigField& field : configFields())
    if (field.option != nullptr && option == field.option) return &field;
  return nullptr;
}

json fieldValue(const DaemonConfig& config, const ConfigField& field) {
  return withConfigMember(config, field.member, [](const auto& value) { return json(value); });
}

json optionsJson(const DaemonConfig& config) {
  json out = json::object();
  for (const ConfigField& field : configFields()) {
    if (field.option == nullptr) continue;
    auto source = config.optionSources.find(field.option);
    out[field.option] = {{"value", fieldValue(config, field)},
                         {"source", source == config.optionSources.end() ? "default" : source->second}};
  }
  return out;
}

json configStatusFields(const DaemonConfig& config) {
  json out = json::object();
  for (const ConfigField& field : configFields())
    if (field.statusKey != nullptr) out[field.statusKey] = fieldValue(config, field);
  out["config"] = {{"file", config.configFile.empty() ? json(nullptr) : json(config.configFile)},
                   {"options", optionsJson(config)}};
  return out;
}

}  // namespace keelan
