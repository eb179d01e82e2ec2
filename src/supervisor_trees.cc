// The supervisor's process trees (issue 15): what a ship's main process
// leaves behind in its cgroup (or, without cgroups, its session), killed
// (kill mode control-group) or left running and reported (process); stops
// that wait for the whole tree; pause and resume; and, at start-up, the
// reconciliation of run cgroups that no running record owns.
#include <dirent.h>

#include <csignal>
#include <fstream>

#include "keelan/proc_info.h"
#include "keelan/protocol.h"
#include "keelan/supervisor.h"

namespace keelan {

using nlohmann::json;

namespace {
// What a ship's leftovers get between SIGTERM and SIGKILL, as `stop`'s default.
constexpr int64_t kLeftoverTimeoutMs = 10000;

bool controlGroup(const ShipRecord& record) { return record.spec.killMode == ShipSpec::KillMode::controlGroup; }

std::vector<std::string> commandLineOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> out;
  for (std::string arg; std::getline(in, arg, '\0');) out.push_back(arg);
  return out;
}
}  // namespace

void killLeftoversNow(LeftoverKill& kill) {
  Supervisor* self = kill.owner;
  std::string key = kill.dir.empty() ? "session:" + std::to_string(kill.session) : kill.dir;
  if (!kill.dir.empty()) ShipCgroups::kill(kill.dir);
  else
    for (pid_t pid : self->sessionMembers(kill.session)) ::kill(pid, SIGKILL);
  self->log_.warn("leftover processes of " + key + " did not stop in time; killed");
  self->leftoverKills_.erase(key);  // frees `kill`: nothing after this
}

std::vector<pid_t> Supervisor::sessionMembers(pid_t session) const {
  std::vector<pid_t> out;
  if (session <= 0) return out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* entry = readdir(proc)) {
    char* end = nullptr;
    long pid = strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0' || pid == session) continue;
    auto stat = readProcStat(static_cast<pid_t>(pid));
    if (stat && stat->session == session && stat->state != 'Z') out.push_back(static_cast<pid_t>(pid));
  }
  closedir(proc);
  return out;
}

uint64_t Supervisor::countLeftovers(const ShipRecord& record) const {
  if (cgroups_ != nullptr) return record.cgroup.empty() ? 0 : ShipCgroups::procs(record.cgroup).size();
  return sessionMembers(record.pid).size();
}

void Supervisor::shipExited(ShipRecord& record, ship_event::Exited exited) {
  exited.leftoverProcesses = countLeftovers(record);
  std::string name = record.spec.name, dir = record.cgroup;
  pid_t session = record.pid;
  stepShip(record, exited);
  ShipRecord* after = findMutable(name);
  if (exited.leftoverProcesses == 0) {
    if (!dir.empty() && (after == nullptr || after->cgroup != dir || after->status != ShipStatus::running))
      releaseCgroup(dir);
    return;
  }
  log_.info("ship " + name + ": " + std::to_string(exited.leftoverProcesses) +
            " processes left behind by its main process" +
            (after != nullptr && controlGroup(*after) ? ", stopping them" : ", left running (kill mode process)"));
  if (after == nullptr || !controlGroup(*after)) return;
  killLeftovers(dir, dir.empty() ? session : 0, kLeftoverTimeoutMs);
}

// SIGTERM now, SIGKILL (cgroup.kill) at the timeout, as systemd does.
void Supervisor::killLeftovers(const std::string& dir, pid_t session, int64_t timeoutMs) {
  std::string key = dir.empty() ? "session:" + std::to_string(session) : dir;
  if (!dir.empty()) ShipCgroups::signalAll(dir, SIGTERM);
  else
    for (pid_t pid : sessionMembers(session)) kill(pid, SIGTERM);
  auto& slot = leftoverKills_[key];
  if (slot) return;  // already on its way
  slot = std::make_unique<LeftoverKill>();
  slot->owner = this;
  slot->dir = dir;
  slot->session = session;
  uv_timer_init(loop_, slot->timer.make());
  slot->timer->data = slot.get();
  uv_timer_start(slot->timer.get(), [](uv_timer_t* h) { killLeftoversNow(*static_cast<LeftoverKill*>(h->data)); },
                 static_cast<uint64_t>(timeoutMs), 0);
}

void Supervisor::trackCgroup(const std::string& dir, const std::string& name) {
  shipOfCgroup_[dir] = name;
  cgroups_->watch(dir);
}

void Supervisor::releaseCgroup(const std::string& dir) {
  if (cgroups_ == nullptr || dir.empty()) return;
  cgroups_->unwatch(dir);
  shipOfCgroup_.erase(dir);
  leftoverKills_.erase(dir);
  if (!ShipCgroups::remove(dir)) log_.warn("cannot remove the cgroup " + dir + ": " + strerror(errno));
}

void Supervisor::cgroupEmptied(const std::string& dir) {
  auto owner = shipOfCgroup_.find(dir);
  if (owner == shipOfCgroup_.end()) return;
  std::string name = owner->second;
  ShipRecord* record = findMutable(name);
  // The main process is still ours to reap (a zombie leaves its cgroup): its exit releases it.
  if (record != nullptr && record->cgroup == dir && record->status == ShipStatus::running) return;
  releaseCgroup(dir);
  if (record == nullptr || record->cgroup != dir) return;
  record->processesLeft = 0;  // carried by the next commit, as lastCheckedAt
  if (treeWaiters_.erase(name) > 0) onStopped(name);
}

bool Supervisor::treeBusy(const ShipRecord& record) const {
  return cgroups_ != nullptr && !record.cgroup.empty() && controlGroup(record) && record.status != ShipStatus::running &&
         record.status != ShipStatus::backoff && shipOfCgroup_.count(record.cgroup) > 0 &&
         ShipCgroups::populated(record.cgroup);
}

// kill mode control-group: every process of the run; process: the main one.
bool Supervisor::signalTree(const ShipRecord& record, int signal) {
  if (cgroups_ != nullptr && !record.cgroup.empty() && controlGroup(record))
    return ShipCgroups::signalAll(record.cgroup, signal) > 0 || !ShipCgroups::populated(record.cgroup);
  if (!controlGroup(record)) {
    if (auto viaPidfd = parts_.watcher.signal(record.spec.name, signal)) return *viaPidfd;
    return kill(record.pid, signal) == 0;
  }
  return signalShip(record, signal);
}

void Supervisor::killTree(const ShipRecord& record) {
  if (cgroups_ != nullptr && !record.cgroup.empty() && controlGroup(record)) {
    ShipCgroups::kill(record.cgroup);
    return;
  }
  if (record.status == ShipStatus::running) signalTree(record, SIGKILL);
}

void Supervisor::pauseShips(const PendingReply& to, const std::vector<std::string>& names, bool pause) {
  if (refuseUnknown(to, names)) return;
  if (cgroups_ == nullptr)
    return gate_.replyError(to, errc::unsupported,
                            std::string("cannot ") + (pause ? "pause" : "resume") +
                                ": process tracking is by session, not cgroup (no writable cgroup v2)");
  for (const auto& name : names) {
    const ShipRecord* record = find(name);
    if (record->status != ShipStatus::running || record->cgroup.empty())
      return gate_.replyError(to, errc::not_running,
                              "ship '" + name + "' is not running (" + statusName(record->status) + ")");
  }
  json ships = json::array();
  for (const auto& name : names) {
    const ShipRecord* record = find(name);
    bool done = ShipCgroups::freeze(record->cgroup, pause);
    log_.info(std::string(pause ? "paused" : "resumed") + " ship " + name + (done ? "" : " (failed)"));
    json ship = shipRecordToJson(*record);
    ship["paused"] = ShipCgroups::frozen(record->cgroup) || (pause && done);
    ships.push_back(ship);
  }
  gate_.deliver([this, to, ships = std::move(ships)] { gate_.reply(to, {{"ships", ships}}); });
}

// Every run cgroup of the subtree: ours on record, leftovers of an ended run,
// or a run spawned before a daemon crash whose record never committed.
void Supervisor::reconcileCgroups() {
  if (cgroups_ == nullptr) return;
  for (const auto& dir : cgroups_->runDirs()) {
    std::string name = cgroups_->shipOf(dir);
    ShipRecord* record = findMutable(name);
    bool onRecord = record != nullptr && record->cgroup == dir;
    bool running = record != nullptr && record->status == ShipStatus::running;
    if (!ShipCgroups::populated(dir)) {
      if (onRecord && running) trackCgroup(dir, name);  // a zombie of ours: released when reaped
      else ShipCgroups::remove(dir);
      continue;
    }
    trackCgroup(dir, name);
    if (onRecord && running) continue;
    std::vector<pid_t> members = ShipCgroups::procs(dir);
    if (record != nullptr && (onRecord || running)) {
      // What an ended run (or an older one) left behind.
      if (onRecord) record->processesLeft = members.size();
      if (controlGroup(*record)) killLeftovers(dir, 0, kLeftoverTimeoutMs);
      continue;
    }
    if (validateShipName(name) != "" || members.empty()) continue;
    // The oldest process of the cgroup stands for the run: the main one, unless it exited.
    pid_t main = 0;
    uint64_t startTime = UINT64_MAX;
    for (pid_t pid : members)
      if (auto stat = readProcStat(pid); stat && stat->startTime < startTime) {
        main = pid;
        startTime = stat->startTime;
      }
    if (main == 0) continue;
    ShipRecord& ship = ships_.try_emplace(name).first->second;
    if (ship.spec.name.empty()) {
      ship.spec.name = name;
      ship.spec.command = commandLineOf(main);
      if (ship.spec.command.empty()) ship.spec.command = {"?"};
    }
    ship.cgroup = dir;
    stepShip(ship, ship_event::Reconciled{main, startTime, bootId_, "spawned before a daemon crash; not acknowledged"});
    parts_.watcher.watch(name, main, startTime, parts_.pidfds.open(main));
  }
}

}  // namespace keelan
