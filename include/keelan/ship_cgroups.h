#pragma once
// One cgroup v2 per ship run, under a subtree of the daemon's own: where the
// subtree is (planSubtree, pure), making and removing run cgroups, listing,
// signalling, killing and freezing what is in them, and one inotify fd in
// the loop that says when a run's `cgroup.events` reads `populated 0`.
// See docs/design.md ("Process trees").
#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keelan/cgroup_hierarchy.h"
#include "keelan/unique_fd.h"
#include "keelan/uv_handle.h"

namespace keelan {

struct CgroupEvents {
  bool populated = false;
  bool frozen = false;
};
// `cgroup.events` ("populated 1\nfrozen 0\n"); nullopt without a populated line.
std::optional<CgroupEvents> parseCgroupEvents(std::string_view text);

// 12 hex digits of FNV-1a of the base directory: a name that two daemons
// with different base directories never share, and the same daemon finds again.
std::string baseDirTag(const std::string& baseDir);

// Where the daemon's subtree is. `delegated`: the own cgroup was handed to
// us (systemd Delegate=yes): the subtree is the own cgroup, the daemon moves
// into its leaf `daemon`. Otherwise `<own>/keelan-<tag>`, the daemon stays.
// A daemon already in `<delegated>/daemon` (re-exec, crash restart) finds
// the same subtree.
struct SubtreePlan {
  std::string subtree;     // absolute directory
  std::string moveSelfTo;  // absolute directory to join first; empty: stay
};
SubtreePlan planSubtree(const CgroupHierarchy& hierarchy, const std::string& baseDir, bool ownDelegated,
                        bool parentDelegated);

class CgroupListener {
 public:
  virtual ~CgroupListener() = default;
  // The last process of the run cgroup `dir` is gone.
  virtual void cgroupEmptied(const std::string& dir) = 0;
};

class ShipCgroups {
 public:
  // The subtree, made (and the daemon moved) if needed; nullptr with `why`
  // set where no writable cgroup v2 exists.
  static std::unique_ptr<ShipCgroups> open(const std::string& baseDir, std::string& why);
  explicit ShipCgroups(std::string subtree) : subtree_(std::move(subtree)) {}
  ~ShipCgroups();
  ShipCgroups(const ShipCgroups&) = delete;
  ShipCgroups& operator=(const ShipCgroups&) = delete;

  const std::string& subtree() const { return subtree_; }
  // A new, empty cgroup for the next run of `ship`: ships/NAME/N, the first
  // N from `run` up that is free (or empty); "" with `error` on failure.
  std::string makeRun(const std::string& ship, uint64_t run, std::string& error);
  // Every run cgroup that exists now (ships/*/*), for reconciliation.
  std::vector<std::string> runDirs() const;
  // The ship a run directory belongs to ("" if not one of ours).
  std::string shipOf(const std::string& dir) const;

  static std::vector<pid_t> procs(const std::string& dir);
  static bool populated(const std::string& dir);
  static size_t signalAll(const std::string& dir, int signal);
  static bool kill(const std::string& dir);
  static bool freeze(const std::string& dir, bool frozen);
  static bool frozen(const std::string& dir);
  // rmdir of the run and, if then empty, of its ship's directory.
  static bool remove(const std::string& dir);
  // The subtree itself, once no ship cgroup is left (daemon shutdown).
  void removeSubtreeIfEmpty() const;

  // ---- watching cgroup.events
  void start(uv_loop_t* loop, CgroupListener& listener);
  // At shutdown: the poll handle would keep the loop (and a failed start)
  // alive; an empty subtree is not left behind (ships still running keep it).
  void stop() {
    poll_.reset();
    removeSubtreeIfEmpty();
  }
  void watch(const std::string& dir);
  void unwatch(const std::string& dir);

 private:
  void onReadable();

  std::string subtree_;
  UniqueFd inotify_;
  UvHandle<uv_poll_t> poll_;
  CgroupListener* listener_ = nullptr;
  std::map<int, std::string> dirOfWatch_;
  std::map<std::string, int> watchOfDir_;
};

}  // namespace keelan
