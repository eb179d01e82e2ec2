#pragma once
// A blocking client of the daemon's socket, for the CLI and the tests.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace keelan {

class DaemonClient {
 public:
  DaemonClient() = default;
  ~DaemonClient();
  DaemonClient(DaemonClient&& other) noexcept;
  DaemonClient& operator=(DaemonClient&& other) noexcept;
  DaemonClient(const DaemonClient&) = delete;
  DaemonClient& operator=(const DaemonClient&) = delete;

  // Returns an error message (with errno in `errorNumber`), empty on success.
  std::string connect(const std::string& socketPath, int* errorNumber = nullptr);
  bool send(const nlohmann::json& request);
  // Reads one response line; nullopt on EOF, error or timeout (ms, -1: none).
  std::optional<nlohmann::json> receive(int timeoutMs = -1);
  // The same, unparsed: the line without its '\n', valid until the next
  // receive on this client.
  std::optional<std::string_view> receiveLine(int timeoutMs = -1);
  // send + receive.
  std::optional<nlohmann::json> call(const nlohmann::json& request, int timeoutMs = -1);
  int fd() const { return fd_; }

 private:
  // Reads until the buffer holds a whole line; returns the position of its
  // '\n', or npos on EOF, error or timeout.
  size_t fillLine(int timeoutMs);
  void release();

  int fd_ = -1;
  // Received bytes: data_[0, size_) of capacity_ (malloc'd, grown with
  // realloc, which moves a large buffer's pages instead of copying them).
  char* data_ = nullptr;
  size_t size_ = 0, capacity_ = 0;
  size_t scanned_ = 0;   // data_[0, scanned_) holds no '\n'
  size_t consumed_ = 0;  // data_[0, consumed_) is the line last returned
};

}  // namespace keelan
