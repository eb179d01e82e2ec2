// Day-two operations: restart policies with backoff, and exit hooks.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "net_helpers.h"
#include "keelan/time_util.h"

#include <map>
#include <sstream>

namespace keelan::test {
namespace {

class Operations : public KeelanTest {
 protected:
  void SetUp() override {
    KeelanTest::SetUp();
    startDaemon();
    root_ = makeRoot();
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
  // The first delay is 1 s; on a loaded machine the restart may win the
  // race with this stop. Either way, once stopped it stays stopped.
  Result s = keelan({"stop", "pending", "--json"});
  ASSERT_EQ(s.code, 0) << s.err;
  auto stopped = nlohmann::json::parse(s.out)[0];
  EXPECT_EQ(stopped["status"], "stopped");
  uint64_t deploys = stopped["deployCount"];
  if (deploys == 1) {
    EXPECT_EQ(stopped["stoppedReason"], "pending restart cancelled");
  }
  // Past the time any restart could have been due, nothing happened.
  int64_t horizon = wallClockMs() + 2500;
  ASSERT_TRUE(eventually([&] { return wallClockMs() > horizon; }, 5000));
  EXPECT_EQ(inspect("pending")["deployCount"], deploys);
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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace keelan::test {
namespace {

// name{labels} -> value, from the Prometheus text format; fails on a bad line.
std::map<std::string, double> parseExposition(const std::string& text) {
  std::map<std::string, double> samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

std::string httpGet(int port, const std::string& path) {
  return httpExchange(port, "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n");
}

TEST_F(Operations, MetricsMatchWhatHappened) {
  pid_t daemon = daemonPid();
  ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
  waitChild(daemon, 5000);
  int port = freePort();
  startDaemon({"--metrics-address", "127.0.0.1:" + std::to_string(port)});
  int index = 0;
  for (const char* script : {"exit 0", "exit 0", "exit 4", "kill -9 $$"}) {
    std::string name = numbered("m", index++);
    ASSERT_EQ(deploySh(name, script).code, 0);
    keelan({"wait", name});
  }
  EXPECT_EQ(keelan({"deploy", "nope", "--root", base_ + "/missing", "--", "/bin/sh"}).code, 1);
  Result text = keelan({"metrics"});
  ASSERT_EQ(text.code, 0);
  auto metrics = parseExposition(text.out);
  EXPECT_EQ(metrics["keelan_spawns_total"], 4);
  EXPECT_EQ(metrics["keelan_spawn_failures_total"], 1);
  EXPECT_EQ(metrics["keelan_exits_total{kind=\"zero\"}"], 2);
  EXPECT_EQ(metrics["keelan_exits_total{kind=\"nonzero\"}"], 1);
  EXPECT_EQ(metrics["keelan_exits_total{kind=\"signal\"}"], 1);
  EXPECT_EQ(metrics["keelan_ships{status=\"stopped\"}"], 4);
  EXPECT_EQ(metrics["keelan_ships{status=\"failed\"}"], 1);
  EXPECT_EQ(metrics["keelan_exit_to_commit_seconds_count"], 4);
  EXPECT_GT(metrics["keelan_lmdb_commit_seconds_count"], 0);
  EXPECT_GT(metrics["keelan_resident_memory_bytes"], 0);
  EXPECT_TRUE(metrics.count("keelan_uptime_seconds"));

  std::string response = httpGet(port, "/metrics");
  ASSERT_EQ(response.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << response;
  auto served = parseExposition(response.substr(response.find("\r\n\r\n") + 4));
  EXPECT_EQ(served["keelan_spawns_total"], 4);
  EXPECT_EQ(httpGet(port, "/other").rfind("HTTP/1.0 404", 0), 0u);
  EXPECT_EQ(keelan({"daemon", "start", "--metrics-address", "nonsense"}).code, 1);
}

}  // namespace
}  // namespace keelan::test

namespace keelan::test {
namespace {

TEST_F(Operations, ChattyShipLogsStayUnderTheLimitAndLoseNothing) {
  pid_t daemon = daemonPid();
  ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
  waitChild(daemon, 5000);
  startDaemon({"--max-log-size", "16K", "--max-log-files", "50"});
  // 4,000 numbered lines, then block until told to exit.
  ASSERT_EQ(mkfifo((root_ + "/tmp/done").c_str(), 0666), 0);
  ASSERT_EQ(deploySh("chatty", "i=0; while [ $i -lt 4000 ]; do echo \"line $i\"; i=$((i+1)); done; read x < /tmp/done").code, 0);
  std::string log = base_ + "/logs/ships/chatty.out.log";
  ASSERT_TRUE(eventually([&] { return access((log + ".1").c_str(), F_OK) == 0 && readFile(log).size() < 16384; }, 20000));
  std::string all;
  ASSERT_TRUE(eventually([&] {
    all.clear();
    for (int n = 50; n >= 1; --n) all += readFile(log + "." + std::to_string(n));
    all += readFile(log);
    return all.find("line 3999\n") != std::string::npos;
  }, 20000));
  std::string expected;
  for (int i = 0; i < 4000; ++i) expected += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(all, expected) << "every byte, in order, across the rotated files";
  Result tail = keelan({"logs", "chatty", "-n", "2"});
  EXPECT_EQ(tail.out, "line 3998\nline 3999\n");
  int gate = open((root_ + "/tmp/done").c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_EQ(write(gate, "x\n", 2), 2);
  close(gate);
  EXPECT_EQ(keelan({"wait", "chatty"}).code, 0);
}

}  // namespace
}  // namespace keelan::test

#include <atomic>
#include <mutex>
#include <thread>

namespace keelan::test {
namespace {


TEST_F(Operations, WebhookGetsEachFailureOnceAndRetriesOnA500) {
  WebhookReceiver receiver(/*failFirst=*/true);
  pid_t daemon = daemonPid();
  ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
  waitChild(daemon, 5000);
  startDaemon({"--webhook", "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook"});
  ASSERT_EQ(deploySh("bad", "exit 3").code, 0);
  EXPECT_EQ(keelan({"wait", "bad"}).code, 3);
  // The first POST gets a 500 and is retried once.
  ASSERT_TRUE(eventually([&] { return receiver.bodies().size() >= 2; }, 10000));
  ASSERT_TRUE(eventually([&] {
    return readFile(base_ + "/logs/monitor-daemon.log").find("webhook for ship bad delivered (attempts 2)") !=
           std::string::npos;
  }));
  auto first = nlohmann::json::parse(receiver.bodies()[0]);
  EXPECT_EQ(first["name"], "bad");
  EXPECT_EQ(first["exitCode"], 3);
  EXPECT_EQ(receiver.bodies()[1], receiver.bodies()[0]);
  // A success posts nothing; the next failure (a failed spawn) posts once.
  ASSERT_EQ(deploySh("good", "exit 0").code, 0);
  EXPECT_EQ(keelan({"wait", "good"}).code, 0);
  EXPECT_EQ(keelan({"deploy", "broken", "--root", base_ + "/missing", "--", "/bin/sh"}).code, 1);
  ASSERT_TRUE(eventually([&] { return receiver.bodies().size() >= 3; }, 10000));
  auto bodies = receiver.bodies();
  EXPECT_EQ(nlohmann::json::parse(bodies[2])["name"], "broken") << "nothing was posted for 'good'";
  EXPECT_EQ(nlohmann::json::parse(bodies[2])["status"], "failed");
  EXPECT_EQ(keelan({"daemon", "start", "--webhook", "ftp://x"}).code, 2);
}

}  // namespace
}  // namespace keelan::test
