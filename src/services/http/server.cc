#include "services/http/server.h"

#include <chrono>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace bzzz::http {

namespace asio = boost::asio;
namespace bhttp = beast::http;
using asio::ip::tcp;
using asio::use_awaitable;
constexpr auto kTuple = asio::as_tuple(use_awaitable);

// What drain() and close_all() need to reach a connection from outside its strand.
struct Server::Connection {
  explicit Connection(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  bool idle = true;  // waiting for a request; touched only on the connection's strand
};

Server::Server(asio::io_context& io, ServerOptions options, Router router,
               const health::Registry* health, prometheus::Registry* metrics)
    : io_(io), options_(std::move(options)), router_(std::move(router)), health_(health),
      acceptor_(io) {
  if (metrics != nullptr) {
    const prometheus::Labels listener{{"listener", options_.name}};
    requests_ = &prometheus::BuildCounter()
                     .Name("bzzz_http_requests_total")
                     .Help("HTTP requests answered, by route template, method and status code")
                     .Register(*metrics);
    latency_ = &prometheus::BuildHistogram()
                    .Name("bzzz_http_request_duration_seconds")
                    .Help("Time from a request's header to the end of its response")
                    .Register(*metrics);
    bytes_in_ = &prometheus::BuildCounter()
                     .Name("bzzz_http_received_bytes_total")
                     .Help("Request body bytes received")
                     .Register(*metrics)
                     .Add(listener);
    bytes_out_ = &prometheus::BuildCounter()
                      .Name("bzzz_http_sent_bytes_total")
                      .Help("Response bytes sent, headers included")
                      .Register(*metrics)
                      .Add(listener);
    open_connections_ = &prometheus::BuildGauge()
                             .Name("bzzz_http_open_connections")
                             .Help("Client connections open now")
                             .Register(*metrics)
                             .Add(listener);
    rejected_ = &prometheus::BuildCounter()
                     .Name("bzzz_http_rejected_connections_total")
                     .Help("Connections refused because the listener was at its connection cap")
                     .Register(*metrics)
                     .Add(listener);
  }
  if (health_ != nullptr) {
    auto serve_report = [](health::Report (health::Registry::*which)() const,
                           const health::Registry* h) -> Handler {
      return [which, h](Exchange& ex) -> asio::awaitable<void> {
        health::Report report = (h->*which)();
        co_await ex.send(static_cast<Status_>(health::Registry::http_status(report.status)),
                         report.body.dump() + "\n", health::Registry::kContentType,
                         one_header("Cache-Control", "no-store"));
      };
    };
    router_.add(bhttp::verb::get, "/health", serve_report(&health::Registry::summary, health_));
    router_.add(bhttp::verb::get, "/health/ready", serve_report(&health::Registry::ready, health_));
    router_.add(bhttp::verb::get, "/health/live", serve_report(&health::Registry::live, health_));
    router_.add(bhttp::verb::get, "/health/checks", serve_report(&health::Registry::checks, health_));
  }
}

Server::~Server() = default;

Status Server::start() {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(options_.host, ec);
  if (ec) {
    // Names such as "localhost" resolve once, here.
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(options_.host, std::to_string(options_.port), ec);
    if (ec || results.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{} listener: cannot resolve host '{}': {}", options_.name,
                                    options_.host, ec ? ec.message() : "no address"));
    }
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, options_.port);
  std::string where = fmt::format("{}:{}", options_.host, options_.port);
  if (acceptor_.open(endpoint.protocol(), ec); ec) {
    return make_error(ErrorCode::kIo, fmt::format("{} listener {}: {}", options_.name, where, ec.message()));
  }
  acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (acceptor_.bind(endpoint, ec); ec) {
    ErrorCode code = ec == asio::error::address_in_use ? ErrorCode::kBusy : ErrorCode::kIo;
    return make_error(code, fmt::format("{} listener cannot bind {}: {}", options_.name, where,
                                        ec.message()));
  }
  if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return make_error(ErrorCode::kIo, fmt::format("{} listener {}: {}", options_.name, where, ec.message()));
  }
  port_ = acceptor_.local_endpoint().port();
  accepting_ = true;
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
  return ok();
}

asio::awaitable<void> Server::accept_loop() {
  while (accepting_) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(io_), kTuple);
    if (!accepting_ || ec == asio::error::operation_aborted) break;
    if (ec) {
      // Out of descriptors, most likely: back off instead of spinning on the error.
      spdlog::warn("{} listener: accept failed: {}", options_.name, ec.message());
      asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(kTuple);
      continue;
    }
    auto ex = socket.get_executor();
    if (connections_.load() >= options_.max_connections) {
      if (rejected_) rejected_->Increment();
      asio::co_spawn(ex, reject(std::move(socket)), asio::detached);
      continue;
    }
    asio::co_spawn(ex, session(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Server::reject(tcp::socket socket) {
  static constexpr std::string_view kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
      "Retry-After: 1\r\nContent-Length: 88\r\n\r\n"
      "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"the node is at its connection cap\"}}\n";
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(2));
  co_await asio::async_write(stream, asio::buffer(kBusy.data(), kBusy.size()), kTuple);
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> Server::session(tcp::socket socket) {
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  auto conn = std::make_shared<Connection>(std::move(socket));
  {
    std::lock_guard lock(conns_mu_);
    conns_.push_back(conn);
  }
  connections_.fetch_add(1);
  if (open_connections_) open_connections_->Increment();
  auto& stream = conn->stream;
  beast::flat_buffer buffer;
  bool unread_body = false;
  const Limits& limits = options_.limits;

  for (;;) {
    // Wait for the next request's first byte (keep-alive idle time), then give the
    // whole header a bounded time: a slowloris client is cut off either way.
    if (buffer.size() == 0) {
      conn->idle = true;
      if (draining_) break;
      stream.expires_after(limits.idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kTuple);
      if (ec) break;
      buffer.commit(n);
    }
    auto started = std::chrono::steady_clock::now();

    Exchange::Parser parser;
    parser.header_limit(static_cast<uint32_t>(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);
    stream.expires_after(limits.header_timeout);
    auto [ec, unused] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
    (void)unused;
    if (ec) {
      // Answer what can be answered. A client that went silent or away gets nothing (a
      // header timeout has already closed the socket: tcp_stream closes on expiry).
      std::string_view status_line, code;
      std::string text;
      if (ec == bhttp::error::header_limit) {
        status_line = "431 Request Header Fields Too Large";
        code = "header_too_large";
        text = fmt::format("request header larger than {} bytes", limits.max_header_bytes);
      } else if (ec == bhttp::error::body_limit) {
        // A Content-Length over the limit is refused before a byte of the body is read.
        status_line = "413 Content Too Large";
        code = "too_large";
        text = fmt::format("request body is larger than the limit of {} bytes", limits.max_body_bytes);
      } else if (ec != beast::error::timeout && ec != asio::error::eof &&
                 ec != asio::error::connection_reset && ec != bhttp::error::end_of_stream &&
                 ec != asio::error::operation_aborted) {
        status_line = "400 Bad Request";
        code = "malformed_request";
        text = fmt::format("malformed request: {}", ec.message());
      }
      if (!status_line.empty()) {
        std::string body = nlohmann::json{{"error", {{"code", code}, {"message", text}}}}.dump() + "\n";
        std::string raw = fmt::format(
            "HTTP/1.1 {}\r\nContent-Type: application/json\r\nConnection: close\r\n"
            "Content-Length: {}\r\n\r\n{}",
            status_line, body.size(), body);
        stream.expires_after(std::chrono::seconds(2));
        co_await asio::async_write(stream, asio::buffer(raw), kTuple);
      }
      unread_body = ec == bhttp::error::body_limit;  // the body is on its way
      break;
    }

    // A request counts as work in flight only once its header is in: a client still
    // sending one is idle to drain(), which closes it rather than wait for it.
    conn->idle = false;
    in_flight_.fetch_add(1);

    // A Transfer-Encoding whose last coding is not chunked leaves the body's end
    // unknowable; reading on would let the body pose as the next request (smuggling).
    // RFC 9112 6.3: answer 400 and close.
    bool bad_framing = parser.get().find(bhttp::field::transfer_encoding) != parser.get().end() &&
                       !parser.chunked();
    auto decoded = decode_path(std::string_view(parser.get().target()).substr(
        0, std::string_view(parser.get().target()).find('?')));
    Router::Match match;
    if (decoded) match = router_.match(parser.get().method(), *decoded);
    Exchange exchange(stream, buffer, parser, limits, decoded.value_or(""), match.params,
                      draining_.load(), &draining_);
    if (bad_framing) {
      exchange.close_after();
      co_await exchange.send_error(Status_::bad_request, "malformed_request",
                                   "Transfer-Encoding must end in chunked (or be absent)");
    } else if (!decoded) {
      co_await exchange.send_error(Status_::bad_request, "malformed_request",
                                   "the request path has a malformed or forbidden %-escape");
    } else {
      co_await serve(exchange, match);
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    observe(match.route, std::string_view(bhttp::to_string(parser.get().method())), exchange, seconds);
    in_flight_.fetch_sub(1);
    if (!exchange.keep_alive()) {
      unread_body = !parser.is_done() && !exchange.broken();
      break;
    }
  }

  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  if (unread_body) {
    // Closing with request bytes unread makes the kernel send a reset, which can destroy
    // the answer (a 413, a 507) before the client reads it: discard for a moment first.
    std::vector<char> sink(64 * 1024);
    size_t discarded = 0;
    stream.expires_after(std::chrono::seconds(1));
    while (discarded < (8u << 20)) {
      auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), kTuple);
      if (rec) break;
      discarded += n;
    }
  }
  stream.close();
  {
    std::lock_guard lock(conns_mu_);
    conns_.remove(conn);
  }
  connections_.fetch_sub(1);
  if (open_connections_) open_connections_->Decrement();
}

namespace {
bool same_secret(std::string_view a, std::string_view b) {
  // Constant time in the content, so response timing does not reveal a prefix.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.size() ? b.size() : 1)]);
  return diff == 0 && !b.empty();
}
}  // namespace

asio::awaitable<void> Server::serve(Exchange& ex, const Router::Match& match) {
  if (!options_.bearer_token.empty() && !ex.path().starts_with("/health")) {
    std::string_view auth = ex.header(bhttp::field::authorization);
    if (!auth.starts_with("Bearer ") || !same_secret(auth.substr(7), options_.bearer_token)) {
      co_await ex.send_error(Status_::unauthorized, "unauthorized",
                             "this node needs `Authorization: Bearer <api.token>`",
                             one_header("WWW-Authenticate", "Bearer"));
      co_return;
    }
  }
  if (draining_ && !match.route.starts_with("/health")) {
    co_await ex.send_error(Status_::service_unavailable, "draining",
                           "the node is shutting down; retry on another node or later",
                           one_header("Retry-After", "5"));
    co_return;
  }
  if (match.handler == nullptr) {
    if (!match.allow.empty()) {
      co_await ex.send_error(Status_::method_not_allowed, "method_not_allowed",
                             fmt::format("{} is not allowed on {}; allowed: {}",
                                         std::string_view(bhttp::to_string(ex.method())), ex.path(),
                                         match.allow),
                             one_header("Allow", match.allow));
    } else {
      co_await ex.send_error(Status_::not_found, "not_found",
                             fmt::format("no such endpoint: {}", ex.path()));
    }
    co_return;
  }
  try {
    co_await (*match.handler)(ex);
  } catch (const std::exception& e) {
    // Handlers return errors as values; an exception here is a bug, not the client's.
    spdlog::error("{} listener: handler for {} threw: {}", options_.name, match.route, e.what());
    ex.close_after();
  }
  if (!ex.responded()) {
    spdlog::error("{} listener: handler for {} gave no response", options_.name, match.route);
    ex.close_after();
    co_await ex.send_error(Status_::internal_server_error, "internal", "internal error (logged)");
  }
}

void Server::observe(const std::string& route, std::string_view method, const Exchange& ex,
                     double seconds) {
  if (requests_ == nullptr) return;
  std::string m(method);
  requests_->Add({{"listener", options_.name}, {"route", route}, {"method", m},
                  {"code", std::to_string(ex.status_code())}})
      .Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
  latency_->Add({{"listener", options_.name}, {"route", route}, {"method", m}}, kBuckets)
      .Observe(seconds);
  bytes_in_->Increment(static_cast<double>(ex.bytes_in()));
  bytes_out_->Increment(static_cast<double>(ex.bytes_out()));
}

void Server::drain() {
  draining_ = true;
  close_idle();
}

void Server::stop_accepting() {
  accepting_ = false;
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  close_idle();
}

void Server::close_idle() {
  std::lock_guard lock(conns_mu_);
  for (auto& conn : conns_) {
    asio::post(conn->stream.get_executor(), [conn] {
      if (conn->idle) conn->stream.cancel();
    });
  }
}

void Server::close_all() {
  stop_accepting();
  std::lock_guard lock(conns_mu_);
  for (auto& conn : conns_) {
    asio::post(conn->stream.get_executor(), [conn] {
      boost::system::error_code ignored;
      conn->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      conn->stream.cancel();
    });
  }
}

}  // namespace bzzz::http
