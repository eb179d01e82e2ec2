#include "keelan/pidfile.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

namespace keelan {
namespace {

class PidFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/keelan-pidfile-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/d.pid";
  }
  void TearDown() override {
    unlink(path_.c_str());
    unlink((dir_ + "/target").c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_, path_;
};

TEST_F(PidFileTest, AcquireWritesPidAndHoldsTheLock) {
  PidFile file;
  auto result = file.acquire(path_, 4242);
  ASSERT_EQ(result.outcome, PidFile::Outcome::acquired);
  EXPECT_EQ(readPidFile(path_), 4242);
  struct stat info {};
  ASSERT_EQ(stat(path_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0644u);
  EXPECT_TRUE(probePidFile(path_).locked);
  file.release();
  EXPECT_NE(access(path_.c_str(), F_OK), 0) << "removed on release";
}

TEST_F(PidFileTest, ASecondHolderIsToldWhoHoldsIt) {
  PidFile first;
  ASSERT_EQ(first.acquire(path_, getpid()).outcome, PidFile::Outcome::acquired);
  // flock is per open file description: a forked child contends for real.
  pid_t child = fork();
  if (child == 0) {
    PidFile second;
    auto result = second.acquire(path_, getpid());
    _exit(result.outcome == PidFile::Outcome::held && result.holder == getppid() ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(PidFileTest, AStaleFileIsReplaced) {
  std::ofstream(path_) << "999999\n";
  EXPECT_FALSE(probePidFile(path_).locked);
  EXPECT_EQ(probePidFile(path_).pid, 999999);
  PidFile file;
  auto result = file.acquire(path_, 77);
  EXPECT_EQ(result.outcome, PidFile::Outcome::acquired);
  EXPECT_TRUE(result.replacedStale);
  EXPECT_EQ(readPidFile(path_), 77);
}

TEST_F(PidFileTest, ASymlinkIsRefusedAndItsTargetUntouched) {
  std::string target = dir_ + "/target";
  std::ofstream(target) << "precious\n";
  ASSERT_EQ(symlink(target.c_str(), path_.c_str()), 0);
  PidFile file;
  auto result = file.acquire(path_, 77);
  EXPECT_EQ(result.outcome, PidFile::Outcome::failed);
  EXPECT_NE(result.error.find("refusing"), std::string::npos) << result.error;
  std::ifstream in(target);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "precious");
}

TEST_F(PidFileTest, GarbageContentReadsAsNoPid) {
  std::ofstream(path_) << "not a pid";
  EXPECT_EQ(readPidFile(path_), 0);
  EXPECT_EQ(readPidFile(dir_ + "/missing"), 0);
}

}  // namespace
}  // namespace keelan
