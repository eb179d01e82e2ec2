#include "keelan/config.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

namespace keelan {
namespace {

using nlohmann::json;

// Every member of DaemonConfig (and of its Paths), as references. The
// structured binding names each member once: a member added to the struct
// stops this from compiling until it is added here too, and then the round
// trips below fail until it is in configFields().
template <typename Config>
auto members(Config& c) {
  auto& [paths, intervalSeconds, socketGroup, defaultOnExit, metricsAddress, maxLogSize, maxLogFiles, webhookUrl,
         durability, flushIntervalMs, webhookIncludeEnv, webhookOn, foreground, readyFd, selfExe, inheritedListenFd,
         inheritedPidFileFd, inheritedDataLockFd, restarts, newStore, fromBackup, salvage, writeHighWater,
         stallTimeoutMs, httpHeaderTimeoutMs, maxReplyBytes, backoffFirstMs, noPidfd, noSubreaper, bootIdOverride,
         configFile, optionSources] = c;
  auto& [base, logFile, pidFile, socket, dataDir, shipLogDir, shipsDir] = paths;
  return std::tie(base, logFile, pidFile, socket, dataDir, shipLogDir, shipsDir, intervalSeconds, socketGroup,
                  defaultOnExit, metricsAddress, maxLogSize, maxLogFiles, webhookUrl, durability, flushIntervalMs,
                  webhookIncludeEnv, webhookOn, foreground, readyFd, selfExe, inheritedListenFd, inheritedPidFileFd,
                  inheritedDataLockFd, restarts, newStore, fromBackup, salvage, writeHighWater, stallTimeoutMs,
                  httpHeaderTimeoutMs, maxReplyBytes, backoffFirstMs, noPidfd, noSubreaper, bootIdOverride, configFile,
                  optionSources);
}
constexpr size_t kMemberCount = std::tuple_size_v<decltype(members(std::declval<DaemonConfig&>()))>;

// Gives member i a value unlike its default and unlike every other member's.
template <typename T>
void makeDistinct(T& member, int i) {
  if constexpr (std::is_same_v<T, bool>)
    member = !member;
  else if constexpr (std::is_same_v<T, std::string>)
    member = "/value/" + std::to_string(i);
  else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>)
    member = {{"value", std::to_string(i)}};
  else
    member = static_cast<T>(1000 + i);
}

DaemonConfig distinctConfig() {
  DaemonConfig config;
  int i = 0;
  std::apply([&](auto&... member) { (makeDistinct(member, i++), ...); }, members(config));
  config.durability = "group";  // one of its choices, and not the default
  config.maxLogFiles = 7;        // within its range, and not the default
  config.webhookOn = "all";      // one of its choices
  return config;
}

// The indexes of the members that differ.
std::vector<size_t> differences(DaemonConfig a, DaemonConfig b) {
  std::vector<size_t> out;
  auto left = members(a), right = members(b);
  [&]<size_t... I>(std::index_sequence<I...>) {
    ((std::get<I>(left) == std::get<I>(right) ? void() : out.push_back(I)), ...);
  }(std::make_index_sequence<kMemberCount>{});
  return out;
}

TEST(ConfigTest, EveryMemberIsInTheFieldTableOnce) {
  EXPECT_EQ(configFields().size(), kMemberCount);
  std::set<std::string> keys;
  for (const auto& field : configFields()) EXPECT_TRUE(keys.insert(field.key).second) << field.key;
}

TEST(ConfigTest, StartEncodingRoundTripsEveryMember) {
  DaemonConfig filled = distinctConfig();
  ASSERT_EQ(differences(filled, DaemonConfig{}).size(), kMemberCount);
  DaemonConfig decoded;
  ASSERT_EQ(decodeConfig(encodeStartConfig(filled), decoded), "");
  EXPECT_EQ(differences(filled, decoded), std::vector<size_t>{});
}

TEST(ConfigTest, ReexecEncodingLeavesOutStartOnlyFields) {
  DaemonConfig filled = distinctConfig();
  DaemonConfig decoded;
  std::string text = encodeReexecConfig(filled);
  ASSERT_EQ(decodeConfig(text, decoded), "");
  json encoded = json::parse(text);
  for (const char* key : {"readyFd", "newStore", "fromBackup", "salvage"}) EXPECT_FALSE(encoded.contains(key)) << key;
  EXPECT_EQ(decoded.readyFd, -1);
  EXPECT_FALSE(decoded.newStore);
  EXPECT_EQ(decoded.fromBackup, "");
  EXPECT_FALSE(decoded.salvage);
  // Everything else crosses.
  decoded.readyFd = filled.readyFd;
  decoded.newStore = filled.newStore;
  decoded.fromBackup = filled.fromBackup;
  decoded.salvage = filled.salvage;
  EXPECT_EQ(differences(filled, decoded), std::vector<size_t>{});
}

// What a daemon from before the later fields sent on its in-place restart.
const char* kFirstFormat =
    R"({"base":"/b","logFile":"/b/l","pidFile":"/b/p","socket":"/b/s","dataDir":"/b/d","shipLogDir":"/b/sl",)"
    R"("shipsDir":"/b/sh","interval":7,"foreground":false,"selfExe":"/bin/keelan","listenFd":5,"pidFileFd":6,"format":1})";

TEST(ConfigTest, OldEncodingDecodesWithDefaults) {
  DaemonConfig decoded;
  ASSERT_EQ(decodeConfig(kFirstFormat, decoded), "");
  EXPECT_EQ(decoded.paths.base, "/b");
  EXPECT_EQ(decoded.paths.shipsDir, "/b/sh");
  EXPECT_EQ(decoded.intervalSeconds, 7);
  EXPECT_EQ(decoded.inheritedListenFd, 5);
  EXPECT_EQ(decoded.inheritedPidFileFd, 6);
  EXPECT_EQ(decoded.restarts, 1);  // it had restarted at least once
  EXPECT_EQ(decoded.inheritedDataLockFd, -1);
  EXPECT_EQ(decoded.maxLogFiles, 5);
  EXPECT_EQ(decoded.writeHighWater, DaemonConfig{}.writeHighWater);
  EXPECT_EQ(decoded.backoffFirstMs, DaemonConfig{}.backoffFirstMs);
}

TEST(ConfigTest, RejectsBadInputWithAnErrorAndKeepsTheConfig) {
  json good = json::parse(kFirstFormat);
  std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "not valid JSON"},
      {"[1,2]", "not a JSON object"},
      {"{}", "'base' is missing"},
  };
  auto with = [&](const char* key, json value) {
    json bad = good;
    bad[key] = std::move(value);
    return bad.dump();
  };
  cases.push_back({with("interval", "7"), "'interval' is not an integer"});
  cases.push_back({with("interval", 7.5), "'interval' is not an integer"});
  cases.push_back({with("interval", true), "'interval' is not an integer"});
  cases.push_back({with("interval", int64_t{1} << 40), "'interval' is out of range"});
  cases.push_back({with("foreground", 1), "'foreground' is not a boolean"});
  cases.push_back({with("base", nullptr), "'base' is not a string"});
  cases.push_back({with("maxLogSize", -1), "'maxLogSize' is not a non-negative integer"});
  cases.push_back({with("stallTimeoutMs", uint64_t{1} << 63), "'stallTimeoutMs' is out of range"});
  cases.push_back({with("socketGroup", json::array()), "'socketGroup' is not a string"});
  cases.push_back({with("durability", "fast"), "'durability' is 'fast', not one of strict, group"});
  cases.push_back({with("durability", ""), "'durability' is '', not one of strict, group"});
  cases.push_back({with("flushIntervalMs", 0), "'flushIntervalMs' is 0, not in 1..60000"});
  cases.push_back({with("flushIntervalMs", -5), "'flushIntervalMs' is -5, not in 1..60000"});
  cases.push_back({with("flushIntervalMs", 3600000), "'flushIntervalMs' is 3600000, not in 1..60000"});
  for (const auto& [text, expected] : cases) {
    DaemonConfig config;
    config.intervalSeconds = 99;
    std::string error = decodeConfig(text, config);
    EXPECT_NE(error.find(expected), std::string::npos) << text << " -> " << error;
    EXPECT_EQ(config.intervalSeconds, 99) << text;
  }
}

TEST(ConfigTest, StatusFieldsAreTheDaemonsStatusKeys) {
  DaemonConfig config = distinctConfig();
  json status = configStatusFields(config);
  ASSERT_TRUE(status.contains("config"));
  EXPECT_EQ(status["config"]["file"], config.configFile);
  EXPECT_EQ(status["config"]["options"], optionsJson(config));
  status.erase("config");
  EXPECT_EQ(status, (json{{"socket", config.paths.socket},
                          {"intervalSeconds", config.intervalSeconds},
                          {"logFile", config.paths.logFile},
                          {"pidFile", config.paths.pidFile},
                          {"baseDirectory", config.paths.base},
                          {"durability", "group"},
                          {"flushIntervalMs", config.flushIntervalMs}}));
}

TEST(ConfigTest, DurabilityDefaultsToStrictAndOldEncodingsKeepIt) {
  DaemonConfig decoded;
  ASSERT_EQ(decodeConfig(kFirstFormat, decoded), "");
  EXPECT_EQ(decoded.durability, "strict");
  EXPECT_EQ(decoded.flushIntervalMs, 100);
  ASSERT_NE(findConfigField("durability"), nullptr);
  EXPECT_EQ(findConfigField("durability")->choices, (std::vector<std::string>{"strict", "group"}));
  EXPECT_EQ(findConfigField("no such key"), nullptr);
}

TEST(ConfigTest, HiddenOptionsHaveRanges) {
  int options = 0;
  for (const auto& field : configFields()) {
    if (field.hiddenOption == nullptr) continue;
    ++options;
    EXPECT_EQ(std::string(field.hiddenOption).rfind("--x-", 0), 0u) << field.hiddenOption;
    if (!std::holds_alternative<bool DaemonConfig::*>(field.member) &&
        !std::holds_alternative<std::string DaemonConfig::*>(field.member)) {
      EXPECT_LT(field.optionMin, field.optionMax);
    }
  }
  EXPECT_EQ(options, 8);
}

}  // namespace
}  // namespace keelan
