#pragma once
// Loopback TCP helpers shared by the integration tests: free ports, raw HTTP
// exchanges with the daemon's endpoint, and a webhook receiver. Only
// 127.0.0.1 is ever used.
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace keelan::test {

// Binds `fd` to a free loopback port and returns the port.
int bindLoopback(int fd);
// A loopback port nobody listens on (bound, then released).
int freePort();
// A listening loopback socket (backlog 16) on a free port, stored in *port.
int listenLoopback(int* port);
// A connected loopback socket with a 5 s receive timeout, or -1.
int connectLoopback(int port);
// Sends `request` on a new loopback connection and reads until EOF.
std::string httpExchange(int port, const std::string& request);

// Answers each POST on 127.0.0.1 (500 to the first one when failFirst, 200
// otherwise) and keeps every body, on a thread of its own.
class WebhookReceiver {
 public:
  explicit WebhookReceiver(bool failFirst = false);
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;
  int port() const { return port_; }
  std::vector<std::string> bodies();

 private:
  void run();
  bool failFirst_;
  int listen_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::string> bodies_;
  std::thread thread_;
};

}  // namespace keelan::test
