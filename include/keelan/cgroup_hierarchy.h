#pragma once
// Where the cgroup v2 hierarchy is, and where in it this process lives.
// Pure parsers of /proc/self/mountinfo and /proc/self/cgroup, plus their
// readers, so both are unit-tested on any machine.
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace keelan {

struct CgroupHierarchy {
  std::string mount;  // where cgroup2 is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified (hybrid)
  std::string self;   // this process's cgroup, relative to the mount: "/" or "/system.slice/keelan.service"
  std::string selfDir() const { return self == "/" ? mount : mount + self; }
};

// The mount point of the first cgroup2 filesystem in a mountinfo text, with
// the kernel's octal escapes (\040 for a space) decoded; nullopt if none.
std::optional<std::string> cgroup2MountIn(std::string_view mountinfo);
// The path of the `0::` line of a /proc/PID/cgroup text; nullopt if none
// (a v1-only host) or if it is not absolute.
std::optional<std::string> unifiedCgroupIn(std::string_view procCgroup);
// Both, read from /proc/self; nullopt where no cgroup v2 is mounted.
std::optional<CgroupHierarchy> discoverCgroupHierarchy();
// The controllers a cgroup directory offers (its cgroup.controllers); empty
// if the file is missing or unreadable.
std::set<std::string> cgroupControllers(const std::string& dir);

}  // namespace keelan
