#include "keelan/cli_client.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "keelan/pidfile.h"
#include "keelan/proc_info.h"
#include "keelan/protocol.h"
#include "keelan/ship.h"
#include "keelan/time_util.h"

namespace keelan {

using nlohmann::json;

namespace {
int timeoutMs = 30000;

void onAlarm(int) {}
}  // namespace

[[noreturn]] void fail(int code, const std::string& message) { throw CliError{code, message}; }

int callTimeoutMs() { return timeoutMs; }
void setCallTimeoutMs(int ms) { timeoutMs = ms; }

std::string secondsText(int ms) {
  char buffer[32];
  snprintf(buffer, sizeof buffer, "%g", ms / 1000.0);
  return buffer;
}

Paths basePaths() { return defaultPaths(currentBaseDirectory()); }

std::string clientSocket(const Paths& paths) {
  const char* env = getenv("KEELAN_SOCKET");
  return (env != nullptr && *env != '\0') ? absolutePath(env, currentDirectory()) : paths.socket;
}

// SO_PEERCRED on our end of the connection names the process that called
// listen().
pid_t peerPid(const DaemonClient& client) {
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (client.fd() >= 0 && getsockopt(client.fd(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0)
    return credentials.pid;
  return 0;
}

// The daemon's PID from the PID file, for when the socket names none.
std::string notAcceptedText() {
  PidFileState state = probePidFile(basePaths().pidFile);
  return "the daemon (pid " + (state.pid > 0 ? std::to_string(state.pid) : std::string("?")) +
         ") did not answer within " + secondsText(timeoutMs) + " s (it accepts no connection)";
}

// connect() to a Unix socket whose backlog is full blocks until the daemon
// accepts (a wedged one never does): a one-shot SIGALRM, installed without
// SA_RESTART, bounds it to the deadline.
std::string connectWithin(DaemonClient& client, const std::string& socketPath, int* err) {
  struct sigaction action {}, previous {};
  action.sa_handler = onAlarm;
  sigemptyset(&action.sa_mask);
  sigaction(SIGALRM, &action, &previous);
  itimerval timer{};
  timer.it_value.tv_sec = timeoutMs / 1000;
  timer.it_value.tv_usec = timeoutMs % 1000 * 1000;
  setitimer(ITIMER_REAL, &timer, nullptr);
  int error = 0;
  std::string message = client.connect(socketPath, &error);
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
  sigaction(SIGALRM, &previous, nullptr);
  if (err != nullptr) *err = error;
  return message;
}

std::string noAnswerText(const DaemonClient& client, int waitedMs) {
  pid_t pid = peerPid(client);
  return "the daemon (pid " + (pid > 0 ? std::to_string(pid) : std::string("?")) + ") did not answer within " +
         secondsText(waitedMs) + " s";
}

std::string errorText(const json& response) {
  if (response.contains("error") && response["error"].is_object())
    return response["error"].value("message", std::string("unknown error"));
  return "unknown error";
}

std::string errorCode(const json& response) {
  if (response.contains("error") && response["error"].is_object())
    return response["error"].value("code", std::string());
  return "";
}

int codeFor(const json& response) {
  return errorCode(response) == errc::invalid_argument ? kExitUsage : kExitFailed;
}

DaemonClient connectOrFail(const std::string& socketPath) {
  DaemonClient client;
  int err = 0;
  if (auto e = connectWithin(client, socketPath, &err); !e.empty()) {
    if (err == EINTR) fail(kExitFailed, notAcceptedText());
    if (err == ENOENT || err == ECONNREFUSED)
      fail(kExitFailed, "the daemon is not running (no answer on " + socketPath + "); start it with `keelan daemon start`");
    fail(kExitFailed, e);
  }
  return client;
}

json checkResponse(std::optional<json> response) {
  if (!response) fail(kExitFailed, kNoAnswer);
  if (!response->value("ok", false)) fail(codeFor(*response), errorText(*response));
  return std::move(*response);
}

// A daemon that does not answer in time ends the command.
std::optional<json> callWithin(DaemonClient& client, const json& request, int extraMs) {
  int waitMs = timeoutMs + extraMs;
  int64_t started = monotonicMs();
  auto response = client.call(request, waitMs);
  if (!response && monotonicMs() - started >= waitMs) fail(kExitFailed, noAnswerText(client, waitMs));
  return response;
}

json callOrFail(DaemonClient& client, const json& request, int extraMs) {
  return checkResponse(callWithin(client, request, extraMs));
}

// KEY=VALUE pairs of repeated --label options, checked as labels.
std::map<std::string, std::string> labelOptions(const std::vector<std::string>& pairs) {
  std::map<std::string, std::string> labels;
  for (const auto& pair : pairs) {
    size_t eq = pair.find('=');
    if (eq == std::string::npos) fail(kExitUsage, "--label takes KEY=VALUE, got '" + pair + "'");
    if (auto e = validateLabel(pair.substr(0, eq), pair.substr(eq + 1)); !e.empty()) fail(kExitUsage, "--label: " + e);
    labels[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  return labels;
}

std::vector<std::string> labelledShips(DaemonClient& client, const std::map<std::string, std::string>& selector,
                                       bool runningOnly) {
  json listed = callOrFail(client, {{"op", "list"}, {"all", true}, {"labels", selector}});
  std::vector<std::string> names;
  for (const auto& ship : listed["ships"])
    if (!runningOnly || ship.value("status", "") == "running") names.push_back(ship["name"].get<std::string>());
  return names;
}

bool processGone(pid_t pid) {
  if (kill(pid, 0) != 0) return errno == ESRCH;
  auto stat = readProcStat(pid);
  return !stat || stat->state == 'Z';
}

bool waitUntil(int64_t deadlineMs, const std::function<bool()>& done) {
  while (!done()) {
    if (monotonicMs() >= deadlineMs) return false;
    usleep(5000);
  }
  return true;
}

}  // namespace keelan
