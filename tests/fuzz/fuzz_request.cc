// libFuzzer target: one request line, as the daemon's handleLine sees it.
// Promise: for any bytes
// - parseTypedRequest either succeeds or returns an Error with a code and a
//   message; for the ops unchanged since typed requests came in it agrees
//   with the field access the daemon's handlers did before them (legacyDecode,
//   kept as the oracle); every decoded request holds its op's invariants
//   (holdsInvariants: names distinct and bounded, signals and timeouts in
//   range, selectors exclusive with names);
// - for deploy, shipSpecFromJson + validateShipSpec on the kept definition
//   either succeed or throw std::invalid_argument / nlohmann::json::exception;
// - the response always encodes to one line of valid JSON.
// Nothing crashes, leaks, trips a sanitizer or throws anything else.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "keelan/exit_status.h"
#include "keelan/protocol.h"
#include "keelan/requests.h"
#include "keelan/ship.h"

using nlohmann::json;
using keelan::ProtocolError;
namespace rq = keelan::requests;

namespace {

// The reads of Daemon::op* in src/daemon.cc as they were when typed requests
// came in, for the ops whose contract has not changed since, minus the checks
// that need the daemon's state. nullopt: an op that has grown (stop, rm, list,
// deploy, restart and the verbs added later); those are held to the
// invariants of holdsInvariants instead.
std::optional<keelan::TypedRequest> legacyFields(const std::string& op, const json& body) {
  using keelan::requireString;
  if (op == "ping") return rq::Ping{};
  if (op == "status") return rq::Status{};
  if (op == "events") return rq::Events{};
  if (op == "metrics") return rq::Metrics{};
  if (op == "store-check") return rq::StoreCheck{};
  if (op == "inspect") return rq::Inspect{requireString(body, "name")};
  if (op == "wait") return rq::Wait{requireString(body, "name")};
  if (op == "store-backup") return rq::StoreBackup{requireString(body, "path")};
  return std::nullopt;
}

// Names as the protocol promises them: 1..kMaxShipsPerRequest, distinct;
// or none, when a selector (`all`, `labels`, `allStopped`) stands for them.
bool goodNames(const std::vector<std::string>& names, bool selector) {
  if (names.size() > keelan::kMaxShipsPerRequest) return false;
  if (names.empty()) return selector;
  std::set<std::string> distinct(names.begin(), names.end());
  return distinct.size() == names.size();
}

bool goodTimeout(int64_t ms) { return ms >= 0 && ms <= 86400LL * 1000 && ms % 1000 == 0; }
bool goodSignal(int signal) { return signal >= 1 && signal <= 64; }

// What a decoded request promises the daemon, op by op.
bool holdsInvariants(const keelan::TypedRequest& request) {
  if (const auto* stop = std::get_if<rq::Stop>(&request))
    return goodNames(stop->names, stop->all || !stop->labels.empty()) && goodSignal(stop->signal) &&
           goodTimeout(stop->timeoutMs) && !(stop->all && !stop->names.empty());
  if (const auto* remove = std::get_if<rq::Remove>(&request))
    return goodNames(remove->names, remove->allStopped) && goodTimeout(remove->timeoutMs) &&
           !(remove->allStopped && !remove->names.empty());
  if (const auto* restart = std::get_if<rq::RestartShips>(&request))
    return goodNames(restart->names, false) && goodTimeout(restart->timeoutMs);
  if (const auto* kill = std::get_if<rq::Kill>(&request))
    return goodNames(kill->names, false) && goodSignal(kill->signal);
  if (const auto* reload = std::get_if<rq::Reload>(&request)) return goodNames(reload->names, false);
  if (const auto* deploy = std::get_if<rq::Deploy>(&request))
    return keelan::validateShipName(deploy->name).empty() && (!deploy->merge || deploy->ship) &&
           (!deploy->ship || deploy->ship->is_object());
  if (const auto* daemonRestart = std::get_if<rq::Restart>(&request))
    return !daemonRestart->intervalSeconds || (*daemonRestart->intervalSeconds >= 1 && *daemonRestart->intervalSeconds <= 86400);
  return true;
}

// nullopt: the line parses as a request of an op legacyFields does not cover.
std::optional<keelan::Result<keelan::TypedRequest>> legacyDecode(const std::string& line) {
  ProtocolError error;
  json id;
  auto request = keelan::parseRequest(line, error, id);
  if (!request) return keelan::Result<keelan::TypedRequest>{error};
  try {
    auto fields = legacyFields(request->op, request->body);
    if (!fields) return std::nullopt;
    return keelan::Result<keelan::TypedRequest>{std::move(*fields)};
  } catch (const ProtocolError& e) {
    return keelan::Result<keelan::TypedRequest>{e};
  }
}

// The definition a deploy keeps must decode or fail cleanly.
void decodeShip(const rq::Deploy& deploy) {
  if (!deploy.ship) return;
  try {
    keelan::ShipSpec spec = keelan::shipSpecFromJson(*deploy.ship, deploy.name);
    spec.name = deploy.name;
    keelan::validateShipSpec(spec);
    keelan::shipSpecToJson(spec).dump();
  } catch (const std::invalid_argument&) {
  } catch (const json::exception&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string line(reinterpret_cast<const char*>(data), size);
  json id;
  auto parsed = keelan::parseTypedRequest(line, id);
  auto legacy = legacyDecode(line);
  if (legacy) {
    if (parsed.ok() != legacy->ok()) __builtin_trap();
    if (!parsed && parsed.error() != legacy->error()) __builtin_trap();
    if (parsed && !(parsed->request == legacy->value())) __builtin_trap();
  }
  std::string out;
  if (!parsed) {
    if (parsed.error().code.empty() || parsed.error().message.empty()) __builtin_trap();
    out = keelan::encodeLine(keelan::errorResponse(id, parsed.error()));
  } else {
    if (!holdsInvariants(parsed->request)) __builtin_trap();
    if (parsed->id != id || keelan::opName(parsed->request) != parsed->op) __builtin_trap();
    if (auto* deploy = std::get_if<rq::Deploy>(&parsed->request)) decodeShip(*deploy);
    out = keelan::encodeLine(keelan::okResponse(parsed->id));
  }
  // One response is exactly one line of valid JSON.
  if (out.empty() || out.find('\n') != out.size() - 1) __builtin_trap();
  if (!json::accept(out)) __builtin_trap();
  return 0;
}
