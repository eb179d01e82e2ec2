#include "keelan/cli_render.h"

#include <algorithm>
#include <iostream>

#include "keelan/cli.h"
#include "keelan/exit_status.h"

namespace keelan {

using nlohmann::json;

namespace {

std::string exitColumn(const json& ship) {
  if (ship["exitCode"].is_number()) return std::to_string(ship["exitCode"].get<int>());
  if (ship["termSignal"].is_number()) return signalName(ship["termSignal"].get<int>());
  return "-";
}

ExitStatus exitOf(const json& ship) {
  if (ship.value("exitCode", json()).is_number()) return ExitStatus::exited(ship["exitCode"].get<int>());
  if (ship.value("termSignal", json()).is_number())
    return ExitStatus::signaled(ship["termSignal"].get<int>(), ship.value("coreDumped", json(false)) == true);
  return {};
}

std::string pidText(const json& pid) { return pid.is_number() ? std::to_string(pid.get<int>()) : "-"; }

}  // namespace

std::string humanSize(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char buffer[32];
  snprintf(buffer, sizeof buffer, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return buffer;
}

std::string humanDuration(int64_t seconds) {
  std::string out;
  if (seconds >= 86400) out += std::to_string(seconds / 86400) + "d ";
  if (seconds >= 3600) out += std::to_string(seconds % 86400 / 3600) + "h ";
  if (seconds >= 60) out += std::to_string(seconds % 3600 / 60) + "m ";
  out += std::to_string(seconds % 60) + "s";
  return out;
}

std::string str(const json& value) { return value.is_string() ? value.get<std::string>() : "-"; }

std::string endingOf(const json& ship) {
  std::string status = ship.value("status", "");
  if (status == "failed") return "failed to start: " + str(ship["error"]);
  std::string text = exitOf(ship).describe();
  if (ship["stoppedReason"].is_string()) text += " (" + ship["stoppedReason"].get<std::string>() + ")";
  return text;
}

int exitCodeOf(const json& ship) {
  if (ship.value("status", "") == "failed") return 127;
  int code = exitOf(ship).shellCode();
  return code < 0 ? kExitFailed : code;
}

void printTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

// ", 2 processes still running": what a stopped ship's main process left behind.
std::string stillRunning(const json& ship) {
  uint64_t left = ship.value("processesLeft", uint64_t{0});
  if (left == 0 || ship.value("status", "") == "running") return "";
  return ", " + std::to_string(left) + (left == 1 ? " process" : " processes") + " still running";
}

void printShipTable(const json& ships) {
  std::vector<std::vector<std::string>> rows = {{"NAME", "STATUS", "PID", "STARTED", "STOPPED", "EXIT"}};
  for (const auto& ship : ships) {
    std::string status = ship.value("status", "");
    if (ship.value("adopted", false) && status == "running") status += " (adopted)";
    if (status == "backoff") status += " until " + str(ship["nextAttemptAt"]);
    status += stillRunning(ship);
    rows.push_back({ship["name"].get<std::string>(), status, pidText(ship["processId"]), str(ship["startedAt"]),
                    str(ship["stoppedAt"]), exitColumn(ship)});
  }
  printTable(rows);
}

namespace {

void printField(const char* label, const std::string& value) { std::cout << label << value << "\n"; }

void printHistory(const json& ship) {
  std::cout << "history (last " << ship["history"].size() << " runs):\n";
  std::vector<std::vector<std::string>> rows = {{"  RUN", "PID", "STARTED", "STOPPED", "EXIT"}};
  for (const auto& run : ship["history"])
    rows.push_back({"  " + std::to_string(run.value("run", 0)), pidText(run["pid"]), str(run["startedAt"]),
                    str(run["stoppedAt"]), exitColumn(run)});
  printTable(rows);
}

}  // namespace

void printShipDetails(const json& ship) {
  printField("name:         ", ship["name"].get<std::string>());
  printField("status:       ", ship["status"].get<std::string>() + (ship.value("adopted", false) ? " (adopted)" : "") +
                                 stillRunning(ship));
  printField("kill mode:    ", ship.value("killMode", "control-group"));
  printField("pid:          ", pidText(ship["processId"]));
  std::string command;
  for (const auto& arg : ship["command"]) command += (command.empty() ? "" : " ") + arg.get<std::string>();
  printField("command:      ", command);
  printField("root:         ", str(ship["root"]));
  printField("cwd:          ", str(ship["cwd"]));
  printField("user:         ", str(ship["user"]));
  printField("restart:      ", str(ship["restart"]) + " (" + std::to_string(ship.value("restarts", 0)) +
                                   " restarts so far" +
                                   (ship["nextAttemptAt"].is_string() ? ", next at " + str(ship["nextAttemptAt"]) : "") +
                                   ")");
  if (ship["onExit"].is_string()) printField("on exit:      ", str(ship["onExit"]));
  printField("started:      ", str(ship["startedAt"]));
  printField("stopped:      ", str(ship["stoppedAt"]));
  if (ship["status"] != "running") {
    std::string source = ship["exitStatusSource"].is_string()
                             ? " [exact, from " + ship["exitStatusSource"].get<std::string>() + "]"
                             : (ship["status"] == "stopped" ? " [unknown: not observed by keelan]" : "");
    printField("ending:       ", endingOf(ship) + source);
  }
  printField("deploys:      ", std::to_string(ship.value("deployCount", 0)));
  printField("last checked: ", str(ship["lastCheckedAt"]));
  printHistory(ship);
}

int printWaitResult(const std::string& name, const json& ship, bool asJson) {
  if (asJson) std::cout << ship.dump(2) << "\n";
  else std::cout << name << " " << endingOf(ship) << "\n";
  return exitCodeOf(ship);
}

std::string eventLine(const json& event) {
  const json& record = event["record"];
  std::string line = str(event["at"]) + " " + str(event["event"]) + " " + str(event["ship"]);
  if (record["processId"].is_number()) line += " pid=" + std::to_string(record["processId"].get<int>());
  std::string ev = str(event["event"]);
  if (ev == "stopped" || ev == "failed") line += ": " + endingOf(record);
  return line;
}

void printDaemonStatusJson(const DaemonStatusView& view) {
  const json& s = view.reply;
  json out = {{"running", true},
              {"pid", s["pid"]},
              {"version", s["version"]},
              {"uptimeSeconds", s["uptimeSeconds"]},
              {"socket", s["socket"]},
              {"intervalSeconds", s["intervalSeconds"]},
              {"durability", s.value("durability", json())},
              {"flushIntervalMs", s.value("flushIntervalMs", json())},
              {"logFile", view.logFile},
              {"logSizeBytes", view.logSize},
              {"pidFile", s["pidFile"]},
              {"baseDirectory", s["baseDirectory"]},
              {"recentLog", view.recentLog},
              {"ships", s["ships"]},
              {"adopted", s["adopted"]},
              {"orphansReaped", s["orphansReaped"]},
              {"processTracking", s.value("processTracking", json())},
              {"generation", s.value("generation", json())},
              {"store", s.value("store", json::object())}};
  if (s.contains("restartError")) out["restartError"] = s["restartError"];
  if (s.contains("config")) out["config"] = s["config"];
  std::cout << out.dump(2) << "\n";
}

namespace {

// An older daemon sends no durability: it is strict.
void printDurabilityLine(const json& s) {
  std::string mode = s.value("durability", "strict");
  std::cout << "  durability: " << mode;
  if (mode == "group")
    std::cout << " (told at once, flushed to the device every " << s.value("flushIntervalMs", 0) << " ms)";
  else
    std::cout << " (each record on the device before it is told)";
  std::cout << "\n";
}

void printStoreLine(const json& store) {
  if (store.value("available", true))
    std::cout << "  store:     ok";
  else
    std::cout << "  store:     UNAVAILABLE since " << store.value("unavailableSince", "?") << " ("
              << store.value("unavailableSeconds", 0) << " s): " << store.value("reason", "") << "; writes are refused";
  std::cout << ", quarantined records " << store.value("quarantined", 0) << "\n";
}

}  // namespace

void printDaemonStatus(const DaemonStatusView& view) {
  const json& s = view.reply;
  const json& ships = s["ships"];
  std::cout << "keelan daemon is running (pid " << s["pid"].get<int>() << ")\n"
            << "  version:   " << str(s["version"]) << "\n"
            << "  uptime:    " << humanDuration(s["uptimeSeconds"].get<int64_t>()) << "\n"
            << "  base:      " << str(s["baseDirectory"]) << "\n"
            << "  socket:    " << str(s["socket"]) << "\n"
            << "  interval:  " << s["intervalSeconds"].get<int>() << "s\n";
  if (s.contains("durability")) printDurabilityLine(s);
  std::cout
            << "  log file:  " << view.logFile << " (" << humanSize(view.logSize) << ")\n"
            << "  pid file:  " << str(s["pidFile"]) << "\n"
            << "  config:    " << (s.contains("config") ? str(s["config"]["file"]) : "-") << "\n"
            << "  ships:     running " << ships.value("running", 0) << ", stopped " << ships.value("stopped", 0)
            << ", failed " << ships.value("failed", 0) << ", backoff " << ships.value("backoff", 0) << ", lost "
            << ships.value("lost", 0) << " (adopted " << s.value("adopted", 0) << ")\n";
  if (s.contains("processTracking")) std::cout << "  tracking:  " << str(s["processTracking"]) << "\n";
  if (s.contains("store") && s["store"].is_object()) printStoreLine(s["store"]);
  if (!view.recentLog.empty()) {
    std::cout << "recent log:\n";
    for (const auto& line : view.recentLog) std::cout << "  " << line << "\n";
  }
}

void printStoreReport(const json& report, const std::string& what) {
  bool ok = report.value("ok", false);
  std::cout << "store " << what << ": " << (ok ? "ok" : "DAMAGED") << "\n";
  if (report.contains("pagesChecked"))
    std::cout << "  pages checked: " << report.value("pagesChecked", 0) << " (page size " << report.value("pageSize", 0)
              << ")\n";
  if (report.contains("byStatus")) {
    const json& by = report["byStatus"];
    std::cout << "  ships:         " << report.value("ships", 0) << " (running " << by.value("running", 0) << ", stopped "
              << by.value("stopped", 0) << ", failed " << by.value("failed", 0) << ", backoff " << by.value("backoff", 0)
              << ", lost " << by.value("lost", 0) << ")\n"
              << "  runs:          " << report.value("runs", 0) << "\n"
              << "  quarantined:   " << report.value("quarantined", 0) << "\n";
  }
  for (const auto& problem : report.value("problems", json::array()))
    std::cout << "  problem:       " << problem.get<std::string>() << "\n";
  for (const auto& bad : report.value("badRecords", json::array()))
    std::cout << "  bad record:    " << bad.value("table", "") << " '"
              << json(bad.value("key", "")).dump(-1, ' ', false, json::error_handler_t::replace) << "': "
              << bad.value("error", "") << "\n";
}

}  // namespace keelan
