#pragma once
// A record store in memory, for tests of the supervisor: the same contract
// as the LMDB store (all of a batch or nothing, a bounded run history), and
// a switch that makes commits fail, as a full or broken disk would.
#include <deque>
#include <map>
#include <string>

#include "keelan/store.h"

namespace keelan {

class MemoryStore : public RecordStore {
 public:
  std::string loadShips(std::vector<ShipRecord>& out, std::vector<std::string>* quarantined) override;
  uint64_t quarantinedCount() const override { return 0; }
  std::string loadRuns(const std::string& name, std::vector<RunRecord>& out) override;
  std::string commit(const StoreBatch& batch) override;
  std::string backupTo(int fd) override;

  // Commits fail with this message while it is not empty.
  std::string failCommits;
  size_t commits = 0;  // successful ones
  std::map<std::string, std::string> ships;  // name -> record text
  std::map<std::string, std::deque<RunRecord>> runs;
};

}  // namespace keelan
