// Micro-benchmark of the per-record hot paths and the store's pre-open scan:
// prints ns per call, the median and the best of several rounds. Not a
// test (nothing is asserted) and not part of ctest; it exists so that a
// refactor of these functions can be measured before and after on the same
// machine in the same run (issue 13).
//
//   build/release/tests/keelan_microbench [ROUNDS]   (default 9)
//
// The rounds are short and the best one is the figure to compare: on a
// shared machine the others mostly measure the neighbours.
#include <ftw.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "keelan/json_text.h"
#include "keelan/logger.h"
#include "keelan/ship_log_files.h"
#include "keelan/ship.h"
#include "keelan/store.h"
#include "keelan/store_file.h"
#include "keelan/user_ids.h"

namespace keelan {
namespace {

// A sink the optimiser cannot see through, so no call is elided.
volatile size_t sink = 0;

ShipRecord typicalRecord() {
  ShipRecord record;
  record.spec.name = "web-frontend-7";
  record.spec.command = {"/usr/bin/python3", "-m", "http.server", "8080", "--bind", "127.0.0.1"};
  record.spec.env = {{"HOME", "/srv/web"}, {"LANG", "C.UTF-8"}, {"PATH", "/usr/local/bin:/usr/bin:/bin"}};
  record.spec.root = "/srv/roots/web";
  record.spec.cwd = "/app";
  record.spec.restart = *parseRestartPolicy("on-failure:5");
  record.status = ShipStatus::stopped;
  record.pid = 0;
  record.startTime = 123456789;
  record.bootId = "3f1c2a4e-9b7d-4c1e-8f00-1234567890ab";
  record.startedAt = "2026-12-01T23:40:12.345Z";
  record.stoppedAt = "2026-12-01T23:41:02.001Z";
  record.exit = ExitStatus::exited(3);
  record.exitSource = "waitpid";
  record.stoppedReason = "exited";
  record.deployCount = 12;
  record.runCount = 40;
  record.restarts = 28;
  record.restartStreak = 2;
  return record;
}

// Escapes, non-ASCII text and a multi-byte sequence of each length: the
// slower paths of the string scanner.
ShipRecord unusualRecord() {
  ShipRecord record = typicalRecord();
  record.spec.command = {"/bin/sh", "-c", "printf '%s\\n' \"$GREETING\"\t# caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80"};
  record.spec.env["GREETING"] = "gr\xc3\xbc\xc3\x9f Gott \x01\x1f";
  record.error = "line one\nline two \"quoted\" \\ backslash";
  return record;
}

struct Figure {
  double median = 0, best = 0;
};

template <typename Body>
Figure measure(int rounds, int calls, Body body) {
  std::vector<double> perCall;
  for (int round = 0; round < rounds; ++round) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) body();
    std::chrono::duration<double, std::nano> spent = std::chrono::steady_clock::now() - start;
    perCall.push_back(spent.count() / calls);
  }
  std::sort(perCall.begin(), perCall.end());
  return {perCall[perCall.size() / 2], perCall.front()};
}

void print(const char* name, int calls, Figure figure) {
  std::printf("%-44s %8d calls/round  median %10.1f ns/op  best %10.1f ns/op\n", name, calls, figure.median,
              figure.best);
}

// A store of `ships` records in a fresh temporary directory, removed by the
// destructor.
class TempStore {
 public:
  explicit TempStore(int ships) {
    char pattern[] = "/tmp/keelan-microbench-XXXXXX";
    if (mkdtemp(pattern) == nullptr) {
      std::perror("mkdtemp");
      std::exit(1);
    }
    dir_ = pattern;
    Store store;
    StoreBatch batch;
    for (int i = 0; i < ships; ++i) {
      ShipRecord record = typicalRecord();
      record.spec.name = "ship-" + std::to_string(i);
      if (i % 50 == 0) record.spec.env["BIG"] = std::string(9000, 'b');  // overflow pages too
      batch.put(record);
    }
    if (auto e = store.open(dir_); !e.empty() || !(e = store.commit(batch)).empty()) {
      std::fprintf(stderr, "cannot seed the store: %s\n", e.c_str());
      std::exit(1);
    }
  }
  ~TempStore() {
    nftw(dir_.c_str(), [](const char* p, const struct stat*, int, FTW*) { return remove(p); }, 8,
         FTW_DEPTH | FTW_PHYS);
  }
  TempStore(const TempStore&) = delete;
  TempStore& operator=(const TempStore&) = delete;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// A deploy's costs around the fork (issue 20): the user's ids and the two
// ship log fds, before (NSS, two trusted opens) and after (the caches).
void deployCosts(int rounds) {
  constexpr int kLookups = 2000;
  print("getpwnam + getgrouplist (nobody)", kLookups,
        measure(rounds, kLookups, [&] { sink = sink + resolveUserWithNss("nobody").ids.size(); }));
  UserIdCache users;
  print("UserIdCache::resolve (nobody, kept)", kLookups,
        measure(rounds, kLookups, [&] { sink = sink + users.resolve("nobody").ids.size(); }));
  char pattern[] = "/tmp/keelan-microbench-logs-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return;
  Paths paths;
  paths.shipLogDir = pattern;
  print("two trusted log opens + closes", kLookups, measure(rounds, kLookups, [&] {
          int out = openAppendNoFollow(paths.shipOutLog("ship"), 0640), err = openAppendNoFollow(paths.shipErrLog("ship"), 0640);
          sink = sink + static_cast<size_t>(out + err);
          close(out);
          close(err);
        }));
  ShipLogFiles kept(paths, 16);
  print("ShipLogFiles::acquire (kept)", kLookups, measure(rounds, kLookups, [&] {
          ShipLogFds fds;
          sink = sink + kept.acquire("ship", fds).size() + static_cast<size_t>(fds.out);
        }));
  kept.forgetAll();
  unlink(paths.shipOutLog("ship").c_str());
  unlink(paths.shipErrLog("ship").c_str());
  rmdir(pattern);
}

int run(int rounds) {
  const ShipRecord typical = typicalRecord(), unusual = unusualRecord();
  const std::string typicalText = shipRecordText(typical), unusualText = shipRecordText(unusual);
  if (!isCompactJsonDump(typicalText) || !isCompactJsonDump(unusualText)) {
    std::fprintf(stderr, "the benchmark's records are not in dump() form\n");
    return 1;
  }
  constexpr int kCalls = 100000;
  print("shipRecordText (typical record)", kCalls,
        measure(rounds, kCalls, [&] { sink = sink + shipRecordText(typical).size(); }));
  print("shipRecordText (escapes, UTF-8)", kCalls,
        measure(rounds, kCalls, [&] { sink = sink + shipRecordText(unusual).size(); }));
  print("isCompactJsonDump (typical record)", kCalls,
        measure(rounds, kCalls, [&] { sink = sink + isCompactJsonDump(typicalText); }));
  std::vector<JsonMember> members;
  print("isCompactJsonDump (typical, with members)", kCalls, measure(rounds, kCalls, [&] {
          members.clear();
          sink = sink + isCompactJsonDump(typicalText, &members) + members.size();
        }));
  print("isCompactJsonDump (escapes, UTF-8)", kCalls,
        measure(rounds, kCalls, [&] { sink = sink + isCompactJsonDump(unusualText); }));

  TempStore store(2000);
  int fd = open((store.dir() + "/data.mdb").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::perror("open data.mdb");
    return 1;
  }
  constexpr int kScans = 200;
  print("scanDataFile (2,000 ships)", kScans, measure(rounds, kScans, [&] {
          sink = sink + scanDataFile(fd, {}).pagesChecked;
        }));
  close(fd);
  deployCosts(rounds);
  constexpr int kOpens = 50;
  print("Store::open + close (2,000 ships)", kOpens, measure(rounds, kOpens, [&] {
          Store opened;
          sink = sink + opened.open(store.dir()).size();
        }));
  return 0;
}

}  // namespace
}  // namespace keelan

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 9;
  if (rounds < 1 || rounds > 1000) {
    std::fprintf(stderr, "usage: %s [ROUNDS 1..1000]\n", argv[0]);
    return 2;
  }
  return keelan::run(rounds);
}
