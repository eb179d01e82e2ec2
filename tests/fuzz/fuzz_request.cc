// libFuzzer target: one request line, as the daemon's handleLine sees it.
// Promise: for any bytes, parseRequest plus the field access each op's handler
// performs (and, for deploy, shipSpecFromJson + validateShipSpec) either
// succeeds or fails with ProtocolError / std::invalid_argument /
// nlohmann::json::exception, and the response always encodes to one line.
// Nothing crashes, leaks, trips a sanitizer or throws anything else.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "keelan/exit_status.h"
#include "keelan/protocol.h"
#include "keelan/ship.h"

using nlohmann::json;

namespace {

// Mirrors the field access of Daemon::op* (src/daemon.cc), minus the effects.
void handle(const std::string& op, const json& body) {
  if (op == "list") {
    keelan::optionalBool(body, "all", false);
  } else if (op == "inspect" || op == "wait") {
    keelan::requireString(body, "name");
  } else if (op == "deploy") {
    std::string name = keelan::requireString(body, "name");
    if (!keelan::validateShipName(name).empty()) return;
    if (body.contains("ship") && !body["ship"].is_null()) {
      keelan::ShipSpec spec = keelan::shipSpecFromJson(body["ship"], name);
      spec.name = name;
      keelan::validateShipSpec(spec);
      keelan::shipSpecToJson(spec).dump();
    }
    keelan::optionalBool(body, "replace", false);
  } else if (op == "stop") {
    if (body.contains("names")) {
      if (!body["names"].is_array()) throw keelan::ProtocolError{keelan::errc::invalid_argument, "names"};
      for (const auto& item : body["names"])
        if (!item.is_string()) throw keelan::ProtocolError{keelan::errc::invalid_argument, "names"};
    } else {
      keelan::requireString(body, "name");
    }
    if (body.contains("signal")) {
      const json& value = body["signal"];
      int sig = value.is_string()           ? keelan::parseSignal(value.get<std::string>())
                : value.is_number_integer() ? static_cast<int>(keelan::optionalInt(body, "signal", 15, 1, 64))
                                            : 0;
      if (sig != 0) keelan::signalName(sig);
    }
    keelan::optionalInt(body, "timeoutSeconds", 10, 0, 86400);
  } else if (op == "rm") {
    keelan::requireString(body, "name");
    keelan::optionalBool(body, "force", false);
    keelan::optionalInt(body, "timeoutSeconds", 10, 0, 86400);
  }
  // Accessors a future handler may use; they must be total too.
  keelan::optionalString(body, "name", "");
  keelan::optionalString(body, "signal", "TERM");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string line(reinterpret_cast<const char*>(data), size);
  keelan::ProtocolError error;
  json id;
  auto request = keelan::parseRequest(line, error, id);
  std::string out;
  if (!request) {
    out = keelan::encodeLine(keelan::errorResponse(id, error));
  } else {
    try {
      handle(request->op, request->body);
      out = keelan::encodeLine(keelan::okResponse(request->id));
    } catch (const keelan::ProtocolError& e) {
      out = keelan::encodeLine(keelan::errorResponse(request->id, e));
    } catch (const std::invalid_argument& e) {
      out = keelan::encodeLine(keelan::errorResponse(request->id, {keelan::errc::invalid_argument, e.what()}));
    } catch (const json::exception& e) {
      out = keelan::encodeLine(keelan::errorResponse(request->id, {keelan::errc::invalid_argument, e.what()}));
    }
  }
  // One response is exactly one line of valid JSON.
  if (out.empty() || out.find('\n') != out.size() - 1) __builtin_trap();
  if (!json::accept(out)) __builtin_trap();
  return 0;
}
