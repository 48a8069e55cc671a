// services/http: an HTTP/1.1 listener on the node's io_context (Boost.Beast, one
// coroutine per connection, each on its own strand).
//
// Owns: accepting (with a cap on open connections), reading request headers within
// bounded size and time (a slow or silent client cannot hold a connection), keep-alive
// and pipelining (requests on a connection are answered in order), routing, the
// health endpoints every listener serves, per-route metrics, and draining: refuse new
// connections, close idle ones, let in-flight requests finish, then close the rest.
// Handlers are coroutines (see exchange.h); blocking work goes to a worker pool
// (base/async/blocking.h). Knows nothing of what the routes do.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "base/status/result.h"
#include "infra/health/health.h"
#include "services/http/exchange.h"
#include "services/http/router.h"

namespace bzzz::http {

struct ServerOptions {
  std::string name = "api";  // the listener's name in logs and metrics
  std::string host = "127.0.0.1";
  uint16_t port = 0;         // 0: any free port (see Server::port())
  size_t max_connections = 1024;
  Limits limits;
  // When set, every route but /health* needs `Authorization: Bearer <token>`.
  std::string bearer_token;
};

class Server {
 public:
  // health and metrics may be null; with health, /health, /health/ready, /health/live
  // and /health/checks are served on this listener.
  Server(boost::asio::io_context& io, ServerOptions options, Router router,
         const health::Registry* health, prometheus::Registry* metrics);
  ~Server();

  // Binds and starts accepting. Errors name the address (in use, not permitted).
  Status start();
  uint16_t port() const { return port_; }

  // Draining: new requests on kept-alive connections get 503 and every response says
  // `Connection: close`; idle connections are closed. Accepting goes on until
  // stop_accepting(), so load balancers see refusals only after readiness failed.
  void drain();
  void stop_accepting();
  // Requests being handled now.
  size_t in_flight() const { return in_flight_.load(); }
  size_t connections() const { return connections_.load(); }
  // Closes every connection, whatever it is doing (the shutdown deadline passed).
  void close_all();

 private:
  struct Connection;
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<void> reject(boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<void> serve(Exchange& exchange, const Router::Match& match);
  void close_idle();
  void observe(const std::string& route, std::string_view method, const Exchange& exchange,
               double seconds);

  boost::asio::io_context& io_;
  ServerOptions options_;
  Router router_;
  const health::Registry* health_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<bool> accepting_{false};
  std::atomic<size_t> in_flight_{0};
  std::atomic<size_t> connections_{0};

  std::mutex conns_mu_;
  std::list<std::shared_ptr<Connection>> conns_;

  // metrics (null when none were given)
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Family<prometheus::Histogram>* latency_ = nullptr;
  prometheus::Counter* bytes_in_ = nullptr;
  prometheus::Counter* bytes_out_ = nullptr;
  prometheus::Gauge* open_connections_ = nullptr;
  prometheus::Counter* rejected_ = nullptr;
};

}  // namespace bzzz::http
