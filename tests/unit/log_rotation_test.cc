#include "keelan/log_rotation.h"

#include <fcntl.h>
#include <ftw.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace keelan {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(LogRotation, ParseSize) {
  EXPECT_EQ(parseSize("4096"), 4096u);
  EXPECT_EQ(parseSize("10K"), 10240u);
  EXPECT_EQ(parseSize("10M"), 10u << 20);
  EXPECT_EQ(parseSize("1G"), 1u << 30);
  for (const char* bad : {"", "0", "M", "10X", "-1", "1.5M", "99999999999999999999"})
    EXPECT_FALSE(parseSize(bad).has_value()) << bad;
}

TEST(LogRotation, CutsTheHeadWhileTheWriterKeepsAppending) {
  char dir[] = "/var/tmp/keelan-rotate-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/ship.out.log";
  // The "ship": an O_APPEND descriptor that stays open throughout.
  int ship = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
  std::string expected;
  for (int i = 0; i < 3000; ++i) {
    std::string line = "line " + std::to_string(i) + "\n";
    ASSERT_EQ(write(ship, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    expected += line;
  }
  RotationResult first = rotateLogIfLarger(path, 8192, 3);
  if (!first.error.empty() && first.error.find("cannot cut") != std::string::npos) {
    GTEST_SKIP() << first.error;
  }
  ASSERT_TRUE(first.rotated) << first.error;
  std::string more = "after rotation\n";
  ASSERT_EQ(write(ship, more.data(), more.size()), static_cast<ssize_t>(more.size()));
  expected += more;
  EXPECT_LT(slurp(path).size(), 4096u + more.size());
  EXPECT_EQ(slurp(path + ".1") + slurp(path), expected) << "not a byte lost or repeated";
  EXPECT_FALSE(rotateLogIfLarger(path, 8192, 3).rotated) << "small enough now";

  // Older files shift up and the oldest beyond maxFiles goes.
  for (int round = 0; round < 4; ++round) {
    std::string chunk(10000, static_cast<char>('a' + round));
    ASSERT_EQ(write(ship, chunk.data(), chunk.size()), static_cast<ssize_t>(chunk.size()));
    expected += chunk;
    ASSERT_TRUE(rotateLogIfLarger(path, 8192, 3).rotated);
  }
  EXPECT_EQ(access((path + ".4").c_str(), F_OK), -1);
  std::string kept = slurp(path + ".3") + slurp(path + ".2") + slurp(path + ".1") + slurp(path);
  EXPECT_EQ(expected.substr(expected.size() - kept.size()), kept);
  close(ship);
  nftw(dir, [](const char* p, const struct stat*, int, FTW*) { return remove(p); }, 8, FTW_DEPTH | FTW_PHYS);
}

}  // namespace
}  // namespace keelan
