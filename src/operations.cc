#include "keelan/operations.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <map>
#include <set>

#include "keelan/env_file.h"
#include "keelan/exit_status.h"
#include "keelan/protocol.h"
#include "keelan/requests.h"
#include "keelan/store_file.h"
#include "keelan/time_util.h"

namespace keelan {

using nlohmann::json;

namespace {
bool isWrite(const std::string& op) {
  return op == "deploy" || op == "stop" || op == "rm" || op == "restart" || op == "restart-ships";
}

// The names of the ships whose status `pick` takes, in name order.
template <typename Pick>
std::vector<std::string> shipsWhere(const std::map<std::string, ShipRecord>& ships, Pick pick) {
  std::vector<std::string> names;
  for (const auto& [name, record] : ships)
    if (pick(record.status)) names.push_back(name);
  return names;
}

bool pendingOrRunning(ShipStatus status) { return status == ShipStatus::running || status == ShipStatus::backoff; }

// Resets a flag when the request has been handled, however it ends.
struct ResetOnExit {
  CommitGate& gate;
  ~ResetOnExit() { gate.setReplyAtOnce(false); }
};
}  // namespace

void Operations::handleLine(const ClientInfo& client, const std::string& line) {
  ProtocolError error;
  json id;
  auto request = parseRequest(line, error, id);
  if (!request) {
    supervisor_.gate().deliver([this, clientId = client.id, text = encodeLine(errorResponse(id, error))]() mutable {
      supervisor_.outbox().sendLine(clientId, std::move(text));
    });
    return;
  }
  PendingReply to{client.id, request->id};
  if (daemon_.shuttingDown()) return supervisor_.gate().replyError(to, errc::shutting_down, "the daemon is shutting down");
  const std::string op = request->op;  // the request is moved into its decoding
  if (supervisor_.gate().outage().active()) {
    // Writes are refused at once; reads are answered at once, from memory.
    if (isWrite(op)) {
      return supervisor_.gate().refuseNow(to, errc::store_unavailable, supervisor_.gate().outage().message());
    }
    supervisor_.gate().setReplyAtOnce(true);
  }
  ResetOnExit reset{supervisor_.gate()};
  try {
    Result<TypedRequest> typed = decodeRequest(std::move(*request));
    if (!typed) return supervisor_.gate().replyError(to, typed.error().code.c_str(), typed.error().message);
    std::visit([&](auto& r) { handle(client, to, r); }, typed.value());
  } catch (const ProtocolError& e) {
    supervisor_.gate().replyError(to, e.code.c_str(), e.message);
  } catch (const std::invalid_argument& e) {
    supervisor_.gate().replyError(to, errc::invalid_argument, e.what());
  } catch (const json::exception& e) {
    supervisor_.gate().replyError(to, errc::invalid_argument, e.what());
  } catch (const std::bad_alloc&) {
    log_.warn("out of memory handling a " + op + " request");
    supervisor_.gate().replyError(to, errc::out_of_memory, "out of memory handling the request");
  }
}

void Operations::handle(const ClientInfo&, const PendingReply& to, const requests::Ping&) {
  supervisor_.gate().deliver([this, to] { supervisor_.gate().reply(to, daemon_.identity()); });
}

void Operations::handle(const ClientInfo&, const PendingReply& to, const requests::Wait& r) {
  supervisor_.wait(to, r.name);
}

void Operations::handle(const ClientInfo&, const PendingReply& to, const requests::Remove& r) {
  if (!r.allStopped) return supervisor_.remove(to, r.names, r.force, r.timeoutMs);
  auto stopped = [](ShipStatus status) { return !pendingOrRunning(status); };
  supervisor_.remove(to, shipsWhere(supervisor_.ships(), stopped), false, r.timeoutMs);
}

void Operations::handle(const ClientInfo&, const PendingReply& to, const requests::Stop& r) {
  if (!r.labels.empty()) return supervisor_.stop(to, supervisor_.shipsWithLabels(r.labels), r.signal, r.timeoutMs);
  if (!r.all) return supervisor_.stop(to, r.names, r.signal, r.timeoutMs);
  supervisor_.stop(to, shipsWhere(supervisor_.ships(), pendingOrRunning), r.signal, r.timeoutMs);
}

void Operations::handle(const ClientInfo&, const PendingReply& to, const requests::RestartShips& r) {
  supervisor_.restartShips(to, r.names, r.timeoutMs);
}

void Operations::handle(const ClientInfo&, const PendingReply& to, const requests::Kill& r) {
  supervisor_.signalShips(to, r.names, r.signal);
}

void Operations::handle(const ClientInfo&, const PendingReply& to, const requests::Reload& r) {
  supervisor_.signalShips(to, r.names, std::nullopt);
}

void Operations::handle(const ClientInfo& client, const PendingReply& to, const requests::Restart& r) {
  daemon_.restart(client, to, r);
}

void Operations::handle(const ClientInfo&, const PendingReply& to, const requests::Metrics&) {
  supervisor_.gate().deliver([this, to] { supervisor_.gate().reply(to, {{"text", daemon_.renderMetrics()}}); });
}

void Operations::handle(const ClientInfo&, const PendingReply& to, const requests::StoreCheck&) {
  supervisor_.gate().deliver([this, to, report = storeCheckReport(config_.paths.dataDir)] {
    supervisor_.gate().reply(to, {{"report", report}});
  });
}

void Operations::handle(const ClientInfo&, const PendingReply& to, const requests::Status&) {
  json out = daemon_.identity();
  out.update(configStatusFields(config_));
  out["running"] = true;
  out["uptimeSeconds"] = daemon_.uptimeSeconds();
  out["ships"] = supervisor_.countsByStatus();
  out["adopted"] = supervisor_.adopted();
  out["processTracking"] = supervisor_.processTracking();
  out["orphansReaped"] = supervisor_.counters().orphansReaped;
  out["clients"] = supervisor_.outbox().clients();
  out["store"] = supervisor_.gate().outage().toJson(monotonicMs());
  out["store"]["quarantined"] = supervisor_.quarantined();
  supervisor_.gate().deliver([this, to, out] { supervisor_.gate().reply(to, out); });
}

void Operations::handle(const ClientInfo&, const PendingReply& to, const requests::List& r) {
  bool all = r.all;
  const auto& ships = supervisor_.ships();
  // Written as text, a record at a time: with 10,000 ships a DOM of the
  // whole reply would be built, copied and dumped for nothing.
  std::string line = replyHead(to.requestId) + "\"ships\":[";
  bool first = true;
  for (const auto& [name, record] : ships) {
    if (!all && record.status != ShipStatus::running && record.status != ShipStatus::backoff) continue;
    if (!r.labels.empty() && !labelsMatch(record.spec.labels, r.labels)) continue;
    std::string text = shipRecordText(record);
    // One allocation, sized from the first record: growing a multi-MB string
    // by doubling copies it and touches twice the fresh pages.
    if (first) line.reserve(std::min(line.size() + (text.size() + 64) * ships.size() + 4, config_.maxReplyBytes + 1));
    else line.push_back(',');
    first = false;
    line += text;
    if (line.size() > config_.maxReplyBytes) break;  // refused when sent: stop building it
  }
  line += "]}\n";
  supervisor_.gate().deliver([this, to, line = std::move(line)]() mutable { supervisor_.gate().replyLine(to, std::move(line)); });
}

namespace {
// path → the keys it sets now (read afresh, as the next start will), or
// null when it cannot be read. Never the values: only the spawner sees those.
json envFileKeys(const std::vector<std::string>& paths) {
  json keys = json::object();
  for (const auto& path : paths) {
    auto read = readEnvFile(path);
    if (!read) {
      keys[path] = nullptr;
      continue;
    }
    json names = json::array();
    for (const auto& entry : read.value()) names.push_back(entry.first);
    keys[path] = std::move(names);
  }
  return keys;
}
}  // namespace

void Operations::handle(const ClientInfo&, const PendingReply& to, const requests::Inspect& r) {
  const std::string& name = r.name;
  const ShipRecord* record = supervisor_.find(name);
  if (record == nullptr) return supervisor_.gate().replyError(to, errc::not_found, "no ship named '" + name + "'");
  std::vector<RunRecord> runs;
  supervisor_.flush();  // the history read below must include everything decided so far
  if (auto e = supervisor_.store().loadRuns(name, runs); !e.empty())
    return supervisor_.gate().replyError(to, errc::storage_failed, e);
  json history = json::array();
  for (const auto& run : runs) history.push_back(runRecordToJson(run));
  json ship = shipRecordToJson(*record);
  ship["history"] = std::move(history);
  if (!record->spec.envFiles.empty()) ship["envFileKeys"] = envFileKeys(record->spec.envFiles);
  supervisor_.gate().deliver([this, to, ship = std::move(ship)] { supervisor_.gate().reply(to, {{"ship", ship}}); });
}

void Operations::handle(const ClientInfo&, const PendingReply& to, const requests::Deploy& r) {
  const std::string& name = r.name;
  ShipSpec spec;
  const ShipRecord* existing = supervisor_.find(name);
  if (r.ship && r.merge) {
    // Flags given without a command override the last definition.
    if (existing == nullptr)
      return supervisor_.gate().replyError(to, errc::not_found,
                                    "ship '" + name + "' was never deployed; give a command or a ship file");
    json merged = shipSpecToJson(existing->spec);
    merged.erase("name");
    for (auto& [key, value] : r.ship->items()) {
      if (key == "env" && value.is_object() && merged["env"].is_object()) merged["env"].update(value);
      else merged[key] = value;
    }
    spec = shipSpecFromJson(merged, name);
  } else if (r.ship) {
    spec = shipSpecFromJson(*r.ship, name);
  } else if (existing != nullptr) {
    spec = existing->spec;  // a redeploy by name keeps apply's mark
  } else {
    return supervisor_.gate().replyError(to, errc::not_found,
                                  "ship '" + name + "' was never deployed; give a command or a ship file");
  }
  spec.name = name;
  if (r.ship) spec.managedByApply = r.applied;
  if (auto e = validateShipSpec(spec); !e.empty()) return supervisor_.gate().replyError(to, errc::invalid_argument, e);
  if (!spec.user.empty() && geteuid() != 0)
    return supervisor_.gate().replyError(to, errc::invalid_argument, "user '" + spec.user + "' needs a daemon running as root");
  supervisor_.deploy(to, spec, r.replace);
}

// The subscription starts in order with the replies: events decided before
// it are not sent to it.
void Operations::handle(const ClientInfo& client, const PendingReply& to, const requests::Events&) {
  // Counted now, so events decided before the reply goes out are built and
  // queued behind it, and the subscriber gets them.
  supervisor_.outbox().subscribing(client.id);
  supervisor_.gate().deliver([this, to] {
    if (!supervisor_.outbox().isOpen(to.clientId)) return;
    supervisor_.outbox().subscribed(to.clientId);
    supervisor_.gate().reply(to, {{"subscribed", true}});
  });
}

// A compacted copy of the committed store while the daemon runs. Writers
// wait meanwhile (one loop); see docs/protocol.md for how long.
void Operations::handle(const ClientInfo& client, const PendingReply& to, const requests::StoreBackup& r) {
  const std::string& path = r.path;
  std::string error;
  int fd = createBackupFile(path, client.uid, client.gid, error);
  if (fd < 0) return supervisor_.gate().replyError(to, errc::storage_failed, error);
  supervisor_.flush();  // everything decided so far, unless the store cannot commit
  auto started = std::chrono::steady_clock::now();
  error = supervisor_.store().backupTo(fd);
  struct stat info {};
  fstat(fd, &info);
  close(fd);
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (!error.empty()) {
    removeBackupFile(path);
    log_.error("store backup to " + path + " failed: " + error);
    return supervisor_.gate().replyError(to, errc::storage_failed, error);
  }
  log_.info("store backed up to " + path + " (" + std::to_string(info.st_size) + " bytes, " + std::to_string(ms) + " ms)");
  json out = {{"path", path}, {"bytes", info.st_size}, {"durationMs", ms}, {"uncommitted", supervisor_.gate().uncommitted()}};
  supervisor_.gate().deliver([this, to, out] { supervisor_.gate().reply(to, out); });
}

}  // namespace keelan
