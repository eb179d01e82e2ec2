// Cheaper deploys (issue 20): ship log fds kept by the daemon across
// spawns and rotation, closed on rm; users resolved once, again after
// /etc/passwd changes.
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <climits>

#include "harness.h"

namespace keelan::test {
namespace {

// How many of `pid`'s fds point at `path`.
int fdsPointingAt(pid_t pid, const std::string& path) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* fds = opendir(dir.c_str());
  if (fds == nullptr) return -1;
  int count = 0;
  while (dirent* entry = readdir(fds)) {
    char target[PATH_MAX];
    ssize_t n = readlink((dir + "/" + entry->d_name).c_str(), target, sizeof target - 1);
    if (n > 0 && std::string(target, static_cast<size_t>(n)) == path) ++count;
  }
  closedir(fds);
  return count;
}

class DeployCost : public KeelanTest {
 protected:
  void TearDown() override {
    if (userCreated_) {
      int ignored = system("userdel kltusercache >/dev/null 2>&1");
      (void)ignored;
      EXPECT_EQ(getpwnam("kltusercache"), nullptr) << "user kltusercache left behind";
    }
    if (userLock_ >= 0) close(userLock_);
    KeelanTest::TearDown();
  }
  // One test at a time owns test users (the trust tests lock the same way).
  void createUser(uid_t uid) {
    userLock_ = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    ASSERT_EQ(flock(userLock_, LOCK_EX), 0);
    if (getpwnam("kltusercache") != nullptr) {  // left over from a killed run
      ASSERT_EQ(system("userdel kltusercache >/dev/null 2>&1"), 0);
    }
    std::string add = "useradd --no-create-home --shell /usr/sbin/nologin -u " + std::to_string(uid) + " kltusercache";
    ASSERT_EQ(system(add.c_str()), 0);
    userCreated_ = true;
  }
  std::string outLog(const std::string& name) { return base_ + "/logs/ships/" + name + ".out.log"; }

  int userLock_ = -1;
  bool userCreated_ = false;
};

TEST_F(DeployCost, TheDaemonKeepsTheShipsLogOpenAndRmClosesIt) {
  startDaemon();
  ASSERT_EQ(deploySh("kept", "sleep 1000").code, 0);
  pid_t daemon = daemonPid();
  EXPECT_EQ(fdsPointingAt(daemon, outLog("kept")), 1) << "the daemon keeps the ship's log fd";
  EXPECT_EQ(fdsPointingAt(daemon, base_ + "/logs/ships/kept.err.log"), 1);
  ASSERT_EQ(keelan({"rm", "--force", "kept"}).code, 0);
  EXPECT_TRUE(eventually([&] { return fdsPointingAt(daemon, outLog("kept")) == 0; }));
  EXPECT_EQ(fdsPointingAt(daemon, base_ + "/logs/ships/kept.err.log"), 0);
}

TEST_F(DeployCost, NoLineIsLostWhenTheKeptLogIsRotatedBetweenRuns) {
  startDaemon({"--max-log-size", "16K", "--max-log-files", "50"});
  std::string root = makeRoot();
  auto run = [&](int from, int to) {
    ASSERT_EQ(keelan({"deploy", "chatty", "--root", root, "--", "/bin/sh", "-c",
                      "i=" + std::to_string(from) + "; while [ $i -lt " + std::to_string(to) +
                          " ]; do echo \"line $i\"; i=$((i+1)); done"})
                  .code,
              0);
    ASSERT_EQ(keelan({"wait", "chatty"}).code, 0);
  };
  run(0, 3000);
  std::string log = outLog("chatty");
  ASSERT_TRUE(
      eventually([&] { return access((log + ".1").c_str(), F_OK) == 0 && readFile(log).size() < 16384; }, 20000));
  EXPECT_EQ(fdsPointingAt(daemonPid(), log), 1) << "the kept fd survives the rotation";
  run(3000, 4000);  // through the kept fd, after the cut
  std::string all;
  for (int n = 50; n >= 1; --n) all += readFile(log + "." + std::to_string(n));
  all += readFile(log);
  std::string expected;
  for (int i = 0; i < 4000; ++i) expected += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(all, expected) << "every line, in order, across the rotated files";
}

TEST_F(DeployCost, AChangedUidInEtcPasswdIsUsedAtTheNextDeploy) {
  createUser(51001);
  startDaemon();
  ASSERT_EQ(keelan({"deploy", "who", "--user", "kltusercache", "--", "/usr/bin/id", "-u"}).code, 0);
  EXPECT_EQ(keelan({"wait", "who"}).code, 0);
  EXPECT_EQ(readFile(outLog("who")), "51001\n");
  ASSERT_EQ(system("usermod -u 51002 kltusercache"), 0);
  ASSERT_EQ(keelan({"deploy", "who", "--user", "kltusercache", "--", "/usr/bin/id", "-u"}).code, 0);
  EXPECT_EQ(keelan({"wait", "who"}).code, 0);
  EXPECT_EQ(readFile(outLog("who")), "51001\n51002\n");
}

}  // namespace
}  // namespace keelan::test
