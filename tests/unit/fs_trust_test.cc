#include "keelan/fs_trust.h"

#include <fcntl.h>
#include <ftw.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "keelan/chroot_path.h"
#include "keelan/protocol.h"

namespace keelan {
namespace {

class FsTrust : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/keelan-fs-trust-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    nftw(dir_.c_str(), [](const char* path, const struct stat*, int, FTW*) { return remove(path); }, 16,
         FTW_DEPTH | FTW_PHYS);
  }
  std::string dir_;
};

TEST_F(FsTrust, SymlinkInAnIntermediateComponentIsRefused) {
  ASSERT_EQ(mkdir((dir_ + "/real").c_str(), 0700), 0);
  ASSERT_EQ(mkdir((dir_ + "/real/sub").c_str(), 0700), 0);
  ASSERT_EQ(symlink((dir_ + "/real").c_str(), (dir_ + "/link").c_str()), 0);
  EXPECT_EQ(openFileNoFollow(dir_ + "/link/sub/file", O_WRONLY | O_CREAT, 0600), -ELOOP);
  EXPECT_NE(access((dir_ + "/real/sub/file").c_str(), F_OK), 0) << "nothing created through the link";
  EXPECT_EQ(openDirectoryNoFollow(dir_ + "/link/sub"), -ELOOP);
  int fd = openFileNoFollow(dir_ + "/real/sub/file", O_WRONLY | O_CREAT, 0600);
  EXPECT_GE(fd, 0);
  if (fd >= 0) {
    EXPECT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0) << "blocking again once checked";
    close(fd);
  }
}

TEST_F(FsTrust, FifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(mkfifo((dir_ + "/fifo").c_str(), 0600), 0);
  // A blocking open of a FIFO with no writer would hang this test.
  EXPECT_EQ(openFileNoFollow(dir_ + "/fifo", O_RDONLY), -ENXIO);
  EXPECT_EQ(openFileNoFollow(dir_ + "/fifo", O_WRONLY | O_APPEND | O_CREAT, 0600), -ENXIO);
  EXPECT_EQ(openErrorText(-ENXIO), "not a regular file");
}

TEST_F(FsTrust, WritableByOthersIsRefusedNamingPathOwnerAndMode) {
  EXPECT_EQ(checkTrustedPath(dir_, 0), "");
  ASSERT_EQ(chmod(dir_.c_str(), 0777), 0);
  std::string error = checkTrustedPath(dir_, 0);
  EXPECT_NE(error.find(dir_), std::string::npos) << error;
  EXPECT_NE(error.find("mode 0777"), std::string::npos) << error;
  EXPECT_NE(error.find("uid 0"), std::string::npos) << error;
  ASSERT_EQ(chmod(dir_.c_str(), 0720), 0);
  EXPECT_NE(checkTrustedPath(dir_, 0), "") << "group-writable";
  ASSERT_EQ(chmod(dir_.c_str(), 0750), 0);
  EXPECT_EQ(checkTrustedPath(dir_, 0), "") << "group may read and traverse";
}

TEST_F(FsTrust, OwnedBySomeoneElseIsRefused) {
  ASSERT_EQ(mkdir((dir_ + "/d").c_str(), 0755), 0);
  ASSERT_EQ(chown((dir_ + "/d").c_str(), 4242, 4242), 0);
  std::string error = checkTrustedPath(dir_ + "/d/x", 0);
  EXPECT_NE(error.find(dir_ + "/d:"), std::string::npos) << error;
  EXPECT_NE(error.find("uid 4242"), std::string::npos) << error;
  // dir_ (root's, in the sticky /tmp) is no place for a daemon running as 4242.
  EXPECT_NE(checkTrustedPath(dir_ + "/d", 4242).find("world-writable"), std::string::npos);
}

TEST_F(FsTrust, StickyWorldWritableParentOnlyForOurOwnChild) {
  std::string sticky = dir_ + "/tmpish";
  ASSERT_EQ(mkdir(sticky.c_str(), 0755), 0);
  ASSERT_EQ(chmod(sticky.c_str(), 01777), 0);
  ASSERT_EQ(mkdir((sticky + "/mine").c_str(), 0700), 0);
  EXPECT_EQ(checkTrustedPath(sticky + "/mine", 0), "");
  EXPECT_NE(checkTrustedPath(sticky, 0), "") << "the sticky directory itself is not a base";
  // A daemon running as 4242 must not trust root's directory under /tmp...
  EXPECT_NE(checkTrustedPath(sticky + "/mine", 4242), "");
  // ...and nobody trusts a non-sticky world-writable parent.
  ASSERT_EQ(chmod(sticky.c_str(), 0777), 0);
  EXPECT_NE(checkTrustedPath(sticky + "/mine", 0), "");
}

TEST_F(FsTrust, SymlinkedDirectoryInTheTrustedPathIsRefused) {
  ASSERT_EQ(mkdir((dir_ + "/real").c_str(), 0700), 0);
  ASSERT_EQ(symlink((dir_ + "/real").c_str(), (dir_ + "/link").c_str()), 0);
  std::string error = checkTrustedPath(dir_ + "/link", 0);
  EXPECT_NE(error.find("symlink"), std::string::npos) << error;
}

TEST_F(FsTrust, StaleSocketIsReplacedAFileIsKept) {
  std::string file = dir_ + "/file";
  close(open(file.c_str(), O_WRONLY | O_CREAT, 0600));
  EXPECT_NE(clearStaleSocket(file), "");
  EXPECT_EQ(access(file.c_str(), F_OK), 0);
  EXPECT_EQ(clearStaleSocket(dir_ + "/nothing"), "");
}

TEST_F(FsTrust, AbsoluteSymlinkInsideARootResolvesInsideIt) {
  std::string root = dir_ + "/root";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(symlink("/usr/bin", (root + "/bin").c_str()), 0);
  // From outside, root/bin/sh follows to the host's /usr/bin/sh.
  ASSERT_EQ(access((root + "/bin/sh").c_str(), X_OK), 0);
  EXPECT_FALSE(isExecutableInRoot(root, "/bin/sh"));
  ASSERT_EQ(mkdir((root + "/usr").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root + "/usr/bin").c_str(), 0755), 0);
  int fd = open((root + "/usr/bin/sh").c_str(), O_WRONLY | O_CREAT, 0755);
  ASSERT_GE(fd, 0);
  close(fd);
  EXPECT_TRUE(isExecutableInRoot(root, "/bin/sh"));
  EXPECT_TRUE(isDirectoryInRoot(root, "/bin"));
  EXPECT_TRUE(isDirectoryInRoot(root, "/../../usr")) << "'..' stops at the root";
  EXPECT_FALSE(isDirectoryInRoot(root, "/etc"));
}

TEST(ProtocolNul, ANulByteInAnyFieldIsInvalidArgument) {
  for (const char* line : {R"({"op":"deploy","name":"a","ship":{"onExit":"echo\u0000x","command":["/bin/true"]}})",
                           R"({"op":"deploy","name":"a\u0000b"})", R"({"op":"x\u0000"})",
                           R"({"op":"deploy","name":"a","ship":{"env":{"K\u0000":"v"}}})",
                           R"({"op":"deploy","name":"a","ship":{"command":["/bin/true","a\u0000b"]}})"}) {
    ProtocolError error;
    nlohmann::json id;
    EXPECT_FALSE(parseRequest(line, error, id).has_value()) << line;
    EXPECT_EQ(error.code, errc::invalid_argument) << line;
    EXPECT_NE(error.message.find("NUL"), std::string::npos) << error.message;
  }
}

}  // namespace
}  // namespace keelan
