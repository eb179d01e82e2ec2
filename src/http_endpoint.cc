#include "keelan/http_endpoint.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace keelan {

struct HttpEndpoint::Connection {
  HttpEndpoint* owner = nullptr;
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  uv_write_t write{};
  std::string request, response;
  int openHandles = 2;  // tcp and timer: deleted when both are closed
  bool closing = false;
};

namespace {

void onHandleClosed(uv_handle_t* handle) {
  auto* c = static_cast<HttpEndpoint::Connection*>(handle->data);
  if (--c->openHandles == 0) delete c;
}

bool nearFdLimit(int fd, int reserve) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return false;
  return static_cast<rlim_t>(fd) + static_cast<rlim_t>(reserve) >= limit.rlim_cur;
}

}  // namespace

HttpEndpoint::HttpEndpoint(uv_loop_t* loop, Logger& log, Render render, HttpEndpointOptions options)
    : loop_(loop), log_(log), render_(std::move(render)), options_(options) {}

// By now the loop is closed: whatever it closed without our callbacks is
// only memory.
HttpEndpoint::~HttpEndpoint() {
  for (Connection* c : connections_) delete c;
  delete poll_;
  if (listenFd_ >= 0) ::close(listenFd_);
  if (reserveFd_ >= 0) ::close(reserveFd_);
}

std::string HttpEndpoint::listen(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return "--metrics-address must be HOST:PORT, got '" + address + "'";
  std::string host = address.substr(0, colon);
  int port = atoi(address.c_str() + colon + 1);
  sockaddr_in addr{};
  if (port <= 0 || port > 65535 || uv_ip4_addr(host.c_str(), port, &addr) != 0)
    return "--metrics-address must be IPv4-HOST:PORT, got '" + address + "'";
  listenFd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listenFd_ < 0) return "cannot serve metrics on " + address + ": " + strerror(errno);
  int one = 1;
  setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listenFd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listenFd_, 128) != 0)
    return "cannot serve metrics on " + address + ": " + strerror(errno);
  reserveFd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  poll_ = new uv_poll_t;
  uv_poll_init(loop_, poll_, listenFd_);
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, [](uv_poll_t* p, int status, int) {
    if (status == 0) static_cast<HttpEndpoint*>(p->data)->onAcceptable();
  });
  return "";
}

void HttpEndpoint::close() {
  if (poll_ != nullptr && !uv_is_closing(reinterpret_cast<uv_handle_t*>(poll_)))
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) {
      auto* self = static_cast<HttpEndpoint*>(h->data);
      delete self->poll_;
      self->poll_ = nullptr;
    });
  if (listenFd_ >= 0) ::close(listenFd_);
  listenFd_ = -1;
  std::set<Connection*> open = connections_;
  for (Connection* c : open) finish(*c);
}

// Without a free fd, accept fails and the connection would stay in the
// backlog, waking us at once, forever: give up the reserve fd for a moment
// to take the connection and close it.
void HttpEndpoint::shedOne() {
  if (reserveFd_ >= 0) ::close(reserveFd_);
  reserveFd_ = -1;
  int fd = accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) ::close(fd);
  reserveFd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void HttpEndpoint::onAcceptable() {
  // A bounded number per wake-up, so that a flood does not starve the loop.
  for (int i = 0; i < 64 && listenFd_ >= 0; ++i) {
    int fd = accept4(listenFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        if (!emfileEpisode_)
          log_.warn(std::string("metrics endpoint: accept failed (") + strerror(errno) +
                    "); shedding connections until descriptors are free");
        emfileEpisode_ = true;
        shedOne();
        continue;
      }
      return;  // EAGAIN, or a connection that went away before we took it
    }
    if (emfileEpisode_) {
      log_.info("metrics endpoint: accepting connections again");
      emfileEpisode_ = false;
    }
    bool full = connections_.size() >= options_.maxConnections;
    if (full || nearFdLimit(fd, options_.fdReserve)) {
      if (!capEpisode_)
        log_.warn(full ? "metrics endpoint: " + std::to_string(options_.maxConnections) +
                             " connections open; closing new ones until some finish"
                       : std::string("metrics endpoint: near the file descriptor limit; closing new connections"));
      capEpisode_ = true;
      ::close(fd);
      continue;
    }
    capEpisode_ = false;
    serve(fd);
  }
}

void HttpEndpoint::serve(int fd) {
  auto* c = new Connection;
  c->owner = this;
  uv_tcp_init(loop_, &c->tcp);
  uv_timer_init(loop_, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  connections_.insert(c);
  if (uv_tcp_open(&c->tcp, fd) != 0) {
    ::close(fd);
    finish(*c);
    return;
  }
  uv_timer_start(&c->timer, [](uv_timer_t* t) {
    auto* conn = static_cast<Connection*>(t->data);
    conn->owner->finish(*conn);
  }, static_cast<uint64_t>(options_.headerTimeoutMs), 0);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static char chunk[4096];  // one loop, one reader at a time: the data is copied out at once
        buf->base = chunk;
        buf->len = sizeof chunk;
      },
      [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
        auto* conn = static_cast<Connection*>(stream->data);
        if (nread < 0) return conn->owner->finish(*conn);
        conn->request.append(buf->base, static_cast<size_t>(nread));
        conn->owner->onRead(*conn);
      });
}

void HttpEndpoint::onRead(Connection& c) {
  size_t end = c.request.find("\r\n\r\n");
  size_t bareEnd = c.request.find("\n\n");
  if (end == std::string::npos || (bareEnd != std::string::npos && bareEnd < end)) end = bareEnd;
  if (end == std::string::npos ? c.request.size() > options_.maxHeaderBytes : end > options_.maxHeaderBytes)
    return respond(c, "431 Request Header Fields Too Large", "", "request header fields too large\n", false);
  if (end == std::string::npos) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.tcp));
  uv_timer_stop(&c.timer);
  size_t lineEnd = c.request.find('\n');
  std::string line = c.request.substr(0, lineEnd);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  size_t space1 = line.find(' ');
  size_t space2 = space1 == std::string::npos ? std::string::npos : line.find(' ', space1 + 1);
  if (space2 == std::string::npos || line.compare(space2 + 1, 5, "HTTP/") != 0)
    return respond(c, "400 Bad Request", "", "bad request\n", false);
  std::string method = line.substr(0, space1);
  std::string target = line.substr(space1 + 1, space2 - space1 - 1);
  bool head = method == "HEAD";
  if (method != "GET" && !head)
    return respond(c, "405 Method Not Allowed", "Allow: GET, HEAD\r\n", "method not allowed\n", false);
  std::string path = target.substr(0, target.find('?'));
  if (path != "/metrics") return respond(c, "404 Not Found", "", "not found\n", head);
  respond(c, "200 OK", "", render_(), head);
}

void HttpEndpoint::respond(Connection& c, const std::string& status, const std::string& extraHeaders,
                           const std::string& body, bool headOnly) {
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.tcp));
  uv_timer_stop(&c.timer);
  c.response = "HTTP/1.0 " + status + "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n" +
               extraHeaders + "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  if (!headOnly) c.response += body;
  uv_buf_t out = uv_buf_init(c.response.data(), static_cast<unsigned>(c.response.size()));
  c.write.data = &c;
  // The peer gets a bounded time to take the answer too.
  uv_timer_start(&c.timer, [](uv_timer_t* t) {
    auto* conn = static_cast<Connection*>(t->data);
    conn->owner->finish(*conn);
  }, static_cast<uint64_t>(options_.headerTimeoutMs), 0);
  if (uv_write(&c.write, reinterpret_cast<uv_stream_t*>(&c.tcp), &out, 1, [](uv_write_t* w, int) {
        auto* conn = static_cast<Connection*>(w->data);
        conn->owner->finish(*conn);
      }) != 0)
    finish(c);
}

void HttpEndpoint::finish(Connection& c) {
  if (c.closing) return;
  c.closing = true;
  connections_.erase(&c);
  uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), onHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c.timer), onHandleClosed);
}

}  // namespace keelan
