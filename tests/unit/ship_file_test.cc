#include "keelan/ship_file.h"

#include <gtest/gtest.h>

#include "keelan/ship.h"

namespace keelan {
namespace {

using nlohmann::json;

std::vector<ShipDefinition> parsed(const std::string& text, const std::string& path = "fleet.toml") {
  auto result = parseShipFileText(text, path);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? result.value() : std::vector<ShipDefinition>{};
}

std::string errorOf(const std::string& text, const std::string& path = "fleet.toml") {
  auto result = parseShipFileText(text, path);
  return result.ok() ? "" : result.error().message;
}

TEST(ShipFile, EveryTomlKeyMapsToItsJsonField) {
  auto ships = parsed(R"(
[ship.web]
root = "/srv/root"
cwd = "/app"
command = ["/bin/sh", "-c", "exec httpd"]
env = { MODE = "prod" }
env-file = ["/etc/web.env", "/etc/common.env"]
user = "www"
restart = "on-failure:3"
on-exit = "logger done"
labels = { tier = "web" }
max-log-size = "10M"
max-log-files = 3
reload-signal = "USR1"
kill-mode = "process"
)");
  ASSERT_EQ(ships.size(), 1u);
  EXPECT_EQ(ships[0].name, "web");
  EXPECT_EQ(ships[0].origin, "fleet.toml:2:1");
  const json& ship = ships[0].ship;
  EXPECT_EQ(ship.size(), std::size(kShipKeys)) << "one row of kShipKeys per key in this file";
  for (const auto& key : kShipKeys) EXPECT_TRUE(ship.contains(key.json)) << key.json;
  ShipSpec spec = shipSpecFromJson(ship, "web");
  EXPECT_EQ(spec.envFiles, (std::vector<std::string>{"/etc/web.env", "/etc/common.env"}));
  EXPECT_EQ(spec.labels.at("tier"), "web");
  EXPECT_EQ(spec.onExit, "logger done");
  EXPECT_EQ(spec.maxLogSize, 10u << 20);
  EXPECT_EQ(spec.maxLogFiles, 3);
  EXPECT_EQ(restartPolicyText(spec.restart), "on-failure:3");
}

TEST(ShipFile, ASingleShipFileIsNamedAfterTheFile) {
  auto ships = parsed("command = [\"/bin/true\"]\nenv-file = \"/etc/a.env\"\n", "conf/ships/api.toml");
  ASSERT_EQ(ships.size(), 1u);
  EXPECT_EQ(ships[0].name, "api");
  EXPECT_EQ(ships[0].ship["envFile"], "/etc/a.env");
}

TEST(ShipFile, JsonShipFilesKeepTheirCamelCaseNames) {
  auto ships = parsed(R"({"command": ["/bin/true"], "envFile": ["/e"], "onExit": "x", "labels": {"a": "b"}})", "d/x.json");
  ASSERT_EQ(ships.size(), 1u);
  EXPECT_EQ(ships[0].name, "x");
  EXPECT_NE(errorOf(R"({"command": ["/bin/true"], "on-exit": "x"})", "x.json").find("unknown field 'on-exit'"),
            std::string::npos);
}

TEST(ShipFile, UnknownKeysWrongTypesAndBadValuesNameLineAndColumn) {
  EXPECT_EQ(errorOf("[ship.a]\ncommand = [\"/bin/true\"]\n  webhok = 1\n"), "fleet.toml:3:3: unknown key 'webhok'");
  EXPECT_EQ(errorOf("[ship.a]\ncommand = [1]\n"), "fleet.toml:2:11: 'command' must be an array of strings");
  EXPECT_EQ(errorOf("[ship.a]\ncommand = [\"/bin/true\"]\nmax-log-files = -1\n"),
            "fleet.toml:3:17: 'max-log-files' must be a non-negative integer");
  EXPECT_NE(errorOf("[ship.a]\ncommand = [\"/bin/true\"]\nroot = \"relative\"\n").find("fleet.toml:3:8: root: root must be an absolute path"),
            std::string::npos);
  EXPECT_NE(errorOf("[ship.a]\ncommand = [\"/bin/true\"]\nlabels = { \"a b\" = \"x\" }\n").find("fleet.toml:3:10: labels: label key"),
            std::string::npos);
  EXPECT_EQ(errorOf("[ship.a]\nroot = \"/r\"\n"), "fleet.toml:1:1: ship 'a' has no 'command'");
  EXPECT_NE(errorOf("[ship.\"bad name\"]\ncommand = [\"/bin/true\"]\n").find("fleet.toml:1:1: ship name"), std::string::npos);
  EXPECT_NE(errorOf("webhook = 1\n[ship.a]\ncommand = [\"/bin/true\"]\n").find("fleet.toml:1:1: unknown key 'webhook'"),
            std::string::npos);
  EXPECT_NE(errorOf("[ship.a\ncommand = 1\n").find("fleet.toml:1:"), std::string::npos) << "a syntax error has a position";
}

TEST(ShipFile, HostileInputIsAnErrorNotACrash) {
  EXPECT_NE(errorOf(std::string(kMaxShipFileBytes + 1, '#')), "");
  EXPECT_NE(errorOf(std::string(10000, '[')), "");
  // toml++ 3.3 asserts on these instead of reporting them; they never reach it.
  EXPECT_EQ(errorOf("x = 1\n  [[[a]]]\n"), "fleet.toml:2:3: a line may not open with '[[['");
  EXPECT_EQ(errorOf("a = \"\xff\"\n"), "fleet.toml:1:6: not valid UTF-8");
  EXPECT_NE(errorOf("a = " + std::string(5000, '[') + "\n"), "");
  EXPECT_NE(errorOf(std::string("command = [\"\0\"]\n", 16)), "");
  EXPECT_NE(errorOf("\xff\xfe = 1\n"), "");
  EXPECT_NE(errorOf("{", "x.json"), "");
}

TEST(ShipFile, TheSameDefinitionFromTomlOrJsonIsTheSameSpec) {
  auto toml = parsed("command = [\"/bin/sleep\", \"1\"]\nmax-log-size = 1024\n", "a.toml");
  auto fromJson = parsed(R"({"command": ["/bin/sleep", "1"], "maxLogSize": "1K"})", "a.json");
  ASSERT_EQ(toml.size(), 1u);
  ASSERT_EQ(fromJson.size(), 1u);
  EXPECT_EQ(shipSpecToJson(shipSpecFromJson(toml[0].ship, "a")), shipSpecToJson(shipSpecFromJson(fromJson[0].ship, "a")));
}

}  // namespace
}  // namespace keelan
