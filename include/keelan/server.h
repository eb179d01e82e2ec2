#pragma once
// The control socket's server: the only code that reads or writes client
// sockets. It checks each peer's credentials (SO_PEERCRED), caps clients
// (and refuses them near the fd limit), frames requests as lines of at most
// kMaxRequestBytes, drops clients that stall mid-line, and pauses a client
// whose replies pile up (it is neither read nor served until they drain).
// Reading only buffers: complete lines go to the RequestHandler in
// serveTurn(), a bounded number per loop turn, one line per client in turn
// (docs/design.md, "Loop turns"). A client with much unserved input is not
// read until it is served. Answers come back through the Outbox, which the
// supervisor sees instead of the server.
#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "keelan/config.h"
#include "keelan/fs_trust.h"
#include "keelan/logger.h"
#include "keelan/uv_handle.h"

namespace keelan {

struct ClientInfo {
  uint64_t id = 0;
  uid_t uid = 0;  // the peer's, from SO_PEERCRED
  gid_t gid = 0;
};

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  virtual void handleLine(const ClientInfo& client, const std::string& line) = 0;
};

// Where replies and events go. Client 0 is nobody (a restart by policy).
class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual void sendLine(uint64_t clientId, std::string line) = 0;
  // To every subscriber that has been told it is subscribed.
  virtual void broadcast(const std::string& line) = 0;
  // Counted as a subscriber from now; sent events once subscribed().
  virtual void subscribing(uint64_t clientId) = 0;
  virtual void subscribed(uint64_t clientId) = 0;
  virtual size_t subscribers() const = 0;
  // Closes once what is queued has gone out.
  virtual void close(uint64_t clientId) = 0;
  virtual bool isOpen(uint64_t clientId) const = 0;
  virtual size_t clients() const = 0;
};

class Server : public Outbox {
 public:
  Server(uv_loop_t* loop, Logger& log, const DaemonConfig& config);
  // Set before listen(): who handles the lines.
  void setHandler(RequestHandler& handler) { handler_ = &handler; }
  // Called when lines become servable outside a poll phase (a paused
  // client's replies drained): the loop must come back for a turn.
  void setWake(std::function<void()> wake) { wake_ = std::move(wake); }
  ~Server() override;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the socket (0600, or 0660 for `socketGid`), or reuses the one
  // inherited across an in-place restart. Returns an error, empty if none.
  std::string listen(gid_t socketGid);
  // Stops accepting and unlinks the socket we bound.
  void stopListening();
  // The listening fd, to inherit across an exec; -1 if none.
  int listenFd() const;
  void closeAll();
  // Drops clients stalled mid-request or that will not take their last bytes.
  void sweep();
  // Hands buffered lines to the handler: at most `maxLines`, one line per
  // client in turn (round-robin), and no new line once `budget` has passed
  // since the turn began. Returns whether lines are still waiting.
  bool serveTurn(size_t maxLines, std::chrono::microseconds budget);

  void sendLine(uint64_t clientId, std::string line) override;
  void broadcast(const std::string& line) override;
  void subscribing(uint64_t clientId) override;
  void subscribed(uint64_t clientId) override;
  size_t subscribers() const override { return subscribers_; }
  void close(uint64_t clientId) override;
  bool isOpen(uint64_t clientId) const override;
  size_t clients() const override { return clients_.size(); }

  struct Client;
  // A client's handle has closed: it goes.
  void clientClosed(uint64_t clientId);

 private:
  void onConnection(int status);
  bool admit(Client& client, int fd);
  bool peerAllowed(uid_t uid, gid_t gid) const;
  void startReading(Client& client);
  void onRead(Client& client, ssize_t nread, const uv_buf_t* buf);
  // Queues a client with complete lines for its turn.
  void enqueue(Client& client);
  // Hands the client's next complete line to the handler; false if none.
  bool serveLine(Client& client);
  // After the client's last served line of a turn: drop what was served,
  // check the unfinished line, read again or close after EOF.
  void settle(Client& client);
  // Reads while the client is neither paused, closing, past EOF nor
  // holding too much unserved input.
  void updateReading(Client& client);
  void onWritten(uint64_t clientId);
  void sendError(Client& client, const char* code, const std::string& message);
  void closeClient(Client& client);
  // The peer is gone or will not take its last bytes: close at once.
  void dropClient(Client& client);

  uv_loop_t* loop_;
  Logger& log_;
  const DaemonConfig& config_;
  RequestHandler* handler_ = nullptr;
  gid_t socketGid_ = static_cast<gid_t>(-1);
  UvHandle<uv_pipe_t> listener_;
  PathIdentity socketIdentity_;  // what we bound: the only socket we unlink
  std::unordered_map<uint64_t, std::unique_ptr<Client>> clients_;
  std::deque<uint64_t> ready_;  // clients with complete lines, in turn order
  std::function<void()> wake_;
  uint64_t nextClientId_ = 1;
  size_t subscribers_ = 0;
  bool fdBusyLogged_ = false;  // once per episode of clients answered busy
};

}  // namespace keelan
