#pragma once
// Wall-clock stamps as UTC ISO-8601 with milliseconds, and a monotonic clock
// for durations.
#include <cstdint>
#include <string>

namespace keelan {

int64_t wallClockMs();
int64_t monotonicMs();
// 2026-11-26T10:15:03.123Z
std::string isoTime(int64_t epochMs);
inline std::string nowIso() { return isoTime(wallClockMs()); }
// The inverse of isoTime; -1 when the text is not in that form.
int64_t parseIsoTime(const std::string& text);

}  // namespace keelan
