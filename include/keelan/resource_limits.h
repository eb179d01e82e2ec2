#pragma once
// Per-ship rlimits (`--limit NAME=N[:M]`): their names, their text, and the
// helper options that set them before exec. Pure, so all of it is unit-tested.
#include <sys/resource.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace keelan {

inline constexpr uint64_t kRlimitInfinity = UINT64_MAX;

struct Rlimit {
  uint64_t soft = 0;
  uint64_t hard = 0;
  bool operator==(const Rlimit&) const = default;
};

// The limits a ship may set, as ulimit/docker --ulimit/systemd Limit* name them.
const std::vector<std::string>& rlimitNames();
// "N[:M]", each a number or `infinity`; N alone sets both (as docker's
// --ulimit and systemd's LimitNOFILE= do). Returns an error message, empty
// when valid (then `out` holds it).
std::string parseRlimit(const std::string& text, Rlimit& out);
// "SOFT:HARD", with `infinity`: what the record stores.
std::string rlimitText(const Rlimit& limit);

// Without a `nofile` of its own, a ship gets a soft nofile of 1024 whatever
// the daemon's (the unit raises the daemon's for its pidfd budget; select()
// users break above 1024), its hard limit the daemon's.
inline constexpr uint64_t kShipDefaultNofile = 1024;

// The helper's `--rlimit=NAME=SOFT:HARD` options for these limits plus the
// default nofile; `daemonNofile` is the daemon's own. Empty when the ship
// would inherit exactly what it gets anyway (no limits and the daemon's
// soft nofile already 1024), so such a ship needs no helper.
std::vector<std::string> rlimitHelperOptions(const std::map<std::string, Rlimit>& limits, const Rlimit& daemonNofile);

}  // namespace keelan
