#pragma once
// Prometheus text exposition (version 0.0.4) of the daemon's counters,
// gauges and histograms. Rendering is pure, so it is unit-tested.
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace keelan {

class Histogram {
 public:
  // Upper bounds in seconds, from 50 µs to 1 s.
  static constexpr std::array<double, 12> kBounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                     0.005,   0.01,   0.025,   0.05,   0.25,  1.0};
  void observe(double seconds);
  uint64_t count() const { return count_; }
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::array<uint64_t, kBounds.size()> buckets_{};
  uint64_t count_ = 0;
  double sum_ = 0;
};

using Labels = std::vector<std::pair<std::string, std::string>>;

// One metric family with any number of labelled samples.
void renderFamily(std::string& out, const std::string& name, const char* type, const std::string& help,
                  const std::vector<std::pair<Labels, double>>& samples);
void renderValue(std::string& out, const std::string& name, const char* type, const std::string& help, double value);

}  // namespace keelan
