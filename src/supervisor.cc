#include "keelan/supervisor.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <variant>

#include "keelan/log_rotation.h"
#include "keelan/proc_info.h"
#include "keelan/protocol.h"
#include "keelan/time_util.h"

namespace keelan {

using nlohmann::json;

namespace {
template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

MachineNow machineNow() { return {nowIso(), wallClockMs()}; }
}  // namespace

Supervisor::Supervisor(uv_loop_t* loop, Logger& log, const DaemonConfig& config, SupervisorParts parts)
    : loop_(loop), log_(log), config_(config), parts_(parts),
      gate_(parts.store, parts.outbox, log, config, [this] {
        if (parts_.reaper.holdsUnreleased()) parts_.reaper.release();
      }) {
  // Test only: die between uv_spawn and the commit of the spawn, so that
  // start-up reconciliation can be tested. Read once.
  const char* crash = std::getenv("KEELAN_TEST_CRASH_AFTER_SPAWN");
  crashAfterSpawn_ = crash != nullptr && std::string(crash) == "1";
  settings_.backoffFirstMs = config.backoffFirstMs;
  settings_.defaultOnExit = !config.defaultOnExit.empty();
  settings_.webhook = !config.webhookUrl.empty();
  settings_.webhookOn = config.webhookOn == "all" ? WebhookOn::all : config.webhookOn == "exit" ? WebhookOn::exit
                                                                                                : WebhookOn::failure;
}

const ShipRecord* Supervisor::find(const std::string& name) const {
  auto it = ships_.find(name);
  return it == ships_.end() ? nullptr : &it->second;
}

ShipRecord* Supervisor::findMutable(const std::string& name) {
  auto it = ships_.find(name);
  return it == ships_.end() ? nullptr : &it->second;
}

json Supervisor::countsByStatus() const {
  const ShipStatus all[] = {ShipStatus::running, ShipStatus::stopped, ShipStatus::failed, ShipStatus::lost,
                            ShipStatus::backoff};
  size_t counts[std::size(all)] = {};
  for (const auto& [name, record] : ships_) ++counts[static_cast<size_t>(record.status)];
  json out = json::object();
  for (ShipStatus status : all) out[statusName(status)] = counts[static_cast<size_t>(status)];
  return out;
}

std::vector<std::string> Supervisor::shipsWithLabels(const std::map<std::string, std::string>& selector) const {
  std::vector<std::string> names;
  for (const auto& [name, record] : ships_)
    if (labelsMatch(record.spec.labels, selector)) names.push_back(name);
  return names;
}

// ---------------------------------------------------------------- the machine

std::string Supervisor::stepShip(ShipRecord& record, const ShipEvent& event) {
  StepResult result = step(record, event, machineNow(), settings_);
  if (!result.accepted) {
    log_.warn(result.refusal);
    return "";
  }
  std::string committed;
  bool stopped = false;
  const std::string name = record.spec.name;
  for (const auto& action : result.actions) run(record, action, committed, stopped);
  // Last: completing a stop may remove the record. With kill mode
  // control-group a stop completes once the whole tree is gone.
  if (stopped) {
    if (treeBusy(record)) treeWaiters_.insert(name);
    else onStopped(name);
  }
  return committed;
}

void Supervisor::run(ShipRecord& record, const ShipAction& action, std::string& committed, bool& stopped) {
  const std::string& name = record.spec.name;
  std::visit(Overloaded{
                 [&](const ship_action::Commit& c) {
                   gate_.batch().puts.emplace_back(name, c.recordText);
                   if (c.run) gate_.batch().runs.emplace_back(name, *c.run);
                   gate_.publish(c.event, name, c.recordText);
                   committed = c.recordText;
                 },
                 [&](const ship_action::Spawn&) {
                   ShipSpec spec = record.spec;  // spawn() assigns it back
                   spawn(PendingReply{}, spec);
                 },
                 [&](const ship_action::ScheduleBackoff& b) {
                   backoffQueue_.emplace(b.atMs, name);
                   armBackoffTimer();
                 },
                 [&](const ship_action::CancelBackoff&) {
                   for (auto it = backoffQueue_.begin(); it != backoffQueue_.end(); ++it)
                     if (it->second == name) {
                       backoffQueue_.erase(it);
                       break;
                     }
                 },
                 [&](const ship_action::RunExitHook& h) {
                   gate_.deliver([this, snapshot = h.snapshot] { parts_.hooks.run(snapshot); });
                 },
                 [&](const ship_action::NotifyFailure& n) {
                   gate_.deliver([this, n] { parts_.notifier.notify(n.snapshot, n.event); });
                 },
                 [&](const ship_action::Stopped&) { stopped = true; },
                 [&](const ship_action::Unwatch&) { parts_.watcher.unwatch(name); },
                 [&](const ship_action::CountExit& e) {
                   switch (e.exit.kind) {
                     case ExitStatus::Kind::exited: ++(e.exit.code == 0 ? counters_.exitsZero : counters_.exitsNonZero); break;
                     case ExitStatus::Kind::signaled: ++counters_.exitsSignal; break;
                     case ExitStatus::Kind::unknown: ++counters_.exitsUnknown; break;
                   }
                 },
                 [&](const ship_action::CountRestart&) { ++counters_.restarts; },
                 [&](const ship_action::CountSpawn& s) { ++(s.failed ? counters_.spawnFailures : counters_.spawns); },
                 [&](const ship_action::Log& l) {
                   if (l.level == ship_action::Log::Level::warn) log_.warn(l.text);
                   else log_.info(l.text);
                 },
             },
             action);
}

// ---------------------------------------------------------------- exits

void Supervisor::childExited(pid_t pid, const ExitStatus& exit, std::chrono::steady_clock::time_point seen) {
  auto known = shipOfPid_.find(pid);
  if (known == shipOfPid_.end()) return;
  std::string name = known->second;
  shipOfPid_.erase(known);
  ShipRecord* record = findMutable(name);
  if (record == nullptr || record->pid != pid || record->status != ShipStatus::running) return;
  shipExited(*record, ship_event::Exited{exit, "waitpid", ""});
  gate_.exitSeen(seen);
}

void Supervisor::strangerExited(pid_t pid, const ExitStatus& exit) {
  if (parts_.hooks.claim(pid, exit)) return;
  std::string from;
  if (auto stat = readProcStat(pid)) {
    auto owner = sessionOwner_.find(stat->session);
    if (owner != sessionOwner_.end()) from = owner->second;
  }
  ++counters_.orphansReaped;
  log_.info("reaped orphan pid=" + std::to_string(pid) + (from.empty() ? "" : " of ship " + from) + ": " +
            exit.describe());
  // It is gone already (reaped before this line): its line must not wait for the pass's end.
  log_.flush();
}

void Supervisor::adoptedEnded(const std::string& name, std::optional<ExitStatus> exact, const std::string& why) {
  ShipRecord* record = findMutable(name);
  if (record == nullptr) {
    parts_.watcher.unwatch(name);
    return;
  }
  stepShip(*record, ship_event::Checked{});
  if (exact) shipExited(*record, ship_event::Exited{*exact, "pidfd", ""});
  else shipExited(*record, ship_event::Exited{{}, "", why});
}

void Supervisor::adoptedChecked(const std::string& name) {
  if (ShipRecord* record = findMutable(name)) stepShip(*record, ship_event::Checked{});
}

// ---------------------------------------------------------------- deploys

void Supervisor::deploy(const PendingReply& to, const ShipSpec& spec, bool replace) {
  if (refuseConflicting(to, spec.name, replace ? ShipOp::replace : ShipOp::deploy)) return;
  const ShipRecord* existing = find(spec.name);
  if (existing != nullptr && existing->status == ShipStatus::running) {
    if (!replace)
      return gate_.replyError(to, errc::already_running,
                        "ship '" + spec.name + "' is already running (pid " + std::to_string(existing->pid) +
                            "); use --replace");
    auto request = std::make_unique<StopRequest>();
    request->reply = to;
    request->names = {spec.name};
    request->remaining = {spec.name};
    request->kind = ShipOp::replace;
    request->then = [this, to, spec] { spawn(to, spec); };
    stopShips(std::move(request), SIGTERM, 10000);
    return;
  }
  spawn(to, spec);
}

void Supervisor::spawn(const PendingReply& to, const ShipSpec& spec) {
  if (gate_.outage().active())  // e.g. deploy --replace whose stop ended during an outage
    return gate_.refuseNow(to, errc::store_unavailable, gate_.outage().message());
  ShipRecord& record = ships_.try_emplace(spec.name).first->second;
  if (record.status == ShipStatus::running)
    return gate_.replyError(to, errc::already_running, "ship '" + spec.name + "' is already running");
  std::string error;
  std::string text = startShip(record, spec, to.clientId == 0, error);
  if (!error.empty()) {
    gate_.deliver([this, to, error] { gate_.replyError(to, errc::spawn_failed, error); });
    return;
  }
  gate_.deliver([this, to, line = replyLineWith(to.requestId, "ship", text)]() mutable {
    parts_.outbox.sendLine(to.clientId, std::move(line));
  });
}

std::string Supervisor::startShip(ShipRecord& record, const ShipSpec& spec, bool automatic, std::string& error) {
  stepShip(record, ship_event::DeployRequested{automatic});
  record.spec = spec;
  if (spec.maxLogSize > 0) logLimited_.insert(spec.name);
  else logLimited_.erase(spec.name);
  std::string cgroup;
  if (cgroups_ != nullptr) cgroup = cgroups_->makeRun(spec.name, record.deployCount + 1, error);
  SpawnResult child;
  if (error.empty()) child = parts_.spawner.spawnShipIn(spec, cgroup);
  else child.error = error;
  if (crashAfterSpawn_ && child.error.empty()) _exit(70);
  if (!child.error.empty()) {
    if (!cgroup.empty()) ShipCgroups::remove(cgroup);
    stepShip(record, ship_event::SpawnFailed{child.error, automatic});
    error = child.error;
    return "";
  }
  record.cgroup = cgroup;
  if (!cgroup.empty()) trackCgroup(cgroup, spec.name);
  uint64_t startTime = 0;
  if (auto stat = readProcStat(child.pid)) startTime = stat->startTime;
  if (auto owned = sessionOwner_.find(record.pid); owned != sessionOwner_.end() && owned->second == spec.name)
    sessionOwner_.erase(owned);
  std::string text = stepShip(record, ship_event::Spawned{child.pid, startTime, bootId_});
  if (text.empty()) text = shipRecordText(record);  // refused transition: still answer with the record
  parts_.reaper.track(child.pid, std::move(child.pidfd));
  shipOfPid_[child.pid] = spec.name;
  sessionOwner_[child.pid] = spec.name;
  return text;
}

// ---------------------------------------------------------------- backoff

void Supervisor::start(uv_loop_t* loop) {
  uv_timer_init(loop, backoffTimer_.make());
  backoffTimer_->data = this;
  armBackoffTimer();
}

void Supervisor::armBackoffTimer() {
  if (!backoffTimer_ || shuttingDown_) return;
  if (backoffQueue_.empty()) {
    uv_timer_stop(backoffTimer_.get());
    return;
  }
  int64_t wait = std::max<int64_t>(0, backoffQueue_.begin()->first - wallClockMs());
  uv_timer_start(backoffTimer_.get(), [](uv_timer_t* h) { static_cast<Supervisor*>(h->data)->restartDue(); },
                 static_cast<uint64_t>(wait), 0);
}

void Supervisor::restartDue() {
  if (gate_.outage().active()) {  // nothing is spawned that could not be recorded
    uv_timer_start(backoffTimer_.get(), [](uv_timer_t* h) { static_cast<Supervisor*>(h->data)->restartDue(); },
                   StoreOutage::kRetryMs, 0);
    return;
  }
  int64_t now = wallClockMs();
  while (!backoffQueue_.empty() && backoffQueue_.begin()->first <= now) {
    std::string name = backoffQueue_.begin()->second;
    backoffQueue_.erase(backoffQueue_.begin());
    ShipRecord* record = findMutable(name);
    if (record == nullptr || record->status != ShipStatus::backoff) continue;
    stepShip(*record, ship_event::RestartDue{});
  }
  armBackoffTimer();
}

void Supervisor::rotateLogs() {
  auto check = [this](const ShipRecord& record) {
    const std::string& name = record.spec.name;
    uint64_t maxSize = record.spec.maxLogSize > 0 ? record.spec.maxLogSize : config_.maxLogSize;
    if (maxSize == 0) return;
    int maxFiles = record.spec.maxLogFiles > 0 ? record.spec.maxLogFiles : config_.maxLogFiles;
    for (const std::string& path : {config_.paths.shipOutLog(name), config_.paths.shipErrLog(name)}) {
      RotationResult result = rotateLogIfLarger(path, maxSize, maxFiles);
      if (result.rotated) log_.info("rotated " + path);
      if (!result.error.empty() && rotationErrorsLogged_.insert(path).second) log_.error(result.error);
    }
  };
  if (config_.maxLogSize > 0) {
    for (const auto& [name, record] : ships_) check(record);
    return;
  }
  for (const auto& name : logLimited_)
    if (const ShipRecord* record = find(name)) check(*record);
}

}  // namespace keelan
