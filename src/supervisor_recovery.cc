// The supervisor's start: every ship the store names is settled before the
// first client is served: still our child (an in-place restart), alive and
// adopted, or ended while no daemon watched it.
#include "keelan/proc_info.h"
#include "keelan/supervisor.h"

namespace keelan {

void Supervisor::recover(const std::string& bootId, pid_t self) {
  bootId_ = bootId;
  std::vector<ShipRecord> records;
  std::vector<std::string> quarantined;
  if (auto e = parts_.store.loadShips(records, &quarantined); !e.empty()) log_.error(e);
  for (const auto& line : quarantined) log_.error(line);
  quarantined_ = parts_.store.quarantinedCount();
  for (auto& loaded : records) {
    const std::string name = loaded.spec.name;
    ShipRecord& ship = ships_.emplace(name, std::move(loaded)).first->second;
    if (ship.spec.maxLogSize > 0) logLimited_.insert(name);
    if (ship.pid > 0) sessionOwner_[ship.pid] = name;
    if (ship.status == ShipStatus::backoff) backoffQueue_.emplace(ship.nextAttemptMs, name);
    if (ship.status == ShipStatus::running) recoverRunning(ship, bootId, self);
  }
  reconcileCgroups();
  startWantedAfterReboot(bootId);
}

// Like systemd's enabled units or docker's unless-stopped: a ship whose last
// run was in an earlier boot and that is wanted running starts again (one
// new run). A restart already pending by policy (backoff) is left to it.
void Supervisor::startWantedAfterReboot(const std::string& bootId) {
  std::vector<std::string> due;
  for (const auto& [name, ship] : ships_)
    if (ship.wanted == Wanted::running && !ship.bootId.empty() && ship.bootId != bootId &&
        ship.status != ShipStatus::running && ship.status != ShipStatus::backoff)
      due.push_back(name);
  for (const auto& name : due) {
    log_.info("ship " + name + " is wanted running: starting it after the reboot");
    ShipSpec spec = ships_.at(name).spec;
    spawn(PendingReply{}, spec);
  }
}

void Supervisor::recoverRunning(ShipRecord& ship, const std::string& bootId, pid_t self) {
  const std::string& name = ship.spec.name;
  if (ship.bootId != bootId) {
    stepShip(ship, ship_event::Exited{{}, "", "the host rebooted"});
    return;
  }
  // The pidfd first, then /proc: the pidfd pins the PID, so a start time
  // read after it proves the pidfd is the ship's. One read per ship.
  UniqueFd fd = ship.pid > 0 ? parts_.pidfds.open(ship.pid) : UniqueFd();
  auto stat = readProcStat(ship.pid);
  if (stat && stat->startTime == ship.startTime && stat->ppid == self) {
    // Still our child, alive or a zombie (we were re-executed in place):
    // waitid collects its exact status.
    parts_.reaper.track(ship.pid, std::move(fd));
    shipOfPid_[ship.pid] = name;
    return;
  }
  switch (ship.pid > 0 ? livenessOf(stat, ship.startTime) : Liveness::gone) {
    case Liveness::alive:
      stepShip(ship, ship_event::Adopted{});
      parts_.watcher.watch(name, ship.pid, ship.startTime, std::move(fd));
      return;
    case Liveness::gone:
      if (stat && stat->startTime == ship.startTime && stat->state == 'Z') {
        // Exited, but its new parent has not reaped it yet: a pidfd still
        // reaches it, and on Linux 6.15+ gives the exact status once reaped.
        stepShip(ship, ship_event::Adopted{true});
        parts_.watcher.watch(name, ship.pid, ship.startTime, std::move(fd));
        return;
      }
      stepShip(ship, ship_event::Exited{{}, "", "exited while the daemon was not running"});
      return;
    case Liveness::reused:
      stepShip(ship, ship_event::Exited{{}, "", "pid reused"});
      return;
  }
}

}  // namespace keelan
