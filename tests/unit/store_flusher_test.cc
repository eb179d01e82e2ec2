#include "keelan/store_flusher.h"

#include <gtest/gtest.h>

namespace keelan {
namespace {

constexpr int64_t kInterval = 100;

TEST(FlushScheduleTest, NothingToFlushUntilSomethingIsCommitted) {
  FlushSchedule schedule(kInterval);
  EXPECT_EQ(schedule.delayMs(0), std::nullopt);
  schedule.committed(0);
  EXPECT_EQ(schedule.delayMs(0), std::nullopt);
}

TEST(FlushScheduleTest, TheFirstCommitAfterAnIdleSpellIsFlushedAtOnce) {
  FlushSchedule schedule(kInterval);
  schedule.committed(1);
  EXPECT_EQ(schedule.delayMs(5000), 0);
}

TEST(FlushScheduleTest, OneFlushInFlightAtATime) {
  FlushSchedule schedule(kInterval);
  schedule.committed(1);
  EXPECT_EQ(schedule.start(1000), 1u);
  EXPECT_TRUE(schedule.inFlight());
  schedule.committed(2);
  EXPECT_EQ(schedule.delayMs(1000), std::nullopt);
  EXPECT_EQ(schedule.delayMs(5000), std::nullopt);  // however long it takes
  schedule.finished(true);
  EXPECT_EQ(schedule.flushed(), 1u);  // the commit made while it ran is not covered
  EXPECT_EQ(schedule.delayMs(5000), 0);
}

TEST(FlushScheduleTest, FlushesStartAtLeastAnIntervalApart) {
  FlushSchedule schedule(kInterval);
  schedule.committed(1);
  schedule.start(1000);
  schedule.finished(true);
  schedule.committed(2);
  EXPECT_EQ(schedule.delayMs(1010), 90);
  EXPECT_EQ(schedule.delayMs(1099), 1);
  EXPECT_EQ(schedule.delayMs(1100), 0);
  EXPECT_EQ(schedule.delayMs(1500), 0);
  EXPECT_EQ(schedule.start(1100), 2u);
}

TEST(FlushScheduleTest, NoFlushWhileEverythingIsFlushed) {
  FlushSchedule schedule(kInterval);
  schedule.committed(3);
  schedule.start(0);
  schedule.finished(true);
  EXPECT_EQ(schedule.flushed(), 3u);
  EXPECT_EQ(schedule.delayMs(1000), std::nullopt);
  schedule.committed(3);  // a count seen again is no new commit
  EXPECT_EQ(schedule.delayMs(1000), std::nullopt);
}

TEST(FlushScheduleTest, AFailedFlushLeavesItsCommitsForTheNextOne) {
  FlushSchedule schedule(kInterval);
  schedule.committed(4);
  schedule.start(1000);
  schedule.finished(false);
  EXPECT_EQ(schedule.flushed(), 0u);
  EXPECT_EQ(schedule.delayMs(1020), 80);  // retried an interval after the failed start
  EXPECT_EQ(schedule.start(1100), 4u);
  schedule.finished(true);
  EXPECT_EQ(schedule.flushed(), 4u);
}

}  // namespace
}  // namespace keelan
