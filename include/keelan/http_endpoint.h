#pragma once
// The daemon's HTTP endpoint (`--metrics-address`): GET and HEAD of
// /metrics, HTTP/1.0, one request per connection. It is passive: the loop
// owner gives it the loop and a function that renders the body.
//
// No TCP client can hold the daemon: connections are capped, a connection
// that has not sent its request head within the header timeout is closed,
// heads over the size limit get 431, other methods 405, and the endpoint
// accepts itself (not through libuv) so that EMFILE is seen, logged once
// per episode and answered by shedding the connection through a reserve fd.
#include <uv.h>

#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "keelan/logger.h"

namespace keelan {

struct HttpEndpointOptions {
  size_t maxConnections = 64;
  int64_t headerTimeoutMs = 5000;
  size_t maxHeaderBytes = 8192;
  // Connections are refused while fewer fds than this are left under
  // RLIMIT_NOFILE, so TCP clients never take the daemon's last ones.
  int fdReserve = 32;
};

class HttpEndpoint {
 public:
  using Render = std::function<std::string()>;
  HttpEndpoint(uv_loop_t* loop, Logger& log, Render render, HttpEndpointOptions options);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // Listens on "IPv4-HOST:PORT"; returns an error message, empty on success.
  std::string listen(const std::string& address);
  // Stops listening and closes every connection (at shutdown).
  void close();
  size_t connections() const { return connections_.size(); }

  struct Connection;

 private:
  void onAcceptable();
  void serve(int fd);
  void onRead(Connection& c);
  void respond(Connection& c, const std::string& status, const std::string& extraHeaders, const std::string& body,
               bool headOnly);
  void finish(Connection& c);
  void shedOne();

  uv_loop_t* loop_;
  Logger& log_;
  Render render_;
  HttpEndpointOptions options_;
  int listenFd_ = -1;
  int reserveFd_ = -1;
  uv_poll_t* poll_ = nullptr;
  std::set<Connection*> connections_;
  bool emfileEpisode_ = false;
  bool capEpisode_ = false;
};

}  // namespace keelan
