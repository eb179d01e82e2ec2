// Durability modes (`daemon start --durability strict|group`, README
// "Durability"): the mode shows in status and survives an in-place
// restart; a group-mode daemon killed with SIGKILL loses no record it had
// told (the page cache outlives the process); bad values are usage errors.
#include <signal.h>

#include "harness.h"

namespace keelan::test {
namespace {

class Durability : public KeelanTest {};

TEST_F(Durability, StatusShowsTheMode) {
  startDaemon();
  auto status = json({"daemon", "status", "--json"});
  EXPECT_EQ(status["durability"], "strict");
  EXPECT_EQ(status["flushIntervalMs"], 100);
  Result text = keelan({"daemon", "status"});
  EXPECT_NE(text.out.find("durability: strict"), std::string::npos) << text.out;
  ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);

  startDaemon({"--durability", "group", "--flush-interval", "250"});
  status = json({"daemon", "status", "--json"});
  EXPECT_EQ(status["durability"], "group");
  EXPECT_EQ(status["flushIntervalMs"], 250);
  text = keelan({"daemon", "status"});
  EXPECT_NE(text.out.find("durability: group (told at once, flushed to the device every 250 ms)"), std::string::npos)
      << text.out;
}

// The background flush is measured: its histogram counts the flushes of a
// group daemon, and stays empty under strict durability.
TEST_F(Durability, GroupFlushesAreInTheMetrics) {
  auto flushes = [&] { return metricSample("keelan_store_flush_seconds_count"); };
  startDaemon();
  ASSERT_EQ(deploySh("once", "exit 0").code, 0);
  ASSERT_EQ(keelan({"wait", "once"}).code, 0);
  EXPECT_EQ(flushes(), 0) << "strict durability flushes in every commit, not in the background";
  ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);

  startDaemon({"--durability", "group", "--flush-interval", "10"});
  ASSERT_EQ(deploySh("twice", "exit 0").code, 0);
  ASSERT_EQ(keelan({"wait", "twice"}).code, 0);
  EXPECT_TRUE(eventually([&] { return flushes() >= 1; })) << keelan({"metrics"}).out;
  EXPECT_EQ(metricSample("keelan_store_flush_failures_total"), 0);
}

TEST_F(Durability, InPlaceRestartKeepsTheMode) {
  startDaemon({"--durability", "group", "--flush-interval", "40"});
  pid_t pid = daemonPid();
  int64_t generation = json({"daemon", "status", "--json"})["generation"].get<int64_t>();
  Result r = keelan({"daemon", "restart"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto status = json({"daemon", "status", "--json"});
  EXPECT_EQ(daemonPid(), pid);
  EXPECT_EQ(status["generation"], generation + 1) << "it re-executed";
  EXPECT_EQ(status["durability"], "group");
  EXPECT_EQ(status["flushIntervalMs"], 40);
}

// The store is opened in its mode at start-up: an in-place restart refuses
// a new mode (naming it), a cold one takes it.
TEST_F(Durability, ANewModeNeedsAColdRestart) {
  startDaemon();
  Result r = keelan({"daemon", "restart", "--durability", "group"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("durability"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--cold"), std::string::npos) << r.err;
  EXPECT_EQ(json({"daemon", "status", "--json"})["durability"], "strict");
  pid_t before = daemonPid();
  Result cold = keelan({"daemon", "restart", "--cold", "--durability", "group"});
  ASSERT_EQ(cold.code, 0) << cold.err;
  EXPECT_EQ(waitChild(before, 5000), 0);
  EXPECT_EQ(json({"daemon", "status", "--json"})["durability"], "group");
}

// The flush interval is a minute: after the first commit's flush nothing
// else is flushed before the SIGKILL, so every later record lives only in
// the page cache when the daemon dies.
TEST_F(Durability, SigkilledGroupDaemonLosesNothing) {
  constexpr int kShips = 30;
  makeRoot();
  startDaemon({"--durability", "group", "--flush-interval", "60000"});
  EventStream events = subscribe();
  ASSERT_TRUE(events.ok());
  std::set<std::string> names;
  for (int i = 1; i <= kShips; ++i) {
    std::string name = numbered("g", i);
    names.insert(name);
    Result d = deploySh(name, "exit " + std::to_string(i));
    ASSERT_EQ(d.code, 0) << d.err;
  }
  ASSERT_TRUE(events.waitForEach("stopped", names, 30000));  // told: committed, and then reaped
  pid_t daemon = daemonPid();
  ASSERT_EQ(kill(daemon, SIGKILL), 0);
  // We are its subreaper: it is our child now.
  ASSERT_EQ(waitChild(daemon, 10000), 128 + SIGKILL);

  startDaemon({"--durability", "group"});
  auto ships = json({"ps", "--all", "--json"});
  ASSERT_EQ(ships.size(), static_cast<size_t>(kShips));
  for (const auto& ship : ships) {
    int expected = atoi(ship["name"].get<std::string>().c_str() + 1);
    EXPECT_EQ(ship["status"], "stopped") << ship["name"];
    EXPECT_EQ(ship["exitCode"], expected) << ship["name"];
    EXPECT_EQ(ship["exitStatusSource"], "waitpid") << ship["name"];
  }
}

TEST_F(Durability, BadValuesAreUsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  std::vector<Case> cases = {
      {{"--durability", "fast"}, "'fast' is not one of strict, group"},
      {{"--durability", ""}, "'' is not one of strict, group"},
      {{"--flush-interval", "0"}, "--flush-interval"},
      {{"--flush-interval", "-5"}, "--flush-interval"},
      {{"--flush-interval", "60001"}, "--flush-interval"},
      {{"--flush-interval", "99999999999999999999"}, "--flush-interval"},
      {{"--flush-interval", "soon"}, "--flush-interval"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"daemon", "start"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    Result r = keelan(args);
    EXPECT_EQ(r.code, 2) << c.args.back() << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.args.back() << ": " << r.err;
  }
  EXPECT_EQ(keelan({"daemon", "status"}).code, 3) << "nothing was started";
}

}  // namespace
}  // namespace keelan::test
