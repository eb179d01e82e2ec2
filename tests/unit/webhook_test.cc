#include "keelan/webhook.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
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

// Posts once on a fresh loop and runs the loop until `done` has run.
WebhookResult post(const std::string& url, const std::string& body) {
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
  EXPECT_EQ(calls, 1);
  return result;
}

TEST(Webhook, WithoutLibcurlTheResultSaysWhy) {
  if (libcurlMapped()) GTEST_SKIP() << "libcurl is loaded already (tests run in one process, another first)";
  initWebhooks();
  setWebhookLibraryForTesting("libkeelan-no-such-curl.so.4");
  WebhookResult result = post("http://127.0.0.1:9/", "{}");
  setWebhookLibraryForTesting("libcurl.so.4");
  EXPECT_FALSE(result.delivered);
  EXPECT_EQ(result.attempts, 0);
  EXPECT_EQ(result.lastError.rfind("libkeelan-no-such-curl.so.4 not available: ", 0), 0u) << result.lastError;
  EXPECT_NE(result.lastError.find("cannot open shared object file"), std::string::npos) << result.lastError;
  EXPECT_FALSE(libcurlMapped());
}

TEST(Webhook, LibcurlIsLoadedOnTheFirstPostOnly) {
  // A one-shot HTTP server: reads the request, answers 204.
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  ASSERT_EQ(listen(listener, 4), 0);
  std::string request;
  std::thread server([&] {
    pollfd ready{listener, POLLIN, 0};
    if (poll(&ready, 1, 10000) != 1) return;
    int fd = accept(listener, nullptr, nullptr);
    if (fd < 0) return;
    char chunk[4096];
    for (;;) {
      pollfd in{fd, POLLIN, 0};
      if (poll(&in, 1, 5000) != 1) break;
      ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      request.append(chunk, static_cast<size_t>(n));
      if (request.find("\r\n\r\n") != std::string::npos && request.find("{\"a\":1}") != std::string::npos) break;
    }
    const char reply[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    send(fd, reply, sizeof reply - 1, MSG_NOSIGNAL);
    close(fd);
  });

  EXPECT_FALSE(libcurlMapped()) << "libcurl is mapped before any webhook";
  WebhookResult result = post("http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/hook", "{\"a\":1}");
  server.join();
  close(listener);
  EXPECT_TRUE(result.delivered) << result.lastError;
  EXPECT_EQ(result.attempts, 1);
  EXPECT_EQ(result.lastStatus, 204);
  EXPECT_TRUE(libcurlMapped());
  EXPECT_EQ(request.rfind("POST /hook HTTP/1.1\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("Content-Type: application/json"), std::string::npos) << request;
}

}  // namespace
}  // namespace keelan
