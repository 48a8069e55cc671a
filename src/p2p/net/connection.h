// p2p/net: one secured, multiplexed libp2p connection (TCP + Noise + yamux) and its
// streams. The Noise and yamux state machines (p2p/noise, p2p/yamux) are driven here
// over an Asio socket.
//
// Threading: a connection lives on its own strand (its socket's executor, a Strand).
// Its reader and writer coroutines and the yamux session run only there. Inbound stream
// handlers start there; a Stream used from elsewhere hops onto the strand for each
// operation (a co_spawn), so streams are safe to use from any coroutine, and cheapest
// from the connection's own. close() and abort() may be called from any thread.
//
// Owns: the read loop (frames -> decrypt -> yamux -> wake streams), the write loop
// (yamux output -> Noise frames of at most 65535 bytes -> socket), keep-alive pings,
// GoAway on close, and failing every stream when the connection ends.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/status/result.h"
#include "p2p/identity/peer_id.h"
#include "p2p/multiaddr/multiaddr.h"
#include "p2p/net/byte_stream.h"
#include "p2p/noise/noise.h"
#include "p2p/yamux/session.h"

namespace bzzz::p2p::net {

class Connection;
using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

class Stream final : public ByteStream, public std::enable_shared_from_this<Stream> {
 public:
  ~Stream() override;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  boost::asio::awaitable<Status> write(std::span<const uint8_t> data) override;
  // Half-close: we send no more (FIN); reading goes on to the remote's end.
  void close_write();
  // Abort both ways (RST).
  void reset();
  // A clean end: FIN, then whatever the remote still sends is read and dropped until
  // its FIN (or `limit` passes, or too much arrives: then RST). Peers such as js count
  // a stream as open until both sides have closed it.
  boost::asio::awaitable<void> close(std::chrono::milliseconds limit = std::chrono::milliseconds(5000));
  // A bound on what a silent peer could stretch forever (a negotiation, a read): the
  // stream is reset at `limit` unless the returned timer is cancelled or gone first.
  [[nodiscard]] boost::asio::steady_timer reset_after(std::chrono::milliseconds limit);

  uint32_t id() const { return id_; }
  bool inbound() const { return inbound_; }
  const std::string& protocol() const { return protocol_; }
  void set_protocol(std::string protocol) { protocol_ = std::move(protocol); }
  Connection& connection() const { return *conn_; }
  const std::shared_ptr<Connection>& connection_ptr() const { return conn_; }

 protected:
  boost::asio::awaitable<Result<size_t>> do_read_some(std::span<uint8_t> out) override;

 private:
  friend class Connection;
  Stream(std::shared_ptr<Connection> conn, uint32_t id, bool inbound);
  void wake();
  boost::asio::awaitable<Result<size_t>> read_here(std::span<uint8_t> out);
  boost::asio::awaitable<Status> write_here(std::span<const uint8_t> data);
  boost::asio::awaitable<void> close_here(std::chrono::milliseconds limit);

  std::shared_ptr<Connection> conn_;
  uint32_t id_;
  bool inbound_;
  std::string protocol_;
  boost::asio::steady_timer read_wait_;
  boost::asio::steady_timer write_wait_;
};

struct ConnectionInfo {
  PeerId peer;
  PublicKey key;
  Multiaddr remote_addr;  // as seen on the socket, without /p2p
  Multiaddr local_addr;
  bool outbound = false;
  std::chrono::system_clock::time_point opened;
};

struct ConnectionOptions {
  yamux::Options yamux;
  std::chrono::milliseconds keepalive_interval{30'000};  // 0: no keep-alive pings
  std::chrono::milliseconds keepalive_timeout{20'000};   // no pong by then: close
  std::chrono::milliseconds close_grace{2'000};          // after GoAway, before the socket goes
};

// What the upgrade hands over: the socket after Noise, the channel's two ciphers, and
// whatever was read past the handshake (ciphertext not yet framed, plaintext not yet
// given to yamux).
// The socket must have been made on a Strand (it becomes the connection's).
struct SecuredSocket {
  boost::asio::ip::tcp::socket socket;
  noise::CipherState send;
  noise::CipherState receive;
  std::vector<uint8_t> ciphertext;
  std::vector<uint8_t> plaintext;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Called on the strand for every inbound stream the remote opens.
  using StreamHandler = std::function<void(std::shared_ptr<Stream>)>;
  // Called once, on the strand, when the connection is gone; `reason` says why.
  using ClosedHandler = std::function<void(Connection&, const Error& reason)>;

  Connection(SecuredSocket secured, ConnectionInfo info, ConnectionOptions options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start(StreamHandler on_stream, ClosedHandler on_closed);

  const Strand& strand() const { return strand_; }
  // Runs `coro` on this connection's strand and returns its result to the caller.
  template <class T>
  boost::asio::awaitable<T> run(boost::asio::awaitable<T> coro) {
    co_return co_await boost::asio::co_spawn(strand_, std::move(coro), boost::asio::use_awaitable);
  }

  // On the strand: a new outbound stream (not yet negotiated).
  Result<std::shared_ptr<Stream>> open_stream();

  // Opens a stream from any thread (hops onto the strand).
  boost::asio::awaitable<Result<std::shared_ptr<Stream>>> open_stream_async();
  // Whether the calling coroutine lives on this connection's strand (it was spawned
  // there), so it may touch the session directly. Being called from inside a strand
  // handler is not enough: a coroutine of another executor resumed inline there would
  // continue elsewhere after its next suspension.
  bool is_home(const boost::asio::any_io_executor& executor) const {
    return executor == boost::asio::any_io_executor(strand_);
  }

  // Any thread: GoAway, let the writer flush, then close the socket (after
  // close_grace at the latest). abort() closes at once. Both are idempotent.
  void close(std::string reason);
  void abort(Error reason);

  bool closed() const { return closed_.load(); }
  // Neither closed nor closing: new streams may be opened on it.
  bool usable() const { return !closed_.load() && !closing_requested_.load(); }
  const ConnectionInfo& info() const { return info_; }
  size_t stream_count() const { return stream_count_.load(); }
  uint64_t bytes_in() const { return bytes_in_.load(); }
  uint64_t bytes_out() const { return bytes_out_.load(); }
  // The round trip of the last keep-alive ping, if one came back.
  std::optional<std::chrono::microseconds> last_rtt() const;
  // Counters shared by every connection of a host (may be null).
  struct Counters {
    std::function<void(uint64_t)> bytes_in;
    std::function<void(uint64_t)> bytes_out;
  };
  void set_counters(Counters counters) { counters_ = std::move(counters); }

 private:
  friend class Stream;
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> keepalive_loop();
  Status feed(std::span<uint8_t> ciphertext_frames, size_t& consumed);
  void dispatch_events();
  void kick_writer() { write_wait_.cancel(); }
  // On the strand: the connection is over. With `flush`, queued frames (a GoAway) go
  // out first, within close_grace.
  void finish(const Error& reason, bool flush);
  void release_stream(uint32_t id);

  Strand strand_;
  boost::asio::ip::tcp::socket socket_;
  noise::CipherState send_;
  noise::CipherState receive_;
  std::vector<uint8_t> pending_ciphertext_;
  std::vector<uint8_t> pending_plaintext_;
  ConnectionInfo info_;
  ConnectionOptions options_;
  yamux::Session session_;
  StreamHandler on_stream_;
  ClosedHandler on_closed_;
  Counters counters_;
  std::map<uint32_t, std::weak_ptr<Stream>> streams_;
  std::vector<uint32_t> events_;
  boost::asio::steady_timer write_wait_;
  boost::asio::steady_timer close_timer_;
  boost::asio::steady_timer keepalive_timer_;
  std::string close_reason_;
  bool closing_ = false;
  bool finished_ = false;
  std::atomic<bool> closed_{false};
  std::atomic<bool> closing_requested_{false};
  std::atomic<size_t> stream_count_{0};
  std::atomic<uint64_t> bytes_in_{0};
  std::atomic<uint64_t> bytes_out_{0};
  std::atomic<int64_t> last_rtt_us_{-1};
  uint32_t next_ping_ = 1;
  std::chrono::steady_clock::time_point ping_sent_;
  bool ping_outstanding_ = false;
};

// "/ip4/127.0.0.1/tcp/4001" for a socket endpoint.
Multiaddr to_multiaddr(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace bzzz::p2p::net
