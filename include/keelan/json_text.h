#pragma once
// Recognising JSON text that is already in nlohmann::json's compact dump form,
// so that it can be passed on as it is instead of being parsed into a DOM and
// dumped again (`keelan ps --json`: a 5.6 MB reply with 10,000 ships).
#include <string_view>
#include <vector>

namespace keelan {

struct JsonMember {
  std::string_view key;    // as written: never contains an escape
  std::string_view value;  // the member's value, as written
};

// True only if `text` is exactly what nlohmann::json::parse(text).dump()
// gives (compact, UTF-8 unescaped): no white space, object keys in strictly
// increasing byte order, strings escaped as dump() escapes them, integers of
// at most 18 digits. For such a text every value's span equals the dump() of
// that value parsed. Conservative: false for some texts that are in that form
// (floats, longer integers, keys with escapes); a false answer only means
// "parse it". When `text` is an object and `members` is given, each of its
// top-level members is appended to `members` (undefined on false).
bool isCompactJsonDump(std::string_view text, std::vector<JsonMember>* members = nullptr);

}  // namespace keelan
