#include "keelan/paths.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace keelan {
namespace {

TEST(Paths, AbsolutePathNormalises) {
  EXPECT_EQ(absolutePath("x", "/srv"), "/srv/x");
  EXPECT_EQ(absolutePath("/a/./b//c/", "/srv"), "/a/b/c");
  EXPECT_EQ(absolutePath("../x", "/srv/fleet"), "/srv/x");
  EXPECT_EQ(absolutePath(".", "/"), "/");
  EXPECT_EQ(absolutePath("../../..", "/a"), "/");
}

TEST(Paths, DefaultsDeriveFromTheBase) {
  Paths p = defaultPaths("/srv/fleet");
  EXPECT_EQ(p.logFile, "/srv/fleet/logs/monitor-daemon.log");
  EXPECT_EQ(p.pidFile, "/srv/fleet/run/monitor-daemon.pid");
  EXPECT_EQ(p.socket, "/srv/fleet/run/keelan.sock");
  EXPECT_EQ(p.dataDir, "/srv/fleet/data");
  EXPECT_EQ(p.shipOutLog("web"), "/srv/fleet/logs/ships/web.out.log");
  EXPECT_EQ(p.shipErrLog("web"), "/srv/fleet/logs/ships/web.err.log");
  EXPECT_EQ(defaultPaths("/").socket, "/run/keelan.sock");
}

TEST(Paths, BaseDirectoryPrecedence) {
  char dir[] = "/tmp/keelan-paths-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string defaults = std::string(dir) + "/default";
  std::ofstream(defaults) << "# comment\nKEELAN_OPTS=--interval 5\nBASE_DIRECTORY=\"/var/lib/keelan\"\n";
  EXPECT_EQ(resolveBaseDirectory("/env/base", defaults, "/cwd"), "/env/base");
  EXPECT_EQ(resolveBaseDirectory("rel", defaults, "/cwd"), "/cwd/rel");
  EXPECT_EQ(resolveBaseDirectory(nullptr, defaults, "/cwd"), "/var/lib/keelan");
  EXPECT_EQ(resolveBaseDirectory("", defaults, "/cwd"), "/var/lib/keelan");
  EXPECT_EQ(resolveBaseDirectory(nullptr, std::string(dir) + "/missing", "/cwd"), "/cwd");
  unlink(defaults.c_str());
  rmdir(dir);
}

TEST(Paths, ParentDirectory) {
  EXPECT_EQ(parentDirectory("/a/b/c"), "/a/b");
  EXPECT_EQ(parentDirectory("/a"), "/");
  EXPECT_EQ(parentDirectory("a"), ".");
}

}  // namespace
}  // namespace keelan
