#include "keelan/time_util.h"

#include <cstdio>
#include <ctime>

namespace keelan {

int64_t wallClockMs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

int64_t monotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

std::string isoTime(int64_t epochMs) {
  time_t seconds = static_cast<time_t>(epochMs / 1000);
  tm parts{};
  gmtime_r(&seconds, &parts);
  char buffer[40];
  size_t n = strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &parts);
  snprintf(buffer + n, sizeof buffer - n, ".%03dZ", static_cast<int>(epochMs % 1000));
  return buffer;
}

int64_t parseIsoTime(const std::string& text) {
  tm parts{};
  int millis = 0;
  if (text.size() != 24 || sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &parts.tm_year, &parts.tm_mon,
                                  &parts.tm_mday, &parts.tm_hour, &parts.tm_min, &parts.tm_sec, &millis) != 7)
    return -1;
  parts.tm_year -= 1900;
  parts.tm_mon -= 1;
  return int64_t{timegm(&parts)} * 1000 + millis;
}

}  // namespace keelan
