#include "keelan/metrics.h"

#include <gtest/gtest.h>

namespace keelan {
namespace {

TEST(Metrics, HistogramBucketsAreCumulative) {
  Histogram h;
  h.observe(0.00003);
  h.observe(0.0007);
  h.observe(5.0);
  std::string out;
  h.render(out, "x_seconds", "help");
  EXPECT_NE(out.find("# TYPE x_seconds histogram\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{le=\"5.0000000000000002e-05\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.001\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"1\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_count 3\n"), std::string::npos);
}

TEST(Metrics, FamiliesWithEscapedLabels) {
  std::string out;
  renderFamily(out, "ships", "gauge", "Ships by status", {{{{"status", "run\"ning"}}, 2}, {{{"status", "a\nb"}}, 0}});
  EXPECT_EQ(out,
            "# HELP ships Ships by status\n# TYPE ships gauge\nships{status=\"run\\\"ning\"} 2\nships{status=\"a\\nb\"} 0\n");
  std::string plain;
  renderValue(plain, "up", "gauge", "Up", 1);
  EXPECT_EQ(plain, "# HELP up Up\n# TYPE up gauge\nup 1\n");
}

}  // namespace
}  // namespace keelan
