#include "keelan/logger.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

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

class BatchedLogger : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/keelan-logger-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/daemon.log";
  }
  void TearDown() override {
    unlink(path_.c_str());
    unlink((path_ + ".1").c_str());
    rmdir(dir_.c_str());
  }
  static std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // The messages of the file's lines, in order.
  static std::string messages(const std::string& path) {
    std::istringstream lines(slurp(path));
    std::string line, out;
    while (std::getline(lines, line)) out += line.substr(line.find(' ', line.find(' ') + 1) + 1) + ";";
    return out;
  }
  std::string dir_, path_;
};

TEST_F(BatchedLogger, LinesAppearAtTheFlushInOrder) {
  Logger log;
  ASSERT_EQ(log.open(path_, false), "");
  log.setBatched(true);
  log.info("one");
  log.info("two");
  log.info("three");
  EXPECT_EQ(slurp(path_), "");
  log.flush();
  EXPECT_EQ(messages(path_), "one;two;three;");
  EXPECT_EQ(log.pending(), "");
}

TEST_F(BatchedLogger, WarningsAndErrorsAreWrittenAtOnceWithWhatCameBefore) {
  Logger log;
  ASSERT_EQ(log.open(path_, false), "");
  log.setBatched(true);
  log.info("before");
  log.error("fatal");
  EXPECT_EQ(messages(path_), "before;fatal;");
  log.info("again");
  log.warn("careful");
  EXPECT_EQ(messages(path_), "before;fatal;again;careful;");
}

TEST_F(BatchedLogger, NothingIsLostAtDestructionOrReopen) {
  {
    Logger log;
    ASSERT_EQ(log.open(path_, false), "");
    log.setBatched(true);
    log.info("a");
    ASSERT_EQ(rename(path_.c_str(), (path_ + ".1").c_str()), 0);  // logrotate, then SIGHUP
    ASSERT_EQ(log.reopen(), "");
    log.info("b");
  }
  EXPECT_EQ(messages(path_ + ".1"), "a;");
  EXPECT_EQ(messages(path_), "b;");
}

TEST_F(BatchedLogger, ALargeBatchIsWrittenBeforeItGrowsWithoutBound) {
  Logger log;
  ASSERT_EQ(log.open(path_, false), "");
  log.setBatched(true);
  std::string message(1000, 'x');
  for (int i = 0; i < 100; ++i) log.info(message);
  EXPECT_LT(log.pending().size(), 64u * 1024);
  EXPECT_GT(slurp(path_).size(), 60u * 1000);
}

TEST_F(BatchedLogger, UnbatchedWritesEachLine) {
  Logger log;
  ASSERT_EQ(log.open(path_, false), "");
  log.info("at once");
  EXPECT_EQ(messages(path_), "at once;");
}

}  // namespace
}  // namespace keelan
