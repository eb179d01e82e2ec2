#pragma once
// The failure webhook: an HTTP POST of a ship record, with retries and a
// timeout, made by libcurl on libuv's thread pool so the loop never waits
// on the network.
#include <uv.h>

#include <functional>
#include <string>

namespace keelan {

struct WebhookResult {
  bool delivered = false;
  int attempts = 0;
  long lastStatus = 0;     // HTTP status of the last attempt, 0 if none
  std::string lastError;   // transport error of the last attempt
};

// Posts `body` (JSON) to `url`: up to 3 attempts, 0.5 s then 1 s apart, each
// within 5 s; a 2xx answer ends it. `done` runs on the loop thread.
void postWebhook(uv_loop_t* loop, const std::string& url, const std::string& body,
                 std::function<void(const WebhookResult&)> done);

// Once per process, before any thread starts.
void initWebhooks();

}  // namespace keelan
