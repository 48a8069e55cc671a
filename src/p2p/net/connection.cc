#include "p2p/net/connection.h"

#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

namespace bzzz::p2p::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// Room for several whole Noise frames per read.
constexpr size_t kReadBuffer = 256 * 1024;

Error closed_error() { return Error(ErrorCode::kUnavailable, "the connection is closed"); }

}  // namespace

Multiaddr to_multiaddr(const tcp::endpoint& endpoint) {
  auto address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  std::string text = fmt::format("/{}/{}/tcp/{}", address.is_v4() ? "ip4" : "ip6", address.to_string(),
                                 endpoint.port());
  auto parsed = Multiaddr::parse(text);
  return parsed ? *parsed : Multiaddr();
}

// --- Stream ------------------------------------------------------------------------

Stream::Stream(std::shared_ptr<Connection> conn, uint32_t id, bool inbound)
    : conn_(std::move(conn)), id_(id), inbound_(inbound), read_wait_(conn_->strand_), write_wait_(conn_->strand_) {
  read_wait_.expires_at(asio::steady_timer::time_point::max());
  write_wait_.expires_at(asio::steady_timer::time_point::max());
}

Stream::~Stream() {
  asio::dispatch(conn_->strand_, [conn = conn_, id = id_] { conn->release_stream(id); });
}

void Stream::wake() {
  read_wait_.cancel();
  write_wait_.cancel();
}

asio::awaitable<Result<size_t>> Stream::do_read_some(std::span<uint8_t> out) {
  auto ex = co_await asio::this_coro::executor;
  if (conn_->is_home(ex)) co_return co_await read_here(out);
  co_return co_await asio::co_spawn(conn_->strand_, read_here(out), asio::use_awaitable);
}

asio::awaitable<Status> Stream::write(std::span<const uint8_t> data) {
  auto ex = co_await asio::this_coro::executor;
  if (conn_->is_home(ex)) co_return co_await write_here(data);
  co_return co_await asio::co_spawn(conn_->strand_, write_here(data), asio::use_awaitable);
}

asio::awaitable<Result<size_t>> Stream::read_here(std::span<uint8_t> out) {
  Connection& c = *conn_;
  for (;;) {
    size_t n = c.session_.read(id_, out);
    if (n > 0) {
      if (c.session_.has_output()) c.kick_writer();
      co_return n;
    }
    yamux::StreamState st = c.session_.state(id_);
    if (st.reset) co_return make_error(ErrorCode::kUnavailable, fmt::format("stream {} was reset", id_));
    if (st.remote_closed) co_return size_t{0};
    if (c.finished_ || !st.exists) co_return tl::unexpected(closed_error());
    read_wait_.expires_at(asio::steady_timer::time_point::max());
    co_await read_wait_.async_wait(kTuple);
  }
}

asio::awaitable<Status> Stream::write_here(std::span<const uint8_t> data) {
  Connection& c = *conn_;
  size_t done = 0;
  while (done < data.size()) {
    if (c.finished_) co_return tl::unexpected(closed_error());
    yamux::StreamState st = c.session_.state(id_);
    if (st.reset) co_return make_error(ErrorCode::kUnavailable, fmt::format("stream {} was reset", id_));
    if (!st.exists) co_return tl::unexpected(closed_error());
    if (st.local_closed) {
      co_return make_error(ErrorCode::kInternal, fmt::format("stream {}: write after close", id_));
    }
    size_t n = c.session_.write(id_, data.subspan(done));
    done += n;
    if (n > 0) c.kick_writer();
    if (done < data.size() && n == 0) {
      write_wait_.expires_at(asio::steady_timer::time_point::max());
      co_await write_wait_.async_wait(kTuple);
    }
  }
  co_return ok();
}

void Stream::close_write() {
  asio::dispatch(conn_->strand_, [conn = conn_, id = id_] {
    if (conn->finished_) return;
    conn->session_.close_write(id);
    conn->kick_writer();
  });
}

void Stream::reset() {
  asio::dispatch(conn_->strand_, [conn = conn_, id = id_, weak = weak_from_this()] {
    if (conn->finished_) return;
    conn->session_.reset(id);
    conn->kick_writer();
    // Our own reader or writer of this stream, blocked on the session, learns of the
    // reset now (the read loop only wakes streams for frames that arrive).
    if (auto self = weak.lock()) self->wake();
  });
}

asio::awaitable<void> Stream::close(std::chrono::milliseconds limit) {
  auto ex = co_await asio::this_coro::executor;
  if (conn_->is_home(ex)) co_return co_await close_here(limit);
  co_await asio::co_spawn(conn_->strand_, close_here(limit), asio::use_awaitable);
}

asio::steady_timer Stream::reset_after(std::chrono::milliseconds limit) {
  asio::steady_timer timer(conn_->strand_, limit);
  timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (auto s = weak.lock()) s->reset();
  });
  return timer;
}

asio::awaitable<void> Stream::close_here(std::chrono::milliseconds limit) {
  close_write();
  auto self = shared_from_this();
  auto deadline = reset_after(limit);
  std::vector<uint8_t> sink(16 * 1024);
  size_t drained = 0;
  for (;;) {
    std::span<uint8_t> span(sink);
    auto n = co_await read_some(span);
    if (!n || *n == 0) break;
    drained += *n;
    if (drained > (1u << 20)) {
      reset();
      break;
    }
  }
  deadline.cancel();
}

// --- Connection --------------------------------------------------------------------

Connection::Connection(SecuredSocket secured, ConnectionInfo info, ConnectionOptions options)
    : strand_(*secured.socket.get_executor().target<Strand>()),
      socket_(std::move(secured.socket)),
      send_(std::move(secured.send)),
      receive_(std::move(secured.receive)),
      pending_ciphertext_(std::move(secured.ciphertext)),
      pending_plaintext_(std::move(secured.plaintext)),
      info_(std::move(info)),
      options_(options),
      session_(info_.outbound, options.yamux),
      write_wait_(strand_),
      close_timer_(strand_),
      keepalive_timer_(strand_) {}

Connection::~Connection() = default;

void Connection::start(StreamHandler on_stream, ClosedHandler on_closed) {
  on_stream_ = std::move(on_stream);
  on_closed_ = std::move(on_closed);
  auto self = shared_from_this();
  asio::co_spawn(strand_, [self]() { return self->read_loop(); }, asio::detached);
  asio::co_spawn(strand_, [self]() { return self->write_loop(); }, asio::detached);
  if (options_.keepalive_interval.count() > 0) {
    asio::co_spawn(strand_, [self]() { return self->keepalive_loop(); }, asio::detached);
  }
}

Result<std::shared_ptr<Stream>> Connection::open_stream() {
  if (finished_ || closing_) return tl::unexpected(closed_error());
  auto id = session_.open();
  if (!id) return tl::unexpected(id.error());
  std::shared_ptr<Stream> stream(new Stream(shared_from_this(), *id, false));
  streams_[*id] = stream;
  ++stream_count_;
  kick_writer();
  return stream;
}

asio::awaitable<Result<std::shared_ptr<Stream>>> Connection::open_stream_async() {
  auto self = shared_from_this();
  auto open = [self]() -> asio::awaitable<Result<std::shared_ptr<Stream>>> { co_return self->open_stream(); };
  auto result = co_await asio::co_spawn(strand_, std::move(open), asio::use_awaitable);
  co_return result;
}

void Connection::release_stream(uint32_t id) {
  if (streams_.erase(id) == 0) return;
  --stream_count_;
  if (finished_) return;
  session_.release(id);
  if (session_.has_output()) kick_writer();
}

std::optional<std::chrono::microseconds> Connection::last_rtt() const {
  int64_t us = last_rtt_us_.load();
  if (us < 0) return std::nullopt;
  return std::chrono::microseconds(us);
}

void Connection::close(std::string reason) {
  closing_requested_ = true;
  asio::dispatch(strand_, [self = shared_from_this(), reason = std::move(reason)] {
    if (self->closing_ || self->finished_) return;
    self->closing_ = true;
    self->close_reason_ = std::move(reason);
    self->session_.go_away(yamux::GoAwayCode::kNormal);
    self->kick_writer();
    self->close_timer_.expires_after(self->options_.close_grace);
    self->close_timer_.async_wait([self](boost::system::error_code ec) {
      if (ec) return;
      self->finish(Error(ErrorCode::kUnavailable, self->close_reason_), false);
    });
  });
}

void Connection::abort(Error reason) {
  asio::dispatch(strand_, [self = shared_from_this(), reason = std::move(reason)] {
    self->finish(reason, false);
  });
}

void Connection::finish(const Error& reason, bool flush) {
  if (finished_) return;
  finished_ = true;
  closed_ = true;
  close_timer_.cancel();
  keepalive_timer_.cancel();
  // Held until the loop is done: dropping the last reference inside it would release
  // the stream (erase from streams_) under the loop.
  std::vector<std::shared_ptr<Stream>> alive;
  for (auto& [id, weak] : streams_) {
    if (auto s = weak.lock()) alive.push_back(std::move(s));
  }
  for (auto& s : alive) s->wake();
  if (flush && session_.has_output()) {
    // The writer sends what is queued (a GoAway naming a protocol error) and then closes.
    kick_writer();
    close_timer_.expires_after(options_.close_grace);
    close_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) {
        boost::system::error_code ignored;
        self->socket_.close(ignored);
      }
    });
  } else {
    boost::system::error_code ignored;
    socket_.close(ignored);
    kick_writer();
  }
  if (on_closed_) {
    auto handler = std::move(on_closed_);
    on_closed_ = nullptr;
    handler(*this, reason);
  }
  on_stream_ = nullptr;
}

Status Connection::feed(std::span<uint8_t> bytes, size_t& consumed) {
  std::span<const uint8_t> in(bytes.data(), bytes.size());
  for (;;) {
    auto body = noise::take_frame(in);
    if (!body) break;
    uint8_t* data = bytes.data() + (body->data() - bytes.data());
    auto st = receive_.decrypt_in_place({}, data, body->size());
    if (!st) return tl::unexpected(st.error());
    if (body->size() > noise::kTagSize) {
      auto rst = session_.receive(std::span<const uint8_t>(data, body->size() - noise::kTagSize));
      if (!rst) return tl::unexpected(rst.error());
    }
  }
  consumed = bytes.size() - in.size();
  return ok();
}

void Connection::dispatch_events() {
  events_.clear();
  session_.take_events(events_);
  for (uint32_t id : events_) {
    if (id != 0) {
      auto it = streams_.find(id);
      if (it == streams_.end()) continue;
      if (auto s = it->second.lock()) s->wake();
      continue;
    }
    while (auto pong = session_.take_pong()) {
      if (ping_outstanding_ && *pong + 1 == next_ping_) {
        ping_outstanding_ = false;
        last_rtt_us_ = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - ping_sent_)
                           .count();
      }
    }
    while (auto id_in = session_.accept()) {
      std::shared_ptr<Stream> stream(new Stream(shared_from_this(), *id_in, true));
      streams_[*id_in] = stream;
      ++stream_count_;
      if (on_stream_) {
        on_stream_(std::move(stream));
      } else {
        stream->reset();
      }
    }
  }
  // The remote's GoAway: no new streams here; the host dials anew when asked.
  if (session_.went_away()) closing_requested_ = true;
  if (session_.has_output()) kick_writer();
}

asio::awaitable<void> Connection::read_loop() {
  auto self = shared_from_this();
  // Not zero-filled: an idle connection's buffer stays mostly untouched (not resident).
  const size_t capacity = std::max(kReadBuffer, pending_ciphertext_.size() * 2);
  std::unique_ptr<uint8_t[]> storage(new uint8_t[capacity]);
  std::span<uint8_t> buf(storage.get(), capacity);
  size_t have = pending_ciphertext_.size();
  std::memcpy(buf.data(), pending_ciphertext_.data(), have);
  pending_ciphertext_ = {};
  if (!pending_plaintext_.empty()) {
    auto st = session_.receive(pending_plaintext_);
    pending_plaintext_ = {};
    if (!st) {
      finish(st.error(), true);
      co_return;
    }
  }
  for (;;) {
    size_t consumed = 0;
    auto st = feed(std::span<uint8_t>(buf.data(), have), consumed);
    if (!st) {
      finish(st.error(), true);
      co_return;
    }
    if (consumed > 0) {
      std::memmove(buf.data(), buf.data() + consumed, have - consumed);
      have -= consumed;
    }
    dispatch_events();
    if (finished_) co_return;
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buf.data() + have, buf.size() - have), kTuple);
    if (ec) {
      if (finished_) co_return;
      if (ec == asio::error::eof) {
        finish(Error(ErrorCode::kUnavailable, closing_ ? close_reason_ : "the remote closed the connection"),
               false);
      } else {
        finish(Error(ErrorCode::kIo, fmt::format("read: {}", ec.message())), false);
      }
      co_return;
    }
    have += n;
    bytes_in_ += n;
    if (counters_.bytes_in) counters_.bytes_in(n);
  }
}

asio::awaitable<void> Connection::write_loop() {
  auto self = shared_from_this();
  std::vector<uint8_t> plain;
  std::vector<uint8_t> wire;
  bool shut = false;
  for (;;) {
    if (!session_.has_output()) {
      if (finished_) break;
      if (closing_ && !shut) {
        // Everything up to the GoAway is out: no more from us.
        boost::system::error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_send, ignored);
        shut = true;
      }
      write_wait_.expires_at(asio::steady_timer::time_point::max());
      co_await write_wait_.async_wait(kTuple);
      continue;
    }
    plain.clear();
    session_.drain_output(plain);
    size_t frames = (plain.size() + noise::kMaxPlaintext - 1) / noise::kMaxPlaintext;
    wire.resize(plain.size() + frames * (2 + noise::kTagSize));
    uint8_t* out = wire.data();
    for (size_t off = 0; off < plain.size(); off += noise::kMaxPlaintext) {
      size_t len = std::min(noise::kMaxPlaintext, plain.size() - off);
      size_t body = len + noise::kTagSize;
      out[0] = static_cast<uint8_t>(body >> 8);
      out[1] = static_cast<uint8_t>(body);
      std::memcpy(out + 2, plain.data() + off, len);
      auto st = send_.encrypt_in_place({}, out + 2, len);
      if (!st) {
        finish(st.error(), false);
        co_return;
      }
      out += 2 + body;
    }
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(wire), kTuple);
    if (ec) {
      finish(Error(ErrorCode::kIo, fmt::format("write: {}", ec.message())), false);
      co_return;
    }
    bytes_out_ += n;
    if (counters_.bytes_out) counters_.bytes_out(n);
  }
  // finished_ with everything flushed: the socket may go now.
  boost::system::error_code ignored;
  socket_.close(ignored);
}

asio::awaitable<void> Connection::keepalive_loop() {
  auto self = shared_from_this();
  while (!finished_) {
    keepalive_timer_.expires_after(std::min(options_.keepalive_interval, options_.keepalive_timeout));
    auto [ec] = co_await keepalive_timer_.async_wait(kTuple);
    if (ec || finished_) co_return;
    auto now = std::chrono::steady_clock::now();
    if (ping_outstanding_) {
      if (now - ping_sent_ > options_.keepalive_timeout) {
        finish(Error(ErrorCode::kTimeout, fmt::format("keep-alive: no pong within {} ms",
                                                      options_.keepalive_timeout.count())),
               false);
        co_return;
      }
      continue;
    }
    if (now - ping_sent_ >= options_.keepalive_interval) {
      session_.ping(next_ping_++);
      ping_sent_ = now;
      ping_outstanding_ = true;
      kick_writer();
    }
  }
}

}  // namespace bzzz::p2p::net
