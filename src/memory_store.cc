#include "keelan/memory_store.h"

#include <nlohmann/json.hpp>

namespace keelan {

std::string MemoryStore::loadShips(std::vector<ShipRecord>& out, std::vector<std::string>* quarantined) {
  (void)quarantined;
  for (const auto& [name, text] : ships) out.push_back(shipRecordFromJson(nlohmann::json::parse(text)));
  return "";
}

std::string MemoryStore::loadRuns(const std::string& name, std::vector<RunRecord>& out) {
  if (auto it = runs.find(name); it != runs.end()) out.assign(it->second.begin(), it->second.end());
  return "";
}

std::string MemoryStore::commit(const StoreBatch& batch) {
  if (!failCommits.empty()) return failCommits;
  for (const auto& name : batch.removes) {
    ships.erase(name);
    runs.erase(name);
  }
  for (const auto& [name, text] : batch.puts) ships[name] = text;
  for (const auto& [name, run] : batch.runs) {
    auto& history = runs[name];
    history.push_back(run);
    while (history.size() > kRunHistory) history.pop_front();
  }
  ++commits;
  return "";
}

std::string MemoryStore::backupTo(int fd) {
  (void)fd;
  return "an in-memory store has no backup";
}

}  // namespace keelan
