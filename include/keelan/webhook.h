#pragma once
// The failure webhook: an HTTP POST of a ship record, with retries and a
// timeout, made by libcurl on libuv's thread pool so the loop never waits
// on the network. keelan does not link libcurl: the first postWebhook loads
// libcurl.so.4 with dlopen (and runs curl_global_init), so processes that
// send no webhook never map it.
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
// within 5 s; a 2xx answer ends it. `done` runs on the loop thread: later,
// or before postWebhook returns when nothing could be attempted (libcurl
// cannot be loaded: lastError "libcurl.so.4 not available: ...", attempts 0).
// Call it on the loop thread: the first call loads libcurl there, blocking
// the loop once for the time dlopen takes.
void postWebhook(uv_loop_t* loop, const std::string& url, const std::string& body,
                 std::function<void(const WebhookResult&)> done);

// Kept for callers: does nothing now (libcurl is loaded on first use).
void initWebhooks();

// Tests only: the library postWebhook loads instead of libcurl.so.4, until
// it has loaded one.
void setWebhookLibraryForTesting(const std::string& soname);

}  // namespace keelan
