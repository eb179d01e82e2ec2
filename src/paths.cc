#include "keelan/paths.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace keelan {

std::string currentDirectory() {
  std::vector<char> buffer(4096);
  if (getcwd(buffer.data(), buffer.size()) == nullptr) return "/";
  return buffer.data();
}

std::string absolutePath(const std::string& path, const std::string& cwd) {
  std::string joined = (!path.empty() && path[0] == '/') ? path : cwd + "/" + path;
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= joined.size()) {
    size_t end = joined.find('/', start);
    if (end == std::string::npos) end = joined.size();
    std::string part = joined.substr(start, end - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  std::string result;
  for (const auto& part : parts) result += "/" + part;
  return result.empty() ? "/" : result;
}

std::string parentDirectory(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string valueFromDefaultsFile(const std::string& defaultsFile, const std::string& name) {
  std::ifstream in(defaultsFile);
  std::string line;
  std::string found;
  const std::string key = name + "=";
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    found = line.substr(key.size());
    if (found.size() >= 2 && (found.front() == '"' || found.front() == '\'') && found.back() == found.front())
      found = found.substr(1, found.size() - 2);
  }
  return found;
}

std::string defaultsFilePath() {
  const char* defaults = getenv("KEELAN_DEFAULTS_FILE");
  return defaults ? defaults : "/etc/default/keelan";
}

std::string resolveBaseDirectory(const char* envValue, const std::string& defaultsFile, const std::string& cwd) {
  if (envValue != nullptr && *envValue != '\0') return absolutePath(envValue, cwd);
  if (!defaultsFile.empty()) {
    std::string fromFile = valueFromDefaultsFile(defaultsFile, "BASE_DIRECTORY");
    if (!fromFile.empty()) return absolutePath(fromFile, cwd);
  }
  return absolutePath(".", cwd);
}

std::string currentBaseDirectory() {
  return resolveBaseDirectory(getenv("BASE_DIRECTORY"), defaultsFilePath(), currentDirectory());
}

Paths defaultPaths(const std::string& base) {
  Paths paths;
  paths.base = base;
  const std::string prefix = base == "/" ? "" : base;
  paths.logFile = prefix + "/logs/monitor-daemon.log";
  paths.pidFile = prefix + "/run/monitor-daemon.pid";
  paths.socket = prefix + "/run/keelan.sock";
  paths.dataDir = prefix + "/data";
  paths.shipLogDir = prefix + "/logs/ships";
  paths.shipsDir = prefix + "/ships";
  return paths;
}

}  // namespace keelan
