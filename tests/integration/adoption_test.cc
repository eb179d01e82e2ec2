// Ships that outlive their daemon: adoption after a cold restart, exits
// while no daemon runs, the polling fallback, and in-place restarts that keep
// the daemon the ships' parent.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "harness.h"
#include "keelan/client.h"
#include "keelan/pidfd.h"

namespace keelan::test {
namespace {

class Adoption : public KeelanTest {
 protected:
  void SetUp() override {
    KeelanTest::SetUp();
    root_ = makeRoot();
  }
  void deploySleeper(const std::string& name) {
    Result d = keelan({"deploy", name, "--root", root_, "--", "/bin/sleep", "1000"});
    ASSERT_EQ(d.code, 0) << d.err;
  }
  pid_t pidOf(const std::string& name) { return inspect(name)["processId"].get<pid_t>(); }
  void stopDaemon() {
    pid_t pid = daemonPid();
    ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
    ASSERT_EQ(waitChild(pid, 5000), 0);
  }
};

// What depends on the kernel: how an adopted ship's exit is learnt (pidfd,
// PIDFD_INFO_EXIT from 6.15, the kill(pid, 0) poll). tests/vm/run runs this
// suite on Debian 12's 6.1 too.
class VmAdoption : public Adoption {};

TEST_F(VmAdoption, ColdRestartAdoptsRunningShipsAndSeesTheirExit) {
  startDaemon();
  deploySleeper("keeper");
  pid_t ship = pidOf("keeper");
  stopDaemon();
  ASSERT_TRUE(processAlive(ship));
  startDaemon();
  auto record = inspect("keeper");
  EXPECT_EQ(record["status"], "running");
  EXPECT_EQ(record["adopted"], true);
  EXPECT_EQ(record["processId"], ship);
  EXPECT_NE(readFile(base_ + "/logs/monitor-daemon.log").find("adopted ship keeper pid=" + std::to_string(ship)),
            std::string::npos);
  EXPECT_NE(keelan({"ps"}).out.find("running (adopted)"), std::string::npos);

  // We are the ship's parent now (its daemon died): kill and reap it, as an
  // init would. The daemon notices through its pidfd.
  ASSERT_EQ(kill(ship, SIGKILL), 0);
  ASSERT_EQ(waitChild(ship, 5000), 128 + SIGKILL);
  Result w = keelan({"wait", "keeper"});
  record = inspect("keeper");
  EXPECT_EQ(record["status"], "stopped");
  if (pidfdExitInfoSupported()) {
    // Linux 6.15+: the exact status, read from the kernel.
    EXPECT_EQ(record["termSignal"], SIGKILL);
    EXPECT_EQ(record["exitStatusSource"], "pidfd");
    EXPECT_EQ(w.code, 128 + SIGKILL);
  } else {
    EXPECT_TRUE(record["exitCode"].is_null());
    EXPECT_TRUE(record["termSignal"].is_null());
    EXPECT_EQ(w.code, 1);
  }
}

TEST_F(VmAdoption, AfterASigkilledDaemonAnAdoptedShipsExitIsHonest) {
  startDaemon();
  deploySleeper("survivor");
  pid_t ship = pidOf("survivor");
  pid_t daemon = daemonPid();
  ASSERT_EQ(kill(daemon, SIGKILL), 0);
  ASSERT_EQ(waitChild(daemon, 5000), 128 + SIGKILL);
  ASSERT_TRUE(processAlive(ship));
  startDaemon();
  EXPECT_EQ(inspect("survivor")["adopted"], true);
  ASSERT_EQ(kill(ship, SIGKILL), 0);
  ASSERT_EQ(waitChild(ship, 5000), 128 + SIGKILL);
  Result w = keelan({"wait", "survivor"});
  auto record = inspect("survivor");
  EXPECT_EQ(record["status"], "stopped");
  if (pidfdExitInfoSupported()) {
    EXPECT_EQ(record["termSignal"], SIGKILL);
    EXPECT_EQ(record["exitStatusSource"], "pidfd");
    EXPECT_EQ(w.code, 128 + SIGKILL);
  } else {
    // Linux < 6.15 (Debian 12): the status is gone with the reaper; never a guess.
    EXPECT_TRUE(record["exitCode"].is_null());
    EXPECT_TRUE(record["termSignal"].is_null());
    EXPECT_FALSE(record["stoppedReason"].get<std::string>().empty()) << record.dump();
    EXPECT_EQ(w.code, 1);
  }
}

TEST_F(VmAdoption, ExitDuringADownWindowIsStoppedWithUnknownCode) {
  startDaemon();
  deploySleeper("lonely");
  pid_t ship = pidOf("lonely");
  stopDaemon();
  ASSERT_EQ(kill(ship, SIGTERM), 0);
  ASSERT_EQ(waitChild(ship, 5000), 128 + SIGTERM);
  startDaemon();
  auto record = inspect("lonely");
  EXPECT_EQ(record["status"], "stopped");
  EXPECT_TRUE(record["exitCode"].is_null()) << "never a guessed 0";
  EXPECT_TRUE(record["termSignal"].is_null());
  EXPECT_EQ(record["stoppedReason"], "exited while the daemon was not running");
  EXPECT_EQ(record["history"].size(), 1u);
  Result text = keelan({"inspect", "lonely"});
  EXPECT_NE(text.out.find("exit status unknown"), std::string::npos) << text.out;
  EXPECT_EQ(keelan({"wait", "lonely"}).code, 1);
}

TEST_F(VmAdoption, PollingFallbackNoticesAnExitWithinTheInterval) {
  startDaemon();
  deploySleeper("polled");
  pid_t ship = pidOf("polled");
  stopDaemon();
  Result started = keelan({"daemon", "start", "--interval", "1", "--x-no-pidfd"}, 20000);
  ASSERT_EQ(started.code, 0) << started.err;
  EXPECT_EQ(inspect("polled")["adopted"], true);
  std::string checkedBefore = inspect("polled")["lastCheckedAt"];
  // Each check cycle updates lastCheckedAt (in memory; written on a change).
  EXPECT_TRUE(eventually([&] { return inspect("polled")["lastCheckedAt"] != checkedBefore; }, 5000));
  EventStream events = subscribe();
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(kill(ship, SIGKILL), 0);
  ASSERT_EQ(waitChild(ship, 5000), 128 + SIGKILL);
  EXPECT_TRUE(events.waitFor(eventIs("stopped", "polled"), 5000).has_value());
  EXPECT_EQ(inspect("polled")["status"], "stopped");
  auto record = inspect("polled");
  EXPECT_TRUE(record["exitCode"].is_null());
  EXPECT_TRUE(record["termSignal"].is_null());
}

TEST_F(VmAdoption, StopWorksOnAnAdoptedShip) {
  startDaemon();
  deploySleeper("adoptee");
  pid_t ship = pidOf("adoptee");
  stopDaemon();
  startDaemon();
  Background stopper = keelanBackground({"stop", "adoptee"});
  // The ship is our child now; reap it as its init would.
  EXPECT_EQ(waitChild(ship, 10000), 128 + SIGTERM);
  EXPECT_EQ(stopper.wait(10000), 0);
  EXPECT_EQ(inspect("adoptee")["status"], "stopped");
  EXPECT_TRUE(keelan({"logs", "adoptee"}).code == 0);
}

TEST_F(Adoption, InPlaceRestartKeepsThePidTheChildrenAndEveryExitCode) {
  startDaemon();
  pid_t daemon = daemonPid();
  constexpr int kShips = 30;
  std::string fifo = root_ + "/tmp/go";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0666), 0);
  int gate = open(fifo.c_str(), O_RDWR | O_CLOEXEC);
  for (int i = 0; i < kShips; ++i) {
    Result d = keelan({"deploy", numbered("r", i), "--root", root_, "--", "/bin/sh", "-c",
                       numbered("read line < /tmp/go; exit ", i + 1)});
    ASSERT_EQ(d.code, 0) << d.err;
  }
  // A client keeps connecting and pinging throughout.
  std::atomic<bool> done{false};
  std::atomic<int> served{0}, refused{0};
  std::thread pinger([&] {
    while (!done) {
      DaemonClient client;
      if (!client.connect(base_ + "/run/keelan.sock").empty()) {
        ++refused;
        continue;
      }
      auto pong = client.call({{"op", "ping"}}, 10000);
      if (pong && pong->value("ok", false)) ++served;
      else if (!pong) {
        // Our connection was accepted by the old image and closed by the
        // exec before it read our line: not a refusal; ask again.
        continue;
      } else {
        ++refused;
      }
    }
  });
  for (int round = 0; round < 6; ++round) {
    // Release five ships; some exit during the exec.
    ASSERT_EQ(write(gate, "g\ng\ng\ng\ng\n", 10), 10);
    Result r = keelan({"daemon", "restart"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "keelan daemon restarted in place (pid " + std::to_string(daemon) + ")\n");
  }
  done = true;
  pinger.join();
  EXPECT_EQ(refused, 0);
  EXPECT_GT(served, 0);
  EXPECT_EQ(daemonPid(), daemon);
  EXPECT_TRUE(processAlive(daemon));
  ASSERT_TRUE(eventually([&] { return json({"ps", "--json"}).empty(); }, 20000));
  for (int i = 0; i < kShips; ++i) {
    auto record = inspect(numbered("r", i));
    EXPECT_EQ(record["exitCode"], i + 1) << i;
    EXPECT_EQ(record["exitStatusSource"], "waitpid");
    EXPECT_EQ(record["adopted"], false);
  }
  EXPECT_NE(readFile(base_ + "/logs/monitor-daemon.log").find("re-executed in place (restart 6)"), std::string::npos);
  close(gate);
}

TEST_F(Adoption, ColdRestartGivesANewPidAndAdopts) {
  startDaemon();
  deploySleeper("cold");
  pid_t old = daemonPid();
  Result r = keelan({"daemon", "restart", "--cold", "--interval", "5"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(waitChild(old, 5000), 0);
  EXPECT_NE(daemonPid(), old);
  EXPECT_EQ(inspect("cold")["adopted"], true);
  EXPECT_EQ(json({"daemon", "status", "--json"})["intervalSeconds"], 5);
}

TEST_F(Adoption, SigtermWithDeploysInFlightLeavesNoShipWithoutARecord) {
  startDaemon();
  pid_t daemon = daemonPid();
  std::vector<Background> deployers;
  for (int i = 0; i < 24; ++i)
    deployers.push_back(keelanBackground({"deploy", numbered("f", i), "--root", root_, "--", "/bin/sleep", "1000"}));
  ASSERT_EQ(kill(daemon, SIGTERM), 0);
  ASSERT_EQ(waitChild(daemon, 5000), 0);
  std::vector<int> codes;
  for (auto& d : deployers) codes.push_back(d.wait(30000));
  // Deployers that found no daemon may have started a new one; stop it.
  if (keelan({"daemon", "status"}).code == 0) {
    pid_t second = daemonPid();
    ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
    waitChild(second, 5000);
  }
  // Read the store through a fresh daemon: every acknowledged deploy has a
  // record, and every ship process alive has one.
  startDaemon();
  auto ships = json({"ps", "--all", "--json"});
  std::set<std::string> recorded;
  std::set<pid_t> recordedPids;
  for (const auto& ship : ships) {
    recorded.insert(ship["name"]);
    if (ship["processId"].is_number()) recordedPids.insert(ship["processId"].get<pid_t>());
  }
  for (size_t i = 0; i < codes.size(); ++i) {
    if (codes[i] == 0) {
      EXPECT_TRUE(recorded.count(numbered("f", i))) << "acknowledged f" << i;
    }
  }
  for (const auto& ship : ships) {
    if (ship["status"] == "running") {
      EXPECT_TRUE(processAlive(ship["processId"].get<pid_t>()));
    }
  }
  // Every ship process of this test still alive (chrooted into our root) has a record.
  for (pid_t pid : listPids()) {
    if (!processAlive(pid) || rootOf(pid) != root_) continue;
    EXPECT_TRUE(recordedPids.count(pid)) << "ship pid " << pid << " runs without a record";
  }
}

}  // namespace
}  // namespace keelan::test
