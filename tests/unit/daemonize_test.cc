#include "keelan/daemonize.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace keelan {
namespace {

// The detached daemon is a grandchild: as a subreaper the test inherits it
// and reaps it, so no zombie is left behind.
class DaemonizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/keelan-daemonize-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    config_.paths = defaultPaths(dir_);
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  }
  void TearDown() override {
    int status = 0;
    while (waitpid(-1, &status, 0) > 0 || errno == EINTR) {
    }
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    std::filesystem::remove_all(dir_);
  }
  std::string readFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
  }

  std::string dir_;
  DaemonConfig config_;
};

TEST_F(DaemonizeTest, AFailedExecIsReportedThroughTheReadyPipe) {
  StartResult result = startDetachedDaemon(config_, dir_ + "/no-such-keelan");
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.message, "cannot execute " + dir_ + "/no-such-keelan: No such file or directory");
}

TEST_F(DaemonizeTest, AFailedExecInPlaceReturnsTheReason) {
  EXPECT_EQ(execDaemonInPlace(config_, dir_ + "/no-such-keelan"),
            "cannot execute " + dir_ + "/no-such-keelan: No such file or directory");
  EXPECT_EQ(getenv(kDaemonConfigVariable), nullptr);
}

// A stand-in daemon: records its arguments, environment and fds, then says
// ready on the fd the configuration names.
TEST_F(DaemonizeTest, TheDaemonGetsTheConfigAndOnlyTheReadyFd) {
  std::string script = dir_ + "/fake-keelan";
  std::ofstream(script) << "#!/bin/sh\n"
                           "echo \"$1\" > " << dir_ << "/argv\n"
                           "printf '%s' \"$" << kDaemonConfigVariable << "\" > " << dir_ << "/config\n"
                           "ls /proc/$$/fd > " << dir_ << "/fds\n"
                           "fd=$(sed 's/.*\"readyFd\":\\([0-9]*\\).*/\\1/' " << dir_ << "/config)\n"
                           "eval \"echo ok 4242 >&$fd\"\n";
  chmod(script.c_str(), 0755);
  int stray = fcntl(open("/dev/null", O_RDONLY), F_DUPFD, 57);  // not close-on-exec: must not leak
  ASSERT_GE(stray, 57);
  config_.selfExe = "/usr/bin/keelan-argv0";
  config_.intervalSeconds = 17;
  config_.newStore = true;
  config_.foreground = true;  // detached: always false
  StartResult result = startDetachedDaemon(config_, script);
  ASSERT_TRUE(result.ok) << result.message;
  EXPECT_EQ(result.pid, 4242);
  EXPECT_EQ(readFile(dir_ + "/argv"), "__daemon\n");  // (a script cannot see its argv[0])
  DaemonConfig decoded;
  ASSERT_EQ(decodeConfig(readFile(dir_ + "/config"), decoded), "");
  EXPECT_EQ(decoded.intervalSeconds, 17);
  EXPECT_TRUE(decoded.newStore);
  EXPECT_FALSE(decoded.foreground);
  EXPECT_EQ(decoded.paths.logFile, config_.paths.logFile);
  EXPECT_GT(decoded.readyFd, 2);
  std::string fds = readFile(dir_ + "/fds");
  EXPECT_NE(fds.find(std::to_string(decoded.readyFd) + "\n"), std::string::npos) << fds;
  EXPECT_EQ(fds.find(std::to_string(stray) + "\n"), std::string::npos) << fds;
  close(stray);
  EXPECT_EQ(getenv(kDaemonConfigVariable), nullptr);  // only the child set it
}

}  // namespace
}  // namespace keelan
