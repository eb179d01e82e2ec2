#include "keelan/json_text.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <iostream>
#include <random>

namespace keelan {
namespace {

using nlohmann::json;

// What isCompactJsonDump promises: when it says yes, dump(parse(text)) is the text.
// Returns whether it said yes.
bool expectSound(const std::string& text) {
  if (!isCompactJsonDump(text)) return false;
  json parsed = json::parse(text, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << "accepted invalid JSON: " << text;
  if (!parsed.is_discarded()) {
    EXPECT_EQ(parsed.dump(), text) << "accepted a text dump() writes differently";
  }
  return true;
}

std::string allControlCharacters() {
  std::string s;
  for (int c = 0; c < 0x20; ++c) s.push_back(static_cast<char>(c));
  return s;
}

TEST(CompactJsonDump, AcceptsWhatDumpWrites) {
  std::vector<json> values = {
      nullptr, true, false, 0, 7, -7, 123456789012345678, -123456789012345678, "", "plain",
      allControlCharacters() + "\x7f \" \\ / caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80 \xef\xbf\xbd",
      json::array(), json::object(), json::array({json::array(), json::object(), 1, "x"}),
      {{"b", 1}, {"a", {{"z", json::array({1, 2, {{"k", nullptr}}})}, {"y", json::object()}}}},
      // Keys sort as unsigned bytes: "\xc3\xa9" after "z", "Z" before "a".
      {{"z", 1}, {"\xc3\xa9", 2}, {"Z", 3}, {"a", 4}, {"", 5}, {"a\x7f", 6}},
  };
  for (const auto& value : values) {
    std::string text = value.dump();
    EXPECT_TRUE(isCompactJsonDump(text)) << text;
    expectSound(text);
  }
}

TEST(CompactJsonDump, GivesTheTopLevelMembers) {
  json reply = {{"id", nullptr}, {"ok", true}, {"ships", json::array({{{"name", "a"}, {"env", {{"K", "v"}}}}, json::object()})}};
  std::string text = reply.dump();
  std::vector<JsonMember> members;
  ASSERT_TRUE(isCompactJsonDump(text, &members));
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0].key, "id");
  EXPECT_EQ(members[0].value, "null");
  EXPECT_EQ(members[1].key, "ok");
  EXPECT_EQ(members[1].value, "true");
  EXPECT_EQ(members[2].key, "ships");
  EXPECT_EQ(members[2].value, reply["ships"].dump());

  members.clear();
  ASSERT_TRUE(isCompactJsonDump(R"({"a":[],"b":{},"c":"x","d":{"e":[1]}})", &members));
  ASSERT_EQ(members.size(), 4u);
  EXPECT_EQ(members[0].value, "[]");
  EXPECT_EQ(members[1].value, "{}");
  EXPECT_EQ(members[2].value, "\"x\"");
  EXPECT_EQ(members[3].value, R"({"e":[1]})");

  members.clear();
  ASSERT_TRUE(isCompactJsonDump("[1,2]", &members));
  EXPECT_TRUE(members.empty());
}

TEST(CompactJsonDump, RefusesWhatDumpWouldWriteDifferently) {
  std::vector<std::string> texts = {
      "", " ", "{}\n", " {}", "{} ", R"({"a": 1})", R"({"a":1 })", "[1, 2]",
      R"({"b":1,"a":2})", R"({"a":1,"a":2})",                   // key order, duplicates
      R"("\/")", R"("\u0041")", R"("\u00e9")", R"("\u001F")",  // escapes dump() does not write
      R"("\u0008")", R"("\u000a")", R"("\ud83d\ude00")", R"("\x")", R"("\u00")",
      "-0", "01", "-01", "1.5", "1e3", "1E3", "1.0", "-", "+1", "1234567890123456789",
      "\"\xc0\x80\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xff\"", "\"\xc3\"", "\"\xe2\x82\"",
      "\"\x01\"", "\"a\tb\"", R"({"\u0061":1})", R"({"a\n":1})",  // raw control, escaped keys
      "tru", "nul", "True", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{,}", "[", "]", "{", "}", "[1]]", "[1][2]",
      "\"abc", "{\"a\":1", "[[[]]", "null null",
  };
  for (const auto& text : texts) {
    EXPECT_FALSE(isCompactJsonDump(text)) << text;
    expectSound(text);
  }
}

// Random values: their dump is accepted (when it has no float and no escaped
// key, which the check refuses by design).
json randomValue(std::mt19937& random, int depth) {
  auto pick = [&](int n) { return static_cast<int>(random() % static_cast<unsigned>(n)); };
  auto randomString = [&](bool forKey) {
    static const std::vector<std::string> pieces = {"a", "b", "Z", "0", " ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                                    "\x7f", "/", "\"", "\\", "\n", "\t", "\x01", "\x1f"};
    std::string s;
    int length = pick(6);
    for (int i = 0; i < length; ++i) s += pieces[static_cast<size_t>(pick(forKey ? 10 : static_cast<int>(pieces.size())))];
    return s;
  };
  int kind = depth > 3 ? pick(5) : pick(7);
  switch (kind) {
    case 0: return nullptr;
    case 1: return pick(2) == 0;
    case 2: return static_cast<int64_t>(random() % 2000000000000000000ULL) - 999999999999999999LL;
    case 3: return static_cast<uint64_t>(random() % 1000);
    case 4: return randomString(false);
    case 5: {
      json array = json::array();
      for (int i = pick(4); i > 0; --i) array.push_back(randomValue(random, depth + 1));
      return array;
    }
    default: {
      json object = json::object();
      for (int i = pick(4); i > 0; --i) object[randomString(true)] = randomValue(random, depth + 1);
      return object;
    }
  }
}

TEST(CompactJsonDump, AcceptsRandomDumpsAndOnlySoundMutations) {
  std::mt19937 random(20261126);
  const std::string noise = "{}[],:\"\\ 0-1.eutnlf\x01\x7f\xc3\xa9\xed\xff";
  int accepted = 0, mutations = 0;
  for (int round = 0; round < 20000; ++round) {
    json value = randomValue(random, 0);
    std::string text = value.dump();
    ASSERT_TRUE(isCompactJsonDump(text)) << text;
    for (int m = 0; m < 10; ++m) {
      std::string mutated = text;
      size_t at = mutated.empty() ? 0 : random() % (mutated.size() + 1);
      char c = noise[random() % noise.size()];
      switch (random() % 3) {
        case 0: mutated.insert(at, 1, c); break;
        case 1: if (at < mutated.size()) mutated.erase(at, 1); break;
        default: if (at < mutated.size()) mutated[at] = c; break;
      }
      ++mutations;
      if (expectSound(mutated)) ++accepted;
    }
  }
  // Some mutations stay in dump() form (a digit changed, a piece of a string
  // dropped): the property above was checked on those.
  EXPECT_GT(accepted, mutations / 20);
  EXPECT_LT(accepted, mutations);
  std::cout << accepted << " of " << mutations << " mutated texts accepted\n";
}

}  // namespace
}  // namespace keelan
