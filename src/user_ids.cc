#include "keelan/user_ids.h"

#include <grp.h>
#include <pwd.h>

#include <cstdio>

namespace keelan {

namespace {
bool passwdFileLists(const std::string& passwdFile, const std::string& user, uid_t uid, gid_t gid) {
  FILE* file = fopen(passwdFile.c_str(), "re");
  if (file == nullptr) return false;
  bool found = false;
  while (passwd* entry = fgetpwent(file)) {
    if (user == entry->pw_name) {
      found = entry->pw_uid == uid && entry->pw_gid == gid;
      break;
    }
  }
  fclose(file);
  return found;
}
}  // namespace

UserLookup resolveUserWithNss(const std::string& user, const std::string& passwdFile) {
  UserLookup out;
  passwd* entry = getpwnam(user.c_str());
  if (entry == nullptr) {
    out.error = "no such user '" + user + "'";
    return out;
  }
  uid_t uid = entry->pw_uid;
  gid_t gid = entry->pw_gid;
  out.ids = std::to_string(uid) + ":" + std::to_string(gid);
  std::vector<gid_t> groups(32);
  int count = static_cast<int>(groups.size());
  while (getgrouplist(user.c_str(), gid, groups.data(), &count) < 0) {
    if (static_cast<size_t>(count) <= groups.size()) {
      out.error = "cannot list the groups of user '" + user + "'";
      return out;
    }
    groups.resize(static_cast<size_t>(count));
  }
  for (int i = 0; i < count; ++i) out.ids += (i == 0 ? ":" : ",") + std::to_string(groups[static_cast<size_t>(i)]);
  out.listedInFiles = passwdFileLists(passwdFile, user, uid, gid);
  return out;
}

UserIdCache::UserIdCache()
    : UserIdCache({"/etc/passwd", "/etc/group", "/etc/nsswitch.conf"},
                  [](const std::string& user) { return resolveUserWithNss(user); }) {}

UserIdCache::UserIdCache(std::vector<std::string> watchedFiles, UserResolver resolver)
    : watched_(std::move(watchedFiles)), stamps_(watched_.size()), resolver_(std::move(resolver)) {}

bool UserIdCache::Stamp::operator==(const Stamp& other) const {
  return exists == other.exists && device == other.device && inode == other.inode && size == other.size &&
         mtime.tv_sec == other.mtime.tv_sec && mtime.tv_nsec == other.mtime.tv_nsec;
}

UserIdCache::Stamp UserIdCache::stampOf(const std::string& path) {
  Stamp stamp;
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) return stamp;
  stamp = {true, info.st_dev, info.st_ino, info.st_size, info.st_mtim};
  return stamp;
}

void UserIdCache::dropIfFilesChanged() {
  bool changed = false;
  for (size_t i = 0; i < watched_.size(); ++i) {
    Stamp now = stampOf(watched_[i]);
    if (now == stamps_[i]) continue;
    stamps_[i] = now;
    changed = true;
  }
  if (changed) ids_.clear();
}

UserLookup UserIdCache::resolve(const std::string& user) {
  dropIfFilesChanged();
  if (auto kept = ids_.find(user); kept != ids_.end()) return {kept->second, "", true};
  ++resolverCalls_;
  UserLookup found = resolver_(user);
  if (found.error.empty() && found.listedInFiles) ids_.emplace(user, found.ids);
  return found;
}

}  // namespace keelan
