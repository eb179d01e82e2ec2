// keelan.toml through the real binary: every way a daemon starts reads it
// (flag > file > default), bad files are refused with their line and column,
// `daemon config` shows where each value came from, and `daemon restart`
// applies live options in place or refuses the others.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "harness.h"
#include "net_helpers.h"

namespace keelan::test {
namespace {

using Json = nlohmann::json;

class DaemonConfigFile : public KeelanTest {
 protected:
  void writeConfig(const std::string& text, const std::string& path = "") {
    std::ofstream(path.empty() ? base_ + "/keelan.toml" : path) << text;
  }
  Json status() { return json({"daemon", "status", "--json"}); }
  static Json option(const Json& s, const std::string& name) { return s["config"]["options"][name]; }
  static Json sourced(const Json& value, const char* source) { return {{"value", value}, {"source", source}}; }
};

TEST_F(DaemonConfigFile, StartReadsTheFileAndFlagsOverrideIt) {
  writeConfig("interval = 7\nwebhook = \"http://127.0.0.1:9/hook\"\nmax-log-files = 3\n");
  startDaemon({"--interval", "9"});
  Json s = status();
  EXPECT_EQ(s["intervalSeconds"], 9);
  EXPECT_EQ(option(s, "interval"), sourced(9, "flag"));
  EXPECT_EQ(option(s, "webhook"), sourced("http://127.0.0.1:9/hook", "file"));
  EXPECT_EQ(option(s, "max-log-files"), sourced(3, "file"));
  EXPECT_EQ(option(s, "max-log-size"), sourced(0, "default"));
  EXPECT_EQ(s["config"]["file"], base_ + "/keelan.toml");
}

TEST_F(DaemonConfigFile, AnAbsentDefaultFileMeansDefaultsButAnAbsentGivenFileIsAnError) {
  Result r = keelan({"daemon", "start", "--config", base_ + "/nope.toml"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(base_ + "/nope.toml does not exist"), std::string::npos) << r.err;
  r = keelan({"daemon", "start"}, 20000, {{"KEELAN_CONFIG", base_ + "/nope.toml"}});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(keelan({"daemon", "status"}).code, 3) << "nothing was started";
  startDaemon();
  EXPECT_EQ(status()["config"]["file"], nullptr);
  EXPECT_EQ(option(status(), "interval"), sourced(30, "default"));
}

TEST_F(DaemonConfigFile, ConfigOptionAndVariableChooseTheFile) {
  writeConfig("interval = 7\n");
  writeConfig("interval = 8\n", base_ + "/other.toml");
  startDaemon({"--config", base_ + "/other.toml"});
  EXPECT_EQ(status()["intervalSeconds"], 8);
  ASSERT_EQ(keelan({"daemon", "restart", "--cold"}).code, 0) << "the restart reads the daemon's own file";
  EXPECT_EQ(status()["intervalSeconds"], 8);
  EXPECT_EQ(status()["config"]["file"], base_ + "/other.toml");
}

TEST_F(DaemonConfigFile, DeployAutoStartReadsTheFile) {
  writeConfig("interval = 7\nmax-log-files = 4\n");
  Result r = keelan({"deploy", "auto", "--", "/bin/sleep", "300"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("started one"), std::string::npos) << r.err;
  Json s = status();
  EXPECT_EQ(s["intervalSeconds"], 7);
  EXPECT_EQ(option(s, "max-log-files"), sourced(4, "file"));
  keelan({"stop", "auto", "--timeout", "1"});
}

TEST_F(DaemonConfigFile, ColdRestartReadsTheFileAgainAndKeepsTheFlags) {
  writeConfig("interval = 7\n");
  startDaemon({"--webhook", "http://127.0.0.1:9/flag"});
  pid_t old = daemonPid();
  writeConfig("interval = 11\nmax-log-files = 2\n");
  Result r = keelan({"daemon", "restart", "--cold"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(waitChild(old, 5000), 0);
  Json s = status();
  EXPECT_EQ(option(s, "interval"), sourced(11, "file"));
  EXPECT_EQ(option(s, "max-log-files"), sourced(2, "file"));
  EXPECT_EQ(option(s, "webhook"), sourced("http://127.0.0.1:9/flag", "flag")) << "the start's flag is not lost";
  old = daemonPid();
  ASSERT_EQ(keelan({"daemon", "restart", "--cold", "--interval", "13"}).code, 0);
  EXPECT_EQ(waitChild(old, 5000), 0);
  EXPECT_EQ(option(status(), "interval"), sourced(13, "flag"));
}

TEST_F(DaemonConfigFile, StartAfterACrashReadsTheFile) {
  writeConfig("interval = 7\nwebhook = \"http://127.0.0.1:9/crash\"\n");
  startDaemon();
  pid_t crashed = daemonPid();
  ASSERT_EQ(kill(crashed, SIGKILL), 0);
  EXPECT_EQ(waitChild(crashed, 5000), 128 + SIGKILL);
  startDaemon();
  ASSERT_NE(daemonPid(), crashed);
  Json s = status();
  EXPECT_EQ(option(s, "interval"), sourced(7, "file"));
  EXPECT_EQ(option(s, "webhook"), sourced("http://127.0.0.1:9/crash", "file"));
}

TEST_F(DaemonConfigFile, ATypoedKeyIsRefusedWithItsLineAndColumn) {
  writeConfig("# keelan\ninterval = 7\n\n\n\n\nwebhok = \"http://127.0.0.1:9/x\"\n");
  for (auto args : {std::vector<std::string>{"daemon", "start"}, {"daemon", "start", "--foreground"},
                    {"deploy", "typo", "--", "/bin/true"}, {"daemon", "restart"}, {"daemon", "config"}}) {
    Result r = keelan(args);
    EXPECT_EQ(r.code, 2) << args[1];
    EXPECT_EQ(r.err, "keelan: " + base_ + "/keelan.toml:7:1: unknown key 'webhok'\n") << args[1];
  }
  EXPECT_EQ(keelan({"daemon", "status"}).code, 3) << "nothing was started";
}

TEST_F(DaemonConfigFile, AWrongTypeOrBadValueIsRefusedWhereItIs) {
  writeConfig("interval = \"seven\"\n");
  Result r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("keelan.toml:1:12: 'interval' must be an integer, not a string"), std::string::npos) << r.err;
  writeConfig("max-log-files = 0\n");
  r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("keelan.toml:1:17: max-log-files: 0 is not in 1..1000"), std::string::npos) << r.err;
  writeConfig("interval = 5\n");
  chmod((base_ + "/keelan.toml").c_str(), 0666);
  r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("writable by group or others"), std::string::npos) << r.err;
  EXPECT_EQ(keelan({"daemon", "status"}).code, 3);
}

TEST_F(DaemonConfigFile, DaemonConfigShowsWhereEachValueCameFrom) {
  writeConfig("interval = 7\nsocket-group = \"root\"\n");
  Json c = json({"daemon", "config", "--json", "--webhook", "http://127.0.0.1:9/w"});
  EXPECT_EQ(c["file"], base_ + "/keelan.toml");
  EXPECT_EQ(c["options"]["interval"], sourced(7, "file"));
  EXPECT_EQ(c["options"]["socket-group"], sourced("root", "file"));
  EXPECT_EQ(c["options"]["webhook"], sourced("http://127.0.0.1:9/w", "flag"));
  EXPECT_EQ(c["options"]["socket"], sourced(base_ + "/run/keelan.sock", "default"));
  Result text = keelan({"daemon", "config"});
  EXPECT_EQ(text.code, 0);
  EXPECT_NE(text.out.find("configuration file: " + base_ + "/keelan.toml"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("interval"), std::string::npos);
  EXPECT_EQ(keelan({"daemon", "status"}).code, 3) << "daemon config starts nothing";
}

TEST_F(DaemonConfigFile, CheckValidatesAFileWithoutStartingAnything) {
  std::string good = base_ + "/good.toml", bad = base_ + "/bad.toml";
  writeConfig("interval = 7\nmax-log-size = \"10M\"\n", good);
  writeConfig("interval = 7\n  metrics-adress = \"127.0.0.1:1\"\n", bad);
  Result r = keelan({"daemon", "config", "--check", good});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, good + ": ok\n");
  Json checked = json({"daemon", "config", "--check", good, "--json"});
  EXPECT_EQ(checked["options"]["max-log-size"], sourced(10 << 20, "file"));
  r = keelan({"daemon", "config", "--check", bad});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "keelan: " + bad + ":2:3: unknown key 'metrics-adress'\n");
  EXPECT_EQ(keelan({"daemon", "config", "--check", base_ + "/missing.toml"}).code, 2);
  EXPECT_EQ(keelan({"daemon", "status"}).code, 3);
}

// Today's binary printed success here and applied nothing.
TEST_F(DaemonConfigFile, RestartAppliesLiveOptionsInPlace) {
  startDaemon();
  pid_t pid = daemonPid();
  int port = freePort();
  Result r = keelan({"daemon", "restart", "--webhook", "http://127.0.0.1:9/live", "--interval", "5",
                     "--metrics-address", "127.0.0.1:" + std::to_string(port), "--max-log-size", "1M"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("changed: "), std::string::npos) << r.out;
  EXPECT_EQ(daemonPid(), pid);
  Json s = status();
  EXPECT_EQ(s["generation"], 1);
  EXPECT_EQ(option(s, "webhook"), sourced("http://127.0.0.1:9/live", "flag"));
  EXPECT_EQ(option(s, "interval"), sourced(5, "flag"));
  EXPECT_EQ(option(s, "max-log-size"), sourced(1 << 20, "flag"));
  EXPECT_EQ(s["intervalSeconds"], 5);
  std::string metrics = httpExchange(port, "GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_NE(metrics.find("200"), std::string::npos) << metrics;
  std::string log = readFile(base_ + "/logs/monitor-daemon.log");
  EXPECT_NE(log.find("configuration changed in place: webhook: '' -> 'http://127.0.0.1:9/live'"), std::string::npos)
      << log;
}

TEST_F(DaemonConfigFile, RestartInPlaceReadsTheEditedFile) {
  writeConfig("interval = 7\n");
  startDaemon();
  writeConfig("interval = 8\non-exit = \"true\"\n");
  ASSERT_EQ(keelan({"daemon", "restart"}).code, 0);
  Json s = status();
  EXPECT_EQ(option(s, "interval"), sourced(8, "file"));
  EXPECT_EQ(option(s, "on-exit"), sourced("true", "file"));
}

TEST_F(DaemonConfigFile, RestartRefusesWhatCannotChangeInPlace) {
  startDaemon();
  pid_t pid = daemonPid();
  Result r = keelan({"daemon", "restart", "--socket", base_ + "/run/other.sock", "--interval", "5"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("socket cannot change in place"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--cold"), std::string::npos) << r.err;
  r = keelan({"daemon", "restart", "--pid-file", base_ + "/run/x.pid", "--log-file", base_ + "/x.log"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("log-file, pid-file cannot change in place"), std::string::npos) << r.err;
  writeConfig("socket = \"run/moved.sock\"\n");
  r = keelan({"daemon", "restart"});
  EXPECT_EQ(r.code, 2) << "from the file too";
  EXPECT_NE(r.err.find("socket cannot change in place"), std::string::npos) << r.err;
  writeConfig("");
  Json s = status();
  EXPECT_EQ(s["generation"], 0) << "nothing was restarted";
  EXPECT_EQ(s["intervalSeconds"], 30) << "nothing was applied";
  EXPECT_EQ(daemonPid(), pid);
}

}  // namespace
}  // namespace keelan
