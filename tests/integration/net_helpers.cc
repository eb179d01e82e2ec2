#include "net_helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace keelan::test {

int bindLoopback(int fd) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t length = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  return ntohs(addr.sin_port);
}

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int port = bindLoopback(fd);
  close(fd);
  return port;
}

int listenLoopback(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  *port = bindLoopback(fd);
  ::listen(fd, 16);
  return fd;
}

int connectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

std::string httpExchange(int port, const std::string& request) {
  int fd = connectLoopback(port);
  if (fd < 0) return "";
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char chunk[4096];
  ssize_t n;
  while ((n = recv(fd, chunk, sizeof chunk, 0)) > 0) response.append(chunk, static_cast<size_t>(n));
  close(fd);
  return response;
}

WebhookReceiver::WebhookReceiver(bool failFirst) : failFirst_(failFirst) {
  listen_ = listenLoopback(&port_);
  thread_ = std::thread([this] { run(); });
}

WebhookReceiver::~WebhookReceiver() {
  stop_ = true;
  thread_.join();
  close(listen_);
}

std::vector<std::string> WebhookReceiver::bodies() {
  std::lock_guard lock(mutex_);
  return bodies_;
}

void WebhookReceiver::run() {
  while (!stop_) {
    pollfd pfd{listen_, POLLIN, 0};
    if (poll(&pfd, 1, 50) <= 0) continue;
    int fd = accept(listen_, nullptr, nullptr);
    if (fd < 0) continue;
    std::string request;
    char chunk[4096];
    size_t need = std::string::npos;
    while (need == std::string::npos || request.size() < need) {
      pollfd in{fd, POLLIN, 0};
      if (poll(&in, 1, 2000) <= 0) break;
      ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      request.append(chunk, static_cast<size_t>(n));
      size_t head = request.find("\r\n\r\n");
      size_t lengthAt = request.find("Content-Length: ");
      if (head != std::string::npos && lengthAt != std::string::npos)
        need = head + 4 + std::stoul(request.substr(lengthAt + 16));
    }
    std::string body = need != std::string::npos ? request.substr(request.find("\r\n\r\n") + 4) : "";
    bool first;
    {
      std::lock_guard lock(mutex_);
      bodies_.push_back(body);
      first = bodies_.size() == 1;
    }
    std::string response = failFirst_ && first ? "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                                : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    send(fd, response.data(), response.size(), MSG_NOSIGNAL);
    close(fd);
  }
}

}  // namespace keelan::test
