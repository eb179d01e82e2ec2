#include "keelan/store.h"

#include <unistd.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "keelan/store_file.h"

namespace keelan {

namespace {

std::string lmdbError(const std::string& what, int rc) { return what + ": " + mdb_strerror(rc); }

MDB_val toVal(const std::string& text) { return {text.size(), const_cast<char*>(text.data())}; }

std::string runKey(const std::string& name, uint64_t run) {
  std::string key = name;
  key.push_back('\0');
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>((run >> shift) & 0xff));
  return key;
}

// Aborts a transaction unless it was committed.
class Txn {
 public:
  Txn(MDB_env* env, unsigned flags, int& rc) { rc = mdb_txn_begin(env, nullptr, flags, &txn_); }
  ~Txn() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  MDB_txn* get() const { return txn_; }
  int commit() {
    int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;
    return rc;
  }

 private:
  MDB_txn* txn_ = nullptr;
};

class Cursor {
 public:
  Cursor(MDB_txn* txn, MDB_dbi dbi, int& rc) { rc = mdb_cursor_open(txn, dbi, &cursor_); }
  ~Cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  MDB_cursor* get() const { return cursor_; }

 private:
  MDB_cursor* cursor_ = nullptr;
};

}  // namespace

Store::~Store() { close(); }

void Store::close() {
  if (env_ == nullptr) return;
  sync();  // unsynced group commits reach the device before we let go
  mdb_env_close(env_);
  env_ = nullptr;
}

namespace {

std::string damagedDatabaseMessage(const std::string& directory, const ScanReport& report) {
  std::string message = "the database " + directory + "/data.mdb is damaged: " + report.problems.front();
  if (report.problems.size() > 1) message += " (and " + std::to_string(report.problems.size() - 1) + " more)";
  return message + "; `keelan store check` lists what is readable; restore a backup with "
                   "`keelan daemon start --from-backup FILE`, or start from every sound page with "
                   "`keelan daemon start --salvage`";
}

// LMDB opens data.mdb and lock.mdb by name and trusts what it maps: check
// them first (no symlink, regular files, data.mdb as long as its meta page
// says, every reachable page sound). `checked` identifies the data file
// that passed, so that the caller can make sure LMDB opened that file.
std::string checkBeforeMapping(const std::string& directory, bool& haveData, struct stat& checked) {
  DataFileState state;
  if (auto e = checkDataFiles(directory, state); !e.empty()) return e;
  haveData = state.dataExists && state.dataSize > 0;
  if (!haveData) return "";
  std::string error;
  int dirFd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirFd < 0) return "cannot open directory " + directory + ": " + strerror(errno);
  int fd = openRegularFileAt(dirFd, "data.mdb", directory + "/data.mdb", error);
  ::close(dirFd);
  if (fd < 0) return error;
  ScanReport report = scanDataFile(fd, {});
  fstat(fd, &checked);
  ::close(fd);
  if (!report.problems.empty()) return damagedDatabaseMessage(directory, report);
  return "";
}

}  // namespace

std::string Store::open(const std::string& directory, size_t initialMapSize) {
  bool haveData = false;
  struct stat checked {};
  if (auto e = checkBeforeMapping(directory, haveData, checked); !e.empty()) return e;
  int rc = mdb_env_create(&env_);
  if (rc != 0) return lmdbError("cannot create LMDB environment", rc);
  std::string error = openEnvironment(directory, initialMapSize, haveData ? &checked : nullptr);
  if (error.empty()) error = openTables(directory);
  if (!error.empty()) close();
  return error;
}

std::string Store::openEnvironment(const std::string& directory, size_t initialMapSize, const struct stat* checked) {
  mdb_env_set_maxdbs(env_, 8);
  mdb_env_set_mapsize(env_, initialMapSize);
  // MDB_NOSYNC (group commit) skips both flushes of a commit, the data's
  // and the meta page's; MDB_NOMETASYNC would skip only the second and
  // still wait for the device on every commit.
  int rc = mdb_env_open(env_, directory.c_str(), MDB_NOTLS | (groupCommit_ ? MDB_NOSYNC : 0), 0600);
  if (rc != 0) {
    std::string error = lmdbError("cannot open the database in " + directory, rc);
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
      error += " (the data file is not a keelan/LMDB database of a version this build can read)";
    return error;
  }
  {
    int fd = -1;
    struct stat opened {};
    if (checked != nullptr && (mdb_env_get_fd(env_, &fd) != 0 || fstat(fd, &opened) != 0 ||
                               opened.st_dev != checked->st_dev || opened.st_ino != checked->st_ino))
      return "refusing " + directory + "/data.mdb: it was replaced while being opened";
  }
  // LMDB leaves the data file open across exec; every ship would inherit it.
  int fd = -1;
  if (mdb_env_get_fd(env_, &fd) == 0 && fd >= 0) fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
  checkReaders();
  return "";
}

// The transaction ends (is aborted or committed) before the caller closes
// the environment on an error: LMDB requires that order.
std::string Store::openTables(const std::string& directory) {
  int rc = 0;
  Txn txn(env_, 0, rc);
  if (rc != 0) return lmdbError("cannot begin a transaction", rc);
  if ((rc = mdb_dbi_open(txn.get(), "meta", MDB_CREATE, &meta_)) != 0 ||
      (rc = mdb_dbi_open(txn.get(), "ships", MDB_CREATE, &ships_)) != 0 ||
      (rc = mdb_dbi_open(txn.get(), "runs", MDB_CREATE, &runs_)) != 0 ||
      (rc = mdb_dbi_open(txn.get(), "quarantine", MDB_CREATE, &quarantine_)) != 0)
    return lmdbError("cannot open the databases in " + directory, rc);
  std::string schemaKey = "schema";
  MDB_val key = toVal(schemaKey), value{};
  rc = mdb_get(txn.get(), meta_, &key, &value);
  if (rc == MDB_NOTFOUND) {
    std::string version = std::to_string(kSchemaVersion);
    MDB_val versionVal = toVal(version);
    rc = mdb_put(txn.get(), meta_, &key, &versionVal, 0);
  } else if (rc == 0) {
    std::string stored(static_cast<const char*>(value.mv_data), value.mv_size);
    if (stored != std::to_string(kSchemaVersion))
      return "the database in " + directory + " has schema version " + stored + "; this keelan reads version " +
             std::to_string(kSchemaVersion);
  }
  if (rc != 0 || (rc = txn.commit()) != 0) return lmdbError("cannot initialise the database in " + directory, rc);
  return "";
}

void Store::checkReaders() {
  int dead = 0;
  if (env_ != nullptr) mdb_reader_check(env_, &dead);
}

size_t Store::mapSize() const {
  MDB_envinfo info{};
  if (env_ == nullptr || mdb_env_info(env_, &info) != 0) return 0;
  return info.me_mapsize;
}

std::string Store::loadShips(std::vector<ShipRecord>& out, std::vector<std::string>* quarantined) {
  std::vector<std::pair<std::string, std::string>> bad;  // key, reason
  {
    int rc = 0;
    Txn txn(env_, MDB_RDONLY, rc);
    if (rc != 0) return lmdbError("cannot begin a read transaction", rc);
    Cursor cursor(txn.get(), ships_, rc);
    if (rc != 0) return lmdbError("cannot open a cursor", rc);
    MDB_val key{}, value{};
    for (rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_NEXT)) {
      std::string name(static_cast<const char*>(key.mv_data), key.mv_size);
      try {
        ShipRecord record = shipRecordFromJson(nlohmann::json::parse(
            static_cast<const char*>(value.mv_data), static_cast<const char*>(value.mv_data) + value.mv_size));
        if (record.spec.name != name) throw std::runtime_error("it names ship '" + record.spec.name + "'");
        out.push_back(std::move(record));
      } catch (const std::exception& e) {
        // One bad record never hides the others: it is set aside below.
        bad.emplace_back(name, e.what());
      }
    }
    if (rc != MDB_NOTFOUND) return lmdbError("cannot read ship records", rc);
  }
  if (bad.empty()) return "";
  std::string error = quarantine(bad);
  if (quarantined != nullptr)
    for (const auto& [name, reason] : bad) quarantined->push_back("the record of ship '" + name + "' is unreadable (" +
                                                                  reason + "); moved to the quarantine table");
  return error;
}

// Moves records, raw, from "ships" to "quarantine" under the same key.
std::string Store::quarantine(const std::vector<std::pair<std::string, std::string>>& bad) {
  int rc = 0;
  Txn txn(env_, 0, rc);
  if (rc != 0) return lmdbError("cannot begin a write transaction to quarantine unreadable records", rc);
  for (const auto& entry : bad) {
    std::string name = entry.first;
    MDB_val key = toVal(name), value{};
    if (mdb_get(txn.get(), ships_, &key, &value) != 0) continue;
    std::string raw(static_cast<const char*>(value.mv_data), value.mv_size);
    MDB_val rawVal = toVal(raw);
    if ((rc = mdb_put(txn.get(), quarantine_, &key, &rawVal, 0)) != 0 ||
        (rc = mdb_del(txn.get(), ships_, &key, nullptr)) != 0)
      return lmdbError("cannot quarantine the record of ship '" + name + "'", rc);
  }
  rc = txn.commit();
  if (rc == 0) countCommit();
  return rc == 0 ? "" : lmdbError("cannot commit the quarantine of unreadable records", rc);
}

uint64_t Store::quarantinedCount() const {
  if (env_ == nullptr) return 0;
  int rc = 0;
  Txn txn(env_, MDB_RDONLY, rc);
  MDB_stat stat{};
  if (rc != 0 || mdb_stat(txn.get(), quarantine_, &stat) != 0) return 0;
  return stat.ms_entries;
}

std::string Store::putRaw(const std::string& table, const std::vector<std::pair<std::string, std::string>>& records) {
  MDB_dbi dbi = table == "ships" ? ships_ : table == "runs" ? runs_ : table == "quarantine" ? quarantine_ : meta_;
  if (dbi == meta_) return "no table '" + table + "'";
  int rc = 0;
  Txn txn(env_, 0, rc);
  if (rc != 0) return lmdbError("cannot begin a write transaction", rc);
  for (const auto& [name, value] : records) {
    MDB_val key = toVal(name), data = toVal(value);
    if (key.mv_size == 0 || key.mv_size > 511) continue;  // LMDB's key limit; not one of ours
    if ((rc = mdb_put(txn.get(), dbi, &key, &data, 0)) != 0) return lmdbError("cannot write to " + table, rc);
  }
  rc = txn.commit();
  if (rc == 0) countCommit();
  return rc == 0 ? "" : lmdbError("cannot commit", rc);
}

std::string Store::backupTo(int fd) {
  if (env_ == nullptr) return "the store is not open";
  int rc = mdb_env_copyfd2(env_, fd, MDB_CP_COMPACT);
  if (rc != 0) return lmdbError("cannot copy the store", rc);
  if (fsync(fd) != 0) return std::string("cannot sync the backup: ") + strerror(errno);
  return "";
}

std::string Store::loadRuns(const std::string& name, std::vector<RunRecord>& out) {
  int rc = 0;
  Txn txn(env_, MDB_RDONLY, rc);
  if (rc != 0) return lmdbError("cannot begin a read transaction", rc);
  Cursor cursor(txn.get(), runs_, rc);
  if (rc != 0) return lmdbError("cannot open a cursor", rc);
  std::string prefix = name;
  prefix.push_back('\0');
  MDB_val key = toVal(prefix), value{};
  for (rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_NEXT)) {
    if (key.mv_size < prefix.size() || memcmp(key.mv_data, prefix.data(), prefix.size()) != 0) break;
    try {
      out.push_back(runRecordFromJson(nlohmann::json::parse(
          static_cast<const char*>(value.mv_data), static_cast<const char*>(value.mv_data) + value.mv_size)));
    } catch (const std::exception& e) {
      return "a run record of ship '" + name + "' is unreadable: " + e.what();
    }
  }
  return (rc == 0 || rc == MDB_NOTFOUND) ? "" : lmdbError("cannot read run history", rc);
}

void Store::setGroupCommit(bool on, std::function<void()> unsynced) {
  if (groupCommit_ && !on) sync();
  groupCommit_ = on;
  unsynced_ = std::move(unsynced);
  if (env_ != nullptr) mdb_env_set_flags(env_, MDB_NOSYNC, on ? 1 : 0);
}

// A synchronous commit is on the device when it returns.
void Store::countCommit() {
  ++commits_;
  if (!groupCommit_) synced_ = commits_;
}

void Store::synced(uint64_t commits) { synced_ = std::max(synced_, commits); }

std::string Store::sync() {
  if (env_ == nullptr || synced_ == commits_) return "";
  uint64_t through = commits_;
  int rc = mdb_env_sync(env_, 1);
  if (rc != 0) return lmdbError("cannot flush the store to the device", rc);
  synced(through);
  return "";
}

int Store::dataFd() const {
  int fd = -1;
  if (env_ == nullptr || mdb_env_get_fd(env_, &fd) != 0) return -1;
  return fd;
}

std::string Store::commit(const StoreBatch& batch) {
  if (batch.empty()) return "";
  for (int attempt = 0; attempt < 8; ++attempt) {
    int rc = 0;
    std::string error = commitOnce(batch, rc);
    if (rc == 0) {
      countCommit();
      if (groupCommit_ && unsynced_) unsynced_();
    }
    if (rc != MDB_MAP_FULL) return error;
    // The map is address space, not disk: doubling it is cheap.
    size_t grown = mapSize() * 2;
    rc = mdb_env_set_mapsize(env_, grown);
    if (rc != 0) return lmdbError("cannot grow the database map", rc);
  }
  return "the database map is full even after growing it";
}

std::string Store::commitOnce(const StoreBatch& batch, int& rc) {
  Txn txn(env_, 0, rc);
  if (rc != 0) return lmdbError("cannot begin a write transaction", rc);
  for (const auto& name : batch.removes) {
    MDB_val key = toVal(name);
    rc = mdb_del(txn.get(), ships_, &key, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) return lmdbError("cannot remove ship " + name, rc);
    int cursorRc = 0;
    Cursor cursor(txn.get(), runs_, cursorRc);
    if (cursorRc != 0) return lmdbError("cannot open a cursor", rc = cursorRc);
    std::string prefix = name;
    prefix.push_back('\0');
    MDB_val runKeyVal = toVal(prefix), value{};
    for (rc = mdb_cursor_get(cursor.get(), &runKeyVal, &value, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cursor.get(), &runKeyVal, &value, MDB_NEXT)) {
      if (runKeyVal.mv_size < prefix.size() || memcmp(runKeyVal.mv_data, prefix.data(), prefix.size()) != 0) break;
      if ((rc = mdb_cursor_del(cursor.get(), 0)) != 0) return lmdbError("cannot remove run history", rc);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return lmdbError("cannot remove run history", rc);
  }
  for (const auto& [name, text] : batch.puts) {
    MDB_val key = toVal(name), value = toVal(text);
    if ((rc = mdb_put(txn.get(), ships_, &key, &value, 0)) != 0) return lmdbError("cannot write ship " + name, rc);
  }
  for (const auto& [name, run] : batch.runs) {
    std::string keyText = runKey(name, run.run), text = runRecordToJson(run).dump();
    MDB_val key = toVal(keyText), value = toVal(text);
    if ((rc = mdb_put(txn.get(), runs_, &key, &value, 0)) != 0) return lmdbError("cannot write run of " + name, rc);
    if (run.run > kRunHistory) {
      std::string oldKey = runKey(name, run.run - kRunHistory);
      MDB_val old = toVal(oldKey);
      rc = mdb_del(txn.get(), runs_, &old, nullptr);
      if (rc != 0 && rc != MDB_NOTFOUND) return lmdbError("cannot trim run history of " + name, rc);
    }
  }
  rc = txn.commit();
  return rc == 0 ? "" : lmdbError("cannot commit", rc);
}

}  // namespace keelan
