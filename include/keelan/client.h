#pragma once
// A blocking client of the daemon's socket, for the CLI and the tests.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

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
  // send + receive.
  std::optional<nlohmann::json> call(const nlohmann::json& request, int timeoutMs = -1);
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace keelan
