// Hostile input at every layer of a libp2p connection: a Host listens on loopback and a
// hand-rolled client (blocking POSIX sockets, the project's pure protocol primitives)
// misbehaves in multistream-select, in the Noise handshake, in Noise transport frames and
// in yamux. Each attack must close only that connection, with a reason in the log and
// the error metrics, while a peer connected before the attack stays connected and can
// ping, and new peers can still connect. Also: the pure decoders on malformed bytes that
// the noise/yamux/multistream unit tests do not cover (identify, length prefixes).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <future>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "base/encoding/varint.h"
#include "p2p/host/host.h"
#include "p2p/host/identify.h"
#include "p2p/host_fixture.h"
#include "p2p/multistream/codec.h"
#include "p2p/net/byte_stream.h"
#include "p2p/net/mss.h"
#include "p2p/noise/noise.h"
#include "p2p/yamux/session.h"

namespace bzzz::p2p {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// How long the target gets to close a hostile connection (it normally takes
// milliseconds; the margin is for a loaded machine).
constexpr auto kWait = 10s;

std::runtime_error failure(std::string what) { return std::runtime_error(std::move(what)); }

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

// --- the log -----------------------------------------------------------------------

// Every message the default logger emits, kept for the assertions.
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // The first line containing every one of `needles`, waiting up to `limit` for it.
  std::optional<std::string> wait_for(std::initializer_list<std::string_view> needles,
                                      std::chrono::milliseconds limit = kWait) {
    auto end = Clock::now() + limit;
    for (;;) {
      {
        std::lock_guard lock(lines_mutex_);
        for (const auto& line : lines_) {
          bool all = true;
          for (auto n : needles) all = all && line.find(n) != std::string::npos;
          if (all) return line;
        }
      }
      if (Clock::now() >= end) return std::nullopt;
      std::this_thread::sleep_for(5ms);
    }
  }
  void clear() {
    std::lock_guard lock(lines_mutex_);
    lines_.clear();
  }
  size_t count(std::string_view needle) {
    std::lock_guard lock(lines_mutex_);
    size_t n = 0;
    for (const auto& line : lines_) n += line.find(needle) != std::string::npos;
    return n;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::lock_guard lock(lines_mutex_);
    lines_.emplace_back(msg.payload.data(), msg.payload.size());
    if (lines_.size() > 20000) lines_.pop_front();
  }
  void flush_() override {}

 private:
  std::mutex lines_mutex_;
  std::deque<std::string> lines_;
};

// Installed once, while no other thread logs (from SetUp, before any io thread runs).
CaptureSink& log_capture() {
  static std::shared_ptr<CaptureSink> sink = [] {
    auto s = std::make_shared<CaptureSink>();
    spdlog::default_logger()->sinks().push_back(s);
    spdlog::set_level(spdlog::level::info);
    return s;
  }();
  return *sink;
}

using testing::addr_of;
using testing::Loop;
using testing::make_host;
using testing::port_of;
constexpr std::string_view kEcho = kEchoProtocol;

template <class F>
bool eventually(F f, std::chrono::milliseconds limit = kWait) {
  auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return f();
}

double counter_value(prometheus::Registry& registry, std::string_view family, std::string_view label,
                     std::string_view value) {
  double total = 0;
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      for (const auto& l : m.label) {
        if (l.name == label && l.value == value) total += m.counter.value;
      }
    }
  }
  return total;
}

// --- a raw TCP connection, blocking with deadlines ---------------------------------

class Wire {
 public:
  enum class Read { kData, kClosed, kTimeout };

  explicit Wire(int fd) : fd_(fd) {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Wire() {
    if (fd_ >= 0) ::close(fd_);
  }
  Wire(const Wire&) = delete;
  Wire& operator=(const Wire&) = delete;

  static std::unique_ptr<Wire> dial(uint16_t port, uint32_t ipv4 = INADDR_LOOPBACK) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw failure(fmt::format("socket: {}", std::strerror(errno)));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(ipv4);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      int e = errno;
      ::close(fd);
      throw failure(fmt::format("connect to port {}: {}", port, std::strerror(e)));
    }
    return std::make_unique<Wire>(fd);
  }

  uint16_t local_port() const {
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    return ntohs(sa.sin_port);
  }
  // How the target names this connection in its log.
  std::string remote_name() const { return fmt::format("/ip4/127.0.0.1/tcp/{}", local_port()); }

  // Every byte, or false once the remote is gone (reset, broken pipe).
  bool send(std::span<const uint8_t> data) {
    auto end = Clock::now() + kWait;
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait(POLLOUT, end)) throw failure("send: the remote neither reads nor closes");
        continue;
      }
      return false;
    }
    return true;
  }
  bool send(const std::vector<uint8_t>& data) { return send(std::span<const uint8_t>(data)); }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  // Appends whatever arrives next to `in`.
  Read fill(Clock::time_point end) {
    if (closed_) return Read::kClosed;
    if (!wait(POLLIN, end)) return Read::kTimeout;
    uint8_t buf[64 * 1024];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        in.insert(in.end(), buf, buf + n);
        return Read::kData;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Read::kTimeout;  // spurious
      closed_ = true;
      close_error_ = n == 0 ? "eof" : std::strerror(errno);
      return Read::kClosed;
    }
  }
  // At least `n` bytes in `in`; false if the connection ended (or stalled) first.
  bool need(size_t n, Clock::time_point end) {
    while (in.size() < n) {
      if (fill(end) != Read::kData && (closed_ || Clock::now() >= end)) return false;
    }
    return true;
  }
  std::vector<uint8_t> take(size_t n) {
    std::vector<uint8_t> out(in.begin(), in.begin() + static_cast<ptrdiff_t>(n));
    in.erase(in.begin(), in.begin() + static_cast<ptrdiff_t>(n));
    return out;
  }
  // Reads (keeping the bytes in `in`) until the remote closes: EOF or reset. False if it
  // is still open at the deadline.
  bool wait_closed(std::chrono::milliseconds limit = kWait) {
    auto end = Clock::now() + limit;
    for (;;) {
      auto r = fill(end);
      if (r == Read::kClosed) return true;
      if (r == Read::kTimeout && Clock::now() >= end) return false;
    }
  }
  bool closed() const { return closed_; }
  const std::string& close_error() const { return close_error_; }

  std::vector<uint8_t> in;  // received, not yet consumed

 private:
  bool wait(short events, Clock::time_point end) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
      if (left < 0) left = 0;
      pollfd p{fd_, events, 0};
      int r = ::poll(&p, 1, static_cast<int>(left));
      if (r > 0) return true;
      if (r == 0) return false;
      if (errno != EINTR) return false;
    }
  }

  int fd_;
  bool closed_ = false;
  std::string close_error_;
};

// A listening socket on 127.0.0.1 for a fake remote peer.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd_, 8) != 0) {
      throw failure(fmt::format("listen: {}", std::strerror(errno)));
    }
    socklen_t len = sizeof sa;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
  }
  ~Listener() { ::close(fd_); }
  uint16_t port() const { return port_; }
  std::unique_ptr<Wire> accept(std::chrono::milliseconds limit = kWait) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) throw failure("accept: nobody dialed");
    int fd = ::accept(fd_, nullptr, nullptr);
    if (fd < 0) throw failure(fmt::format("accept: {}", std::strerror(errno)));
    return std::make_unique<Wire>(fd);
  }

 private:
  int fd_;
  uint16_t port_ = 0;
};

// --- the protocols, hand-driven over a Wire ----------------------------------------

// Where multistream messages are read from: the raw socket or the Noise channel.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::vector<uint8_t>& buffer() = 0;
  virtual bool more(Clock::time_point end) = 0;  // false once nothing more can come
};

class RawSource final : public Source {
 public:
  explicit RawSource(Wire& wire) : wire_(wire) {}
  std::vector<uint8_t>& buffer() override { return wire_.in; }
  bool more(Clock::time_point end) override {
    size_t before = wire_.in.size();
    return wire_.need(before + 1, end);
  }

 private:
  Wire& wire_;
};

std::string read_mss(Source& source) {
  auto end = Clock::now() + kWait;
  auto& buf = source.buffer();
  for (;;) {
    std::span<const uint8_t> in(buf);
    auto msg = mss::read_message(in);
    if (!msg) throw failure("multistream from the target: " + msg.error().message());
    if (*msg) {
      buf.erase(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(buf.size() - in.size()));
      return **msg;
    }
    if (!source.more(end)) throw failure("the target closed (or went quiet) during multistream");
  }
}

void expect_mss(Source& source, std::string_view text) {
  auto got = read_mss(source);
  if (got != text) throw failure(fmt::format("multistream: expected {}, got {}", text, got));
}

std::vector<uint8_t> frame(std::span<const uint8_t> body) {
  std::vector<uint8_t> out;
  noise::append_frame_header(out, static_cast<uint16_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::vector<uint8_t> read_frame(Wire& wire) {
  auto end = Clock::now() + kWait;
  if (!wire.need(2, end)) throw failure("the target closed before a Noise frame");
  size_t len = (size_t{wire.in[0]} << 8) | wire.in[1];
  if (!wire.need(2 + len, end)) throw failure("the target closed inside a Noise frame");
  wire.take(2);
  return wire.take(len);
}

// The Noise channel once the handshake is done: transport frames both ways.
class Secure final : public Source {
 public:
  Secure(Wire& wire, noise::CipherState tx, noise::CipherState rx) : wire_(wire), tx_(std::move(tx)), rx_(std::move(rx)) {}

  // One transport frame carrying `plain` (at most kMaxPlaintext bytes).
  std::vector<uint8_t> seal(std::span<const uint8_t> plain) {
    auto ct = tx_.encrypt({}, plain);
    if (!ct) throw failure(ct.error().message());
    return frame(*ct);
  }
  bool write(std::span<const uint8_t> plain) {
    std::vector<uint8_t> wire;
    for (size_t off = 0; off < plain.size(); off += noise::kMaxPlaintext) {
      auto part = seal(plain.subspan(off, std::min(noise::kMaxPlaintext, plain.size() - off)));
      wire.insert(wire.end(), part.begin(), part.end());
    }
    return wire_.send(wire);
  }
  bool write(const std::vector<uint8_t>& plain) { return write(std::span<const uint8_t>(plain)); }

  std::vector<uint8_t>& buffer() override { return plain_; }
  // One more transport frame, decrypted into the buffer.
  bool more(Clock::time_point end) override {
    if (!wire_.need(2, end)) return false;
    size_t len = (size_t{wire_.in[0]} << 8) | wire_.in[1];
    if (!wire_.need(2 + len, end)) return false;
    wire_.take(2);
    auto body = wire_.take(len);
    auto pt = rx_.decrypt({}, body);
    if (!pt) throw failure("a frame from the target fails to decrypt: " + pt.error().message());
    plain_.insert(plain_.end(), pt->begin(), pt->end());
    return true;
  }
  // Decrypts everything until the target closes; false if it does not within `limit`.
  bool read_until_closed(std::chrono::milliseconds limit = kWait) {
    auto end = Clock::now() + limit;
    while (more(end)) {
    }
    return wire_.closed();
  }
  // The yamux frames received so far, and each stream's Data bytes.
  const std::vector<yamux::Header>& yamux_frames() {
    parse_yamux();
    return frames_;
  }
  const std::vector<uint8_t>& stream_data(uint32_t id) {
    parse_yamux();
    return data_[id];
  }
  // Reads until a yamux frame matching `pred` has come; false if none comes in `limit`.
  template <class Pred>
  bool wait_frame(Pred pred, std::chrono::milliseconds limit = kWait) {
    auto end = Clock::now() + limit;
    size_t seen = 0;
    for (;;) {
      parse_yamux();
      for (; seen < frames_.size(); ++seen) {
        if (pred(frames_[seen])) return true;
      }
      if (!more(end)) return false;
    }
  }
  // Reads until stream `id` holds at least `n` bytes of Data.
  bool wait_data(uint32_t id, size_t n, std::chrono::milliseconds limit = kWait) {
    auto end = Clock::now() + limit;
    for (;;) {
      if (stream_data(id).size() >= n) return true;
      if (!more(end)) return false;
    }
  }

 private:
  void parse_yamux() {
    for (;;) {
      std::span<const uint8_t> in = std::span<const uint8_t>(plain_).subspan(parsed_);
      if (in.size() < yamux::kHeaderSize) return;
      auto h = yamux::decode_header(in.first(yamux::kHeaderSize));
      if (!h) throw failure("the target sent a bad yamux header: " + h.error().message());
      size_t whole = yamux::kHeaderSize + (h->type == yamux::Type::kData ? h->length : 0);
      if (in.size() < whole) return;
      frames_.push_back(*h);
      if (h->type == yamux::Type::kData) {
        auto& d = data_[h->stream_id];
        d.insert(d.end(), in.begin() + yamux::kHeaderSize, in.begin() + static_cast<ptrdiff_t>(whole));
      }
      parsed_ += whole;
    }
  }

  Wire& wire_;
  noise::CipherState tx_;
  noise::CipherState rx_;
  std::vector<uint8_t> plain_;
  size_t parsed_ = 0;  // of plain_, by parse_yamux()
  std::vector<yamux::Header> frames_;
  std::map<uint32_t, std::vector<uint8_t>> data_;
};

std::vector<uint8_t> mss_messages(std::initializer_list<std::string_view> texts) {
  std::vector<uint8_t> out;
  for (auto t : texts) mss::append_message(out, t);
  return out;
}

// The dialer's side of a connection, one step at a time, so a test can stop anywhere
// and misbehave.
struct Dialer {
  PrivateKey key = PrivateKey::generate();
  PeerId id = PeerId::from_public_key(key.public_key());
  noise::KeyPair static_key = noise::KeyPair::generate();
  std::unique_ptr<Wire> wire;
  std::optional<noise::Handshake> hs;
  std::unique_ptr<Secure> secure;
  std::optional<PeerId> remote;

  explicit Dialer(uint16_t port) : wire(Wire::dial(port)) {}

  // multistream-select /noise on the raw socket.
  void select_noise() {
    if (!wire->send(mss_messages({mss::kHeader, noise::kProtocolId}))) throw failure("send");
    RawSource raw(*wire);
    expect_mss(raw, mss::kHeader);
    expect_mss(raw, noise::kProtocolId);
  }
  std::vector<uint8_t> message1() {
    hs.emplace(noise::Role::kInitiator, static_key);
    auto m1 = hs->write_message({});
    if (!m1) throw failure(m1.error().message());
    return frame(*m1);
  }
  // Message 2 from the target, checked: the target is who we dialed.
  void read_message2(const PeerId& expected) {
    auto m2 = read_frame(*wire);
    auto body = hs->read_message(m2);
    if (!body) throw failure("message 2: " + body.error().message());
    auto payload = noise::decode_payload(*body);
    if (!payload) throw failure(payload.error().message());
    auto verified = noise::verify_payload(*payload, hs->remote_static(), expected);
    if (!verified) throw failure(verified.error().message());
    remote = verified->first;
  }
  std::vector<uint8_t> message3(const noise::Payload& payload) {
    auto m3 = hs->write_message(noise::encode_payload(payload));
    if (!m3) throw failure(m3.error().message());
    return frame(*m3);
  }
  noise::Payload good_payload() const { return noise::make_payload(key, static_key.public_key); }
  void start_secure() {
    auto [tx, rx] = hs->split();
    secure = std::make_unique<Secure>(*wire, std::move(tx), std::move(rx));
  }
  // Through Noise to a secured channel (message 3 sent).
  void handshake(const PeerId& expected) {
    select_noise();
    if (!wire->send(message1())) throw failure("send");
    read_message2(expected);
    if (!wire->send(message3(good_payload()))) throw failure("send");
    start_secure();
  }
  // multistream-select /yamux/1.0.0 inside Noise: yamux frames may follow.
  void select_yamux() {
    if (!secure->write(mss_messages({mss::kHeader, yamux::kProtocolId}))) throw failure("send");
    expect_mss(*secure, mss::kHeader);
    expect_mss(*secure, yamux::kProtocolId);
  }
  void upgrade(const PeerId& expected) {
    handshake(expected);
    select_yamux();
  }
};

std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<uint8_t> yamux_header(yamux::Type type, uint16_t flags, uint32_t stream, uint32_t length) {
  std::vector<uint8_t> out;
  yamux::append_header(out, yamux::Header{0, type, flags, stream, length});
  return out;
}

// --- the fixture: a target, and a good peer connected to it before each attack ------

class HostBadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    capture_ = &log_capture();
    capture_->clear();  // no io thread runs yet: the previous test's loop has joined
    HostOptions options;
    options.handshake_timeout = 2s;  // a stalled handshake is cut after this
    target_ = make_host(loop_.io(), options, &registry_);
    good_ = make_host(loop_.io());
    auto conn = loop_.run(good_->connect(addr_of(*target_)));
    ASSERT_TRUE(conn) << conn.error().message();
    good_side_ = *conn;
    ASSERT_TRUE(eventually([&] { return target_->connection(good_->id()) != nullptr; }));
    target_side_ = target_->connection(good_->id());
    auto rtt = loop_.run(good_->ping(target_->id()));
    ASSERT_TRUE(rtt) << rtt.error().message();
    port_ = port_of(*target_);
  }

  void TearDown() override {
    for (auto& h : {target_, good_}) {
      if (h) h->stop();
    }
    EXPECT_TRUE(eventually([&] { return (!target_ || target_->idle()) && (!good_ || good_->idle()); }));
  }

  double errors(std::string_view reason) {
    return counter_value(registry_, "bzzz_p2p_connection_errors_total", "reason", reason);
  }

  // The log line of an inbound connection that failed during the upgrade.
  std::string upgrade_failure(const Wire& wire) {
    auto line = capture_->wait_for({"inbound connection from " + wire.remote_name() + " failed"});
    if (!line) {
      ADD_FAILURE() << "no log line says why the connection from " << wire.remote_name() << " failed";
      return {};
    }
    return *line;
  }
  // The log line of an upgraded connection from `peer` that was closed.
  std::string disconnect_reason(const PeerId& peer) {
    auto line = capture_->wait_for({"disconnected from " + peer.to_string()});
    if (!line) {
      ADD_FAILURE() << "no log line says why " << peer.to_string() << " was disconnected";
      return {};
    }
    return *line;
  }

  // The node keeps serving: the peer connected before the attack is still on the same
  // connection and pings both ways; a new peer connects and pings.
  void expect_still_serving() {
    SCOPED_TRACE("the target still serves others");
    EXPECT_EQ(target_->connection(good_->id()), target_side_) << "the good peer's connection was replaced";
    EXPECT_FALSE(target_side_->closed());
    EXPECT_FALSE(good_side_->closed());
    auto there = loop_.run(good_->ping(target_->id()));
    EXPECT_TRUE(there) << there.error().message();
    auto back = loop_.run(target_->ping(good_->id()));
    EXPECT_TRUE(back) << back.error().message();
    EXPECT_EQ(target_->connection(good_->id()), target_side_);

    auto fresh = make_host(loop_.io());
    auto conn = loop_.run(fresh->connect(addr_of(*target_)));
    ASSERT_TRUE(conn) << conn.error().message();
    auto rtt = loop_.run(fresh->ping(target_->id()));
    EXPECT_TRUE(rtt) << rtt.error().message();
    EXPECT_TRUE(eventually([&] { return target_->connection(fresh->id()) != nullptr; }));
    fresh->stop();
    EXPECT_TRUE(eventually([&] { return fresh->idle() && target_->connection_count() == 1; }))
        << target_->connection_count() << " connections";
  }

  // A hostile dialer that went through the whole upgrade; the target adopted it.
  // `alone`: no other hostile connection is up (the target has the good peer and this).
  std::unique_ptr<Dialer> upgraded_dialer(bool alone = true) {
    auto d = std::make_unique<Dialer>(port_);
    d->upgrade(target_->id());
    EXPECT_TRUE(eventually([&] { return target_->connection(d->id) != nullptr; }));
    if (alone) {
      EXPECT_EQ(target_->connection_count(), 2u);
    }
    return d;
  }

  // After a yamux-level violation: GoAway(protocol error), the close, the reason.
  void expect_go_away_and_close(Dialer& d, std::string_view reason) {
    EXPECT_TRUE(d.secure->read_until_closed()) << "the target kept the connection open";
    bool go_away = false;
    for (const auto& h : d.secure->yamux_frames()) {
      if (h.type == yamux::Type::kGoAway) {
        EXPECT_EQ(h.length, static_cast<uint32_t>(yamux::GoAwayCode::kProtocolError));
        go_away = true;
      }
    }
    EXPECT_TRUE(go_away) << "no GoAway before the close";
    auto line = disconnect_reason(d.id);
    EXPECT_THAT(line, HasSubstr("yamux"));
    EXPECT_THAT(line, HasSubstr(reason));
    EXPECT_TRUE(eventually([&] { return target_->connection(d.id) == nullptr; }));
    EXPECT_TRUE(eventually([&] { return target_->connection_count() == 1; }));
  }

  Loop loop_;
  prometheus::Registry registry_;
  CaptureSink* capture_ = nullptr;
  std::shared_ptr<Host> target_;
  std::shared_ptr<Host> good_;
  std::shared_ptr<net::Connection> good_side_;    // the good peer's connection to the target
  std::shared_ptr<net::Connection> target_side_;  // the target's connection to the good peer
  uint16_t port_ = 0;
};

// --- 1. multistream-select on the raw socket ---------------------------------------

TEST_F(HostBadInputTest, GarbageInsteadOfTheMultistreamHeader) {
  std::mt19937 rng(20240611);
  std::vector<uint8_t> random(2000);
  for (auto& b : random) b = static_cast<uint8_t>(rng());
  // 'G' = 71 is a length that GET / runs short of; 0x16 0x03 is a TLS ClientHello.
  std::vector<uint8_t> http = bytes_of("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::vector<uint8_t> tls(300, 0xab);
  const uint8_t hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03};
  std::copy(std::begin(hello), std::end(hello), tls.begin());
  struct Case {
    const char* name;
    std::vector<uint8_t> bytes;
    bool then_eof;
  };
  const double before = errors("protocol_error");
  int n = 0;
  for (const auto& c : {Case{"random bytes", random, false}, Case{"an HTTP request", http, true},
                        Case{"a TLS ClientHello", tls, false}}) {
    SCOPED_TRACE(c.name);
    auto wire = Wire::dial(port_);
    wire->send(c.bytes);
    if (c.then_eof) wire->shutdown_write();
    EXPECT_TRUE(wire->wait_closed()) << "the target kept the connection open";
    EXPECT_TRUE(wire->in.empty()) << "the target answered garbage with " << wire->in.size() << " bytes";
    auto line = upgrade_failure(*wire);
    EXPECT_THAT(line, HasSubstr("security negotiation: multistream"));
    ++n;
  }
  EXPECT_TRUE(eventually([&] { return errors("protocol_error") == before + n; })) << errors("protocol_error");
  EXPECT_EQ(target_->connection_count(), 1u);
  expect_still_serving();
}

TEST_F(HostBadInputTest, OversizedMultistreamLength) {
  // As the first message, and as a proposal after a good header.
  for (bool after_header : {false, true}) {
    SCOPED_TRACE(after_header ? "proposal" : "header");
    auto wire = Wire::dial(port_);
    std::vector<uint8_t> out;
    if (after_header) mss::append_message(out, mss::kHeader);
    varint_append(out, 5000);
    out.resize(out.size() + 1100, 'a');
    wire->send(out);
    if (after_header) {
      RawSource raw(*wire);
      expect_mss(raw, mss::kHeader);  // the target answers the good header
    }
    EXPECT_TRUE(wire->wait_closed());
    auto line = upgrade_failure(*wire);
    EXPECT_THAT(line, HasSubstr("multistream message of 5000 bytes (at most 1024)"));
  }
  EXPECT_TRUE(eventually([&] { return errors("protocol_error") == 2; }));
  expect_still_serving();
}

TEST_F(HostBadInputTest, TruncatedMultistreamMessageThenEof) {
  for (bool in_header : {true, false}) {
    SCOPED_TRACE(in_header ? "header" : "proposal");
    auto wire = Wire::dial(port_);
    std::vector<uint8_t> out;
    if (in_header) {
      out = mss::message(mss::kHeader);
    } else {
      out = mss_messages({mss::kHeader, noise::kProtocolId});
    }
    out.resize(out.size() - 3);  // "...1.0" / "/noi"
    wire->send(out);
    wire->shutdown_write();
    EXPECT_TRUE(wire->wait_closed());
    auto line = upgrade_failure(*wire);
    EXPECT_THAT(line, HasSubstr("multistream: the remote closed the stream while negotiating"));
  }
  EXPECT_TRUE(eventually([&] { return errors("protocol_error") == 2; }));
  expect_still_serving();
}

TEST_F(HostBadInputTest, EndlessMultistreamProposals) {
  auto wire = Wire::dial(port_);
  std::vector<uint8_t> out = mss::message(mss::kHeader);
  for (int i = 0; i < net::kMaxProposals + 5; ++i) mss::append_message(out, fmt::format("/nope/{}", i));
  wire->send(out);
  EXPECT_TRUE(wire->wait_closed());
  // The header and one "na" per proposal it looked at, then the close.
  RawSource raw(*wire);
  expect_mss(raw, mss::kHeader);
  int nas = 0;
  while (!wire->in.empty()) {
    std::span<const uint8_t> in(wire->in);
    auto msg = mss::read_message(in);
    if (!msg || !*msg) break;
    EXPECT_EQ(**msg, mss::kNa);
    ++nas;
    wire->take(wire->in.size() - in.size());
  }
  EXPECT_EQ(nas, net::kMaxProposals);
  auto line = upgrade_failure(*wire);
  EXPECT_THAT(line, HasSubstr(fmt::format("more than {} proposals", net::kMaxProposals)));
  EXPECT_TRUE(eventually([&] { return errors("protocol_error") == 1; }));
  expect_still_serving();
}

// --- 2. the Noise handshake --------------------------------------------------------

TEST_F(HostBadInputTest, NoiseGarbageInsteadOfMessage3) {
  Dialer d(port_);
  d.select_noise();
  ASSERT_TRUE(d.wire->send(d.message1()));
  d.read_message2(target_->id());  // the target answers a good message 1
  std::mt19937 rng(7);
  std::vector<uint8_t> garbage(200);
  for (auto& b : garbage) b = static_cast<uint8_t>(rng());
  d.wire->send(frame(garbage));
  EXPECT_TRUE(d.wire->wait_closed());
  auto line = upgrade_failure(*d.wire);
  EXPECT_THAT(line, HasSubstr("noise"));
  EXPECT_THAT(line, HasSubstr("authentication"));
  EXPECT_TRUE(eventually([&] { return errors("protocol_error") == 1; }));
  expect_still_serving();
}

TEST_F(HostBadInputTest, NoiseTruncatedFrameThenEof) {
  // Message 1 cut short, and message 3 cut short.
  for (bool at_message3 : {false, true}) {
    SCOPED_TRACE(at_message3 ? "message 3" : "message 1");
    Dialer d(port_);
    d.select_noise();
    auto m1 = d.message1();
    if (at_message3) {
      ASSERT_TRUE(d.wire->send(m1));
      d.read_message2(target_->id());
      auto m3 = d.message3(d.good_payload());
      m3.resize(m3.size() / 2);
      d.wire->send(m3);
    } else {
      m1.resize(2 + 10);
      d.wire->send(m1);
    }
    d.wire->shutdown_write();
    EXPECT_TRUE(d.wire->wait_closed());
    auto line = upgrade_failure(*d.wire);
    EXPECT_THAT(line, HasSubstr("noise: stream ended after"));
  }
  EXPECT_TRUE(eventually([&] { return errors("protocol_error") == 2; }));
  expect_still_serving();
}

TEST_F(HostBadInputTest, NoiseFrameClaiming65535BytesThenClose) {
  Dialer d(port_);
  d.select_noise();
  std::vector<uint8_t> out{0xff, 0xff, 1, 2, 3};
  d.wire->send(out);
  d.wire->shutdown_write();
  EXPECT_TRUE(d.wire->wait_closed());
  auto line = upgrade_failure(*d.wire);
  EXPECT_THAT(line, HasSubstr("noise: stream ended after 3 of 65535 bytes"));
  EXPECT_TRUE(eventually([&] { return errors("protocol_error") == 1; }));
  expect_still_serving();
}

TEST_F(HostBadInputTest, NoiseSignatureOverAnotherStaticKey) {
  Dialer d(port_);
  d.select_noise();
  ASSERT_TRUE(d.wire->send(d.message1()));
  d.read_message2(target_->id());
  auto other = noise::KeyPair::generate();
  d.wire->send(d.message3(noise::make_payload(d.key, other.public_key)));
  EXPECT_TRUE(d.wire->wait_closed());
  auto line = upgrade_failure(*d.wire);
  EXPECT_THAT(line, HasSubstr("noise: identity signature of peer " + d.id.to_string()));
  EXPECT_TRUE(eventually([&] { return errors("permission_denied") == 1; }));
  EXPECT_EQ(target_->connection(d.id), nullptr);
  expect_still_serving();
}

TEST_F(HostBadInputTest, NoiseMalformedPayload) {
  Dialer d(port_);
  d.select_noise();
  ASSERT_TRUE(d.wire->send(d.message1()));
  d.read_message2(target_->id());
  // The right Noise messages, but the payload is not a handshake payload.
  auto m3 = d.hs->write_message(bytes_of("\xff\xff\xff this is no protobuf"));
  ASSERT_TRUE(m3);
  d.wire->send(frame(*m3));
  EXPECT_TRUE(d.wire->wait_closed());
  auto line = upgrade_failure(*d.wire);
  EXPECT_THAT(line, HasSubstr("noise"));
  EXPECT_THAT(line, HasSubstr("malformed"));
  EXPECT_TRUE(eventually([&] { return errors("protocol_error") == 1; }));
  expect_still_serving();
}

TEST_F(HostBadInputTest, StalledHandshakeIsCutAtTheTimeout) {
  Dialer d(port_);
  d.select_noise();
  ASSERT_TRUE(d.wire->send(d.message1()));
  d.read_message2(target_->id());
  auto t0 = Clock::now();
  EXPECT_TRUE(d.wire->wait_closed());  // no message 3 ever
  EXPECT_GE(Clock::now() - t0, 1500ms);
  auto line = upgrade_failure(*d.wire);
  EXPECT_THAT(line, HasSubstr("no handshake within 2000 ms"));
  EXPECT_TRUE(eventually([&] { return errors("timeout") == 1; }));
  expect_still_serving();
}

// The target dials an address naming one peer id and a fake listener answers with a
// valid handshake under another identity.
TEST_F(HostBadInputTest, DialedPeerIdMismatch) {
  Listener listener;
  auto claimed = PeerId::from_public_key(PrivateKey::generate().public_key());
  auto addr = Multiaddr::parse(fmt::format("/ip4/127.0.0.1/tcp/{}/p2p/{}", listener.port(), claimed.to_string()));
  ASSERT_TRUE(addr);
  auto result = asio::co_spawn(loop_.io(), target_->connect(*addr), asio::use_future);

  PrivateKey impostor = PrivateKey::generate();
  PeerId impostor_id = PeerId::from_public_key(impostor.public_key());
  auto wire = listener.accept();
  RawSource raw(*wire);
  expect_mss(raw, mss::kHeader);
  expect_mss(raw, noise::kProtocolId);
  wire->send(mss_messages({mss::kHeader, noise::kProtocolId}));
  auto static_key = noise::KeyPair::generate();
  noise::Handshake hs(noise::Role::kResponder, static_key);
  ASSERT_TRUE(hs.read_message(read_frame(*wire)));
  auto m2 = hs.write_message(noise::encode_payload(noise::make_payload(impostor, static_key.public_key)));
  ASSERT_TRUE(m2);
  wire->send(frame(*m2));
  EXPECT_TRUE(wire->wait_closed()) << "the target kept talking to an impostor";
  EXPECT_TRUE(wire->in.empty()) << "the target sent message 3 to an impostor";

  ASSERT_EQ(result.wait_for(kWait), std::future_status::ready);
  auto conn = result.get();
  ASSERT_FALSE(conn);
  EXPECT_EQ(conn.error().code(), ErrorCode::kPermission);
  EXPECT_THAT(conn.error().message(), HasSubstr(impostor_id.to_string()));
  EXPECT_THAT(conn.error().message(), HasSubstr(claimed.to_string()));
  EXPECT_EQ(target_->connection(impostor_id), nullptr);
  EXPECT_EQ(target_->connection(claimed), nullptr);
  EXPECT_TRUE(eventually([&] { return errors("permission_denied") == 1; }));
  EXPECT_EQ(target_->connection_count(), 1u);
  expect_still_serving();
}

// --- 3. Noise transport frames after the handshake ---------------------------------

TEST_F(HostBadInputTest, BitFlipInAFullSizeTransportFrame) {
  auto d = upgraded_dialer();
  // A yamux ping in a frame of the largest size, one bit flipped.
  std::vector<uint8_t> plain = yamux_header(yamux::Type::kPing, yamux::kSyn, 0, 42);
  plain.resize(noise::kMaxPlaintext, 0);  // yamux would read the zeros as more frames
  auto sealed = d->secure->seal(plain);
  ASSERT_EQ(sealed.size(), 2 + noise::kMaxMessage);
  sealed[2 + 1000] ^= 0x10;
  d->wire->send(sealed);
  EXPECT_TRUE(d->secure->read_until_closed());
  auto line = disconnect_reason(d->id);
  EXPECT_THAT(line, HasSubstr("noise: message failed authentication"));
  EXPECT_TRUE(eventually([&] { return target_->connection_count() == 1; }));
  EXPECT_TRUE(eventually([&] { return errors("protocol_error") == 1; }));
  expect_still_serving();
}

TEST_F(HostBadInputTest, TransportFrameShorterThanItsTag) {
  auto d = upgraded_dialer();
  std::vector<uint8_t> tiny{1, 2, 3, 4, 5};
  d->wire->send(frame(tiny));
  EXPECT_TRUE(d->secure->read_until_closed());
  auto line = disconnect_reason(d->id);
  EXPECT_THAT(line, HasSubstr("noise: encrypted message of 5 bytes is shorter than its 16-byte tag"));
  EXPECT_TRUE(eventually([&] { return target_->connection_count() == 1; }));
  EXPECT_TRUE(eventually([&] { return errors("protocol_error") == 1; }));
  expect_still_serving();
}

TEST_F(HostBadInputTest, TruncatedTransportFrameThenEof) {
  auto d = upgraded_dialer();
  std::vector<uint8_t> out{0xff, 0xff};
  out.resize(1000, 0x42);
  d->wire->send(out);
  d->wire->shutdown_write();
  EXPECT_TRUE(d->secure->read_until_closed());
  auto line = disconnect_reason(d->id);
  EXPECT_THAT(line, HasSubstr("the remote closed the connection"));
  EXPECT_TRUE(eventually([&] { return target_->connection_count() == 1; }));
  EXPECT_EQ(errors("protocol_error"), 0);  // a peer hanging up is no error
  expect_still_serving();
}

TEST_F(HostBadInputTest, BitFlipDuringMuxerNegotiation) {
  Dialer d(port_);
  d.handshake(target_->id());
  auto sealed = d.secure->seal(mss_messages({mss::kHeader, yamux::kProtocolId}));
  sealed.back() ^= 1;  // the tag
  d.wire->send(sealed);
  EXPECT_TRUE(d.wire->wait_closed());
  auto line = upgrade_failure(*d.wire);
  EXPECT_THAT(line, HasSubstr("muxer negotiation: noise: message failed authentication"));
  EXPECT_EQ(target_->connection(d.id), nullptr);
  EXPECT_TRUE(eventually([&] { return errors("protocol_error") == 1; }));
  expect_still_serving();
}

// --- 4. yamux ----------------------------------------------------------------------

TEST_F(HostBadInputTest, YamuxDataPastTheWindow) {
  auto d = upgraded_dialer();
  // A new stream whose first Data frame is one byte over the 256 KiB window, payload and
  // all.
  const uint32_t size = yamux::kInitialWindow + 1;
  std::vector<uint8_t> plain = yamux_header(yamux::Type::kData, yamux::kSyn, 1, size);
  plain.resize(plain.size() + size, 0x61);
  // The payload may meet a closed socket: the target stops reading at the header.
  std::thread writer([&] {
    try {
      d->secure->write(plain);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  });
  expect_go_away_and_close(*d, fmt::format("Data frame of {} bytes on stream 1 exceeds the {} bytes", size,
                                           yamux::kInitialWindow));
  writer.join();
  EXPECT_TRUE(eventually([&] { return errors("protocol_error") == 1; }));
  expect_still_serving();
}

struct YamuxCase {
  const char* name;
  std::vector<uint8_t> bytes;
  const char* reason;
};

class HostBadYamuxTest : public HostBadInputTest, public ::testing::WithParamInterface<YamuxCase> {};

TEST_P(HostBadYamuxTest, ProtocolErrorClosesOnlyThatConnection) {
  auto d = upgraded_dialer();
  ASSERT_TRUE(d->secure->write(GetParam().bytes));
  expect_go_away_and_close(*d, GetParam().reason);
  EXPECT_TRUE(eventually([&] { return errors("protocol_error") == 1; }));
  expect_still_serving();
}

std::vector<uint8_t> with_byte(std::vector<uint8_t> v, size_t at, uint8_t value) {
  v[at] = value;
  return v;
}

INSTANTIATE_TEST_SUITE_P(
    Violations, HostBadYamuxTest,
    ::testing::Values(
        YamuxCase{"UnknownType", with_byte(yamux_header(yamux::Type::kData, 0, 1, 0), 1, 7),
                  "unknown frame type 7"},
        YamuxCase{"UnknownTypeAfterAGoodStream",
                  concat(yamux_header(yamux::Type::kWindowUpdate, yamux::kSyn, 1, 0),
                         with_byte(yamux_header(yamux::Type::kData, 0, 1, 0), 1, 0xee)),
                  "unknown frame type 238"},
        YamuxCase{"VersionOne", with_byte(yamux_header(yamux::Type::kPing, yamux::kSyn, 0, 1), 0, 1),
                  "frame version 1"},
        YamuxCase{"SynInTheListenersIdSpace", yamux_header(yamux::Type::kWindowUpdate, yamux::kSyn, 4, 0),
                  "opened stream 4 in our id space"},
        YamuxCase{"DataOnStreamZero", yamux_header(yamux::Type::kData, 0, 0, 0), "Data frame on stream 0"},
        YamuxCase{"SynReusingAnOpenId",
                  concat(yamux_header(yamux::Type::kWindowUpdate, yamux::kSyn, 3, 0),
                         yamux_header(yamux::Type::kWindowUpdate, yamux::kSyn, 3, 0)),
                  "for stream 3, which is already open"},
        YamuxCase{"HeaderClaiming4GiB", yamux_header(yamux::Type::kData, yamux::kSyn, 5, 0xffffffffu),
                  "Data frame of 4294967295 bytes on stream 5 exceeds"}),
    [](const ::testing::TestParamInfo<YamuxCase>& p) { return std::string(p.param.name); });

// --- 5. above yamux: a bad stream dies alone ---------------------------------------

bool is_rst(const yamux::Header& h, uint32_t stream) {
  return h.stream_id == stream && (h.flags & yamux::kRst) != 0;
}

// The hostile connection itself still works: a yamux ping comes back.
void expect_pong(Dialer& d, uint32_t opaque) {
  ASSERT_TRUE(d.secure->write(yamux_header(yamux::Type::kPing, yamux::kSyn, 0, opaque)));
  EXPECT_TRUE(d.secure->wait_frame([&](const yamux::Header& h) {
    return h.type == yamux::Type::kPing && (h.flags & yamux::kAck) && h.length == opaque;
  })) << "no pong: the connection is gone";
}

std::vector<uint8_t> data_frame(uint32_t stream, uint16_t flags, const std::vector<uint8_t>& payload) {
  return concat(yamux_header(yamux::Type::kData, flags, stream, static_cast<uint32_t>(payload.size())), payload);
}

TEST_F(HostBadInputTest, GarbageOnAStreamResetsOnlyThatStream) {
  auto d = upgraded_dialer();
  // Stream 1: a multistream length over 1024. Stream 3: a varint that never ends.
  std::vector<uint8_t> oversized;
  varint_append(oversized, 5000);
  oversized.resize(oversized.size() + 100, 'a');
  std::vector<uint8_t> endless(40, 0x80);
  std::vector<uint8_t> out = concat(yamux_header(yamux::Type::kWindowUpdate, yamux::kSyn, 1, 0),
                                    data_frame(1, 0, oversized));
  out = concat(out, data_frame(3, yamux::kSyn, endless));
  ASSERT_TRUE(d->secure->write(out));
  EXPECT_TRUE(d->secure->wait_frame([](const yamux::Header& h) { return is_rst(h, 1); }));
  EXPECT_TRUE(d->secure->wait_frame([](const yamux::Header& h) { return is_rst(h, 3); }));
  expect_pong(*d, 77);
  // A good stream on the same connection: ping, pipelined with its negotiation.
  std::vector<uint8_t> ping(32);
  for (size_t i = 0; i < ping.size(); ++i) ping[i] = static_cast<uint8_t>(i * 7);
  auto negotiation = mss_messages({mss::kHeader, kPingProtocol});
  ASSERT_TRUE(d->secure->write(data_frame(5, yamux::kSyn, concat(negotiation, ping))));
  ASSERT_TRUE(d->secure->wait_data(5, negotiation.size() + ping.size()));
  EXPECT_EQ(d->secure->stream_data(5), concat(negotiation, ping));
  EXPECT_EQ(target_->connection(d->id)->closed(), false);
  EXPECT_EQ(target_->connection_count(), 2u);
  EXPECT_EQ(errors("protocol_error"), 0);
  d.reset();  // the hostile peer hangs up
  EXPECT_TRUE(eventually([&] { return target_->connection_count() == 1; }));
  expect_still_serving();
}

// The target identifies every peer it adopts; a hostile peer answers badly.
TEST_F(HostBadInputTest, HostileIdentifyAnswerResetsOnlyTheStream) {
  std::vector<uint8_t> oversized;
  varint_append(oversized, 1u << 20);
  oversized.resize(oversized.size() + 100, 'a');
  std::vector<uint8_t> not_protobuf = net::length_prefixed(std::vector<uint8_t>{0x0a, 0x7f, 0x01, 0x02});
  std::vector<uint8_t> cut;
  varint_append(cut, 100);
  cut.resize(cut.size() + 10, 'a');
  struct Case {
    const char* name;
    std::vector<uint8_t> answer;
    uint16_t flags;
    std::string reason;
  };
  for (const auto& c : {Case{"length over the limit", oversized, 0, "message of 1048576 bytes is over the limit of 8192"},
                        Case{"not a protobuf", not_protobuf, 0, "4 bytes are not an Identify message"},
                        Case{"cut short by FIN", cut, yamux::kFin, "stream ended after 10 of 100 bytes"}}) {
    SCOPED_TRACE(c.name);
    auto d = upgraded_dialer();
    // The target's identify stream: SYN, then its proposal.
    auto proposal = mss_messages({mss::kHeader, identify::kProtocolId});
    ASSERT_TRUE(d->secure->wait_data(2, proposal.size()));
    EXPECT_EQ(d->secure->stream_data(2), proposal);
    ASSERT_TRUE(d->secure->write(data_frame(2, yamux::kAck | c.flags, concat(proposal, c.answer))));
    auto line = capture_->wait_for({"identify " + d->id.to_string() + " failed"});
    ASSERT_TRUE(line);
    EXPECT_THAT(*line, HasSubstr(c.reason));
    EXPECT_TRUE(d->secure->wait_frame([](const yamux::Header& h) { return is_rst(h, 2); }));
    expect_pong(*d, 5);
    auto record = target_->peer_store().get(d->id);
    EXPECT_TRUE(!record || !record->identified);
    EXPECT_NE(target_->connection(d->id), nullptr);
    EXPECT_EQ(target_->connection_count(), 2u);
    d.reset();
    EXPECT_TRUE(eventually([&] { return target_->connection_count() == 1; }));
  }
  EXPECT_EQ(errors("protocol_error"), 0);
  expect_still_serving();
}

// Many hostile connections at once, from every layer, while the good peer pings.
TEST_F(HostBadInputTest, ManyHostileConnectionsAtOnce) {
  std::vector<std::unique_ptr<Wire>> wires;
  for (int i = 0; i < 10; ++i) {
    wires.push_back(Wire::dial(port_));
    std::vector<uint8_t> junk(100 + i, static_cast<uint8_t>(0x80 + i));
    wires.back()->send(junk);
  }
  std::vector<std::unique_ptr<Dialer>> dialers;
  for (int i = 0; i < 5; ++i) {
    dialers.push_back(upgraded_dialer(false));
    dialers.back()->secure->write(with_byte(yamux_header(yamux::Type::kData, 0, 1, 0), 1, 9));
  }
  for (int i = 0; i < 5; ++i) {
    auto rtt = loop_.run(good_->ping(target_->id()));
    EXPECT_TRUE(rtt) << rtt.error().message();
  }
  for (auto& w : wires) EXPECT_TRUE(w->wait_closed());
  for (auto& d : dialers) EXPECT_TRUE(d->secure->read_until_closed());
  EXPECT_TRUE(eventually([&] { return target_->connection_count() == 1; }));
  EXPECT_TRUE(eventually([&] { return errors("protocol_error") == 15; })) << errors("protocol_error");
  expect_still_serving();
}

// --- silent sockets from one IP ---------------------------------------------------

// Connections still in their upgrade count toward max_connections_per_ip as well as
// max_connections: one IP opening max_connections silent sockets gets only its share,
// and a peer from elsewhere (here: loopback, which is exempt) still gets in.
TEST(HostBadInputLimitsTest, SilentHandshakesFromOneIpDoNotLockOutNewPeers) {
  std::optional<asio::ip::address_v4> ip;
  for (const auto& a : interface_addresses(false)) {
    if (a.is_v4() && !a.is_loopback()) ip = a.to_v4();
  }
  if (!ip) GTEST_SKIP() << "needs a non-loopback IPv4 address (loopback is exempt from the per-IP limit)";
  auto& capture = log_capture();
  capture.clear();
  Loop loop;
  HostOptions options;
  options.listen = {*Multiaddr::parse(fmt::format("/ip4/{}/tcp/0", ip->to_string())),
                    *Multiaddr::parse("/ip4/127.0.0.1/tcp/0")};
  options.max_connections = 10;
  options.max_connections_per_ip = 3;
  options.handshake_timeout = 5s;
  auto target = make_host(loop.io(), options);
  std::vector<std::unique_ptr<Wire>> silent;
  for (size_t i = 0; i < options.max_connections; ++i) silent.push_back(Wire::dial(port_of(*target), ip->to_uint()));
  // Accepted in order: the new peer's connection comes after the silent ones.
  auto fresh = make_host(loop.io());
  auto conn = loop.run(fresh->connect(target->listen_addrs().at(1).with_peer_id(target->id())));
  EXPECT_TRUE(conn) << "a new peer is locked out: " << conn.error().message() << "; the log says: "
                    << capture.wait_for({"refusing"}, 100ms).value_or("nothing");
  EXPECT_GE(capture.count("connections per IP reached"), 1u)
      << "all " << options.max_connections << " silent connections from " << ip->to_string()
      << " were taken despite max_connections_per_ip = 3";
  fresh->stop();
  target->stop();
}

// --- pure decoders on malformed bytes ---------------------------------------------

TEST(IdentifyDecodeTest, MalformedMessagesAreProtocolErrors) {
  std::mt19937 rng(99);
  // Random bytes: mostly not a protobuf; when one parses by chance it must not crash.
  for (int i = 0; i < 500; ++i) {
    std::vector<uint8_t> junk(1 + rng() % 200);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    auto r = identify::decode(junk);
    if (!r) {
      EXPECT_EQ(r.error().code(), ErrorCode::kProtocol);
    }
  }
  identify::Info info;
  info.public_key = PrivateKey::generate().public_key();
  info.protocols = {"/ipfs/ping/1.0.0"};
  info.agent_version = "bzzz";
  auto good = identify::encode(info);
  // Every truncation: an error or a prefix of the fields, never a crash.
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = identify::decode(std::span<const uint8_t>(good.data(), n));
    if (!r) {
      EXPECT_EQ(r.error().code(), ErrorCode::kProtocol);
    }
  }
  // A field whose length runs past the end.
  std::vector<uint8_t> overrun{0x0a, 0x7f, 0x01, 0x02};
  auto r = identify::decode(overrun);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kProtocol);
  // A well-formed message whose public key is not a PublicKey.
  std::vector<uint8_t> bad_key{0x0a, 0x03, 0x08, 0x01, 0x12};  // publicKey: Type=1, Data cut off
  auto k = identify::decode(bad_key);
  ASSERT_FALSE(k);
  EXPECT_THAT(k.error().message(), HasSubstr("identify: public key"));
}

// A ByteStream over fixed bytes, for the length-prefix reader.
class BytesStream final : public net::ByteStream {
 public:
  explicit BytesStream(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  asio::awaitable<Status> write(std::span<const uint8_t>) override { co_return ok(); }
  size_t left() const { return bytes_.size() - pos_; }

 protected:
  asio::awaitable<Result<size_t>> do_read_some(std::span<uint8_t> out) override {
    size_t n = std::min(out.size(), left());
    std::memcpy(out.data(), bytes_.data() + pos_, n);
    pos_ += n;
    co_return n;
  }

 private:
  std::vector<uint8_t> bytes_;
  size_t pos_ = 0;
};

Result<std::optional<std::vector<uint8_t>>> read_prefixed(BytesStream& s, size_t max) {
  asio::io_context io;
  auto f = asio::co_spawn(io, net::read_length_prefixed(s, max), asio::use_future);
  io.run();
  return f.get();
}

TEST(LengthPrefixTest, MalformedPrefixesAndBodies) {
  {
    BytesStream s({});
    auto r = read_prefixed(s, 100);
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r);  // a clean end before the first byte
  }
  {
    BytesStream s({0x80, 0x80});
    auto r = read_prefixed(s, 100);
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message(), HasSubstr("inside a length prefix"));
  }
  {
    BytesStream s({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01});
    auto r = read_prefixed(s, 100);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kProtocol);
    EXPECT_THAT(r.error().message(), HasSubstr("overflows 64 bits"));
  }
  {
    std::vector<uint8_t> huge;
    varint_append(huge, 1ull << 40);  // must not allocate a terabyte
    BytesStream s(huge);
    auto r = read_prefixed(s, identify::kMaxMessage);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kTooLarge);
  }
  {
    std::vector<uint8_t> cut;
    varint_append(cut, 50);
    cut.resize(cut.size() + 20, 'x');
    BytesStream s(cut);
    auto r = read_prefixed(s, 100);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kProtocol);
    EXPECT_THAT(r.error().message(), HasSubstr("after 20 of 50 bytes"));
  }
  {
    // Nothing past the message is consumed.
    auto two = net::length_prefixed(bytes_of("abc"));
    two.push_back(0x07);
    BytesStream s(two);
    auto r = read_prefixed(s, 100);
    ASSERT_TRUE(r && *r);
    EXPECT_EQ(**r, bytes_of("abc"));
    EXPECT_EQ(s.left(), 1u);
  }
}

}  // namespace
}  // namespace bzzz::p2p
