#include "keelan/requests.h"

#include <set>

#include "keelan/exit_status.h"
#include "keelan/ship.h"

namespace keelan {

using nlohmann::json;

namespace {

Error invalidArgument(std::string message) { return {errc::invalid_argument, std::move(message)}; }

// `field` present and not null.
const json* given(const json& body, const char* field) {
  auto it = body.find(field);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

template <typename Op>
Result<TypedRequest> withoutFields(json&) {
  return TypedRequest{Op{}};
}

template <typename Op>
Result<TypedRequest> namedShip(json& body) {
  auto name = readString(body, "name");
  if (!name) return name.error();
  return TypedRequest{Op{std::move(name).value()}};
}

Result<TypedRequest> decodeDeploy(json& body) {
  requests::Deploy deploy;
  auto name = readString(body, "name");
  if (!name) return name.error();
  deploy.name = std::move(name).value();
  if (auto e = validateShipName(deploy.name); !e.empty()) return invalidArgument(e);
  if (auto ship = body.find("ship"); ship != body.end() && !ship->is_null()) {
    // `merge` means something only with a definition; without one it is not read.
    auto merge = readOptionalBool(body, "merge", false);
    if (!merge) return merge.error();
    deploy.merge = merge.value();
    if (!ship->is_object()) return invalidArgument("a ship definition must be a JSON object");
    deploy.ship = std::move(*ship);
  }
  auto replace = readOptionalBool(body, "replace", false);
  if (!replace) return replace.error();
  deploy.replace = replace.value();
  auto applied = readOptionalBool(body, "applied", false);
  if (!applied) return applied.error();
  deploy.applied = applied.value();
  return TypedRequest{std::move(deploy)};
}

// `labels`, absent or null: no selector. Each KEY=VALUE as a label is.
Result<LabelSelector> labelSelector(const json& body) {
  const json* labels = given(body, "labels");
  LabelSelector selector;
  if (labels == nullptr) return selector;
  const Error notStrings = invalidArgument("field 'labels' must be an object of strings");
  if (!labels->is_object() || labels->empty()) return invalidArgument("field 'labels' must be a non-empty object of strings");
  if (labels->size() > kMaxLabels) return invalidArgument("at most " + std::to_string(kMaxLabels) + " labels");
  for (const auto& [key, value] : labels->items()) {
    if (!value.is_string()) return notStrings;
    if (auto e = validateLabel(key, value.get<std::string>()); !e.empty()) return invalidArgument(e);
    selector[key] = value.get<std::string>();
  }
  return selector;
}

Result<TypedRequest> decodeList(json& body) {
  auto all = readOptionalBool(body, "all", false);
  if (!all) return all.error();
  auto labels = labelSelector(body);
  if (!labels) return labels.error();
  return TypedRequest{requests::List{all.value(), std::move(labels).value()}};
}

// `names` (each ship once, first occurrence kept) or else `name`.
Result<std::vector<std::string>> shipNames(const json& body) {
  auto names = body.find("names");
  if (names == body.end()) {
    auto name = readString(body, "name");
    if (!name) return name.error();
    return std::vector<std::string>{std::move(name).value()};
  }
  const Error notStrings = invalidArgument("field 'names' must be an array of strings");
  if (!names->is_array()) return notStrings;
  std::vector<std::string> distinct;
  std::set<std::string_view> seen;  // views into `body`, which outlives this call
  for (const auto& item : *names) {
    if (!item.is_string()) return notStrings;
    const std::string& name = item.get_ref<const std::string&>();
    // A name repeated a million times must not cost a million records.
    if (!seen.insert(name).second) continue;
    if (distinct.size() == kMaxShipsPerRequest)
      return invalidArgument("at most " + std::to_string(kMaxShipsPerRequest) + " ships per request");
    distinct.push_back(name);
  }
  if (distinct.empty()) return invalidArgument("no ship named");
  return distinct;
}

// A name parseSignal knows, or a number 1..64. `signal: null` is an error.
Result<int> stopSignal(const json& body) {
  auto value = body.find("signal");
  if (value == body.end()) return SIGTERM;
  int signal = 0;
  if (value->is_string()) {
    signal = parseSignal(value->get<std::string>());
  } else if (value->is_number_integer()) {
    auto number = readOptionalInt(body, "signal", SIGTERM, 1, 64);
    if (!number) return number.error();
    signal = static_cast<int>(number.value());
  }
  if (signal == 0) return invalidArgument("field 'signal' is not a signal");
  return signal;
}

Result<int64_t> timeoutMs(const json& body) {
  auto seconds = readOptionalInt(body, "timeoutSeconds", 10, 0, 86400);
  if (!seconds) return seconds.error();
  return seconds.value() * 1000;
}

// The ships named, or none when the boolean `selector` (every ship of some
// kind, picked by the daemon) is true; naming ships too is then an error.
Result<std::vector<std::string>> namesOrSelector(const json& body, const char* selector, bool& selected) {
  auto flag = readOptionalBool(body, selector, false);
  if (!flag) return flag.error();
  selected = flag.value();
  if (!selected) return shipNames(body);
  if (given(body, "names") || given(body, "name"))
    return invalidArgument(std::string("give either '") + selector + "' or ship names, not both");
  return std::vector<std::string>{};
}

Result<TypedRequest> decodeStop(json& body) {
  bool all = false;
  auto labels = labelSelector(body);
  if (!labels) return labels.error();
  bool bySelector = !labels.value().empty();
  if (bySelector && (body.contains("names") || body.contains("name") || body.contains("all")))
    return invalidArgument("give ship names, all or labels, not several");
  auto names = bySelector ? Result<std::vector<std::string>>(std::vector<std::string>{}) : namesOrSelector(body, "all", all);
  if (!names) return names.error();
  auto signal = stopSignal(body);
  if (!signal) return signal.error();
  auto timeout = timeoutMs(body);
  if (!timeout) return timeout.error();
  return TypedRequest{
      requests::Stop{std::move(names).value(), signal.value(), timeout.value(), all, std::move(labels).value()}};
}

Result<TypedRequest> decodeRemove(json& body) {
  bool allStopped = false;
  auto names = namesOrSelector(body, "allStopped", allStopped);
  if (!names) return names.error();
  auto force = readOptionalBool(body, "force", false);
  if (!force) return force.error();
  auto timeout = timeoutMs(body);
  if (!timeout) return timeout.error();
  return TypedRequest{requests::Remove{std::move(names).value(), force.value(), timeout.value(), allStopped}};
}

Result<TypedRequest> decodeRestartShips(json& body) {
  auto names = shipNames(body);
  if (!names) return names.error();
  auto timeout = timeoutMs(body);
  if (!timeout) return timeout.error();
  return TypedRequest{requests::RestartShips{std::move(names).value(), timeout.value()}};
}

Result<TypedRequest> decodeKill(json& body) {
  auto names = shipNames(body);
  if (!names) return names.error();
  auto signal = stopSignal(body);
  if (!signal) return signal.error();
  return TypedRequest{requests::Kill{std::move(names).value(), signal.value()}};
}

Result<TypedRequest> decodeReload(json& body) {
  auto names = shipNames(body);
  if (!names) return names.error();
  return TypedRequest{requests::Reload{std::move(names).value()}};
}

Result<TypedRequest> decodeRestart(json& body) {
  requests::Restart restart;
  if (given(body, "intervalSeconds")) {
    auto seconds = readOptionalInt(body, "intervalSeconds", 0, 1, 86400);
    if (!seconds) return seconds.error();
    restart.intervalSeconds = static_cast<int>(seconds.value());
  }
  if (const json* options = given(body, "config")) {
    if (!options->is_object()) return invalidArgument("field 'config' must be an object");
    restart.options = *options;
  }
  if (const json* sources = given(body, "sources")) {
    if (!sources->is_object()) return invalidArgument("field 'sources' must be an object");
    std::map<std::string, std::string> read;
    for (const auto& [option, source] : sources->items()) {
      if (!source.is_string()) return invalidArgument("field 'sources' must hold strings");
      read[option] = source.get<std::string>();
    }
    restart.sources = std::move(read);
  }
  if (const json* file = given(body, "configFile")) {
    if (!file->is_string()) return invalidArgument("field 'configFile' must be a string");
    restart.configFile = file->get<std::string>();
  }
  return TypedRequest{restart};
}

Result<TypedRequest> decodeStoreBackup(json& body) {
  auto path = readString(body, "path");
  if (!path) return path.error();
  return TypedRequest{requests::StoreBackup{std::move(path).value()}};
}

struct OpDecoder {
  std::string_view op;
  Result<TypedRequest> (*decode)(json& body);
};

constexpr OpDecoder kDecoders[] = {
    {requests::Ping::kOp, withoutFields<requests::Ping>},
    {requests::Status::kOp, withoutFields<requests::Status>},
    {requests::Deploy::kOp, decodeDeploy},
    {requests::List::kOp, decodeList},
    {requests::Inspect::kOp, namedShip<requests::Inspect>},
    {requests::Stop::kOp, decodeStop},
    {requests::Wait::kOp, namedShip<requests::Wait>},
    {requests::Remove::kOp, decodeRemove},
    {requests::Events::kOp, withoutFields<requests::Events>},
    {requests::Restart::kOp, decodeRestart},
    {requests::Metrics::kOp, withoutFields<requests::Metrics>},
    {requests::StoreBackup::kOp, decodeStoreBackup},
    {requests::StoreCheck::kOp, withoutFields<requests::StoreCheck>},
    {requests::RestartShips::kOp, decodeRestartShips},
    {requests::Kill::kOp, decodeKill},
    {requests::Reload::kOp, decodeReload},
};
static_assert(std::size(kDecoders) == std::variant_size_v<TypedRequest>, "one decoder per typed request");

}  // namespace

Result<TypedRequest> decodeRequest(Request request) {
  for (const auto& decoder : kDecoders)
    if (decoder.op == request.op) return decoder.decode(request.body);
  return Error{errc::unknown_op, "unknown op '" + request.op + "'"};
}

Result<ParsedRequest> parseTypedRequest(const std::string& line, json& id) {
  ProtocolError error;
  auto request = parseRequest(line, error, id);
  if (!request) return error;
  std::string op = request->op;
  auto typed = decodeRequest(std::move(*request));
  if (!typed) return typed.error();
  return ParsedRequest{id, std::move(op), std::move(typed).value()};
}

std::string_view opName(const TypedRequest& request) {
  return std::visit([](const auto& op) { return std::decay_t<decltype(op)>::kOp; }, request);
}

}  // namespace keelan
