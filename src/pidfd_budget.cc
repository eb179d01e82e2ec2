#include "keelan/pidfd_budget.h"

#include <string>

#include "keelan/pidfd.h"

namespace keelan {

rlim_t currentFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return RLIM_INFINITY;
  return limit.rlim_cur;
}

PidfdBudget::PidfdBudget(Logger& log) : log_(log) {
  rlim_t limit = currentFdLimit();
  if (limit == RLIM_INFINITY) ceiling_ = RLIM_INFINITY;
  else ceiling_ = limit > 2 * kHeadroom ? limit - kHeadroom : limit / 2;
}

UniqueFd PidfdBudget::open(pid_t pid) {
  UniqueFd fd(openPidfd(pid));
  if (!fd.valid()) return {};
  if (static_cast<rlim_t>(fd.get()) < ceiling_) return fd;
  if (!logged_) {
    logged_ = true;
    log_.warn("file descriptor limit near (" + std::to_string(currentFdLimit()) +
              "): further ships are watched without pidfds (one commit per exit, adopted ones polled); "
              "raise the daemon's RLIMIT_NOFILE (e.g. LimitNOFILE= in the unit)");
  }
  return {};
}

}  // namespace keelan
