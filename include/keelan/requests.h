#pragma once
// Typed requests: each op of docs/protocol.md as a struct holding exactly the
// fields the daemon acts on, decoded and validated from the request object,
// with the defaults, ranges, codes and messages of the protocol. A request
// that decodes is valid as far as the request alone can tell; what needs the
// daemon's state (does the ship exist, is it running) is left to the daemon.
// Pure: no I/O, no clock.
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "keelan/error.h"
#include "keelan/protocol.h"

namespace keelan {

// Distinct ship names one `stop` may name.
inline constexpr size_t kMaxShipsPerRequest = 1000;

// `labels: {KEY: VALUE, ...}` of a request: ships carrying all of them.
using LabelSelector = std::map<std::string, std::string>;

namespace requests {

struct Ping {
  static constexpr std::string_view kOp = "ping";
  bool operator==(const Ping&) const = default;
};
struct Status {
  static constexpr std::string_view kOp = "status";
  bool operator==(const Status&) const = default;
};
struct Deploy {
  static constexpr std::string_view kOp = "deploy";
  std::string name;  // a valid ship name (validateShipName)
  // The definition as sent, a JSON object; absent or null: redeploy the last
  // one. Kept raw because with `merge` it amends the stored definition before
  // it is decoded (shipSpecFromJson).
  std::optional<nlohmann::json> ship;
  bool merge = false;  // true only together with `ship`
  bool replace = false;
  bool applied = false;  // sent by `keelan apply`: the ship is apply's to prune
  bool operator==(const Deploy&) const = default;
};
struct List {
  static constexpr std::string_view kOp = "list";
  bool all = false;
  LabelSelector labels{};  // only ships carrying every one; empty: all
  bool operator==(const List&) const = default;
};
struct Inspect {
  static constexpr std::string_view kOp = "inspect";
  std::string name;
  bool operator==(const Inspect&) const = default;
};
struct Stop {
  static constexpr std::string_view kOp = "stop";
  // 1..kMaxShipsPerRequest, distinct, in request order; empty with `labels`:
  // the daemon resolves the selector (Supervisor::shipsWithLabels).
  std::vector<std::string> names;
  int signal = SIGTERM;            // 1..64, or any signal parseSignal knows
  int64_t timeoutMs = 10000;       // 0..86,400,000, whole seconds
  bool all = false;                // every ship running or backing off; `names` is then empty
  LabelSelector labels{};
  bool operator==(const Stop&) const = default;
};
struct Wait {
  static constexpr std::string_view kOp = "wait";
  std::string name;
  bool operator==(const Wait&) const = default;
};
struct Remove {
  static constexpr std::string_view kOp = "rm";
  std::vector<std::string> names;  // as for stop; empty with allStopped
  bool force = false;
  int64_t timeoutMs = 10000;  // 0..86,400,000, whole seconds
  bool allStopped = false;    // every ship neither running nor backing off
  bool operator==(const Remove&) const = default;
};
// Stop, then start with the same definition: one new run per ship. The op
// is not called "restart": that one restarts the daemon.
struct RestartShips {
  static constexpr std::string_view kOp = "restart-ships";
  std::vector<std::string> names;  // as for stop
  int64_t timeoutMs = 10000;       // before SIGKILL, as for stop
  bool operator==(const RestartShips&) const = default;
};
// A signal to running ships, nothing else: no stop request, no escalation.
struct Kill {
  static constexpr std::string_view kOp = "kill";
  std::vector<std::string> names;  // as for stop
  int signal = SIGTERM;
  bool operator==(const Kill&) const = default;
};
// Each ship's own reloadSignal (SIGHUP unless its definition says otherwise).
struct Reload {
  static constexpr std::string_view kOp = "reload";
  std::vector<std::string> names;  // as for stop
  bool operator==(const Reload&) const = default;
};
struct Events {
  static constexpr std::string_view kOp = "events";
  bool operator==(const Events&) const = default;
};
struct Restart {
  static constexpr std::string_view kOp = "restart";
  std::optional<int> intervalSeconds;  // 1..86400; absent: keep the daemon's
  // New values of live options (option → value), checked by the daemon
  // (config_options.h); null: none. The new sources and keelan.toml path.
  nlohmann::json options;
  std::optional<std::map<std::string, std::string>> sources;
  std::optional<std::string> configFile;
  bool operator==(const Restart&) const = default;
};
struct Metrics {
  static constexpr std::string_view kOp = "metrics";
  bool operator==(const Metrics&) const = default;
};
struct StoreBackup {
  static constexpr std::string_view kOp = "store-backup";
  std::string path;  // as given; the daemon checks and creates it
  bool operator==(const StoreBackup&) const = default;
};
struct StoreCheck {
  static constexpr std::string_view kOp = "store-check";
  bool operator==(const StoreCheck&) const = default;
};

}  // namespace requests

using TypedRequest =
    std::variant<requests::Ping, requests::Status, requests::Deploy, requests::List, requests::Inspect,
                 requests::Stop, requests::Wait, requests::Remove, requests::Events, requests::Restart,
                 requests::Metrics, requests::StoreBackup, requests::StoreCheck, requests::RestartShips,
                 requests::Kill, requests::Reload>;

struct ParsedRequest {
  nlohmann::json id;  // null when absent
  std::string op;
  TypedRequest request;
};

// The op's fields from a request parseRequest accepted. Errors:
// unknown_op "unknown op 'X'", or invalid_argument naming the first bad
// field, in the order the protocol reads them. `request.body` is consumed
// (a deploy's `ship` is moved out of it, not copied).
Result<TypedRequest> decodeRequest(Request request);

// parseRequest, then decodeRequest. `id` is filled whenever the line was an
// object carrying a usable id, so an error reply can carry it.
Result<ParsedRequest> parseTypedRequest(const std::string& line, nlohmann::json& id);

// The op name of a typed request ("rm" for requests::Remove).
std::string_view opName(const TypedRequest& request);

}  // namespace keelan
