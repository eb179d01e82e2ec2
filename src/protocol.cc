#include "keelan/protocol.h"

namespace keelan {

using nlohmann::json;

namespace {
// nlohmann's parser recurses once per nesting level; refuse deep documents
// before parsing so no request can exhaust the stack.
bool nestingWithin(const std::string& text, int limit) {
  int depth = 0;
  bool inString = false, escaped = false;
  for (char c : text) {
    if (inString) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') inString = false;
      continue;
    }
    if (c == '"') inString = true;
    else if (c == '[' || c == '{') {
      if (++depth > limit) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}
}  // namespace

// The path of the first string (value or key) holding a NUL byte, or "".
// C strings stop at NUL, so such a string would mean one thing here and
// another to exec, open or sh: refuse it whatever field it is in.
static std::string nulField(const json& value, const std::string& where) {
  if (value.is_string()) return value.get_ref<const std::string&>().find('\0') != std::string::npos ? where : "";
  if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i)
      if (auto found = nulField(value[i], where + "[" + std::to_string(i) + "]"); !found.empty()) return found;
  } else if (value.is_object()) {
    for (const auto& [key, member] : value.items()) {
      std::string path = where.empty() ? key : where + "." + key;
      if (key.find('\0') != std::string::npos) return (where.empty() ? std::string("a key") : where + " key");
      if (auto found = nulField(member, path); !found.empty()) return found;
    }
  }
  return "";
}

std::optional<Request> parseRequest(const std::string& line, ProtocolError& error, json& id) {
  id = nullptr;
  if (line.size() > kMaxRequestBytes) {
    error = {errc::request_too_large, "request line exceeds 1 MiB"};
    return std::nullopt;
  }
  if (!nestingWithin(line, kMaxJsonDepth)) {
    error = {errc::invalid_request, "request nests deeper than " + std::to_string(kMaxJsonDepth) + " levels"};
    return std::nullopt;
  }
  json body = json::parse(line, nullptr, false);
  if (body.is_discarded()) {
    error = {errc::invalid_request, "request is not valid JSON (or not valid UTF-8)"};
    return std::nullopt;
  }
  if (!body.is_object()) {
    error = {errc::invalid_request, "request must be a JSON object"};
    return std::nullopt;
  }
  if (auto field = nulField(body, ""); !field.empty()) {
    if (auto it = body.find("id"); it != body.end() && (it->is_number_integer() || it->is_string())) id = *it;
    error = {errc::invalid_argument, "field '" + field + "' contains a NUL byte"};
    return std::nullopt;
  }
  if (auto it = body.find("id"); it != body.end()) {
    if (!it->is_string() && !it->is_number_integer() && !it->is_null()) {
      error = {errc::invalid_request, "field 'id' must be a string or an integer"};
      return std::nullopt;
    }
    id = *it;
  }
  auto op = body.find("op");
  if (op == body.end() || !op->is_string()) {
    error = {errc::invalid_request, "field 'op' (a string) is required"};
    return std::nullopt;
  }
  return Request{id, op->get<std::string>(), std::move(body)};
}

json okResponse(const json& id) { return json{{"id", id}, {"ok", true}}; }

json errorResponse(const json& id, const ProtocolError& error) {
  return json{{"id", id}, {"ok", false}, {"error", {{"code", error.code}, {"message", error.message}}}};
}

std::string encodeLine(const json& message) {
  std::string line = message.dump(-1, ' ', false, json::error_handler_t::replace);
  line.push_back('\n');
  return line;
}

std::string replyHead(const json& id) {
  return "{\"id\":" + id.dump(-1, ' ', false, json::error_handler_t::replace) + ",\"ok\":true,";
}

std::string replyLineWith(const json& id, std::string_view key, std::string_view valueText) {
  std::string line = replyHead(id);
  line.reserve(line.size() + key.size() + valueText.size() + 5);
  line += '"';
  line += key;
  line += "\":";
  line += valueText;
  line += "}\n";
  return line;
}

std::string eventLine(const std::string& event, const std::string& ship, const std::string& recordText,
                      const std::string& at) {
  auto text = [](const std::string& value) { return json(value).dump(-1, ' ', false, json::error_handler_t::replace); };
  return "{\"at\":" + text(at) + ",\"event\":" + text(event) + ",\"record\":" + recordText + ",\"ship\":" + text(ship) +
         "}\n";
}

namespace {
Error badField(const char* field, const std::string& what) {
  return {errc::invalid_argument, std::string("field '") + field + "' " + what};
}

template <typename T>
T orThrow(Result<T> result) {
  if (!result) throw result.error();
  return std::move(result).value();
}
}  // namespace

Result<std::string> readString(const json& body, const char* field) {
  auto it = body.find(field);
  if (it == body.end()) return badField(field, "is required");
  if (!it->is_string()) return badField(field, "must be a string");
  return it->get<std::string>();
}

Result<std::string> readOptionalString(const json& body, const char* field, const std::string& fallback) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_string()) return badField(field, "must be a string");
  return it->get<std::string>();
}

Result<bool> readOptionalBool(const json& body, const char* field, bool fallback) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return badField(field, "must be a boolean");
  return it->get<bool>();
}

Result<int64_t> readOptionalInt(const json& body, const char* field, int64_t fallback, int64_t min, int64_t max) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) return badField(field, "must be an integer");
  // Unsigned values beyond int64 come back negative from get<int64_t>.
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(max))
    return badField(field, "is out of range");
  int64_t value = it->get<int64_t>();
  if (value < min || value > max)
    return badField(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return value;
}

std::string requireString(const json& body, const char* field) { return orThrow(readString(body, field)); }

std::string optionalString(const json& body, const char* field, const std::string& fallback) {
  return orThrow(readOptionalString(body, field, fallback));
}

bool optionalBool(const json& body, const char* field, bool fallback) {
  return orThrow(readOptionalBool(body, field, fallback));
}

int64_t optionalInt(const json& body, const char* field, int64_t fallback, int64_t min, int64_t max) {
  return orThrow(readOptionalInt(body, field, fallback, min, max));
}

}  // namespace keelan
