#include "keelan/ship.h"

#include "keelan/log_rotation.h"
#include "keelan/time_util.h"

#include <algorithm>
#include <csignal>
#include <stdexcept>
#include <string_view>

namespace keelan {

using nlohmann::json;

std::optional<RestartPolicy> parseRestartPolicy(const std::string& text) {
  RestartPolicy policy;
  std::string mode = text.substr(0, text.find(':'));
  if (mode == "no") policy.mode = RestartPolicy::Mode::no;
  else if (mode == "on-failure") policy.mode = RestartPolicy::Mode::onFailure;
  else if (mode == "always") policy.mode = RestartPolicy::Mode::always;
  else return std::nullopt;
  if (text.size() > mode.size()) {
    if (policy.mode == RestartPolicy::Mode::no) return std::nullopt;
    std::string max = text.substr(mode.size() + 1);
    if (max.empty() || max.size() > 6 || max.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    policy.maxAttempts = std::stoi(max);
    if (policy.maxAttempts < 1) return std::nullopt;
  }
  return policy;
}

std::string restartPolicyText(const RestartPolicy& policy) {
  std::string text = policy.mode == RestartPolicy::Mode::no        ? "no"
                     : policy.mode == RestartPolicy::Mode::always ? "always"
                                                                   : "on-failure";
  if (policy.maxAttempts > 0) text += ":" + std::to_string(policy.maxAttempts);
  return text;
}

RestartDecision decideRestart(const RestartPolicy& policy, const ExitStatus& exit, uint64_t streak, int64_t runMs,
                              int64_t firstMs) {
  RestartDecision decision;
  if (policy.mode == RestartPolicy::Mode::no) return decision;
  // An unknown status (an adopted ship) counts as a failure.
  if (policy.mode == RestartPolicy::Mode::onFailure && exit.success()) return decision;
  if (runMs >= kBackoffResetAfterMs) streak = 0;
  if (policy.maxAttempts > 0 && streak >= static_cast<uint64_t>(policy.maxAttempts)) return decision;
  decision.restart = true;
  decision.streak = streak + 1;
  decision.delayMs = std::max<int64_t>(1, firstMs);
  for (uint64_t i = 0; i < streak && decision.delayMs < kBackoffCapMs; ++i) decision.delayMs *= 2;
  decision.delayMs = std::min(decision.delayMs, kBackoffCapMs);
  return decision;
}

std::string validateShipName(const std::string& name) {
  if (name.empty()) return "ship name is empty";
  if (name.size() > 63) return "ship name '" + name + "' is longer than 63 characters";
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(name[0])) return "ship name '" + name + "' must start with a letter or digit";
  for (char c : name)
    if (!alnum(c) && c != '.' && c != '_' && c != '-')
      return "ship name '" + name + "' may contain only letters, digits, '.', '_' and '-'";
  return "";
}

namespace {
bool hasNul(const std::string& text) { return text.find('\0') != std::string::npos; }
}  // namespace

std::string validateShipSpec(const ShipSpec& spec) {
  if (auto error = validateShipName(spec.name); !error.empty()) return error;
  if (spec.command.empty()) return "no command given";
  if (spec.command[0].empty()) return "the command is empty";
  for (const auto& arg : spec.command)
    if (hasNul(arg)) return "the command contains a NUL byte";
  if (!spec.root.empty() && spec.root[0] != '/') return "root must be an absolute path";
  if (!spec.cwd.empty() && spec.cwd[0] != '/') return "cwd must be an absolute path";
  if (hasNul(spec.root)) return "root contains a NUL byte";
  if (hasNul(spec.cwd)) return "cwd contains a NUL byte";
  if (hasNul(spec.user)) return "user contains a NUL byte";
  if (hasNul(spec.onExit)) return "onExit contains a NUL byte";
  for (const auto& [key, value] : spec.env) {
    if (key.empty() || key.find('=') != std::string::npos || hasNul(key))
      return "invalid environment variable name '" + key + "'";
    if (hasNul(value)) return "environment variable " + key + " contains a NUL byte";
  }
  if (spec.envFiles.size() > kMaxEnvFiles) return "at most " + std::to_string(kMaxEnvFiles) + " env files";
  for (const auto& path : spec.envFiles)
    if (path.empty() || path[0] != '/' || hasNul(path)) return "env file '" + path + "' must be an absolute path";
  if (spec.labels.size() > kMaxLabels) return "at most " + std::to_string(kMaxLabels) + " labels";
  for (const auto& [key, value] : spec.labels) {
    if (auto e = validateLabel(key, value); !e.empty()) return e;
  }
  for (const auto& [name, limit] : spec.limits) {
    const auto& names = rlimitNames();
    if (std::find(names.begin(), names.end(), name) == names.end()) return "unknown limit '" + name + "'";
    if (limit.soft > limit.hard) return "limit " + name + ": the soft limit is above the hard one";
  }
  return "";
}

std::string validateLabel(const std::string& key, const std::string& value) {
  auto keyChar = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '/';
  };
  if (key.empty() || key.size() > 63 || !std::all_of(key.begin(), key.end(), keyChar))
    return "label key '" + key + "' must be 1 to 63 letters, digits, '.', '_', '-' or '/'";
  if (value.size() > 253 || std::any_of(value.begin(), value.end(), [](char c) { return c == '\0' || c == '\n'; }))
    return "label " + key + ": the value must be at most 253 characters, without NUL or newline";
  return "";
}

bool labelsMatch(const std::map<std::string, std::string>& labels, const std::map<std::string, std::string>& selector) {
  for (const auto& [key, value] : selector) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

namespace {
std::string stringField(const json& object, const char* field) {
  const auto& value = object.at(field);
  if (!value.is_string()) throw std::invalid_argument(std::string("field '") + field + "' must be a string");
  return value.get<std::string>();
}

// "USR1" for a signal parseSignal knows by name, else its number.
std::string reloadSignalText(int signal) {
  std::string name = signalName(signal);
  return parseSignal(name) == signal ? name.substr(3) : std::to_string(signal);
}

std::map<std::string, std::string> stringObject(const json& value, const char* field) {
  std::map<std::string, std::string> out;
  if (value.is_null()) return out;
  const std::string message = std::string("field '") + field + "' must be an object of strings";
  if (!value.is_object()) throw std::invalid_argument(message);
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) throw std::invalid_argument(message);
    out[key] = item.get<std::string>();
  }
  return out;
}
// One path, or an array of them.
std::vector<std::string> stringOrStrings(const json& value, const char* field) {
  if (value.is_null()) return {};
  if (value.is_string()) return {value.get<std::string>()};
  const std::string message = std::string("field '") + field + "' must be a string or an array of strings";
  if (!value.is_array()) throw std::invalid_argument(message);
  std::vector<std::string> out;
  for (const auto& item : value) {
    if (!item.is_string()) throw std::invalid_argument(message);
    out.push_back(item.get<std::string>());
  }
  return out;
}
// {"nofile": "1024:4096", "core": 0}: each value N, "N" or "N:M".
std::map<std::string, Rlimit> limitsObject(const json& value) {
  std::map<std::string, Rlimit> out;
  if (value.is_null()) return out;
  if (!value.is_object()) throw std::invalid_argument("field 'limits' must be an object such as {\"nofile\": \"1024:4096\"}");
  const auto& names = rlimitNames();
  for (const auto& [name, item] : value.items()) {
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw std::invalid_argument("unknown limit '" + name + "' (known: as, core, cpu, fsize, memlock, nofile, nproc, stack)");
    std::string text;
    if (item.is_number_unsigned()) text = std::to_string(item.get<uint64_t>());
    else if (item.is_number_integer() && item.get<int64_t>() >= 0) text = std::to_string(item.get<int64_t>());
    else if (item.is_string()) text = item.get<std::string>();
    else throw std::invalid_argument("limit " + name + " must be N[:M] (numbers or infinity)");
    Rlimit limit;
    if (auto error = parseRlimit(text, limit); !error.empty()) throw std::invalid_argument("limit " + name + ": " + error);
    out[name] = limit;
  }
  return out;
}

std::map<std::string, std::string> limitsText(const std::map<std::string, Rlimit>& limits) {
  std::map<std::string, std::string> out;
  for (const auto& [name, limit] : limits) out[name] = rlimitText(limit);
  return out;
}
}  // namespace

ShipSpec shipSpecFromJson(const json& object, const std::string& name) {
  if (!object.is_object()) throw std::invalid_argument("a ship definition must be a JSON object");
  ShipSpec spec;
  spec.name = name;
  for (const auto& [key, value] : object.items()) {
    if (key == "name") {
      if (!value.is_string()) throw std::invalid_argument("field 'name' must be a string");
      if (spec.name.empty()) spec.name = value.get<std::string>();
    } else if (key == "root") {
      spec.root = value.is_null() ? "" : stringField(object, "root");
    } else if (key == "cwd") {
      spec.cwd = value.is_null() ? "" : stringField(object, "cwd");
    } else if (key == "user") {
      spec.user = value.is_null() ? "" : stringField(object, "user");
    } else if (key == "maxLogSize") {
      if (value.is_null()) continue;
      std::optional<uint64_t> size;
      if (value.is_number_unsigned()) size = value.get<uint64_t>();
      else if (value.is_string()) size = parseSize(value.get<std::string>());
      if (!size || *size == 0 || *size > (uint64_t{1} << 50))
        throw std::invalid_argument("field 'maxLogSize' must be a size such as 10M or a number of bytes");
      spec.maxLogSize = *size;
    } else if (key == "maxLogFiles") {
      if (value.is_null()) continue;
      // Signed or not: a number built in code (the CLI's flag) is a signed one.
      if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > 1000)
        throw std::invalid_argument("field 'maxLogFiles' must be an integer from 1 to 1000");
      spec.maxLogFiles = static_cast<int>(value.get<int64_t>());
    } else if (key == "reloadSignal") {
      if (value.is_null()) continue;
      int signal = 0;
      if (value.is_string()) signal = parseSignal(value.get<std::string>());
      else if (value.is_number_integer() && value.get<int64_t>() >= 1 && value.get<int64_t>() <= 64)
        signal = static_cast<int>(value.get<int64_t>());
      if (signal == 0) throw std::invalid_argument("field 'reloadSignal' must be a signal such as HUP or USR1");
      spec.reloadSignal = signal;
    } else if (key == "onExit") {
      spec.onExit = value.is_null() ? "" : stringField(object, "onExit");
    } else if (key == "restart") {
      if (value.is_null()) continue;
      auto policy = parseRestartPolicy(stringField(object, "restart"));
      if (!policy) throw std::invalid_argument("field 'restart' must be no, on-failure[:MAX] or always[:MAX]");
      spec.restart = *policy;
    } else if (key == "command") {
      if (!value.is_array()) throw std::invalid_argument("field 'command' must be an array of strings");
      for (const auto& arg : value) {
        if (!arg.is_string()) throw std::invalid_argument("field 'command' must be an array of strings");
        spec.command.push_back(arg.get<std::string>());
      }
    } else if (key == "env") {
      spec.env = stringObject(value, "env");
    } else if (key == "envFile") {
      spec.envFiles = stringOrStrings(value, "envFile");
    } else if (key == "labels") {
      spec.labels = stringObject(value, "labels");
    } else if (key == "killMode") {
      if (value.is_null()) continue;
      auto mode = value.is_string() ? parseKillMode(value.get<std::string>()) : std::nullopt;
      if (!mode) throw std::invalid_argument("field 'killMode' must be control-group or process");
      spec.killMode = *mode;
    } else if (key == "limits") {
      spec.limits = limitsObject(value);
    } else {
      throw std::invalid_argument("unknown field '" + key + "'");
    }
  }
  return spec;
}

json shipSpecToJson(const ShipSpec& spec) {
  json out = {{"name", spec.name}, {"command", spec.command}, {"env", spec.env}};
  out["root"] = spec.root.empty() ? json(nullptr) : json(spec.root);
  out["cwd"] = spec.cwd.empty() ? json(nullptr) : json(spec.cwd);
  out["user"] = spec.user.empty() ? json(nullptr) : json(spec.user);
  out["restart"] = restartPolicyText(spec.restart);
  out["onExit"] = spec.onExit.empty() ? json(nullptr) : json(spec.onExit);
  out["maxLogSize"] = spec.maxLogSize > 0 ? json(spec.maxLogSize) : json(nullptr);
  out["maxLogFiles"] = spec.maxLogFiles > 0 ? json(spec.maxLogFiles) : json(nullptr);
  if (spec.reloadSignal > 0) out["reloadSignal"] = reloadSignalText(spec.reloadSignal);
  out["envFile"] = spec.envFiles;
  out["labels"] = spec.labels;
  out["killMode"] = killModeName(spec.killMode);
  out["limits"] = limitsText(spec.limits);
  return out;
}

const char* killModeName(ShipSpec::KillMode mode) {
  return mode == ShipSpec::KillMode::process ? "process" : "control-group";
}

std::optional<ShipSpec::KillMode> parseKillMode(const std::string& text) {
  if (text == "control-group") return ShipSpec::KillMode::controlGroup;
  if (text == "process") return ShipSpec::KillMode::process;
  return std::nullopt;
}

int reloadSignalOf(const ShipSpec& spec) { return spec.reloadSignal > 0 ? spec.reloadSignal : SIGHUP; }

const char* wantedName(Wanted wanted) { return wanted == Wanted::running ? "running" : "stopped"; }

const char* statusName(ShipStatus status) {
  switch (status) {
    case ShipStatus::running: return "running";
    case ShipStatus::stopped: return "stopped";
    case ShipStatus::failed: return "failed";
    case ShipStatus::lost: return "lost";
    case ShipStatus::backoff: return "backoff";
  }
  return "lost";
}

std::optional<ShipStatus> parseStatus(const std::string& text) {
  for (auto status : {ShipStatus::running, ShipStatus::stopped, ShipStatus::failed, ShipStatus::lost, ShipStatus::backoff})
    if (text == statusName(status)) return status;
  return std::nullopt;
}

namespace {
json orNull(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }
std::string stringOrEmpty(const json& object, const char* field) {
  auto it = object.find(field);
  return (it == object.end() || !it->is_string()) ? "" : it->get<std::string>();
}
// Stored numbers are read only when they are what they claim to be: a float
// or a negative number where a counter belongs reads as 0, never as a cast.
uint64_t counterField(const json& in, const char* field) {
  auto it = in.find(field);
  return (it != in.end() && it->is_number_unsigned()) ? it->get<uint64_t>() : 0;
}
pid_t pidField(const json& in, const char* field) {
  auto it = in.find(field);
  if (it == in.end() || !it->is_number_integer()) return 0;
  int64_t value = it->is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(it->get<uint64_t>(), 1u << 30))
                                           : it->get<int64_t>();
  return (value > 0 && value <= 4194304) ? static_cast<pid_t>(value) : 0;
}
int smallIntField(const json& in, const char* field, int min, int max, bool& present) {
  auto it = in.find(field);
  present = false;
  if (it == in.end() || !it->is_number_integer()) return 0;
  int64_t value = it->is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(it->get<uint64_t>(), 1u << 30))
                                           : it->get<int64_t>();
  if (value < min || value > max) return 0;
  present = true;
  return static_cast<int>(value);
}

void putExit(json& out, const ExitStatus& exit) {
  out["exitCode"] = exit.kind == ExitStatus::Kind::exited ? json(exit.code) : json(nullptr);
  out["termSignal"] = exit.kind == ExitStatus::Kind::signaled ? json(exit.signal) : json(nullptr);
  out["coreDumped"] = exit.kind == ExitStatus::Kind::signaled ? json(exit.coreDumped) : json(nullptr);
}
ExitStatus getExit(const json& in) {
  bool present = false;
  int code = smallIntField(in, "exitCode", 0, 255, present);
  if (present) return ExitStatus::exited(code);
  int signal = smallIntField(in, "termSignal", 1, 127, present);
  if (present) {
    auto core = in.find("coreDumped");
    return ExitStatus::signaled(signal, core != in.end() && core->is_boolean() && core->get<bool>());
  }
  return {};
}
}  // namespace

namespace {
// JSON text of a string exactly as json::dump() writes it: printable ASCII
// without quotes or backslashes is copied; anything else goes through
// nlohmann, so escapes and replaced invalid UTF-8 stay identical.
void appendString(std::string& out, const std::string& text) {
  bool plain = std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
  if (!plain) {
    out += json(text).dump(-1, ' ', false, json::error_handler_t::replace);
    return;
  }
  out.push_back('"');
  out += text;
  out.push_back('"');
}
void appendStringOrNull(std::string& out, const std::string& text) {
  if (text.empty()) out += "null";
  else appendString(out, text);
}
// `memberStart` is the member's `,"key":` as dump() writes it.
void appendStringOrNullMember(std::string& out, std::string_view memberStart, const std::string& text) {
  out += memberStart;
  appendStringOrNull(out, text);
}
void appendStringArray(std::string& out, const std::vector<std::string>& items) {
  out.push_back('[');
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    appendString(out, items[i]);
  }
  out.push_back(']');
}
// std::map iterates in the byte order of its keys, the order dump() writes.
void appendStringObject(std::string& out, const std::map<std::string, std::string>& members) {
  out.push_back('{');
  bool first = true;
  for (const auto& [key, value] : members) {
    if (!first) out.push_back(',');
    first = false;
    appendString(out, key);
    out.push_back(':');
    appendString(out, value);
  }
  out.push_back('}');
}
}  // namespace

// Written directly rather than through a DOM: every commit, reply, event and
// `list` serialises records, and a DOM costs some 40 allocations each. The
// members are those of shipRecordToJson, in the byte order of their keys,
// which is the order dump() writes an object in; a unit test and the fuzzer
// check that the two agree.
std::string shipRecordText(const ShipRecord& record) {
  const ShipSpec& spec = record.spec;
  const ExitStatus& exit = record.exit;
  bool exited = exit.kind == ExitStatus::Kind::exited, signaled = exit.kind == ExitStatus::Kind::signaled;
  std::string out;
  out.reserve(640);
  out += "{\"adopted\":";
  out += record.adopted ? "true" : "false";
  appendStringOrNullMember(out, ",\"adoptedReason\":", record.adoptedReason);
  out += ",\"applied\":";
  out += spec.managedByApply ? "true" : "false";
  appendStringOrNullMember(out, ",\"bootId\":", record.bootId);
  appendStringOrNullMember(out, ",\"cgroup\":", record.cgroup);
  out += ",\"command\":";
  appendStringArray(out, spec.command);
  out += ",\"coreDumped\":";
  out += signaled ? (exit.coreDumped ? "true" : "false") : "null";
  appendStringOrNullMember(out, ",\"cwd\":", spec.cwd);
  out += ",\"deployCount\":" + std::to_string(record.deployCount);
  out += ",\"env\":";
  appendStringObject(out, spec.env);
  out += ",\"envFile\":";
  appendStringArray(out, spec.envFiles);
  appendStringOrNullMember(out, ",\"error\":", record.error);
  out += ",\"exitCode\":";
  out += exited ? std::to_string(exit.code) : "null";
  appendStringOrNullMember(out, ",\"exitStatusSource\":", record.exitSource);
  out += ",\"killMode\":\"";
  out += killModeName(spec.killMode);
  out += "\",\"labels\":";
  appendStringObject(out, spec.labels);
  appendStringOrNullMember(out, ",\"lastCheckedAt\":", record.lastCheckedAt);
  out += ",\"leftoverProcesses\":" + std::to_string(record.leftoverProcesses);
  out += ",\"limits\":";
  appendStringObject(out, limitsText(spec.limits));
  out += ",\"maxLogFiles\":";
  out += spec.maxLogFiles > 0 ? std::to_string(spec.maxLogFiles) : "null";
  out += ",\"maxLogSize\":";
  out += spec.maxLogSize > 0 ? std::to_string(spec.maxLogSize) : "null";
  out += ",\"name\":";
  appendString(out, spec.name);
  out += ",\"nextAttemptAt\":";
  if (record.status == ShipStatus::backoff) appendString(out, isoTime(record.nextAttemptMs));
  else out += "null";
  out += ",\"nextAttemptMs\":" + std::to_string(record.nextAttemptMs);
  appendStringOrNullMember(out, ",\"onExit\":", spec.onExit);
  out += ",\"processId\":";
  out += record.pid > 0 ? std::to_string(record.pid) : "null";
  out += ",\"processStartTime\":" + std::to_string(record.startTime);
  out += ",\"processesLeft\":" + std::to_string(record.processesLeft);
  if (spec.reloadSignal > 0) {
    out += ",\"reloadSignal\":";
    appendString(out, reloadSignalText(spec.reloadSignal));
  }
  out += ",\"restart\":";
  appendString(out, restartPolicyText(spec.restart));
  out += ",\"restartStreak\":" + std::to_string(record.restartStreak);
  out += ",\"restarts\":" + std::to_string(record.restarts);
  appendStringOrNullMember(out, ",\"root\":", spec.root);
  out += ",\"runCount\":" + std::to_string(record.runCount);
  appendStringOrNullMember(out, ",\"startedAt\":", record.startedAt);
  out += ",\"status\":";
  out += std::string("\"") + statusName(record.status) + "\"";
  appendStringOrNullMember(out, ",\"stoppedAt\":", record.stoppedAt);
  appendStringOrNullMember(out, ",\"stoppedReason\":", record.stoppedReason);
  out += ",\"termSignal\":";
  out += signaled ? std::to_string(exit.signal) : "null";
  appendStringOrNullMember(out, ",\"user\":", spec.user);
  out += ",\"wanted\":\"";
  out += wantedName(record.wanted);
  out += "\"}";
  return out;
}

json shipRecordToJson(const ShipRecord& record) {
  json out = shipSpecToJson(record.spec);
  out["status"] = statusName(record.status);
  out["processId"] = record.pid > 0 ? json(record.pid) : json(nullptr);
  out["processStartTime"] = record.startTime;
  out["bootId"] = orNull(record.bootId);
  out["startedAt"] = orNull(record.startedAt);
  out["stoppedAt"] = orNull(record.stoppedAt);
  putExit(out, record.exit);
  out["exitStatusSource"] = orNull(record.exitSource);
  out["stoppedReason"] = orNull(record.stoppedReason);
  out["error"] = orNull(record.error);
  out["adopted"] = record.adopted;
  out["adoptedReason"] = orNull(record.adoptedReason);
  out["cgroup"] = orNull(record.cgroup);
  out["leftoverProcesses"] = record.leftoverProcesses;
  out["processesLeft"] = record.processesLeft;
  out["applied"] = record.spec.managedByApply;
  out["wanted"] = wantedName(record.wanted);
  out["lastCheckedAt"] = orNull(record.lastCheckedAt);
  out["deployCount"] = record.deployCount;
  out["runCount"] = record.runCount;
  out["restarts"] = record.restarts;
  out["restartStreak"] = record.restartStreak;
  out["nextAttemptAt"] = record.status == ShipStatus::backoff ? json(isoTime(record.nextAttemptMs)) : json(nullptr);
  out["nextAttemptMs"] = record.nextAttemptMs;
  return out;
}

ShipRecord shipRecordFromJson(const json& in) {
  ShipRecord record;
  json specPart = json::object();
  for (const char* field : {"root", "cwd", "env", "command", "user", "restart", "onExit", "maxLogSize", "maxLogFiles",
                            "reloadSignal", "envFile", "labels", "killMode", "limits"})
    if (in.contains(field)) specPart[field] = in[field];
  record.spec = shipSpecFromJson(specPart, in.at("name").get<std::string>());
  record.status = parseStatus(stringOrEmpty(in, "status")).value_or(ShipStatus::lost);
  record.pid = pidField(in, "processId");
  record.startTime = counterField(in, "processStartTime");
  record.bootId = stringOrEmpty(in, "bootId");
  record.startedAt = stringOrEmpty(in, "startedAt");
  record.stoppedAt = stringOrEmpty(in, "stoppedAt");
  record.exit = getExit(in);
  record.exitSource = stringOrEmpty(in, "exitStatusSource");
  record.stoppedReason = stringOrEmpty(in, "stoppedReason");
  record.error = stringOrEmpty(in, "error");
  record.adopted = in.contains("adopted") && in["adopted"].is_boolean() && in["adopted"].get<bool>();
  record.adoptedReason = stringOrEmpty(in, "adoptedReason");
  record.cgroup = stringOrEmpty(in, "cgroup");
  record.leftoverProcesses = counterField(in, "leftoverProcesses");
  record.processesLeft = counterField(in, "processesLeft");
  record.spec.managedByApply = in.contains("applied") && in["applied"].is_boolean() && in["applied"].get<bool>();
  // Records from before desired state: what was running was wanted running.
  std::string wanted = stringOrEmpty(in, "wanted");
  bool wasUp = record.status == ShipStatus::running || record.status == ShipStatus::backoff;
  record.wanted = wanted == "running" || (wanted.empty() && wasUp) ? Wanted::running : Wanted::stopped;
  record.lastCheckedAt = stringOrEmpty(in, "lastCheckedAt");
  record.deployCount = counterField(in, "deployCount");
  record.runCount = counterField(in, "runCount");
  record.restarts = counterField(in, "restarts");
  record.restartStreak = counterField(in, "restartStreak");
  record.nextAttemptMs = static_cast<int64_t>(std::min<uint64_t>(counterField(in, "nextAttemptMs"), uint64_t{1} << 50));
  return record;
}

json runRecordToJson(const RunRecord& run) {
  json out = {{"run", run.run}, {"pid", run.pid > 0 ? json(run.pid) : json(nullptr)}};
  out["startedAt"] = orNull(run.startedAt);
  out["stoppedAt"] = orNull(run.stoppedAt);
  putExit(out, run.exit);
  out["stoppedReason"] = orNull(run.stoppedReason);
  out["leftoverProcesses"] = run.leftoverProcesses;
  return out;
}

RunRecord runRecordFromJson(const json& in) {
  RunRecord run;
  run.run = counterField(in, "run");
  run.pid = pidField(in, "pid");
  run.startedAt = stringOrEmpty(in, "startedAt");
  run.stoppedAt = stringOrEmpty(in, "stoppedAt");
  run.exit = getExit(in);
  run.stoppedReason = stringOrEmpty(in, "stoppedReason");
  run.leftoverProcesses = counterField(in, "leftoverProcesses");
  return run;
}

}  // namespace keelan
