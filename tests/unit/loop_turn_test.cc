// A loop turn commits, serves, commits; while requests wait the loop comes
// back at once, and once none wait it sleeps in poll instead of spinning.
#include "keelan/loop_turn.h"

#include <gtest/gtest.h>

#include <string>

namespace keelan {
namespace {

TEST(LoopTurn, CommitsAroundEachShareAndComesBackOnlyWhileRequestsWait) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  std::string steps;
  int backlog = 3;  // turns that leave requests waiting
  bool emptied = false;
  // Keeps the loop alive; once the backlog is gone it ends the loop soon.
  uv_timer_t stopper;
  uv_timer_init(&loop, &stopper);
  auto stop = [](uv_timer_t* timer) { uv_stop(timer->loop); };
  uv_timer_start(&stopper, stop, 10000, 0);
  LoopTurn turn;
  turn.start(&loop, {[&] { steps += 'c'; },
                     [&] {
                       steps += 's';
                       if (backlog > 0) {
                         --backlog;
                         return true;
                       }
                       if (!emptied) uv_timer_start(&stopper, stop, 20, 0);
                       emptied = true;
                       return false;
                     }});
  turn.comeBack();  // requests arrived: the first turn runs without waiting for the poll
  uv_run(&loop, UV_RUN_DEFAULT);
  // Three turns that leave a backlog, the one that empties it, then two
  // around the timer (the check after the poll that slept until it, and the
  // one after its callback). Without the idle handle the loop would have
  // slept after the first turn; without stopping it, spun until the timer.
  EXPECT_EQ(steps, "csccsccsccsccsccsc");
  turn.stop();
  uv_close(reinterpret_cast<uv_handle_t*>(&stopper), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace keelan
