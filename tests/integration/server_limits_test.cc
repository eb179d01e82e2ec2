// Operations on one ship are serialised (no ship runs without a record),
// and no client can stall or starve the daemon: vanished readers are
// closed, replies are bounded, the HTTP endpoint is capped and timed out,
// and near its fd limit the daemon says `busy` instead of going silent.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <map>

#include "harness.h"
#include "net_helpers.h"

namespace keelan::test {
namespace {

using Json = nlohmann::json;

class ServerLimits : public KeelanTest {
 protected:
  void TearDown() override {
    for (int fd : fds_) close(fd);
    fds_.clear();
    KeelanTest::TearDown();
  }
  // A connected Unix socket to the daemon, closed at TearDown unless
  // closed earlier with closeFd.
  int connectUnix() {
    int fd = connectDaemon();
    if (fd < 0) return -1;
    fds_.push_back(fd);
    return fd;
  }
  // A non-blocking loopback TCP connection (connected or in progress).
  int connectTcp(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
      close(fd);
      return -1;
    }
    fds_.push_back(fd);
    return fd;
  }
  void closeFd(int fd) {
    for (auto it = fds_.begin(); it != fds_.end(); ++it)
      if (*it == fd) {
        fds_.erase(it);
        break;
      }
    close(fd);
  }
  static void sendAll(int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }
  // Reads whole lines until `count` arrived, EOF, or the deadline.
  static std::vector<Json> readLines(int fd, size_t count, int timeoutMs) {
    std::vector<Json> lines;
    std::string buffer;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    while (lines.size() < count) {
      size_t newline = buffer.find('\n');
      if (newline != std::string::npos) {
        lines.push_back(Json::parse(buffer.substr(0, newline)));
        buffer.erase(0, newline + 1);
        continue;
      }
      int wait = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      pollfd pfd{fd, POLLIN, 0};
      if (wait <= 0 || poll(&pfd, 1, wait) <= 0) break;
      char chunk[65536];
      ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buffer.append(chunk, static_cast<size_t>(n));
    }
    return lines;
  }
  static std::map<std::string, Json> byId(const std::vector<Json>& lines) {
    std::map<std::string, Json> out;
    for (const auto& line : lines) out[line["id"].dump()] = line;
    return out;
  }
  int clientsNow() {
    auto reply = rawExchange("{\"op\":\"status\"}\n", 1);
    return reply.size() == 1 ? Json::parse(reply[0]).value("clients", 0) : -1;
  }
  std::string daemonLog() { return readFile(base_ + "/logs/monitor-daemon.log"); }
  static int countFds(pid_t pid) {
    int count = 0;
    DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
    if (dir == nullptr) return -1;
    while (dirent* entry = readdir(dir))
      if (entry->d_name[0] != '.') ++count;
    closedir(dir);
    return count;
  }
  // Free fd numbers below the highest one in use, from one read of the
  // table (two reads race with the daemon accepting clients meanwhile).
  static int fdHoles(pid_t pid) {
    int highest = -1, count = 0;
    DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
    if (dir == nullptr) return -1;
    while (dirent* entry = readdir(dir))
      if (entry->d_name[0] != '.') {
        highest = std::max(highest, atoi(entry->d_name));
        ++count;
      }
    closedir(dir);
    return highest + 1 - count;
  }
  static int lowestFreeFd(pid_t pid) {
    std::string dir = "/proc/" + std::to_string(pid) + "/fd/";
    int fd = 0;
    while (access((dir + std::to_string(fd)).c_str(), F_OK) == 0) ++fd;
    return fd;
  }
  // A ship that honours SIGTERM only once releaseShips() was called: the
  // window in which an operation on it is pending, as long as a test needs.
  void deploySlowToStop(const std::string& name) {
    ASSERT_EQ(deploySh(name, "trap 'while [ ! -e /tmp/go ]; do sleep 0.02; done; exit 0' TERM; "
                             "touch /tmp/trapped-$KEELAN_SHIP; while :; do sleep 0.05; done")
                  .code,
              0);
    // A SIGTERM before the trap is set would kill it at once.
    std::string trapped = makeRoot() + "/tmp/trapped-" + name;
    ASSERT_TRUE(eventually([&] { return access(trapped.c_str(), F_OK) == 0; }));
  }
  void releaseShips() { close(open((makeRoot() + "/tmp/go").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644)); }
  int startWithMetrics(const std::vector<std::string>& extra = {}) {
    int port = freePort();
    std::vector<std::string> args = {"daemon", "start", "--metrics-address", "127.0.0.1:" + std::to_string(port)};
    args.insert(args.end(), extra.begin(), extra.end());
    Result r = keelan(args, 20000);
    EXPECT_EQ(r.code, 0) << r.err;
    return port;
  }
  static std::string http(int port, const std::string& request) { return httpExchange(port, request); }

  std::vector<int> fds_;
};

// Without serialisation the pending replace spawned the new run and the
// rm, completing on the same death, deleted its record: a running ship
// that no `ps` shows and nothing supervises.
TEST_F(ServerLimits, RemoveDuringReplaceIsRefusedPipelined) {
  startDaemon();
  deploySlowToStop("x");
  int fd = connectUnix();
  ASSERT_GE(fd, 0);
  sendAll(fd,
          "{\"op\":\"deploy\",\"id\":1,\"name\":\"x\",\"replace\":true}\n"
          "{\"op\":\"rm\",\"id\":2,\"name\":\"x\",\"force\":true}\n"
          "{\"op\":\"deploy\",\"id\":3,\"name\":\"x\"}\n"
          "{\"op\":\"deploy\",\"id\":4,\"name\":\"x\",\"replace\":true}\n"
          "{\"op\":\"stop\",\"id\":5,\"name\":\"x\"}\n");
  auto refused = readLines(fd, 4, 10000);  // at once, while the old run ignores SIGTERM
  ASSERT_EQ(refused.size(), 4u);
  releaseShips();
  auto replaced = readLines(fd, 1, 10000);
  refused.insert(refused.end(), replaced.begin(), replaced.end());
  auto replies = byId(refused);
  ASSERT_EQ(replies.size(), 5u);
  ASSERT_TRUE(replies["1"]["ok"]) << replies["1"];
  for (const char* id : {"2", "3", "4", "5"})
    EXPECT_EQ(replies[id]["error"]["code"], "conflict") << replies[id];
  EXPECT_NE(replies["2"]["error"]["message"].get<std::string>().find("replace"), std::string::npos);
  pid_t pid = replies["1"]["ship"]["processId"];
  ASSERT_TRUE(processAlive(pid));
  Json record = inspect("x");
  EXPECT_EQ(record["status"], "running");
  EXPECT_EQ(record["processId"], pid);
  // Once the replace is done, the same rm goes through.
  EXPECT_EQ(keelan({"rm", "--force", "x"}).code, 0);
  EXPECT_TRUE(waitForExit(pid, 10000));
}

TEST_F(ServerLimits, RemoveDuringReplaceIsRefusedAcrossConnections) {
  startDaemon();
  deploySlowToStop("y");
  int a = connectUnix(), b = connectUnix();
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  sendAll(a, "{\"op\":\"deploy\",\"id\":\"r\",\"name\":\"y\",\"replace\":true}\n");
  ASSERT_TRUE(eventually([&] { return daemonLog().find("stopping ship y") != std::string::npos; }));
  sendAll(b, "{\"op\":\"rm\",\"id\":\"rm\",\"name\":\"y\",\"force\":true}\n");
  auto rm = readLines(b, 1, 10000);
  releaseShips();
  auto deploy = readLines(a, 1, 10000);
  ASSERT_EQ(rm.size(), 1u);
  ASSERT_EQ(deploy.size(), 1u);
  EXPECT_EQ(rm[0]["error"]["code"], "conflict") << rm[0];
  ASSERT_TRUE(deploy[0]["ok"]) << deploy[0];
  pid_t pid = deploy[0]["ship"]["processId"];
  EXPECT_TRUE(processAlive(pid));
  EXPECT_EQ(inspect("y")["processId"], pid);
}

// A stop is joined by another stop (both answered once it died); a deploy
// during it is refused rather than racing the death.
TEST_F(ServerLimits, StopJoinsPendingStopButDeployConflicts) {
  startDaemon();
  deploySlowToStop("z");
  int fd = connectUnix();
  ASSERT_GE(fd, 0);
  sendAll(fd,
          "{\"op\":\"stop\",\"id\":1,\"name\":\"z\"}\n"
          "{\"op\":\"deploy\",\"id\":2,\"name\":\"z\",\"replace\":true}\n"
          "{\"op\":\"stop\",\"id\":3,\"name\":\"z\"}\n");
  auto lines = readLines(fd, 1, 10000);
  ASSERT_EQ(lines.size(), 1u);
  releaseShips();
  auto stopped = readLines(fd, 2, 10000);
  lines.insert(lines.end(), stopped.begin(), stopped.end());
  auto replies = byId(lines);
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies["2"]["error"]["code"], "conflict");
  EXPECT_EQ(replies["1"]["ships"][0]["status"], "stopped");
  EXPECT_EQ(replies["3"]["ships"][0]["status"], "stopped");
  EXPECT_EQ(inspect("z")["status"], "stopped");
}

// Paused for backpressure, a client is not read, so it never sees EOF:
// only the failed write tells that its peer is gone.
TEST_F(ServerLimits, VanishedSlowReadersAreClosedAndFreed) {
  ASSERT_EQ(keelan({"daemon", "start", "--x-write-high-water", "4096"}, 20000).code, 0);
  std::string root = makeRoot();
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(keelan({"deploy", "big" + std::to_string(i), "--root", root, "--env", "PAD=" + std::string(8000, 'x'),
                      "--", "/bin/true"})
                  .code,
              0);
  pid_t daemon = daemonPid();
  int baseline = countFds(daemon);
  std::string flood;
  for (int i = 0; i < 200; ++i) flood += "{\"op\":\"list\",\"all\":true}\n";
  std::vector<int> clients;
  for (int i = 0; i < 40; ++i) {
    int fd = connectUnix();
    ASSERT_GE(fd, 0);
    if (i % 8 == 0) sendAll(fd, "{\"op\":\"events\"}\n");
    sendAll(fd, flood);
    clients.push_back(fd);
  }
  // Every one of them has stopped being served (its replies pile up).
  ASSERT_TRUE(eventually([&] { return clientsNow() >= 41; })) << clientsNow();
  for (int fd : clients) closeFd(fd);
  EXPECT_TRUE(eventually([&] { return clientsNow() == 1; }, 5000)) << clientsNow();
  EXPECT_TRUE(eventually([&] { return countFds(daemon) <= baseline; }, 5000))
      << countFds(daemon) << " fds, " << baseline << " before";
  EXPECT_EQ(keelan({"ps"}).code, 0);
}

TEST_F(ServerLimits, StopTakesEachNameOnceAndAtMostAThousand) {
  startDaemon();
  ASSERT_EQ(deploySh("d", "exit 0").code, 0);
  keelan({"wait", "d"});
  auto replies = rawExchange("{\"op\":\"stop\",\"id\":1,\"names\":[\"d\",\"d\",\"d\"]}\n", 1);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(Json::parse(replies[0])["ships"].size(), 1u) << replies[0];
  std::string names;
  for (int i = 0; i <= 1000; ++i) names += (i ? ",\"n" : "\"n") + std::to_string(i) + "\"";
  replies = rawExchange("{\"op\":\"stop\",\"id\":2,\"names\":[" + names + "]}\n", 1);
  ASSERT_EQ(replies.size(), 1u);
  Json error = Json::parse(replies[0])["error"];
  EXPECT_EQ(error["code"], "invalid_argument");
  EXPECT_NE(error["message"].get<std::string>().find("at most 1000"), std::string::npos) << error;
  // A thousand is allowed: the lookup decides.
  names = names.substr(0, names.rfind(','));
  replies = rawExchange("{\"op\":\"stop\",\"id\":3,\"names\":[" + names + "]}\n", 1);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(Json::parse(replies[0])["error"]["code"], "not_found");
}

TEST_F(ServerLimits, ReplyOverTheLimitIsRefused) {
  ASSERT_EQ(keelan({"daemon", "start", "--x-max-reply-bytes", "8192"}, 20000).code, 0);
  std::string root = makeRoot();
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(keelan({"deploy", "l" + std::to_string(i), "--root", root, "--env", "PAD=" + std::string(3000, 'x'),
                      "--", "/bin/true"})
                  .code,
              0);
  auto replies = rawExchange("{\"op\":\"list\",\"id\":1,\"all\":true}\n{\"op\":\"ping\",\"id\":2}\n", 2);
  ASSERT_EQ(replies.size(), 2u);
  Json list = Json::parse(replies[0]);
  EXPECT_EQ(list["id"], 1);
  EXPECT_EQ(list["error"]["code"], "reply_too_large") << replies[0];
  EXPECT_TRUE(Json::parse(replies[1])["ok"]);
  Result ps = keelan({"ps", "--all"});
  EXPECT_EQ(ps.code, 1);
  EXPECT_NE(ps.err.find("exceed"), std::string::npos) << ps.err;
  EXPECT_EQ(keelan({"ps"}).code, 0);  // nothing runs: a short reply
}

TEST_F(ServerLimits, HttpAnswersHeadMethodsAndOversizedHeads) {
  int port = startWithMetrics();
  std::string get = http(port, "GET /metrics HTTP/1.0\r\n\r\n");
  ASSERT_EQ(get.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << get;
  std::string head = http(port, "HEAD /metrics HTTP/1.0\r\n\r\n");
  ASSERT_EQ(head.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << head;
  EXPECT_EQ(head.size(), head.find("\r\n\r\n") + 4) << "HEAD got a body";
  EXPECT_NE(head.find("Content-Length: "), std::string::npos);
  std::string post = http(port, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.0 405", 0), 0u) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos);
  std::string big = http(port, "GET /metrics HTTP/1.0\r\nX-Pad: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(big.rfind("HTTP/1.0 431", 0), 0u) << big.substr(0, 100);
  EXPECT_EQ(http(port, "GARBAGE\r\n\r\n").rfind("HTTP/1.0 400", 0), 0u);
  EXPECT_EQ(http(port, "GET /metrics HTTP/1.0\r\n\r\n").rfind("HTTP/1.0 200", 0), 0u);
}

TEST_F(ServerLimits, HttpClosesSilentConnectionsAndCapsThem) {
  int port = startWithMetrics({"--x-http-header-timeout-ms", "400"});
  pid_t daemon = daemonPid();
  int baseline = countFds(daemon);
  std::vector<int> silent;
  for (int i = 0; i < 150; ++i) {
    int fd = connectTcp(port);
    ASSERT_GE(fd, 0);
    silent.push_back(fd);
  }
  // At most 64 are held at a time, whatever the clients do.
  bool sawMany = eventually([&] { return countFds(daemon) >= baseline + 60; }, 3000);
  for (int i = 0; i < 20; ++i) EXPECT_LE(countFds(daemon), baseline + 64 + 2);
  EXPECT_TRUE(sawMany);
  EXPECT_EQ(keelan({"daemon", "status"}).code, 0);
  // And each is closed once the header timeout passes: every client sees EOF.
  for (int fd : silent) {
    pollfd pfd{fd, POLLIN, 0};
    ASSERT_EQ(poll(&pfd, 1, 5000), 1) << "connection never closed";
    char byte;
    EXPECT_LE(recv(fd, &byte, 1, 0), 0);
  }
  EXPECT_TRUE(eventually([&] { return countFds(daemon) <= baseline; }, 3000));
  EXPECT_EQ(http(port, "GET /metrics HTTP/1.0\r\n\r\n").rfind("HTTP/1.0 200", 0), 0u);
}

// At a lowered RLIMIT_NOFILE new clients are told why they are refused.
TEST_F(ServerLimits, NearTheFdLimitClientsAreToldBusy) {
  startDaemon();
  pid_t daemon = daemonPid();
  rlimit low{};
  low.rlim_cur = low.rlim_max = static_cast<rlim_t>(countFds(daemon) + 40);
  ASSERT_EQ(prlimit(daemon, RLIMIT_NOFILE, &low, nullptr), 0);
  std::string code;
  for (int i = 0; i < 60 && code.empty(); ++i) {
    int fd = connectUnix();
    ASSERT_GE(fd, 0);
    sendAll(fd, "{\"op\":\"ping\",\"id\":1}\n");
    auto reply = readLines(fd, 1, 3000);
    ASSERT_EQ(reply.size(), 1u) << "connection " << i << " closed without a word";
    if (!reply[0].value("ok", false)) code = reply[0]["error"]["code"];
  }
  EXPECT_EQ(code, "busy");
  EXPECT_NE(daemonLog().find("file descriptor limit near (" + std::to_string(low.rlim_cur)), std::string::npos);
  for (int fd : std::vector<int>(fds_)) closeFd(fd);
  EXPECT_TRUE(eventually([&] {
    auto reply = rawExchange("{\"op\":\"ping\",\"id\":9}\n", 1);
    return reply.size() == 1 && Json::parse(reply[0]).value("ok", false);
  }));
}

// With no fd left at all, accept fails with EMFILE: the connection is shed
// through the reserve fd (the client is not left hanging in the backlog),
// and the episode is logged once.
TEST_F(ServerLimits, HttpShedsConnectionsAtEmfile) {
  int port = startWithMetrics();
  pid_t daemon = daemonPid();
  // Fill the holes in the daemon's fd table with idle clients, so that at
  // a limit of its fd count not one fd is left.
  auto holes = [&] { return fdHoles(daemon); };
  for (int i = 0; i < 50 && holes() > 0; ++i) {
    int missing = holes();
    for (int j = 0; j < missing; ++j) ASSERT_GE(connectUnix(), 0);
    eventually([&] { return holes() < missing; }, 2000);
  }
  ASSERT_EQ(holes(), 0);
  // At a limit of the lowest free fd number, accept(2) must fail with EMFILE.
  // A client the daemon is still closing can free a lower number in between
  // (then it is merely "near the limit"): set the limit again and retry.
  rlimit saved{};
  ASSERT_EQ(prlimit(daemon, RLIMIT_NOFILE, nullptr, &saved), 0);
  bool shed = false;
  for (int attempt = 0; attempt < 20 && !shed; ++attempt) {
    rlimit none{static_cast<rlim_t>(lowestFreeFd(daemon)), saved.rlim_max};
    ASSERT_EQ(prlimit(daemon, RLIMIT_NOFILE, &none, nullptr), 0);
    std::string response = http(port, "GET /metrics HTTP/1.0\r\n\r\n");
    shed = daemonLog().find("metrics endpoint: accept failed") != std::string::npos;
    if (shed) {
      EXPECT_EQ(response, "") << "served without a free fd?";
    }
  }
  if (!shed) prlimit(daemon, RLIMIT_NOFILE, &saved, nullptr);
  ASSERT_TRUE(shed) << daemonLog();
  for (int i = 0; i < 2; ++i) EXPECT_EQ(http(port, "GET /metrics HTTP/1.0\r\n\r\n"), "") << "served without a free fd?";
  std::string log = daemonLog();
  size_t first = log.find("metrics endpoint: accept failed");
  EXPECT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("metrics endpoint: accept failed", first + 1), std::string::npos) << "logged more than once";
  ASSERT_EQ(prlimit(daemon, RLIMIT_NOFILE, &saved, nullptr), 0);
  EXPECT_EQ(http(port, "GET /metrics HTTP/1.0\r\n\r\n").rfind("HTTP/1.0 200", 0), 0u);
  EXPECT_TRUE(eventually([&] { return daemonLog().find("accepting connections again") != std::string::npos; }));
  for (int fd : std::vector<int>(fds_)) closeFd(fd);
  Result ps = keelan({"ps"});
  EXPECT_EQ(ps.code, 0) << ps.err << daemonLog();
}

// The pidfd-budget warning names RLIMIT_NOFILE itself, not the budget
// plus a headroom that a low limit never had.
TEST_F(ServerLimits, FdBudgetWarningNamesTheRealLimit) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 120;  // a budget of 60 pidfds
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  Result started = keelan({"daemon", "start"});
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_EQ(started.code, 0) << started.err;
  std::string root = makeRoot();
  for (int i = 0; i < 70 && daemonLog().find("without pidfds") == std::string::npos; ++i)
    ASSERT_EQ(keelan({"deploy", "s" + std::to_string(i), "--root", root, "--", "/bin/sleep", "30"}).code, 0);
  std::string log = daemonLog();
  EXPECT_NE(log.find("file descriptor limit near (120)"), std::string::npos) << log.substr(log.size() - 600);
}

// The figure the issue asks for: `keelan ps` while 250 abandoned clients
// (a request sent and never read, or half-closed, or a line left
// unfinished) and 1,000 idle TCP connections are held. Printed, not timed:
// the assertion is that the daemon answers and stays up.
TEST_F(ServerLimits, PsAnswersUnderAbandonedClientsAndIdleTcp) {
  int port = startWithMetrics();
  pid_t daemon = daemonPid();
  ASSERT_EQ(deploySh("busy", "sleep 60").code, 0);
  auto timePs = [&] {
    std::vector<double> ms;
    for (int i = 0; i < 5; ++i) {
      auto start = std::chrono::steady_clock::now();
      Result ps = keelan({"ps"});
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      EXPECT_EQ(ps.code, 0) << ps.err;
      EXPECT_NE(ps.out.find("busy"), std::string::npos);
    }
    std::sort(ms.begin(), ms.end());
    return ms;
  };
  std::vector<double> idle = timePs();
  for (int i = 0; i < 250; ++i) {
    int fd = connectUnix();
    ASSERT_GE(fd, 0);
    switch (i % 3) {
      case 0: sendAll(fd, "{\"op\":\"list\",\"all\":true}\n{\"op\":\"metrics\"}\n"); break;
      case 1: sendAll(fd, "{\"op\":\"status\"}\n"); shutdown(fd, SHUT_WR); break;
      default: sendAll(fd, "{\"op\":\"li"); break;
    }
  }
  int tcp = 0;
  for (int i = 0; i < 1000; ++i) tcp += connectTcp(port) >= 0;
  std::vector<double> ms = timePs();
  printf("[ figure ] keelan ps with 250 abandoned clients and %d idle TCP connections: min %.1f ms, median %.1f ms, "
         "max %.1f ms (without them: median %.1f ms); daemon fds %d\n",
         tcp, ms.front(), ms[2], ms.back(), idle[2], countFds(daemon));
  RecordProperty("ps_median_ms", std::to_string(ms[2]));
  EXPECT_TRUE(processAlive(daemon));
  EXPECT_EQ(daemonPid(), daemon);
}

}  // namespace
}  // namespace keelan::test
