#pragma once
// While the store cannot commit (disk full, I/O error) the daemon refuses
// every write at once with store_unavailable, spawns nothing, and retries
// the pending commit about once a second. This value tracks one outage so
// that it is logged once when it starts and once when it clears.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace keelan {

class StoreOutage {
 public:
  static constexpr int64_t kRetryMs = 1000;

  // A commit failed. Returns the line to log when this starts an outage,
  // else "" (the reason is still updated).
  std::string failed(const std::string& reason, int64_t nowMs, const std::string& nowIso) {
    nextRetryMs_ = nowMs + kRetryMs;
    reason_ = reason;
    if (active_) return "";
    active_ = true;
    sinceMs_ = nowMs;
    sinceIso_ = nowIso;
    return "store unavailable: " + reason + "; refusing writes and spawning nothing until a commit succeeds";
  }
  // A commit succeeded. Returns the line to log when this ends an outage.
  std::string recovered(int64_t nowMs) {
    if (!active_) return "";
    active_ = false;
    double seconds = static_cast<double>(nowMs - sinceMs_) / 1000.0;
    char text[32];
    snprintf(text, sizeof text, "%.1f", seconds);
    return std::string("store available again after ") + text + " s (unavailable since " + sinceIso_ + ": " +
           reason_ + ")";
  }
  bool active() const { return active_; }
  bool retryDue(int64_t nowMs) const { return !active_ || nowMs >= nextRetryMs_; }
  std::string message() const { return "the store cannot commit since " + sinceIso_ + ": " + reason_; }
  nlohmann::json toJson(int64_t nowMs) const {
    if (!active_) return {{"available", true}};
    return {{"available", false},
            {"unavailableSince", sinceIso_},
            {"unavailableSeconds", (nowMs - sinceMs_) / 1000},
            {"reason", reason_}};
  }

 private:
  bool active_ = false;
  int64_t sinceMs_ = 0, nextRetryMs_ = 0;
  std::string sinceIso_, reason_;
};

}  // namespace keelan
