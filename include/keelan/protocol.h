#pragma once
// The daemon's wire protocol: newline-delimited JSON over a Unix stream
// socket. One request object per line, one response object per line. See
// docs/protocol.md. This module is pure: it is tested without sockets.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "keelan/error.h"

namespace keelan {

inline constexpr size_t kMaxRequestBytes = size_t{1} << 20;
inline constexpr int kMaxJsonDepth = 32;

// Stable error codes; clients match on them.
namespace errc {
inline constexpr const char* invalid_request = "invalid_request";
inline constexpr const char* unknown_op = "unknown_op";
inline constexpr const char* invalid_argument = "invalid_argument";
inline constexpr const char* not_found = "not_found";
inline constexpr const char* already_running = "already_running";
inline constexpr const char* not_running = "not_running";
inline constexpr const char* spawn_failed = "spawn_failed";
inline constexpr const char* storage_failed = "storage_failed";
inline constexpr const char* permission_denied = "permission_denied";
inline constexpr const char* request_too_large = "request_too_large";
inline constexpr const char* shutting_down = "shutting_down";
inline constexpr const char* busy = "busy";
inline constexpr const char* store_unavailable = "store_unavailable";
inline constexpr const char* conflict = "conflict";
inline constexpr const char* reply_too_large = "reply_too_large";
inline constexpr const char* out_of_memory = "out_of_memory";
inline constexpr const char* unsupported = "unsupported";
}  // namespace errc

// The name this module gave keelan's one error type before it had one.
using ProtocolError = Error;

struct Request {
  nlohmann::json id;  // null when absent
  std::string op;
  nlohmann::json body;  // the whole request object
};

// Parses one request line. On failure fills `error` (and `id` when the line
// was an object carrying one) and returns nullopt.
std::optional<Request> parseRequest(const std::string& line, ProtocolError& error, nlohmann::json& id);

nlohmann::json okResponse(const nlohmann::json& id);
nlohmann::json errorResponse(const nlohmann::json& id, const ProtocolError& error);
// One line of output; invalid UTF-8 is replaced rather than thrown on.
std::string encodeLine(const nlohmann::json& message);

// `{"id":ID,"ok":true,` : the start of a success reply composed as text, for
// replies whose members are JSON texts already (records, long lists).
std::string replyHead(const nlohmann::json& id);
// A whole success reply with one member given as JSON text:
// `{"id":ID,"ok":true,"KEY":VALUETEXT}\n`. `key` must need no escaping.
std::string replyLineWith(const nlohmann::json& id, std::string_view key, std::string_view valueText);
// One event line, keys in the order a json object dumps them:
// `{"at":AT,"event":EVENT,"record":RECORDTEXT,"ship":SHIP}\n`. `recordText` is
// JSON text already; invalid UTF-8 in the strings is replaced.
std::string eventLine(const std::string& event, const std::string& ship, const std::string& recordText,
                      const std::string& at);

// Typed field access returning the invalid_argument error instead of
// throwing it. `null` counts as absent for the optional ones.
Result<std::string> readString(const nlohmann::json& body, const char* field);
Result<std::string> readOptionalString(const nlohmann::json& body, const char* field, const std::string& fallback);
Result<bool> readOptionalBool(const nlohmann::json& body, const char* field, bool fallback);
Result<int64_t> readOptionalInt(const nlohmann::json& body, const char* field, int64_t fallback, int64_t min,
                                int64_t max);

// The same, throwing the ProtocolError (invalid_argument).
std::string requireString(const nlohmann::json& body, const char* field);
std::string optionalString(const nlohmann::json& body, const char* field, const std::string& fallback);
bool optionalBool(const nlohmann::json& body, const char* field, bool fallback);
int64_t optionalInt(const nlohmann::json& body, const char* field, int64_t fallback, int64_t min, int64_t max);

}  // namespace keelan
