#include "p2p/net/upgrade.h"

#include <atomic>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "p2p/net/mss.h"

namespace bzzz::p2p::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// The raw socket, before Noise.
class SocketStream final : public ByteStream {
 public:
  explicit SocketStream(tcp::socket& socket) : socket_(socket) {}
  asio::awaitable<Status> write(std::span<const uint8_t> data) override {
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(data.data(), data.size()), kTuple);
    if (ec) co_return make_error(ErrorCode::kIo, fmt::format("write: {}", ec.message()));
    co_return ok();
  }

 protected:
  asio::awaitable<Result<size_t>> do_read_some(std::span<uint8_t> out) override {
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(out.data(), out.size()), kTuple);
    if (ec == asio::error::eof) co_return size_t{0};
    if (ec) co_return make_error(ErrorCode::kIo, fmt::format("read: {}", ec.message()));
    co_return n;
  }

 private:
  tcp::socket& socket_;
};

// One u16be-framed message of the handshake.
asio::awaitable<Result<std::vector<uint8_t>>> read_frame(ByteStream& stream) {
  uint8_t len[2];
  auto st = co_await stream.read_exact(len);
  if (!st) co_return tl::unexpected(st.error());
  std::vector<uint8_t> body((size_t(len[0]) << 8) | len[1]);
  st = co_await stream.read_exact(body);
  if (!st) co_return tl::unexpected(st.error());
  co_return body;
}

asio::awaitable<Status> write_frame(ByteStream& stream, std::span<const uint8_t> body) {
  if (body.size() > noise::kMaxMessage) co_return make_error(ErrorCode::kInternal, "noise: frame too long");
  std::vector<uint8_t> out;
  noise::append_frame_header(out, static_cast<uint16_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  co_return co_await stream.write(out);
}

// The Noise channel before yamux: carries the second multistream-select.
class SecureStream final : public ByteStream {
 public:
  SecureStream(ByteStream& raw, noise::CipherState& send, noise::CipherState& receive)
      : raw_(raw), send_(send), receive_(receive) {}
  asio::awaitable<Status> write(std::span<const uint8_t> data) override {
    std::vector<uint8_t> buf(data.begin(), data.end());
    buf.resize(data.size() + noise::kTagSize);
    auto st = send_.encrypt_in_place({}, buf.data(), data.size());
    if (!st) co_return tl::unexpected(st.error());
    co_return co_await write_frame(raw_, buf);
  }

 protected:
  asio::awaitable<Result<size_t>> do_read_some(std::span<uint8_t> out) override {
    for (;;) {
      auto frame = co_await read_frame(raw_);
      if (!frame) co_return tl::unexpected(frame.error());
      auto st = receive_.decrypt_in_place({}, frame->data(), frame->size());
      if (!st) co_return tl::unexpected(st.error());
      size_t len = frame->size() - noise::kTagSize;
      if (len == 0) continue;
      size_t n = std::min(len, out.size());
      std::memcpy(out.data(), frame->data(), n);
      if (n < len) unread(std::span<const uint8_t>(frame->data() + n, len - n));
      co_return n;
    }
  }

 private:
  ByteStream& raw_;
  noise::CipherState& send_;
  noise::CipherState& receive_;
};

// One protocol, either role.
asio::awaitable<Result<std::string>> negotiate(ByteStream& stream, bool outbound, std::string_view protocol) {
  std::vector<std::string> protocols{std::string(protocol)};
  if (outbound) co_return co_await mss_select(stream, protocols);
  MssServer server;
  server.supports = [protocol](std::string_view p) { return p == protocol; };
  server.list = [protocols] { return protocols; };
  co_return co_await mss_handle(stream, server);
}

// "noise: ..." and not "noise: noise: ..." when the error already names its step.
Error step_error(std::string_view step, const Error& e) {
  if (e.message().starts_with(fmt::format("{}: ", step))) return e;
  return Error(e.code(), fmt::format("{}: {}", step, e.message()));
}

}  // namespace

asio::awaitable<Result<std::shared_ptr<Connection>>> upgrade(tcp::socket socket, bool outbound,
                                                             std::optional<PeerId> expected,
                                                             const UpgradeOptions& options) {
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (ec) co_return make_error(ErrorCode::kIo, fmt::format("upgrade: {}", ec.message()));
  auto local = socket.local_endpoint(ec);
  socket.set_option(tcp::no_delay(true), ec);

  // The deadline closes the socket; every pending operation then fails.
  auto timed_out = std::make_shared<std::atomic<bool>>(false);
  asio::steady_timer deadline(socket.get_executor());
  deadline.expires_after(options.timeout);
  deadline.async_wait([&socket, timed_out](boost::system::error_code wait_ec) {
    if (wait_ec) return;
    *timed_out = true;
    boost::system::error_code ignored;
    socket.close(ignored);
  });
  auto fail = [&](std::string_view step, const Error& e) -> Result<std::shared_ptr<Connection>> {
    deadline.cancel();
    boost::system::error_code ignored;
    socket.close(ignored);
    if (*timed_out) {
      return make_error(ErrorCode::kTimeout,
                        fmt::format("{}: no handshake within {} ms", step, options.timeout.count()));
    }
    return tl::unexpected(step_error(step, e));
  };

  SocketStream raw(socket);
  // 1. /noise
  {
    auto chosen = co_await negotiate(raw, outbound, noise::kProtocolId);
    if (!chosen) co_return fail("security negotiation", chosen.error());
  }
  // 2. Noise XX
  auto static_key = noise::KeyPair::generate();
  noise::Handshake hs(outbound ? noise::Role::kInitiator : noise::Role::kResponder, static_key);
  auto payload = noise::encode_payload(noise::make_payload(*options.identity, static_key.public_key));
  std::optional<std::pair<PeerId, PublicKey>> remote_id;
  auto read_and_verify = [&](std::vector<uint8_t>& msg) -> Status {
    auto body = hs.read_message(msg);
    if (!body) return tl::unexpected(body.error());
    auto decoded = noise::decode_payload(*body);
    if (!decoded) return tl::unexpected(decoded.error());
    auto verified = noise::verify_payload(*decoded, hs.remote_static(), expected);
    if (!verified) return tl::unexpected(verified.error());
    remote_id = std::move(*verified);
    return ok();
  };
  // Three messages, whoever's turn: message 1 carries nothing, 2 and 3 each side's payload.
  for (int message = 1; message <= 3; ++message) {
    if (hs.my_turn()) {
      std::span<const uint8_t> body;
      if (message > 1) body = payload;
      auto out = hs.write_message(body);
      if (!out) co_return fail("noise", out.error());
      auto st = co_await write_frame(raw, *out);
      if (!st) co_return fail("noise", st.error());
    } else {
      auto in = co_await read_frame(raw);
      if (!in) co_return fail("noise", in.error());
      Status st = ok();
      if (message == 1) {
        auto empty = hs.read_message(*in);
        if (!empty) st = tl::unexpected(empty.error());
      } else {
        st = read_and_verify(*in);
      }
      if (!st) co_return fail("noise", st.error());
    }
  }
  auto [send, receive] = hs.split();
  // 3. /yamux/1.0.0 inside Noise
  SecureStream secure(raw, send, receive);
  {
    auto chosen = co_await negotiate(secure, outbound, yamux::kProtocolId);
    if (!chosen) co_return fail("muxer negotiation", chosen.error());
  }
  deadline.cancel();
  if (*timed_out) co_return fail("upgrade", Error(ErrorCode::kTimeout, "timed out"));

  ConnectionInfo info{remote_id->first, remote_id->second, to_multiaddr(remote), to_multiaddr(local), outbound,
                      std::chrono::system_clock::now()};
  SecuredSocket secured{std::move(socket), std::move(send), std::move(receive), raw.take_pushback(),
                        secure.take_pushback()};
  co_return std::make_shared<Connection>(std::move(secured), std::move(info), options.connection);
}

}  // namespace bzzz::p2p::net
