#include "keelan/webhook.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

namespace keelan {
namespace {

bool libcurlMapped() {
  std::ifstream maps("/proc/self/maps");
  std::stringstream text;
  text << maps.rdbuf();
  return text.str().find("libcurl") != std::string::npos;
}

// What went wrong in a test body that runs in another process, where
// gtest's own assertions do not reach the parent.
struct Failures {
  std::string text;
  void check(bool ok, const std::string& what) {
    if (!ok) text += what + "\n";
  }
};

// libcurl, once loaded, stays mapped for the life of the process, and which
// library is loaded is decided once: a test of whether and when it is loaded
// must start from a process that never loaded it, whatever ran before (ctest
// runs each test alone; the plain binary, --gtest_shuffle and --gtest_repeat
// do not). So the body runs in a fresh copy of this binary, re-executed by a
// "threadsafe" death test, and passes when it finds nothing wrong.
void inFreshProcess(const std::function<void(Failures&)>& body) {
  std::string style = GTEST_FLAG_GET(death_test_style);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Failures failures;
        body(failures);
        fputs(failures.text.c_str(), stderr);
        _exit(failures.text.empty() ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
  GTEST_FLAG_SET(death_test_style, style);
}

// Posts once on a fresh loop and runs the loop until `done` has run.
WebhookResult post(const std::string& url, const std::string& body, Failures& failures) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  WebhookResult result;
  int calls = 0;
  postWebhook(&loop, url, body, [&](const WebhookResult& r) {
    result = r;
    ++calls;
  });
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  failures.check(calls == 1, "done ran " + std::to_string(calls) + " times");
  return result;
}

// A one-shot HTTP server on the loopback: reads one request, answers 204.
class OneShotServer {
 public:
  OneShotServer() {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0 || listen(listener_, 4) != 0)
      return;
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serveOnce(); });
  }
  ~OneShotServer() {
    if (thread_.joinable()) thread_.join();
    if (listener_ >= 0) close(listener_);
  }
  int port() const { return port_; }
  // The request, once answered.
  std::string request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }

 private:
  void serveOnce() {
    pollfd ready{listener_, POLLIN, 0};
    if (poll(&ready, 1, 10000) != 1) return;
    int fd = accept(listener_, nullptr, nullptr);
    if (fd < 0) return;
    char chunk[4096];
    for (;;) {
      pollfd in{fd, POLLIN, 0};
      if (poll(&in, 1, 5000) != 1) break;
      ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      request_.append(chunk, static_cast<size_t>(n));
      if (request_.find("\r\n\r\n") != std::string::npos && request_.find("{\"a\":1}") != std::string::npos) break;
    }
    const char reply[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    send(fd, reply, sizeof reply - 1, MSG_NOSIGNAL);
    close(fd);
  }

  int listener_ = -1;
  int port_ = 0;
  std::string request_;
  std::thread thread_;
};

TEST(Webhook, WithoutLibcurlTheResultSaysWhy) {
  inFreshProcess([](Failures& failures) {
    failures.check(!libcurlMapped(), "libcurl is mapped before any webhook");
    setWebhookLibraryForTesting("libkeelan-no-such-curl.so.4");
    WebhookResult result = post("http://127.0.0.1:9/", "{}", failures);
    failures.check(!result.delivered, "delivered");
    failures.check(result.attempts == 0, "attempts " + std::to_string(result.attempts));
    failures.check(result.lastError.rfind("libkeelan-no-such-curl.so.4 not available: ", 0) == 0, result.lastError);
    failures.check(result.lastError.find("cannot open shared object file") != std::string::npos, result.lastError);
    failures.check(!libcurlMapped(), "libcurl is mapped after a failed load");
  });
}

TEST(Webhook, LibcurlIsLoadedOnTheFirstPostOnly) {
  inFreshProcess([](Failures& failures) {
    OneShotServer server;
    failures.check(server.port() > 0, "no loopback server");
    failures.check(!libcurlMapped(), "libcurl is mapped before any webhook");
    WebhookResult result = post("http://127.0.0.1:" + std::to_string(server.port()) + "/hook", "{\"a\":1}", failures);
    std::string request = server.request();
    failures.check(result.delivered, "not delivered: " + result.lastError);
    failures.check(result.attempts == 1, "attempts " + std::to_string(result.attempts));
    failures.check(result.lastStatus == 204, "status " + std::to_string(result.lastStatus));
    failures.check(libcurlMapped(), "libcurl is not mapped after a post");
    failures.check(request.rfind("POST /hook HTTP/1.1\r\n", 0) == 0, request);
    failures.check(request.find("Content-Type: application/json") != std::string::npos, request);
  });
}

}  // namespace
}  // namespace keelan
