// The crash storm: ships deployed from several clients and exiting at
// random while the daemon is SIGKILLed and restarted at random moments. At
// the end every acknowledged deploy has a record, every recorded code is
// exact or explicitly unknown (never wrong), every exit a daemon reaped is
// exact, no zombie is left and there were never two daemons.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "harness.h"
#include "keelan/proc_info.h"
#include "keelan/time_util.h"

namespace keelan::test {
namespace {

// In this test one thread reaps every child of the test process, so the
// harness's per-PID waits are not used; exits are looked up here.
class Reaper {
 public:
  Reaper() : thread_([this] { run(); }) {}
  ~Reaper() {
    stop_ = true;
    thread_.join();
  }
  // Exit code (128+signal) of our child `pid`, waiting up to timeoutMs; -1 on timeout.
  int waitFor(pid_t pid, int timeoutMs) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, std::chrono::milliseconds(timeoutMs), [&] { return exits_.count(pid) > 0; })) return -1;
    return exits_[pid];
  }
  std::set<pid_t> reaped() {
    std::lock_guard lock(mutex_);
    std::set<pid_t> out;
    for (auto& [pid, code] : exits_) out.insert(pid);
    return out;
  }

 private:
  void run() {
    while (!stop_) {
      siginfo_t info{};
      if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG) != 0 || info.si_pid == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      int code = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
      std::lock_guard lock(mutex_);
      exits_[info.si_pid] = code;
      changed_.notify_all();
    }
  }
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<pid_t, int> exits_;
  std::thread thread_;
};

class CrashStorm : public KeelanTest {
 protected:
  // Runs keelan with output to `outPath` (or /dev/null); returns its exit code.
  int run(Reaper& reaper, const std::vector<std::string>& args, const std::string& outPath = "/dev/null") {
    std::vector<std::string> strings = {keelanBinary()};
    strings.insert(strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::string baseEnv = "BASE_DIRECTORY=" + base_;
    std::vector<char*> envp = {baseEnv.data(), const_cast<char*>("PATH=/usr/bin:/bin"), nullptr};
    int out = open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t pid = fork();
    if (pid == 0) {
      dup2(null, 0);
      dup2(out, 1);
      dup2(null, 2);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(out);
    close(null);
    return reaper.waitFor(pid, 60000);
  }
  // Processes with the database open: live daemons (a starter that lost
  // the PID-file lock never opens it; clients never do).
  int countDaemons() {
    int count = 0;
    std::string dataFile = base_ + "/data/data.mdb";
    std::set<pid_t> holders;
    for (pid_t pid : listPids()) {
      if (!processAlive(pid)) continue;
      std::string fdDir = "/proc/" + std::to_string(pid) + "/fd/";
      for (int fd = 0; fd < 64; ++fd) {
        char target[4096];
        ssize_t n = readlink((fdDir + std::to_string(fd)).c_str(), target, sizeof target - 1);
        if (n > 0 && std::string(target, static_cast<size_t>(n)) == dataFile) {
          holders.insert(pid);
          break;
        }
      }
    }
    // A daemon's child between fork and exec still has the file open.
    for (pid_t pid : holders) {
      auto stat = readProcStat(pid);
      if (stat && !holders.count(stat->ppid)) ++count;
    }
    return count;
  }
  // A deploy on the socket, as the CLI sends it, but one that waits for the
  // storm to start a daemon instead of starting one itself. True when
  // acknowledged.
  bool deployOnSocket(const std::string& name, const std::string& root, const std::string& script) {
    int fd = -1;
    int64_t deadline = monotonicMs() + 20000;
    while ((fd = connectDaemon()) < 0 && monotonicMs() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a down window: poll for the next daemon
    if (fd < 0) return false;
    LineReader reader(fd);
    nlohmann::json ship = {{"root", root}, {"cwd", "/"}, {"command", {"/bin/sh", "-c", script}}};
    std::string request = nlohmann::json{{"op", "deploy"}, {"id", 1}, {"name", name}, {"ship", ship}}.dump() + "\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) return false;
    std::string line;
    if (!reader.readLine(line, 20000)) return false;
    auto reply = nlohmann::json::parse(line, nullptr, false);
    return reply.is_object() && reply.value("ok", false);
  }
  // The storm, with `daemon start` given `startOptions` (the durability
  // mode). `onSocket`: deploys that find no daemon fail instead of
  // auto-starting one with the defaults, so every daemon has the options.
  void storm(const std::vector<std::string>& startOptions, bool onSocket);
};

void CrashStorm::storm(const std::vector<std::string>& startOptions, bool onSocket) {
  std::string root = makeRoot();
  Reaper reaper;
  std::vector<std::string> start = {"daemon", "start"};
  start.insert(start.end(), startOptions.begin(), startOptions.end());
  ASSERT_EQ(run(reaper, start), 0);

  constexpr int kClients = 3, kShipsPerClient = 80, kKills = 12;
  std::mutex ackMutex;
  std::map<std::string, int> acked;  // name -> expected exit code
  std::atomic<int> attempted{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 random(static_cast<unsigned>(c * 7919 + 1));
      for (int i = 0; i < kShipsPerClient; ++i) {
        int code = c * kShipsPerClient + i + 1;  // 1..240, distinct
        std::string name = numbered("s", code);
        std::string delay = "0." + std::to_string(random() % 10) + std::to_string(random() % 10);
        if (random() % 4 == 0) delay = "1." + std::to_string(random() % 10);
        ++attempted;
        std::string script = "sleep " + delay + "; exit " + std::to_string(code);
        bool ok = onSocket ? deployOnSocket(name, root, script)
                           : run(reaper, {"deploy", name, "--root", root, "--", "/bin/sh", "-c", script}) == 0;
        if (ok) {
          std::lock_guard lock(ackMutex);
          acked[name] = code;
        }
      }
    });
  }

  std::mt19937 random(12345);
  int kills = 0, maxDaemons = 0;
  for (int round = 0; round < kKills; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + random() % 250));  // pacing, not synchronisation
    maxDaemons = std::max(maxDaemons, countDaemons());
    pid_t daemon = daemonPid();
    if (daemon > 0 && processAlive(daemon) && kill(daemon, SIGKILL) == 0) {
      EXPECT_EQ(reaper.waitFor(daemon, 10000), 128 + SIGKILL);
      ++kills;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 200));  // a down window
    int rc = run(reaper, start);
    EXPECT_TRUE(rc == 0 || rc == 1) << rc;  // 1: a deploy auto-started one first
    maxDaemons = std::max(maxDaemons, countDaemons());
  }
  for (auto& t : clients) t.join();
  EXPECT_GE(kills, 10);
  EXPECT_LE(maxDaemons, 1) << "never two daemons";

  // Let every ship finish, with a daemon up, then read the records.
  if (run(reaper, {"daemon", "status"}) != 0) {
    ASSERT_EQ(run(reaper, start), 0);
  }
  std::string psPath = base_ + "/ps.json";
  ASSERT_TRUE(eventually([&] {
    return run(reaper, {"ps", "--json"}, psPath) == 0 && nlohmann::json::parse(readFile(psPath)).empty();
  }, 60000));
  ASSERT_EQ(run(reaper, {"ps", "--all", "--json"}, psPath), 0);
  auto ships = nlohmann::json::parse(readFile(psPath));
  std::set<pid_t> reapedByTest = reaper.reaped();

  std::map<std::string, nlohmann::json> byName;
  for (const auto& ship : ships) byName[ship["name"]] = ship;
  int exact = 0, unknown = 0, wrong = 0;
  for (const auto& [name, ship] : byName) {
    int expected = atoi(name.c_str() + 1);
    EXPECT_EQ(ship["status"], "stopped") << name;
    EXPECT_TRUE(ship["termSignal"].is_null()) << name;
    if (ship["exitCode"].is_null()) {
      ++unknown;
      // Only a ship whose daemon had died (so we, its new parent, reaped
      // it) may have an unknown code.
      if (!reapedByTest.count(ship["processId"].get<pid_t>())) {
        std::string log = readFile(base_ + "/logs/monitor-daemon.log"), mentions;
        for (size_t at = log.find("ship " + name + " "); at != std::string::npos; at = log.find("ship " + name + " ", at + 1))
          mentions += log.substr(log.rfind('\n', at) + 1, log.find('\n', at) - log.rfind('\n', at)) ;
        ADD_FAILURE() << name << " has an unknown code but a daemon reaped it: " << ship.dump() << "\n" << mentions;
      }
    } else if (ship["exitCode"] == expected) {
      ++exact;
    } else {
      ++wrong;
      ADD_FAILURE() << name << " recorded " << ship["exitCode"] << ", expected " << expected;
    }
  }
  for (const auto& [name, code] : acked) EXPECT_TRUE(byName.count(name)) << "acknowledged deploy " << name << " lost";
  EXPECT_EQ(wrong, 0);
  EXPECT_TRUE(zombieChildrenOf(daemonPid()).empty());
  std::cout << "storm: " << attempted << " deploys attempted, " << acked.size() << " acknowledged, " << byName.size()
            << " recorded; " << kills << " SIGKILLs; exact codes " << exact << ", unknown " << unknown
            << ", wrong " << wrong << "\n";
}

TEST_F(CrashStorm, SigkilledDaemonLosesNothing) { storm({}, false); }

// Group durability: commits are told before they are flushed; a SIGKILL
// must still lose nothing, since the page cache outlives the process.
TEST_F(CrashStorm, SigkilledGroupDurabilityDaemonLosesNothing) {
  storm({"--durability", "group", "--flush-interval", "100"}, true);
  std::string log = readFile(base_ + "/logs/monitor-daemon.log");
  size_t group = 0, started = 0;
  for (size_t at = log.find("durability group:"); at != std::string::npos; at = log.find("durability group:", at + 1))
    ++group;
  for (size_t at = log.find("daemon starting"); at != std::string::npos; at = log.find("daemon starting", at + 1))
    ++started;
  std::cout << "storm: " << group << " of " << started << " daemons in group durability\n";
  EXPECT_EQ(group, started) << "every daemon of the storm ran in group durability";
  EXPECT_GE(started, 10u);
}

}  // namespace
}  // namespace keelan::test
