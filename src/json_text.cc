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

// An escape as dump() writes one, `i` at its backslash: \" \\ \b \f \n \r
// \t, or \u00xx (lower-case) for a control character without a short form.
bool scanEscape(std::string_view s, size_t& i) {
  const size_t n = s.size();
  if (i + 1 >= n) return false;
  switch (s[i + 1]) {
    case '"':
    case '\\':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
      i += 2;
      return true;
    case 'u': {
      if (i + 6 > n || s[i + 2] != '0' || s[i + 3] != '0') return false;
      int high = lowerHex(s[i + 4]), low = lowerHex(s[i + 5]);
      if (high < 0 || high > 1 || low < 0) return false;
      int code = high * 16 + low;
      // These have a short form, which is what dump() writes.
      if (code == 0x08 || code == 0x09 || code == 0x0a || code == 0x0c || code == 0x0d) return false;
      i += 6;
      return true;
    }
    default:
      return false;
  }
}

// A multi-byte UTF-8 sequence, `i` at its first byte: what nlohmann's
// parser accepts, so shortest form, no surrogates, at most U+10FFFF.
bool scanMultiByteCharacter(std::string_view s, size_t& i) {
  auto c = static_cast<unsigned char>(s[i]);
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
  if (i + length > s.size()) return false;
  auto second = static_cast<unsigned char>(s[i + 1]);
  if (second < low || second > high) return false;
  for (size_t k = 2; k < length; ++k) {
    auto next = static_cast<unsigned char>(s[i + k]);
    if (next < 0x80 || next > 0xBF) return false;
  }
  i += length;
  return true;
}

// `i` is just past the opening quote; on success it is just past the closing
// one. The body must be valid UTF-8 (as nlohmann's parser requires) escaped
// as nlohmann's serializer escapes (scanEscape), nothing else. Keys are
// scanned without escapes: a key's span is then its name as it is.
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
      if (!allowEscapes || !scanEscape(s, i)) return false;
      continue;
    }
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (!scanMultiByteCharacter(s, i)) return false;
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

// One isCompactJsonDump() pass over `s`. The open containers are kept on a
// stack of its own rather than by recursion, so that a hostile nesting depth
// costs heap, not the daemon's stack.
class CompactDumpScanner {
 public:
  CompactDumpScanner(std::string_view s, std::vector<JsonMember>* members) : s_(s), n_(s.size()), members_(members) {}

  bool scan() {
    for (;;) {
      // A value starts at i_.
      if (i_ >= n_) return false;
      noteTopLevelMemberStart();
      Value value = scanValue();
      if (value == Value::bad) return false;
      if (value == Value::opened) continue;
      After after = afterValue();
      if (after != After::nextValue) return after == After::endOfText;
    }
  }

 private:
  struct Frame {
    bool object;
    std::string_view lastKey;  // objects: the previous key
  };
  enum class Value { bad, opened, ended };          // what scanValue() found
  enum class After { bad, nextValue, endOfText };  // what follows a value

  static Value endedIf(bool sound) { return sound ? Value::ended : Value::bad; }

  void noteTopLevelMemberStart() {
    if (stack_.size() == 1 && stack_[0].object) {
      memberStart_ = i_;
      memberKey_ = stack_[0].lastKey;
    }
  }

  // A scalar is scanned whole; a container that is not empty is left open.
  Value scanValue() {
    switch (s_[i_]) {
      case '{':
        return openContainer(true, '}');
      case '[':
        return openContainer(false, ']');
      case '"':
        ++i_;
        return endedIf(scanString(s_, i_, true));
      case 't':
        return endedIf(scanLiteral(s_, i_, "true"));
      case 'f':
        return endedIf(scanLiteral(s_, i_, "false"));
      case 'n':
        return endedIf(scanLiteral(s_, i_, "null"));
      default:
        return endedIf(scanInteger(s_, i_));
    }
  }

  // An empty container is a whole value; any other is pushed, and for an
  // object its first key is read.
  Value openContainer(bool object, char close) {
    if (i_ + 1 < n_ && s_[i_ + 1] == close) {
      i_ += 2;
      return Value::ended;
    }
    ++i_;
    stack_.push_back({object, {}});
    if (object && !scanKey(stack_.back(), true)) return Value::bad;
    return Value::opened;
  }

  // A value ended at i_: what follows it, in each container it closes.
  After afterValue() {
    for (;;) {
      if (stack_.empty()) return i_ == n_ ? After::endOfText : After::bad;
      Frame& top = stack_.back();
      if (members_ != nullptr && stack_.size() == 1 && top.object)
        members_->push_back({memberKey_, s_.substr(memberStart_, i_ - memberStart_)});
      if (i_ >= n_) return After::bad;
      if (s_[i_] == ',') {
        ++i_;
        if (top.object && !scanKey(top, false)) return After::bad;
        return After::nextValue;
      }
      if (s_[i_] != (top.object ? '}' : ']')) return After::bad;
      ++i_;
      stack_.pop_back();
    }
  }

  // At a key (objects): the key, which must sort after the previous one, and ':'.
  bool scanKey(Frame& frame, bool first) {
    if (i_ >= n_ || s_[i_] != '"') return false;
    size_t start = ++i_;
    if (!scanString(s_, i_, false)) return false;
    std::string_view name = s_.substr(start, i_ - 1 - start);
    // std::string compares as unsigned bytes, as std::string_view does: the
    // order of nlohmann's std::map, which also leaves no duplicate.
    if (!first && !(frame.lastKey < name)) return false;
    frame.lastKey = name;
    if (i_ >= n_ || s_[i_] != ':') return false;
    ++i_;
    return true;
  }

  const std::string_view s_;
  const size_t n_;
  std::vector<JsonMember>* const members_;
  size_t i_ = 0;
  std::vector<Frame> stack_;
  // The top-level member whose value is being scanned.
  size_t memberStart_ = 0;
  std::string_view memberKey_;
};

}  // namespace

bool isCompactJsonDump(std::string_view s, std::vector<JsonMember>* members) {
  return CompactDumpScanner(s, members).scan();
}

}  // namespace keelan
