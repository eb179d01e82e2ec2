#include "keelan/log_rotation.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "keelan/fs_trust.h"

namespace keelan {

std::optional<uint64_t> parseSize(const std::string& text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  size_t digits = text.find_first_not_of("0123456789");
  if (digits == 0 || (digits == std::string::npos ? text.size() : digits) > 15) return std::nullopt;
  uint64_t value = std::stoull(text.substr(0, digits));
  std::string unit = digits == std::string::npos ? "" : text.substr(digits);
  uint64_t scale = 1;
  if (unit == "" || unit == "B") scale = 1;
  else if (unit == "K" || unit == "KiB" || unit == "k") scale = uint64_t{1} << 10;
  else if (unit == "M" || unit == "MiB") scale = uint64_t{1} << 20;
  else if (unit == "G" || unit == "GiB") scale = uint64_t{1} << 30;
  else return std::nullopt;
  if (value == 0 || value > (uint64_t{1} << 50) / scale) return std::nullopt;
  return value * scale;
}

namespace {
std::string numbered(const std::string& path, int n) { return path + "." + std::to_string(n); }

bool copyHead(int from, int to, off_t length) {
  off_t offset = 0;
  while (offset < length) {
    ssize_t n = copy_file_range(from, &offset, to, nullptr, static_cast<size_t>(length - offset), 0);
    if (n <= 0) return false;
  }
  return true;
}
}  // namespace

RotationResult rotateLogIfLarger(const std::string& path, uint64_t maxBytes, int maxFiles) {
  RotationResult result;
  // Never through a symlink, never a FIFO: this runs on the daemon's loop.
  int fd = openFileNoFollow(path, O_RDWR);
  if (fd < 0) {
    if (fd != -ENOENT) result.error = "cannot open " + path + ": " + openErrorText(fd);
    return result;
  }
  struct stat info {};
  if (fstat(fd, &info) != 0 || static_cast<uint64_t>(info.st_size) <= maxBytes) {
    close(fd);
    return result;
  }
  off_t block = info.st_blksize > 0 ? info.st_blksize : 4096;
  off_t cut = info.st_size / block * block;
  if (cut == 0) {
    close(fd);
    return result;
  }
  unlink(numbered(path, maxFiles).c_str());
  for (int n = maxFiles - 1; n >= 1; --n) rename(numbered(path, n).c_str(), numbered(path, n + 1).c_str());
  std::string first = numbered(path, 1);
  int out = openFileNoFollow(first, O_WRONLY | O_CREAT | O_EXCL, 0640);
  if (out < 0) {
    result.error = "cannot create " + first + ": " + openErrorText(out);
    close(fd);
    return result;
  }
  bool copied = copyHead(fd, out, cut);
  close(out);
  if (!copied) {
    result.error = "cannot copy " + path + " to " + first + ": " + strerror(errno);
    unlink(first.c_str());
  } else if (fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, cut) != 0) {
    // Without collapse support (tmpfs, NFS) the head is not cut: keep the
    // live file whole rather than truncate bytes a ship may be writing.
    result.error = "cannot cut " + path + " in place (" + strerror(errno) + "); this filesystem cannot rotate ship logs";
    unlink(first.c_str());
  } else {
    result.rotated = true;
  }
  close(fd);
  return result;
}

}  // namespace keelan
