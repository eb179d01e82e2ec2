#include "keelan/ship_log_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "keelan/log_rotation.h"

namespace keelan {
namespace {

class ShipLogFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/var/tmp/keelan-shiplogs-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    paths_.shipLogDir = dir;
  }
  void TearDown() override {
    for (const char* name : {"a", "b", "c"})
      for (const std::string& path : {paths_.shipOutLog(name), paths_.shipErrLog(name), paths_.shipOutLog(name) + ".1",
                                      paths_.shipOutLog(name) + ".moved"})
        unlink(path.c_str());
    rmdir(paths_.shipLogDir.c_str());
  }
  static std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  static void put(int fd, const std::string& text) {
    ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  Paths paths_;
};

TEST_F(ShipLogFilesTest, TheSameFdsServeEverySpawnOfAShip) {
  ShipLogFiles logs(paths_, 8);
  ShipLogFds first, second;
  ASSERT_EQ(logs.acquire("a", first), "");
  ASSERT_EQ(logs.acquire("a", second), "");
  EXPECT_EQ(first.out, second.out);
  EXPECT_EQ(first.err, second.err);
  EXPECT_NE(first.out, first.err);
  EXPECT_EQ(logs.kept(), 1u);
  put(second.out, "hello\n");
  EXPECT_EQ(slurp(paths_.shipOutLog("a")), "hello\n");
}

TEST_F(ShipLogFilesTest, RotationInPlaceKeepsTheFdAndLosesNoLine) {
  ShipLogFiles logs(paths_, 8);
  ShipLogFds fds;
  ASSERT_EQ(logs.acquire("a", fds), "");
  std::string all;
  for (int i = 0; i < 2000; ++i) all += "line " + std::to_string(i) + "\n";
  put(fds.out, all);
  ASSERT_TRUE(rotateLogIfLarger(paths_.shipOutLog("a"), 4096, 1).rotated);
  ShipLogFds after;
  ASSERT_EQ(logs.acquire("a", after), "");
  EXPECT_EQ(after.out, fds.out);  // the live file is still the kept one
  put(after.out, "after\n");
  EXPECT_EQ(slurp(paths_.shipOutLog("a") + ".1") + slurp(paths_.shipOutLog("a")), all + "after\n");
}

TEST_F(ShipLogFilesTest, ARenamedOrDeletedFileIsReopened) {
  ShipLogFiles logs(paths_, 8);
  ShipLogFds fds;
  ASSERT_EQ(logs.acquire("a", fds), "");
  put(fds.out, "old\n");
  std::string moved = paths_.shipOutLog("a") + ".moved";
  ASSERT_EQ(rename(paths_.shipOutLog("a").c_str(), moved.c_str()), 0);  // logrotate's create mode
  ShipLogFds again;
  ASSERT_EQ(logs.acquire("a", again), "");
  put(again.out, "new\n");
  EXPECT_EQ(slurp(moved), "old\n");
  EXPECT_EQ(slurp(paths_.shipOutLog("a")), "new\n");
  ASSERT_EQ(unlink(paths_.shipErrLog("a").c_str()), 0);
  ASSERT_EQ(logs.acquire("a", again), "");
  struct stat info {};
  EXPECT_EQ(stat(paths_.shipErrLog("a").c_str(), &info), 0);
}

TEST_F(ShipLogFilesTest, ASymlinkPlantedInPlaceIsRefused) {
  ShipLogFiles logs(paths_, 8);
  ShipLogFds fds;
  ASSERT_EQ(logs.acquire("a", fds), "");
  ASSERT_EQ(unlink(paths_.shipOutLog("a").c_str()), 0);
  ASSERT_EQ(symlink("/etc/passwd", paths_.shipOutLog("a").c_str()), 0);
  ShipLogFds again;
  EXPECT_NE(logs.acquire("a", again).find("symlink"), std::string::npos);
  EXPECT_EQ(logs.kept(), 0u);
}

TEST_F(ShipLogFilesTest, AClearedAppendFlagGetsAFreshFd) {
  ShipLogFiles logs(paths_, 8);
  ShipLogFds fds;
  ASSERT_EQ(logs.acquire("a", fds), "");
  int flags = fcntl(fds.out, F_GETFL);
  ASSERT_EQ(fcntl(fds.out, F_SETFL, flags & ~O_APPEND), 0);
  ShipLogFds again;
  ASSERT_EQ(logs.acquire("a", again), "");
  EXPECT_NE(fcntl(again.out, F_GETFL) & O_APPEND, 0);
}

TEST_F(ShipLogFilesTest, ForgetClosesTheFds) {
  ShipLogFiles logs(paths_, 8);
  ShipLogFds fds;
  ASSERT_EQ(logs.acquire("a", fds), "");
  int out = fds.out;
  logs.forget("a");
  EXPECT_EQ(logs.kept(), 0u);
  EXPECT_EQ(fcntl(out, F_GETFD), -1);
}

TEST_F(ShipLogFilesTest, TheLeastRecentlySpawnedShipIsDroppedBeyondTheBound) {
  ShipLogFiles logs(paths_, 2);
  ShipLogFds a, b, c;
  ASSERT_EQ(logs.acquire("a", a), "");
  ASSERT_EQ(logs.acquire("b", b), "");
  ASSERT_EQ(logs.acquire("a", a), "");  // a is now the most recent
  int bOut = b.out;
  ASSERT_EQ(logs.acquire("c", c), "");
  EXPECT_EQ(logs.kept(), 2u);
  EXPECT_NE(fcntl(a.out, F_GETFD), -1);
  EXPECT_TRUE(bOut == c.out || bOut == c.err || fcntl(bOut, F_GETFD) == -1);  // b's closed (maybe reused by c)
}

TEST_F(ShipLogFilesTest, WithoutCapacityEachSpawnOwnsItsFds) {
  ShipLogFiles logs(paths_, 0);
  ShipLogFds fds;
  ASSERT_EQ(logs.acquire("a", fds), "");
  EXPECT_EQ(fds.ownedOut.get(), fds.out);
  EXPECT_EQ(fds.ownedErr.get(), fds.err);
  EXPECT_EQ(logs.kept(), 0u);
}

}  // namespace
}  // namespace keelan
