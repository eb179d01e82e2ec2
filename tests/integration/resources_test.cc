// Per-ship resources through the real binary (issue 15): rlimits set by the
// helper before exec, and the daemon's own nofile kept from ships.
#include <sys/resource.h>

#include "harness.h"

namespace keelan::test {
namespace {

// The `Max open files` line of /proc/PID/limits: "SOFT HARD".
std::string openFilesLimit(pid_t pid) {
  std::string limits = readFile("/proc/" + std::to_string(pid) + "/limits");
  size_t at = limits.find("Max open files");
  if (at == std::string::npos) return "";
  std::string line = limits.substr(at + 14, limits.find('\n', at) - at - 14);
  std::string soft, hard;
  size_t i = line.find_first_not_of(' ');
  size_t j = line.find(' ', i);
  soft = line.substr(i, j - i);
  i = line.find_first_not_of(' ', j);
  hard = line.substr(i, line.find(' ', i) - i);
  return soft + " " + hard;
}

// The daemon starts with its soft nofile raised to the hard one, as the
// packaged unit's LimitNOFILE= does, so a ship inheriting it would show.
class Resources : public KeelanTest {
 protected:
  void SetUp() override {
    getrlimit(RLIMIT_NOFILE, &saved_);
    if (saved_.rlim_max <= 1024) GTEST_SKIP() << "the hard nofile limit here is not above 1024";
    struct rlimit raised = saved_;
    raised.rlim_cur = raised.rlim_max;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &raised), 0);
    KeelanTest::SetUp();
    startDaemon();
    root_ = makeRoot();
  }
  void TearDown() override {
    KeelanTest::TearDown();
    setrlimit(RLIMIT_NOFILE, &saved_);
  }
  pid_t runningPid(const std::string& name) {
    pid_t pid = 0;
    eventually([&] {
      auto ship = inspect(name);
      if (ship["status"] != "running" || !ship["processId"].is_number()) return false;
      pid = ship["processId"].get<pid_t>();
      return processName(pid) == "sleep";  // exec'd past the helper
    });
    return pid;
  }
  std::string hard() const {
    return saved_.rlim_max == RLIM_INFINITY ? "unlimited" : std::to_string(saved_.rlim_max);
  }
  struct rlimit saved_ {};
};

TEST_F(Resources, DefaultSoftNofileIs1024WhateverTheDaemonsWithAndWithoutARoot) {
  std::string daemonLimit = openFilesLimit(daemonPid());
  ASSERT_EQ(daemonLimit, hard() + " " + hard());
  Result d = deploySh("rooted", "exec sleep 1234");
  ASSERT_EQ(d.code, 0) << d.err;
  d = keelan({"deploy", "plain", "--", "sleep", "1234"});
  ASSERT_EQ(d.code, 0) << d.err;
  for (const char* name : {"rooted", "plain"}) {
    pid_t pid = runningPid(name);
    ASSERT_GT(pid, 0) << name;
    EXPECT_EQ(openFilesLimit(pid), "1024 " + hard()) << name;
  }
  EXPECT_EQ(keelan({"stop", "rooted", "plain"}).code, 0);
}

TEST_F(Resources, LimitFlagShowsInProcLimitsAndInspect) {
  Result d = keelan({"deploy", "lim", "--limit", "nofile=100:200", "--limit", "core=0", "--limit", "stack=infinity",
                     "--", "sleep", "1234"});
  ASSERT_EQ(d.code, 0) << d.err;
  pid_t pid = runningPid("lim");
  ASSERT_GT(pid, 0);
  EXPECT_EQ(openFilesLimit(pid), "100 200");
  std::string limits = readFile("/proc/" + std::to_string(pid) + "/limits");
  EXPECT_NE(limits.find("Max core file size        0                    0"), std::string::npos) << limits;
  EXPECT_NE(limits.find("Max stack size            unlimited            unlimited"), std::string::npos) << limits;
  auto ship = inspect("lim");
  EXPECT_EQ(ship["limits"]["nofile"], "100:200");
  EXPECT_EQ(ship["limits"]["core"], "0:0");
  EXPECT_EQ(ship["limits"]["stack"], "infinity:infinity");
  EXPECT_EQ(keelan({"stop", "lim"}).code, 0);
}

TEST_F(Resources, BadLimitsAreUsageErrors) {
  for (const auto& bad : {"files=10", "nofile=20:10", "nofile", "nofile=lots"}) {
    Result d = keelan({"deploy", "bad", "--limit", bad, "--", "sleep", "1"});
    EXPECT_EQ(d.code, 2) << bad << ": " << d.err;
    EXPECT_NE(d.err.find("limit"), std::string::npos) << d.err;
  }
  EXPECT_EQ(keelan({"ps", "-a"}).out.find("bad"), std::string::npos);
}

}  // namespace
}  // namespace keelan::test
