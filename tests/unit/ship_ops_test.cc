#include "keelan/ship_ops.h"

#include <gtest/gtest.h>

namespace keelan {
namespace {

TEST(ShipOps, NothingOverlapsAPendingReplaceOrRemoval) {
  for (ShipOp pending : {ShipOp::replace, ShipOp::remove})
    for (ShipOp incoming : {ShipOp::deploy, ShipOp::replace, ShipOp::stop, ShipOp::remove})
      EXPECT_NE(shipOpConflict(pending, incoming), nullptr) << shipOpName(pending) << " " << shipOpName(incoming);
}

TEST(ShipOps, APendingStopIsJoinedByStopAndRemoveOnly) {
  EXPECT_EQ(shipOpConflict(ShipOp::stop, ShipOp::stop), nullptr);
  EXPECT_EQ(shipOpConflict(ShipOp::stop, ShipOp::remove), nullptr);
  EXPECT_NE(shipOpConflict(ShipOp::stop, ShipOp::deploy), nullptr);
  EXPECT_NE(shipOpConflict(ShipOp::stop, ShipOp::replace), nullptr);
}

}  // namespace
}  // namespace keelan
