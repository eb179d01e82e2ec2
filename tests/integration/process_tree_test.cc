// Process trees (issue 15): each ship in its own cgroup; what it leaves
// behind is killed (kill mode control-group) or kept and reported (process);
// stop reaches a setsid grandchild and a double-forked daemon; a ship spawned
// just before a daemon crash is found at start.
#include <unistd.h>

#include <cstdlib>

#include "harness.h"
#include "keelan/cgroup_hierarchy.h"
#include "keelan/ship_cgroups.h"

namespace keelan::test {
namespace {

class ProcessTree : public KeelanTest {
 protected:
  void SetUp() override {
    KeelanTest::SetUp();
    startDaemon();
    std::string tracking = json({"daemon", "status", "--json"}).value("processTracking", "");
    if (tracking != "cgroup") GTEST_SKIP() << "no writable cgroup v2 here (tracking " << tracking << ")";
  }
  // The PID a ship wrote to FILE in its root.
  pid_t pidIn(const std::string& file) {
    std::string text;
    if (!eventually([&] { return !(text = readFile(root_ + file)).empty() && text.back() == '\n'; })) return 0;
    return atoi(text.c_str());
  }
};

TEST_F(ProcessTree, LeftoverIsKilledWhenTheMainProcessExits) {
  Result d = deploySh("leaker", "sleep 1234 & echo $! > /tmp/left; exit 0");
  ASSERT_EQ(d.code, 0) << d.err;
  pid_t left = pidIn("/tmp/left");
  ASSERT_GT(left, 0);
  EXPECT_TRUE(eventually([&] { return !processAlive(left); })) << "leftover " << left << " still runs";
  EXPECT_TRUE(eventually([&] { return inspect("leaker").value("leftoverProcesses", 0) == 1; }));
  std::string cgroup = inspect("leaker").value("cgroup", "");
  EXPECT_NE(cgroup, "");
  EXPECT_TRUE(eventually([&] { return access(cgroup.c_str(), F_OK) != 0; })) << cgroup << " not removed";
}

TEST_F(ProcessTree, ProcessModeKeepsAndReportsTheLeftover) {
  Result d = deploySh("keeper", "sleep 1234 & echo $! > /tmp/left; exit 0", {"--kill-mode", "process"});
  ASSERT_EQ(d.code, 0) << d.err;
  pid_t left = pidIn("/tmp/left");
  ASSERT_GT(left, 0);
  ASSERT_TRUE(eventually([&] { return inspect("keeper").value("status", "") == "stopped"; }));
  EXPECT_TRUE(processAlive(left));
  auto ship = inspect("keeper");
  EXPECT_EQ(ship.value("killMode", ""), "process");
  EXPECT_EQ(ship.value("processesLeft", 0), 1);
  Result ps = keelan({"ps", "--all"});
  EXPECT_NE(ps.out.find("stopped, 1 process still running"), std::string::npos) << ps.out;
  kill(left, SIGKILL);
  EXPECT_TRUE(eventually([&] { return inspect("keeper").value("processesLeft", 1) == 0 || !processAlive(left); }));
}

TEST_F(ProcessTree, StopKillsASetsidGrandchildAndADoubleForkedDaemon) {
  Result d = deploySh("tree",
                      "busybox setsid sh -c 'echo $$ > /tmp/setsid; exec sleep 1234' & "
                      "(sh -c 'sleep 1234 & echo $! > /tmp/daemon' &) ; exec sleep 1234");
  ASSERT_EQ(d.code, 0) << d.err;
  pid_t escaped = pidIn("/tmp/setsid"), daemonized = pidIn("/tmp/daemon");
  ASSERT_GT(escaped, 0);
  ASSERT_GT(daemonized, 0);
  ASSERT_EQ(keelan({"stop", "tree"}).code, 0);
  EXPECT_TRUE(eventually([&] { return !processAlive(escaped) && !processAlive(daemonized); }));
}

TEST_F(ProcessTree, AShipSpawnedBeforeADaemonCrashIsFoundAtStart) {
  keelan({"daemon", "stop"});
  ASSERT_EQ(setenv("KEELAN_TEST_CRASH_AFTER_SPAWN", "1", 1), 0);
  startDaemon();
  unsetenv("KEELAN_TEST_CRASH_AFTER_SPAWN");
  Result d = deploySh("orphan", "echo $$ > /tmp/main; exec sleep 1234");
  EXPECT_NE(d.code, 0);  // the daemon died before it could answer
  pid_t main = pidIn("/tmp/main");
  ASSERT_GT(main, 0);
  startDaemon();
  auto ship = inspect("orphan");
  EXPECT_EQ(ship.value("status", ""), "running");
  EXPECT_EQ(ship.value("adopted", false), true);
  EXPECT_EQ(ship.value("adoptedReason", ""), "spawned before a daemon crash; not acknowledged");
  EXPECT_EQ(ship.value("processId", 0), main);
  ASSERT_EQ(keelan({"stop", "orphan"}).code, 0);
  EXPECT_TRUE(eventually([&] { return !processAlive(main); }));
}

class SessionTracking : public KeelanTest {};

TEST_F(SessionTracking, LeftoverIsKilledWithoutCgroups) {
  ASSERT_EQ(setenv("KEELAN_TEST_SESSION_TRACKING", "1", 1), 0);
  startDaemon();
  unsetenv("KEELAN_TEST_SESSION_TRACKING");
  EXPECT_EQ(json({"daemon", "status", "--json"}).value("processTracking", ""), "session");
  Result d = deploySh("leaker", "sleep 1234 & echo $! > /tmp/left; exit 0");
  ASSERT_EQ(d.code, 0) << d.err;
  std::string text;
  ASSERT_TRUE(eventually([&] { return !(text = readFile(root_ + "/tmp/left")).empty(); }));
  pid_t left = atoi(text.c_str());
  EXPECT_TRUE(eventually([&] { return !processAlive(left); })) << "leftover " << left << " still runs";
  EXPECT_TRUE(eventually([&] { return inspect("leaker").value("leftoverProcesses", 0) == 1; }));
}

}  // namespace
}  // namespace keelan::test
