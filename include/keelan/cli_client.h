#pragma once
// What every CLI command shares: the error that ends a command with an exit
// code, where the daemon is, and requests to it within the --timeout. A
// command never calls exit(): it returns its code or throws CliError, and only
// runCli turns that into the process's exit code and message.
#include <sys/types.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "keelan/cli.h"
#include "keelan/client.h"
#include "keelan/paths.h"

namespace keelan {

struct CliError {
  int code;
  std::string message;
};

[[noreturn]] void fail(int code, const std::string& message);

// The chosen subcommand's work, set by its CLI11 callback once parsing is done.
using CliAction = std::function<int()>;

// How long each request may wait for its reply (--timeout, KEELAN_TIMEOUT;
// default 30 s). Set once by runCli before any command runs.
int callTimeoutMs();
void setCallTimeoutMs(int ms);
std::string secondsText(int ms);

Paths basePaths();
// Where clients look for the daemon: KEELAN_SOCKET overrides the default.
std::string clientSocket(const Paths& paths);

// The process at the other end of the connection: the daemon, even when it
// is stopped and answers nothing. 0 when unknown.
pid_t peerPid(const DaemonClient& client);
// connect() bounded by the --timeout; EINTR in `err` means it passed.
std::string connectWithin(DaemonClient& client, const std::string& socketPath, int* err = nullptr);
std::string notAcceptedText();
std::string noAnswerText(const DaemonClient& client, int timeoutMs);
inline constexpr const char* kNoAnswer = "the daemon closed the connection without answering";

std::string errorText(const nlohmann::json& response);
std::string errorCode(const nlohmann::json& response);
int codeFor(const nlohmann::json& response);

DaemonClient connectOrFail(const std::string& socketPath);
nlohmann::json checkResponse(std::optional<nlohmann::json> response);
// One request within the deadline, plus `extraMs` for requests that wait on
// a ship by design; nullopt: the connection closed without a reply.
std::optional<nlohmann::json> callWithin(DaemonClient& client, const nlohmann::json& request, int extraMs = 0);
nlohmann::json callOrFail(DaemonClient& client, const nlohmann::json& request, int extraMs = 0);

// KEY=VALUE pairs of repeated --label options, checked as labels; a bad
// one fails the command (exit 2).
std::map<std::string, std::string> labelOptions(const std::vector<std::string>& pairs);
// The names of the ships carrying every label of `selector`: all of them, or
// only those running (what a signal can reach).
std::vector<std::string> labelledShips(DaemonClient& client, const std::map<std::string, std::string>& selector,
                                       bool runningOnly = false);

// Gone or a zombie.
bool processGone(pid_t pid);
// Polls `done` every 5 ms until it holds (true) or the deadline passes.
bool waitUntil(int64_t deadlineMs, const std::function<bool()>& done);

}  // namespace keelan
