#include "keelan/ship_transitions.h"
#include "keelan/ship_machine.h"

#include <gtest/gtest.h>

#include <iterator>
#include <tuple>

#include "keelan/time_util.h"

namespace keelan {
namespace {

namespace ev = ship_event;
namespace act = ship_action;

constexpr int64_t kNowMs = 1'800'000'000'000;  // 2027-01-15, any fixed instant

MachineNow at(int64_t wallMs) { return {isoTime(wallMs), wallMs}; }
const MachineNow kNow = at(kNowMs);

// A ship in `status` that has been running (or ran) for 5 s and last exited
// with code 1; restart=always, with an on-exit hook.
ShipRecord shipIn(ShipStatus status) {
  ShipRecord record;
  record.spec.name = "web";
  record.spec.command = {"/bin/sleep", "100"};
  record.spec.restart = *parseRestartPolicy("always");
  record.spec.onExit = "echo exited";
  record.status = status;
  record.startedAt = isoTime(kNowMs - 5000);
  record.deployCount = 1;
  switch (status) {
    case ShipStatus::running:
    case ShipStatus::lost:
      record.pid = 100;
      record.startTime = 777;
      record.bootId = "boot";
      break;
    case ShipStatus::backoff:
      record.nextAttemptMs = kNowMs + 1000;
      record.restartStreak = 1;
      [[fallthrough]];
    case ShipStatus::stopped:
    case ShipStatus::failed:
      record.stoppedAt = isoTime(kNowMs - 1000);
      record.exit = ExitStatus::exited(1);
      record.exitSource = "waitpid";
      record.runCount = 1;
      if (status == ShipStatus::failed) record.error = "boom";
      break;
  }
  return record;
}

std::string kindOf(const ShipAction& action) {
  struct Kind {
    std::string operator()(const act::Commit& a) const { return "commit " + a.event; }
    std::string operator()(const act::Spawn&) const { return "spawn"; }
    std::string operator()(const act::ScheduleBackoff&) const { return "schedule"; }
    std::string operator()(const act::CancelBackoff&) const { return "cancel"; }
    std::string operator()(const act::RunExitHook&) const { return "hook"; }
    std::string operator()(const act::NotifyFailure&) const { return "notify"; }
    std::string operator()(const act::Stopped&) const { return "stopped"; }
    std::string operator()(const act::Unwatch&) const { return "unwatch"; }
    std::string operator()(const act::CountExit&) const { return "count_exit"; }
    std::string operator()(const act::CountRestart&) const { return "count_restart"; }
    std::string operator()(const act::CountSpawn& a) const { return a.failed ? "count_spawn_failed" : "count_spawn"; }
    std::string operator()(const act::Log& a) const { return a.level == act::Log::Level::warn ? "warn" : "info"; }
  };
  return std::visit(Kind{}, action);
}

std::vector<std::string> kinds(const StepResult& result) {
  std::vector<std::string> out;
  for (const auto& action : result.actions) out.push_back(kindOf(action));
  return out;
}

template <typename Action>
std::vector<Action> all(const StepResult& result) {
  std::vector<Action> out;
  for (const auto& action : result.actions)
    if (const auto* a = std::get_if<Action>(&action)) out.push_back(*a);
  return out;
}

std::vector<std::string> logs(const StepResult& result) {
  std::vector<std::string> out;
  for (const auto& log : all<act::Log>(result)) out.push_back(log.text);
  return out;
}

const MachineSettings kHookAndWebhook{kBackoffFirstMs, false, true};

// Every (state, event) pair. Events: a deploy by hand, a spawn, a failed
// spawn by hand, an exit with code 1 after 5 s, an adoption, a stop, a due
// restart, a liveness check.
const ShipEvent kEvents[] = {
    ev::DeployRequested{false}, ev::Spawned{200, 888, "boot"}, ev::SpawnFailed{"no such file", false},
    ev::Exited{ExitStatus::exited(1), "waitpid", ""}, ev::Adopted{}, ev::StopRequested{}, ev::RestartDue{},
    ev::Checked{}};

struct Row {
  ShipStatus from;
  const char* event;
  bool accepted;
  ShipStatus to;
  std::vector<std::string> actions;
};

using S = ShipStatus;
const std::vector<std::string> kNone;
const std::vector<std::string> kSpawned = {"commit deployed", "count_spawn", "info"};
const std::vector<std::string> kSpawnFailed = {"commit failed", "notify", "count_spawn_failed", "warn", "stopped"};
const std::vector<std::string> kExitThenBackoff = {"commit stopped", "notify", "count_exit", "info", "unwatch",
                                                   "hook", "commit backoff", "info", "schedule"};

const Row kTable[] = {
    {S::running, "deploy_requested", false, S::running, kNone},
    {S::running, "spawned", false, S::running, kNone},
    {S::running, "spawn_failed", false, S::running, kNone},
    {S::running, "exited", true, S::backoff, kExitThenBackoff},
    {S::running, "adopted", true, S::running, {"commit adopted", "info"}},
    {S::running, "stop_requested", true, S::running, kNone},
    {S::running, "restart_due", false, S::running, kNone},
    {S::running, "checked", true, S::running, kNone},

    {S::stopped, "deploy_requested", true, S::stopped, kNone},
    {S::stopped, "spawned", true, S::running, kSpawned},
    {S::stopped, "spawn_failed", true, S::failed, kSpawnFailed},
    {S::stopped, "exited", false, S::stopped, kNone},
    {S::stopped, "adopted", false, S::stopped, kNone},
    {S::stopped, "stop_requested", true, S::stopped, kNone},
    {S::stopped, "restart_due", false, S::stopped, kNone},
    {S::stopped, "checked", false, S::stopped, kNone},

    {S::failed, "deploy_requested", true, S::failed, kNone},
    {S::failed, "spawned", true, S::running, kSpawned},
    {S::failed, "spawn_failed", true, S::failed, kSpawnFailed},
    {S::failed, "exited", false, S::failed, kNone},
    {S::failed, "adopted", false, S::failed, kNone},
    {S::failed, "stop_requested", true, S::failed, kNone},
    {S::failed, "restart_due", false, S::failed, kNone},
    {S::failed, "checked", false, S::failed, kNone},

    {S::lost, "deploy_requested", true, S::lost, kNone},
    {S::lost, "spawned", true, S::running, kSpawned},
    {S::lost, "spawn_failed", true, S::failed, kSpawnFailed},
    {S::lost, "exited", true, S::backoff, kExitThenBackoff},
    {S::lost, "adopted", true, S::running, {"commit adopted", "info"}},
    {S::lost, "stop_requested", true, S::lost, kNone},
    {S::lost, "restart_due", false, S::lost, kNone},
    {S::lost, "checked", false, S::lost, kNone},

    {S::backoff, "deploy_requested", true, S::backoff, {"cancel"}},
    {S::backoff, "spawned", true, S::running, kSpawned},
    {S::backoff, "spawn_failed", true, S::failed, kSpawnFailed},
    {S::backoff, "exited", false, S::backoff, kNone},
    {S::backoff, "adopted", false, S::backoff, kNone},
    // The failure was posted when it exited; the cancel is an operator's stop, not a failure.
    {S::backoff, "stop_requested", true, S::stopped, {"cancel", "commit stopped", "info", "stopped"}},
    {S::backoff, "restart_due", true, S::backoff, {"count_restart", "info", "spawn"}},
    {S::backoff, "checked", false, S::backoff, kNone},
};

TEST(ShipMachine, EveryStateAndEventPair) {
  ASSERT_EQ(std::size(kTable), 5u * std::size(kEvents));
  for (const Row& row : kTable) {
    const ShipEvent* event = nullptr;
    for (const auto& candidate : kEvents)
      if (std::string(shipEventName(candidate)) == row.event) event = &candidate;
    ASSERT_NE(event, nullptr) << row.event;
    std::string pair = std::string(statusName(row.from)) + " + " + row.event;
    ShipRecord record = shipIn(row.from);
    record.restartStreak += 2;  // values a refused step could wrongly reset
    record.restarts = 5;
    record.lastCheckedAt = isoTime(kNowMs - 100);
    const ShipRecord before = record;
    StepResult result = step(record, *event, kNow, kHookAndWebhook);
    EXPECT_EQ(result.accepted, row.accepted) << pair;
    EXPECT_EQ(statusName(record.status), std::string(statusName(row.to))) << pair;
    EXPECT_EQ(kinds(result), row.actions) << pair;
    if (row.accepted) {
      EXPECT_EQ(result.refusal, "") << pair;
      continue;
    }
    EXPECT_EQ(result.refusal, std::string("ship web: event '") + row.event + "' is impossible in state " +
                                  statusName(row.from))
        << pair;
    EXPECT_EQ(shipRecordText(record), shipRecordText(before)) << pair;
    EXPECT_EQ(record.stopRequested, before.stopRequested) << pair;
  }
}

TEST(ShipMachine, EventNames) {
  std::vector<std::string> names;
  for (const auto& event : kEvents) names.push_back(shipEventName(event));
  EXPECT_EQ(names, (std::vector<std::string>{"deploy_requested", "spawned", "spawn_failed", "exited", "adopted",
                                              "stop_requested", "restart_due", "checked"}));
}

// Runs the ship for runMs and lets it exit with `exit`; returns the exit's step.
StepResult runAndExit(ShipRecord& record, int64_t& clockMs, int64_t runMs, ExitStatus exit,
                      const MachineSettings& settings = {}) {
  if (record.status == ShipStatus::backoff) {
    clockMs = record.nextAttemptMs;
    EXPECT_EQ(kinds(step(record, ev::RestartDue{}, at(clockMs), settings)).back(), "spawn");
    EXPECT_TRUE(step(record, ev::DeployRequested{true}, at(clockMs), settings).accepted);
  }
  EXPECT_TRUE(step(record, ev::Spawned{100, 1, "boot"}, at(clockMs), settings).accepted);
  clockMs += runMs;
  return step(record, ev::Exited{exit, "waitpid", ""}, at(clockMs), settings);
}

TEST(ShipMachine, BackoffDoublesUpToTheCap) {
  ShipRecord record = shipIn(ShipStatus::stopped);
  int64_t clockMs = kNowMs;
  std::vector<int64_t> delays;
  for (int i = 0; i < 12; ++i) {
    StepResult exited = runAndExit(record, clockMs, 10, ExitStatus::exited(1));
    auto scheduled = all<act::ScheduleBackoff>(exited);
    ASSERT_EQ(scheduled.size(), 1u);
    ASSERT_EQ(record.status, ShipStatus::backoff);
    EXPECT_EQ(record.nextAttemptMs, scheduled[0].atMs);
    EXPECT_EQ(record.restartStreak, static_cast<uint64_t>(i + 1));
    delays.push_back(scheduled[0].atMs - clockMs);
    EXPECT_EQ(logs(exited).back(), "ship web restarts in " + std::to_string(delays.back()) + " ms (attempt " +
                                       std::to_string(i + 1) + ")");
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000,
                                          300000, 300000}));
  EXPECT_EQ(record.restarts, 11u);
}

TEST(ShipMachine, BackoffStartsAtTheConfiguredFirstDelay) {
  ShipRecord record = shipIn(ShipStatus::running);
  MachineSettings settings;
  settings.backoffFirstMs = 40;
  StepResult result = step(record, ev::Exited{ExitStatus::exited(3), "waitpid", ""}, kNow, settings);
  ASSERT_EQ(all<act::ScheduleBackoff>(result).size(), 1u);
  EXPECT_EQ(all<act::ScheduleBackoff>(result)[0].atMs, kNowMs + 40);
}

TEST(ShipMachine, RestartDueCountsTheRestartAndSpawns) {
  ShipRecord record = shipIn(ShipStatus::backoff);
  record.restarts = 6;
  StepResult result = step(record, ev::RestartDue{}, kNow, {});
  EXPECT_EQ(record.restarts, 7u);
  EXPECT_EQ(logs(result), (std::vector<std::string>{"restarting ship web (restart 7)"}));
  EXPECT_EQ(record.status, ShipStatus::backoff);  // until the spawn's outcome is stepped
}

TEST(ShipMachine, GivesUpAfterMaxRestartsInARow) {
  ShipRecord record = shipIn(ShipStatus::stopped);
  record.spec.restart = *parseRestartPolicy("on-failure:2");
  int64_t clockMs = kNowMs;
  EXPECT_EQ(all<act::ScheduleBackoff>(runAndExit(record, clockMs, 10, ExitStatus::exited(1))).size(), 1u);
  EXPECT_EQ(all<act::ScheduleBackoff>(runAndExit(record, clockMs, 10, ExitStatus::signaled(9, false))).size(), 1u);
  StepResult last = runAndExit(record, clockMs, 10, ExitStatus::exited(1));
  EXPECT_EQ(kinds(last), (std::vector<std::string>{"commit stopped", "count_exit", "info", "unwatch", "hook",
                                                    "warn", "stopped"}));
  EXPECT_EQ(logs(last).back(), "ship web gave up after 2 restarts in a row");
  EXPECT_EQ(record.status, ShipStatus::stopped);
  EXPECT_EQ(record.restarts, 2u);
  EXPECT_EQ(record.restartStreak, 2u);  // kept, as today: only a deploy by hand or a long run resets it
}

TEST(ShipMachine, OnFailureDoesNotRestartASuccessAndSaysNothing) {
  ShipRecord record = shipIn(ShipStatus::running);
  record.spec.restart = *parseRestartPolicy("on-failure");
  StepResult result = step(record, ev::Exited{ExitStatus::exited(0), "waitpid", ""}, kNow, {});
  EXPECT_EQ(kinds(result).back(), "stopped");
  EXPECT_EQ(logs(result).size(), 1u);
  EXPECT_EQ(record.status, ShipStatus::stopped);
}

TEST(ShipMachine, PolicyNoNeverSaysItGaveUp) {
  ShipRecord record = shipIn(ShipStatus::running);
  record.spec.restart = *parseRestartPolicy("no");
  record.restartStreak = 3;  // left by an earlier policy
  StepResult result = step(record, ev::Exited{ExitStatus::exited(1), "waitpid", ""}, kNow, {});
  EXPECT_EQ(logs(result).size(), 1u);
  EXPECT_EQ(kinds(result).back(), "stopped");
}

TEST(ShipMachine, ARunOfAMinuteStartsTheStreakAfresh) {
  for (auto [runMs, streak, delay] : {std::tuple<int64_t, uint64_t, int64_t>{60000, 1, 1000}, {59999, 4, 8000}}) {
    ShipRecord record = shipIn(ShipStatus::running);
    record.restartStreak = 3;
    record.startedAt = isoTime(kNowMs - runMs);
    StepResult result = step(record, ev::Exited{ExitStatus::exited(1), "waitpid", ""}, kNow, {});
    ASSERT_EQ(all<act::ScheduleBackoff>(result).size(), 1u) << runMs;
    EXPECT_EQ(all<act::ScheduleBackoff>(result)[0].atMs, kNowMs + delay) << runMs;
    EXPECT_EQ(record.restartStreak, streak) << runMs;
  }
}

TEST(ShipMachine, AnUnreadableStartTimeCountsAsAShortRun) {
  ShipRecord record = shipIn(ShipStatus::running);
  record.restartStreak = 3;
  record.startedAt = "yesterday";
  step(record, ev::Exited{ExitStatus::exited(1), "waitpid", ""}, kNow, {});
  EXPECT_EQ(record.restartStreak, 4u);
}

TEST(ShipMachine, ADeployByHandWantsTheShipRunningAndAStopWantsItStopped) {
  ShipRecord record = shipIn(ShipStatus::failed);
  step(record, ev::DeployRequested{true}, kNow, {});
  EXPECT_EQ(record.wanted, Wanted::stopped) << "a restart by policy is not a wish";
  step(record, ev::DeployRequested{false}, kNow, {});
  EXPECT_EQ(record.wanted, Wanted::running);
  // Stopping a ship that is not running commits only the changed wish, so a
  // reboot leaves it down; a second stop has nothing to commit.
  StepResult stop = step(record, ev::StopRequested{}, kNow, {});
  EXPECT_EQ(record.wanted, Wanted::stopped);
  EXPECT_EQ(kinds(stop), (std::vector<std::string>{"commit stopped"}));
  EXPECT_NE(all<act::Commit>(stop)[0].recordText.find("\"wanted\":\"stopped\""), std::string::npos);
  EXPECT_TRUE(step(record, ev::StopRequested{}, kNow, {}).actions.empty());
}

TEST(ShipMachine, AnExitAfterAStopRequestIsNotRestarted) {
  ShipRecord record = shipIn(ShipStatus::running);
  StepResult stop = step(record, ev::StopRequested{}, kNow, {});
  EXPECT_TRUE(stop.accepted);
  EXPECT_TRUE(stop.actions.empty());
  EXPECT_TRUE(record.stopRequested);
  StepResult exited = step(record, ev::Exited{ExitStatus::signaled(15, false), "waitpid", ""}, kNow, {});
  EXPECT_EQ(kinds(exited), (std::vector<std::string>{"commit stopped", "count_exit", "info", "unwatch", "hook",
                                                      "stopped"}));
  EXPECT_EQ(record.status, ShipStatus::stopped);
  EXPECT_EQ(record.stoppedReason, "stopped by request");
  ASSERT_TRUE(all<act::Commit>(exited)[0].run.has_value());
  EXPECT_EQ(all<act::Commit>(exited)[0].run->stoppedReason, "stopped by request");
  // The log line says what the exit said, as today's daemon does.
  EXPECT_EQ(logs(exited), (std::vector<std::string>{"ship web pid=100 stopped: " +
                                                    ExitStatus::signaled(15, false).describe()}));
  EXPECT_FALSE(record.stopRequested);
  // The request was for that exit only: the next run restarts by policy.
  int64_t clockMs = kNowMs;
  EXPECT_EQ(all<act::ScheduleBackoff>(runAndExit(record, clockMs, 10, ExitStatus::exited(1))).size(), 1u);
}

TEST(ShipMachine, AGivenReasonWinsOverTheStopRequest) {
  ShipRecord record = shipIn(ShipStatus::running);
  step(record, ev::StopRequested{}, kNow, {});
  StepResult exited = step(record, ev::Exited{{}, "", "pid reused"}, kNow, {});
  EXPECT_EQ(record.stoppedReason, "pid reused");
  EXPECT_EQ(logs(exited)[0], "ship web pid=100 stopped: " + ExitStatus{}.describe() + " (pid reused)");
  EXPECT_EQ(kinds(exited).back(), "stopped");
  EXPECT_FALSE(record.stopRequested);
}

TEST(ShipMachine, ARefusedExitKeepsTheStopRequest) {
  ShipRecord record = shipIn(ShipStatus::running);
  step(record, ev::StopRequested{}, kNow, {});
  record.status = ShipStatus::stopped;
  EXPECT_FALSE(step(record, ev::Exited{ExitStatus::exited(0), "waitpid", ""}, kNow, {}).accepted);
  EXPECT_TRUE(record.stopRequested);
}

TEST(ShipMachine, AStopCancelsAPendingRestart) {
  ShipRecord record = shipIn(ShipStatus::backoff);
  StepResult result = step(record, ev::StopRequested{}, kNow, {});
  EXPECT_EQ(kinds(result), (std::vector<std::string>{"cancel", "commit stopped", "info", "stopped"}));
  EXPECT_EQ(logs(result), (std::vector<std::string>{"ship web: pending restart cancelled"}));
  EXPECT_EQ(record.stoppedReason, "pending restart cancelled");
  EXPECT_EQ(record.restartStreak, 0u);
  EXPECT_EQ(record.nextAttemptMs, 0);
  EXPECT_EQ(record.lastCheckedAt, kNow.iso);
  EXPECT_FALSE(all<act::Commit>(result)[0].run.has_value());
}

TEST(ShipMachine, ADeployByHandEndsTheBackoffAndItsStreak) {
  ShipRecord record = shipIn(ShipStatus::backoff);
  record.restartStreak = 4;
  StepResult result = step(record, ev::DeployRequested{false}, kNow, {});
  EXPECT_EQ(kinds(result), (std::vector<std::string>{"cancel"}));
  EXPECT_EQ(record.restartStreak, 0u);
  ShipRecord restarting = shipIn(ShipStatus::backoff);
  restarting.restartStreak = 4;
  EXPECT_TRUE(step(restarting, ev::DeployRequested{true}, kNow, {}).actions.empty());
  EXPECT_EQ(restarting.restartStreak, 4u);
}

TEST(ShipMachine, ADeployForgetsAStopRequest) {
  ShipRecord record = shipIn(ShipStatus::stopped);
  record.stopRequested = true;  // asked for, but the ship ended otherwise
  EXPECT_TRUE(step(record, ev::DeployRequested{false}, kNow, {}).accepted);
  EXPECT_FALSE(record.stopRequested);
}

TEST(ShipMachine, TheHookRunsWhenTheShipOrTheDaemonHasOne) {
  for (bool shipHook : {false, true})
    for (bool daemonHook : {false, true}) {
      ShipRecord record = shipIn(ShipStatus::running);
      if (!shipHook) record.spec.onExit.clear();
      MachineSettings settings;
      settings.defaultOnExit = daemonHook;
      StepResult result = step(record, ev::Exited{ExitStatus::exited(0), "waitpid", ""}, kNow, settings);
      EXPECT_EQ(all<act::RunExitHook>(result).size(), shipHook || daemonHook ? 1u : 0u) << shipHook << daemonHook;
      ShipRecord failing = shipIn(ShipStatus::stopped);
      if (!shipHook) failing.spec.onExit.clear();
      EXPECT_TRUE(all<act::RunExitHook>(step(failing, ev::SpawnFailed{"x", false}, kNow, settings)).empty());
    }
}

TEST(ShipMachine, TheWebhookHearsOfFailuresOnly) {
  struct Case {
    ExitStatus exit;
    bool notified;
  };
  for (const Case& c : {Case{ExitStatus::exited(0), false}, Case{ExitStatus::exited(2), true},
                        Case{ExitStatus::signaled(9, false), true}, Case{ExitStatus{}, false}}) {
    for (bool webhook : {false, true}) {
      ShipRecord record = shipIn(ShipStatus::running);
      MachineSettings settings;
      settings.webhook = webhook;
      StepResult result = step(record, ev::Exited{c.exit, "waitpid", ""}, kNow, settings);
      EXPECT_EQ(all<act::NotifyFailure>(result).size(), webhook && c.notified ? 1u : 0u) << c.exit.describe();
    }
  }
  ShipRecord spawnFails = shipIn(ShipStatus::stopped);
  EXPECT_EQ(all<act::NotifyFailure>(step(spawnFails, ev::SpawnFailed{"x", false}, kNow, {kBackoffFirstMs, false, false}))
                .size(),
            0u);
  ShipRecord cancelledAfterSuccess = shipIn(ShipStatus::backoff);
  cancelledAfterSuccess.exit = ExitStatus::exited(0);
  EXPECT_TRUE(all<act::NotifyFailure>(step(cancelledAfterSuccess, ev::StopRequested{}, kNow, kHookAndWebhook)).empty());
}

// --webhook-on: a stop asked for is no failure; `exit` posts every end of a
// run; `all` every committed change.
TEST(ShipMachine, WebhookOnChoosesWhatIsPosted) {
  struct Case {
    WebhookOn on;
    ExitStatus exit;
    bool asked;
    size_t posted;
  };
  for (const Case& c : {Case{WebhookOn::failure, ExitStatus::signaled(15, false), true, 0},
                        Case{WebhookOn::failure, ExitStatus::exited(1), true, 0},
                        Case{WebhookOn::failure, ExitStatus::signaled(15, false), false, 1},
                        Case{WebhookOn::exit, ExitStatus::exited(0), false, 1},
                        Case{WebhookOn::exit, ExitStatus::signaled(15, false), true, 1},
                        Case{WebhookOn::all, ExitStatus::exited(0), true, 1}}) {
    ShipRecord record = shipIn(ShipStatus::running);
    record.stopRequested = c.asked;
    MachineSettings settings{kBackoffFirstMs, false, true, c.on};
    auto posted = all<act::NotifyFailure>(step(record, ev::Exited{c.exit, "waitpid", ""}, kNow, settings));
    ASSERT_EQ(posted.size(), c.posted) << c.exit.describe() << " asked=" << c.asked;
    if (c.posted > 0) {
      EXPECT_EQ(posted[0].event, "stopped");
    }
  }
  // A spawn is posted only with `all`; a failed spawn with each choice.
  for (WebhookOn on : {WebhookOn::failure, WebhookOn::exit, WebhookOn::all}) {
    MachineSettings settings{kBackoffFirstMs, false, true, on};
    ShipRecord starting = shipIn(ShipStatus::stopped);
    EXPECT_EQ(all<act::NotifyFailure>(step(starting, ev::Spawned{42, 1, "boot"}, kNow, settings)).size(),
              on == WebhookOn::all ? 1u : 0u);
    ShipRecord failing = shipIn(ShipStatus::stopped);
    auto posted = all<act::NotifyFailure>(step(failing, ev::SpawnFailed{"x", false}, kNow, settings));
    ASSERT_EQ(posted.size(), 1u);
    EXPECT_EQ(posted[0].event, "failed");
  }
}

TEST(ShipMachine, SnapshotsAreTheRecordRightAfterTheExit) {
  ShipRecord record = shipIn(ShipStatus::running);
  StepResult result = step(record, ev::Exited{ExitStatus::exited(1), "waitpid", ""}, kNow, kHookAndWebhook);
  ASSERT_EQ(record.status, ShipStatus::backoff);
  auto hooks = all<act::RunExitHook>(result);
  auto notices = all<act::NotifyFailure>(result);
  ASSERT_EQ(hooks.size(), 1u);
  ASSERT_EQ(notices.size(), 1u);
  for (const ShipRecord* snapshot : {&hooks[0].snapshot, &notices[0].snapshot}) {
    EXPECT_EQ(snapshot->status, ShipStatus::stopped);
    EXPECT_EQ(snapshot->exit, ExitStatus::exited(1));
    EXPECT_EQ(snapshot->stoppedAt, kNow.iso);
    EXPECT_EQ(snapshot->nextAttemptMs, 0);
  }
  auto commits = all<act::Commit>(result);
  ASSERT_EQ(commits.size(), 2u);
  EXPECT_EQ(commits[0].recordText, shipRecordText(hooks[0].snapshot));
  EXPECT_TRUE(commits[0].run.has_value());
  EXPECT_EQ(commits[1].recordText, shipRecordText(record));
  EXPECT_FALSE(commits[1].run.has_value());
  ShipRecord spawnFails = shipIn(ShipStatus::stopped);
  auto failed = all<act::NotifyFailure>(step(spawnFails, ev::SpawnFailed{"x", false}, kNow, kHookAndWebhook));
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].snapshot.status, ShipStatus::failed);
  EXPECT_EQ(failed[0].snapshot.error, "x");
}

TEST(ShipMachine, AFailedRestartBacksOffAgain) {
  ShipRecord record = shipIn(ShipStatus::backoff);
  record.restartStreak = 1;
  StepResult result = step(record, ev::SpawnFailed{"no such file", true}, kNow, kHookAndWebhook);
  EXPECT_EQ(kinds(result), (std::vector<std::string>{"commit failed", "notify", "count_spawn_failed", "warn",
                                                      "commit backoff", "info", "schedule"}));
  EXPECT_EQ(logs(result), (std::vector<std::string>{"ship web failed to spawn: no such file",
                                                    "ship web restarts in 2000 ms (attempt 2)"}));
  EXPECT_EQ(record.status, ShipStatus::backoff);
  EXPECT_EQ(record.restartStreak, 2u);
  EXPECT_EQ(record.nextAttemptMs, kNowMs + 2000);
  EXPECT_EQ(record.error, "no such file");
}

// Today's daemon completes no wait on a failed spawn, even one that gives up
// a restart streak: kept as is (see the module's report).
TEST(ShipMachine, AFailedSpawnThatIsNotRetriedEndsTheShip) {
  ShipRecord record = shipIn(ShipStatus::stopped);
  StepResult result = step(record, ev::SpawnFailed{"no such file", false}, kNow, {});
  EXPECT_EQ(kinds(result), (std::vector<std::string>{"commit failed", "count_spawn_failed", "warn", "stopped"}));
  EXPECT_EQ(record.status, ShipStatus::failed);
  ShipRecord givingUp = shipIn(ShipStatus::backoff);
  givingUp.spec.restart = *parseRestartPolicy("always:1");
  StepResult gaveUp = step(givingUp, ev::SpawnFailed{"no such file", true}, kNow, {});
  EXPECT_EQ(kinds(gaveUp), (std::vector<std::string>{"commit failed", "count_spawn_failed", "warn", "warn", "stopped"}));
  EXPECT_EQ(givingUp.status, ShipStatus::failed);
}

TEST(ShipMachine, ACheckWritesTheTimeWithoutACommit) {
  ShipRecord record = shipIn(ShipStatus::running);
  record.adopted = true;
  StepResult checked = step(record, ev::Checked{}, at(kNowMs + 1), {});
  EXPECT_TRUE(checked.accepted);
  EXPECT_TRUE(checked.actions.empty());
  EXPECT_EQ(record.lastCheckedAt, isoTime(kNowMs + 1));
  StepResult exited = step(record, ev::Exited{{}, "", "pid reused"}, at(kNowMs + 2), {});
  EXPECT_EQ(all<act::Commit>(exited)[0].recordText, shipRecordText(all<act::RunExitHook>(exited)[0].snapshot));
  EXPECT_EQ(all<act::RunExitHook>(exited)[0].snapshot.lastCheckedAt, isoTime(kNowMs + 1));
}

TEST(ShipMachine, AnAdoptionIsLoggedUnlessTheShipIsAZombie) {
  ShipRecord alive = shipIn(ShipStatus::running);
  StepResult adopted = step(alive, ev::Adopted{}, kNow, {});
  EXPECT_EQ(logs(adopted), (std::vector<std::string>{"adopted ship web pid=100"}));
  EXPECT_TRUE(alive.adopted);
  EXPECT_EQ(alive.lastCheckedAt, kNow.iso);
  ShipRecord zombie = shipIn(ShipStatus::running);
  EXPECT_EQ(kinds(step(zombie, ev::Adopted{true}, kNow, {})), (std::vector<std::string>{"commit adopted"}));
}

TEST(ShipMachine, ASpawnIsLoggedWithItsPid) {
  ShipRecord record = shipIn(ShipStatus::stopped);
  StepResult result = step(record, ev::Spawned{4321, 99, "boot"}, kNow, {});
  EXPECT_EQ(logs(result), (std::vector<std::string>{"ship web deployed pid=4321"}));
  EXPECT_EQ(record.pid, 4321);
  EXPECT_EQ(record.deployCount, 2u);
  EXPECT_EQ(all<act::Commit>(result)[0].recordText, shipRecordText(record));
}

TEST(ShipMachine, CountsTheExitAsItWas) {
  ShipRecord record = shipIn(ShipStatus::running);
  StepResult result = step(record, ev::Exited{ExitStatus::signaled(11, true), "pidfd", ""}, kNow, {});
  auto counted = all<act::CountExit>(result);
  ASSERT_EQ(counted.size(), 1u);
  EXPECT_EQ(counted[0].exit, ExitStatus::signaled(11, true));
  EXPECT_EQ(record.exitSource, "pidfd");
}

}  // namespace
}  // namespace keelan
