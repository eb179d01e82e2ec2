// Issue 12, section 5 and part of 6: the CLI never hangs and never says the
// wrong thing (deadlines, `daemon status` exit codes, in-place restarts that
// are verified and survive signals, `events` that reconnect), on-exit hooks
// that may print, and webhooks that neither delay a stop nor leak env values.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include "harness.h"
#include "net_helpers.h"
#include "keelan/client.h"
#include "keelan/time_util.h"

extern char** environ;

namespace keelan::test {
namespace {

class CliRobustness : public KeelanTest {
 protected:
  void TearDown() override {
    // A daemon left stopped by a failed assertion must take its SIGKILL.
    for (pid_t pid : stopped_) kill(pid, SIGCONT);
    KeelanTest::TearDown();
  }

  std::string socketPath() { return base_ + "/run/keelan.sock"; }

  nlohmann::json ping() {
    DaemonClient client;
    if (!client.connect(socketPath()).empty()) return nullptr;
    auto pong = client.call({{"op", "ping"}}, 5000);
    return pong ? *pong : nlohmann::json();
  }

  // Runs BINARY ARGS... as uid/gid with BASE_DIRECTORY set; output to files.
  Result runAs(const std::string& binary, const std::vector<std::string>& args, uid_t uid, gid_t gid,
               int timeoutMs = 20000) {
    std::string outPath = base_ + "/.as-out", errPath = base_ + "/.as-err";
    int outFd = open(outPath.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int errFd = open(errPath.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    std::vector<std::string> argStrings = {binary};
    argStrings.insert(argStrings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argStrings) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string baseEntry = "BASE_DIRECTORY=" + base_;
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e)
      if (strncmp(*e, "BASE_DIRECTORY=", 15) != 0) envp.push_back(*e);
    envp.push_back(baseEntry.data());
    envp.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
      dup2(outFd, 1);
      dup2(errFd, 2);
      if (gid != getgid() && (setgroups(0, nullptr) != 0 || setgid(gid) != 0)) _exit(126);
      if (uid != getuid() && setuid(uid) != 0) _exit(126);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(outFd);
    close(errFd);
    Result result;
    result.code = waitChild(pid, timeoutMs);
    if (result.code < 0) {
      kill(pid, SIGKILL);
      waitChild(pid, 5000);
      ADD_FAILURE() << "did not finish within " << timeoutMs << " ms";
    }
    result.out = readFile(outPath);
    result.err = readFile(errPath);
    return result;
  }

  void stopProcess(pid_t pid) {
    stopped_.push_back(pid);
    ASSERT_EQ(kill(pid, SIGSTOP), 0);
    ASSERT_TRUE(eventually([&] {
      auto text = readFile("/proc/" + std::to_string(pid) + "/stat");
      size_t paren = text.rfind(')');
      return paren != std::string::npos && text.size() > paren + 2 && text[paren + 2] == 'T';
    }));
  }
  void continueProcess(pid_t pid) {
    kill(pid, SIGCONT);
    stopped_.erase(std::remove(stopped_.begin(), stopped_.end(), pid), stopped_.end());
  }

  std::vector<pid_t> stopped_;
};

// ------------------------------------------------------------ deadlines

TEST_F(CliRobustness, AStoppedDaemonGivesADeadlineErrorNotAHang) {
  startDaemon();
  pid_t daemon = daemonPid();
  stopProcess(daemon);
  std::string expected = "keelan: the daemon (pid " + std::to_string(daemon) + ") did not answer within 0.3 s";
  // The global flag before the subcommand, after it (falls through), and the environment.
  for (const auto& args : std::vector<std::vector<std::string>>{{"--timeout", "0.3", "ps"},
                                                                {"ps", "--json", "--timeout", "0.3"},
                                                                {"inspect", "x"},
                                                                {"wait", "x"},
                                                                {"events"}}) {
    int64_t started = monotonicMs();
    Result r = keelan(args, 10000, {{"KEELAN_TIMEOUT", "0.3"}});
    int64_t took = monotonicMs() - started;
    EXPECT_EQ(r.code, 1) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
    EXPECT_LT(took, 5000) << args[0];
  }
  Result status = keelan({"daemon", "status", "--timeout", "1"});
  EXPECT_EQ(status.code, 4) << status.out << status.err;
  EXPECT_NE(status.err.find("keelan: the daemon (pid " + std::to_string(daemon) + ") did not answer within 1 s"),
            std::string::npos)
      << status.err;
  auto unknown = nlohmann::json::parse(keelan({"daemon", "status", "--json", "--timeout", "0.5"}).out, nullptr, false);
  ASSERT_TRUE(unknown.is_object());
  EXPECT_TRUE(unknown["running"].is_null());
  EXPECT_EQ(unknown["pid"], daemon);

  continueProcess(daemon);
  EXPECT_EQ(keelan({"daemon", "status"}).code, 0);
  EXPECT_EQ(keelan({"--timeout", "1", "ps"}).code, 0);
  EXPECT_EQ(keelan({"--timeout", "0", "ps"}).code, 2) << "a zero deadline is a usage error";
  ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
  EXPECT_EQ(waitChild(daemon, 5000), 0);
}

TEST_F(CliRobustness, AFullBacklogDoesNotHangConnect) {
  startDaemon();
  pid_t daemon = daemonPid();
  stopProcess(daemon);
  // Fill the stopped daemon's listen backlog: connect() would then block.
  std::vector<int> held;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  strncpy(address.sun_path, socketPath().c_str(), sizeof address.sun_path - 1);
  for (int i = 0; i < 1000; ++i) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      close(fd);
      break;
    }
    held.push_back(fd);
  }
  ASSERT_LT(held.size(), 1000u) << "the backlog never filled";
  int64_t started = monotonicMs();
  Result r = keelan({"--timeout", "1", "ps"}, 10000);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("the daemon (pid " + std::to_string(daemon) + ") did not answer within 1 s"), std::string::npos)
      << r.err;
  EXPECT_LT(monotonicMs() - started, 5000);
  Result status = keelan({"--timeout", "1", "daemon", "status"}, 10000);
  EXPECT_EQ(status.code, 4) << status.err;
  for (int fd : held) close(fd);
  continueProcess(daemon);
  EXPECT_TRUE(eventually([&] { return keelan({"ps"}).code == 0; }));
}

// ------------------------------------------------------------ daemon status exit codes

TEST_F(CliRobustness, StatusIsFourWhenTheCallerMayNotAsk) {
  startDaemon();
  const uid_t nobody = 65534;
  // run/ is 0700: the socket cannot even be reached.
  chmod(base_.c_str(), 0755);
  Result denied = runAs(keelanBinary(), {"daemon", "status"}, nobody, nobody);
  EXPECT_EQ(denied.code, 4) << denied.out << denied.err;
  EXPECT_NE(denied.err.find("permission denied on " + socketPath()), std::string::npos) << denied.err;
  // Reachable, but the daemon refuses this uid (SO_PEERCRED).
  chmod((base_ + "/run").c_str(), 0755);
  chmod(socketPath().c_str(), 0666);
  Result refused = runAs(keelanBinary(), {"daemon", "status"}, nobody, nobody);
  EXPECT_EQ(refused.code, 4) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("may not use this daemon"), std::string::npos) << refused.err;
  EXPECT_EQ(keelan({"daemon", "status"}).code, 0) << "root is still served";
  pid_t daemon = daemonPid();
  ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
  EXPECT_EQ(waitChild(daemon, 5000), 0);
  EXPECT_EQ(keelan({"daemon", "status"}).code, 3);
}

// ------------------------------------------------------------ in-place restart

TEST_F(CliRobustness, RestartSucceedsOnlyOnceTheNewImageAnswers) {
  startDaemon();
  EXPECT_EQ(ping()["generation"], 0);
  for (int round = 1; round <= 3; ++round) {
    Result r = keelan({"daemon", "restart"});
    ASSERT_EQ(r.code, 0) << r.err;
    // Right after it returned, the answer comes from the new image.
    EXPECT_EQ(ping()["generation"], round);
    EXPECT_EQ(json({"daemon", "status", "--json"})["generation"], round);
  }
}

TEST_F(CliRobustness, RestartWhoseExecFailsSaysSoAndExitsOne) {
  // A daemon run from a copy of the binary re-executes that copy; make it
  // non-executable.
  std::string copy = base_ + "/keelan-copy";
  {
    std::ifstream in(keelanBinary(), std::ios::binary);
    std::ofstream out(copy, std::ios::binary);
    out << in.rdbuf();
  }
  chmod(copy.c_str(), 0755);
  Result started = runAs(copy, {"daemon", "start"}, getuid(), getgid());
  ASSERT_EQ(started.code, 0) << started.err;
  pid_t daemon = daemonPid();
  chmod(copy.c_str(), 0644);
  Result r = keelan({"daemon", "restart"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("keelan: the in-place restart failed: cannot execute " + copy + ": Permission denied"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out.find("restarted"), std::string::npos) << r.out;
  std::string log = readFile(base_ + "/logs/monitor-daemon.log");
  EXPECT_NE(log.find("in-place restart failed: cannot execute " + copy), std::string::npos) << log;
  // The old image carries on, and a later restart that can exec succeeds.
  EXPECT_EQ(ping()["generation"], 0);
  EXPECT_EQ(ping()["pid"], daemon);
  chmod(copy.c_str(), 0755);
  Result again = keelan({"daemon", "restart"});
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(ping()["generation"], 1);
  EXPECT_FALSE(ping().contains("restartError"));
}

// Sends `restart` on a raw connection and returns once its reply is in: the
// exec follows within milliseconds.
bool requestRestart(const std::string& socket) {
  DaemonClient client;
  if (!client.connect(socket).empty()) return false;
  auto reply = client.call({{"op", "restart"}}, 5000);
  return reply && reply->value("restarting", false);
}

TEST_F(CliRobustness, SignalsDuringAnInPlaceRestartAreNeitherLostNorFatal) {
  startDaemon();
  pid_t daemon = daemonPid();
  // SIGHUP, over and over, across the whole exec: the new image must keep
  // running (SIGHUP's default action would kill it before its handlers exist).
  for (int round = 1; round <= 5; ++round) {
    ASSERT_TRUE(requestRestart(socketPath()));
    bool answered = false;
    int64_t deadline = monotonicMs() + 10000;
    while (!answered && monotonicMs() < deadline && processAlive(daemon)) {
      kill(daemon, SIGHUP);
      DaemonClient client;
      if (client.connect(socketPath()).empty()) {
        auto pong = client.call({{"op", "ping"}}, 200);
        answered = pong && pong->value("generation", -1) == round;
      }
    }
    ASSERT_TRUE(answered) << "round " << round << ": the daemon did not come back"
                          << (processAlive(daemon) ? "" : " (it died)");
  }
  EXPECT_NE(readFile(base_ + "/logs/monitor-daemon.log").find("log file reopened (SIGHUP)"), std::string::npos);
  // SIGTERM, SIGHUP and SIGINT at once, right after the restart reply: a
  // clean stop that removes the PID file and the socket.
  for (int round = 0; round < 3; ++round) {
    if (round > 0) {
      startDaemon();
      daemon = daemonPid();
    }
    ASSERT_TRUE(requestRestart(socketPath()));
    for (int sig : {SIGTERM, SIGHUP, SIGINT}) kill(daemon, sig);
    EXPECT_EQ(waitChild(daemon, 10000), 0) << "round " << round << ": the daemon must exit 0, not die by a signal\n"
                                           << readFile(base_ + "/logs/monitor-daemon.log");
    struct stat info {};
    EXPECT_NE(stat((base_ + "/run/monitor-daemon.pid").c_str(), &info), 0) << "PID file left behind";
    EXPECT_NE(stat(socketPath().c_str(), &info), 0) << "socket left behind";
  }
}

// ------------------------------------------------------------ events

TEST_F(CliRobustness, EventsReconnectAcrossInPlaceAndColdRestarts) {
  startDaemon();
  Background events = keelanBackground({"events", "--json"});
  auto seeDeploy = [&](const std::string& name) {
    if (deploySh(name, "exit 0").code != 0) return false;
    std::string line;
    // Short: a deploy made while the stream was reconnecting is not seen.
    while (events.readLine(line, 2000)) {
      auto event = nlohmann::json::parse(line, nullptr, false);
      if (event.is_object() && event["ship"] == name && event["event"] == "stopped") return true;
    }
    return false;
  };
  // Deploys until one is seen: the subscription (or re-subscription) is live.
  int counter = 0;
  auto seeSome = [&] {
    for (int i = 0; i < 10; ++i)
      if (seeDeploy("m" + std::to_string(++counter))) return true;
    return false;
  };
  // The CLI says "reconnected" once it has subscribed again.
  auto reconnected = [&](size_t times) {
    return eventually([&] {
      std::string text = readFile(base_ + "/.bg-err");
      size_t count = 0;
      for (size_t at = text.find("keelan: reconnected"); at != std::string::npos; at = text.find("keelan: reconnected", at + 1))
        ++count;
      return count >= times;
    });
  };
  ASSERT_TRUE(seeSome());
  ASSERT_EQ(keelan({"daemon", "restart"}).code, 0);
  // (It may first reach the old image before its exec, and reconnect again.)
  ASSERT_TRUE(reconnected(1));
  ASSERT_TRUE(seeSome()) << "no events after an in-place restart";
  ASSERT_EQ(keelan({"daemon", "restart", "--cold"}).code, 0);
  ASSERT_TRUE(reconnected(2));
  ASSERT_TRUE(seeSome()) << "no events after a cold restart";
  std::string err = readFile(base_ + "/.bg-err");
  EXPECT_NE(err.find("keelan: lost the daemon on " + socketPath() + "; reconnecting"), std::string::npos) << err;
  EXPECT_NE(err.find("keelan: reconnected to the daemon (pid "), std::string::npos) << err;
  events.signal(SIGTERM);
  events.wait(5000);

  // --no-reconnect: the daemon going away ends it with 1.
  Background once = keelanBackground({"events", "--no-reconnect"});
  // Subscribed once the daemon counts its connection (and the one asking).
  ASSERT_TRUE(eventually([&] {
    DaemonClient client;
    if (!client.connect(socketPath()).empty()) return false;
    auto status = client.call({{"op", "status"}}, 5000);
    return status && status->value("clients", 0) >= 2;
  }));
  pid_t daemon = daemonPid();
  ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
  EXPECT_EQ(waitChild(daemon, 5000), 0);
  EXPECT_EQ(once.wait(5000), 1);
}

TEST_F(CliRobustness, LogsFollowSaysWhenTheDaemonGoesAwayAndKeepsFollowing) {
  startDaemon();
  ASSERT_EQ(deploySh("talker", "echo first; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo second; sleep 30").code, 0);
  std::string out = base_ + "/logs/ships/talker.out.log";
  ASSERT_TRUE(eventually([&] { return readFile(out).find("first") != std::string::npos; }));
  Background follow = keelanBackground({"logs", "talker", "-f"});
  std::string line;
  ASSERT_TRUE(follow.readLine(line, 5000));
  EXPECT_EQ(line, "first");
  pid_t daemon = daemonPid();
  ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
  EXPECT_EQ(waitChild(daemon, 5000), 0);
  EXPECT_TRUE(eventually([&] {
    return readFile(base_ + "/.bg-err").find("keelan: the daemon is gone; still following " + out) != std::string::npos;
  }, 5000));
  // The ship, still running, goes on writing, and it is still shown.
  std::ofstream(makeRoot() + "/tmp/go") << "";
  ASSERT_TRUE(follow.readLine(line, 5000));
  EXPECT_EQ(line, "second");
}

// ------------------------------------------------------------ hooks

TEST_F(CliRobustness, AnOnExitHookThatPrintsSucceedsAndItsOutputIsKept) {
  startDaemon();
  ASSERT_EQ(deploySh("printer", "exit 0", {"--on-exit", "echo out-from-hook $KEELAN_SHIP; echo err-from-hook >&2"}).code, 0);
  EXPECT_EQ(keelan({"wait", "printer"}).code, 0);
  std::string log = base_ + "/logs/monitor-daemon.log";
  ASSERT_TRUE(eventually([&] { return readFile(log).find("on-exit hook for ship printer") != std::string::npos; }));
  std::string text = readFile(log);
  EXPECT_NE(text.find("on-exit hook for ship printer exited with code 0"), std::string::npos) << text;
  std::string hooks = readFile(base_ + "/logs/hooks.log");
  EXPECT_NE(hooks.find("out-from-hook printer\n"), std::string::npos) << hooks;
  EXPECT_NE(hooks.find("err-from-hook\n"), std::string::npos) << hooks;
  struct stat info {};
  ASSERT_EQ(lstat((base_ + "/logs/hooks.log").c_str(), &info), 0);
  EXPECT_TRUE(S_ISREG(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0640u);
}

TEST_F(CliRobustness, AHookLogThatIsAFifoIsRefusedWithoutBlocking) {
  startDaemon();
  std::string path = base_ + "/logs/hooks.log";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  ASSERT_EQ(deploySh("fifo", "exit 0", {"--on-exit", "echo hi"}).code, 0);
  EXPECT_EQ(keelan({"wait", "fifo"}).code, 0);
  std::string log = base_ + "/logs/monitor-daemon.log";
  ASSERT_TRUE(eventually([&] { return readFile(log).find("on-exit hook for ship fifo") != std::string::npos; }));
  // A FIFO without a reader cannot even be opened with O_NONBLOCK (ENXIO).
  EXPECT_NE(readFile(log).find("on-exit hooks write to /dev/null: cannot open " + path), std::string::npos)
      << readFile(log);
  EXPECT_NE(readFile(log).find("on-exit hook for ship fifo exited with code 0"), std::string::npos);
  EXPECT_EQ(keelan({"--timeout", "2", "ps"}).code, 0) << "the loop is not blocked";
}

// ------------------------------------------------------------ webhooks

TEST_F(CliRobustness, PendingWebhooksDoNotDelayTheStop) {
  // Accepts (in the kernel's backlog) and never answers.
  int port = 0;
  int silent = listenLoopback(&port);
  startDaemon({"--webhook", "http://127.0.0.1:" + std::to_string(port) + "/hook"});
  pid_t daemon = daemonPid();
  ASSERT_EQ(deploySh("bad", "exit 3").code, 0);
  EXPECT_EQ(keelan({"wait", "bad"}).code, 3);
  // The delivery is in flight once its connection waits to be accepted.
  ASSERT_TRUE(eventually([&] {
    pollfd pfd{silent, POLLIN, 0};
    return poll(&pfd, 1, 0) == 1;
  }));
  int64_t started = monotonicMs();
  Result stop = keelan({"daemon", "stop"});
  int64_t took = monotonicMs() - started;
  EXPECT_EQ(stop.code, 0) << stop.err;
  EXPECT_EQ(stop.err.find("SIGKILL"), std::string::npos) << stop.err;
  EXPECT_EQ(waitChild(daemon, 5000), 0);
  std::cout << "[ figure ] daemon stop with a webhook pending on a silent receiver: " << took << " ms\n";
  EXPECT_GE(took, 1900) << "the delivery gets its 2 s";
  EXPECT_LT(took, 4000);
  std::string log = readFile(base_ + "/logs/monitor-daemon.log");
  EXPECT_NE(log.find("dropped 1 webhook deliveries still pending 2 s into the stop (ships: bad)"), std::string::npos)
      << log;
  struct stat info {};
  EXPECT_NE(stat((base_ + "/run/monitor-daemon.pid").c_str(), &info), 0);
  EXPECT_NE(stat(socketPath().c_str(), &info), 0);
  close(silent);
}

TEST_F(CliRobustness, WebhookBodiesLeaveOutEnvValuesUnlessAskedFor) {
  WebhookReceiver receiver;
  std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";
  startDaemon({"--webhook", url});
  ASSERT_EQ(deploySh("secret", "exit 3", {"--env", "TOKEN=hunter2", "--env", "MODE=x"}).code, 0);
  EXPECT_EQ(keelan({"wait", "secret"}).code, 3);
  ASSERT_TRUE(eventually([&] { return receiver.bodies().size() >= 1; }));
  EXPECT_EQ(receiver.bodies()[0].find("hunter2"), std::string::npos) << receiver.bodies()[0];
  auto body = nlohmann::json::parse(receiver.bodies()[0]);
  EXPECT_EQ(body["name"], "secret");
  ASSERT_TRUE(body["env"].is_object());
  EXPECT_TRUE(body["env"].contains("TOKEN"));
  EXPECT_TRUE(body["env"]["TOKEN"].is_null());
  EXPECT_TRUE(body["env"]["MODE"].is_null());
  // The ship's own record keeps its values.
  EXPECT_EQ(inspect("secret")["env"]["TOKEN"], "hunter2");

  // --webhook-include-env, kept across an in-place restart.
  pid_t daemon = daemonPid();
  ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
  EXPECT_EQ(waitChild(daemon, 5000), 0);
  startDaemon({"--webhook", url, "--webhook-include-env"});
  ASSERT_EQ(keelan({"daemon", "restart"}).code, 0);
  ASSERT_EQ(keelan({"deploy", "secret", "--replace"}).code, 0);
  EXPECT_EQ(keelan({"wait", "secret"}).code, 3);
  ASSERT_TRUE(eventually([&] { return receiver.bodies().size() >= 2; }));
  EXPECT_EQ(nlohmann::json::parse(receiver.bodies()[1])["env"]["TOKEN"], "hunter2");
}

}  // namespace
}  // namespace keelan::test
