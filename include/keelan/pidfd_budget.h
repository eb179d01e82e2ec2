#pragma once
// pidfds within the daemon's fd budget. Each ship watched by a pidfd holds
// one fd; near RLIMIT_NOFILE none is opened, so that clients, ship logs,
// hooks and the store keep theirs. A ship without one is still reaped
// exactly (waitid(P_ALL)) or, adopted, polled.
#include <sys/resource.h>
#include <sys/types.h>

#include "keelan/logger.h"
#include "keelan/unique_fd.h"

namespace keelan {

// RLIMIT_NOFILE as it is now (prlimit can change it under us).
rlim_t currentFdLimit();

class PidfdBudget {
 public:
  explicit PidfdBudget(Logger& log);
  // An fd on `pid`, or none (no pidfd support, or the budget is spent;
  // the latter is logged once).
  UniqueFd open(pid_t pid);

 private:
  static constexpr rlim_t kHeadroom = 256;
  Logger& log_;
  rlim_t ceiling_;
  bool logged_ = false;
};

}  // namespace keelan
