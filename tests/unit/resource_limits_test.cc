#include "keelan/resource_limits.h"

#include <gtest/gtest.h>

#include "keelan/ship.h"

namespace keelan {
namespace {

TEST(ResourceLimits, ParsesSoftAndHard) {
  Rlimit limit;
  EXPECT_EQ(parseRlimit("1024:4096", limit), "");
  EXPECT_EQ(limit, (Rlimit{1024, 4096}));
  EXPECT_EQ(parseRlimit("0", limit), "");
  EXPECT_EQ(limit, (Rlimit{0, 0}));  // N alone sets both, as docker --ulimit
  EXPECT_EQ(parseRlimit("100:infinity", limit), "");
  EXPECT_EQ(limit, (Rlimit{100, kRlimitInfinity}));
  EXPECT_EQ(rlimitText(limit), "100:infinity");
}

TEST(ResourceLimits, RefusesMalformedAndSoftAboveHard) {
  Rlimit limit{7, 7};
  for (const char* bad : {"", ":", "-1", "1:", "a", "1:2:3", "1 ", "99999999999999999999"})
    EXPECT_NE(parseRlimit(bad, limit), "") << bad;
  EXPECT_NE(parseRlimit("10:5", limit).find("above the hard limit"), std::string::npos);
  EXPECT_NE(parseRlimit("infinity:5", limit), "");
  EXPECT_EQ(limit, (Rlimit{7, 7}));
}

TEST(ResourceLimits, DefaultNofileOnlyWhenTheDaemonsDiffers) {
  EXPECT_TRUE(rlimitHelperOptions({}, {1024, 524288}).empty());
  EXPECT_EQ(rlimitHelperOptions({}, {524288, 524288}), std::vector<std::string>{"--rlimit=nofile=1024:524288"});
  // A hard limit below 1024 caps the default soft one.
  EXPECT_EQ(rlimitHelperOptions({}, {512, 512}), std::vector<std::string>{"--rlimit=nofile=512:512"});
  EXPECT_EQ(rlimitHelperOptions({{"nofile", {10, 20}}}, {524288, 524288}),
            std::vector<std::string>{"--rlimit=nofile=10:20"});
  EXPECT_EQ(rlimitHelperOptions({{"core", {0, kRlimitInfinity}}}, {1024, 4096}),
            (std::vector<std::string>{"--rlimit=core=0:infinity", "--rlimit=nofile=1024:4096"}));
}

TEST(ResourceLimits, ShipSpecJsonRoundTrip) {
  auto spec = shipSpecFromJson(
      {{"command", {"/bin/true"}}, {"limits", {{"nofile", "100:200"}, {"core", 0}, {"stack", "infinity"}}}}, "a");
  EXPECT_EQ(spec.limits.at("nofile"), (Rlimit{100, 200}));
  EXPECT_EQ(spec.limits.at("core"), (Rlimit{0, 0}));
  EXPECT_EQ(spec.limits.at("stack"), (Rlimit{kRlimitInfinity, kRlimitInfinity}));
  auto json = shipSpecToJson(spec);
  EXPECT_EQ(json["limits"]["nofile"], "100:200");
  EXPECT_EQ(shipSpecFromJson(json, "a").limits, spec.limits);
  ShipRecord record;
  record.spec = spec;
  EXPECT_EQ(nlohmann::json::parse(shipRecordText(record))["limits"], json["limits"]);
  EXPECT_EQ(shipRecordFromJson(nlohmann::json::parse(shipRecordText(record))).spec.limits, spec.limits);
}

TEST(ResourceLimits, ShipSpecRefusesUnknownNamesAndBadValues) {
  auto with = [](nlohmann::json limits) {
    return [limits] { shipSpecFromJson({{"command", {"/bin/true"}}, {"limits", limits}}, "a"); };
  };
  EXPECT_THROW(with({{"files", 10}})(), std::invalid_argument);
  EXPECT_THROW(with({{"nofile", "20:10"}})(), std::invalid_argument);
  EXPECT_THROW(with({{"nofile", -1}})(), std::invalid_argument);
  EXPECT_THROW(with({{"nofile", true}})(), std::invalid_argument);
  EXPECT_THROW(with("nofile=10")(), std::invalid_argument);
}

}  // namespace
}  // namespace keelan
