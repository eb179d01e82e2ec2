#pragma once
// The order of one loop turn. After the poll phase's callbacks (a uv_check)
// it commits what they saw (exits first: they never wait behind requests),
// serves a bounded share of the buffered requests, and commits those in turn
// so that their replies go out. While requests stay buffered an idle handle
// keeps the next poll from blocking, so the loop comes back at once and
// peeks new exits before the next share; with nothing buffered the loop
// sleeps in poll as before (docs/design.md, "Loop turns").
#include <uv.h>

#include <chrono>
#include <cstddef>
#include <functional>

#include "keelan/uv_handle.h"

namespace keelan {

// A turn serves at most this many requests, across all clients, and takes
// no new one once its requests have taken this long: a deploy costs about a
// millisecond (fork), so the time budget is what bounds a burst of deploys,
// and the count bounds a burst of cheap reads. Why these numbers:
// docs/design.md, "Loop turns".
constexpr size_t kTurnRequests = 64;
constexpr std::chrono::microseconds kTurnBudget{2000};

struct TurnSteps {
  std::function<void()> commit;  // commit the batch, then deliver what waited on it
  std::function<bool()> serve;   // serve a share of requests; true while more wait
};

class LoopTurn {
 public:
  void start(uv_loop_t* loop, TurnSteps steps);
  // Requests became servable outside a poll phase: run a turn soon.
  void comeBack();
  void stop();

 private:
  void run();

  TurnSteps steps_;
  UvHandle<uv_check_t> check_;
  UvHandle<uv_idle_t> idle_;
};

}  // namespace keelan
