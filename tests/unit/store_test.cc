#include "keelan/ship_transitions.h"
#include "keelan/store.h"

#include <ftw.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace keelan {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/keelan-store-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    nftw(dir_.c_str(), [](const char* p, const struct stat*, int, FTW*) { return remove(p); }, 8, FTW_DEPTH | FTW_PHYS);
  }
  static ShipRecord record(const std::string& name) {
    ShipRecord r;
    r.spec.name = name;
    r.spec.root = "/r";
    r.spec.command = {"/bin/true"};
    return r;
  }
  std::string dir_;
};

TEST_F(StoreTest, RecordsAndHistorySurviveReopening) {
  {
    Store store;
    ASSERT_EQ(store.open(dir_), "");
    StoreBatch batch;
    ShipRecord r = record("web");
    onSpawned(r, 10, 1, "b", "t1");
    Transition t = onExited(r, ExitStatus::exited(3), "waitpid", "", "t2");
    batch.put(r);
    ASSERT_TRUE(t.finishedRun.has_value());
    batch.runs.emplace_back("web", *t.finishedRun);
    ASSERT_EQ(store.commit(batch), "");
  }
  Store store;
  ASSERT_EQ(store.open(dir_), "");
  std::vector<ShipRecord> ships;
  ASSERT_EQ(store.loadShips(ships), "");
  ASSERT_EQ(ships.size(), 1u);
  EXPECT_EQ(ships[0].exit, ExitStatus::exited(3));
  std::vector<RunRecord> runs;
  ASSERT_EQ(store.loadRuns("web", runs), "");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].pid, 10);
}

TEST_F(StoreTest, HistoryIsBoundedToTheLastHundredRuns) {
  Store store;
  ASSERT_EQ(store.open(dir_), "");
  ShipRecord r = record("busy");
  for (int i = 0; i < 130; ++i) {
    onSpawned(r, 100 + i, 1, "b", "t");
    Transition t = onExited(r, ExitStatus::exited(i % 256), "waitpid", "", "t");
    StoreBatch batch;
    batch.put(r);
    ASSERT_TRUE(t.finishedRun.has_value());
    batch.runs.emplace_back("busy", *t.finishedRun);
    ASSERT_EQ(store.commit(batch), "");
  }
  std::vector<RunRecord> runs;
  ASSERT_EQ(store.loadRuns("busy", runs), "");
  ASSERT_EQ(runs.size(), kRunHistory);
  EXPECT_EQ(runs.front().run, 31u);
  EXPECT_EQ(runs.back().run, 130u);
  // A name that is a prefix of another does not see its runs.
  std::vector<RunRecord> none;
  ASSERT_EQ(store.loadRuns("bus", none), "");
  EXPECT_TRUE(none.empty());
}

TEST_F(StoreTest, RemoveDeletesRecordAndHistory) {
  Store store;
  ASSERT_EQ(store.open(dir_), "");
  ShipRecord r = record("gone");
  onSpawned(r, 1, 1, "b", "t");
  Transition t = onExited(r, ExitStatus::exited(0), "waitpid", "", "t");
  StoreBatch batch;
  batch.put(r);
  ASSERT_TRUE(t.finishedRun.has_value());
  batch.runs.emplace_back("gone", *t.finishedRun);
  ASSERT_EQ(store.commit(batch), "");
  StoreBatch removal;
  removal.removes.push_back("gone");
  ASSERT_EQ(store.commit(removal), "");
  std::vector<ShipRecord> ships;
  std::vector<RunRecord> runs;
  ASSERT_EQ(store.loadShips(ships), "");
  ASSERT_EQ(store.loadRuns("gone", runs), "");
  EXPECT_TRUE(ships.empty());
  EXPECT_TRUE(runs.empty());
}

TEST_F(StoreTest, AFullMapGrowsInsteadOfFailing) {
  Store store;
  ASSERT_EQ(store.open(dir_, 64 * 1024), "");
  size_t before = store.mapSize();
  StoreBatch batch;
  for (int i = 0; i < 2000; ++i) {
    ShipRecord r = record("ship" + std::to_string(i));
    r.spec.env["PAD"] = std::string(200, 'x');
    batch.put(r);
  }
  ASSERT_EQ(store.commit(batch), "");
  EXPECT_GT(store.mapSize(), before);
  std::vector<ShipRecord> ships;
  ASSERT_EQ(store.loadShips(ships), "");
  EXPECT_EQ(ships.size(), 2000u);
}

TEST_F(StoreTest, AForeignDataFileIsAClearErrorAtOpen) {
  std::ofstream(dir_ + "/data.mdb") << std::string(8192, 'z');
  Store store;
  std::string error = store.open(dir_);
  EXPECT_NE(error, "");
  EXPECT_NE(error.find(dir_), std::string::npos) << error;
  EXPECT_FALSE(store.isOpen());
}

TEST_F(StoreTest, GroupCommitCountsUnsyncedCommitsUntilSynced) {
  Store store;
  ASSERT_EQ(store.open(dir_), "");
  int told = 0;
  store.setGroupCommit(true, [&] { ++told; });
  StoreBatch batch;
  batch.put(record("web"));
  ASSERT_EQ(store.commit(batch), "");
  ASSERT_EQ(store.commit(batch), "");
  EXPECT_EQ(told, 2);
  EXPECT_EQ(store.commits() - store.syncedCommits(), 2u);
  EXPECT_GE(store.dataFd(), 0);
  ASSERT_EQ(store.sync(), "");
  EXPECT_EQ(store.syncedCommits(), store.commits());
  store.setGroupCommit(false);
  ASSERT_EQ(store.commit(batch), "");
  EXPECT_EQ(told, 2);  // a synchronous commit is on the device when it returns
  EXPECT_EQ(store.syncedCommits(), store.commits());
}

TEST_F(StoreTest, GroupCommitsSurviveReopening) {
  {
    Store store;
    store.setGroupCommit(true);
    ASSERT_EQ(store.open(dir_), "");
    StoreBatch batch;
    batch.put(record("web"));
    ASSERT_EQ(store.commit(batch), "");
    EXPECT_NE(store.syncedCommits(), store.commits());
  }  // closing syncs
  Store store;
  ASSERT_EQ(store.open(dir_), "");
  std::vector<ShipRecord> ships;
  ASSERT_EQ(store.loadShips(ships), "");
  ASSERT_EQ(ships.size(), 1u);
  EXPECT_EQ(ships[0].spec.name, "web");
}

}  // namespace
}  // namespace keelan
