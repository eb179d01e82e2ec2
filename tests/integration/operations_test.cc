// Day-two operations: restart policies with backoff, and exit hooks.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "net_helpers.h"
#include "keelan/time_util.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace keelan::test {
namespace {

// The first restart delay the Operations daemons use: short, so no test
// sleeps through real seconds of backoff; delays are asserted against it.
constexpr int64_t kBackoffMs = 50;

std::vector<std::string> withBackoff(int64_t firstMs, std::vector<std::string> extra = {}) {
  extra.insert(extra.begin(), {"--x-backoff-first-ms", std::to_string(firstMs)});
  return extra;
}

class Operations : public KeelanTest {
 protected:
  void SetUp() override {
    KeelanTest::SetUp();
    startDaemon(withBackoff(kBackoffMs));
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
  // Each delay is at least the doubled one before it (the exit is stamped
  // before the delay starts, the spawn after it ends); a loaded machine can
  // only add to a delay, never shorten it.
  int64_t expected = kBackoffMs;
  for (size_t i = 0; i + 1 < history.size(); ++i) {
    int64_t gap = parseIsoTime(history[i + 1]["startedAt"]) - parseIsoTime(history[i]["stoppedAt"]);
    EXPECT_GE(gap, expected - 2) << "delay before restart " << i + 1;
    EXPECT_LT(gap, expected + 1000) << "delay before restart " << i + 1;
    expected *= 2;
  }
  std::string log = readFile(base_ + "/logs/monitor-daemon.log");
  for (const char* delay : {"restarts in 50 ms (attempt 1)", "restarts in 100 ms (attempt 2)", "restarts in 200 ms (attempt 3)"})
    EXPECT_NE(log.find(delay), std::string::npos) << delay;
  EXPECT_NE(log.find("gave up after 3 restarts"), std::string::npos);
}

// The ship removes its own shell, so its restart cannot spawn: the wait on
// the ship in backoff is answered once the policy gives up.
TEST_F(Operations, AWaitEndsWhenARestartFailsToSpawnAndThePolicyGivesUp) {
  ASSERT_EQ(deploySh("selfdestruct", "/bin/busybox rm /bin/sh; exit 3", {"--restart", "on-failure:1"}).code, 0);
  Result w = keelan({"wait", "selfdestruct"}, 30000);
  EXPECT_EQ(w.code, 127) << w.out << w.err;  // as for any ship that failed to start
  EXPECT_NE((w.out + w.err).find("is not an executable file inside root"), std::string::npos) << w.out << w.err;
  auto ship = inspect("selfdestruct");
  EXPECT_EQ(ship["status"], "failed");
  EXPECT_EQ(ship["restarts"], 1);
}

TEST_F(Operations, OnFailureDoesNotRestartASuccess) {
  ASSERT_EQ(deploySh("fine", "exit 0", {"--restart", "on-failure"}).code, 0);
  EXPECT_EQ(keelan({"wait", "fine"}).code, 0);
  EXPECT_EQ(inspect("fine")["deployCount"], 1);
}

TEST_F(Operations, AlwaysRestartsAShipKilledByASignalAndStopEndsIt) {
  ASSERT_EQ(deploySh("phoenix", "exec sleep 1000", {"--restart", "always"}).code, 0);
  pid_t first = inspect("phoenix")["processId"];
  EventStream events = subscribe();
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(kill(first, SIGKILL), 0);
  auto restarted = events.waitFor(eventIs("deployed", "phoenix"));
  ASSERT_TRUE(restarted.has_value()) << "no restart";
  EXPECT_NE(restarted->at("record")["processId"], first);
  auto ship = inspect("phoenix");
  EXPECT_EQ(ship["status"], "running");
  EXPECT_EQ(ship["restarts"], 1);
  EXPECT_EQ(ship["history"][0]["termSignal"], SIGKILL);
  Result s = keelan({"stop", "phoenix"});
  EXPECT_EQ(s.code, 0);
  EXPECT_EQ(inspect("phoenix")["status"], "stopped") << "a requested stop is not restarted";
  // Past the time a restart would have been due, none came.
  EXPECT_FALSE(events.waitFor(eventIs("deployed", "phoenix"), 10 * kBackoffMs).has_value());
  EXPECT_EQ(inspect("phoenix")["deployCount"], 2);
}

TEST_F(Operations, StopDuringBackoffCancelsTheRestart) {
  // A first delay long enough that the stop, sent on the event connection
  // the moment the backoff is seen, surely lands inside it.
  constexpr int64_t kLongBackoffMs = 1500;
  restartDaemon(withBackoff(kLongBackoffMs));
  EventStream events = subscribe();
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(deploySh("pending", "exit 1", {"--restart", "on-failure"}).code, 0);
  auto backoff = events.waitFor(eventIs("backoff", "pending"));
  ASSERT_TRUE(backoff.has_value());
  ASSERT_TRUE(events.send({{"op", "stop"}, {"id", "stop"}, {"name", "pending"}}));
  auto reply = events.waitFor([](const nlohmann::json& line) { return line.contains("id") && line["id"] == "stop"; });
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(reply->value("ok", false), true) << *reply;
  auto stopped = reply->at("ships")[0];
  EXPECT_EQ(stopped["status"], "stopped");
  EXPECT_EQ(stopped["stoppedReason"], "pending restart cancelled");
  EXPECT_EQ(stopped["deployCount"], 1) << "the restart ran before the stop";
  // The restart was due at nextAttemptAt: well past it, it never came.
  int64_t due = parseIsoTime(backoff->at("record")["nextAttemptAt"]);
  int64_t waitMs = std::max<int64_t>(0, due - wallClockMs()) + 500;
  EXPECT_FALSE(events.waitFor(eventIs("deployed", "pending"), static_cast<int>(waitMs)).has_value());
  auto ship = inspect("pending");
  EXPECT_EQ(ship["deployCount"], 1);
  EXPECT_EQ(ship["status"], "stopped");
  EXPECT_TRUE(ship["nextAttemptAt"].is_null());
}

TEST_F(Operations, PendingRestartSurvivesAColdDaemonRestart) {
  constexpr int64_t kMediumBackoffMs = 500;
  restartDaemon(withBackoff(kMediumBackoffMs));
  EventStream events = subscribe();
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(deploySh("durable", "exit 2", {"--restart", "on-failure:1"}).code, 0);
  ASSERT_TRUE(events.waitFor(eventIs("backoff", "durable")).has_value());
  // Stopped at once (no CLI in between), well inside the delay.
  pid_t daemon = daemonPid();
  ASSERT_EQ(kill(daemon, SIGTERM), 0);
  ASSERT_EQ(waitChild(daemon, 5000), 0);
  int64_t secondStarted = wallClockMs();
  startDaemon(withBackoff(kMediumBackoffMs));
  EXPECT_EQ(keelan({"wait", "durable"}, 20000).code, 2);
  auto ship = inspect("durable");
  EXPECT_EQ(ship["deployCount"], 2);
  ASSERT_EQ(ship["history"].size(), 2u);
  EXPECT_GE(parseIsoTime(ship["history"][1]["startedAt"]), secondStarted) << "the second daemon ran the restart";
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
  restartDaemon({"--on-exit", "echo $KEELAN_SIGNAL > default-hook.out; exit 9"});
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
  int port = freePort();
  restartDaemon({"--metrics-address", "127.0.0.1:" + std::to_string(port)});
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
  restartDaemon({"--max-log-size", "16K", "--max-log-files", "50"});
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
  restartDaemon({"--webhook", "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook"});
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
