#include "keelan/server.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "keelan/pidfd_budget.h"
#include "keelan/protocol.h"
#include "keelan/time_util.h"

namespace keelan {

namespace {
constexpr size_t kMaxClients = 256;
// Clients are answered `busy` while fewer fds than this are left under
// RLIMIT_NOFILE: the rest is for ship logs, hooks and the store.
constexpr rlim_t kClientFdReserve = 16;
// A client holding more unserved input than this (with at least one whole
// line among it) is not read until its lines have been served: a pipelining
// client cannot make the daemon buffer without bound. An unfinished line
// may still grow to kMaxRequestBytes.
constexpr size_t kInputHighWater = size_t{256} << 10;
}  // namespace

struct Server::Client {
  Server* server = nullptr;
  uv_pipe_t pipe{};
  ClientInfo info;
  std::string input;
  size_t served = 0;  // input before this offset has been handed on
  int64_t partialSince = 0;  // when an unfinished line started, 0 if none
  int64_t closingSince = 0;  // a closing client that will not take its last bytes is dropped
  bool subscribed = false;   // events are sent to it
  bool subscribing = false;  // asked for events; counted in subscribers_ from then on
  bool closing = false;
  bool paused = false;   // neither read nor served while its replies pile up
  bool queued = false;   // in ready_, waiting for its turn
  bool reading = false;  // uv_read_start is in effect
  bool ended = false;    // EOF seen: the lines before it are served, then it closes
  bool hasLine() const { return input.find('\n', served) != std::string::npos; }
};

namespace {
// The close callback of every client pipe: the client goes with its handle.
void onClientClosed(uv_handle_t* handle) {
  auto* client = static_cast<Server::Client*>(handle->data);
  client->server->clientClosed(client->info.id);
}
}  // namespace

Server::Server(uv_loop_t* loop, Logger& log, const DaemonConfig& config)
    : loop_(loop), log_(log), config_(config) {}

Server::~Server() = default;

void Server::clientClosed(uint64_t clientId) { clients_.erase(clientId); }

std::string Server::listen(gid_t socketGid) {
  socketGid_ = socketGid;
  const std::string& path = config_.paths.socket;
  uv_pipe_init(loop_, listener_.make(), 0);
  listener_->data = this;
  if (config_.inheritedListenFd >= 0) {
    if (int rc = uv_pipe_open(listener_.get(), config_.inheritedListenFd); rc != 0)
      return std::string("cannot reuse the inherited socket: ") + uv_strerror(rc);
  } else {
    if (path.size() >= sizeof(sockaddr_un::sun_path))
      return "socket path " + path + " is longer than " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
             " bytes";
    // Our PID file lock says nothing about a --socket another daemon uses.
    if (auto e = clearStaleSocket(path); !e.empty()) return e;
    // The socket is born 0600 (0660 for a group): no window where it is wider.
    mode_t previous = umask(config_.socketGroup.empty() ? 0177 : 0117);
    int rc = uv_pipe_bind(listener_.get(), path.c_str());
    umask(previous);
    if (rc != 0) return "cannot bind socket " + path + ": " + uv_strerror(rc);
    if (socketGid_ != static_cast<gid_t>(-1) && lchown(path.c_str(), static_cast<uid_t>(-1), socketGid_) != 0)
      return "cannot give socket " + path + " to group " + config_.socketGroup + ": " + strerror(errno);
  }
  socketIdentity_ = identityOf(path);
  int rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_.get()), 128, [](uv_stream_t* server, int status) {
    static_cast<Server*>(server->data)->onConnection(status);
  });
  if (rc != 0) return "cannot listen on " + path + ": " + uv_strerror(rc);
  return "";
}

void Server::stopListening() {
  listener_.reset();
  unlinkIfSame(config_.paths.socket, socketIdentity_);
}

int Server::listenFd() const {
  uv_os_fd_t fd = -1;
  if (!listener_ || uv_fileno(listener_.base(), &fd) != 0) return -1;
  return fd;
}

void Server::onConnection(int status) {
  if (status != 0 || !listener_) return;
  auto owned = std::make_unique<Client>();
  Client& client = *owned;
  client.server = this;
  client.info.id = nextClientId_++;
  uv_pipe_init(loop_, &client.pipe, 0);
  client.pipe.data = &client;
  clients_[client.info.id] = std::move(owned);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_.get()), reinterpret_cast<uv_stream_t*>(&client.pipe)) != 0) {
    client.closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&client.pipe), onClientClosed);
    return;
  }
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<uv_handle_t*>(&client.pipe), &fd);
  if (admit(client, fd)) startReading(client);
}

// Who may connect, and whether there is room: refusals are told why.
bool Server::admit(Client& client, int fd) {
  ucred peer{};
  socklen_t length = sizeof peer;
  bool allowed = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0 && peerAllowed(peer.uid, peer.gid);
  client.info.uid = peer.uid;
  client.info.gid = peer.gid;
  if (!allowed) {
    log_.warn("refused connection from uid=" + std::to_string(peer.uid) + " pid=" + std::to_string(peer.pid));
    sendError(client, errc::permission_denied,
              "permission denied: uid " + std::to_string(peer.uid) + " may not use this daemon");
    return false;
  }
  if (clients_.size() > kMaxClients) {
    sendError(client, errc::busy, "too many connections (limit " + std::to_string(kMaxClients) + ")");
    return false;
  }
  // fds are numbered lowest first, so a high one means few are left.
  if (rlim_t limit = currentFdLimit(); static_cast<rlim_t>(fd) + kClientFdReserve >= limit) {
    if (!fdBusyLogged_)
      log_.warn("file descriptor limit near (" + std::to_string(limit) + ", fd " + std::to_string(fd) +
                " in use): answering new clients busy; raise the daemon's RLIMIT_NOFILE");
    fdBusyLogged_ = true;
    sendError(client, errc::busy,
              "the daemon is near its file descriptor limit (" + std::to_string(limit) + "); try again later");
    return false;
  }
  fdBusyLogged_ = false;
  return true;
}

// Root, our own uid, and with --socket-group the members of that group
// (primary or supplementary, as the user database says).
bool Server::peerAllowed(uid_t uid, gid_t gid) const {
  if (uid == 0 || uid == geteuid()) return true;
  if (socketGid_ == static_cast<gid_t>(-1)) return false;
  if (gid == socketGid_) return true;
  passwd* user = getpwuid(uid);
  if (user == nullptr) return false;
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  if (getgrouplist(user->pw_name, user->pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count));
    if (getgrouplist(user->pw_name, user->pw_gid, groups.data(), &count) < 0) return false;
  }
  groups.resize(static_cast<size_t>(count));
  return std::find(groups.begin(), groups.end(), socketGid_) != groups.end();
}

void Server::sendError(Client& client, const char* code, const std::string& message) {
  sendLine(client.info.id, encodeLine(errorResponse(nullptr, {code, message})));
  closeClient(client);
}

void Server::startReading(Client& client) {
  client.reading = true;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&client.pipe),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = new char[suggested];
        buf->len = suggested;
      },
      [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
        auto* c = static_cast<Client*>(stream->data);
        c->server->onRead(*c, nread, buf);
        delete[] buf->base;
      });
}

void Server::onRead(Client& client, ssize_t nread, const uv_buf_t* buf) {
  if (nread < 0) {
    if (nread != UV_EOF) return dropClient(client);
    // What came before the EOF is still served; then the client closes.
    client.ended = true;
    updateReading(client);
    if (!client.queued) settle(client);
    return;
  }
  if (client.closing) return;
  client.input.append(buf->base, static_cast<size_t>(nread));
  if (!client.hasLine()) return settle(client);
  enqueue(client);
  updateReading(client);
}

void Server::enqueue(Client& client) {
  client.partialSince = 0;  // whole lines wait: it is not stalled
  if (client.queued || client.paused || client.closing) return;
  client.queued = true;
  ready_.push_back(client.info.id);
}

void Server::updateReading(Client& client) {
  bool want = !client.closing && !client.paused && !client.ended &&
              (client.input.size() - client.served <= kInputHighWater || !client.hasLine());
  if (want == client.reading) return;
  if (want) return startReading(client);
  client.reading = false;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&client.pipe));
}

// Each client with whole lines serves one, then goes to the back of the
// queue; a client whose replies pile up (it does not read them) is paused
// instead: neither read nor served until its queue drains.
bool Server::serveTurn(size_t maxLines, std::chrono::microseconds budget) {
  auto began = std::chrono::steady_clock::now();
  size_t served = 0;
  std::vector<Client*> touched;
  while (served < maxLines && !ready_.empty()) {
    auto it = clients_.find(ready_.front());
    ready_.pop_front();
    if (it == clients_.end()) continue;
    Client& client = *it->second;
    client.queued = false;
    if (client.closing) continue;
    if (uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&client.pipe)) > config_.writeHighWater) {
      client.paused = true;
      updateReading(client);
      touched.push_back(&client);
      continue;
    }
    if (serveLine(client)) ++served;
    touched.push_back(&client);
    if (!client.closing && client.hasLine()) enqueue(client);
    if (std::chrono::steady_clock::now() - began >= budget) break;
  }
  for (Client* client : touched)
    if (!client->queued) settle(*client);
  // Those still waiting drop what they have served; their rest stays.
  for (uint64_t id : ready_)
    if (auto it = clients_.find(id); it != clients_.end()) {
      it->second->input.erase(0, it->second->served);
      it->second->served = 0;
    }
  return !ready_.empty();
}

bool Server::serveLine(Client& client) {
  while (!client.closing) {
    size_t newline = client.input.find('\n', client.served);
    if (newline == std::string::npos) return false;
    std::string line = client.input.substr(client.served, newline - client.served);
    client.served = newline + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    handler_->handleLine(client.info, line);
    return true;
  }
  return false;
}

void Server::settle(Client& client) {
  if (client.closing) return;
  client.input.erase(0, client.served);
  client.served = 0;
  if (client.paused) return;
  if (client.ended && !client.hasLine()) return closeClient(client);
  if (client.input.size() > kMaxRequestBytes && !client.hasLine()) {
    sendError(client, errc::request_too_large, "request line exceeds 1 MiB");
    return;
  }
  client.partialSince = client.input.empty() ? 0 : (client.partialSince ? client.partialSince : monotonicMs());
  updateReading(client);
}

// A paused client resumes once its queue has drained to half the mark.
void Server::onWritten(uint64_t clientId) {
  auto it = clients_.find(clientId);
  if (it == clients_.end() || !it->second->paused || it->second->closing) return;
  Client& client = *it->second;
  if (uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&client.pipe)) > config_.writeHighWater / 2)
    return;
  client.paused = false;
  if (client.hasLine()) {
    enqueue(client);
    if (wake_) wake_();
  } else {
    settle(client);
  }
  updateReading(client);
}

void Server::sweep() {
  int64_t now = monotonicMs();
  std::vector<Client*> stalled, lingering;
  for (auto& [id, client] : clients_) {
    if (!client->closing && client->partialSince != 0 && now - client->partialSince > config_.stallTimeoutMs)
      stalled.push_back(client.get());
    if (client->closing && client->closingSince != 0 && now - client->closingSince > config_.stallTimeoutMs)
      lingering.push_back(client.get());
  }
  for (Client* client : lingering) {
    client->closingSince = 0;
    dropClient(*client);
  }
  for (Client* client : stalled) {
    log_.warn("client " + std::to_string(client->info.id) + " stalled mid-request; dropping it");
    sendError(*client, errc::invalid_request,
              "request not finished within " + std::to_string(config_.stallTimeoutMs) + " ms");
  }
}

void Server::sendLine(uint64_t clientId, std::string line) {
  auto it = clients_.find(clientId);
  if (it == clients_.end() || it->second->closing) return;
  Client& client = *it->second;
  auto* stream = reinterpret_cast<uv_stream_t*>(&client.pipe);
  if (client.subscribed && uv_stream_get_write_queue_size(stream) > config_.writeHighWater) {
    log_.warn("events subscriber " + std::to_string(clientId) + " is too slow; dropping it");
    closeClient(client);
    return;
  }
  struct WriteRequest {
    uv_write_t request;
    std::string data;
    uint64_t clientId;
    Server* server;
  };
  auto* request = new WriteRequest{{}, std::move(line), clientId, this};
  uv_buf_t buf = uv_buf_init(request->data.data(), static_cast<unsigned>(request->data.size()));
  int rc = uv_write(&request->request, stream, &buf, 1, [](uv_write_t* r, int status) {
    std::unique_ptr<WriteRequest> written(reinterpret_cast<WriteRequest*>(r));
    Server* self = written->server;
    uint64_t id = written->clientId;
    written.reset();
    if (status == 0) return self->onWritten(id);
    if (status == UV_ECANCELED) return;  // the handle is closing already
    if (auto found = self->clients_.find(id); found != self->clients_.end()) self->dropClient(*found->second);
  });
  if (rc != 0) {
    delete request;
    dropClient(client);
  }
}

void Server::broadcast(const std::string& line) {
  std::vector<uint64_t> subscribers;
  for (auto& [id, client] : clients_)
    if (client->subscribed && !client->closing) subscribers.push_back(id);
  for (uint64_t id : subscribers) sendLine(id, line);
}

void Server::subscribing(uint64_t clientId) {
  auto it = clients_.find(clientId);
  if (it == clients_.end() || it->second->subscribing || it->second->closing) return;
  it->second->subscribing = true;
  ++subscribers_;
}

void Server::subscribed(uint64_t clientId) {
  if (auto it = clients_.find(clientId); it != clients_.end()) it->second->subscribed = true;
}

bool Server::isOpen(uint64_t clientId) const { return clients_.count(clientId) != 0; }

void Server::close(uint64_t clientId) {
  if (auto it = clients_.find(clientId); it != clients_.end()) closeClient(*it->second);
}

void Server::closeAll() {
  std::vector<Client*> open;
  for (auto& [id, client] : clients_) open.push_back(client.get());
  for (Client* client : open) closeClient(*client);
}

void Server::closeClient(Client& client) {
  if (client.closing) return;
  client.closing = true;
  client.closingSince = monotonicMs();
  if (client.subscribing) --subscribers_;
  // Let queued replies reach the peer, then close.
  auto* shutdown = new uv_shutdown_t;
  int rc = uv_shutdown(shutdown, reinterpret_cast<uv_stream_t*>(&client.pipe), [](uv_shutdown_t* request, int) {
    auto* c = static_cast<Client*>(request->handle->data);
    delete request;
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->pipe))) return;  // dropped meanwhile
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), onClientClosed);
  });
  if (rc != 0) {
    delete shutdown;
    uv_close(reinterpret_cast<uv_handle_t*>(&client.pipe), onClientClosed);
  }
}

void Server::dropClient(Client& client) {
  if (!client.closing) {
    client.closing = true;
    if (client.subscribing) --subscribers_;
  }
  client.input.clear();
  client.input.shrink_to_fit();
  auto* handle = reinterpret_cast<uv_handle_t*>(&client.pipe);
  if (uv_is_closing(handle)) return;
  // Pending writes and the shutdown are cancelled (UV_ECANCELED) before
  // the close callback runs.
  uv_close(handle, onClientClosed);
}

}  // namespace keelan
