#pragma once
// The LMDB data file as bytes, before LMDB maps it. LMDB trusts its file:
// a truncated one kills the mapping process with SIGBUS, and a damaged page
// can send a cursor into a loop or off the page. So keelan reads data.mdb
// itself first, with pread (never mmap), opened relative to a directory fd
// with O_NOFOLLOW: the meta pages say how large the file must be, and every
// B-tree page reachable from the newest meta page is checked (page number,
// kind, bounds of every node, overflow runs, entry counts). Only a file
// that passes is handed to mdb_env_open. The same walk backs
// `keelan store check` and validates a backup before `--from-backup`.
//
// Layout facts used here are LMDB 0.9's on-disk format (64-bit, little
// endian): MDB_page header 16 bytes, MDB_meta after it in pages 0 and 1.
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace keelan {

struct DataFileState {
  bool dataExists = false;
  uint64_t dataSize = 0;
  bool lockExists = false;
  uint64_t lockSize = 0;
  // From the newest valid meta page (when dataSize > 0).
  unsigned pageSize = 0;
  uint64_t lastPage = 0;
  uint64_t txnId = 0;
};

// Checks data.mdb and lock.mdb in `dataDir`: each missing or a regular file,
// never a symlink, FIFO or device; data.mdb, if not empty, starts with two
// LMDB meta pages and is as long as the newest says. Returns an error
// message naming the file, empty on success.
std::string checkDataFiles(const std::string& dataDir, DataFileState& state);

// Before the daemon opens its store: the checks above, and a store that is
// missing or empty beside signs of an earlier one (a non-empty lock.mdb, ship
// logs) is refused unless `newStore`.
std::string checkStoreBeforeOpen(const std::string& dataDir, const std::string& shipLogDir, bool newStore);

struct ScanReport {
  unsigned pageSize = 0;
  uint64_t lastPage = 0;
  uint64_t pagesChecked = 0;
  std::vector<std::string> problems;  // empty: every reachable page is sound
  // Records that named tables' headers count but that sit on damaged pages.
  uint64_t unreadable = 0;
};

// Called for each record of a named database (LMDB sub-database), in key
// order, for records on sound pages.
using RecordVisitor = std::function<void(const std::string& table, const std::string& key, const std::string& value)>;

// Walks the file open on `fd` (data.mdb or a backup of it). Never throws,
// never reads past what pread returns.
ScanReport scanDataFile(int fd, const RecordVisitor& visit);

// Opens `name` in `dirFd` for reading: O_NOFOLLOW, O_NONBLOCK, a regular
// file. Returns the fd, or -1 with `error` set.
int openRegularFileAt(int dirFd, const std::string& name, const std::string& shown, std::string& error);

// `keelan store check`: the scan above, then every record decoded.
// {"ok", "pageSize", "pagesChecked", "problems":[...], "ships", "byStatus":
// {...}, "runs", "quarantined", "badRecords":[{"table","key","error"}]}. "ok"
// is false when a page or a record is bad (quarantined records were set
// aside already and do not make it false).
nlohmann::json storeCheckReport(int fd);
// The same for DIR/data.mdb, opened safely; a missing file is a problem.
nlohmann::json storeCheckReport(const std::string& dataDir);

// Creates a new file for `keelan store backup`: absolute path, no symlink in
// any component, O_EXCL, mode 0600, owned by `uid`:`gid` when we are root.
// Returns the fd, or -1 with `error` set.
int createBackupFile(const std::string& path, uid_t uid, gid_t gid, std::string& error);
// Removes a backup file that failed, again without following a symlink.
void removeBackupFile(const std::string& path);

// `daemon start --from-backup FILE`: FILE must be trusted as a ship file is
// (checkTrustedFile: owned by root or us, no symlink, nobody else may write
// it or its directories); checks FILE with scanDataFile, keeps
// an existing data.mdb as data.mdb.before-restore-SECONDS, and installs a
// copy of FILE as data.mdb (written beside it, fsync'd, renamed). `note`
// tells what was kept.
std::string restoreFromBackup(const std::string& backup, const std::string& dataDir, std::string& note);

// `daemon start --salvage`: when data.mdb is damaged, keeps it as
// data.mdb.damaged-SECONDS and builds a new store from every record on its
// sound pages. `note` says what was saved and what was lost; nothing is
// done to a sound store.
std::string salvageStore(const std::string& dataDir, std::string& note);

}  // namespace keelan
