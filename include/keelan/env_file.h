#pragma once
// Env files (`deploy --env-file`, `env-file` in ship files): KEY=VALUE lines
// as systemd's EnvironmentFile= reads them. The daemon reads them at each
// start of the ship, as root, so the file is treated as hostile: no symlink
// at the last component, a regular file only, at most kMaxEnvFileBytes, and
// every problem is an error naming the file and line (the start fails with
// it). Values are returned to the spawner only; nothing stores them.
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "keelan/error.h"

namespace keelan {

inline constexpr size_t kMaxEnvFileBytes = 1 << 20;

// Blank lines and lines starting with '#' or ';' are skipped. Otherwise
// KEY=VALUE: KEY a shell name ([A-Za-z_][A-Za-z0-9_]*), spaces around it
// and before VALUE dropped; VALUE in "double quotes" (\" \\ \n \t \$ escapes),
// 'single quotes' (literal), or bare (trailing spaces dropped). A later
// KEY wins. Pure: errors are invalid_argument "line N: ...".
Result<std::map<std::string, std::string>> parseEnvText(std::string_view text);

// Reads and parses one file; errors name the path.
Result<std::map<std::string, std::string>> readEnvFile(const std::string& path);

}  // namespace keelan
