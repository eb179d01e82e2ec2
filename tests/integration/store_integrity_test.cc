// The store is loaded whole, or the daemon says why not (issue 12, section 2),
// and a store that cannot commit makes the daemon refuse writes at once and
// spawn nothing (section 3). Real daemons, real LMDB files damaged on disk,
// a real full filesystem (a tmpfs mounted on BASE/data).
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>

#include "harness.h"
#include "keelan/ship_transitions.h"
#include "keelan/store.h"

namespace keelan::test {
namespace {

using Json = nlohmann::json;

size_t countOf(const std::string& text, const std::string& what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

class StoreIntegrity : public KeelanTest {
 protected:
  void TearDown() override {
    KeelanTest::TearDown();
    if (mounted_) {
      umount2(dataDir().c_str(), MNT_DETACH);
      nftw(base_.c_str(), [](const char* path, const struct stat*, int, FTW*) { return remove(path); }, 16,
           FTW_DEPTH | FTW_PHYS);
    }
    if (!elsewhere_.empty()) {
      nftw(elsewhere_.c_str(), [](const char* path, const struct stat*, int, FTW*) { return remove(path); }, 16,
           FTW_DEPTH | FTW_PHYS);
    }
  }

  std::string dataDir() { return base_ + "/data"; }
  std::string dataFile() { return dataDir() + "/data.mdb"; }
  std::string logText() { return readFile(base_ + "/logs/monitor-daemon.log"); }

  // Writes `count` stopped ships ship0000.. straight into the store, as an
  // earlier daemon would have, while no daemon runs.
  void seed(int count, size_t padding = 0) {
    mkdir(dataDir().c_str(), 0700);
    Store store;
    ASSERT_EQ(store.open(dataDir()), "");
    StoreBatch batch;
    for (int i = 0; i < count; ++i) {
      char name[32];
      snprintf(name, sizeof name, "ship%04d", i);
      ShipRecord record;
      record.spec.name = name;
      record.spec.command = {"/bin/true"};
      if (padding > 0) record.spec.env["PAD"] = std::string(padding, 'p');
      onSpawned(record, 100000 + i, 1, "boot", "2026-12-01T00:00:00Z");
      onExited(record, ExitStatus::exited(0), "waitpid", "", "2026-12-01T00:00:01Z");
      batch.put(record);
    }
    ASSERT_EQ(store.commit(batch), "");
  }

  // Puts raw bytes under `key` in the "ships" table with the LMDB C API.
  void putRaw(const std::string& key, const std::string& value) {
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    ASSERT_EQ(mdb_env_open(env, dataDir().c_str(), 0, 0600), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi dbi;
    ASSERT_EQ(mdb_dbi_open(txn, "ships", MDB_CREATE, &dbi), 0);
    MDB_val k{key.size(), const_cast<char*>(key.data())}, v{value.size(), const_cast<char*>(value.data())};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }

  size_t shipCount() {
    Result r = keelan({"ps", "-a", "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    return Json::parse(r.out).size();
  }

  Json status() {
    Result r = keelan({"daemon", "status", "--json", "--lines", "0"});
    EXPECT_EQ(r.code, 0) << r.err;
    return Json::parse(r.out);
  }

  // The page that holds `needle` (a ship's key) in data.mdb, and its offset.
  off_t pageHolding(const std::string& needle) {
    std::string bytes = readFile(dataFile());
    size_t at = bytes.find(needle);
    EXPECT_NE(at, std::string::npos);
    return static_cast<off_t>(at / 4096 * 4096);
  }

  void overwrite(off_t offset, const std::string& bytes) {
    int fd = open(dataFile().c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pwrite(fd, bytes.data(), bytes.size(), offset), static_cast<ssize_t>(bytes.size()));
    close(fd);
  }

  void stopDaemon() { ASSERT_EQ(keelan({"daemon", "stop"}).code, 0); }

  bool mounted_ = false;
  std::string elsewhere_;
};

// A record that cannot be decoded is moved aside; the ones after it load.
TEST_F(StoreIntegrity, ACorruptRecordIsQuarantinedAndEveryOtherLoads) {
  seed(20);
  putRaw("ship0005x", std::string("{\"spec\": not json \x01\xff"));
  Result offline = keelan({"store", "check", "--json"});
  EXPECT_EQ(offline.code, 1) << offline.out << offline.err;
  Json report = Json::parse(offline.out);
  EXPECT_FALSE(report["ok"].get<bool>());
  ASSERT_EQ(report["badRecords"].size(), 1u) << offline.out;
  EXPECT_EQ(report["badRecords"][0]["key"], "ship0005x");
  EXPECT_EQ(report["ships"], 20);

  startDaemon();
  EXPECT_EQ(shipCount(), 20u);
  std::string log = logText();
  EXPECT_NE(log.find("ERROR"), std::string::npos) << log;
  EXPECT_NE(log.find("ship 'ship0005x' is unreadable"), std::string::npos) << log;
  EXPECT_EQ(status()["store"]["quarantined"], 1);
  Result text = keelan({"daemon", "status", "--lines", "0"});
  EXPECT_NE(text.out.find("quarantined records 1"), std::string::npos) << text.out;
  // Live check: the record was set aside, so the store is sound.
  Result live = keelan({"store", "check", "--json"});
  EXPECT_EQ(live.code, 0) << live.out << live.err;
  EXPECT_EQ(Json::parse(live.out)["quarantined"], 1);
  // Kept across restarts, not logged again: it is no longer among the ships.
  stopDaemon();
  startDaemon();
  EXPECT_EQ(shipCount(), 20u);
  EXPECT_EQ(countOf(logText(), "ship 'ship0005x' is unreadable"), 1u);
  EXPECT_EQ(status()["store"]["quarantined"], 1);
}

// Bytes of a record's value damaged on a page: that record is quarantined,
// every other record on that page and elsewhere loads.
TEST_F(StoreIntegrity, DamagedValuesOnAPageLoseOnlyThoseRecords) {
  seed(1000);
  std::string bytes = readFile(dataFile());
  // In a leaf node the key is followed by its value ("ship0500{"); a branch
  // page may hold the bare key too.
  size_t at = bytes.rfind("ship0500{");
  ASSERT_NE(at, std::string::npos);
  // The key is followed by its JSON value: damage the value, not the node header.
  size_t value = bytes.find("\"command\"", at);
  ASSERT_NE(value, std::string::npos);
  ASSERT_EQ(value / 4096, at / 4096);
  overwrite(static_cast<off_t>(value), std::string(12, '\x7f'));
  startDaemon();
  size_t loaded = shipCount();
  Json store = status()["store"];
  std::cout << "[ figure ] 1000 records, one value damaged on a page: " << loaded << " loaded, "
            << store["quarantined"] << " quarantined\n";
  EXPECT_EQ(loaded, 999u);
  EXPECT_EQ(store["quarantined"], 1);
}

// A page whose structure is damaged: start-up refuses with the page named,
// never crashes, hangs or starts with records silently missing.
TEST_F(StoreIntegrity, AStructurallyDamagedPageIsAClearStartError) {
  seed(1000);
  off_t page = pageHolding("ship0500");
  overwrite(page, std::string(4096, '\0'));
  Result r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("is damaged: page " + std::to_string(page / 4096)), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--from-backup"), std::string::npos) << r.err;
  EXPECT_EQ(keelan({"daemon", "status"}).code, 3);
  Result check = keelan({"store", "check"});
  EXPECT_EQ(check.code, 1);
  EXPECT_NE(check.out.find("DAMAGED"), std::string::npos) << check.out;
  std::cout << "[ figure ] 1000 records, one page zeroed: start refused: " << r.err;
}

// --salvage: the damaged file is kept, the records on sound pages load,
// and the loss is logged as an ERROR with its count.
TEST_F(StoreIntegrity, SalvageStartsFromEverySoundPageAndSaysWhatWasLost) {
  seed(1000);
  off_t page = pageHolding("ship0500{");  // the leaf, not a branch page naming the key
  overwrite(page, std::string(4096, '\0'));
  startDaemon({"--salvage"});
  size_t loaded = shipCount();
  std::string log = logText();
  size_t at = log.find("salvaged the damaged store: ");
  ASSERT_NE(at, std::string::npos) << log;
  std::string line = log.substr(at, log.find('\n', at) - at);
  std::cout << "[ figure ] 1000 records, one leaf page zeroed, --salvage: " << loaded << " loaded; " << line << "\n";
  EXPECT_GT(loaded, 900u);
  EXPECT_LT(loaded, 1000u);
  EXPECT_NE(line.find(std::to_string(1000 - loaded) + " records on damaged pages lost"), std::string::npos) << line;
  EXPECT_NE(line.find("data.mdb.damaged-"), std::string::npos);
  // The new store is sound.
  Result check = keelan({"store", "check"});
  EXPECT_EQ(check.code, 0) << check.out;
}

TEST_F(StoreIntegrity, ATruncatedDataFileIsAClearStartErrorNotSigbus) {
  seed(1000, 300);
  struct stat info {};
  ASSERT_EQ(stat(dataFile().c_str(), &info), 0);
  ASSERT_EQ(truncate(dataFile().c_str(), info.st_size / 2), 0);
  Result r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("is truncated"), std::string::npos) << r.err;
  EXPECT_EQ(logText().find("SIGBUS"), std::string::npos);
  EXPECT_EQ(keelan({"daemon", "status"}).code, 3);
}

TEST_F(StoreIntegrity, AMissingOrEmptyStoreBesideTracesNeedsNewStore) {
  startDaemon();
  ASSERT_EQ(keelan({"deploy", "one", "--wait", "--", "/bin/true"}).code, 0);
  stopDaemon();
  ASSERT_EQ(unlink(dataFile().c_str()), 0);
  Result r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("the database is gone"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("start with --new-store to begin empty"), std::string::npos) << r.err;
  // The same with an empty file, and with only the ship logs left.
  { std::ofstream(dataFile()).flush(); }
  r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("data.mdb is empty"), std::string::npos) << r.err;
  unlink((dataDir() + "/lock.mdb").c_str());
  r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("ship logs in"), std::string::npos) << r.err;
  // A deploy's auto-start is refused the same way.
  r = keelan({"deploy", "two", "--", "/bin/true"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("the database is gone"), std::string::npos) << r.err;

  startDaemon({"--new-store"});
  EXPECT_EQ(shipCount(), 0u);
}

TEST_F(StoreIntegrity, LmdbFilesAreNeverOpenedThroughSymlinksOrAsSpecialFiles) {
  seed(3);
  char pattern[] = "/tmp/kltstore-elsewhere-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  elsewhere_ = pattern;
  std::string target = elsewhere_ + "/data.mdb";
  ASSERT_EQ(rename(dataFile().c_str(), target.c_str()), 0);
  ASSERT_EQ(symlink(target.c_str(), dataFile().c_str()), 0);
  Result r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("data.mdb: it is a symlink"), std::string::npos) << r.err;
  ASSERT_EQ(unlink(dataFile().c_str()), 0);
  ASSERT_EQ(rename(target.c_str(), dataFile().c_str()), 0);

  std::string lockFile = dataDir() + "/lock.mdb";
  std::string lockTarget = elsewhere_ + "/lock.mdb";
  ASSERT_EQ(rename(lockFile.c_str(), lockTarget.c_str()), 0);
  ASSERT_EQ(symlink(lockTarget.c_str(), lockFile.c_str()), 0);
  r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("lock.mdb: it is a symlink"), std::string::npos) << r.err;
  ASSERT_EQ(unlink(lockFile.c_str()), 0);

  // A FIFO where lock.mdb should be: refused, without blocking on it.
  ASSERT_EQ(mkfifo(lockFile.c_str(), 0600), 0);
  r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("lock.mdb: not a regular file"), std::string::npos) << r.err;
  ASSERT_EQ(unlink(lockFile.c_str()), 0);
  startDaemon();
  EXPECT_EQ(shipCount(), 3u);
}

TEST_F(StoreIntegrity, ALiveBackupChecksAndStartsADaemon) {
  seed(3000);
  startDaemon();
  ASSERT_EQ(keelan({"deploy", "live", "--", "/bin/sleep", "1000"}).code, 0);
  std::string backup = base_ + "/backup.mdb";
  auto started = std::chrono::steady_clock::now();
  Result r = keelan({"store", "backup", backup});
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("live"), std::string::npos) << r.out;
  std::cout << "[ figure ] live backup of 3001 records: " << r.out << "           (CLI round trip " << ms << " ms)\n";
  struct stat info {};
  ASSERT_EQ(stat(backup.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  // Never overwrites a file.
  Result again = keelan({"store", "backup", backup});
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("never overwrites"), std::string::npos) << again.err;

  Result check = keelan({"store", "check", "--file", backup, "--json"});
  ASSERT_EQ(check.code, 0) << check.out << check.err;
  Json report = Json::parse(check.out);
  EXPECT_EQ(report["ships"], 3001);
  EXPECT_EQ(report["byStatus"]["running"], 1);
  EXPECT_EQ(report["byStatus"]["stopped"], 3000);

  // Lose the store, then start from the backup.
  stopDaemon();
  ASSERT_EQ(truncate(dataFile().c_str(), 0), 0);
  startDaemon({"--from-backup", backup});
  EXPECT_EQ(shipCount(), 3001u);
  EXPECT_NE(logText().find("store restored from the backup " + backup), std::string::npos);
  // Offline backup (no daemon) works too.
  stopDaemon();
  Result offline = keelan({"store", "backup", base_ + "/offline.mdb"});
  EXPECT_EQ(offline.code, 0) << offline.err;
  EXPECT_NE(offline.out.find("offline"), std::string::npos) << offline.out;
}

// The store holds the commands the daemon runs as root: a backup that
// someone else owns or may write is refused like a planted ship file
// (found by attack: another user's own daemon's backup ran its ship as root).
TEST_F(StoreIntegrity, ABackupSomeoneElseCouldHaveWrittenIsRefused) {
  seed(10);
  startDaemon();
  std::string backup = base_ + "/backup.mdb";
  ASSERT_EQ(keelan({"store", "backup", backup}).code, 0);
  stopDaemon();
  ASSERT_EQ(truncate(dataFile().c_str(), 0), 0);
  ASSERT_EQ(chown(backup.c_str(), 12345, 12345), 0);
  Result foreign = keelan({"daemon", "start", "--from-backup", backup});
  EXPECT_EQ(foreign.code, 1);
  EXPECT_NE(foreign.err.find("refusing the backup"), std::string::npos) << foreign.err;
  ASSERT_EQ(chown(backup.c_str(), 0, 0), 0);
  ASSERT_EQ(chmod(backup.c_str(), 0620), 0);
  Result writable = keelan({"daemon", "start", "--from-backup", backup});
  EXPECT_EQ(writable.code, 1);
  EXPECT_NE(writable.err.find("refusing the backup"), std::string::npos) << writable.err;
  ASSERT_EQ(chmod(backup.c_str(), 0600), 0);
  startDaemon({"--from-backup", backup});
  EXPECT_EQ(shipCount(), 10u);
}

// Root writes the backup where the requester says, but never through a
// symlink in a directory of the path.
TEST_F(StoreIntegrity, ABackupIsNeverWrittenThroughASymlinkedDirectory) {
  startDaemon();
  std::string target = base_ + "/target";
  ASSERT_EQ(mkdir(target.c_str(), 0700), 0);
  ASSERT_EQ(symlink(target.c_str(), (base_ + "/link").c_str()), 0);
  Result r = keelan({"store", "backup", base_ + "/link/planted.mdb"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("symlink"), std::string::npos) << r.err;
  EXPECT_NE(access((target + "/planted.mdb").c_str(), F_OK), 0) << "written through the link";
  stopDaemon();
  Result offline = keelan({"store", "backup", base_ + "/link/offline.mdb"});
  EXPECT_EQ(offline.code, 1);
  EXPECT_NE(access((target + "/offline.mdb").c_str(), F_OK), 0) << "written through the link";
}

TEST_F(StoreIntegrity, ADamagedBackupIsRefusedAndTheStoreKept) {
  seed(10);
  std::string backup = base_ + "/bad.mdb";
  std::string bytes = readFile(dataFile());
  bytes.resize(bytes.size() / 2);
  { std::ofstream(backup, std::ios::binary) << bytes; }
  Result r = keelan({"daemon", "start", "--from-backup", backup});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("the backup " + backup + " is damaged"), std::string::npos) << r.err;
  startDaemon();
  EXPECT_EQ(shipCount(), 10u);
}

// A full disk: writes are refused at once with store_unavailable, reads and
// ping answered, nothing spawned; logged once when it starts and once when
// it clears; shown in `daemon status`.
TEST_F(StoreIntegrity, AFullDiskMakesTheStoreUnavailableUntilItClears) {
  ASSERT_EQ(mkdir(dataDir().c_str(), 0700), 0);
  ASSERT_EQ(mount("tmpfs", dataDir().c_str(), "tmpfs", 0, "size=4m,mode=0700"), 0) << strerror(errno);
  mounted_ = true;
  startDaemon();
  // A large record: rewriting it needs fresh pages at the end of data.mdb.
  // (Four variables: one environment string may not pass 128 KiB.)
  std::string pad(60 * 1024, 'x');
  Result deployed = keelan({"deploy", "big", "--env", "PAD1=" + pad, "--env", "PAD2=" + pad, "--env", "PAD3=" + pad,
                            "--env", "PAD4=" + pad, "--", "/bin/sleep", "1000"});
  ASSERT_EQ(deployed.code, 0) << deployed.err;
  pid_t bigPid = inspect("big")["processId"].get<pid_t>();

  std::string filler = dataDir() + "/filler";
  int fd = open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  std::string block(65536, 'f');
  while (write(fd, block.data(), block.size()) > 0) {
  }
  while (write(fd, block.data(), 1) > 0) {
  }
  close(fd);

  ASSERT_EQ(kill(bigPid, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return logText().find("store unavailable") != std::string::npos; })) << logText();

  auto started = std::chrono::steady_clock::now();
  Result refused = keelan({"deploy", "other", "--", "/bin/sleep", "1000"});
  auto refusedMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("the store cannot commit"), std::string::npos) << refused.err;
  EXPECT_LT(refusedMs, 3000);
  auto raw = rawExchange("{\"id\":1,\"op\":\"rm\",\"name\":\"big\",\"force\":true}\n{\"id\":2,\"op\":\"ping\"}\n", 2);
  ASSERT_EQ(raw.size(), 2u);
  EXPECT_EQ(Json::parse(raw[0])["error"]["code"], "store_unavailable") << raw[0];
  EXPECT_TRUE(Json::parse(raw[1])["ok"].get<bool>()) << raw[1];
  Result ps = keelan({"ps", "-a", "--json"});
  ASSERT_EQ(ps.code, 0);
  Json ships = Json::parse(ps.out);
  EXPECT_EQ(ships.size(), 1u) << ps.out;  // "other" was never created, let alone spawned
  Json store = status()["store"];
  EXPECT_FALSE(store["available"].get<bool>()) << store;
  EXPECT_NE(store["reason"].get<std::string>().find("No space left"), std::string::npos) << store;
  Result text = keelan({"daemon", "status", "--lines", "0"});
  EXPECT_NE(text.out.find("store:     UNAVAILABLE since"), std::string::npos) << text.out;
  EXPECT_EQ(logText().find("deployed pid") , logText().rfind("deployed pid"));  // one spawn only: big

  ASSERT_EQ(unlink(filler.c_str()), 0);
  ASSERT_TRUE(eventually([&] { return logText().find("store available again after") != std::string::npos; }))
      << logText();
  EXPECT_TRUE(status()["store"]["available"].get<bool>());
  EXPECT_EQ(inspect("big")["status"], "stopped");
  std::string log = logText();
  EXPECT_EQ(countOf(log, "store unavailable"), 1u) << log;
  EXPECT_EQ(countOf(log, "store available again"), 1u) << log;
  EXPECT_EQ(keelan({"deploy", "other", "--", "/bin/true"}).code, 0);
}

}  // namespace
}  // namespace keelan::test
