#include "keelan/fleet_plan.h"

#include <gtest/gtest.h>

namespace keelan {
namespace {

ShipSpec spec(const std::string& name, const std::string& arg = "1") {
  ShipSpec s;
  s.name = name;
  s.command = {"/bin/sleep", arg};
  return s;
}

ShipRecord record(const ShipSpec& s, ShipStatus status, bool applied = true) {
  ShipRecord r;
  r.spec = s;
  r.spec.managedByApply = applied;
  r.status = status;
  return r;
}

TEST(FleetPlan, CreatesUpdatesAndLeavesIdenticalRunningShipsAlone) {
  ShipSpec changed = spec("b", "2");
  changed.labels["tier"] = "web";
  auto plan = planApply({spec("a"), changed, spec("c"), spec("d")},
                        {record(spec("a"), ShipStatus::running), record(spec("b"), ShipStatus::running),
                         record(spec("c"), ShipStatus::failed), record(spec("d"), ShipStatus::backoff)},
                        false);
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[0].action, PlanAction::unchanged);
  EXPECT_EQ(plan[1].action, PlanAction::update);
  EXPECT_EQ(plan[1].reason, "definition changed (command, labels)");
  EXPECT_TRUE(plan[1].running);
  EXPECT_EQ(plan[2].action, PlanAction::update);
  EXPECT_EQ(plan[2].reason, "not running");
  EXPECT_FALSE(plan[2].running);
  EXPECT_EQ(plan[3].action, PlanAction::unchanged) << "a pending restart is left to the policy";
  EXPECT_EQ(planApply({spec("new")}, {}, false)[0].action, PlanAction::create);
}

TEST(FleetPlan, ApplysMarkIsNotPartOfTheDefinition) {
  auto plan = planApply({spec("a")}, {record(spec("a"), ShipStatus::running, false)}, true);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].action, PlanAction::unchanged);
}

TEST(FleetPlan, PruneRemovesOnlyShipsApplyCreated) {
  auto plan = planApply({spec("keep")},
                        {record(spec("keep"), ShipStatus::running), record(spec("gone"), ShipStatus::running),
                         record(spec("hand"), ShipStatus::running, false)},
                        true);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[1].name, "gone");
  EXPECT_EQ(plan[1].action, PlanAction::remove);
  EXPECT_EQ(planApply({spec("keep")}, {record(spec("gone"), ShipStatus::running)}, false).size(), 1u)
      << "nothing is removed without prune";
}

TEST(FleetPlan, SummaryLine) {
  ApplyCounts counts;
  for (auto a : {PlanAction::create, PlanAction::create, PlanAction::update, PlanAction::unchanged, PlanAction::remove})
    counts.count(a);
  EXPECT_EQ(applySummary(counts), "2 created, 1 updated, 1 unchanged, 1 removed");
  counts.failed = 1;
  EXPECT_EQ(applySummary(counts), "2 created, 1 updated, 1 unchanged, 1 removed, 1 failed");
}

}  // namespace
}  // namespace keelan
