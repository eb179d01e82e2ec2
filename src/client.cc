#include "keelan/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "keelan/protocol.h"
#include "keelan/time_util.h"

namespace keelan {

DaemonClient::~DaemonClient() {
  if (fd_ >= 0) close(fd_);
}

DaemonClient::DaemonClient(DaemonClient&& other) noexcept : fd_(other.fd_), buffer_(std::move(other.buffer_)) {
  other.fd_ = -1;
}

DaemonClient& DaemonClient::operator=(DaemonClient&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    buffer_ = std::move(other.buffer_);
    other.fd_ = -1;
  }
  return *this;
}

std::string DaemonClient::connect(const std::string& socketPath, int* errorNumber) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socketPath.size() >= sizeof address.sun_path) {
    if (errorNumber) *errorNumber = ENAMETOOLONG;
    return "socket path " + socketPath + " is too long";
  }
  memcpy(address.sun_path, socketPath.c_str(), socketPath.size());
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    int saved = errno;
    if (errorNumber) *errorNumber = saved;
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    return "cannot connect to " + socketPath + ": " + strerror(saved);
  }
  return "";
}

bool DaemonClient::send(const nlohmann::json& request) {
  std::string line = encodeLine(request);
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::send(fd_, line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::optional<nlohmann::json> DaemonClient::receive(int timeoutMs) {
  int64_t deadline = timeoutMs < 0 ? -1 : monotonicMs() + timeoutMs;
  for (;;) {
    size_t newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      auto parsed = nlohmann::json::parse(line, nullptr, false);
      if (parsed.is_discarded()) return std::nullopt;
      return parsed;
    }
    int wait = -1;
    if (deadline >= 0) {
      wait = static_cast<int>(deadline - monotonicMs());
      if (wait <= 0) return std::nullopt;
    }
    pollfd pfd{fd_, POLLIN, 0};
    int ready = poll(&pfd, 1, wait);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    char chunk[65536];
    ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

std::optional<nlohmann::json> DaemonClient::call(const nlohmann::json& request, int timeoutMs) {
  // Even when sending fails the daemon may have said why before closing
  // (permission denied, request too large): read that.
  send(request);
  return receive(timeoutMs);
}

}  // namespace keelan
