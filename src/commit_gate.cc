#include "keelan/commit_gate.h"

#include "keelan/protocol.h"
#include "keelan/time_util.h"

namespace keelan {

using nlohmann::json;

// With nothing pending a notice goes out at once.
void CommitGate::deliver(std::function<void()> notice) {
  if ((batch_.empty() && notices_.empty()) || replyAtOnce_) {
    notice();
    return;
  }
  notices_.push_back(std::move(notice));
}

void CommitGate::flush() {
  if (!batch_.empty()) {
    if (!outage_.retryDue(monotonicMs())) return;
    auto started = std::chrono::steady_clock::now();
    std::string error = store_.commit(batch_);
    auto done = std::chrono::steady_clock::now();
    commitDuration_.observe(std::chrono::duration<double>(done - started).count());
    if (!error.empty()) {
      // Keep the batch and its notices; retried about once a second.
      if (auto line = outage_.failed(error, monotonicMs(), nowIso()); !line.empty()) log_.error(line);
      return;
    }
    if (auto line = outage_.recovered(monotonicMs()); !line.empty()) log_.info(line);
    batch_.clear();
    for (auto seen : exitSeen_) exitToCommit_.observe(std::chrono::duration<double>(done - seen).count());
    exitSeen_.clear();
  }
  committed_();
  auto notices = std::move(notices_);
  notices_.clear();
  for (auto& notice : notices) notice();
}

void CommitGate::reply(const PendingReply& to, json response) {
  response["id"] = to.requestId;
  if (!response.contains("ok")) response["ok"] = true;
  try {
    replyLine(to, encodeLine(response));
  } catch (const std::bad_alloc&) {
    outbox_.sendLine(to.clientId,
                     encodeLine(errorResponse(to.requestId, {errc::out_of_memory, "out of memory building the reply"})));
  }
}

void CommitGate::replyLine(const PendingReply& to, std::string line) {
  if (line.size() > config_.maxReplyBytes)
    line = encodeLine(errorResponse(
        to.requestId, {errc::reply_too_large, "the reply would exceed " + std::to_string(config_.maxReplyBytes) + " bytes"}));
  outbox_.sendLine(to.clientId, std::move(line));
}

// Every reply, errors included, waits behind what was decided before it,
// so replies on one connection keep their order.
void CommitGate::replyError(const PendingReply& to, const char* code, const std::string& message) {
  deliver([this, to, line = encodeLine(errorResponse(to.requestId, {code, message}))]() mutable {
    outbox_.sendLine(to.clientId, std::move(line));
  });
}

void CommitGate::refuseNow(const PendingReply& to, const char* code, const std::string& message) {
  if (to.clientId != 0) outbox_.sendLine(to.clientId, encodeLine(errorResponse(to.requestId, {code, message})));
}

void CommitGate::publish(const std::string& event, const std::string& name, const std::string& recordText) {
  if (outbox_.subscribers() == 0) return;  // nobody to tell: build nothing
  std::string line = eventLine(event, name, recordText, nowIso());
  deliver([this, line = std::move(line)] { outbox_.broadcast(line); });
}

}  // namespace keelan
