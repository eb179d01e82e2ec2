// keelan.toml onto the daemon's configuration: every key is an option of
// the field table, layers apply in order and remember their source, and
// any input (hostile, truncated, nested, binary) gives a value or an error
// with its line and column, never a crash.
#include "keelan/config_file.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "keelan/config_options.h"

namespace keelan {
namespace {

using nlohmann::json;

std::string errorOf(std::string_view text) {
  auto layer = parseConfigText(text, "keelan.toml", "/etc/keelan");
  return layer ? "" : layer.error().message;
}

TEST(ConfigFileTest, EveryKeyOfTheDaemonIsReadAndChecked) {
  auto layer = parseConfigText(R"(# the daemon
interval = 7
log-file = "logs/d.log"        # relative: against the file's directory
pid-file = "/run/k.pid"
socket = "/run/k.sock"
socket-group = "keelan"
on-exit = "logger done"
webhook = "https://alerts.example/k"
webhook-include-env = true
metrics-address = "127.0.0.1:9464"
max-log-size = "10M"
max-log-files = 3
)",
                               "keelan.toml", "/etc/keelan");
  ASSERT_TRUE(layer) << layer.error().message;
  const OptionLayer& options = layer.value();
  EXPECT_EQ(options.at("interval"), 7);
  EXPECT_EQ(options.at("log-file"), "/etc/keelan/logs/d.log");
  EXPECT_EQ(options.at("socket-group"), "keelan");
  EXPECT_EQ(options.at("webhook-include-env"), true);
  EXPECT_EQ(options.at("max-log-size"), uint64_t{10} << 20);
  EXPECT_EQ(options.at("max-log-files"), 3);
  DaemonConfig config;
  applyLayer(config, options, "file");
  EXPECT_EQ(config.intervalSeconds, 7);
  EXPECT_EQ(config.paths.socket, "/run/k.sock");
  EXPECT_EQ(config.webhookUrl, "https://alerts.example/k");
  EXPECT_EQ(config.defaultOnExit, "logger done");
  EXPECT_EQ(config.maxLogSize, uint64_t{10} << 20);
  EXPECT_EQ(config.optionSources.at("interval"), "file");
}

TEST(ConfigFileTest, EveryOptionOfTheTableIsAKey) {
  std::set<std::string> seen;
  for (const ConfigField& field : configFields()) {
    if (field.option == nullptr) continue;
    EXPECT_TRUE(seen.insert(field.option).second) << field.option << " twice";
    EXPECT_NE(field.help, nullptr) << field.option;
    // A key nobody wrote must still be refused for its type, not as unknown.
    std::string message = errorOf(std::string(field.option) + " = [1, 2]\n");
    EXPECT_NE(message.find("'" + std::string(field.option) + "' must be"), std::string::npos) << message;
  }
  EXPECT_GE(seen.size(), 11u);
}

TEST(ConfigFileTest, UnknownKeyIsRefusedWithLineAndColumn) {
  EXPECT_EQ(errorOf("interval = 5\n\n# a comment\n\n\n\nwebhok = \"http://x\"\n"),
            "keelan.toml:7:1: unknown key 'webhok'");
  EXPECT_EQ(errorOf("[webhook]\nurl = \"http://x\"\n"), "keelan.toml:1:1: 'webhook' must be a string, not a table");
  EXPECT_EQ(errorOf("[daemon]\ninterval = 5\n"), "keelan.toml:1:2: unknown key 'daemon'");
}

TEST(ConfigFileTest, WrongTypesAndBadValuesAreRefusedWhereTheyAre) {
  EXPECT_EQ(errorOf("interval = \"5\"\n"), "keelan.toml:1:12: 'interval' must be an integer, not a string");
  EXPECT_EQ(errorOf("\n  interval = 0\n"), "keelan.toml:2:14: interval: 0 is not in 1..86400");
  EXPECT_EQ(errorOf("interval = 1.5\n"), "keelan.toml:1:12: 'interval' must be an integer, not a float");
  EXPECT_EQ(errorOf("webhook-include-env = \"yes\"\n"),
            "keelan.toml:1:23: 'webhook-include-env' must be a boolean, not a string");
  EXPECT_EQ(errorOf("webhook = \"ftp://x\"\n"), "keelan.toml:1:11: webhook: 'ftp://x' is not an http:// or https:// URL");
  EXPECT_EQ(errorOf("max-log-size = \"ten\"\n"), "keelan.toml:1:16: max-log-size: 'ten' is not a size such as 10M");
  EXPECT_EQ(errorOf("max-log-size = -1\n"), "keelan.toml:1:16: max-log-size: -1 is negative");
  EXPECT_EQ(errorOf("max-log-files = 99999999999\n"), "keelan.toml:1:17: max-log-files: 99999999999 is not in 1..1000");
  EXPECT_EQ(errorOf("socket = \"\"\n"), "keelan.toml:1:10: socket: the path is empty");
  EXPECT_NE(errorOf("interval = 5\ninterval = 6\n").find("keelan.toml:2:"), std::string::npos);
  EXPECT_NE(errorOf("interval = \n").find("keelan.toml:1:"), std::string::npos);
}

TEST(ConfigFileTest, AnEmptyFileIsTheDefaults) {
  auto layer = parseConfigText("# nothing set\n\n", "keelan.toml", "/");
  ASSERT_TRUE(layer);
  EXPECT_TRUE(layer.value().empty());
}

TEST(ConfigFileTest, HostileInputNeverCrashes) {
  std::vector<std::string> inputs = {std::string(100000, '['), std::string(100000, '{'), "a = " + std::string(5000, '['),
                                     std::string("interval = 5\0\0", 15), "\xff\xfe\x00interval", "interval = \"\\u0000\"",
                                     "on-exit = \"\\uD800\"", "x = 1979-05-27T07:32:00Z", "'''", "\"\"\"\n", "=",
                                     "a.b.c.d = 1", "[[a]]\n[[a]]\n", "interval = 0x7fffffffffffffff",
                                     "interval = -9223372036854775808", "max-log-size = 18446744073709551615",
                                     // toml++ 3.3.0 asserted on these (a key expected after '[').
                                     "[=},7", "[\x01" "53-]", "[}4r9=+}.", "[:+ i9", "[[=", "[ }"};
  std::mt19937 random(14);
  const std::string alphabet = "[]{}=\"'#.,\n \\tabinterval0123456789-+:\x01\x80\xff";
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    size_t length = random() % 80;
    for (size_t j = 0; j < length; ++j) text += alphabet[random() % alphabet.size()];
    inputs.push_back(text);
  }
  for (const std::string& text : inputs) {
    auto layer = parseConfigText(text, "keelan.toml", "/");
    if (!layer) {
      EXPECT_EQ(layer.error().message.rfind("keelan.toml:", 0), 0u) << layer.error().message;
    }
  }
}

TEST(ConfigFileTest, FlagsOverrideTheFileWhichOverridesTheDefaults) {
  DaemonConfig config;
  applyLayer(config, parseConfigText("interval = 7\nwebhook = \"http://file\"\n", "k", "/").value(), "file");
  const ConfigField& interval = *findOption("interval");
  auto flag = checkOptionValue(interval, optionValueFromText(interval, "9").value(), "/");
  ASSERT_TRUE(flag);
  applyLayer(config, {{"interval", flag.value()}}, "flag");
  json options = optionsJson(config);
  EXPECT_EQ(options["interval"], json({{"value", 9}, {"source", "flag"}}));
  EXPECT_EQ(options["webhook"], json({{"value", "http://file"}, {"source", "file"}}));
  EXPECT_EQ(options["max-log-files"], json({{"value", 5}, {"source", "default"}}));
}

TEST(ConfigFileTest, FlagTextIsCheckedLikeAFileValue) {
  const ConfigField& interval = *findOption("interval");
  for (const char* bad : {"abc", "1.5", "", "5x"}) EXPECT_FALSE(optionValueFromText(interval, bad)) << bad;
  EXPECT_FALSE(checkOptionValue(interval, optionValueFromText(interval, "86401").value(), "/"));
  const ConfigField& size = *findOption("max-log-size");
  EXPECT_EQ(checkOptionValue(size, optionValueFromText(size, "1K").value(), "/").value(), 1024);
  const ConfigField& pidFile = *findOption("pid-file");
  EXPECT_EQ(checkOptionValue(pidFile, "run/../x.pid", "/srv").value(), "/srv/x.pid");
}

TEST(ConfigFileTest, ARestartKeepsTheRunningDaemonsFlagsAndSeesWhatChanged) {
  DaemonConfig running;
  applyLayer(running, {{"webhook", "http://flag"}, {"interval", 9}}, "flag");
  applyLayer(running, {{"max-log-files", 3}}, "file");
  json options = optionsJson(running);
  OptionLayer kept = flagLayerOf(options);
  EXPECT_EQ(kept, (OptionLayer{{"interval", 9}, {"webhook", "http://flag"}}));
  DaemonConfig wanted = running;
  EXPECT_TRUE(changedOptions(options, wanted).empty());
  wanted.paths.socket = "/elsewhere.sock";
  wanted.intervalSeconds = 4;
  auto changed = changedOptions(options, wanted);
  ASSERT_EQ(changed.size(), 2u);
  EXPECT_STREQ(changed[0]->option, "socket");
  EXPECT_EQ(changed[0]->change, Change::cold);
  EXPECT_STREQ(changed[1]->option, "interval");
  EXPECT_EQ(changed[1]->change, Change::live);
}

TEST(ConfigFileTest, InPlaceChangesTakeOnlyLiveOptions) {
  DaemonConfig config;
  auto changes = applyLiveOptions(config, {{"webhook", "http://x"}, {"interval", 5}}, std::nullopt);
  ASSERT_TRUE(changes) << changes.error().message;
  EXPECT_EQ(changes.value(), (std::vector<std::string>{"interval: 30 -> 5", "webhook: '' -> 'http://x'"}));
  EXPECT_EQ(config.webhookUrl, "http://x");
  EXPECT_EQ(config.optionSources.at("webhook"), "flag");
  DaemonConfig unchanged = config;
  auto refused = applyLiveOptions(config, {{"interval", 6}, {"socket", "/x.sock"}}, std::nullopt);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("'socket' cannot change in place"), std::string::npos);
  EXPECT_EQ(config.intervalSeconds, 5) << "a refused request changes nothing";
  EXPECT_FALSE(applyLiveOptions(config, {{"interval", 0}}, std::nullopt));
  EXPECT_FALSE(applyLiveOptions(config, {{"webhok", "x"}}, std::nullopt));
  auto sourced = applyLiveOptions(config, json::object(), std::map<std::string, std::string>{{"interval", "file"}});
  ASSERT_TRUE(sourced);
  EXPECT_EQ(config.optionSources, (std::map<std::string, std::string>{{"interval", "file"}}));
}

}  // namespace
}  // namespace keelan
