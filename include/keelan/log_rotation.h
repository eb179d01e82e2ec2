#pragma once
// Ship log rotation that never makes a ship block, fail a write or lose a
// byte: ships keep appending to their own open file. The daemon copies the
// file's block-aligned head to NAME.log.1 (shifting older files up) and then
// cuts that head out of the live file in place (FALLOC_FL_COLLAPSE_RANGE),
// so bytes appended meanwhile land after the cut and stay.
#include <cstdint>
#include <optional>
#include <string>

namespace keelan {

// "10M", "512K", "1G", "4096" -> bytes; nullopt when malformed or zero.
std::optional<uint64_t> parseSize(const std::string& text);

struct RotationResult {
  bool rotated = false;
  std::string error;  // empty on success (rotated or not needed)
};

// Rotates `path` if it is larger than maxBytes, keeping maxFiles old files.
RotationResult rotateLogIfLarger(const std::string& path, uint64_t maxBytes, int maxFiles);

}  // namespace keelan
