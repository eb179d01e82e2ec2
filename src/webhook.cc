#include "keelan/webhook.h"

// Only the types and constants come from <curl/curl.h>: keelan does not link
// libcurl. It is loaded with dlopen on the first webhook, so that no other
// keelan process (CLI commands, `__ship-exec`, a daemon without --webhook)
// pays for its thirty-odd shared objects at start-up and in every fork.
#include <curl/curl.h>
#include <dlfcn.h>
#include <unistd.h>

#include <mutex>

namespace keelan {

namespace {

constexpr const char* kLibcurl = "libcurl.so.4";

// The libcurl functions keelan uses, resolved with dlsym.
struct CurlApi {
  decltype(&::curl_global_init) global_init = nullptr;
  decltype(&::curl_easy_init) easy_init = nullptr;
  decltype(&::curl_easy_setopt) easy_setopt = nullptr;
  decltype(&::curl_easy_perform) easy_perform = nullptr;
  decltype(&::curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&::curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&::curl_easy_strerror) easy_strerror = nullptr;
  decltype(&::curl_slist_append) slist_append = nullptr;
  decltype(&::curl_slist_free_all) slist_free_all = nullptr;
};

struct Library {
  std::mutex mutex;
  std::string soname = kLibcurl;
  bool loaded = false;  // once true, `api` is complete and never changes again
  CurlApi api;
};

Library& library() {
  static Library instance;
  return instance;
}

template <typename Function>
bool resolve(void* handle, const char* name, Function& function, std::string& error) {
  dlerror();
  void* symbol = dlsym(handle, name);
  if (symbol == nullptr) {
    const char* why = dlerror();
    error = std::string(name) + ": " + (why != nullptr ? why : "not found");
    return false;
  }
  function = reinterpret_cast<Function>(symbol);
  return true;
}

// Loads libcurl and runs curl_global_init, once per process. Called on the
// loop thread before any job is queued, so curl_global_init has run before a
// pool thread touches libcurl (uv_queue_work orders the two). A failure is
// not remembered: the next webhook tries again (libcurl may be installed by
// then). Returns nullptr and sets `error` on failure.
const CurlApi* loadLibcurl(std::string& error) {
  Library& lib = library();
  std::lock_guard lock(lib.mutex);
  if (lib.loaded) return &lib.api;
  void* handle = dlopen(lib.soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    error = lib.soname + " not available: " + (why != nullptr ? why : "dlopen failed");
    return nullptr;
  }
  CurlApi api;
  std::string missing;
  bool ok = resolve(handle, "curl_global_init", api.global_init, missing) &&
            resolve(handle, "curl_easy_init", api.easy_init, missing) &&
            resolve(handle, "curl_easy_setopt", api.easy_setopt, missing) &&
            resolve(handle, "curl_easy_perform", api.easy_perform, missing) &&
            resolve(handle, "curl_easy_getinfo", api.easy_getinfo, missing) &&
            resolve(handle, "curl_easy_cleanup", api.easy_cleanup, missing) &&
            resolve(handle, "curl_easy_strerror", api.easy_strerror, missing) &&
            resolve(handle, "curl_slist_append", api.slist_append, missing) &&
            resolve(handle, "curl_slist_free_all", api.slist_free_all, missing);
  if (!ok) {
    error = lib.soname + " not usable: " + missing;
    dlclose(handle);
    return nullptr;
  }
  if (CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
    error = "curl_global_init failed: " + std::string(api.easy_strerror(rc));
    dlclose(handle);
    return nullptr;
  }
  // The handle stays open for the life of the process.
  lib.api = api;
  lib.loaded = true;
  return &lib.api;
}

struct Job {
  uv_work_t work;
  std::string url, body;
  std::function<void(const WebhookResult&)> done;
  WebhookResult result;
  const CurlApi* curl;
};

size_t discard(char*, size_t size, size_t count, void*) { return size * count; }

// Runs on a thread-pool thread.
void deliver(uv_work_t* work) {
  auto* job = static_cast<Job*>(work->data);
  const CurlApi& api = *job->curl;
  CURL* curl = api.easy_init();
  if (curl == nullptr) {
    job->result.lastError = "cannot initialise libcurl";
    return;
  }
  curl_slist* headers = api.slist_append(nullptr, "Content-Type: application/json");
  curl_write_callback writer = discard;
  api.easy_setopt(curl, CURLOPT_URL, job->url.c_str());
  api.easy_setopt(curl, CURLOPT_POSTFIELDS, job->body.c_str());
  api.easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(job->body.size()));
  api.easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  api.easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  api.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  api.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  api.easy_setopt(curl, CURLOPT_WRITEFUNCTION, writer);
  api.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  const useconds_t pauses[] = {500000, 1000000};
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) usleep(pauses[attempt - 1]);
    ++job->result.attempts;
    CURLcode rc = api.easy_perform(curl);
    if (rc != CURLE_OK) {
      job->result.lastError = api.easy_strerror(rc);
      job->result.lastStatus = 0;
      continue;
    }
    api.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &job->result.lastStatus);
    job->result.lastError.clear();
    if (job->result.lastStatus >= 200 && job->result.lastStatus < 300) {
      job->result.delivered = true;
      break;
    }
  }
  api.slist_free_all(headers);
  api.easy_cleanup(curl);
}
}  // namespace

void initWebhooks() {
  // Nothing to do: libcurl is loaded, and initialised, by the first postWebhook.
}

void setWebhookLibraryForTesting(const std::string& soname) {
  Library& lib = library();
  std::lock_guard lock(lib.mutex);
  lib.soname = soname;
}

void postWebhook(uv_loop_t* loop, const std::string& url, const std::string& body,
                 std::function<void(const WebhookResult&)> done) {
  auto* job = new Job{{}, url, body, std::move(done), {}, nullptr};
  job->work.data = job;
  std::string error;
  job->curl = loadLibcurl(error);
  int rc = 0;
  if (job->curl == nullptr) {
    job->result.lastError = error;
  } else {
    rc = uv_queue_work(loop, &job->work, deliver, [](uv_work_t* work, int) {
      auto* finished = static_cast<Job*>(work->data);
      finished->done(finished->result);
      delete finished;
    });
    if (rc != 0) job->result.lastError = uv_strerror(rc);
  }
  if (job->curl == nullptr || rc != 0) {
    job->done(job->result);
    delete job;
  }
}

}  // namespace keelan
