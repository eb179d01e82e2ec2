#pragma once
// The durable copy of every ship record, in LMDB. The daemon keeps the live
// copy in memory and commits each change here before anyone is told of it.
//
// Layout (schema 1): database "meta" holds "schema"; "ships" maps a ship name
// to its JSON record; "runs" maps name + '\0' + big-endian run number to one
// finished run, bounded to the last kRunHistory runs of each ship;
// "quarantine" keeps, raw and under their key, ship records that could not be
// decoded at start-up, so that one bad record never hides the others.
#include <lmdb.h>
#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "keelan/ship.h"

namespace keelan {

inline constexpr int kSchemaVersion = 1;
inline constexpr uint64_t kRunHistory = 100;

// Removes are applied before puts and runs, so removing a ship drops its
// earlier puts from the batch: what is left is what came after the removal.
struct StoreBatch {
  // Serialises the record once; the text is also what replies embed.
  const std::string& put(const ShipRecord& record) {
    puts.emplace_back(record.spec.name, shipRecordText(record));
    return puts.back().second;
  }
  void remove(const std::string& name) {
    std::erase_if(puts, [&](const auto& put) { return put.first == name; });
    std::erase_if(runs, [&](const auto& run) { return run.first == name; });
    removes.push_back(name);
  }
  std::vector<std::pair<std::string, std::string>> puts;  // name, record text
  std::vector<std::pair<std::string, RunRecord>> runs;
  std::vector<std::string> removes;
  bool empty() const { return puts.empty() && runs.empty() && removes.empty(); }
  void clear() {
    puts.clear();
    runs.clear();
    removes.clear();
  }
};

// What the supervisor needs of a store: the records to recover, the run
// history, and one durable commit per batch. LMDB in the daemon, memory in
// tests (memory_store.h).
class RecordStore {
 public:
  virtual ~RecordStore() = default;
  // Every decodable record; the others are set aside (quarantined) and
  // described in `quarantined`. Returns an error message, empty if none.
  virtual std::string loadShips(std::vector<ShipRecord>& out, std::vector<std::string>* quarantined) = 0;
  virtual uint64_t quarantinedCount() const = 0;
  virtual std::string loadRuns(const std::string& name, std::vector<RunRecord>& out) = 0;
  // All of the batch or nothing, durable when it returns "".
  virtual std::string commit(const StoreBatch& batch) = 0;
  // A consistent copy into `fd`, synced.
  virtual std::string backupTo(int fd) = 0;
};

class Store : public RecordStore {
 public:
  Store() = default;
  ~Store() override;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Returns an error message, empty on success.
  std::string open(const std::string& directory, size_t initialMapSize = size_t{1} << 30);
  void close();
  bool isOpen() const { return env_ != nullptr; }

  // Every decodable record; the others are moved to the quarantine table and
  // described in `quarantined`.
  std::string loadShips(std::vector<ShipRecord>& out, std::vector<std::string>* quarantined = nullptr) override;
  uint64_t quarantinedCount() const override;
  // A compacted, consistent copy (mdb_env_copyfd2 with MDB_CP_COMPACT) into
  // `fd`, synced. Readers and the writer go on meanwhile.
  std::string backupTo(int fd) override;
  // Writes records as they are into "ships", "runs" or "quarantine" (salvage).
  std::string putRaw(const std::string& table, const std::vector<std::pair<std::string, std::string>>& records);
  std::string loadRuns(const std::string& name, std::vector<RunRecord>& out) override;
  // One write transaction for the whole batch, synchronous unless group
  // commit is on. A full map is grown and the batch retried.
  std::string commit(const StoreBatch& batch) override;

  // Group commit (the daemon's --durability group): commits skip their
  // synchronous flush (LMDB's MDB_NOSYNC) and `unsynced` runs after each;
  // the caller flushes them with sync() or fdatasync(dataFd()) and says so
  // with synced(). Kept across close() and open(). close() syncs first.
  void setGroupCommit(bool on, std::function<void()> unsynced = {});
  bool groupCommit() const { return groupCommit_; }
  // Commits so far, and how many of them are known to be on the device.
  uint64_t commits() const { return commits_; }
  uint64_t syncedCommits() const { return synced_; }
  void synced(uint64_t commits);
  // Flushes every commit to the device now (mdb_env_sync); "" when done.
  std::string sync();
  // The data file's descriptor (LMDB's, not ours to close); -1 if closed.
  int dataFd() const;
  // Frees reader slots left by killed readers.
  void checkReaders();
  size_t mapSize() const;

 private:
  // The steps of open(): each returns an error message, and open() closes
  // the environment on one. `checked`: the data file scanned, if any.
  std::string openEnvironment(const std::string& directory, size_t initialMapSize, const struct stat* checked);
  std::string openTables(const std::string& directory);
  std::string commitOnce(const StoreBatch& batch, int& rc);
  void countCommit();
  std::string quarantine(const std::vector<std::pair<std::string, std::string>>& bad);
  MDB_env* env_ = nullptr;
  bool groupCommit_ = false;
  std::function<void()> unsynced_;
  uint64_t commits_ = 0, synced_ = 0;
  MDB_dbi meta_ = 0, ships_ = 0, runs_ = 0, quarantine_ = 0;
};

}  // namespace keelan
