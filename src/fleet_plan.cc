#include "keelan/fleet_plan.h"

#include <map>
#include <set>

namespace keelan {

const char* planActionName(PlanAction action) {
  switch (action) {
    case PlanAction::create: return "create";
    case PlanAction::update: return "update";
    case PlanAction::unchanged: return "unchanged";
    case PlanAction::remove: return "remove";
  }
  return "unchanged";
}

std::string changedFields(const ShipSpec& from, const ShipSpec& to) {
  nlohmann::json a = shipSpecToJson(from), b = shipSpecToJson(to);
  a.erase("name");
  b.erase("name");
  std::string changed;
  for (const auto& [key, value] : b.items())
    if (!a.contains(key) || a[key] != value) changed += (changed.empty() ? "" : ", ") + key;
  return changed;
}

std::vector<PlanStep> planApply(const std::vector<ShipSpec>& desired, const std::vector<ShipRecord>& deployed,
                                bool prune) {
  std::map<std::string, const ShipRecord*> byName;
  for (const auto& record : deployed) byName[record.spec.name] = &record;
  std::vector<PlanStep> steps;
  std::set<std::string> named;
  for (const auto& spec : desired) {
    named.insert(spec.name);
    PlanStep step{spec.name, PlanAction::create, "", false};
    auto found = byName.find(spec.name);
    if (found != byName.end()) {
      const ShipRecord& record = *found->second;
      step.running = record.status == ShipStatus::running;
      bool up = step.running || record.status == ShipStatus::backoff;
      std::string changed = changedFields(record.spec, spec);
      step.action = changed.empty() && up ? PlanAction::unchanged : PlanAction::update;
      if (!changed.empty()) step.reason = "definition changed (" + changed + ")";
      else if (!up) step.reason = "not running";
    }
    steps.push_back(std::move(step));
  }
  if (!prune) return steps;
  for (const auto& [name, record] : byName)
    if (record->spec.managedByApply && named.count(name) == 0)
      steps.push_back({name, PlanAction::remove, "no longer in the files", record->status == ShipStatus::running});
  return steps;
}

void ApplyCounts::count(PlanAction action) {
  switch (action) {
    case PlanAction::create: ++created; return;
    case PlanAction::update: ++updated; return;
    case PlanAction::unchanged: ++unchanged; return;
    case PlanAction::remove: ++removed; return;
  }
}

std::string applySummary(const ApplyCounts& counts) {
  std::string line = std::to_string(counts.created) + " created, " + std::to_string(counts.updated) + " updated, " +
                     std::to_string(counts.unchanged) + " unchanged, " + std::to_string(counts.removed) + " removed";
  if (counts.failed > 0) line += ", " + std::to_string(counts.failed) + " failed";
  return line;
}

}  // namespace keelan
