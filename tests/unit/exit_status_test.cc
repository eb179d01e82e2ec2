#include "keelan/exit_status.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>

namespace keelan {
namespace {

TEST(ExitStatus, EveryExitCodeRoundTripsFromARawWaitStatus) {
  for (int code = 0; code < 256; ++code) {
    ExitStatus status = ExitStatus::fromWaitStatus(W_EXITCODE(code, 0));
    EXPECT_EQ(status.kind, ExitStatus::Kind::exited);
    EXPECT_EQ(status.code, code);
    EXPECT_EQ(status.shellCode(), code);
  }
}

TEST(ExitStatus, SignalsKeepSignalAndCoreApart) {
  ExitStatus killed = ExitStatus::fromWaitStatus(SIGKILL);
  EXPECT_EQ(killed.kind, ExitStatus::Kind::signaled);
  EXPECT_EQ(killed.signal, SIGKILL);
  EXPECT_FALSE(killed.coreDumped);
  EXPECT_EQ(killed.shellCode(), 137);
  ExitStatus segv = ExitStatus::fromWaitStatus(SIGSEGV | WCOREFLAG);
  EXPECT_EQ(segv.signal, SIGSEGV);
  EXPECT_TRUE(segv.coreDumped);
  EXPECT_EQ(segv.describe(), "killed by signal 11 (SIGSEGV), core dumped");
}

TEST(ExitStatus, UnknownIsNeverZero) {
  ExitStatus unknown;
  EXPECT_FALSE(unknown.known());
  EXPECT_FALSE(unknown.success());
  EXPECT_EQ(unknown.shellCode(), -1);
  EXPECT_EQ(unknown.describe(), "exit status unknown");
}

TEST(Signals, ParseNamesAndNumbers) {
  EXPECT_EQ(parseSignal("TERM"), SIGTERM);
  EXPECT_EQ(parseSignal("SIGKILL"), SIGKILL);
  EXPECT_EQ(parseSignal("hup"), SIGHUP);
  EXPECT_EQ(parseSignal("9"), 9);
  EXPECT_EQ(parseSignal("0"), 0);
  EXPECT_EQ(parseSignal("65"), 0);
  EXPECT_EQ(parseSignal("99999999999"), 0);
  EXPECT_EQ(parseSignal("NOPE"), 0);
  EXPECT_EQ(parseSignal(""), 0);
  EXPECT_EQ(signalName(SIGTERM), "SIGTERM");
}

}  // namespace
}  // namespace keelan
