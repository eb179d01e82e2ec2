// Who may talk to the daemon, files that cannot be hijacked through
// symlinks, --user, and a protocol that garbage, stalls, floods and slow
// readers cannot crash or bloat.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "harness.h"
#include "keelan/client.h"

namespace keelan::test {
namespace {

class Security : public KeelanTest {
 protected:
  std::string socketPath() { return base_ + "/run/keelan.sock"; }
  // Connects as uid/gid in a child process and sends a ping; returns the
  // reply's error code, "ok", or "connect-failed".
  std::string pingAs(uid_t uid, gid_t gid) {
    int pipeFds[2];
    EXPECT_EQ(pipe(pipeFds), 0);
    pid_t child = fork();
    if (child == 0) {
      close(pipeFds[0]);
      std::string answer = "connect-failed";
      if (setgroups(0, nullptr) == 0 && setgid(gid) == 0 && setuid(uid) == 0) {
        DaemonClient client;
        if (client.connect(socketPath()).empty()) {
          auto reply = client.call({{"op", "ping"}}, 5000);
          if (!reply) answer = "no-reply";
          else if (reply->value("ok", false)) answer = "ok";
          else answer = (*reply)["error"]["code"];
        }
      }
      ssize_t ignored = write(pipeFds[1], answer.data(), answer.size());
      (void)ignored;
      _exit(0);
    }
    close(pipeFds[1]);
    waitChild(child, 10000);
    char buffer[64] = {};
    ssize_t n = read(pipeFds[0], buffer, sizeof buffer - 1);
    close(pipeFds[0]);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
  }
};

TEST_F(Security, SocketIsPrivateByDefault) {
  startDaemon();
  struct stat info {};
  ASSERT_EQ(stat((base_ + "/run").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(socketPath().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  chmod(base_.c_str(), 0755);  // mkdtemp made it 0700
  EXPECT_EQ(pingAs(65534, 65534), "connect-failed") << "run/ is 0700";
}

TEST_F(Security, PeersOutsideTheAllowedSetAreRefusedAndLogged) {
  group* nogroup = getgrnam("nogroup");
  ASSERT_NE(nogroup, nullptr);
  chmod(base_.c_str(), 0755);  // mkdtemp made it 0700
  startDaemon({"--socket-group", "nogroup"});
  struct stat info {};
  ASSERT_EQ(stat((base_ + "/run").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0750u);
  EXPECT_EQ(info.st_gid, nogroup->gr_gid);
  ASSERT_EQ(stat(socketPath().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0660u);
  EXPECT_EQ(info.st_gid, nogroup->gr_gid);
  EXPECT_EQ(pingAs(65534, nogroup->gr_gid), "ok") << "a member of the socket group is served";
  EXPECT_EQ(pingAs(0, 0), "ok");
  // Open the filesystem gates to reach the SO_PEERCRED check itself.
  chmod((base_ + "/run").c_str(), 0755);
  chmod(socketPath().c_str(), 0666);
  EXPECT_EQ(pingAs(12345, 12345), "permission_denied");
  EXPECT_NE(readFile(base_ + "/logs/monitor-daemon.log").find("refused connection from uid=12345"), std::string::npos);
  EXPECT_EQ(keelan({"daemon", "status"}).code, 0);
}

TEST_F(Security, UnknownSocketGroupIsAClearError) {
  Result r = keelan({"daemon", "start", "--socket-group", "no-such-group-here"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no such group"), std::string::npos) << r.err;
}

TEST_F(Security, SymlinkedPidFileIsRefusedAndItsTargetUntouched) {
  std::string target = base_ + "/precious";
  { FILE* f = fopen(target.c_str(), "w"); fputs("precious\n", f); fclose(f); }
  mkdir((base_ + "/run").c_str(), 0700);
  ASSERT_EQ(symlink(target.c_str(), (base_ + "/run/monitor-daemon.pid").c_str()), 0);
  Result r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("refusing PID file"), std::string::npos) << r.err;
  EXPECT_EQ(readFile(target), "precious\n");
}

TEST_F(Security, SymlinkedLogFileIsRefusedAndItsTargetUntouched) {
  std::string target = base_ + "/precious";
  { FILE* f = fopen(target.c_str(), "w"); fputs("precious\n", f); fclose(f); }
  mkdir((base_ + "/logs").c_str(), 0755);
  ASSERT_EQ(symlink(target.c_str(), (base_ + "/logs/monitor-daemon.log").c_str()), 0);
  Result r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("refusing log file"), std::string::npos) << r.err;
  EXPECT_EQ(readFile(target), "precious\n");
  Result fg = keelan({"daemon", "start", "--foreground"});
  EXPECT_EQ(fg.code, 1);
  EXPECT_EQ(readFile(target), "precious\n");
}

TEST_F(Security, SymlinkedShipLogIsRefused) {
  startDaemon();
  std::string target = base_ + "/precious";
  { FILE* f = fopen(target.c_str(), "w"); fputs("precious\n", f); fclose(f); }
  ASSERT_EQ(symlink(target.c_str(), (base_ + "/logs/ships/evil.out.log").c_str()), 0);
  Result r = keelan({"deploy", "evil", "--", "/bin/echo", "overwritten"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("evil.out.log"), std::string::npos) << r.err;
  EXPECT_EQ(readFile(target), "precious\n");
}

TEST_F(Security, SymlinkedDirectoryIsRefused) {
  std::string elsewhere = base_ + "/elsewhere";
  mkdir(elsewhere.c_str(), 0755);
  ASSERT_EQ(symlink(elsewhere.c_str(), (base_ + "/data").c_str()), 0);
  Result r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("symlink"), std::string::npos) << r.err;
  EXPECT_NE(access((elsewhere + "/data.mdb").c_str(), F_OK), 0);
}

TEST_F(Security, UserRunsTheShipAsThatUserWithItsGroups) {
  startDaemon();
  std::string root = makeRoot();
  ASSERT_EQ(keelan({"deploy", "who", "--user", "nobody", "--root", root, "--", "/bin/id"}).code, 0);
  EXPECT_EQ(keelan({"wait", "who"}).code, 0);
  std::string out = readFile(base_ + "/logs/ships/who.out.log");
  EXPECT_NE(out.find("uid=65534"), std::string::npos) << out;
  EXPECT_NE(out.find("gid=65534"), std::string::npos) << out;
  ASSERT_EQ(keelan({"deploy", "who2", "--user", "nobody", "--", "/usr/bin/id", "-u"}).code, 0);
  EXPECT_EQ(keelan({"wait", "who2"}).code, 0);
  EXPECT_EQ(readFile(base_ + "/logs/ships/who2.out.log"), "65534\n");
  Result unknown = keelan({"deploy", "who3", "--user", "no-such-user-x", "--", "/usr/bin/id"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("no such user"), std::string::npos) << unknown.err;
}

TEST_F(Security, StalledClientIsDropped) {
  startDaemon();
  pid_t daemon = daemonPid();
  ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
  waitChild(daemon, 5000);
  ASSERT_EQ(keelan({"daemon", "start", "--x-stall-timeout-ms", "300"}, 20000).code, 0);
  auto replies = rawExchange("{\"op\":\"pi", 1, 5000);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_NE(replies[0].find("not finished"), std::string::npos) << replies[0];
  EXPECT_NE(readFile(base_ + "/logs/monitor-daemon.log").find("stalled mid-request"), std::string::npos);
}

TEST_F(Security, ConnectionLimitRefusesPolitely) {
  startDaemon();
  std::vector<DaemonClient> held(256);
  for (auto& client : held) ASSERT_EQ(client.connect(socketPath()), "");
  // Make sure all 256 are accepted before the next.
  ASSERT_TRUE(held.back().call({{"op", "ping"}}, 5000).has_value());
  DaemonClient extra;
  ASSERT_EQ(extra.connect(socketPath()), "");
  auto reply = extra.receive(5000);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["error"]["code"], "busy");
  held.clear();
  EXPECT_TRUE(eventually([&] { return keelan({"daemon", "status"}).code == 0; }));
}

TEST_F(Security, FloodsOfGarbageFromSeveralClientsLeaveCorrectAnswers) {
  startDaemon();
  std::atomic<int> good{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      DaemonClient client;
      if (!client.connect(socketPath()).empty()) return;
      const std::vector<std::string> garbage = {"{", "}", "null", "\"x\"", "{\"op\":null}", "{\"op\":\"deploy\",\"name\":5}",
                                                "{\"op\":\"stop\",\"names\":[1,2]}", "{\"op\":\"list\",\"all\":\"yes\"}",
                                                std::string("{\"op\":\"\xc3\x28\"}"), std::string(40, '{')};
      for (int i = 0; i < 500; ++i) {
        std::string line = (i % 5 == 0) ? nlohmann::json{{"op", "ping"}, {"id", t * 1000 + i}}.dump()
                                        : garbage[static_cast<size_t>(i) % garbage.size()];
        std::string bytes = line + "\n";
        if (send(client.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL) < 0) return;
        auto reply = client.receive(5000);
        if (!reply) return;
        bool ok = reply->value("ok", false);
        if (i % 5 == 0 && ok && (*reply)["id"] == t * 1000 + i) ++good;
        if (i % 5 != 0 && !ok) ++bad;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(good, 400);
  EXPECT_EQ(bad, 1600);
  EXPECT_EQ(keelan({"daemon", "status"}).code, 0);
}

TEST_F(Security, SlowEventsReaderIsDroppedNotBuffered) {
  ASSERT_EQ(keelan({"daemon", "start", "--x-write-high-water", "1024"}, 20000).code, 0);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  strncpy(address.sun_path, socketPath().c_str(), sizeof address.sun_path - 1);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  std::string subscribe = "{\"op\":\"events\"}\n";
  ASSERT_EQ(send(fd, subscribe.data(), subscribe.size(), MSG_NOSIGNAL), static_cast<ssize_t>(subscribe.size()));
  // Never read: the kernel buffer fills, then the daemon's queue passes 1 KiB.
  std::string root = makeRoot();
  for (int i = 0; i < 400 && readFile(base_ + "/logs/monitor-daemon.log").find("too slow") == std::string::npos; ++i) {
    ASSERT_EQ(keelan({"deploy", "e" + std::to_string(i), "--root", root, "--env", "PAD=" + std::string(2000, 'x'),
                      "--", "/bin/true"})
                  .code,
              0);
  }
  EXPECT_NE(readFile(base_ + "/logs/monitor-daemon.log").find("too slow; dropping it"), std::string::npos);
  EXPECT_EQ(keelan({"daemon", "status"}).code, 0);
  close(fd);
}

}  // namespace
}  // namespace keelan::test
