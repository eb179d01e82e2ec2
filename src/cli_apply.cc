#include "keelan/cli_apply.h"

#include <iostream>
#include <map>
#include <memory>

#include "keelan/cli_ships.h"
#include "keelan/fleet_plan.h"
#include "keelan/ship.h"
#include "keelan/ship_file.h"

namespace keelan {

using nlohmann::json;

namespace {

struct ApplyOptions {
  std::vector<std::string> paths;
  bool prune = false, dryRun = false, asJson = false;
};

struct Outcome {
  PlanStep step;
  bool ok = true;
  std::string error;
  json processId;  // of the new run, for create and update
};

// The daemon's records, every ship.
std::vector<ShipRecord> deployedShips(DaemonClient& client) {
  json listed = callOrFail(client, {{"op", "list"}, {"all", true}});
  std::vector<ShipRecord> records;
  for (const auto& ship : listed["ships"]) records.push_back(shipRecordFromJson(ship));
  return records;
}

Outcome runStep(DaemonClient& client, const PlanStep& step, const std::map<std::string, json>& ships) {
  Outcome outcome{step, true, "", nullptr};
  if (step.action == PlanAction::unchanged) return outcome;
  json request;
  int extraMs = 0;
  if (step.action == PlanAction::remove) {
    request = {{"op", "rm"}, {"name", step.name}, {"force", true}};
    extraMs = 10000;  // the daemon's stop timeout, then SIGKILL
  } else {
    request = {{"op", "deploy"}, {"name", step.name}, {"ship", ships.at(step.name)}, {"applied", true},
               {"replace", step.running}};
    if (step.running) extraMs = 10000;
  }
  auto response = callWithin(client, request, extraMs);
  if (!response) {
    outcome.ok = false;
    outcome.error = "the daemon did not answer";
  } else if (!response->value("ok", false)) {
    outcome.ok = false;
    outcome.error = errorText(*response);
  } else if (response->contains("ship")) {
    outcome.processId = (*response)["ship"].value("processId", json(nullptr));
  }
  return outcome;
}

std::string pastTense(PlanAction action) {
  switch (action) {
    case PlanAction::create: return "created";
    case PlanAction::update: return "updated";
    case PlanAction::unchanged: return "unchanged";
    case PlanAction::remove: return "removed";
  }
  return "";
}

void printText(const std::vector<Outcome>& outcomes, const ApplyCounts& counts, bool dryRun) {
  for (const auto& o : outcomes) {
    const PlanStep& s = o.step;
    std::string line = !o.ok ? "failed " + s.name + ": " + o.error
                       : dryRun ? std::string(planActionName(s.action)) + " " + s.name
                                : pastTense(s.action) + " " + s.name;
    if (o.ok && !s.reason.empty()) line += " (" + s.reason + ")";
    if (o.ok && !o.processId.is_null()) line += " pid " + o.processId.dump();
    std::cout << line << "\n";
  }
  std::cout << applySummary(counts) << (dryRun ? " (dry run: nothing was changed)" : "") << "\n";
}

void printJson(const std::vector<Outcome>& outcomes, const ApplyCounts& counts, bool dryRun) {
  json ships = json::array();
  for (const auto& o : outcomes) {
    json ship = {{"name", o.step.name}, {"action", planActionName(o.step.action)}, {"ok", o.ok}};
    ship["reason"] = o.step.reason.empty() ? json(nullptr) : json(o.step.reason);
    ship["error"] = o.ok ? json(nullptr) : json(o.error);
    ship["processId"] = o.processId;
    ships.push_back(std::move(ship));
  }
  json out = {{"dryRun", dryRun}, {"ships", ships}, {"summary", applySummary(counts)}};
  out["counts"] = {{"created", counts.created}, {"updated", counts.updated}, {"unchanged", counts.unchanged},
                   {"removed", counts.removed}, {"failed", counts.failed}};
  std::cout << out.dump(2) << "\n";
}

int applyCommand(const ApplyOptions& o) {
  auto read = readShipFiles(o.paths);
  if (!read) fail(kExitUsage, read.error().message);
  std::vector<ShipSpec> desired;
  std::map<std::string, json> ships;
  for (const auto& definition : read.value()) {
    try {
      desired.push_back(shipSpecFromJson(definition.ship, definition.name));
    } catch (const std::invalid_argument& e) {
      fail(kExitUsage, definition.origin + ": " + e.what());
    }
    desired.back().name = definition.name;
    if (auto e = validateShipSpec(desired.back()); !e.empty()) fail(kExitUsage, definition.origin + ": " + e);
    ships[definition.name] = definition.ship;
  }
  // A dry run starts no daemon: without one, every ship would be created.
  DaemonClient client;
  std::vector<ShipRecord> deployed;
  if (!o.dryRun) client = connectStartingIfNeeded(basePaths());
  if (!o.dryRun || connectWithin(client, clientSocket(basePaths())).empty()) deployed = deployedShips(client);
  std::vector<PlanStep> plan = planApply(desired, deployed, o.prune);
  std::vector<Outcome> outcomes;
  ApplyCounts counts;
  for (const auto& step : plan) {
    outcomes.push_back(o.dryRun ? Outcome{step, true, "", nullptr} : runStep(client, step, ships));
    if (outcomes.back().ok) counts.count(step.action);
    else ++counts.failed;
  }
  if (o.asJson) printJson(outcomes, counts, o.dryRun);
  else printText(outcomes, counts, o.dryRun);
  return counts.failed > 0 ? kExitFailed : kExitOk;
}

}  // namespace

void addApplyCommand(CLI::App& app, CliAction& action) {
  auto o = std::make_shared<ApplyOptions>();
  auto* apply = app.add_subcommand("apply", "bring the ships of fleet files, ship files or directories to the daemon");
  apply->add_option("paths", o->paths, "fleet files, ship files (.toml, .json) or directories of them")->required();
  apply->add_flag("--prune", o->prune, "stop and remove ships an earlier apply created that the files no longer name");
  apply->add_flag("--dry-run", o->dryRun, "print the plan (create / update / unchanged / remove); change nothing");
  apply->add_flag("--json", o->asJson, "print JSON");
  apply->callback([&action, o] { action = [o] { return applyCommand(*o); }; });
}

}  // namespace keelan
