#include "keelan/cgroup_hierarchy.h"

#include <fstream>
#include <sstream>
#include <vector>

namespace keelan {

namespace {
std::string readWhole(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescapeOctal(std::string_view field) {
  auto octal = [&](size_t k) { return k < field.size() && field[k] >= '0' && field[k] <= '7'; };
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0'));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < line.size()) {
    size_t end = line.find(' ', start);
    if (end == std::string_view::npos) end = line.size();
    if (end > start) out.push_back(line.substr(start, end - start));
    start = end + 1;
  }
  return out;
}
}  // namespace

std::optional<std::string> cgroup2MountIn(std::string_view mountinfo) {
  size_t start = 0;
  while (start < mountinfo.size()) {
    size_t end = mountinfo.find('\n', start);
    if (end == std::string_view::npos) end = mountinfo.size();
    auto parts = fields(mountinfo.substr(start, end - start));
    start = end + 1;
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
    size_t dash = 6;
    while (dash < parts.size() && parts[dash] != "-") ++dash;
    if (dash + 1 < parts.size() && parts[dash + 1] == "cgroup2" && parts.size() > 4) return unescapeOctal(parts[4]);
  }
  return std::nullopt;
}

std::optional<std::string> unifiedCgroupIn(std::string_view procCgroup) {
  size_t start = 0;
  while (start < procCgroup.size()) {
    size_t end = procCgroup.find('\n', start);
    if (end == std::string_view::npos) end = procCgroup.size();
    std::string_view line = procCgroup.substr(start, end - start);
    start = end + 1;
    if (line.substr(0, 3) != "0::") continue;
    std::string_view path = line.substr(3);
    if (path.empty() || path[0] != '/') return std::nullopt;
    // A cgroup deleted under us reads "/path (deleted)": not a place to live in.
    if (path.find(" (deleted)") != std::string_view::npos) return std::nullopt;
    return std::string(path);
  }
  return std::nullopt;
}

std::optional<CgroupHierarchy> discoverCgroupHierarchy() {
  auto mount = cgroup2MountIn(readWhole("/proc/self/mountinfo"));
  auto self = unifiedCgroupIn(readWhole("/proc/self/cgroup"));
  if (!mount || !self) return std::nullopt;
  return CgroupHierarchy{*mount, *self};
}

std::set<std::string> cgroupControllers(const std::string& dir) {
  std::set<std::string> out;
  std::istringstream words(readWhole(dir + "/cgroup.controllers"));
  for (std::string word; words >> word;) out.insert(word);
  return out;
}

}  // namespace keelan
