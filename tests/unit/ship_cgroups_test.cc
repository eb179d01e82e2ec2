#include "keelan/ship_cgroups.h"

#include <gtest/gtest.h>

namespace keelan {
namespace {

TEST(ShipCgroups, ParsesCgroupEvents) {
  auto events = parseCgroupEvents("populated 1\nfrozen 0\n");
  ASSERT_TRUE(events);
  EXPECT_TRUE(events->populated);
  EXPECT_FALSE(events->frozen);
  events = parseCgroupEvents("populated 0\nfrozen 1");
  ASSERT_TRUE(events);
  EXPECT_FALSE(events->populated);
  EXPECT_TRUE(events->frozen);
  EXPECT_EQ(parseCgroupEvents(""), std::nullopt);
  EXPECT_EQ(parseCgroupEvents("populated 2\n"), std::nullopt);
}

TEST(ShipCgroups, TagIsStableAndDiffersByBaseDir) {
  EXPECT_EQ(baseDirTag("/var/lib/keelan"), baseDirTag("/var/lib/keelan"));
  EXPECT_NE(baseDirTag("/tmp/keelan-test-a"), baseDirTag("/tmp/keelan-test-b"));
  EXPECT_EQ(baseDirTag("/x").size(), 12u);
}

TEST(ShipCgroups, AtTheRootTheSubtreeIsTaggedByBaseDir) {
  CgroupHierarchy root{"/sys/fs/cgroup/unified", "/"};
  SubtreePlan plan = planSubtree(root, "/b", false, false);
  EXPECT_EQ(plan.subtree, "/sys/fs/cgroup/unified/keelan-" + baseDirTag("/b"));
  EXPECT_EQ(plan.moveSelfTo, "");
  // The root is never "delegated" to us, whatever its xattrs say.
  EXPECT_EQ(planSubtree(root, "/b", true, false).subtree, plan.subtree);
}

TEST(ShipCgroups, ANotDelegatedCgroupGetsATaggedChild) {
  CgroupHierarchy h{"/sys/fs/cgroup", "/user.slice/session-1.scope"};
  EXPECT_EQ(planSubtree(h, "/b", false, false).subtree,
            "/sys/fs/cgroup/user.slice/session-1.scope/keelan-" + baseDirTag("/b"));
}

TEST(ShipCgroups, ADelegatedCgroupIsTheSubtreeAndTheDaemonMovesToItsLeaf) {
  CgroupHierarchy h{"/sys/fs/cgroup", "/system.slice/keelan.service"};
  SubtreePlan plan = planSubtree(h, "/b", true, false);
  EXPECT_EQ(plan.subtree, "/sys/fs/cgroup/system.slice/keelan.service");
  EXPECT_EQ(plan.moveSelfTo, "/sys/fs/cgroup/system.slice/keelan.service/daemon");
  // After a re-exec the daemon is in the leaf already: the same subtree.
  CgroupHierarchy moved{"/sys/fs/cgroup", "/system.slice/keelan.service/daemon"};
  SubtreePlan again = planSubtree(moved, "/b", false, true);
  EXPECT_EQ(again.subtree, plan.subtree);
  EXPECT_EQ(again.moveSelfTo, "");
}

TEST(ShipCgroups, ShipOfARunDirectory) {
  ShipCgroups cgroups("/cg/keelan-x");
  EXPECT_EQ(cgroups.shipOf("/cg/keelan-x/ships/web/3"), "web");
  EXPECT_EQ(cgroups.shipOf("/cg/keelan-x/ships/web"), "");
  EXPECT_EQ(cgroups.shipOf("/elsewhere/ships/web/3"), "");
}

}  // namespace
}  // namespace keelan
