#include "keelan/cgroup_hierarchy.h"

#include <gtest/gtest.h>

namespace keelan {
namespace {

TEST(CgroupHierarchy, FindsTheUnifiedMountOnAHybridHost) {
  std::string mountinfo =
      "25 30 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n"
      "33 25 0:28 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
      "34 33 0:29 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
      "35 33 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory\n";
  EXPECT_EQ(cgroup2MountIn(mountinfo), "/sys/fs/cgroup/unified");
}

TEST(CgroupHierarchy, ReadsAMountWithoutOptionalFieldsAndDecodesEscapes) {
  EXPECT_EQ(cgroup2MountIn("40 1 0:40 / /mnt/my\\040cg rw - cgroup2 none rw\n"), "/mnt/my cg");
  EXPECT_EQ(cgroup2MountIn("40 1 0:40 / /sys/fs/cgroup rw - cgroup2 none rw"), "/sys/fs/cgroup");
}

TEST(CgroupHierarchy, NoCgroup2MountedIsNone) {
  EXPECT_EQ(cgroup2MountIn("35 33 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"), std::nullopt);
  EXPECT_EQ(cgroup2MountIn(""), std::nullopt);
  EXPECT_EQ(cgroup2MountIn("garbage\n- cgroup2\n"), std::nullopt);
}

TEST(CgroupHierarchy, TheUnifiedLineNamesTheOwnCgroup) {
  EXPECT_EQ(unifiedCgroupIn("12:memory:/user.slice\n0::/\n"), "/");
  EXPECT_EQ(unifiedCgroupIn("0::/system.slice/keelan.service\n"), "/system.slice/keelan.service");
  EXPECT_EQ(unifiedCgroupIn("12:memory:/\n"), std::nullopt);
  EXPECT_EQ(unifiedCgroupIn("0::relative\n"), std::nullopt);
  EXPECT_EQ(unifiedCgroupIn("0::/gone (deleted)\n"), std::nullopt);
}

TEST(CgroupHierarchy, SelfDirJoinsMountAndPath) {
  EXPECT_EQ((CgroupHierarchy{"/sys/fs/cgroup", "/"}.selfDir()), "/sys/fs/cgroup");
  EXPECT_EQ((CgroupHierarchy{"/sys/fs/cgroup", "/a/b"}.selfDir()), "/sys/fs/cgroup/a/b");
}

TEST(CgroupHierarchy, ThisMachineHasOne) {
  auto found = discoverCgroupHierarchy();
  if (!found) GTEST_SKIP() << "no cgroup v2 hierarchy mounted here";
  EXPECT_FALSE(found->mount.empty());
  EXPECT_EQ(found->self[0], '/');
}

}  // namespace
}  // namespace keelan
