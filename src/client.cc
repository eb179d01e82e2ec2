#include "keelan/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "keelan/protocol.h"
#include "keelan/time_util.h"

namespace keelan {

DaemonClient::~DaemonClient() { release(); }

void DaemonClient::release() {
  if (fd_ >= 0) close(fd_);
  free(data_);
  fd_ = -1;
  data_ = nullptr;
  size_ = capacity_ = scanned_ = consumed_ = 0;
}

DaemonClient::DaemonClient(DaemonClient&& other) noexcept
    : fd_(other.fd_),
      data_(other.data_),
      size_(other.size_),
      capacity_(other.capacity_),
      scanned_(other.scanned_),
      consumed_(other.consumed_) {
  other.fd_ = -1;
  other.data_ = nullptr;
  other.size_ = other.capacity_ = other.scanned_ = other.consumed_ = 0;
}

DaemonClient& DaemonClient::operator=(DaemonClient&& other) noexcept {
  if (this != &other) {
    release();
    std::swap(fd_, other.fd_);
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
    std::swap(scanned_, other.scanned_);
    std::swap(consumed_, other.consumed_);
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
  // Whoever listens there reads our requests and writes what we print: only
  // root or ourselves, never a socket another user planted at the path.
  ucred peer{};
  socklen_t length = sizeof peer;
  if (getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 || (peer.uid != 0 && peer.uid != getuid())) {
    std::string owner = length == sizeof peer ? std::to_string(peer.uid) : "unknown";
    close(fd_);
    fd_ = -1;
    if (errorNumber) *errorNumber = EPERM;
    return "refusing to talk to a socket owned by uid " + owner;
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

size_t DaemonClient::fillLine(int timeoutMs) {
  // A reply can be megabytes (`list` of 10,000 ships): read it in large
  // chunks straight into a buffer grown with realloc, and look for '\n' only
  // in the bytes not yet searched, so that receiving stays linear in the
  // reply's size and touches its memory once.
  constexpr size_t kMinRead = 64 * 1024, kInitial = 256 * 1024;
  if (consumed_ > 0) {
    size_ -= consumed_;
    memmove(data_, data_ + consumed_, size_);
    consumed_ = 0;
    scanned_ = 0;
  }
  int64_t deadline = timeoutMs < 0 ? -1 : monotonicMs() + timeoutMs;
  for (;;) {
    if (scanned_ < size_) {
      const void* newline = memchr(data_ + scanned_, '\n', size_ - scanned_);
      if (newline != nullptr) return static_cast<size_t>(static_cast<const char*>(newline) - data_);
      scanned_ = size_;
    }
    if (capacity_ - size_ < kMinRead) {
      size_t capacity = std::max(kInitial, capacity_ * 2);
      void* grown = realloc(data_, capacity);
      if (grown == nullptr) return std::string::npos;
      data_ = static_cast<char*>(grown);
      capacity_ = capacity;
    }
    ssize_t n = recv(fd_, data_ + size_, capacity_ - size_, MSG_DONTWAIT);
    if (n > 0) {
      size_ += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return std::string::npos;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return std::string::npos;
    int wait = -1;
    if (deadline >= 0) {
      wait = static_cast<int>(deadline - monotonicMs());
      if (wait <= 0) return std::string::npos;
    }
    pollfd pfd{fd_, POLLIN, 0};
    int ready = poll(&pfd, 1, wait);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::string::npos;
  }
}

std::optional<std::string_view> DaemonClient::receiveLine(int timeoutMs) {
  size_t newline = fillLine(timeoutMs);
  if (newline == std::string::npos) return std::nullopt;
  consumed_ = newline + 1;
  return std::string_view(data_, newline);
}

std::optional<nlohmann::json> DaemonClient::receive(int timeoutMs) {
  auto line = receiveLine(timeoutMs);
  if (!line) return std::nullopt;
  auto parsed = nlohmann::json::parse(line->begin(), line->end(), nullptr, false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

std::optional<nlohmann::json> DaemonClient::call(const nlohmann::json& request, int timeoutMs) {
  // Even when sending fails the daemon may have said why before closing
  // (permission denied, request too large): read that.
  send(request);
  return receive(timeoutMs);
}

}  // namespace keelan
