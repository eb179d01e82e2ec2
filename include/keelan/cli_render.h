#pragma once
// How the CLI shows the daemon's replies to people: tables, fields and
// sentences for ps, inspect, wait, stop, events, daemon status and store
// check. Pure formatting of JSON already received, written to stdout; the
// --json forms are printed by the commands themselves.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace keelan {

std::string humanSize(uint64_t bytes);
std::string humanDuration(int64_t seconds);
// A string field's value, or "-".
std::string str(const nlohmann::json& value);
// How a stopped ship ended, in words.
std::string endingOf(const nlohmann::json& ship);
// The code `keelan wait` exits with for a stopped ship.
int exitCodeOf(const nlohmann::json& ship);

void printTable(const std::vector<std::vector<std::string>>& rows);
void printShipTable(const nlohmann::json& ships);
void printShipDetails(const nlohmann::json& ship);
// `NAME ENDING` (or the JSON record); returns exitCodeOf(ship).
int printWaitResult(const std::string& name, const nlohmann::json& ship, bool asJson);
std::string eventLine(const nlohmann::json& event);

// `daemon status` of a running daemon: its reply, plus what the CLI read
// itself (the log file's size and last lines).
struct DaemonStatusView {
  const nlohmann::json& reply;
  std::string logFile;
  uint64_t logSize;
  std::vector<std::string> recentLog;
};
void printDaemonStatusJson(const DaemonStatusView& view);
void printDaemonStatus(const DaemonStatusView& view);

void printStoreReport(const nlohmann::json& report, const std::string& what);

}  // namespace keelan
