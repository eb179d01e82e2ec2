#include "keelan/config.h"

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

std::vector<ConfigField> makeFields() {
  // The keys of the first fields are as the first re-exec format spelled them:
  // a newer binary must decode an older daemon's encoding during an upgrade.
  return {
      {"base", &P::base, kAlways, kSinceFirst, nullptr, "baseDirectory"},
      {"logFile", &P::logFile, kAlways, kSinceFirst, nullptr, "logFile"},
      {"pidFile", &P::pidFile, kAlways, kSinceFirst, nullptr, "pidFile"},
      {"socket", &P::socket, kAlways, kSinceFirst, nullptr, "socket"},
      {"dataDir", &P::dataDir, kAlways, kSinceFirst},
      {"shipLogDir", &P::shipLogDir, kAlways, kSinceFirst},
      {"shipsDir", &P::shipsDir, kAlways, kSinceFirst},
      {"interval", &C::intervalSeconds, kAlways, kSinceFirst, nullptr, "intervalSeconds"},
      {"foreground", &C::foreground, kAlways, kSinceFirst},
      {"selfExe", &C::selfExe, kAlways, kSinceFirst},
      {"listenFd", &C::inheritedListenFd, kAlways, kSinceFirst},
      {"pidFileFd", &C::inheritedPidFileFd, kAlways, kSinceFirst},
      // An older daemon that sent no count had restarted at least once.
      {"restarts", &C::restarts, kAlways, kLater, 1},
      {"dataLockFd", &C::inheritedDataLockFd, kAlways, kLater},
      {"socketGroup", &C::socketGroup, kAlways, kLater},
      {"defaultOnExit", &C::defaultOnExit, kAlways, kLater},
      {"metricsAddress", &C::metricsAddress, kAlways, kLater},
      {"maxLogSize", &C::maxLogSize, kAlways, kLater},
      {"maxLogFiles", &C::maxLogFiles, kAlways, kLater},
      {"webhookUrl", &C::webhookUrl, kAlways, kLater},
      {"webhookIncludeEnv", &C::webhookIncludeEnv, kAlways, kLater},
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
  if constexpr (std::is_same_v<T, bool>) {
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

std::string decodeField(const ConfigField& field, const json& in, DaemonConfig& config) {
  auto found = in.find(field.key);
  const json* value = found != in.end() ? &*found : nullptr;
  if (value == nullptr) {
    if (!field.optional) return std::string("the field '") + field.key + "' is missing";
    if (field.ifMissing.is_null()) return "";
    value = &field.ifMissing;
  }
  std::string error = withConfigMember(config, field.member, [&](auto& member) { return readValue(*value, member); });
  return error.empty() ? "" : std::string("the field '") + field.key + "' " + error;
}

}  // namespace

const std::vector<ConfigField>& configFields() {
  static const std::vector<ConfigField> fields = makeFields();
  return fields;
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

json configStatusFields(const DaemonConfig& config) {
  json out = json::object();
  for (const ConfigField& field : configFields())
    if (field.statusKey != nullptr)
      withConfigMember(config, field.member, [&](const auto& value) { out[field.statusKey] = value; });
  return out;
}

}  // namespace keelan
