#pragma once
// A ship's `user` as the numeric "uid:gid:groups" the chroot helper takes,
// without an NSS lookup per deploy. Users are resolved in the daemon's own
// /etc (never the ship's root), exactly as getpwnam + getgrouplist do; a
// result is kept only for a user listed in the passwd file, and every
// kept result is dropped as soon as /etc/passwd, /etc/group or
// /etc/nsswitch.conf changes (device, inode, size or mtime: three stat
// calls per lookup). Unknown users are looked up again every time, so a
// user added through another NSS source is seen at the next deploy. Not
// seen: an in-place rewrite of the same size within one mtime tick (the
// shadow tools, vipw and editors write a new file and rename it: a new inode).
#include <sys/stat.h>

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace keelan {

// What one lookup found: error empty on success; `listedInFiles` when the
// passwd file itself names the user (only then is the result kept).
struct UserLookup {
  std::string ids;  // "uid:gid" then ":g1,g2,..." when it has groups
  std::string error;
  bool listedInFiles = false;
};

using UserResolver = std::function<UserLookup(const std::string& user)>;

// getpwnam + getgrouplist, and whether `passwdFile` lists the user.
UserLookup resolveUserWithNss(const std::string& user, const std::string& passwdFile = "/etc/passwd");

class UserIdCache {
 public:
  UserIdCache();  // the system's files and resolveUserWithNss
  UserIdCache(std::vector<std::string> watchedFiles, UserResolver resolver);

  // The ids of `user`, or an error message ("no such user 'x'").
  UserLookup resolve(const std::string& user);
  // Lookups that went to the resolver (NSS): for tests and metrics.
  uint64_t resolverCalls() const { return resolverCalls_; }

 private:
  struct Stamp {
    bool exists = false;
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec mtime{};
    bool operator==(const Stamp& other) const;
  };
  static Stamp stampOf(const std::string& path);
  void dropIfFilesChanged();

  std::vector<std::string> watched_;
  std::vector<Stamp> stamps_;
  UserResolver resolver_;
  std::unordered_map<std::string, std::string> ids_;
  uint64_t resolverCalls_ = 0;
};

}  // namespace keelan
