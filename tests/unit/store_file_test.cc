#include "keelan/store_file.h"

#include <fcntl.h>
#include <ftw.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "keelan/store.h"
#include "keelan/store_outage.h"

namespace keelan {
namespace {

class StoreFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/keelan-storefile-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    nftw(dir_.c_str(), [](const char* p, const struct stat*, int, FTW*) { return remove(p); }, 8, FTW_DEPTH | FTW_PHYS);
  }
  void seed(int count) {
    Store store;
    ASSERT_EQ(store.open(dir_), "");
    StoreBatch batch;
    for (int i = 0; i < count; ++i) {
      ShipRecord r;
      r.spec.name = "s" + std::to_string(i);
      r.spec.command = {"/bin/true"};
      if (i % 10 == 0) r.spec.env["BIG"] = std::string(9000, 'b');  // overflow pages too
      batch.put(r);
    }
    ASSERT_EQ(store.commit(batch), "");
  }
  std::string dir_;
};

TEST_F(StoreFileTest, TheScanVisitsEveryRecordOfASoundStore) {
  seed(500);
  int fd = open((dir_ + "/data.mdb").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  size_t ships = 0;
  ScanReport report = scanDataFile(fd, [&](const std::string& table, const std::string&, const std::string&) {
    if (table == "ships") ++ships;
  });
  close(fd);
  EXPECT_TRUE(report.problems.empty()) << report.problems.front();
  EXPECT_EQ(ships, 500u);
  EXPECT_EQ(storeCheckReport(dir_)["ships"], 500);
}

TEST_F(StoreFileTest, AFileShorterThanItsMetaPageSaysIsTruncated) {
  seed(500);
  std::string path = dir_ + "/data.mdb";
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  ASSERT_EQ(truncate(path.c_str(), info.st_size - 4096), 0);
  DataFileState state;
  EXPECT_NE(checkDataFiles(dir_, state).find("is truncated"), std::string::npos);
  Store store;
  EXPECT_NE(store.open(dir_).find("is truncated"), std::string::npos);
}

TEST(StoreOutageTest, LogsOnceWhenItStartsAndOnceWhenItClears) {
  StoreOutage outage;
  EXPECT_EQ(outage.recovered(0), "");
  EXPECT_NE(outage.failed("No space left on device", 1000, "T1"), "");
  EXPECT_TRUE(outage.active());
  EXPECT_FALSE(outage.retryDue(1500));
  EXPECT_TRUE(outage.retryDue(2000));
  EXPECT_EQ(outage.failed("No space left on device", 2000, "T2"), "");
  EXPECT_EQ(outage.toJson(3500)["unavailableSeconds"], 2);
  std::string cleared = outage.recovered(3500);
  EXPECT_NE(cleared.find("after 2.5 s"), std::string::npos) << cleared;
  EXPECT_FALSE(outage.active());
  EXPECT_EQ(outage.recovered(4000), "");
}

}  // namespace
}  // namespace keelan
