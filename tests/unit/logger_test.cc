#include "keelan/logger.h"

#include <gtest/gtest.h>

#include "keelan/time_util.h"

namespace keelan {
namespace {

TEST(LogLine, TimestampLevelMessage) {
  // 2026-11-26T10:15:03.123Z
  int64_t ms = 1795688103123;
  EXPECT_EQ(isoTime(ms), "2026-11-26T10:15:03.123Z");
  EXPECT_EQ(formatLogLine(ms, LogLevel::info, "daemon started pid=4242 interval=30s"),
            "2026-11-26T10:15:03.123Z INFO daemon started pid=4242 interval=30s\n");
  EXPECT_EQ(formatLogLine(ms, LogLevel::warn, "x"), "2026-11-26T10:15:03.123Z WARN x\n");
  EXPECT_EQ(formatLogLine(ms, LogLevel::error, "x"), "2026-11-26T10:15:03.123Z ERROR x\n");
}

TEST(LogLine, NewlinesCannotForgeLines) {
  EXPECT_EQ(formatLogLine(0, LogLevel::info, "a\nb\rc"), "1970-01-01T00:00:00.000Z INFO a b c\n");
}

TEST(LogLine, MillisecondsArePadded) { EXPECT_EQ(isoTime(5), "1970-01-01T00:00:00.005Z"); }

}  // namespace
}  // namespace keelan
