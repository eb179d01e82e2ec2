#include "keelan/exit_status.h"

#include <sys/wait.h>

#include <csignal>
#include <cstring>
#include <string>

namespace keelan {

ExitStatus ExitStatus::fromWaitStatus(int status) {
  if (WIFEXITED(status)) return exited(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return signaled(WTERMSIG(status), WCOREDUMP(status));
  return {};
}

int ExitStatus::shellCode() const {
  switch (kind) {
    case Kind::exited: return code;
    case Kind::signaled: return 128 + signal;
    case Kind::unknown: return -1;
  }
  return -1;
}

std::string ExitStatus::describe() const {
  switch (kind) {
    case Kind::exited: return "exited with code " + std::to_string(code);
    case Kind::signaled: {
      std::string text = "killed by signal " + std::to_string(signal) + " (" + signalName(signal) + ")";
      if (coreDumped) text += ", core dumped";
      return text;
    }
    case Kind::unknown: return "exit status unknown";
  }
  return "exit status unknown";
}

namespace {
struct SignalEntry {
  const char* name;
  int number;
};
constexpr SignalEntry kSignals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},     {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"BUS", SIGBUS},   {"FPE", SIGFPE},   {"KILL", SIGKILL},   {"USR1", SIGUSR1},
    {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},   {"TERM", SIGTERM},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU}, {"URG", SIGURG},   {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},   {"PWR", SIGPWR},     {"SYS", SIGSYS},
};
}  // namespace

std::string signalName(int sig) {
  for (const auto& entry : kSignals)
    if (entry.number == sig) return std::string("SIG") + entry.name;
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) return "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  return "SIG" + std::to_string(sig);
}

int parseSignal(const std::string& text) {
  if (text.empty()) return 0;
  if (text.find_first_not_of("0123456789") == std::string::npos) {
    if (text.size() > 3) return 0;
    int number = std::stoi(text);
    return (number >= 1 && number <= SIGRTMAX) ? number : 0;
  }
  std::string name = text;
  for (auto& c : name) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  for (const auto& entry : kSignals)
    if (name == entry.name) return entry.number;
  return 0;
}

}  // namespace keelan
