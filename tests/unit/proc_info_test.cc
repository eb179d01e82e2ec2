#include "keelan/proc_info.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

namespace keelan {
namespace {

TEST(ProcStat, ParsesFieldsAfterTheLastParenthesis) {
  // A command may contain ") " itself.
  std::string text =
      "4242 (evil) R 1 2) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
  auto stat = parseProcStat(text);
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->state, 'S');
  EXPECT_EQ(stat->ppid, 1);
  EXPECT_EQ(stat->session, 4242);
  EXPECT_EQ(stat->startTime, 987654u);
  EXPECT_FALSE(parseProcStat("garbage").has_value());
  EXPECT_FALSE(parseProcStat("1 (x) S 1 2").has_value());
}

TEST(ProcStat, LivenessTellsAliveZombieAndReused) {
  auto self = readProcStat(getpid());
  ASSERT_TRUE(self.has_value());
  EXPECT_EQ(checkLiveness(getpid(), self->startTime), Liveness::alive);
  EXPECT_EQ(checkLiveness(getpid(), self->startTime + 1), Liveness::reused);
  pid_t child = fork();
  if (child == 0) _exit(0);
  // Until reaped, the child is a zombie: kill(pid, 0) would say alive.
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  auto childStat = readProcStat(child);
  ASSERT_TRUE(childStat.has_value()) << "a zombie still has /proc/PID/stat";
  EXPECT_EQ(childStat->state, 'Z');
  uint64_t start = childStat->startTime;
  EXPECT_EQ(checkLiveness(child, start), Liveness::gone);
  waitpid(child, nullptr, 0);
  EXPECT_EQ(checkLiveness(child, start), Liveness::gone);
}

TEST(ProcStat, BootIdIsAUuid) { EXPECT_EQ(readBootId().size(), 36u); }

}  // namespace
}  // namespace keelan
