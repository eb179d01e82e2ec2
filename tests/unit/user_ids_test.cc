#include "keelan/user_ids.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace keelan {
namespace {

// A passwd-like file "name:uid:gid" per line and a resolver reading it, so
// that the cache's invalidation is tested without touching /etc.
class UserIdCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/keelan-users-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    passwd_ = dir_ + "/passwd";
    group_ = dir_ + "/group";
    write(passwd_, "alice:1000:1000\n");
    write(group_, "");
  }
  void TearDown() override {
    unlink(passwd_.c_str());
    unlink(group_.c_str());
    rmdir(dir_.c_str());
  }
  static void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }
  UserIdCache cache() {
    return UserIdCache({passwd_, group_}, [this](const std::string& user) {
      std::ifstream in(passwd_);
      std::string line;
      while (std::getline(in, line)) {
        if (line.rfind(user + ":", 0) != 0) continue;
        std::string ids = line.substr(user.size() + 1);
        return UserLookup{ids, "", true};
      }
      return UserLookup{"", "no such user '" + user + "'", false};
    });
  }
  std::string dir_, passwd_, group_;
};

TEST_F(UserIdCacheTest, SecondLookupOfAKnownUserDoesNotResolveAgain) {
  UserIdCache users = cache();
  EXPECT_EQ(users.resolve("alice").ids, "1000:1000");
  EXPECT_EQ(users.resolve("alice").ids, "1000:1000");
  EXPECT_EQ(users.resolverCalls(), 1u);
}

TEST_F(UserIdCacheTest, AChangedPasswdFileIsReadAgain) {
  UserIdCache users = cache();
  EXPECT_EQ(users.resolve("alice").ids, "1000:1000");
  // Rewritten in place: its size differs (a same-size rewrite within one
  // mtime tick is the case the stamp cannot see; shadow's tools rename).
  write(passwd_, "alice:10001:1000\n");
  EXPECT_EQ(users.resolve("alice").ids, "10001:1000");
  EXPECT_EQ(users.resolverCalls(), 2u);
}

TEST_F(UserIdCacheTest, AReplacedPasswdFileOfTheSameSizeIsReadAgain) {
  UserIdCache users = cache();
  EXPECT_EQ(users.resolve("alice").ids, "1000:1000");
  // vipw/useradd write a new file and rename it over: a new inode.
  std::string next = dir_ + "/passwd.new";
  write(next, "alice:1002:1000\n");
  ASSERT_EQ(rename(next.c_str(), passwd_.c_str()), 0);
  EXPECT_EQ(users.resolve("alice").ids, "1002:1000");
}

TEST_F(UserIdCacheTest, AChangedGroupFileDropsWhatIsKept) {
  UserIdCache users = cache();
  users.resolve("alice");
  write(group_, "extra:x:2000:alice\n");
  users.resolve("alice");
  EXPECT_EQ(users.resolverCalls(), 2u);
}

TEST_F(UserIdCacheTest, UnknownUsersAreAskedEveryTime) {
  UserIdCache users = cache();
  EXPECT_EQ(users.resolve("bob").error, "no such user 'bob'");
  write(passwd_, "alice:1000:1000\nbob:1003:1003\n");
  EXPECT_EQ(users.resolve("bob").ids, "1003:1003");
}

TEST(UserIdsWithNss, RootIsListedInThePasswdFile) {
  UserLookup root = resolveUserWithNss("root");
  ASSERT_EQ(root.error, "");
  EXPECT_EQ(root.ids.rfind("0:0", 0), 0u);
  EXPECT_TRUE(root.listedInFiles);
  EXPECT_FALSE(resolveUserWithNss("root", "/nonexistent/passwd").listedInFiles);
  EXPECT_NE(resolveUserWithNss("no-such-user-keelan").error, "");
}

}  // namespace
}  // namespace keelan
