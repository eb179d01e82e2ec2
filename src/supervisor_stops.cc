// The supervisor's stops: stop, rm, restart and deploy --replace wait for
// ships to die; wait waits for a ship to stop for good. All complete in
// onStopped(). kill signals and waits for nothing.
#include <csignal>
#include <cstring>

#include "keelan/protocol.h"
#include "keelan/supervisor.h"
#include "keelan/time_util.h"

namespace keelan {

using nlohmann::json;


Supervisor::~Supervisor() = default;

bool Supervisor::refuseUnknown(const PendingReply& to, const std::vector<std::string>& names) {
  for (const auto& name : names)
    if (find(name) == nullptr) {
      gate_.replyError(to, errc::not_found, "no ship named '" + name + "'");
      return true;
    }
  return false;
}

void Supervisor::stop(const PendingReply& to, const std::vector<std::string>& names, int signal, int64_t timeoutMs) {
  if (refuseUnknown(to, names)) return;
  for (const auto& name : names)
    if (refuseConflicting(to, name, ShipOp::stop)) return;
  auto request = std::make_unique<StopRequest>();
  request->reply = to;
  request->names = names;
  for (const auto& name : names) {
    ShipRecord* record = findMutable(name);
    if (record->status == ShipStatus::running) request->remaining.insert(name);
    // A pending restart is cancelled at once; a ship that is not running is
    // only marked wanted stopped (it stays down after a reboot).
    if (record->status != ShipStatus::running) stepShip(*record, ship_event::StopRequested{});
  }
  stopShips(std::move(request), signal, timeoutMs);
}

// All or nothing: every name is checked before any ship is touched.
void Supervisor::remove(const PendingReply& to, const std::vector<std::string>& names, bool force, int64_t timeoutMs) {
  if (refuseUnknown(to, names)) return;
  for (const auto& name : names) {
    if (refuseConflicting(to, name, ShipOp::remove)) return;
    if (find(name)->status == ShipStatus::running && !force)
      return gate_.replyError(to, errc::already_running, "ship '" + name + "' is running; stop it first or use --force");
  }
  auto request = std::make_unique<StopRequest>();
  request->reply = to;
  request->names = names;
  for (const auto& name : names) {
    ShipRecord* record = findMutable(name);
    if (record->status == ShipStatus::backoff) stepShip(*record, ship_event::StopRequested{});
    if (record->status == ShipStatus::running) request->remaining.insert(name);
  }
  request->removeAfter = true;
  request->kind = ShipOp::remove;
  stopShips(std::move(request), SIGTERM, timeoutMs);
}

// Like deploy --replace of each ship with its own definition, as one
// request: the ships that run are stopped (a stop by request: not
// restarted by policy, not a failure), a pending restart is cancelled, and
// once all are down each is started again. Stopped ones just start.
void Supervisor::restartShips(const PendingReply& to, const std::vector<std::string>& names, int64_t timeoutMs) {
  if (refuseUnknown(to, names)) return;
  for (const auto& name : names)
    if (refuseConflicting(to, name, ShipOp::replace)) return;
  auto request = std::make_unique<StopRequest>();
  request->reply = to;
  request->names = names;
  request->kind = ShipOp::replace;
  for (const auto& name : names) {
    ShipRecord* record = findMutable(name);
    if (record->status == ShipStatus::running) request->remaining.insert(name);
    if (record->status == ShipStatus::backoff) stepShip(*record, ship_event::StopRequested{});
  }
  request->then = [this, to, names] { startAgain(to, names); };
  stopShips(std::move(request), SIGTERM, timeoutMs);
}

// Answers with every ship's record; a ship whose spawn failed is among them
// with status `failed` and its `error`.
void Supervisor::startAgain(const PendingReply& to, const std::vector<std::string>& names) {
  if (gate_.outage().active()) return gate_.refuseNow(to, errc::store_unavailable, gate_.outage().message());
  json ships = json::array();
  for (const auto& name : names) {
    ShipRecord* record = findMutable(name);
    if (record == nullptr) continue;  // cannot be: an rm conflicts with the pending restart
    if (record->status != ShipStatus::running) {
      ShipSpec spec = record->spec;  // startShip assigns it back
      std::string error;
      startShip(*record, spec, false, error);
    }
    ships.push_back(shipRecordToJson(*record));
  }
  gate_.deliver([this, to, ships = std::move(ships)] { gate_.reply(to, {{"ships", ships}}); });
}

// All or nothing: an unknown or not running ship fails the request before
// anything is sent.
void Supervisor::signalShips(const PendingReply& to, const std::vector<std::string>& names, std::optional<int> signal) {
  if (refuseUnknown(to, names)) return;
  for (const auto& name : names)
    if (find(name)->status != ShipStatus::running)
      return gate_.replyError(to, errc::not_running,
                              "ship '" + name + "' is not running (" + statusName(find(name)->status) + ")");
  json ships = json::array();
  for (const auto& name : names) {
    const ShipRecord* record = find(name);
    int sent = signal.value_or(reloadSignalOf(record->spec));
    bool delivered = signalShip(*record, sent);
    log_.info("sent " + signalName(sent) + " to ship " + name + " pid=" + std::to_string(record->pid) +
              (delivered ? "" : std::string(" (failed: ") + strerror(errno) + ")"));
    ships.push_back({{"name", name}, {"processId", record->pid}, {"signal", signalName(sent)}, {"delivered", delivered}});
  }
  gate_.deliver([this, to, ships = std::move(ships)] { gate_.reply(to, {{"ships", ships}}); });
}

void Supervisor::wait(const PendingReply& to, const std::string& name) {
  const ShipRecord* record = find(name);
  if (record == nullptr) return gate_.replyError(to, errc::not_found, "no ship named '" + name + "'");
  // A ship in backoff has not stopped for good: wait on.
  if (record->status != ShipStatus::running && record->status != ShipStatus::backoff) {
    json ship = shipRecordToJson(*record);
    gate_.deliver([this, to, ship] { gate_.reply(to, {{"ship", ship}}); });
    return;
  }
  waiters_.emplace(name, to);
}

bool Supervisor::refuseConflicting(const PendingReply& to, const std::string& name, ShipOp incoming) {
  for (const auto& stop : stops_) {
    if (stop->remaining.count(name) == 0) continue;
    if (const char* why = shipOpConflict(stop->kind, incoming)) {
      gate_.replyError(to, errc::conflict, std::string("cannot ") + shipOpName(incoming) + " ship '" + name + "': " + why +
                                          "; try again when it is done");
      return true;
    }
  }
  return false;
}

bool Supervisor::signalShip(const ShipRecord& record, int signal) {
  if (auto viaPidfd = parts_.watcher.signal(record.spec.name, signal)) return *viaPidfd;
  if (kill(-record.pid, signal) == 0) return true;
  return kill(record.pid, signal) == 0;
}

void Supervisor::stopShips(std::unique_ptr<StopRequest> request, int signal, int64_t timeoutMs) {
  StopRequest* stop = request.get();
  stop->owner = this;
  for (const auto& name : stop->remaining) {
    ShipRecord* record = findMutable(name);
    stepShip(*record, ship_event::StopRequested{});
    log_.info("stopping ship " + name + " pid=" + std::to_string(record->pid) + " with " + signalName(signal));
    if (!signalTree(*record, signal)) log_.warn("cannot signal ship " + name + ": " + strerror(errno));
  }
  stops_.push_back(std::move(request));
  if (stop->remaining.empty()) {
    onStopped("");
    return;
  }
  uv_timer_init(loop_, stop->timer.make());
  stop->timer->data = stop;
  uv_timer_start(stop->timer.get(), [](uv_timer_t* h) {
    auto* s = static_cast<StopRequest*>(h->data);
    s->owner->escalate(*s);
  }, static_cast<uint64_t>(timeoutMs), 0);
}

void Supervisor::escalate(StopRequest& stop) {
  for (const auto& name : stop.remaining) {
    const ShipRecord* record = find(name);
    if (record == nullptr) continue;
    bool tree = treeWaiters_.count(name) > 0;
    if (record->status != ShipStatus::running && !tree) continue;
    log_.warn("ship " + name + " did not stop in time; " +
              (cgroups_ != nullptr && record->spec.killMode == ShipSpec::KillMode::controlGroup
                   ? "sending SIGKILL to its cgroup (cgroup.kill)"
                   : "sending SIGKILL"));
    killTree(*record);
  }
}

// Called when a ship has stopped (or with "" to re-check): completes waits
// and stop requests that were waiting for it.
void Supervisor::onStopped(const std::string& name) {
  if (!name.empty()) {
    auto range = waiters_.equal_range(name);
    std::vector<PendingReply> done;
    for (auto it = range.first; it != range.second; ++it) done.push_back(it->second);
    waiters_.erase(range.first, range.second);
    if (const ShipRecord* record = find(name)) {
      json ship = shipRecordToJson(*record);
      for (const auto& to : done) gate_.deliver([this, to, ship] { gate_.reply(to, {{"ship", ship}}); });
    }
  }
  // The finished requests leave stops_ before any of them goes on: a `then`
  // (a restart's start, a replace's deploy) may stop ships and come back here.
  std::vector<std::unique_ptr<StopRequest>> finished;
  for (auto it = stops_.begin(); it != stops_.end();) {
    if (!name.empty()) (*it)->remaining.erase(name);
    if (!(*it)->remaining.empty()) {
      ++it;
      continue;
    }
    finished.push_back(std::move(*it));
    it = stops_.erase(it);
  }
  for (auto& stop : finished) {
    stop->timer.reset();
    if (stop->then) stop->then();
    else finishStop(*stop);
  }
}

// Each record is rendered once, as text, for the reply and the event alike.
void Supervisor::finishStop(StopRequest& stop) {
  std::string ships = "[";
  for (const auto& n : stop.names) {
    const ShipRecord* record = find(n);
    if (record == nullptr) continue;
    std::string text = shipRecordText(*record);
    if (ships.size() > 1) ships += ',';
    ships += text;
    if (stop.removeAfter) {
      forgetShip(n);
      gate_.publish("removed", n, text);
    }
  }
  ships += ']';
  PendingReply to = stop.reply;
  gate_.deliver([this, to, line = replyLineWith(to.requestId, "ships", ships)]() mutable {
    gate_.replyLine(to, std::move(line));
  });
}

void Supervisor::forgetShip(const std::string& name) {
  const ShipRecord* record = find(name);
  // Only this ship's entries: its old PID may name another ship by now.
  if (auto owned = shipOfPid_.find(record->pid); owned != shipOfPid_.end() && owned->second == name) {
    parts_.reaper.untrack(record->pid);
    shipOfPid_.erase(owned);
  }
  if (auto owned = sessionOwner_.find(record->pid); owned != sessionOwner_.end() && owned->second == name)
    sessionOwner_.erase(owned);
  treeWaiters_.erase(name);
  ships_.erase(name);
  parts_.spawner.forgetShip(name);
  logLimited_.erase(name);
  gate_.batch().remove(name);
  log_.info("ship " + name + " removed");
}

void Supervisor::shutDown() {
  shuttingDown_ = true;
  for (auto& [name, to] : waiters_) gate_.replyError(to, errc::shutting_down, "the daemon is shutting down");
  waiters_.clear();
  for (auto& stop : stops_) gate_.replyError(stop->reply, errc::shutting_down, "the daemon is shutting down");
  stops_.clear();
  backoffTimer_.reset();
  treeWaiters_.clear();
  leftoverKills_.clear();
  if (cgroups_ != nullptr) cgroups_->stop();
}

}  // namespace keelan
