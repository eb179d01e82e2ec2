#pragma once
// The operations of the protocol (docs/protocol.md): each request line is
// parsed and checked, then handed to the supervisor (ships) or the daemon
// (itself). Every error becomes one `{code, message}` reply, in order with
// the replies before it. During a store outage writes are refused at once
// and reads answered at once, from memory.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "keelan/config.h"
#include "keelan/logger.h"
#include "keelan/requests.h"
#include "keelan/server.h"
#include "keelan/supervisor.h"

namespace keelan {

// What the daemon itself answers for.
class DaemonControl {
 public:
  virtual ~DaemonControl() = default;
  virtual bool shuttingDown() const = 0;
  // pid, version, generation and restartError (when set).
  virtual nlohmann::json identity() const = 0;
  virtual int64_t uptimeSeconds() const = 0;
  virtual std::string renderMetrics() const = 0;
  // Replies, then re-executes in place once the reply is out.
  // The request's live options are applied first (a bad one is refused).
  virtual void restart(const ClientInfo& client, const PendingReply& to, const requests::Restart& request) = 0;
};

class Operations : public RequestHandler {
 public:
  Operations(Supervisor& supervisor, DaemonControl& daemon, const DaemonConfig& config, Logger& log)
      : supervisor_(supervisor), daemon_(daemon), config_(config), log_(log) {}

  void handleLine(const ClientInfo& client, const std::string& line) override;

 private:
  // One per request type (requests.h), each given a checked request.
  void handle(const ClientInfo& client, const PendingReply& to, const requests::Ping& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::Status& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::Deploy& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::List& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::Inspect& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::Stop& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::Wait& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::Remove& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::Events& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::Restart& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::Metrics& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::StoreBackup& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::StoreCheck& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::RestartShips& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::Kill& r);
  void handle(const ClientInfo& client, const PendingReply& to, const requests::Reload& r);

  Supervisor& supervisor_;
  DaemonControl& daemon_;
  const DaemonConfig& config_;
  Logger& log_;
};

}  // namespace keelan
