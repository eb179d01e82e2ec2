// The verbs of issue 14: restart, kill, reload, stop --all, rm of several
// ships and --all-stopped, deploy --max-log-files, --webhook-on, and
// `logs -f` ending when the ship is done (or following on with --retry).
#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "harness.h"
#include "net_helpers.h"

namespace keelan::test {
namespace {

class Verbs : public KeelanTest {
 protected:
  void SetUp() override {
    KeelanTest::SetUp();
    startDaemon();
    root_ = makeRoot();
  }
  pid_t pidOf(const std::string& name) { return inspect(name)["processId"].get<pid_t>(); }
  std::string marks(const std::string& file) { return readFile(root_ + "/tmp/" + file); }
  bool marked(const std::string& file, const std::string& mark) {
    return marks(file).find(mark) != std::string::npos;
  }
  // A ship that writes a mark to /tmp/FILE for each trapped signal and runs on.
  Result deployTrapper(const std::string& name, const std::string& file, const std::vector<std::string>& extra = {}) {
    std::string script;
    for (const char* sig : {"HUP", "USR1", "USR2", "TERM"})
      script += std::string("trap 'echo ") + sig + " >> /tmp/" + file + "' " + sig + "; ";
    script += "echo ready >> /tmp/" + file + "; while true; do sleep 0.05; done";
    return deploySh(name, script, extra);
  }
};

TEST_F(Verbs, RestartStopsAndStartsAgainAsOneNewRun) {
  // `always`: the stop is asked for, so the policy adds no run of its own.
  ASSERT_EQ(deploySh("svc", "exec sleep 1000", {"--restart", "always"}).code, 0);
  pid_t before = pidOf("svc");
  Result restarted = keelan({"restart", "svc"});
  ASSERT_EQ(restarted.code, 0) << restarted.err;
  // It waited like stop: the old run is gone when it returns.
  EXPECT_FALSE(processAlive(before));
  auto ship = inspect("svc");
  EXPECT_EQ(ship["status"], "running");
  EXPECT_NE(ship["processId"].get<pid_t>(), before);
  EXPECT_EQ(restarted.out, "restarted svc (pid " + std::to_string(ship["processId"].get<pid_t>()) + ")\n");
  EXPECT_EQ(ship["deployCount"], 2);
  EXPECT_EQ(ship["restarts"], 0) << "no restart by policy";
  ASSERT_EQ(ship["history"].size(), 1u);
  EXPECT_EQ(ship["history"][0]["pid"], before);
  EXPECT_EQ(ship["history"][0]["stoppedReason"], "stopped by request");

  // A stopped ship just starts; several names are one request.
  ASSERT_EQ(deploySh("once", "exit 0").code, 0);
  ASSERT_EQ(keelan({"wait", "once"}).code, 0);
  Result both = keelan({"restart", "svc", "once", "--json"});
  ASSERT_EQ(both.code, 0) << both.err;
  auto ships = nlohmann::json::parse(both.out);
  ASSERT_EQ(ships.size(), 2u);
  EXPECT_EQ(ships[0]["name"], "svc");
  EXPECT_EQ(ships[0]["deployCount"], 3);
  EXPECT_EQ(ships[1]["name"], "once");
  EXPECT_EQ(ships[1]["deployCount"], 2);

  EXPECT_EQ(keelan({"restart", "svc", "ghost"}).code, 1);
  EXPECT_EQ(inspect("svc")["deployCount"], 3) << "an unknown name restarts nothing";
  EXPECT_EQ(keelan({"restart"}).code, 2);
}

TEST_F(Verbs, KillDeliversTheSignalWithoutStopping) {
  ASSERT_EQ(deployTrapper("trap", "marks").code, 0);
  ASSERT_TRUE(eventually([&] { return marked("marks", "ready"); }));
  pid_t pid = pidOf("trap");
  Result usr1 = keelan({"kill", "trap", "--signal", "USR1"});
  ASSERT_EQ(usr1.code, 0) << usr1.err;
  EXPECT_EQ(usr1.out, "sent SIGUSR1 to trap (pid " + std::to_string(pid) + ")\n");
  EXPECT_TRUE(eventually([&] { return marked("marks", "USR1"); }));
  // TERM by default; a ship that traps it runs on, untouched by the daemon.
  ASSERT_EQ(keelan({"kill", "trap"}).code, 0);
  EXPECT_TRUE(eventually([&] { return marked("marks", "TERM"); }));
  auto ship = inspect("trap");
  EXPECT_EQ(ship["status"], "running");
  EXPECT_EQ(ship["processId"], pid);
  EXPECT_EQ(ship["deployCount"], 1);
  EXPECT_TRUE(processAlive(pid));

  // A ship that dies of it is recorded as any exit, not as a stop.
  ASSERT_EQ(deploySh("plain", "exec sleep 1000").code, 0);
  ASSERT_EQ(keelan({"kill", "plain", "-s", "INT"}).code, 0);
  EXPECT_EQ(keelan({"wait", "plain"}).code, 128 + SIGINT);
  EXPECT_EQ(inspect("plain")["stoppedReason"], nullptr);

  Result notRunning = keelan({"kill", "plain"});
  EXPECT_EQ(notRunning.code, 1);
  EXPECT_NE(notRunning.err.find("is not running"), std::string::npos) << notRunning.err;
  EXPECT_EQ(keelan({"kill", "ghost"}).code, 1);
  EXPECT_EQ(keelan({"kill", "trap", "--signal", "NOPE"}).code, 2);
}

TEST_F(Verbs, ReloadSendsHupOrTheShipsReloadSignal) {
  ASSERT_EQ(deployTrapper("plain", "plain").code, 0);
  ASSERT_EQ(deployTrapper("custom", "custom", {"--reload-signal", "USR2"}).code, 0);
  ASSERT_TRUE(eventually([&] { return marked("plain", "ready") && marked("custom", "ready"); }));
  EXPECT_EQ(inspect("custom")["reloadSignal"], "USR2");
  EXPECT_EQ(inspect("plain")["reloadSignal"], nullptr);
  Result reloaded = keelan({"reload", "plain", "custom"});
  ASSERT_EQ(reloaded.code, 0) << reloaded.err;
  EXPECT_TRUE(eventually([&] { return marked("plain", "HUP"); }));
  EXPECT_TRUE(eventually([&] { return marked("custom", "USR2"); }));
  EXPECT_FALSE(marked("custom", "HUP"));
  EXPECT_EQ(inspect("custom")["status"], "running");
  EXPECT_EQ(keelan({"deploy", "bad", "--reload-signal", "NOPE", "--", "/bin/true"}).code, 2);
}

// --label on restart, kill and reload: the ships carrying every label; a
// signal goes only to those of them that run.
TEST_F(Verbs, LabelsSelectShipsForRestartKillAndReload) {
  ASSERT_EQ(deployTrapper("t1", "t1", {"--label", "tier=web"}).code, 0);
  ASSERT_EQ(deployTrapper("t2", "t2", {"--label", "tier=web"}).code, 0);
  ASSERT_EQ(deployTrapper("other", "other", {"--label", "tier=db"}).code, 0);
  ASSERT_EQ(deploySh("idle", "exit 0", {"--label", "tier=web"}).code, 0);
  ASSERT_EQ(keelan({"wait", "idle"}).code, 0);
  ASSERT_TRUE(eventually([&] { return marked("t1", "ready") && marked("t2", "ready") && marked("other", "ready"); }));

  Result usr1 = keelan({"kill", "--label", "tier=web", "-s", "USR1"});
  ASSERT_EQ(usr1.code, 0) << usr1.err;
  EXPECT_TRUE(eventually([&] { return marked("t1", "USR1") && marked("t2", "USR1"); }));
  EXPECT_EQ(usr1.out.find("idle"), std::string::npos) << "a stopped ship is not signalled: " << usr1.out;
  Result reloaded = keelan({"reload", "--label", "tier=web"});
  ASSERT_EQ(reloaded.code, 0) << reloaded.err;
  EXPECT_TRUE(eventually([&] { return marked("t1", "HUP") && marked("t2", "HUP"); }));
  EXPECT_FALSE(marked("other", "USR1"));
  EXPECT_FALSE(marked("other", "HUP"));

  Result restarted = keelan({"restart", "--label", "tier=db", "-t", "0"});
  ASSERT_EQ(restarted.code, 0) << restarted.err;
  EXPECT_EQ(inspect("other")["deployCount"], 2);
  EXPECT_EQ(inspect("t1")["deployCount"], 1);
  EXPECT_EQ(keelan({"kill", "--label", "tier=none"}).code, 0) << "a selector that matches nothing does nothing";
  EXPECT_EQ(keelan({"kill", "t1", "--label", "tier=web"}).code, 2);
  EXPECT_EQ(keelan({"reload"}).code, 2);
  EXPECT_EQ(keelan({"restart", "--label", "no equals"}).code, 2);
}

TEST_F(Verbs, StopAllStopsEveryRunningShip) {
  for (const char* name : {"a", "b", "c"}) ASSERT_EQ(deploySh(name, "exec sleep 1000").code, 0);
  ASSERT_EQ(deploySh("done", "exit 0").code, 0);
  ASSERT_EQ(keelan({"wait", "done"}).code, 0);
  Result stopped = keelan({"stop", "--all", "--json"});
  ASSERT_EQ(stopped.code, 0) << stopped.err;
  auto ships = nlohmann::json::parse(stopped.out);
  ASSERT_EQ(ships.size(), 3u);
  for (const char* name : {"a", "b", "c"}) EXPECT_EQ(inspect(name)["status"], "stopped") << name;
  EXPECT_TRUE(json({"ps", "--json"}).empty());
  EXPECT_EQ(keelan({"stop", "--all"}).code, 0) << "nothing left to stop is no error";
  EXPECT_EQ(keelan({"stop", "--all", "a"}).code, 2);
  EXPECT_EQ(keelan({"stop"}).code, 2);
}

TEST_F(Verbs, RmTakesSeveralNamesOrAllStopped) {
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_EQ(deploySh(name, "exit 0").code, 0);
    ASSERT_EQ(keelan({"wait", name}).code, 0);
  }
  ASSERT_EQ(deploySh("up", "exec sleep 1000").code, 0);
  Result two = keelan({"rm", "a", "b"});
  ASSERT_EQ(two.code, 0) << two.err;
  EXPECT_EQ(two.out, "removed a\nremoved b\n");
  // All or nothing: a running ship among the names removes none of them.
  Result refused = keelan({"rm", "c", "up"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("is running"), std::string::npos) << refused.err;
  EXPECT_EQ(inspect("c")["status"], "stopped");
  Result stopped = keelan({"rm", "--all-stopped"});
  ASSERT_EQ(stopped.code, 0) << stopped.err;
  EXPECT_EQ(stopped.out, "removed c\n");
  auto left = json({"ps", "--all", "--json"});
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["name"], "up");
  EXPECT_EQ(keelan({"rm", "--all-stopped", "up"}).code, 2);
  EXPECT_EQ(keelan({"rm"}).code, 2);
}

TEST_F(Verbs, DeployMaxLogFilesIsTaken) {
  Result deployed = deploySh("kept", "exec sleep 1000", {"--max-log-size", "1M", "--max-log-files", "2"});
  ASSERT_EQ(deployed.code, 0) << deployed.err;
  EXPECT_EQ(inspect("kept")["maxLogFiles"], 2);
  EXPECT_EQ(keelan({"deploy", "kept", "--max-log-files", "7"}).code, 1) << "running: the definition is not amended";
  ASSERT_EQ(keelan({"stop", "kept"}).code, 0);
  ASSERT_EQ(keelan({"deploy", "kept", "--max-log-files", "7"}).code, 0);
  EXPECT_EQ(inspect("kept")["maxLogFiles"], 7);
  EXPECT_EQ(keelan({"deploy", "x", "--max-log-files", "0", "--", "/bin/true"}).code, 2);
}

// The bodies posted so far, by ship name and event.
std::vector<std::pair<std::string, std::string>> posted(WebhookReceiver& receiver) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& body : receiver.bodies()) {
    auto parsed = nlohmann::json::parse(body);
    out.emplace_back(parsed["name"], parsed.value("event", ""));
  }
  return out;
}

bool hasPost(WebhookReceiver& receiver, const std::string& name, const std::string& event) {
  auto all = posted(receiver);
  return std::find(all.begin(), all.end(), std::make_pair(name, event)) != all.end();
}

TEST_F(Verbs, WebhookOnFailureLeavesOperatorStopsOut) {
  WebhookReceiver receiver;
  std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";
  restartDaemon({"--webhook", url});
  ASSERT_EQ(deploySh("asked", "exec sleep 1000").code, 0);
  ASSERT_EQ(deploySh("restarted", "exec sleep 1000").code, 0);
  ASSERT_EQ(keelan({"stop", "asked"}).code, 0);  // killed by SIGTERM, as asked
  ASSERT_EQ(keelan({"restart", "restarted"}).code, 0);
  ASSERT_EQ(deploySh("bad", "exit 3").code, 0);
  EXPECT_EQ(keelan({"wait", "bad"}).code, 3);
  ASSERT_TRUE(eventually([&] { return hasPost(receiver, "bad", "stopped"); }));
  // Posts leave in the order of the exits; by now the stops' would be in.
  for (const auto& [name, event] : posted(receiver)) EXPECT_EQ(name, "bad") << name << " " << event;
  EXPECT_EQ(keelan({"daemon", "start", "--webhook-on", "never"}).code, 2);
}

TEST_F(Verbs, WebhookOnExitAndAll) {
  WebhookReceiver receiver;
  std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";
  restartDaemon({"--webhook", url, "--webhook-on", "exit"});
  ASSERT_EQ(deploySh("fine", "exit 0").code, 0);
  EXPECT_EQ(keelan({"wait", "fine"}).code, 0);
  ASSERT_EQ(deploySh("asked", "exec sleep 1000").code, 0);
  ASSERT_EQ(keelan({"stop", "asked"}).code, 0);
  EXPECT_TRUE(eventually([&] { return hasPost(receiver, "fine", "stopped") && hasPost(receiver, "asked", "stopped"); }));
  EXPECT_FALSE(hasPost(receiver, "fine", "deployed")) << "exit posts exits only";

  restartDaemon({"--webhook", url, "--webhook-on", "all"});
  ASSERT_EQ(deploySh("seen", "exec sleep 1000").code, 0);
  EXPECT_TRUE(eventually([&] { return hasPost(receiver, "seen", "deployed"); }));
}

TEST_F(Verbs, LogsFollowEndsWhenTheShipHasStoppedForGood) {
  // Each run prints its number: run1, run2...
  std::string script = "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; echo run$n; exec sleep 1000";
  ASSERT_EQ(deploySh("cycle", script).code, 0);
  ASSERT_TRUE(eventually([&] { return readFile(base_ + "/logs/ships/cycle.out.log").find("run1") != std::string::npos; }));
  Background follow = keelanBackground({"logs", "cycle", "-f"});
  std::string line;
  ASSERT_TRUE(follow.readLine(line, 10000));
  EXPECT_EQ(line, "run1");
  // A restart is not the end: the new run's output comes.
  ASSERT_EQ(keelan({"restart", "cycle"}).code, 0);
  ASSERT_TRUE(follow.readLine(line, 10000));
  EXPECT_EQ(line, "run2");
  ASSERT_EQ(keelan({"stop", "cycle"}).code, 0);
  EXPECT_EQ(follow.wait(10000), 0) << "logs -f ends once the ship has stopped";
  // A ship already stopped: the last lines, and done.
  Result done = keelan({"logs", "cycle", "-f", "-n", "1"});
  EXPECT_EQ(done.code, 0);
  EXPECT_EQ(done.out, "run2\n");
}

TEST_F(Verbs, LogsFollowRetryFollowsAcrossStopsAndStarts) {
  std::string script = "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; echo run$n; exec sleep 1000";
  // --retry waits for a log that is not there yet.
  Background follow = keelanBackground({"logs", "later", "-f", "--retry"});
  ASSERT_EQ(deploySh("later", script).code, 0);
  std::string line;
  ASSERT_TRUE(follow.readLine(line, 10000));
  EXPECT_EQ(line, "run1");
  ASSERT_EQ(keelan({"stop", "later"}).code, 0);
  ASSERT_EQ(keelan({"deploy", "later"}).code, 0);
  ASSERT_TRUE(follow.readLine(line, 10000));
  EXPECT_EQ(line, "run2");
  ASSERT_EQ(keelan({"restart", "later"}).code, 0);
  ASSERT_TRUE(follow.readLine(line, 10000));
  EXPECT_EQ(line, "run3");
  EXPECT_EQ(keelan({"logs", "later", "--retry"}).code, 2) << "--retry goes with -f";
}

}  // namespace
}  // namespace keelan::test
