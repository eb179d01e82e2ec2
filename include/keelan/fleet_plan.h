#pragma once
// What `keelan apply` does, decided before anything is done: for each ship
// of the files, create it, replace it (its definition changed, or it is not
// running), or leave it alone; with prune, remove the ships an earlier apply
// created that the files no longer name. Definitions are compared in their
// canonical form (shipSpecToJson of the decoded spec, apply's mark left
// out), so "10M" and 10485760, or a key order, are the same definition.
// Pure: unit-tested without a daemon.
#include <cstddef>
#include <string>
#include <vector>

#include "keelan/ship.h"

namespace keelan {

enum class PlanAction { create, update, unchanged, remove };
const char* planActionName(PlanAction action);  // "create", "update", "unchanged", "remove"

struct PlanStep {
  std::string name;
  PlanAction action = PlanAction::unchanged;
  std::string reason;  // for update: "definition changed (command, env)" or "not running"
  bool running = false;  // the deployed ship runs now (an update must replace it)
};

// The steps in the order of `desired` (by name within one file: TOML tables
// are unordered), then the removals in name order.
std::vector<PlanStep> planApply(const std::vector<ShipSpec>& desired, const std::vector<ShipRecord>& deployed,
                                bool prune);

// The fields of two definitions that differ, in field order ("" when identical).
std::string changedFields(const ShipSpec& from, const ShipSpec& to);

struct ApplyCounts {
  size_t created = 0, updated = 0, unchanged = 0, removed = 0, failed = 0;
  void count(PlanAction action);
};
// "2 created, 1 updated, 5 unchanged, 1 removed", then ", 1 failed" if any.
std::string applySummary(const ApplyCounts& counts);

}  // namespace keelan
