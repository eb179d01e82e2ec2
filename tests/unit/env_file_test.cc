#include "keelan/env_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace keelan {
namespace {

using Env = std::map<std::string, std::string>;

Env parsed(const std::string& text) {
  auto result = parseEnvText(text);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? result.value() : Env{};
}

TEST(EnvFile, KeyValueLinesCommentsAndQuotesAsSystemdReadsThem) {
  EXPECT_EQ(parsed("# comment\n; also\n\nA=1\n  B = two words  \nC=\"quoted # not a comment\"\n"
                   "D='single $HOME \\n'\nE=\"esc \\\"x\\\" \\\\ \\n\"\nF=\nA=again\r\n"),
            (Env{{"A", "again"}, {"B", "two words"}, {"C", "quoted # not a comment"}, {"D", "single $HOME \\n"},
                 {"E", "esc \"x\" \\ \n"}, {"F", ""}}));
}

TEST(EnvFile, BadLinesNameTheirNumber) {
  auto error = [](const std::string& text) {
    auto result = parseEnvText(text);
    return result.ok() ? std::string() : result.error().message;
  };
  EXPECT_EQ(error("A=1\nnot a pair\n"), "line 2: expected KEY=VALUE");
  EXPECT_EQ(error("1A=x\n"), "line 1: '1A' is not a valid variable name");
  EXPECT_EQ(error("A B=x\n"), "line 1: 'A B' is not a valid variable name");
  EXPECT_EQ(error("A=\"open\n"), "line 1: no closing \"");
  EXPECT_EQ(error("A='x' y\n"), "line 1: text after the closing quote");
  EXPECT_EQ(error(std::string("A=\0\n", 4)), "line 1: a NUL byte");
}

TEST(EnvFile, ReadingRefusesLinksNonFilesAndHugeFiles) {
  char dir[] = "/tmp/keelan-envfile-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string base = dir, good = base + "/good.env", link = base + "/link.env", big = base + "/big.env";
  std::ofstream(good) << "A=1\n";
  ASSERT_EQ(symlink(good.c_str(), link.c_str()), 0);
  std::ofstream(big) << std::string(kMaxEnvFileBytes + 1, '#');
  auto ok = readEnvFile(good);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value().at("A"), "1");
  EXPECT_EQ(readEnvFile(link).error().message, "env file " + link + ": is a symbolic link");
  EXPECT_EQ(readEnvFile(base).error().message, "env file " + base + ": is not a regular file");
  EXPECT_NE(readEnvFile(big).error().message.find("is larger than"), std::string::npos);
  EXPECT_NE(readEnvFile(base + "/missing").error().message.find("No such file"), std::string::npos);
  for (const auto& path : {good, link, big}) unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace keelan
