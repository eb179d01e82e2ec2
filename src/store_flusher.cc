#include "keelan/store_flusher.h"

#include <algorithm>
#include <string>

#include "keelan/handled_signals.h"
#include "keelan/time_util.h"

namespace keelan {

// ---------------------------------------------------------------- FlushSchedule

void FlushSchedule::committed(uint64_t commits) { commits_ = std::max(commits_, commits); }

std::optional<int64_t> FlushSchedule::delayMs(int64_t nowMs) const {
  if (inFlight_ || commits_ <= flushed_) return std::nullopt;
  if (!lastStartMs_) return 0;
  return std::max<int64_t>(0, *lastStartMs_ + intervalMs_ - nowMs);
}

uint64_t FlushSchedule::start(int64_t nowMs) {
  inFlight_ = true;
  lastStartMs_ = nowMs;
  flushing_ = commits_;
  return flushing_;
}

void FlushSchedule::finished(bool ok) {
  inFlight_ = false;
  if (ok) flushed_ = std::max(flushed_, flushing_);
}

// ---------------------------------------------------------------- StoreFlusher

StoreFlusher::StoreFlusher(uv_loop_t* loop, Store& store, Logger& log, const DaemonConfig& config)
    : loop_(loop), store_(store), log_(log), config_(config), schedule_(config.flushIntervalMs) {
  request_.data = this;
}

void StoreFlusher::start() {
  if (config_.durability != "group") return;
  uv_timer_init(loop_, timer_.make());
  timer_->data = this;
  uv_unref(timer_.base());  // a pending flush never keeps the loop alive; shutdown flushes itself
  running_ = true;
  // Called inside each commit: the flush itself starts from the timer, on
  // a later loop pass, never inside the commit's caller.
  store_.setGroupCommit(true, [this] {
    schedule_.committed(store_.commits());
    schedule();
  });
  log_.info("durability group: commits are flushed to the device at most every " +
            std::to_string(config_.flushIntervalMs) + " ms");
}

void StoreFlusher::stop() {
  running_ = false;
  timer_.reset();
}

void StoreFlusher::schedule() {
  if (!running_ || uv_is_active(timer_.base())) return;
  auto delay = schedule_.delayMs(monotonicMs());
  if (!delay) return;
  uv_timer_start(timer_.get(), [](uv_timer_t* h) { static_cast<StoreFlusher*>(h->data)->begin(); },
                 static_cast<uint64_t>(*delay), 0);
}

void StoreFlusher::begin() {
  auto delay = schedule_.delayMs(monotonicMs());
  if (!delay) return;
  if (*delay > 0) return schedule();
  int fd = store_.dataFd();
  if (fd < 0) return;
  schedule_.start(monotonicMs());
  started_ = std::chrono::steady_clock::now();
  // The pool's threads may be created by this request and inherit our
  // mask: blocked, so that our signals always go to the loop's thread
  // (as for the webhook sender, failure_notifier.cc).
  sigset_t previousMask;
  blockHandledSignals(&previousMask);
  int rc = uv_fs_fdatasync(loop_, &request_, fd, [](uv_fs_t* req) {
    auto result = req->result;
    uv_fs_req_cleanup(req);
    static_cast<StoreFlusher*>(req->data)->finish(result);
  });
  restoreSignalMask(previousMask);
  if (rc != 0) finish(rc);
}

void StoreFlusher::finish(ssize_t result) {
  bool ok = result == 0;
  schedule_.finished(ok);
  duration_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
  if (ok) {
    store_.synced(schedule_.flushed());
    if (failing_) log_.info("the store is flushed to the device again");
    failing_ = false;
  } else {
    ++failures_;
    // Logged once per run of failures; each is retried an interval later.
    if (!failing_)
      log_.error("cannot flush the store to the device: " + std::string(uv_strerror(static_cast<int>(result))) +
                 "; retried every " + std::to_string(config_.flushIntervalMs) + " ms");
    failing_ = true;
  }
  schedule();
}

}  // namespace keelan
