#include "keelan/loop_turn.h"

namespace keelan {

void LoopTurn::start(uv_loop_t* loop, TurnSteps steps) {
  steps_ = std::move(steps);
  uv_check_init(loop, check_.make());
  check_->data = this;
  uv_check_start(check_.get(), [](uv_check_t* h) { static_cast<LoopTurn*>(h->data)->run(); });
  uv_idle_init(loop, idle_.make());
  // Neither keeps the loop alive by itself: the sockets and timers do.
  uv_unref(check_.base());
  uv_unref(idle_.base());
}

void LoopTurn::run() {
  steps_.commit();
  bool more = steps_.serve();
  steps_.commit();
  if (more) comeBack();
  else if (idle_) uv_idle_stop(idle_.get());
}

// An active idle handle makes libuv poll with a zero timeout; its callback
// has nothing to do, the turn itself runs in the check.
void LoopTurn::comeBack() {
  if (idle_ && !uv_is_active(idle_.base())) uv_idle_start(idle_.get(), [](uv_idle_t*) {});
}

void LoopTurn::stop() {
  check_.reset();
  idle_.reset();
}

}  // namespace keelan
