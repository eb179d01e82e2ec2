// The daemon's lifecycle through the real binary: start, status, stop,
// restart, locking, signals, paths and the CLI's exit codes.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

namespace keelan::test {
namespace {

class DaemonLifecycle : public KeelanTest {};

TEST_F(DaemonLifecycle, StartStatusStop) {
  Result started = keelan({"daemon", "start"});
  ASSERT_EQ(started.code, 0) << started.err;
  pid_t pid = daemonPid();
  ASSERT_GT(pid, 0);
  EXPECT_EQ(started.out, "keelan daemon started (pid " + std::to_string(pid) + ")\n");
  EXPECT_EQ(readFile(base_ + "/run/monitor-daemon.pid"), std::to_string(pid) + "\n");
  struct stat info {};
  ASSERT_EQ(stat((base_ + "/run/monitor-daemon.pid").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0644u);
  ASSERT_EQ(stat((base_ + "/run/keelan.sock").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_TRUE(processAlive(pid));
  // logrotate's postrotate and ps find the daemon by this name.
  EXPECT_EQ(processName(pid), "keelan");

  Result status = keelan({"daemon", "status"});
  EXPECT_EQ(status.code, 0);
  EXPECT_NE(status.out.find("keelan daemon is running (pid " + std::to_string(pid) + ")"), std::string::npos);
  EXPECT_NE(status.out.find("daemon started"), std::string::npos) << "recent log lines are shown";

  auto s = json({"daemon", "status", "--json", "--lines", "3"});
  EXPECT_EQ(s["running"], true);
  EXPECT_EQ(s["pid"], pid);
  EXPECT_EQ(s["socket"], base_ + "/run/keelan.sock");
  EXPECT_EQ(s["intervalSeconds"], 30);
  EXPECT_EQ(s["logFile"], base_ + "/logs/monitor-daemon.log");
  EXPECT_GT(s["logSizeBytes"].get<int64_t>(), 0);
  EXPECT_EQ(s["pidFile"], base_ + "/run/monitor-daemon.pid");
  EXPECT_TRUE(s["uptimeSeconds"].is_number());
  EXPECT_LE(s["recentLog"].size(), 3u);
  EXPECT_EQ(s["ships"], (nlohmann::json{{"running", 0}, {"stopped", 0}, {"failed", 0}, {"lost", 0}, {"backoff", 0}}));

  Result stopped = keelan({"daemon", "stop"});
  EXPECT_EQ(stopped.code, 0);
  EXPECT_EQ(stopped.out, "keelan daemon stopped\n");
  EXPECT_EQ(waitChild(pid, 5000), 0) << "the daemon exits 0 on SIGTERM";
  EXPECT_NE(access((base_ + "/run/monitor-daemon.pid").c_str(), F_OK), 0) << "PID file removed";
  EXPECT_NE(access((base_ + "/run/keelan.sock").c_str(), F_OK), 0) << "socket removed";
  std::string log = readFile(base_ + "/logs/monitor-daemon.log");
  EXPECT_NE(log.find("INFO daemon stopped"), std::string::npos);

  Result notRunning = keelan({"daemon", "status"});
  EXPECT_EQ(notRunning.code, 3);
  EXPECT_EQ(notRunning.out, "keelan daemon is not running\n");
  Result stopAgain = keelan({"daemon", "stop"});
  EXPECT_EQ(stopAgain.code, 0);
  EXPECT_EQ(stopAgain.out, "keelan daemon is not running\n");
}

TEST_F(DaemonLifecycle, LogLinesAreTimestampedAndLeveled) {
  startDaemon({"--interval", "7"});
  std::string log = readFile(base_ + "/logs/monitor-daemon.log");
  // 2026-11-26T10:15:03.123Z INFO daemon started pid=4242 interval=7s
  std::string first = log.substr(0, log.find('\n'));
  ASSERT_GE(first.size(), 30u);
  EXPECT_EQ(first[4], '-');
  EXPECT_EQ(first[10], 'T');
  EXPECT_EQ(first[19], '.');
  EXPECT_EQ(first[23], 'Z');
  EXPECT_NE(log.find("INFO daemon started pid=" + std::to_string(daemonPid()) + " interval=7s"), std::string::npos);
  EXPECT_NE(log.find("version="), std::string::npos);
}

TEST_F(DaemonLifecycle, SecondStartIsRefused) {
  startDaemon();
  pid_t pid = daemonPid();
  Result again = keelan({"daemon", "start"});
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("already running (pid " + std::to_string(pid) + ")"), std::string::npos) << again.err;
  EXPECT_EQ(daemonPid(), pid);
  EXPECT_TRUE(processAlive(pid));
}

TEST_F(DaemonLifecycle, ConcurrentStartsGiveExactlyOneDaemon) {
  std::vector<Background> starters;
  for (int i = 0; i < 6; ++i) starters.push_back(keelanBackground({"daemon", "start"}));
  int succeeded = 0, refused = 0;
  for (auto& starter : starters) {
    int code = starter.wait(20000);
    if (code == 0) ++succeeded;
    if (code == 1) ++refused;
  }
  EXPECT_EQ(succeeded, 1);
  EXPECT_EQ(refused, 5);
  std::string errors = readFile(base_ + "/.bg-err");
  pid_t pid = daemonPid();
  size_t mentions = 0;
  for (size_t at = errors.find("already running (pid " + std::to_string(pid) + ")"); at != std::string::npos;
       at = errors.find("already running (pid " + std::to_string(pid) + ")", at + 1))
    ++mentions;
  EXPECT_EQ(mentions, 5u) << errors;
}

TEST_F(DaemonLifecycle, StalePidFileAfterSigkillIsReplaced) {
  startDaemon();
  pid_t old = daemonPid();
  ASSERT_EQ(kill(old, SIGKILL), 0);
  ASSERT_EQ(waitChild(old, 5000), 128 + SIGKILL);
  Result status = keelan({"daemon", "status"});
  EXPECT_EQ(status.code, 3);
  EXPECT_NE(status.out.find("stale PID file"), std::string::npos) << status.out;
  auto s = nlohmann::json::parse(keelan({"daemon", "status", "--json"}).out);
  EXPECT_EQ(s["running"], false);
  EXPECT_EQ(s["stalePidFile"], true);

  startDaemon();
  pid_t fresh = daemonPid();
  EXPECT_NE(fresh, old);
  EXPECT_TRUE(processAlive(fresh));
  EXPECT_NE(readFile(base_ + "/logs/monitor-daemon.log").find("replaced a stale PID file"), std::string::npos);
}

class ShutdownSignal : public KeelanTest, public ::testing::WithParamInterface<int> {};

TEST_P(ShutdownSignal, ExitsCleanlyAndRemovesFiles) {
  startDaemon();
  pid_t pid = daemonPid();
  ASSERT_EQ(kill(pid, GetParam()), 0);
  EXPECT_EQ(waitChild(pid, 5000), 0);
  EXPECT_NE(access((base_ + "/run/monitor-daemon.pid").c_str(), F_OK), 0);
  EXPECT_NE(access((base_ + "/run/keelan.sock").c_str(), F_OK), 0);
  std::string log = readFile(base_ + "/logs/monitor-daemon.log");
  EXPECT_NE(log.find(GetParam() == SIGTERM ? "received SIGTERM" : "received SIGINT"), std::string::npos);
  EXPECT_NE(log.find("daemon stopped"), std::string::npos);
}
INSTANTIATE_TEST_SUITE_P(Signals, ShutdownSignal, ::testing::Values(SIGTERM, SIGINT));

TEST_F(DaemonLifecycle, ForegroundLogsToStderrAndStopsOnCtrlC) {
  Background daemon = keelanBackground({"daemon", "start", "--foreground"});
  ASSERT_TRUE(eventually([&] { return keelan({"daemon", "status"}).code == 0; }));
  EXPECT_EQ(daemonPid(), daemon.pid()) << "no fork in the foreground";
  EXPECT_EQ(processName(daemon.pid()), "keelan");
  daemon.signal(SIGINT);
  EXPECT_EQ(daemon.wait(5000), 0);
  std::string err = readFile(base_ + "/.bg-err");
  EXPECT_NE(err.find("INFO daemon started"), std::string::npos) << err;
  EXPECT_NE(err.find("INFO daemon stopped"), std::string::npos) << err;
}

TEST_F(DaemonLifecycle, CustomPaths) {
  std::string dir = base_ + "/custom";
  startDaemon({"--log-file", dir + "/d.log", "--pid-file", dir + "/d.pid", "--socket", dir + "/d.sock"});
  pid_t pid = static_cast<pid_t>(atoi(readFile(dir + "/d.pid").c_str()));
  EXPECT_GT(pid, 0);
  EXPECT_NE(readFile(dir + "/d.log").find("daemon started"), std::string::npos);
  auto s = json({"daemon", "status", "--json", "--pid-file", dir + "/d.pid", "--socket", dir + "/d.sock"});
  EXPECT_EQ(s["pid"], pid);
  EXPECT_EQ(s["logFile"], dir + "/d.log");
  // Ordinary commands find a custom socket through KEELAN_SOCKET.
  Result ps = keelan({"ps"}, 20000, {{"KEELAN_SOCKET", dir + "/d.sock"}});
  EXPECT_EQ(ps.code, 0) << ps.err;
  EXPECT_EQ(keelan({"daemon", "stop", "--pid-file", dir + "/d.pid"}).code, 0);
  EXPECT_EQ(waitChild(pid, 5000), 0);
}

TEST_F(DaemonLifecycle, UnwritableLogDirectoryIsAClearError) {
  // A regular file where a directory should be: even root cannot write there.
  std::string blocker = base_ + "/blocker";
  close(open(blocker.c_str(), O_WRONLY | O_CREAT, 0644));
  Result r = keelan({"daemon", "start", "--log-file", blocker + "/daemon.log"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("keelan: "), std::string::npos);
  EXPECT_NE(r.err.find(blocker), std::string::npos) << r.err;
  EXPECT_EQ(keelan({"daemon", "status"}).code, 3);
}

TEST_F(DaemonLifecycle, BadIntervalIsAUsageError) {
  for (const char* bad : {"0", "86401", "-1", "abc", "1.5"}) {
    Result r = keelan({"daemon", "start", "--interval", bad});
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_NE(r.err.find("--interval"), std::string::npos) << r.err;
  }
  EXPECT_EQ(keelan({"daemon", "status"}).code, 3) << "nothing was started";
}

TEST_F(DaemonLifecycle, RestartInPlaceKeepsThePidAndTakesNewOptions) {
  startDaemon();
  pid_t pid = daemonPid();
  Result r = keelan({"daemon", "restart", "--interval", "5"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(daemonPid(), pid);
  EXPECT_TRUE(processAlive(pid));
  EXPECT_EQ(processName(pid), "keelan");
  EXPECT_EQ(json({"daemon", "status", "--json"})["intervalSeconds"], 5);
}

TEST_F(DaemonLifecycle, RestartWithoutADaemonStartsOne) {
  Result r = keelan({"daemon", "restart"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(keelan({"daemon", "status"}).code, 0);
}

TEST_F(DaemonLifecycle, VersionHelpAndUsageErrors) {
  Result version = keelan({"--version"});
  EXPECT_EQ(version.code, 0);
  EXPECT_EQ(version.out.rfind("keelan ", 0), 0u);
  EXPECT_EQ(keelan({"--help"}).code, 0);
  EXPECT_EQ(keelan({"daemon", "start", "--help"}).code, 0);
  EXPECT_EQ(keelan({"deploy", "--help"}).code, 0);
  Result bad = keelan({"daemon", "start", "--no-such-flag"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(bad.err.rfind("keelan: ", 0), 0u) << bad.err;
  EXPECT_EQ(keelan({"frobnicate"}).code, 2);
  EXPECT_EQ(keelan({}).code, 2);
}

TEST_F(DaemonLifecycle, SighupReopensTheLog) {
  startDaemon();
  std::string log = base_ + "/logs/monitor-daemon.log";
  ASSERT_EQ(rename(log.c_str(), (log + ".1").c_str()), 0);
  ASSERT_EQ(kill(daemonPid(), SIGHUP), 0);
  EXPECT_TRUE(eventually([&] { return readFile(log).find("log file reopened") != std::string::npos; }));
}

}  // namespace
}  // namespace keelan::test
