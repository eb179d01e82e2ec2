#pragma once
// How a process ended, kept exactly as the kernel reported it. A status that
// cannot be known (an adopted ship whose parent was someone else) is its own
// value, never a guessed 0.
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace keelan {

struct ExitStatus {
  enum class Kind { unknown, exited, signaled };
  Kind kind = Kind::unknown;
  int code = 0;       // valid when kind == exited
  int signal = 0;     // valid when kind == signaled
  bool coreDumped = false;

  static ExitStatus fromWaitStatus(int status);
  static ExitStatus exited(int code) { return {Kind::exited, code, 0, false}; }
  static ExitStatus signaled(int sig, bool core) { return {Kind::signaled, 0, sig, core}; }

  bool known() const { return kind != Kind::unknown; }
  bool success() const { return kind == Kind::exited && code == 0; }
  // What a shell would report: the code, or 128+signal. -1 when unknown.
  int shellCode() const;
  // "exited with code 7", "killed by signal 9 (SIGKILL), core dumped", ...
  std::string describe() const;

  bool operator==(const ExitStatus&) const = default;
};

std::string signalName(int sig);
// Accepts "TERM", "SIGTERM" or a number; returns 0 when not a signal.
int parseSignal(const std::string& text);

}  // namespace keelan
