#include "keelan/ship.h"
#include "keelan/ship_transitions.h"

#include <gtest/gtest.h>

#include <csignal>

namespace keelan {
namespace {

using nlohmann::json;

TEST(ShipName, Validation) {
  for (const char* good : {"a", "web-1", "A.b_c", "0day"}) EXPECT_EQ(validateShipName(good), "") << good;
  EXPECT_EQ(validateShipName(std::string(63, 'x')), "");
  for (std::string bad : std::vector<std::string>{"", "-a", ".a", "_a", "a/b", "a b", "a\nb", std::string(64, 'x'), "é"})
    EXPECT_NE(validateShipName(bad), "") << bad;
}

TEST(ShipSpec, FromJsonRejectsWrongTypesAndUnknownFields) {
  EXPECT_THROW(shipSpecFromJson(json::parse(R"({"command": "x"})"), "n"), std::invalid_argument);
  EXPECT_THROW(shipSpecFromJson(json::parse(R"({"command": [1]})"), "n"), std::invalid_argument);
  EXPECT_THROW(shipSpecFromJson(json::parse(R"({"env": {"A": 1}})"), "n"), std::invalid_argument);
  EXPECT_THROW(shipSpecFromJson(json::parse(R"({"colour": "red"})"), "n"), std::invalid_argument);
  EXPECT_THROW(shipSpecFromJson(json::parse(R"([1])"), "n"), std::invalid_argument);
  ShipSpec spec = shipSpecFromJson(
      json::parse(R"({"root": "/r", "cwd": "/w", "env": {"A": "1"}, "command": ["/bin/sh", "-c", "x"]})"), "n");
  EXPECT_EQ(spec.root, "/r");
  EXPECT_EQ(spec.cwd, "/w");
  EXPECT_EQ(spec.env.at("A"), "1");
  EXPECT_EQ(spec.command.size(), 3u);
  EXPECT_EQ(validateShipSpec(spec), "");
}

TEST(ShipSpec, Validation) {
  ShipSpec spec;
  spec.name = "n";
  spec.command = {"/bin/true"};
  EXPECT_EQ(validateShipSpec(spec), "");
  ShipSpec noCommand = spec;
  noCommand.command.clear();
  EXPECT_NE(validateShipSpec(noCommand), "");
  ShipSpec relativeRoot = spec;
  relativeRoot.root = "roots/a";
  EXPECT_NE(validateShipSpec(relativeRoot), "");
  ShipSpec badEnv = spec;
  badEnv.env["A=B"] = "x";
  EXPECT_NE(validateShipSpec(badEnv), "");
  ShipSpec nul = spec;
  nul.command.push_back(std::string("a\0b", 3));
  EXPECT_NE(validateShipSpec(nul), "");
}

ShipRecord fresh() {
  ShipRecord record;
  record.spec.name = "web";
  record.spec.root = "/r";
  record.spec.command = {"/bin/httpd"};
  return record;
}

TEST(StateMachine, SpawnThenExit) {
  ShipRecord record = fresh();
  Transition spawned = onSpawned(record, 100, 5555, "boot", "t1");
  ASSERT_TRUE(spawned.accepted);
  EXPECT_EQ(spawned.event, "deployed");
  EXPECT_EQ(record.status, ShipStatus::running);
  EXPECT_EQ(record.deployCount, 1u);
  EXPECT_FALSE(spawned.finishedRun.has_value());

  Transition exited = onExited(record, ExitStatus::exited(7), "waitpid", "", "t2");
  ASSERT_TRUE(exited.accepted);
  EXPECT_EQ(exited.event, "stopped");
  EXPECT_EQ(record.status, ShipStatus::stopped);
  EXPECT_EQ(record.exit, ExitStatus::exited(7));
  ASSERT_TRUE(exited.finishedRun.has_value());
  EXPECT_EQ(exited.finishedRun->pid, 100);
  EXPECT_EQ(exited.finishedRun->startedAt, "t1");
  EXPECT_EQ(exited.finishedRun->stoppedAt, "t2");
  EXPECT_EQ(exited.finishedRun->run, 1u);
}

TEST(StateMachine, ImpossiblePairsAreRefusedAndChangeNothing) {
  ShipRecord record = fresh();
  EXPECT_FALSE(onExited(record, ExitStatus::exited(0), "waitpid", "", "t").accepted);
  EXPECT_FALSE(onAdopted(record, "t").accepted);
  ASSERT_TRUE(onSpawned(record, 1, 1, "b", "t").accepted);
  ShipRecord before = record;
  Transition twice = onSpawned(record, 2, 2, "b", "t");
  EXPECT_FALSE(twice.accepted);
  EXPECT_NE(twice.reason.find("impossible"), std::string::npos);
  EXPECT_EQ(record.pid, before.pid);
  EXPECT_FALSE(onSpawnFailed(record, "x", "t").accepted);
}

TEST(StateMachine, SpawnFailureIsARunWithAReason) {
  ShipRecord record = fresh();
  Transition failed = onSpawnFailed(record, "root /r is not a directory", "t");
  ASSERT_TRUE(failed.accepted);
  EXPECT_EQ(failed.event, "failed");
  EXPECT_EQ(record.status, ShipStatus::failed);
  EXPECT_EQ(record.error, "root /r is not a directory");
  EXPECT_FALSE(record.exit.known());
  ASSERT_TRUE(failed.finishedRun.has_value());
  // A failed ship can be deployed again.
  EXPECT_TRUE(onSpawned(record, 3, 3, "b", "t").accepted);
  EXPECT_EQ(record.error, "");
  EXPECT_EQ(record.deployCount, 2u);
}

TEST(StateMachine, AdoptionAndUnknownExit) {
  ShipRecord record = fresh();
  ASSERT_TRUE(onSpawned(record, 9, 9, "b", "t").accepted);
  Transition adopted = onAdopted(record, "t2");
  ASSERT_TRUE(adopted.accepted);
  EXPECT_TRUE(record.adopted);
  EXPECT_EQ(record.lastCheckedAt, "t2");
  Transition gone = onExited(record, {}, "pidfd", "exited while adopted", "t3");
  ASSERT_TRUE(gone.accepted);
  EXPECT_FALSE(record.exit.known());
  EXPECT_EQ(record.exitSource, "") << "an unknown status has no source";
  json out = shipRecordToJson(record);
  EXPECT_TRUE(out["exitCode"].is_null());
  EXPECT_TRUE(out["termSignal"].is_null());
  EXPECT_EQ(out["stoppedReason"], "exited while adopted");
}

TEST(ShipRecord, JsonRoundTrip) {
  ShipRecord record = fresh();
  record.spec.env = {{"A", "1"}};
  onSpawned(record, 42, 777, "boot-id", "2026-11-26T10:15:03.123Z");
  onExited(record, ExitStatus::signaled(11, true), "waitpid", "", "2026-11-26T10:15:04.000Z");
  json out = shipRecordToJson(record);
  for (const char* field : {"name", "status", "processId", "startedAt", "stoppedAt", "exitCode", "termSignal",
                            "coreDumped", "root", "cwd", "command", "env", "adopted", "lastCheckedAt", "deployCount"})
    EXPECT_TRUE(out.contains(field)) << field;
  EXPECT_EQ(out["termSignal"], 11);
  EXPECT_EQ(out["coreDumped"], true);
  ShipRecord back = shipRecordFromJson(out);
  EXPECT_EQ(shipRecordToJson(back), out);
}

// shipRecordText is written by hand for speed; it must be byte for byte what
// dumping the DOM gives, for every shape of record.
// reloadSignal: a name or a number, kept as the signal; absent means SIGHUP;
// a signed maxLogFiles (as the CLI builds it) is an integer like any other.
TEST(ShipSpec, ReloadSignalAndSignedMaxLogFiles) {
  ShipSpec spec = shipSpecFromJson({{"command", {"/bin/true"}}, {"reloadSignal", "usr1"}, {"maxLogFiles", int{2}}}, "a");
  EXPECT_EQ(spec.reloadSignal, SIGUSR1);
  EXPECT_EQ(reloadSignalOf(spec), SIGUSR1);
  EXPECT_EQ(spec.maxLogFiles, 2);
  EXPECT_EQ(shipSpecToJson(spec)["reloadSignal"], "USR1");
  EXPECT_EQ(shipSpecFromJson({{"command", {"/bin/true"}}, {"reloadSignal", 12}}, "a").reloadSignal, 12);
  ShipSpec plain = shipSpecFromJson({{"command", {"/bin/true"}}, {"reloadSignal", nullptr}}, "a");
  EXPECT_EQ(reloadSignalOf(plain), SIGHUP);
  EXPECT_FALSE(shipSpecToJson(plain).contains("reloadSignal"));
  for (const json& bad : {json("NOPE"), json(0), json(65), json(true)})
    EXPECT_THROW(shipSpecFromJson({{"command", {"/bin/true"}}, {"reloadSignal", bad}}, "a"), std::invalid_argument)
        << bad.dump();
  EXPECT_THROW(shipSpecFromJson({{"command", {"/bin/true"}}, {"maxLogFiles", int{-1}}}, "a"), std::invalid_argument);
}

TEST(ShipRecord, TextIsExactlyTheDomDump) {
  auto dump = [](const ShipRecord& r) { return shipRecordToJson(r).dump(-1, ' ', false, json::error_handler_t::replace); };
  ShipRecord plain = fresh();
  EXPECT_EQ(shipRecordText(plain), dump(plain));
  ShipRecord full = fresh();
  full.spec.root = "/srv/roots/a b";
  full.spec.cwd = "/tmp";
  full.spec.user = "nobody";
  full.spec.onExit = "echo \"done\" \\ now\n";
  full.spec.maxLogSize = 1048576;
  full.spec.maxLogFiles = 3;
  full.spec.reloadSignal = SIGUSR2;
  full.spec.env = {{"Z", "last"}, {"A", "tab\there"}, {"UTF", "h\xc3\xa9 \xe2\x82\xac"}, {"BAD", "\xff\xfe"}, {"CTL", std::string("\x01\x1f\x7f", 3)}};
  full.spec.command = {"/bin/sh", "-c", "printf '%s\\n' \"$A\"", ""};
  auto policy = parseRestartPolicy("on-failure:5");
  ASSERT_TRUE(policy.has_value());
  full.spec.restart = *policy;
  onSpawned(full, 4194304, 18446744073709551615ull, "boot-\"id\"", "2026-11-26T10:15:03.123Z");
  EXPECT_EQ(shipRecordText(full), dump(full));
  onExited(full, ExitStatus::exited(255), "waitpid", "stopped by request", "2026-11-26T10:15:04.000Z");
  EXPECT_EQ(shipRecordText(full), dump(full));
  onSpawned(full, 7, 1, "b", "2026-11-26T10:15:05.000Z");
  onExited(full, ExitStatus::signaled(9, false), "pidfd", "", "2026-11-26T10:15:06.000Z");
  EXPECT_EQ(shipRecordText(full), dump(full));
  full.status = ShipStatus::backoff;
  full.nextAttemptMs = 1790000000123;
  full.restartStreak = 2;
  full.restarts = 9;
  full.adopted = true;
  full.lastCheckedAt = "2026-11-26T10:15:07.000Z";
  full.error = "cannot execute /nope: No such file or directory";
  EXPECT_EQ(shipRecordText(full), dump(full));
  full.exit = {};
  full.nextAttemptMs = -5;
  full.status = ShipStatus::lost;
  EXPECT_EQ(shipRecordText(full), dump(full));
}

}  // namespace
}  // namespace keelan

namespace keelan {
namespace {

TEST(RestartPolicy, ParseAndPrint) {
  for (const char* text : {"no", "on-failure", "on-failure:3", "always", "always:10"}) {
    auto policy = parseRestartPolicy(text);
    ASSERT_TRUE(policy.has_value()) << text;
    EXPECT_EQ(restartPolicyText(*policy), text);
  }
  for (const char* bad : {"", "yes", "on-failure:", "on-failure:0", "on-failure:-1", "no:3", "always:x", "always:9999999"})
    EXPECT_FALSE(parseRestartPolicy(bad).has_value()) << bad;
}

TEST(RestartPolicy, DecisionsAndBackoff) {
  auto parsedOnFailure3 = parseRestartPolicy("on-failure:3");
  auto parsedAlways = parseRestartPolicy("always");
  ASSERT_TRUE(parsedOnFailure3.has_value());
  ASSERT_TRUE(parsedAlways.has_value());
  RestartPolicy onFailure3 = *parsedOnFailure3;
  EXPECT_FALSE(decideRestart(onFailure3, ExitStatus::exited(0), 0, 10).restart);
  auto first = decideRestart(onFailure3, ExitStatus::exited(1), 0, 10);
  EXPECT_TRUE(first.restart);
  EXPECT_EQ(first.delayMs, 1000);
  EXPECT_EQ(first.streak, 1u);
  EXPECT_EQ(decideRestart(onFailure3, ExitStatus::exited(1), 1, 10).delayMs, 2000);
  EXPECT_EQ(decideRestart(onFailure3, ExitStatus::signaled(9, false), 2, 10).delayMs, 4000);
  EXPECT_FALSE(decideRestart(onFailure3, ExitStatus::exited(1), 3, 10).restart) << "MAX reached";
  EXPECT_TRUE(decideRestart(onFailure3, ExitStatus{}, 0, 10).restart) << "unknown counts as a failure";
  // A long run starts the count afresh.
  auto fresh = decideRestart(onFailure3, ExitStatus::exited(1), 3, kBackoffResetAfterMs);
  EXPECT_TRUE(fresh.restart);
  EXPECT_EQ(fresh.delayMs, 1000);
  RestartPolicy always = *parsedAlways;
  EXPECT_TRUE(decideRestart(always, ExitStatus::exited(0), 0, 10).restart);
  EXPECT_EQ(decideRestart(always, ExitStatus::exited(0), 30, 10).delayMs, kBackoffCapMs);
  EXPECT_EQ(decideRestart(always, ExitStatus::exited(0), 1000, 10).delayMs, kBackoffCapMs);
  EXPECT_FALSE(decideRestart(RestartPolicy{}, ExitStatus::exited(1), 0, 10).restart);
}

TEST(StateMachine, BackoffThenRestartOrCancel) {
  ShipRecord record;
  record.spec.name = "b";
  record.spec.command = {"/bin/false"};
  ASSERT_TRUE(onSpawned(record, 5, 5, "b", "t").accepted);
  ASSERT_TRUE(onExited(record, ExitStatus::exited(1), "waitpid", "", "t").accepted);
  Transition backoff = onBackoff(record, 12345, 1);
  ASSERT_TRUE(backoff.accepted);
  EXPECT_EQ(backoff.event, "backoff");
  EXPECT_EQ(record.status, ShipStatus::backoff);
  EXPECT_EQ(shipRecordToJson(record)["nextAttemptAt"], "1970-01-01T00:00:12.345Z");
  EXPECT_FALSE(onExited(record, ExitStatus::exited(1), "waitpid", "", "t").accepted);
  EXPECT_FALSE(onBackoff(record, 1, 1).accepted);
  ShipRecord cancelled = record;
  ASSERT_TRUE(onRestartCancelled(cancelled, "t").accepted);
  EXPECT_EQ(cancelled.status, ShipStatus::stopped);
  ASSERT_TRUE(onSpawned(record, 6, 6, "b", "t").accepted);
  EXPECT_EQ(record.deployCount, 2u);
  EXPECT_EQ(record.nextAttemptMs, 0);
}

}  // namespace
}  // namespace keelan
