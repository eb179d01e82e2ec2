// The supervisor with a fake spawner, reaper, watcher and outbox, and the
// in-memory store: the rules that matter most, without a process or a disk.
// Nothing is told before it is committed; no zombie is released before its
// exit is durable; restarts, cancellation and waits follow the machine.
#include <gtest/gtest.h>
#include <uv.h>

#include <csignal>
#include <set>

#include "keelan/memory_store.h"
#include "keelan/supervisor.h"
#include "keelan/time_util.h"

namespace keelan {
namespace {

using nlohmann::json;

struct FakeSpawner : ProcessStarter {
  std::vector<ShipSpec> ships;
  std::string failWith;
  pid_t nextPid = 900000;  // above any pid_max default: never a real process
  SpawnResult spawnShip(const ShipSpec& spec) override {
    SpawnResult result;
    ships.push_back(spec);
    if (!failWith.empty()) result.error = failWith;
    else result.pid = nextPid++;
    return result;
  }
  SpawnResult spawn(const ProcessSpec&) override { return {}; }
};

struct FakeReaper : ChildTracker {
  std::set<pid_t> tracked;
  bool holding = false;  // an exit was collected and its zombie is held
  int releases = 0;
  void track(pid_t pid, UniqueFd) override { tracked.insert(pid); }
  void untrack(pid_t pid) override { tracked.erase(pid); }
  bool holdsUnreleased() const override { return holding; }
  void release() override {
    holding = false;
    ++releases;
  }
};

// Signals go "through a pidfd" here, so a test never signals a real process.
struct FakeWatcher : AdoptedShips {
  mutable std::vector<std::pair<std::string, int>> signals;
  void watch(const std::string&, pid_t, uint64_t, UniqueFd) override {}
  void unwatch(const std::string&) override {}
  std::optional<bool> signal(const std::string& name, int signal) const override {
    signals.emplace_back(name, signal);
    return true;
  }
  size_t size() const override { return 0; }
};

struct FakeOutbox : Outbox {
  std::vector<std::pair<uint64_t, std::string>> sent;
  std::vector<std::string> events;
  void sendLine(uint64_t clientId, std::string line) override { sent.emplace_back(clientId, std::move(line)); }
  void broadcast(const std::string& line) override { events.push_back(line); }
  void subscribing(uint64_t) override {}
  void subscribed(uint64_t) override {}
  size_t subscribers() const override { return 1; }
  void close(uint64_t) override {}
  bool isOpen(uint64_t) const override { return true; }
  size_t clients() const override { return 1; }
  json last() const { return json::parse(sent.back().second); }
};

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    config_.paths.base = "/nonexistent-keelan-test";
    config_.backoffFirstMs = 5;
    SetUpAgain();
  }
  // Builds the supervisor from config_ (after a test changed it).
  void SetUpAgain() {
    hooks_ = std::make_unique<ExitHooks>(spawner_, log_, config_);
    notifier_ = std::make_unique<FailureNotifier>(&loop_, log_, config_);
    pidfds_ = std::make_unique<PidfdBudget>(log_);
    supervisor_ = std::make_unique<Supervisor>(
        &loop_, log_, config_, SupervisorParts{store_, spawner_, reaper_, watcher_, *hooks_, *notifier_, outbox_, *pidfds_});
    supervisor_->recover("boot", getpid());
    supervisor_->start(&loop_);
  }
  void TearDown() override {
    supervisor_->shutDown();
    supervisor_.reset();
    uv_run(&loop_, UV_RUN_NOWAIT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  static ShipSpec spec(const std::string& name, const std::string& restart = "no") {
    ShipSpec s;
    s.name = name;
    s.command = {"/bin/true"};
    s.restart = *parseRestartPolicy(restart);
    return s;
  }
  json stored(const std::string& name) { return json::parse(store_.ships.at(name)); }
  // Runs the loop until `done` or 2 s pass; flushes each pass as the daemon does.
  bool runUntil(const std::function<bool()>& done) {
    int64_t deadline = monotonicMs() + 2000;
    while (!done() && monotonicMs() < deadline) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      supervisor_->flush();
    }
    return done();
  }
  void exit(pid_t pid, const ExitStatus& status) {
    reaper_.holding = true;
    supervisor_->childExited(pid, status, std::chrono::steady_clock::now());
    supervisor_->exitsCollected();
  }

  uv_loop_t loop_{};
  Logger log_;
  DaemonConfig config_;
  MemoryStore store_;
  FakeSpawner spawner_;
  FakeReaper reaper_;
  FakeWatcher watcher_;
  FakeOutbox outbox_;
  std::unique_ptr<ExitHooks> hooks_;
  std::unique_ptr<FailureNotifier> notifier_;
  std::unique_ptr<PidfdBudget> pidfds_;
  std::unique_ptr<Supervisor> supervisor_;
};

TEST_F(SupervisorTest, ADeployIsAnsweredOnlyOnceItIsCommitted) {
  store_.failCommits = "disk full";
  supervisor_->deploy({7, 1}, spec("web"), false);
  supervisor_->flush();
  EXPECT_TRUE(outbox_.sent.empty()) << "told before the commit";
  EXPECT_TRUE(outbox_.events.empty());
  EXPECT_TRUE(store_.ships.empty());
  EXPECT_EQ(reaper_.tracked.count(900000), 1u) << "the child is watched at once";
  store_.failCommits.clear();
  ASSERT_TRUE(runUntil([&] { return !outbox_.sent.empty(); })) << "the retry never committed";
  EXPECT_EQ(outbox_.sent.back().first, 7u);
  EXPECT_EQ(outbox_.last()["ship"]["status"], "running");
  EXPECT_EQ(stored("web")["status"], "running");
  EXPECT_EQ(outbox_.events.size(), 1u);
}

TEST_F(SupervisorTest, AZombieIsReleasedOnlyAfterItsExitIsDurable) {
  supervisor_->deploy({1, 1}, spec("job"), false);
  supervisor_->flush();
  store_.failCommits = "EIO";
  exit(900000, ExitStatus::exited(3));
  EXPECT_EQ(reaper_.releases, 0) << "released with the exit not committed";
  EXPECT_EQ(stored("job")["status"], "running");
  store_.failCommits.clear();
  ASSERT_TRUE(runUntil([&] { return reaper_.releases == 1; }));
  EXPECT_EQ(stored("job")["status"], "stopped");
  EXPECT_EQ(stored("job")["exitCode"], 3);
  ASSERT_EQ(store_.runs.at("job").size(), 1u);
}

TEST_F(SupervisorTest, AFailureBacksOffThenRestarts) {
  supervisor_->deploy({1, 1}, spec("flaky", "on-failure"), false);
  supervisor_->flush();
  exit(900000, ExitStatus::exited(1));
  EXPECT_EQ(supervisor_->find("flaky")->status, ShipStatus::backoff);
  ASSERT_TRUE(runUntil([&] { return spawner_.ships.size() == 2; })) << "never restarted";
  const ShipRecord* record = supervisor_->find("flaky");
  EXPECT_EQ(record->status, ShipStatus::running);
  EXPECT_EQ(record->restarts, 1u);
  EXPECT_EQ(record->pid, 900001);
  EXPECT_EQ(supervisor_->counters().restarts, 1u);
}

TEST_F(SupervisorTest, StopCancelsAPendingRestart) {
  config_.backoffFirstMs = 60000;
  supervisor_ = nullptr;
  SetUpAgain();
  supervisor_->deploy({1, 1}, spec("flaky", "always"), false);
  supervisor_->flush();
  exit(900000, ExitStatus::exited(0));
  ASSERT_EQ(supervisor_->find("flaky")->status, ShipStatus::backoff);
  supervisor_->stop({2, 5}, {"flaky"}, SIGTERM, 1000);
  supervisor_->flush();
  EXPECT_EQ(supervisor_->find("flaky")->status, ShipStatus::stopped);
  EXPECT_EQ(supervisor_->find("flaky")->stoppedReason, "pending restart cancelled");
  EXPECT_EQ(outbox_.sent.back().first, 2u);
  EXPECT_EQ(outbox_.last()["ships"][0]["status"], "stopped");
  EXPECT_EQ(spawner_.ships.size(), 1u);
}

TEST_F(SupervisorTest, AStopRequestedExitIsNotRestartedAndWakesTheWaiter) {
  supervisor_->deploy({1, 1}, spec("svc", "always"), false);
  supervisor_->flush();
  supervisor_->wait({3, 9}, "svc");
  supervisor_->stop({2, 5}, {"svc"}, SIGTERM, 1000);
  ASSERT_EQ(watcher_.signals.size(), 1u);
  EXPECT_EQ(watcher_.signals[0].second, SIGTERM);
  exit(900000, ExitStatus::signaled(SIGTERM, false));
  EXPECT_EQ(supervisor_->find("svc")->status, ShipStatus::stopped);
  EXPECT_EQ(supervisor_->find("svc")->stoppedReason, "stopped by request");
  std::set<uint64_t> answered;
  for (const auto& [client, line] : outbox_.sent) answered.insert(client);
  EXPECT_EQ(answered, (std::set<uint64_t>{1, 2, 3})) << "the stop and the wait are answered";
  EXPECT_EQ(spawner_.ships.size(), 1u) << "restarted although stopped by request";
}

TEST_F(SupervisorTest, ASpawnFailureIsRecordedAndAnswered) {
  spawner_.failWith = "command /bin/nope is not an executable file";
  supervisor_->deploy({4, 2}, spec("broken"), false);
  supervisor_->flush();
  EXPECT_EQ(outbox_.last()["error"]["code"], "spawn_failed");
  EXPECT_EQ(stored("broken")["status"], "failed");
  EXPECT_EQ(supervisor_->counters().spawnFailures, 1u);
}

TEST_F(SupervisorTest, ASecondDeployOfARunningShipIsRefused) {
  supervisor_->deploy({1, 1}, spec("web"), false);
  supervisor_->deploy({1, 2}, spec("web"), false);
  supervisor_->flush();
  EXPECT_EQ(outbox_.last()["error"]["code"], "already_running");
  EXPECT_EQ(spawner_.ships.size(), 1u);
}

}  // namespace
}  // namespace keelan
