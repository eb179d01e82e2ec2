#include "keelan/json_text.h"

#include <cstdint>

namespace keelan {

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

int lowerHex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// `i` is just past the opening quote; on success it is just past the closing
// one. The body must be valid UTF-8 (as nlohmann's parser requires) escaped
// as nlohmann's serializer escapes: \" \\ \b \f \n \r \t, \u00xx (lower-case)
// for the other control characters, nothing else.
bool scanString(std::string_view s, size_t& i, bool allowEscapes) {
  const size_t n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      ++i;
      return true;
    }
    if (c < 0x20) return false;
    if (c == '\\') {
      if (!allowEscapes || i + 1 >= n) return false;
      switch (s[i + 1]) {
        case '"':
        case '\\':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          i += 2;
          continue;
        case 'u': {
          if (i + 6 > n || s[i + 2] != '0' || s[i + 3] != '0') return false;
          int high = lowerHex(s[i + 4]), low = lowerHex(s[i + 5]);
          if (high < 0 || high > 1 || low < 0) return false;
          int code = high * 16 + low;
          // These have a short form, which is what dump() writes.
          if (code == 0x08 || code == 0x09 || code == 0x0a || code == 0x0c || code == 0x0d) return false;
          i += 6;
          continue;
        }
        default:
          return false;
      }
    }
    if (c < 0x80) {
      ++i;
      continue;
    }
    // A multi-byte UTF-8 sequence: shortest form, no surrogates, at most U+10FFFF.
    size_t length;
    unsigned char low = 0x80, high = 0xBF;  // bounds of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (i + length > n) return false;
    auto second = static_cast<unsigned char>(s[i + 1]);
    if (second < low || second > high) return false;
    for (size_t k = 2; k < length; ++k) {
      auto next = static_cast<unsigned char>(s[i + k]);
      if (next < 0x80 || next > 0xBF) return false;
    }
    i += length;
  }
  return false;
}

// An integer as dump() writes it: no leading zero, no "-0", no fraction or
// exponent, and short enough to be an int64 or a uint64 whatever its value.
bool scanInteger(std::string_view s, size_t& i) {
  const size_t n = s.size();
  bool negative = s[i] == '-';
  if (negative) ++i;
  size_t start = i;
  if (i >= n || !isDigit(s[i])) return false;
  if (s[i] == '0') {
    ++i;
    if (negative) return false;
  } else {
    while (i < n && isDigit(s[i])) ++i;
  }
  if (i - start > 18) return false;
  return i >= n || (s[i] != '.' && s[i] != 'e' && s[i] != 'E' && !isDigit(s[i]));
}

bool scanLiteral(std::string_view s, size_t& i, std::string_view literal) {
  if (s.substr(i, literal.size()) != literal) return false;
  i += literal.size();
  return true;
}

}  // namespace

bool isCompactJsonDump(std::string_view s, std::vector<JsonMember>* members) {
  struct Frame {
    bool object;
    std::string_view lastKey;  // objects: the previous key
  };
  std::vector<Frame> stack;
  const size_t n = s.size();
  size_t i = 0;
  size_t memberStart = 0;
  std::string_view memberKey;

  // At a key (objects): the key, which must sort after the previous one, and ':'.
  auto key = [&](Frame& frame, bool first) {
    if (i >= n || s[i] != '"') return false;
    size_t start = ++i;
    if (!scanString(s, i, false)) return false;
    std::string_view name = s.substr(start, i - 1 - start);
    // std::string compares as unsigned bytes, as std::string_view does: the
    // order of nlohmann's std::map, which also leaves no duplicate.
    if (!first && !(frame.lastKey < name)) return false;
    frame.lastKey = name;
    if (i >= n || s[i] != ':') return false;
    ++i;
    return true;
  };

  for (;;) {
    // A value starts at i.
    if (i >= n) return false;
    if (stack.size() == 1 && stack[0].object) {
      memberStart = i;
      memberKey = stack[0].lastKey;
    }
    switch (s[i]) {
      case '{':
        if (i + 1 < n && s[i + 1] == '}') {
          i += 2;
          break;
        }
        ++i;
        stack.push_back({true, {}});
        if (!key(stack.back(), true)) return false;
        continue;
      case '[':
        if (i + 1 < n && s[i + 1] == ']') {
          i += 2;
          break;
        }
        ++i;
        stack.push_back({false, {}});
        continue;
      case '"':
        ++i;
        if (!scanString(s, i, true)) return false;
        break;
      case 't':
        if (!scanLiteral(s, i, "true")) return false;
        break;
      case 'f':
        if (!scanLiteral(s, i, "false")) return false;
        break;
      case 'n':
        if (!scanLiteral(s, i, "null")) return false;
        break;
      default:
        if (!scanInteger(s, i)) return false;
        break;
    }
    // A value ended at i: what follows it, in each container it closes.
    for (;;) {
      if (stack.empty()) return i == n;
      Frame& top = stack.back();
      if (members != nullptr && stack.size() == 1 && top.object)
        members->push_back({memberKey, s.substr(memberStart, i - memberStart)});
      if (i >= n) return false;
      if (s[i] == ',') {
        ++i;
        if (top.object && !key(top, false)) return false;
        break;
      }
      if (s[i] != (top.object ? '}' : ']')) return false;
      ++i;
      stack.pop_back();
    }
  }
}

}  // namespace keelan
