#include "keelan/env_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "keelan/protocol.h"
#include "keelan/unique_fd.h"

namespace keelan {

namespace {

Error lineError(size_t line, const std::string& what) {
  return {errc::invalid_argument, "line " + std::to_string(line) + ": " + what};
}

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && blank(text.back())) text.remove_suffix(1);
  return text;
}

bool validName(std::string_view key) {
  if (key.empty()) return false;
  for (size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// `raw` starts at the opening quote. Returns the value, or sets `error`.
std::string unquote(std::string_view raw, std::string& error) {
  char quote = raw.front();
  std::string value;
  size_t i = 1;
  for (; i < raw.size() && raw[i] != quote; ++i) {
    if (quote == '"' && raw[i] == '\\' && i + 1 < raw.size()) {
      char next = raw[++i];
      value.push_back(next == 'n' ? '\n' : next == 't' ? '\t' : next);
      continue;
    }
    value.push_back(raw[i]);
  }
  if (i >= raw.size()) error = std::string("no closing ") + quote;
  else if (!trim(raw.substr(i + 1)).empty()) error = "text after the closing quote";
  return value;
}

}  // namespace

Result<std::map<std::string, std::string>> parseEnvText(std::string_view text) {
  std::map<std::string, std::string> out;
  size_t number = 0;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++number;
    if (line.find('\0') != std::string_view::npos) return lineError(number, "a NUL byte");
    line = trim(line);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) return lineError(number, "expected KEY=VALUE");
    std::string_view key = trim(line.substr(0, eq));
    if (!validName(key)) return lineError(number, "'" + std::string(key) + "' is not a valid variable name");
    std::string_view raw = trim(line.substr(eq + 1));
    std::string value(raw), error;
    if (!raw.empty() && (raw.front() == '"' || raw.front() == '\'')) value = unquote(raw, error);
    if (!error.empty()) return lineError(number, error);
    out[std::string(key)] = std::move(value);
  }
  return out;
}

Result<std::map<std::string, std::string>> readEnvFile(const std::string& path) {
  auto failed = [&](const std::string& why) { return Error{errc::invalid_argument, "env file " + path + ": " + why}; };
  // O_NONBLOCK: a FIFO planted at the path must not hang the daemon.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return failed(errno == ELOOP ? "is a symbolic link" : strerror(errno));
  struct stat info {};
  if (fstat(fd.get(), &info) != 0) return failed(strerror(errno));
  if (!S_ISREG(info.st_mode)) return failed("is not a regular file");
  if (static_cast<uint64_t>(info.st_size) > kMaxEnvFileBytes)
    return failed("is larger than " + std::to_string(kMaxEnvFileBytes) + " bytes");
  std::string text(static_cast<size_t>(info.st_size) + 1, '\0');
  size_t have = 0;
  while (have < text.size()) {
    ssize_t n = read(fd.get(), text.data() + have, text.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failed(strerror(errno));
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  if (have > kMaxEnvFileBytes) return failed("is larger than " + std::to_string(kMaxEnvFileBytes) + " bytes");
  text.resize(have);
  auto parsed = parseEnvText(text);
  if (!parsed) return failed(parsed.error().message);
  return parsed;
}

}  // namespace keelan
