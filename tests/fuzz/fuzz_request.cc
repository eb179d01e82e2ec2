// libFuzzer target: one request line, as the daemon's handleLine sees it.
// Promise: for any bytes
// - parseTypedRequest either succeeds or returns an Error, and agrees with
//   the field access the daemon's op handlers did before typed requests
//   (legacyDecode below, kept as the oracle): same code and message on
//   failure, the same values on success;
// - for deploy, shipSpecFromJson + validateShipSpec on the kept definition
//   either succeed or throw std::invalid_argument / nlohmann::json::exception;
// - the response always encodes to one line of valid JSON.
// Nothing crashes, leaks, trips a sanitizer or throws anything else.
#include <cstddef>
#include <cstdint>
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
// came in, in their order, minus the checks that need the daemon's state
// (which the daemon still makes, after decoding). One deliberate difference:
// a deploy whose `ship` is not an object is refused here even with `merge`.
keelan::TypedRequest legacyFields(const std::string& op, const json& body) {
  using keelan::optionalBool, keelan::optionalInt, keelan::requireString;
  if (op == "ping") return rq::Ping{};
  if (op == "status") return rq::Status{};
  if (op == "events") return rq::Events{};
  if (op == "metrics") return rq::Metrics{};
  if (op == "store-check") return rq::StoreCheck{};
  if (op == "list") return rq::List{optionalBool(body, "all", false)};
  if (op == "inspect") return rq::Inspect{requireString(body, "name")};
  if (op == "wait") return rq::Wait{requireString(body, "name")};
  if (op == "store-backup") return rq::StoreBackup{requireString(body, "path")};
  if (op == "deploy") {
    rq::Deploy deploy{requireString(body, "name"), std::nullopt, false, false};
    if (auto e = keelan::validateShipName(deploy.name); !e.empty()) throw ProtocolError{keelan::errc::invalid_argument, e};
    if (body.contains("ship") && !body["ship"].is_null()) {
      deploy.merge = optionalBool(body, "merge", false);
      if (!body["ship"].is_object())
        throw ProtocolError{keelan::errc::invalid_argument, "a ship definition must be a JSON object"};
      deploy.ship = body["ship"];
    }
    deploy.replace = optionalBool(body, "replace", false);
    return deploy;
  }
  if (op == "stop") {
    rq::Stop stop;
    std::set<std::string> seen;
    const ProtocolError notNames{keelan::errc::invalid_argument, "field 'names' must be an array of strings"};
    if (body.contains("names")) {
      if (!body["names"].is_array()) throw notNames;
      for (const auto& item : body["names"]) {
        if (!item.is_string()) throw notNames;
        std::string name = item.get<std::string>();
        if (!seen.insert(name).second) continue;
        if (stop.names.size() == 1000) throw ProtocolError{keelan::errc::invalid_argument, "at most 1000 ships per request"};
        stop.names.push_back(std::move(name));
      }
    } else {
      stop.names.push_back(requireString(body, "name"));
    }
    if (stop.names.empty()) throw ProtocolError{keelan::errc::invalid_argument, "no ship named"};
    if (body.contains("signal")) {
      const json& value = body["signal"];
      stop.signal = value.is_string()           ? keelan::parseSignal(value.get<std::string>())
                    : value.is_number_integer() ? static_cast<int>(optionalInt(body, "signal", 15, 1, 64))
                                                : 0;
      if (stop.signal == 0) throw ProtocolError{keelan::errc::invalid_argument, "field 'signal' is not a signal"};
    }
    stop.timeoutMs = optionalInt(body, "timeoutSeconds", 10, 0, 86400) * 1000;
    return stop;
  }
  if (op == "rm") {
    rq::Remove remove{requireString(body, "name"), optionalBool(body, "force", false), 0};
    remove.timeoutMs = optionalInt(body, "timeoutSeconds", 10, 0, 86400) * 1000;
    return remove;
  }
  if (op == "restart") {
    rq::Restart restart;
    if (body.contains("intervalSeconds") && !body["intervalSeconds"].is_null())
      restart.intervalSeconds = static_cast<int>(optionalInt(body, "intervalSeconds", 30, 1, 86400));
    return restart;
  }
  throw ProtocolError{keelan::errc::unknown_op, "unknown op '" + op + "'"};
}

keelan::Result<keelan::TypedRequest> legacyDecode(const std::string& line) {
  ProtocolError error;
  json id;
  auto request = keelan::parseRequest(line, error, id);
  if (!request) return error;
  try {
    return legacyFields(request->op, request->body);
  } catch (const ProtocolError& e) {
    return e;
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
  if (parsed.ok() != legacy.ok()) __builtin_trap();
  std::string out;
  if (!parsed) {
    if (parsed.error() != legacy.error()) __builtin_trap();
    out = keelan::encodeLine(keelan::errorResponse(id, parsed.error()));
  } else {
    if (!(parsed->request == legacy.value())) __builtin_trap();
    if (parsed->id != id || keelan::opName(parsed->request) != parsed->op) __builtin_trap();
    if (auto* deploy = std::get_if<rq::Deploy>(&parsed->request)) decodeShip(*deploy);
    out = keelan::encodeLine(keelan::okResponse(parsed->id));
  }
  // One response is exactly one line of valid JSON.
  if (out.empty() || out.find('\n') != out.size() - 1) __builtin_trap();
  if (!json::accept(out)) __builtin_trap();
  return 0;
}
