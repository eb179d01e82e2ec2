#pragma once
// The daemon's Prometheus text (GET /metrics and the `metrics` op), from
// the supervisor's counters and histograms and the process itself.
#include <string>

#include "keelan/store_flusher.h"
#include "keelan/supervisor.h"

namespace keelan {

struct MetricsSources {
  const Supervisor& supervisor;
  const StoreFlusher& flusher;
  double lastAdoptedPollSeconds = 0;
  size_t clients = 0;
  double uptimeSeconds = 0;
};

std::string renderDaemonMetrics(const MetricsSources& from);

}  // namespace keelan
