#include "keelan/ship_cgroups.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

namespace keelan {

namespace {
std::string readWhole(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool writeText(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

// systemd marks a cgroup it delegated with this xattr (v251+).
bool delegatedDir(const std::string& dir) {
  char value[8];
  return getxattr(dir.c_str(), "trusted.delegate", value, sizeof value) > 0 ||
         getxattr(dir.c_str(), "user.delegate", value, sizeof value) > 0;
}

std::string parentOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::vector<std::string> subdirs(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* entry = readdir(d))
    if (entry->d_type == DT_DIR && entry->d_name[0] != '.') out.emplace_back(entry->d_name);
  closedir(d);
  return out;
}
}  // namespace

std::optional<CgroupEvents> parseCgroupEvents(std::string_view text) {
  std::optional<CgroupEvents> out;
  size_t start = 0;
  bool frozen = false;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line == "populated 1" || line == "populated 0") {
      if (!out) out = CgroupEvents{};
      out->populated = line.back() == '1';
    } else if (line == "frozen 1") {
      frozen = true;
    }
  }
  if (out) out->frozen = frozen;
  return out;
}

std::string baseDirTag(const std::string& baseDir) {
  uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : baseDir) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char text[17];
  snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return std::string(text, 12);
}

SubtreePlan planSubtree(const CgroupHierarchy& hierarchy, const std::string& baseDir, bool ownDelegated,
                        bool parentDelegated) {
  std::string own = hierarchy.selfDir();
  bool inLeaf = hierarchy.self != "/" && own.size() > 7 && own.compare(own.size() - 7, 7, "/daemon") == 0;
  if (inLeaf && parentDelegated) return {parentOf(own), ""};
  if (ownDelegated && hierarchy.self != "/") return {own, own + "/daemon"};
  return {own + "/keelan-" + baseDirTag(baseDir), ""};
}

std::unique_ptr<ShipCgroups> ShipCgroups::open(const std::string& baseDir, std::string& why) {
  auto hierarchy = discoverCgroupHierarchy();
  if (!hierarchy) {
    why = "no cgroup v2 hierarchy is mounted";
    return nullptr;
  }
  std::string own = hierarchy->selfDir();
  SubtreePlan plan = planSubtree(*hierarchy, baseDir, delegatedDir(own), delegatedDir(parentOf(own)));
  if (!plan.moveSelfTo.empty()) {
    // An inner cgroup may not hold processes once its children use controllers.
    if ((mkdir(plan.moveSelfTo.c_str(), 0755) != 0 && errno != EEXIST) ||
        !writeText(plan.moveSelfTo + "/cgroup.procs", "0")) {
      why = "cannot move the daemon into " + plan.moveSelfTo + ": " + strerror(errno);
      return nullptr;
    }
  }
  for (const std::string& dir : {plan.subtree, plan.subtree + "/ships"})
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      why = "cannot create the cgroup " + dir + ": " + strerror(errno);
      return nullptr;
    }
  // Writable means a process can be moved in: checked by creating a run-like
  // directory's file set, as a probe, and removing it.
  std::string probe = plan.subtree + "/ships/.probe-" + std::to_string(getpid());
  if (mkdir(probe.c_str(), 0755) != 0 || access((probe + "/cgroup.procs").c_str(), W_OK) != 0) {
    why = "the cgroup " + plan.subtree + " is not writable: " + strerror(errno);
    rmdir(probe.c_str());
    return nullptr;
  }
  rmdir(probe.c_str());
  return std::make_unique<ShipCgroups>(plan.subtree);
}

ShipCgroups::~ShipCgroups() {
  poll_.reset();
}

std::string ShipCgroups::makeRun(const std::string& ship, uint64_t run, std::string& error) {
  std::string shipDir = subtree_ + "/ships/" + ship;
  if (mkdir(shipDir.c_str(), 0755) != 0 && errno != EEXIST) {
    error = "cannot create the cgroup " + shipDir + ": " + strerror(errno);
    return "";
  }
  // A run left behind (kill mode process) keeps its cgroup: the next run
  // takes the next free number.
  for (uint64_t n = run; n < run + 1000; ++n) {
    std::string dir = shipDir + "/" + std::to_string(n);
    if (mkdir(dir.c_str(), 0755) == 0) return dir;
    if (errno != EEXIST) {
      error = "cannot create the cgroup " + dir + ": " + strerror(errno);
      return "";
    }
    if (!populated(dir)) return dir;
  }
  error = "no free cgroup for ship " + ship + " under " + shipDir;
  return "";
}

std::vector<std::string> ShipCgroups::runDirs() const {
  std::vector<std::string> out;
  std::string ships = subtree_ + "/ships";
  for (const auto& ship : subdirs(ships))
    for (const auto& run : subdirs(ships + "/" + ship)) out.push_back(ships + "/" + ship + "/" + run);
  return out;
}

std::string ShipCgroups::shipOf(const std::string& dir) const {
  std::string prefix = subtree_ + "/ships/";
  if (dir.compare(0, prefix.size(), prefix) != 0) return "";
  std::string rest = dir.substr(prefix.size());
  size_t slash = rest.find('/');
  return slash == std::string::npos ? "" : rest.substr(0, slash);
}

std::vector<pid_t> ShipCgroups::procs(const std::string& dir) {
  std::vector<pid_t> out;
  std::istringstream in(readWhole(dir + "/cgroup.procs"));
  for (long pid; in >> pid;)
    if (pid > 0) out.push_back(static_cast<pid_t>(pid));
  return out;
}

bool ShipCgroups::populated(const std::string& dir) {
  auto events = parseCgroupEvents(readWhole(dir + "/cgroup.events"));
  return events && events->populated;
}

bool ShipCgroups::frozen(const std::string& dir) {
  auto events = parseCgroupEvents(readWhole(dir + "/cgroup.events"));
  return events && events->frozen;
}

size_t ShipCgroups::signalAll(const std::string& dir, int signal) {
  size_t sent = 0;
  for (pid_t pid : procs(dir))
    if (::kill(pid, signal) == 0) ++sent;
  // A frozen process would only see the signal once thawed.
  if (signal != SIGSTOP && frozen(dir)) freeze(dir, false);
  return sent;
}

bool ShipCgroups::kill(const std::string& dir) {
  if (writeText(dir + "/cgroup.kill", "1")) return true;
  // Kernels before 5.14 have no cgroup.kill: SIGKILL each (a fork racing it may survive once).
  return signalAll(dir, SIGKILL) > 0;
}

bool ShipCgroups::freeze(const std::string& dir, bool frozen) { return writeText(dir + "/cgroup.freeze", frozen ? "1" : "0"); }

bool ShipCgroups::remove(const std::string& dir) {
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT) return false;
  rmdir(parentOf(dir).c_str());  // the ship's directory, if no other run is left in it
  return true;
}

void ShipCgroups::removeSubtreeIfEmpty() const {
  rmdir((subtree_ + "/ships").c_str());
  rmdir(subtree_.c_str());
}

void ShipCgroups::start(uv_loop_t* loop, CgroupListener& listener) {
  listener_ = &listener;
  inotify_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_) return;
  uv_poll_init(loop, poll_.make(), inotify_.get());
  poll_->data = this;
  uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* h, int status, int) {
    if (status == 0) static_cast<ShipCgroups*>(h->data)->onReadable();
  });
}

void ShipCgroups::watch(const std::string& dir) {
  if (!inotify_ || watchOfDir_.count(dir)) return;
  int wd = inotify_add_watch(inotify_.get(), (dir + "/cgroup.events").c_str(), IN_MODIFY);
  if (wd < 0) return;
  dirOfWatch_[wd] = dir;
  watchOfDir_[dir] = wd;
}

void ShipCgroups::unwatch(const std::string& dir) {
  auto it = watchOfDir_.find(dir);
  if (it == watchOfDir_.end()) return;
  inotify_rm_watch(inotify_.get(), it->second);
  dirOfWatch_.erase(it->second);
  watchOfDir_.erase(it);
}

void ShipCgroups::onReadable() {
  alignas(inotify_event) char buffer[4096];
  std::vector<std::string> emptied;
  for (;;) {
    ssize_t n = read(inotify_.get(), buffer, sizeof buffer);
    if (n <= 0) break;
    for (ssize_t at = 0; at < n;) {
      auto* event = reinterpret_cast<inotify_event*>(buffer + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      auto dir = dirOfWatch_.find(event->wd);
      if (dir != dirOfWatch_.end() && !populated(dir->second)) emptied.push_back(dir->second);
    }
  }
  for (const auto& dir : emptied)
    if (watchOfDir_.count(dir) && listener_ != nullptr) listener_->cgroupEmptied(dir);
}

}  // namespace keelan
