// Day-two operations: restart policies with backoff, and exit hooks.
#include <signal.h>
#include <unistd.h>

#include "harness.h"
#include "keelan/time_util.h"

namespace keelan::test {
namespace {

class Operations : public KeelanTest {
 protected:
  void SetUp() override {
    KeelanTest::SetUp();
    startDaemon();
    root_ = makeRoot();
  }
  Result deploySh(const std::string& name, const std::string& script, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"deploy", name, "--root", root_};
    args.insert(args.end(), extra.begin(), extra.end());
    for (const char* part : {"--", "/bin/sh", "-c"}) args.push_back(part);
    args.push_back(script);
    return keelan(args);
  }
};

TEST_F(Operations, OnFailureRetriesExactlyMaxTimesWithGrowingDelays) {
  ASSERT_EQ(deploySh("flaky", "exit 3", {"--restart", "on-failure:3"}).code, 0);
  Result w = keelan({"wait", "flaky"}, 30000);  // returns once it has given up
  EXPECT_EQ(w.code, 3);
  auto ship = inspect("flaky");
  EXPECT_EQ(ship["status"], "stopped");
  EXPECT_EQ(ship["exitCode"], 3);
  EXPECT_EQ(ship["deployCount"], 4) << "the first run and exactly 3 restarts";
  EXPECT_EQ(ship["restarts"], 3);
  EXPECT_EQ(ship["restart"], "on-failure:3");
  const auto& history = ship["history"];
  ASSERT_EQ(history.size(), 4u);
  int64_t expected = 1000;
  for (size_t i = 0; i + 1 < history.size(); ++i) {
    int64_t gap = parseIsoTime(history[i + 1]["startedAt"]) - parseIsoTime(history[i]["stoppedAt"]);
    EXPECT_GE(gap, expected - 20) << "delay before restart " << i + 1;
    EXPECT_LT(gap, expected + 1000) << "delay before restart " << i + 1;
    expected *= 2;
  }
  EXPECT_NE(readFile(base_ + "/logs/monitor-daemon.log").find("gave up after 3 restarts"), std::string::npos);
}

TEST_F(Operations, OnFailureDoesNotRestartASuccess) {
  ASSERT_EQ(deploySh("fine", "exit 0", {"--restart", "on-failure"}).code, 0);
  EXPECT_EQ(keelan({"wait", "fine"}).code, 0);
  EXPECT_EQ(inspect("fine")["deployCount"], 1);
}

TEST_F(Operations, AlwaysRestartsAShipKilledByASignalAndStopEndsIt) {
  ASSERT_EQ(deploySh("phoenix", "exec sleep 1000", {"--restart", "always"}).code, 0);
  pid_t first = inspect("phoenix")["processId"];
  ASSERT_EQ(kill(first, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] {
    auto ship = inspect("phoenix");
    return ship["status"] == "running" && ship["processId"] != first;
  }, 10000));
  auto ship = inspect("phoenix");
  EXPECT_EQ(ship["restarts"], 1);
  EXPECT_EQ(ship["history"][0]["termSignal"], SIGKILL);
  Result s = keelan({"stop", "phoenix"});
  EXPECT_EQ(s.code, 0);
  EXPECT_EQ(inspect("phoenix")["status"], "stopped") << "a requested stop is not restarted";
  EXPECT_TRUE(eventually([&] { return inspect("phoenix")["status"] == "stopped"; }));
}

TEST_F(Operations, StopDuringBackoffCancelsTheRestart) {
  ASSERT_EQ(deploySh("pending", "exit 1", {"--restart", "on-failure"}).code, 0);
  ASSERT_TRUE(eventually([&] { return inspect("pending")["status"] == "backoff"; }));
  auto ship = inspect("pending");
  int64_t due = parseIsoTime(ship["nextAttemptAt"]);
  EXPECT_NE(keelan({"ps"}).out.find("backoff until"), std::string::npos);
  EXPECT_EQ(json({"daemon", "status", "--json"})["ships"]["backoff"], 1);
  Result s = keelan({"stop", "pending"});
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(inspect("pending")["status"], "stopped");
  // Past the time the restart was due, it still has not happened.
  ASSERT_TRUE(eventually([&] { return wallClockMs() > due + 500; }, 5000));
  EXPECT_EQ(inspect("pending")["deployCount"], 1);
  EXPECT_EQ(inspect("pending")["status"], "stopped");
}

TEST_F(Operations, PendingRestartSurvivesAColdDaemonRestart) {
  ASSERT_EQ(deploySh("durable", "exit 2", {"--restart", "on-failure:1"}).code, 0);
  ASSERT_TRUE(eventually([&] { return inspect("durable")["status"] == "backoff"; }));
  pid_t daemon = daemonPid();
  ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
  waitChild(daemon, 5000);
  startDaemon();
  EXPECT_EQ(keelan({"wait", "durable"}, 20000).code, 2);
  EXPECT_EQ(inspect("durable")["deployCount"], 2);
}

TEST_F(Operations, BadRestartPolicyIsAUsageError) {
  EXPECT_EQ(deploySh("x", "true", {"--restart", "sometimes"}).code, 2);
  EXPECT_EQ(deploySh("x", "true", {"--restart", "on-failure:0"}).code, 2);
}

TEST_F(Operations, OnExitHookGetsTheExitInItsEnvironment) {
  ASSERT_EQ(deploySh("hooked", "exit 5", {"--on-exit", "env > hook-$KEELAN_SHIP.env"}).code, 0);
  EXPECT_EQ(keelan({"wait", "hooked"}).code, 5);
  pid_t pid = inspect("hooked")["processId"];
  ASSERT_TRUE(eventually([&] {
    return readFile(base_ + "/logs/monitor-daemon.log").find("on-exit hook for ship hooked exited with code 0") !=
           std::string::npos;
  }));
  std::string env = readFile(base_ + "/hook-hooked.env");
  EXPECT_NE(env.find("KEELAN_SHIP=hooked\n"), std::string::npos) << env;
  EXPECT_NE(env.find("KEELAN_PID=" + std::to_string(pid) + "\n"), std::string::npos) << env;
  EXPECT_NE(env.find("KEELAN_EXIT_CODE=5\n"), std::string::npos) << env;
  EXPECT_NE(env.find("KEELAN_SIGNAL=\n"), std::string::npos) << env;
  EXPECT_NE(env.find("KEELAN_STATUS=stopped\n"), std::string::npos) << env;
}

TEST_F(Operations, FailingHookIsLoggedAndDaemonWideDefaultApplies) {
  pid_t daemon = daemonPid();
  ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
  waitChild(daemon, 5000);
  startDaemon({"--on-exit", "echo $KEELAN_SIGNAL > default-hook.out; exit 9"});
  ASSERT_EQ(deploySh("killed", "exec sleep 1000").code, 0);
  ASSERT_EQ(keelan({"stop", "killed", "--signal", "KILL"}).code, 0);
  ASSERT_TRUE(eventually([&] {
    return readFile(base_ + "/logs/monitor-daemon.log").find("on-exit hook for ship killed exited with code 9") !=
           std::string::npos;
  }));
  EXPECT_EQ(readFile(base_ + "/default-hook.out"), "SIGKILL\n");
  EXPECT_EQ(keelan({"daemon", "status"}).code, 0);
}

}  // namespace
}  // namespace keelan::test
