#include "keelan/failure_notifier.h"

#include <nlohmann/json.hpp>

#include "keelan/handled_signals.h"
#include "keelan/webhook.h"

namespace keelan {

void FailureNotifier::notify(const ShipRecord& record, const std::string& event) {
  std::string name = record.spec.name;
  nlohmann::json body = shipRecordToJson(record);
  body["event"] = event;
  // Ship environments often hold secrets: the receiver gets the keys only.
  if (!config_.webhookIncludeEnv && body.contains("env") && body["env"].is_object())
    for (auto& value : body["env"]) value = nullptr;
  inFlight_.insert(name);
  // The pool's threads are created by the first uv_queue_work and inherit
  // this mask: signals then always go to the loop's thread, never to a
  // thread that an in-place re-exec would take away with them.
  sigset_t previousMask;
  blockHandledSignals(&previousMask);
  postWebhook(loop_, config_.webhookUrl, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
              [this, name](const WebhookResult& result) {
                if (auto it = inFlight_.find(name); it != inFlight_.end()) inFlight_.erase(it);
                if (inFlight_.empty()) grace_.reset();
                if (result.delivered) {
                  log_.info("webhook for ship " + name + " delivered (attempts " + std::to_string(result.attempts) + ")");
                } else {
                  log_.warn("webhook for ship " + name + " failed after " + std::to_string(result.attempts) +
                            " attempts: " +
                            (result.lastError.empty() ? "HTTP " + std::to_string(result.lastStatus) : result.lastError));
                }
              });
  restoreSignalMask(previousMask);
}

void FailureNotifier::graceThen(std::function<void()> onGiveUp) {
  if (inFlight_.empty()) return;
  log_.info("waiting up to 2 s for " + std::to_string(inFlight_.size()) + " pending webhook deliveries");
  onGiveUp_ = std::move(onGiveUp);
  uv_timer_init(loop_, grace_.make());
  grace_->data = this;
  uv_timer_start(grace_.get(), [](uv_timer_t* h) { static_cast<FailureNotifier*>(h->data)->giveUp(); }, 2000, 0);
  // Only the deliveries themselves keep the loop running.
  uv_unref(grace_.base());
}

// Deliveries still running 2 s into a stop are given up: they never delay
// the stop by more (a receiver that accepts and never answers would hold
// each attempt for its whole 5 s timeout).
void FailureNotifier::giveUp() {
  if (inFlight_.empty()) return;
  std::string ships;
  for (const auto& name : inFlight_) ships += (ships.empty() ? "" : ", ") + name;
  log_.warn("dropped " + std::to_string(inFlight_.size()) +
            " webhook deliveries still pending 2 s into the stop (ships: " + ships + ")");
  dropped_ = true;
  if (onGiveUp_) onGiveUp_();
}

}  // namespace keelan
