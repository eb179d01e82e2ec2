#include "keelan/daemon_metrics.h"

#include <unistd.h>

#include <cstdio>

#include "keelan/metrics.h"

namespace keelan {

namespace {
double residentBytes() {
  long pages = 0, resident = 0;
  if (FILE* statm = fopen("/proc/self/statm", "re")) {
    if (fscanf(statm, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(statm);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}
}  // namespace

std::string renderDaemonMetrics(const MetricsSources& from) {
  const Supervisor& s = from.supervisor;
  const Counters& c = s.counters();
  std::string out;
  std::vector<std::pair<Labels, double>> byStatus;
  nlohmann::json counts = s.countsByStatus();
  for (auto& [status, count] : counts.items()) byStatus.push_back({{{"status", status}}, count.get<double>()});
  renderFamily(out, "keelan_ships", "gauge", "Ships by status.", byStatus);
  renderValue(out, "keelan_adopted_ships", "gauge", "Running ships the daemon watches but does not parent.",
              static_cast<double>(s.adopted()));
  renderValue(out, "keelan_spawns_total", "counter", "Ships spawned.", static_cast<double>(c.spawns));
  renderValue(out, "keelan_spawn_failures_total", "counter", "Spawns that failed.", static_cast<double>(c.spawnFailures));
  renderFamily(out, "keelan_exits_total", "counter", "Ship exits by kind.",
               {{{{"kind", "zero"}}, static_cast<double>(c.exitsZero)},
                {{{"kind", "nonzero"}}, static_cast<double>(c.exitsNonZero)},
                {{{"kind", "signal"}}, static_cast<double>(c.exitsSignal)},
                {{{"kind", "unknown"}}, static_cast<double>(c.exitsUnknown)}});
  renderValue(out, "keelan_restarts_total", "counter", "Automatic restarts by policy.", static_cast<double>(c.restarts));
  renderValue(out, "keelan_orphans_reaped_total", "counter", "Orphaned descendants reaped as subreaper.",
              static_cast<double>(c.orphansReaped));
  s.gate().exitToCommit().render(out, "keelan_exit_to_commit_seconds", "From seeing an exit to its durable record.");
  s.gate().commitDuration().render(out, "keelan_lmdb_commit_seconds", "LMDB write transaction commits.");
  // Group durability only: the background fdatasync that puts group commits on the device.
  from.flusher.flushDuration().render(out, "keelan_store_flush_seconds",
                                      "Background flushes of group commits to the device (--durability group).");
  renderValue(out, "keelan_store_flush_failures_total", "counter", "Background flushes that failed.",
              static_cast<double>(from.flusher.failures()));
  renderValue(out, "keelan_health_check_seconds", "gauge", "Duration of the last health-check cycle.",
              from.lastAdoptedPollSeconds);
  renderValue(out, "keelan_client_connections", "gauge", "Open client connections.", static_cast<double>(from.clients));
  renderValue(out, "keelan_resident_memory_bytes", "gauge", "Daemon resident set size.", residentBytes());
  renderValue(out, "keelan_uptime_seconds", "gauge", "Seconds since the daemon (re)started.", from.uptimeSeconds);
  return out;
}

}  // namespace keelan
