#include "keelan/resource_limits.h"

#include <algorithm>
#include <charconv>

namespace keelan {

const std::vector<std::string>& rlimitNames() {
  static const std::vector<std::string> names = {"as", "core", "cpu", "fsize", "memlock", "nofile", "nproc", "stack"};
  return names;
}

namespace {
bool parseValue(const std::string& text, uint64_t& out) {
  if (text == "infinity" || text == "unlimited") {
    out = kRlimitInfinity;
    return true;
  }
  if (text.empty() || text.size() > 19) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::string valueText(uint64_t value) { return value == kRlimitInfinity ? "infinity" : std::to_string(value); }
}  // namespace

std::string parseRlimit(const std::string& text, Rlimit& out) {
  size_t colon = text.find(':');
  std::string soft = text.substr(0, colon), hard = colon == std::string::npos ? soft : text.substr(colon + 1);
  Rlimit limit;
  if (!parseValue(soft, limit.soft) || !parseValue(hard, limit.hard))
    return "'" + text + "' is not N[:M] (numbers or infinity)";
  if (limit.soft > limit.hard) return "soft limit " + soft + " is above the hard limit " + hard;
  out = limit;
  return "";
}

std::string rlimitText(const Rlimit& limit) { return valueText(limit.soft) + ":" + valueText(limit.hard); }

std::vector<std::string> rlimitHelperOptions(const std::map<std::string, Rlimit>& limits, const Rlimit& daemonNofile) {
  std::vector<std::string> options;
  if (limits.empty() && daemonNofile.soft == kShipDefaultNofile) return options;
  for (const auto& [name, limit] : limits) options.push_back("--rlimit=" + name + "=" + rlimitText(limit));
  if (limits.count("nofile") == 0) {
    Rlimit nofile{std::min(kShipDefaultNofile, daemonNofile.hard), daemonNofile.hard};
    options.push_back("--rlimit=nofile=" + rlimitText(nofile));
  }
  return options;
}

}  // namespace keelan
