// Loop turns are bounded and fair (docs/design.md, "Loop turns"): a client
// that pipelines a burst does not hold back another client's request, gets
// its first replies while the rest of its burst is still being served, and
// an exit during the burst is committed before the burst ends. The order is
// read off one socket: the burst's client is also an events subscriber, so
// an event caused by someone else lands among its replies where it happened.
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "harness.h"

namespace keelan::test {
namespace {

using Json = nlohmann::json;

// A raw connection to the daemon, its lines read with a deadline.
class Connection {
 public:
  explicit Connection(int fd) : in_(fd) {}
  bool ok() const { return in_.fd() >= 0; }
  bool send(const std::string& bytes) { return sendAll(in_.fd(), bytes); }
  // The next line as JSON; nullopt on EOF or past the timeout.
  std::optional<Json> next(int timeoutMs = 30000) {
    std::string line;
    if (!in_.readLine(line, timeoutMs)) return std::nullopt;
    return Json::parse(line, nullptr, false);
  }
  // Reads until the line with reply id `id`; false if it never came.
  bool until(const Json& id, const std::function<void(const Json&)>& seen, int timeoutMs = 60000) {
    while (auto line = next(timeoutMs)) {
      seen(*line);
      if (line->is_object() && line->contains("id") && (*line)["id"] == id) return true;
    }
    return false;
  }
  void shutdownWrite() { ::shutdown(in_.fd(), SHUT_WR); }

 private:
  LineReader in_;
};

class FairTurns : public KeelanTest {
 protected:
  // A connection subscribed to events: every later event is on it.
  Connection subscribed() {
    Connection connection(connectDaemon());
    EXPECT_TRUE(connection.ok() && connection.send("{\"op\":\"events\",\"id\":\"subscribe\"}\n"));
    EXPECT_TRUE(connection.until("subscribe", [](const Json&) {}));
    return connection;
  }
  // One deploy request line of a ship that exits at once.
  std::string deployLine(const std::string& name, const Json& id) {
    Json ship = {{"root", makeRoot()}, {"command", {"/bin/sh", "-c", "exit 0"}}};
    return Json{{"op", "deploy"}, {"id", id}, {"name", name}, {"ship", ship}}.dump() + "\n";
  }
  std::string deployBurst(int count) {
    std::string burst;
    for (int i = 0; i < count; ++i) burst += deployLine(numbered("d", i), i);
    return burst;
  }
  static bool isEvent(const Json& line, const std::string& kind, const std::string& ship) {
    return line.is_object() && line.value("event", "") == kind && line.value("ship", "") == ship;
  }
};

// 20,000 pipelined pings keep one client's backlog long; a request that
// another client sends once the burst is written is served within a turn
// or two, so its event reaches the burst's client before the burst's last
// reply. Served in one unbounded batch, the whole burst went first.
TEST_F(FairTurns, SecondClientIsServedDuringAnotherClientsBurst) {
  startDaemon();
  makeRoot();
  Connection burst = subscribed();
  Connection other(connectDaemon());
  ASSERT_TRUE(other.ok());
  constexpr int kPings = 20000;
  std::string pings;
  for (int i = 0; i < kPings; ++i) pings += "{\"op\":\"ping\",\"id\":" + std::to_string(i) + "}\n";
  ASSERT_TRUE(burst.send(pings));
  ASSERT_TRUE(other.send(deployLine("other", "other")));
  int replies = 0, repliesBeforeEvent = -1;
  ASSERT_TRUE(burst.until(kPings - 1, [&](const Json& line) {
    if (isEvent(line, "deployed", "other") && repliesBeforeEvent < 0) repliesBeforeEvent = replies;
    if (line.contains("id") && line["id"].is_number()) ++replies;
  }));
  EXPECT_EQ(replies, kPings);
  EXPECT_GE(repliesBeforeEvent, 0) << "the other client's request was served after the whole burst";
  auto reply = other.next();
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["id"], "other");
  EXPECT_EQ(reply->value("ok", false), true);
}

// The burst's first reply comes while most of it is still unserved: a
// request sent only after that reply was read is served before the burst's
// last deploy.
TEST_F(FairTurns, FirstRepliesArriveWhileTheBurstIsServed) {
  startDaemon();
  constexpr int kDeploys = 100;
  Connection burst = subscribed();
  Connection other(connectDaemon());
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(burst.send(deployBurst(kDeploys)));
  ASSERT_TRUE(burst.until(0, [](const Json&) {}));
  ASSERT_TRUE(other.send(deployLine("other", "other")));
  bool eventFirst = false;
  ASSERT_TRUE(burst.until(kDeploys - 1, [&](const Json& line) { eventFirst |= isEvent(line, "deployed", "other"); }));
  EXPECT_TRUE(eventFirst) << "the first reply came only once the whole burst had been served";
  auto reply = other.next();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->value("ok", false), true);
}

// Ships deployed early in a burst exit while it goes on: their exits are
// committed (the `stopped` event) before the burst's last reply.
TEST_F(FairTurns, ExitDuringABurstIsCommittedBeforeItEnds) {
  startDaemon();
  constexpr int kDeploys = 100;
  Connection burst = subscribed();
  ASSERT_TRUE(burst.send(deployBurst(kDeploys)));
  int stoppedBeforeEnd = 0;
  ASSERT_TRUE(burst.until(kDeploys - 1, [&](const Json& line) {
    if (line.is_object() && line.value("event", "") == "stopped") ++stoppedBeforeEnd;
  }));
  EXPECT_GT(stoppedBeforeEnd, 0) << "no exit was committed before the burst's last reply";
}

// A client that half-closes after its burst still gets every reply (the
// lines came before the EOF), then the connection ends.
TEST_F(FairTurns, HalfCloseAfterABurstGetsEveryReplyThenEof) {
  startDaemon();
  constexpr int kPings = 3000;
  Connection client(connectDaemon());
  ASSERT_TRUE(client.ok());
  std::string pings;
  for (int i = 0; i < kPings; ++i) pings += "{\"op\":\"ping\",\"id\":" + std::to_string(i) + "}\n";
  ASSERT_TRUE(client.send(pings));
  client.shutdownWrite();
  int replies = 0;
  while (auto line = client.next(30000)) {
    ASSERT_EQ((*line)["id"], replies);
    ++replies;
  }
  EXPECT_EQ(replies, kPings);
}

// A client that goes away with lines still buffered, and a daemon stopped
// while a backlog waits: the unserved lines are dropped with the client.
TEST_F(FairTurns, BacklogIsDroppedWithItsClientAndAtStop) {
  startDaemon();
  std::string pings;
  for (int i = 0; i < 20000; ++i) pings += "{\"op\":\"ping\",\"id\":" + std::to_string(i) + "}\n";
  {
    Connection gone(connectDaemon());
    ASSERT_TRUE(gone.send(pings));
  }  // closed with its replies unread
  auto pong = rawExchange("{\"op\":\"ping\",\"id\":\"after\"}\n", 1);
  ASSERT_EQ(pong.size(), 1u);
  EXPECT_EQ(Json::parse(pong[0])["id"], "after");

  Connection waiting(connectDaemon());
  ASSERT_TRUE(waiting.send(pings));
  ASSERT_TRUE(waiting.next());  // the backlog is being served
  pid_t daemon = daemonPid();
  EXPECT_EQ(keelan({"daemon", "stop"}).code, 0);
  EXPECT_TRUE(waitForExit(daemon, 10000));
  int replies = 1;
  while (waiting.next(10000)) ++replies;  // ends with EOF
  EXPECT_LE(replies, 20000);
}

}  // namespace
}  // namespace keelan::test
