#pragma once
// Group durability (`--durability group`): commits reach LMDB without a
// synchronous flush and are told at once; this module gets them onto the
// device at most every `--flush-interval` ms, off the request path. The
// flush is one `fdatasync` of the data file run by libuv's thread pool
// (uv_fs_fdatasync) and completed on the loop: never more than one in
// flight, and none while every commit is already flushed. Shutdown and the
// in-place re-exec flush synchronously (Store::close). With strict
// durability it does nothing: every commit is synchronous.
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <optional>

#include "keelan/config.h"
#include "keelan/logger.h"
#include "keelan/metrics.h"
#include "keelan/store.h"
#include "keelan/uv_handle.h"

namespace keelan {

// When the next flush may start; pure, so it is tested with a fake clock.
// Flushes start at least `intervalMs` apart, one at a time, and only while
// some commit is not yet flushed. After an idle spell the first commit is
// flushed at once: what waits on the device is at most one interval old.
class FlushSchedule {
 public:
  explicit FlushSchedule(int64_t intervalMs) : intervalMs_(intervalMs) {}
  // The store has made `commits` commits so far.
  void committed(uint64_t commits);
  // Milliseconds until a flush should start (0: now); nullopt while one is
  // in flight or nothing waits for one.
  std::optional<int64_t> delayMs(int64_t nowMs) const;
  // A flush starts at `nowMs`; it covers every commit so far, whose count
  // it returns.
  uint64_t start(int64_t nowMs);
  // The flush that start() began ended; after a failure its commits wait
  // for the next one.
  void finished(bool ok);
  bool inFlight() const { return inFlight_; }
  uint64_t flushed() const { return flushed_; }

 private:
  int64_t intervalMs_;
  uint64_t commits_ = 0, flushing_ = 0, flushed_ = 0;
  std::optional<int64_t> lastStartMs_;
  bool inFlight_ = false;
};

// Lives until the loop has run out of work (a flush in flight refers to
// it): the daemon's parts are destroyed after the loop closed.
class StoreFlusher {
 public:
  StoreFlusher(uv_loop_t* loop, Store& store, Logger& log, const DaemonConfig& config);
  StoreFlusher(const StoreFlusher&) = delete;
  StoreFlusher& operator=(const StoreFlusher&) = delete;

  // With group durability: turns the store's group commit on and flushes
  // from now on. With strict durability: nothing.
  void start();
  // No new flush starts; one in flight ends on the loop (it keeps the loop
  // alive until then).
  void stop();

  const Histogram& flushDuration() const { return duration_; }
  uint64_t failures() const { return failures_; }

 private:
  void schedule();
  void begin();
  void finish(ssize_t result);

  uv_loop_t* loop_;
  Store& store_;
  Logger& log_;
  const DaemonConfig& config_;
  FlushSchedule schedule_;
  UvHandle<uv_timer_t> timer_;
  uv_fs_t request_{};
  std::chrono::steady_clock::time_point started_;
  bool running_ = false;
  bool failing_ = false;
  uint64_t failures_ = 0;
  Histogram duration_;
};

}  // namespace keelan
