#include "keelan/store_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <iterator>
#include <map>
#include <stdexcept>
#include <set>

#include "keelan/fs_trust.h"
#include "keelan/ship.h"
#include "keelan/store.h"

namespace keelan {

namespace {

// LMDB 0.9 on-disk constants (lmdb/mdb.c).
constexpr uint32_t kMagic = 0xBEEFC0DE;
constexpr uint32_t kDataVersion = 1;
constexpr size_t kPageHeader = 16;  // pgno(8) pad(2) flags(2) lower(2) upper(2)
constexpr uint16_t kBranch = 0x01, kLeaf = 0x02, kOverflow = 0x04, kLeaf2 = 0x20, kSubPage = 0x40;
constexpr uint16_t kNodeBigData = 0x01, kNodeSubData = 0x02, kNodeDupData = 0x04;
constexpr size_t kNodeHeader = 8;  // lo(2) hi(2) flags(2) ksize(2)
constexpr size_t kDbSize = 48;     // MDB_db
constexpr uint64_t kInvalidPage = ~uint64_t{0};
constexpr int kMaxDepth = 64;
constexpr size_t kMaxProblems = 20;
// No record keelan writes comes near this; a larger value is a damaged or
// hostile overflow header, not something to allocate.
constexpr uint64_t kMaxValueBytes = uint64_t{64} << 20;

uint16_t u16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32(const unsigned char* p) { return u16(p) | (static_cast<uint32_t>(u16(p + 2)) << 16); }
uint64_t u64(const unsigned char* p) { return u32(p) | (static_cast<uint64_t>(u32(p + 4)) << 32); }

bool readAt(int fd, void* into, size_t size, uint64_t offset) {
  auto* out = static_cast<char*>(into);
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

struct Meta {
  bool valid = false;
  unsigned pageSize = 0;
  uint64_t lastPage = 0, txnId = 0, mainRoot = kInvalidPage, mainEntries = 0;
  int mainDepth = 0;
};

// Meta page `index` (0 or 1). The first gives the page size.
Meta readMeta(int fd, unsigned index, unsigned pageSize) {
  Meta meta;
  unsigned char page[152];
  if (!readAt(fd, page, sizeof page, uint64_t{index} * pageSize)) return meta;
  if (u32(page + 16) != kMagic || u32(page + 20) != kDataVersion) return meta;
  unsigned size = u32(page + 40);  // mm_dbs[FREE_DBI].md_pad holds the page size
  if (size < 512 || size > 65536 || (size & (size - 1)) != 0) return meta;
  if (index == 1 && size != pageSize) return meta;
  meta.valid = true;
  meta.pageSize = size;
  meta.mainDepth = u16(page + 88 + 6);
  meta.mainEntries = u64(page + 88 + 32);
  meta.mainRoot = u64(page + 88 + 40);
  meta.lastPage = u64(page + 136);
  meta.txnId = u64(page + 144);
  return meta;
}

// The meta page LMDB would use: the valid one with the higher txnid.
std::string newestMeta(int fd, const std::string& shown, Meta& out) {
  Meta first = readMeta(fd, 0, 0);
  if (!first.valid) return shown + " is not an LMDB data file of a version this build can read (bad meta page 0)";
  Meta second = readMeta(fd, 1, first.pageSize);
  out = (second.valid && second.txnId > first.txnId) ? second : first;
  return "";
}

class Scanner {
 public:
  Scanner(int fd, const Meta& meta, const RecordVisitor& visit, ScanReport& report)
      : fd_(fd), meta_(meta), visit_(visit), report_(report) {}

  // Walks one database's tree; `table` is "" for the main database, whose
  // leaves name the sub-databases.
  void walkTree(const std::string& table, uint64_t root, uint64_t entries, int depth) {
    if (root == kInvalidPage) {
      if (entries != 0) problem("table '" + tableName(table) + "' is empty but claims " + std::to_string(entries) + " entries");
      return;
    }
    uint64_t seen = 0;
    int deepest = 0;
    walkPage(table, root, 1, seen, deepest);
    if (seen < entries && !table.empty()) report_.unreadable += entries - seen;
    if (seen != entries)
      problem("table '" + tableName(table) + "' has " + std::to_string(seen) + " readable entries, its header says " +
              std::to_string(entries));
    if (deepest != depth && report_.problems.empty())
      problem("table '" + tableName(table) + "' is " + std::to_string(deepest) + " levels deep, its header says " +
              std::to_string(depth));
  }

 private:
  static std::string tableName(const std::string& table) { return table.empty() ? "(main)" : table; }

  void problem(const std::string& what) {
    if (report_.problems.size() < kMaxProblems) report_.problems.push_back(what);
  }

  bool load(uint64_t pgno, std::vector<unsigned char>& into) {
    into.resize(meta_.pageSize);
    return readAt(fd_, into.data(), into.size(), pgno * meta_.pageSize);
  }

  // What a tree page's header says, once checked.
  struct PageLayout {
    bool branch = false;
    uint16_t upper = 0;
    size_t keys = 0;
  };

  void walkPage(const std::string& table, uint64_t pgno, int depth, uint64_t& seen, int& deepest) {
    std::string where = "page " + std::to_string(pgno) + " (table '" + tableName(table) + "')";
    std::vector<unsigned char> page;
    PageLayout layout;
    if (!loadTreePage(where, pgno, depth, page) || !readLayout(where, pgno, page, layout)) return;
    if (depth > deepest) deepest = depth;
    for (size_t i = 0; i < layout.keys; ++i)
      if (!walkNode(table, where, page, layout, i, depth, seen, deepest)) return;
  }

  // Records a problem; false, so that a check can end with it.
  bool fail(const std::string& what) {
    problem(what);
    return false;
  }

  // A page is read at most once: a loop of pages ends at the second visit.
  bool loadTreePage(const std::string& where, uint64_t pgno, int depth, std::vector<unsigned char>& page) {
    if (pgno < 2 || pgno > meta_.lastPage) return fail(where + ": page number out of range");
    if (depth > kMaxDepth) return fail(where + ": tree deeper than " + std::to_string(kMaxDepth));
    if (!markVisited(pgno, pgno)) return fail(where + ": reached twice");
    if (!load(pgno, page)) return fail(where + ": cannot be read");
    ++report_.pagesChecked;
    return true;
  }

  bool readLayout(const std::string& where, uint64_t pgno, const std::vector<unsigned char>& page, PageLayout& layout) {
    const unsigned char* p = page.data();
    size_t size = page.size();
    uint16_t flags = u16(p + 10), lower = u16(p + 12), upper = u16(p + 14);
    if (u64(p) != pgno) return fail(where + ": header names page " + std::to_string(u64(p)));
    bool branch = (flags & kBranch) != 0, leaf = (flags & kLeaf) != 0;
    if (branch == leaf || (flags & (kOverflow | kLeaf2 | kSubPage)) != 0)
      return fail(where + ": not a branch or leaf page (flags " + std::to_string(flags) + ")");
    if (lower < kPageHeader || lower > upper || upper > size || (lower - kPageHeader) % 2 != 0)
      return fail(where + ": bad free-space bounds");
    size_t keys = (lower - kPageHeader) / 2;
    if (branch && keys == 0) return fail(where + ": a branch page without children");
    layout = {branch, upper, keys};
    return true;
  }

  // Node `i`: a child page to walk, or a record. False when the node lies
  // off its page: the rest of the page is not trusted either.
  bool walkNode(const std::string& table, const std::string& where, const std::vector<unsigned char>& page,
                const PageLayout& layout, size_t i, int depth, uint64_t& seen, int& deepest) {
    const unsigned char* p = page.data();
    size_t size = page.size();
    size_t at = u16(p + kPageHeader + 2 * i);
    if (at < layout.upper || at + kNodeHeader > size) return fail(where + ": node " + std::to_string(i) + " off the page");
    const unsigned char* node = p + at;
    uint16_t nodeFlags = u16(node + 4);
    size_t keySize = u16(node + 6);
    if (at + kNodeHeader + keySize > size) return fail(where + ": key of node " + std::to_string(i) + " off the page");
    std::string key(reinterpret_cast<const char*>(node + kNodeHeader), keySize);
    if (layout.branch) {
      uint64_t child = u16(node) | (uint64_t{u16(node + 2)} << 16) | (uint64_t{nodeFlags} << 32);
      walkPage(table, child, depth + 1, seen, deepest);
      return true;
    }
    ++seen;
    uint64_t dataSize = u16(node) | (uint64_t{u16(node + 2)} << 16);
    const unsigned char* data = node + kNodeHeader + keySize;
    size_t dataAt = at + kNodeHeader + keySize;
    std::string value;
    if (nodeFlags & kNodeBigData) {
      if (dataAt + 8 > size) return fail(where + ": overflow reference of node " + std::to_string(i) + " off the page");
      if (!readOverflow(table, u64(data), dataSize, value)) return true;
    } else {
      if (dataAt + dataSize > size) return fail(where + ": value of node " + std::to_string(i) + " off the page");
      value.assign(reinterpret_cast<const char*>(data), dataSize);
    }
    visitRecord(table, where, i, nodeFlags, key, value);
    return true;
  }

  void visitRecord(const std::string& table, const std::string& where, size_t i, uint16_t nodeFlags,
                   const std::string& key, const std::string& value) {
    if (table.empty()) {
      // The main database: each record names a table and holds its MDB_db.
      if ((nodeFlags & kNodeSubData) == 0) return;
      if (value.size() != kDbSize) return problem(where + ": table '" + key + "' has a bad header");
      const auto* db = reinterpret_cast<const unsigned char*>(value.data());
      if (key.empty()) return problem(where + ": a table without a name");
      walkTree(key, u64(db + 40), u64(db + 32), u16(db + 6));
      return;
    }
    if (nodeFlags & (kNodeSubData | kNodeDupData))
      return problem(where + ": unexpected duplicate-key data in node " + std::to_string(i));
    if (visit_) visit_(table, key, value);
  }

  bool readOverflow(const std::string& table, uint64_t pgno, uint64_t dataSize, std::string& value) {
    std::string where = "overflow page " + std::to_string(pgno) + " (table '" + tableName(table) + "')";
    if (pgno < 2 || pgno > meta_.lastPage) {
      problem(where + ": page number out of range");
      return false;
    }
    unsigned char head[kPageHeader];
    if (!readAt(fd_, head, sizeof head, pgno * meta_.pageSize)) {
      problem(where + ": cannot be read");
      return false;
    }
    uint32_t pages = u32(head + 12);
    if (u64(head) != pgno || (u16(head + 10) & kOverflow) == 0 || pages == 0 || pgno + pages - 1 > meta_.lastPage ||
        dataSize > uint64_t{pages} * meta_.pageSize - kPageHeader) {
      problem(where + ": bad overflow header");
      return false;
    }
    if (dataSize > kMaxValueBytes) {
      problem(where + ": a value of " + std::to_string(dataSize) + " bytes, more than any record holds");
      return false;
    }
    if (!markVisited(pgno, pgno + pages - 1)) {
      problem(where + ": reached twice");
      return false;
    }
    report_.pagesChecked += pages;
    value.resize(dataSize);
    if (dataSize > 0 && !readAt(fd_, value.data(), dataSize, pgno * meta_.pageSize + kPageHeader)) {
      problem(where + ": cannot be read");
      return false;
    }
    return true;
  }

  int fd_;
  const Meta& meta_;
  const RecordVisitor& visit_;
  ScanReport& report_;
  // Pages seen, as runs first -> last: a hostile overflow header that
  // claims 2^32 pages costs one entry, not one per page.
  std::map<uint64_t, uint64_t> visited_;
  bool markVisited(uint64_t first, uint64_t last) {
    auto next = visited_.upper_bound(first);
    if (next != visited_.end() && next->first <= last) return false;
    if (next != visited_.begin() && std::prev(next)->second >= first) return false;
    visited_.emplace(first, last);
    return true;
  }
};

// A directory fd for `path`, refusing a symlink as its last component.
int openDirectory(const std::string& path, std::string& error) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) error = "cannot open directory " + path + ": " + strerror(errno);
  return fd;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

std::string checkOne(int dirFd, const std::string& dir, const char* name, bool& exists, uint64_t& size) {
  std::string shown = dir + "/" + name;
  struct stat info {};
  if (fstatat(dirFd, name, &info, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return "";
    return "cannot examine " + shown + ": " + strerror(errno);
  }
  if (S_ISLNK(info.st_mode)) return "refusing " + shown + ": it is a symlink";
  if (!S_ISREG(info.st_mode)) return "refusing " + shown + ": not a regular file";
  exists = true;
  size = static_cast<uint64_t>(info.st_size);
  return "";
}

bool directoryHasEntries(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return false;
  bool any = false;
  while (dirent* entry = readdir(dir)) {
    if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
      any = true;
      break;
    }
  }
  closedir(dir);
  return any;
}

}  // namespace

int openRegularFileAt(int dirFd, const std::string& name, const std::string& shown, std::string& error) {
  int fd = openat(dirFd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open " + shown + ": " + (errno == ELOOP ? std::string("it is a symlink") : strerror(errno));
    return -1;
  }
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    error = "refusing " + shown + ": not a regular file";
    return -1;
  }
  return fd;
}

std::string checkDataFiles(const std::string& dataDir, DataFileState& state) {
  std::string error;
  Fd dir{openDirectory(dataDir, error)};
  if (dir.fd < 0) return error;
  if (auto e = checkOne(dir.fd, dataDir, "lock.mdb", state.lockExists, state.lockSize); !e.empty()) return e;
  if (auto e = checkOne(dir.fd, dataDir, "data.mdb", state.dataExists, state.dataSize); !e.empty()) return e;
  if (!state.dataExists || state.dataSize == 0) return "";
  std::string shown = dataDir + "/data.mdb";
  Fd data{openRegularFileAt(dir.fd, "data.mdb", shown, error)};
  if (data.fd < 0) return error;
  struct stat info {};
  fstat(data.fd, &info);
  state.dataSize = static_cast<uint64_t>(info.st_size);
  Meta meta;
  if (auto e = newestMeta(data.fd, shown, meta); !e.empty()) return e + " in " + dataDir;
  state.pageSize = meta.pageSize;
  state.lastPage = meta.lastPage;
  state.txnId = meta.txnId;
  // LMDB maps the file and would die of SIGBUS on the first page past its end.
  uint64_t needed = (meta.lastPage + 1) * meta.pageSize;
  if (meta.lastPage > (uint64_t{1} << 40) || state.dataSize < needed)
    return shown + " is truncated: it has " + std::to_string(state.dataSize) + " bytes, its meta page says " +
           std::to_string(needed) + " (" + std::to_string(meta.lastPage + 1) + " pages of " +
           std::to_string(meta.pageSize) + "); restore a backup (keelan daemon start --from-backup FILE)";
  return "";
}

std::string checkStoreBeforeOpen(const std::string& dataDir, const std::string& shipLogDir, bool newStore) {
  DataFileState state;
  if (auto e = checkDataFiles(dataDir, state); !e.empty()) return e;
  if (state.dataExists && state.dataSize > 0) return "";
  if (newStore) return "";
  std::string signs;
  if (state.lockSize > 0) signs = dataDir + "/lock.mdb";
  if (directoryHasEntries(shipLogDir)) signs += (signs.empty() ? "" : " and ") + std::string("ship logs in ") + shipLogDir;
  if (signs.empty()) return "";
  return "the database is gone: " + dataDir + "/data.mdb is " + (state.dataExists ? "empty" : "missing") +
         ", but an earlier one left " + signs + "; start with --new-store to begin empty";
}

ScanReport scanDataFile(int fd, const RecordVisitor& visit) {
  ScanReport report;
  Meta meta;
  if (auto e = newestMeta(fd, "the file", meta); !e.empty()) {
    report.problems.push_back(e);
    return report;
  }
  report.pageSize = meta.pageSize;
  report.lastPage = meta.lastPage;
  struct stat info {};
  uint64_t needed = (meta.lastPage + 1) * meta.pageSize;
  if (fstat(fd, &info) != 0 || meta.lastPage > (uint64_t{1} << 40) || static_cast<uint64_t>(info.st_size) < needed) {
    report.problems.push_back("the file is truncated: " + std::to_string(info.st_size) + " bytes, its meta page says " +
                              std::to_string(needed));
    return report;
  }
  report.pagesChecked = 2;
  Scanner scanner(fd, meta, visit, report);
  scanner.walkTree("", meta.mainRoot, meta.mainEntries, meta.mainDepth);
  return report;
}

nlohmann::json storeCheckReport(int fd) {
  size_t ships = 0, runs = 0, quarantined = 0;
  std::map<std::string, size_t> byStatus;
  nlohmann::json bad = nlohmann::json::array();
  auto note = [&](const std::string& table, const std::string& key, const std::string& error) {
    if (bad.size() < 100)
      bad.push_back({{"table", table}, {"key", key}, {"error", error}});
  };
  ScanReport scan = scanDataFile(fd, [&](const std::string& table, const std::string& key, const std::string& value) {
    if (table == "quarantine") {
      ++quarantined;
      return;
    }
    if (table != "ships" && table != "runs") return;
    try {
      auto parsed = nlohmann::json::parse(value);
      if (table == "ships") {
        ShipRecord record = shipRecordFromJson(parsed);
        if (record.spec.name != key) throw std::runtime_error("it names ship '" + record.spec.name + "'");
        ++ships;
        ++byStatus[statusName(record.status)];
      } else {
        runRecordFromJson(parsed);
        ++runs;
      }
    } catch (const std::exception& e) {
      note(table, table == "runs" ? key.substr(0, key.find('\0')) : key, e.what());
    }
  });
  nlohmann::json statuses = nlohmann::json::object();
  for (const char* status : {"running", "stopped", "failed", "lost", "backoff"}) statuses[status] = byStatus[status];
  return {{"ok", scan.problems.empty() && bad.empty()},
          {"pageSize", scan.pageSize},
          {"pagesChecked", scan.pagesChecked},
          {"problems", scan.problems},
          {"ships", ships},
          {"byStatus", statuses},
          {"runs", runs},
          {"quarantined", quarantined},
          {"badRecords", bad}};
}

nlohmann::json storeCheckReport(const std::string& dataDir) {
  std::string error;
  int dir = openDirectory(dataDir, error);
  int fd = dir < 0 ? -1 : openRegularFileAt(dir, "data.mdb", dataDir + "/data.mdb", error);
  if (dir >= 0) close(dir);
  if (fd < 0) return {{"ok", false}, {"problems", {error}}};
  nlohmann::json report = storeCheckReport(fd);
  close(fd);
  return report;
}

namespace {

// The directory part and the name of an absolute path ("/a/b" -> "/a", "b").
std::pair<std::string, std::string> splitPath(const std::string& path) {
  size_t slash = path.rfind('/');
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace

int createBackupFile(const std::string& path, uid_t uid, gid_t gid, std::string& error) {
  if (path.empty() || path[0] != '/' || path.back() == '/') {
    error = "the backup path must be an absolute file name, got '" + path + "'";
    return -1;
  }
  // Root writes where the requester says: never through a symlink in any
  // component, so a directory someone else owns cannot steer the file
  // into /etc.
  auto [directory, name] = splitPath(path);
  int dir = openDirectoryNoFollow(directory);
  if (dir < 0) {
    error = "cannot create " + path + ": " + directory + ": " + openErrorText(dir);
    return -1;
  }
  Fd parent{dir};
  int fd = openFileAt(parent.fd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    error = "cannot create " + path + ": " + openErrorText(fd) + (fd == -EEXIST ? " (a backup never overwrites a file)" : "");
    return -1;
  }
  if (geteuid() == 0 && fchown(fd, uid, gid) != 0) {
    error = "cannot give " + path + " to uid " + std::to_string(uid) + ": " + strerror(errno);
    close(fd);
    unlinkat(parent.fd, name.c_str(), 0);
    return -1;
  }
  return fd;
}

void removeBackupFile(const std::string& path) {
  auto [directory, name] = splitPath(path);
  int dir = openDirectoryNoFollow(directory);
  if (dir < 0) return;
  unlinkat(dir, name.c_str(), 0);
  close(dir);
}

std::string restoreFromBackup(const std::string& backup, const std::string& dataDir, std::string& note) {
  std::string error;
  // The daemon runs the commands a store holds, as root: a backup someone
  // else could have written is refused like a planted ship file.
  if (auto e = checkTrustedFile(backup, geteuid()); !e.empty()) return "refusing the backup: " + e;
  int in = openFileNoFollow(backup, O_RDONLY);
  if (in < 0) return "cannot open the backup " + backup + ": " + openErrorText(in);
  Fd source{in};
  ScanReport report = scanDataFile(in, {});
  if (!report.problems.empty()) return "the backup " + backup + " is damaged: " + report.problems.front();
  // Past the last page the meta page names there is nothing LMDB reads: a
  // sparse or padded file is not copied densely onto our disk.
  const uint64_t used = (report.lastPage + 1) * report.pageSize;
  Fd dir{openDirectory(dataDir, error)};
  if (dir.fd < 0) return error;
  const char* temp = "data.mdb.restoring";
  unlinkat(dir.fd, temp, 0);
  Fd out{openat(dir.fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
  if (out.fd < 0) return "cannot create " + dataDir + "/" + temp + ": " + strerror(errno);
  std::vector<char> buffer(1 << 20);
  for (uint64_t offset = 0;;) {
    if (offset >= used) break;
    size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), used - offset));
    ssize_t n = pread(in, buffer.data(), want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return "cannot read the backup " + backup + ": " + strerror(errno);
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out.fd, buffer.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        int err = errno;
        unlinkat(dir.fd, temp, 0);
        return "cannot write " + dataDir + "/" + temp + ": " + strerror(err);
      }
      done += w;
    }
    offset += static_cast<uint64_t>(n);
  }
  if (fsync(out.fd) != 0) {
    int err = errno;
    unlinkat(dir.fd, temp, 0);
    return "cannot sync " + dataDir + "/" + temp + ": " + strerror(err);
  }
  struct stat current {};
  if (fstatat(dir.fd, "data.mdb", &current, AT_SYMLINK_NOFOLLOW) == 0 && current.st_size > 0) {
    std::string kept = "data.mdb.before-restore-" + std::to_string(time(nullptr));
    if (renameat(dir.fd, "data.mdb", dir.fd, kept.c_str()) != 0)
      return "cannot keep the current " + dataDir + "/data.mdb as " + kept + ": " + strerror(errno);
    note = "the previous store is kept as " + dataDir + "/" + kept;
  }
  if (renameat(dir.fd, temp, dir.fd, "data.mdb") != 0) return "cannot install the backup as " + dataDir + "/data.mdb: " + strerror(errno);
  // Readers recorded in the old lock file mean nothing for the new data file.
  unlinkat(dir.fd, "lock.mdb", 0);
  fsync(dir.fd);
  return "";
}

}  // namespace keelan

namespace keelan {

std::string salvageStore(const std::string& dataDir, std::string& note) {
  std::string error;
  Fd dir{openDirectory(dataDir, error)};
  if (dir.fd < 0) return error;
  Fd data{openRegularFileAt(dir.fd, "data.mdb", dataDir + "/data.mdb", error)};
  if (data.fd < 0) return error;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> tables;
  ScanReport report = scanDataFile(data.fd, [&](const std::string& table, const std::string& key, const std::string& value) {
    if (table == "ships" || table == "runs" || table == "quarantine") tables[table].emplace_back(key, value);
  });
  if (report.problems.empty()) return "";
  if (report.pageSize == 0) return "cannot salvage " + dataDir + "/data.mdb: " + report.problems.front();
  std::string kept = "data.mdb.damaged-" + std::to_string(time(nullptr));
  if (renameat(dir.fd, "data.mdb", dir.fd, kept.c_str()) != 0)
    return "cannot keep the damaged " + dataDir + "/data.mdb as " + kept + ": " + strerror(errno);
  unlinkat(dir.fd, "lock.mdb", 0);
  Store store;
  if (auto e = store.open(dataDir); !e.empty()) return "cannot create the salvaged store: " + e;
  for (const auto& [table, records] : tables)
    if (auto e = store.putRaw(table, records); !e.empty()) return "cannot write the salvaged store: " + e;
  note = "salvaged the damaged store: " + std::to_string(tables["ships"].size()) + " ship records and " +
         std::to_string(tables["runs"].size()) + " runs kept, " + std::to_string(report.unreadable) +
         " records on damaged pages lost (" + report.problems.front() + "); the damaged file is kept as " + dataDir +
         "/" + kept;
  return "";
}

}  // namespace keelan
