#pragma once
// The commit gate: nothing is told before it is committed. Changes of ship
// records gather in one batch; replies and events wait behind it and go
// out, in order, once the batch is durable (one store commit per loop pass,
// at most). When the store cannot commit, the batch and everything behind
// it wait, retried about once a second (StoreOutage).
#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "keelan/config.h"
#include "keelan/logger.h"
#include "keelan/metrics.h"
#include "keelan/server.h"
#include "keelan/store.h"
#include "keelan/store_outage.h"

namespace keelan {

// Where a reply goes: a client and its request's id. Client 0: nobody.
struct PendingReply {
  uint64_t clientId = 0;
  nlohmann::json requestId;
};

class CommitGate {
 public:
  // `committed` runs after each successful commit (the reaper releases the
  // zombies whose exits it held).
  CommitGate(RecordStore& store, Outbox& outbox, Logger& log, const DaemonConfig& config,
             std::function<void()> committed)
      : store_(store), outbox_(outbox), log_(log), config_(config), committed_(std::move(committed)) {}

  StoreBatch& batch() { return batch_; }
  bool uncommitted() const { return !batch_.empty(); }
  // An exit seen at `seen` is in the batch: its exit-to-commit time is measured.
  void exitSeen(std::chrono::steady_clock::time_point seen) { exitSeen_.push_back(seen); }

  void deliver(std::function<void()> notice);
  // Commits the batch (when the outage allows), then runs what waited on it.
  void flush();
  void reply(const PendingReply& to, nlohmann::json response);
  // Sends a reply composed as text, or `reply_too_large` instead.
  void replyLine(const PendingReply& to, std::string line);
  void replyError(const PendingReply& to, const char* code, const std::string& message);
  // At once, ahead of what waits (a write refused during an outage).
  void refuseNow(const PendingReply& to, const char* code, const std::string& message);
  void publish(const std::string& event, const std::string& name, const std::string& recordText);
  // While set (a read served during an outage) replies go out at once.
  void setReplyAtOnce(bool on) { replyAtOnce_ = on; }

  StoreOutage& outage() { return outage_; }
  const StoreOutage& outage() const { return outage_; }
  RecordStore& store() { return store_; }
  Outbox& outbox() { return outbox_; }
  const Histogram& exitToCommit() const { return exitToCommit_; }
  const Histogram& commitDuration() const { return commitDuration_; }

 private:
  RecordStore& store_;
  Outbox& outbox_;
  Logger& log_;
  const DaemonConfig& config_;
  std::function<void()> committed_;
  StoreBatch batch_;
  std::vector<std::function<void()>> notices_;
  StoreOutage outage_;
  std::vector<std::chrono::steady_clock::time_point> exitSeen_;
  Histogram exitToCommit_, commitDuration_;
  bool replyAtOnce_ = false;
};

}  // namespace keelan
