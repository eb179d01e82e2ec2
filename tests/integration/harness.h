#pragma once
// The integration-test harness: runs the real `keelan` binary against a real
// daemon in a temporary BASE_DIRECTORY. Each test process is a child
// subreaper, so every daemon and ship it starts ends up as its child when
// orphaned; TearDown kills all of them by PID and reaps them, so no test
// leaves a process, a zombie or a directory behind.
#include <gtest/gtest.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace keelan::test {

struct Result {
  int code = -1;  // exit code, or 128+signal
  std::string out, err;
};

// Lines read from a file descriptor it owns (and closes), each read with a deadline.
class LineReader {
 public:
  explicit LineReader(int fd = -1) : fd_(fd) {}
  ~LineReader();
  LineReader(LineReader&& other) noexcept;
  LineReader& operator=(LineReader&& other) noexcept;
  // One line without its '\n'; false on EOF, error or after timeoutMs.
  bool readLine(std::string& line, int timeoutMs);
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::string buffer_;
};

// A process started in the background with its stdout readable line by line.
class Background {
 public:
  Background() = default;
  Background(pid_t pid, int outFd) : pid_(pid), out_(outFd) {}
  ~Background();
  Background(Background&& other) noexcept;
  Background& operator=(Background&& other) noexcept;
  // Reads one line of stdout; false on EOF or after timeoutMs.
  bool readLine(std::string& line, int timeoutMs) { return out_.readLine(line, timeoutMs); }
  // Waits for exit; returns the exit code (128+signal), or -1 after timeout.
  int wait(int timeoutMs);
  void signal(int sig);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  LineReader out_;
};

using JsonMatch = std::function<bool(const nlohmann::json&)>;
// Matches the event KIND ("stopped", "backoff"...) of ship SHIP.
JsonMatch eventIs(const std::string& kind, const std::string& ship);

// A subscription to the daemon's `events` op (docs/protocol.md). Once
// KeelanTest::subscribe() has returned it, every change committed later is
// on it: subscribe BEFORE the action whose event you wait for.
class EventStream {
 public:
  EventStream() = default;
  explicit EventStream(int fd) : in_(fd) {}
  bool ok() const { return in_.fd() >= 0; }
  // Reads lines (events, and replies to send()) until one matches; nullopt
  // on EOF or past the timeout. Lines that do not match are dropped.
  std::optional<nlohmann::json> waitFor(const JsonMatch& match, int timeoutMs = 10000);
  // Sends a request on the subscription's own connection (no CLI process in
  // between); its reply, which carries the request's id, comes to waitFor.
  bool send(const nlohmann::json& request);
  // Waits until event KIND has come for each of SHIPS; false past the timeout.
  bool waitForEach(const std::string& kind, std::set<std::string> ships, int timeoutMs);

 private:
  LineReader in_;
};

class KeelanTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Runs `keelan ARGS...` with BASE_DIRECTORY set; fails the test past the timeout.
  Result keelan(const std::vector<std::string>& args, int timeoutMs = 20000,
                const std::map<std::string, std::string>& env = {});
  Background keelanBackground(const std::vector<std::string>& args,
                              const std::map<std::string, std::string>& env = {});
  nlohmann::json json(const std::vector<std::string>& args);
  void startDaemon(const std::vector<std::string>& extra = {});
  // A cold restart of the daemon (stop, reap, start), with these `daemon start` options.
  void restartDaemon(const std::vector<std::string>& extra);
  pid_t daemonPid();
  // A minimal chroot: busybox plus applet links, /tmp.
  std::string makeRoot();
  nlohmann::json inspect(const std::string& name);
  void removeCgroupSubtree();
  // deploy NAME --root ROOT [EXTRA...] -- /bin/sh -c SCRIPT (makeRoot() first)
  Result deploySh(const std::string& name, const std::string& script, const std::vector<std::string>& extra = {});
  // Ships PREFIX0 … PREFIX(n-1), each `/bin/sh -c scriptOf(i)` in makeRoot(),
  // deployed by one `keelan apply` of a fleet file: one CLI start instead of
  // n (a sanitized CLI start costs ~0.2 s). Returns apply's result.
  Result deployShMany(const std::string& prefix, int n, const std::function<std::string(int)>& scriptOf);
  // The value of one unlabelled sample of `keelan metrics` (e.g.
  // "keelan_lmdb_commit_seconds_count"), or -1 when it is absent.
  long metricSample(const std::string& sample);
  // name → pid of every running ship, from one `ps --json`.
  std::map<std::string, pid_t> runningPids();
  // Polls `condition` every few milliseconds until it holds or the deadline passes.
  bool eventually(const std::function<bool()>& condition, int timeoutMs = 10000);
  // A raw connection to the daemon socket (the caller closes it), or -1.
  int connectDaemon();
  // Subscribes to the daemon's events; !ok() when that failed.
  EventStream subscribe(int timeoutMs = 5000);
  // Sends raw bytes to the daemon socket and returns the reply lines.
  std::vector<std::string> rawExchange(const std::string& bytes, size_t expectLines, int timeoutMs = 5000);

  std::string base_;
  std::string root_;
};

std::string keelanBinary();
// PREFIX followed by N ("ship7"). Not `"ship" + std::to_string(n)`: GCC 12 at -O3 reports a false
// -Wrestrict inside that operator+ (a literal plus a temporary string) in some inlining contexts.
std::string numbered(std::string prefix, long long n);
bool processAlive(pid_t pid);  // exists and is not a zombie
bool processExists(pid_t pid);  // exists, zombie or not
std::vector<pid_t> zombieChildrenOf(pid_t parent);
std::vector<pid_t> listPids();
std::string rootOf(pid_t pid);  // where /proc/PID/root points
std::string processName(pid_t pid);  // /proc/PID/comm, without its newline
std::string readFile(const std::string& path);
// Waits for our own child `pid` and reaps it; returns 128+signal or the exit
// code, -1 on timeout or when it is not our child.
int waitChild(pid_t pid, int timeoutMs);
// Waits until `pid` has exited (a zombie now, or gone), on a pidfd: for any
// process, our child or not; it reaps nothing. False past the timeout.
bool waitForExit(pid_t pid, int timeoutMs);
// Writes all of BYTES to a socket (blocking); false if the peer went away.
bool sendAll(int fd, const std::string& bytes);

}  // namespace keelan::test
