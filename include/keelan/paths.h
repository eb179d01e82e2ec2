#pragma once
// Where a daemon keeps its files. Everything derives from one BASE_DIRECTORY
// so that two daemons on two base directories never share a file.
#include <optional>
#include <string>

namespace keelan {

struct Paths {
  std::string base;        // absolute
  std::string logFile;     // logs/monitor-daemon.log
  std::string pidFile;     // run/monitor-daemon.pid
  std::string socket;      // run/keelan.sock
  std::string dataDir;     // data/
  std::string shipLogDir;  // logs/ships/
  std::string shipsDir;    // ships/ (ship files for `keelan deploy NAME`)

  std::string shipOutLog(const std::string& name) const { return shipLogDir + "/" + name + ".out.log"; }
  std::string shipErrLog(const std::string& name) const { return shipLogDir + "/" + name + ".err.log"; }
};

// BASE_DIRECTORY from the environment wins; else BASE_DIRECTORY= in the
// defaults file (the packaged /etc/default/keelan); else the working directory.
std::string resolveBaseDirectory(const char* envValue, const std::string& defaultsFile, const std::string& cwd);
std::string currentBaseDirectory();
// The defaults file: KEELAN_DEFAULTS_FILE, else /etc/default/keelan.
std::string defaultsFilePath();
// The last NAME=VALUE of a defaults file (quotes removed); empty for none.
std::string valueFromDefaultsFile(const std::string& defaultsFile, const std::string& name);
Paths defaultPaths(const std::string& base);
// Makes `path` absolute against `cwd` and removes "." and "//" parts.
std::string absolutePath(const std::string& path, const std::string& cwd);
std::string currentDirectory();
std::string parentDirectory(const std::string& path);

}  // namespace keelan
