#include "keelan/webhook.h"

#include <curl/curl.h>
#include <unistd.h>

namespace keelan {

namespace {
struct Job {
  uv_work_t work;
  std::string url, body;
  std::function<void(const WebhookResult&)> done;
  WebhookResult result;
};

size_t discard(char*, size_t size, size_t count, void*) { return size * count; }

// Runs on a thread-pool thread.
void deliver(uv_work_t* work) {
  auto* job = static_cast<Job*>(work->data);
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    job->result.lastError = "cannot initialise libcurl";
    return;
  }
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, job->url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, job->body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(job->body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  const useconds_t pauses[] = {500000, 1000000};
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) usleep(pauses[attempt - 1]);
    ++job->result.attempts;
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
      job->result.lastError = curl_easy_strerror(rc);
      job->result.lastStatus = 0;
      continue;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &job->result.lastStatus);
    job->result.lastError.clear();
    if (job->result.lastStatus >= 200 && job->result.lastStatus < 300) {
      job->result.delivered = true;
      break;
    }
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
}
}  // namespace

void initWebhooks() { curl_global_init(CURL_GLOBAL_DEFAULT); }

void postWebhook(uv_loop_t* loop, const std::string& url, const std::string& body,
                 std::function<void(const WebhookResult&)> done) {
  auto* job = new Job{{}, url, body, std::move(done), {}};
  job->work.data = job;
  int rc = uv_queue_work(loop, &job->work, deliver, [](uv_work_t* work, int) {
    auto* finished = static_cast<Job*>(work->data);
    finished->done(finished->result);
    delete finished;
  });
  if (rc != 0) {
    job->result.lastError = uv_strerror(rc);
    job->done(job->result);
    delete job;
  }
}

}  // namespace keelan
