#pragma once
// Failure webhooks: each failure's record is posted (libcurl on libuv's
// thread pool), with env values blanked unless asked for. At a stop the
// deliveries in flight get 2 s; then they are dropped and the daemon exits
// without joining the pool (a receiver that never answers holds a thread).
#include <uv.h>

#include <functional>
#include <set>
#include <string>

#include "keelan/config.h"
#include "keelan/logger.h"
#include "keelan/ship.h"
#include "keelan/uv_handle.h"

namespace keelan {

class FailureNotifier {
 public:
  FailureNotifier(uv_loop_t* loop, Logger& log, const DaemonConfig& config) : loop_(loop), log_(log), config_(config) {}
  bool enabled() const { return !config_.webhookUrl.empty(); }
  // The body is the record with `event` (what was committed) added.
  void notify(const ShipRecord& record, const std::string& event);
  size_t inFlight() const { return inFlight_.size(); }
  // At a stop: `onGiveUp` runs if deliveries are still pending after 2 s.
  void graceThen(std::function<void()> onGiveUp);
  bool dropped() const { return dropped_; }
  // The grace timer, which the shutdown deadline must leave running.
  uv_handle_t* graceHandle() const { return grace_.base(); }

 private:
  void giveUp();
  uv_loop_t* loop_;
  Logger& log_;
  const DaemonConfig& config_;
  std::multiset<std::string> inFlight_;  // ships whose delivery is on the pool
  UvHandle<uv_timer_t> grace_;
  std::function<void()> onGiveUp_;
  bool dropped_ = false;
};

}  // namespace keelan
