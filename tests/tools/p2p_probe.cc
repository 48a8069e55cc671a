// bzzz-p2p-probe: the C++ side of the interop tests and the p2p benchmarks. It runs its
// own Host (random identity, listening on 127.0.0.1:0, the diagnostic protocols on) and
// drives a remote libp2p peer -- a js test peer (tests/interop/peer.mjs) or a bzzz node.
//
//   bzzz-p2p-probe dial MULTIADDR [--checks identify,ping,echo,cycles] [--streams 64]
//                  [--size 1048576] [--cycles 100] [--timeout 60]
//       The C++ mirror of `peer.mjs dial`: one JSON line per check on stdout, in the
//       same shape (see the header of tests/interop/peer.mjs):
//         {"check":"identify","ok":true,"peer":..,"protocols":[..],"agent":..,...}
//         {"check":"ping","ok":true,"rtt_ms":<mean>,"samples":[..],"retries":0}
//         {"check":"echo","ok":true,"streams":64,"bytes":..,"seconds":..,"mib_per_s":..}
//         {"check":"cycles","ok":true,"cycles":100,"seconds":..,"ms_per_cycle":..,"connections":0}
//       echo: --streams concurrent /bzzz/echo/1.0.0 streams on one connection, each
//       sending --size distinct pseudo-random bytes (peer.mjs's generator, seed i+1),
//       writing everything and half-closing while reading back, then comparing.
//       cycles: --cycles times disconnect (and wait until the connection is gone),
//       connect, wait for identify of the new connection, ping, 4 KiB echo; after a
//       final disconnect our connection count must reach 0 within 2 s.
//       A failed check prints {"check":..,"ok":false,"error":".."}. After --timeout
//       seconds the running and remaining checks are reported failed and it exits 1.
//       Exit 0 iff every check passed.
//
//   bzzz-p2p-probe bench MULTIADDR [--bytes N] [--handshakes-seconds S]
//       {"bench":"stream_throughput","impl":"cpp","bytes":..,"seconds":..,"mib_per_s":..}
//         one /bzzz/sink/1.0.0 stream (after a 4 MiB warm-up stream, as the js bench
//         does), N bytes (default 1 GiB) in 1 MiB writes, half-close, the sink's 8-byte
//         count; timed from the first byte to the count.
//       {"bench":"handshakes","impl":"cpp","count":..,"seconds":..,"per_s":..}
//         sequential connect (TCP, multistream, Noise XX, yamux) until the remote's
//         identify arrived, then disconnect and wait until the connection is gone;
//         for S seconds (default 5), after one untimed round.
//       --bench stream,handshakes selects (default both).
//
//   bzzz-p2p-probe conns MULTIADDR [--count 200]
//       Opens COUNT idle connections to MULTIADDR from COUNT hosts in this process
//       (each its own identity; 20 dials at a time, each until identify), prints
//       {"ready":COUNT} and waits for stdin to reach EOF, then closes them all.
//
// Logs (spdlog, level warn unless --verbose) go to stderr; stdout carries only JSON.
// Exit codes: 0 success, 1 a check/benchmark failed, 2 bad usage.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "p2p/host/diagnostics.h"
#include "p2p/host/host.h"
#include "support/io_threads.h"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;
using bzzz::Error;
using bzzz::ErrorCode;
using bzzz::Result;
using bzzz::Status;
using bzzz::p2p::Host;
using bzzz::p2p::HostOptions;
using bzzz::p2p::Multiaddr;
using bzzz::p2p::PeerEvent;
using bzzz::p2p::PeerId;
using bzzz::p2p::PrivateKey;
using bzzz::p2p::net::Stream;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

constexpr auto kIdentifyTimeout = 10s;
constexpr auto kCloseTimeout = 5s;
constexpr size_t kCycleEchoBytes = 4096;
constexpr uint32_t kCycleEchoSeed = 0xc7c1e;

void emit(const json& j) {
  std::string line = j.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
double round3(double x) { return static_cast<double>(static_cast<int64_t>(x * 1000.0 + (x < 0 ? -0.5 : 0.5))) / 1000.0; }
double ms(std::chrono::microseconds us) { return static_cast<double>(us.count()) / 1000.0; }

// peer.mjs's pseudoRandomBytes: xorshift32 words, little-endian, truncated to `length`.
std::vector<uint8_t> pseudo_random_bytes(size_t length, uint32_t seed) {
  std::vector<uint8_t> out((length + 3) / 4 * 4);
  uint32_t x = seed != 0 ? seed : 0x9e3779b9u;
  for (size_t i = 0; i < out.size(); i += 4) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<uint8_t>(x);
    out[i + 1] = static_cast<uint8_t>(x >> 8);
    out[i + 2] = static_cast<uint8_t>(x >> 16);
    out[i + 3] = static_cast<uint8_t>(x >> 24);
  }
  out.resize(length);
  return out;
}

// The io_context and its threads; the main thread waits on futures.
class Runtime : public bzzz::testing::IoThreads {
 public:
  using IoThreads::IoThreads;

  // Runs `coro` on a strand of its own; nullopt when `deadline` passes first (the
  // coroutine is then abandoned: the caller is expected to exit).
  template <class T>
  std::optional<T> run(asio::awaitable<T> coro, Clock::time_point deadline) {
    auto f = asio::co_spawn(asio::make_strand(io()), std::move(coro), asio::use_future);
    if (f.wait_until(deadline) != std::future_status::ready) return std::nullopt;
    return f.get();
  }
};

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// Polls `f` every 5 ms until true or `limit` passes; returns f()'s last value. (For
// conditions no host event announces; HostEvents::wait is prompt.)
template <class F>
asio::awaitable<bool> eventually(F f, std::chrono::milliseconds limit) {
  auto end = Clock::now() + limit;
  while (!f()) {
    if (Clock::now() >= end) co_return f();
    co_await sleep_for(5ms);
  }
  co_return true;
}

std::shared_ptr<Host> make_host(asio::io_context& io, bool listen) {
  HostOptions options;
  if (listen) options.listen = {*Multiaddr::parse("/ip4/127.0.0.1/tcp/0")};
  options.max_connections = 1024;
  options.agent_version = "bzzz-p2p-probe";
  auto host = Host::create(io, PrivateKey::generate(), std::move(options), nullptr);
  bzzz::p2p::add_diagnostic_protocols(*host);
  return host;
}

// A host's events: identify counts per peer (so a caller can wait for the identify of
// the connection it just made: the peer store's `identified` stays true across
// connections), and wait(), which re-checks its condition at every event (connected,
// identified, disconnected) instead of polling, so handshake timings are not rounded up
// to a poll interval.
// Shared with the host's subscription, which may fire until the host is gone.
class HostEvents {
 public:
  static std::shared_ptr<HostEvents> attach(Host& host) {
    auto self = std::make_shared<HostEvents>();
    host.subscribe([self](const PeerEvent& e) { self->on_event(e); });
    return self;
  }
  void on_event(const PeerEvent& e) {
    {
      std::vector<std::shared_ptr<asio::steady_timer>> wake;
      {
        std::lock_guard lock(mutex_);
        if (e.kind == PeerEvent::Kind::kIdentified) ++counts_[e.peer];
        wake = waiters_;
      }
      // A timer is only touched on its own (the waiting coroutine's) executor.
      for (auto& t : wake) asio::post(t->get_executor(), [t] { t->cancel(); });
    }
  }
  int identified(const PeerId& peer) const {
    std::lock_guard lock(mutex_);
    auto it = counts_.find(peer);
    return it == counts_.end() ? 0 : it->second;
  }

  // Until f() holds (true) or `limit` passes (f()'s last value). Call it from a
  // coroutine on a strand.
  template <class F>
  asio::awaitable<bool> wait(F f, std::chrono::milliseconds limit) {
    auto end = Clock::now() + limit;
    auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        waiters_.push_back(timer);
      }
      bool done = f();  // checked after registering: no event is missed in between
      if (!done && Clock::now() < end) {
        // 50 ms at most: a safety net for a condition that changes without an event.
        timer->expires_at(std::min(end, Clock::now() + std::chrono::milliseconds(50)));
        co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
      }
      {
        std::lock_guard lock(mutex_);
        waiters_.erase(std::find(waiters_.begin(), waiters_.end(), timer));
      }
      if (done) co_return true;
      if (Clock::now() >= end) co_return f();
    }
  }

 private:
  mutable std::mutex mutex_;
  std::map<PeerId, int> counts_;
  std::vector<std::shared_ptr<asio::steady_timer>> waiters_;
};

// A connect, then the identify of that connection. `Host::connect` hands back the
// connection it has, even one that is closing after a disconnect (see hang_up), so
// callers hang up before connecting again.
asio::awaitable<Result<PeerId>> connect_identified(Host& host, HostEvents& events, const Multiaddr& addr,
                                                    std::optional<PeerId> known) {
  int before = known ? events.identified(*known) : 0;
  auto conn = co_await host.connect(addr);
  if (!conn) co_return tl::unexpected(conn.error());
  PeerId peer = (*conn)->info().peer;
  if (!known) before = 0;
  bool identified = co_await events.wait([&] { return events.identified(peer) > before; }, kIdentifyTimeout);
  if (!identified) {
    co_return bzzz::make_error(ErrorCode::kTimeout,
                               fmt::format("no identify from {} within {} s", peer.to_string(), kIdentifyTimeout.count()));
  }
  co_return peer;
}

// Disconnects and waits until the host has no connection to `peer` left, as js's
// hangUp() does. Host::disconnect only starts the close (GoAway); until the remote has
// closed too, Host::connection() and Host::connect() still return the closing
// connection, on which new streams fail ("the connection is closed").
asio::awaitable<Status> hang_up(Host& host, HostEvents& events, const PeerId& peer,
                                std::chrono::milliseconds limit = kCloseTimeout) {
  host.disconnect(peer);
  bool gone = co_await events.wait([&] { return host.connection(peer) == nullptr; }, limit);
  if (!gone) {
    co_return bzzz::make_error(ErrorCode::kTimeout, fmt::format("the connection to {} was still open {} ms after disconnect",
                                                                peer.to_string(), limit.count()));
  }
  co_return bzzz::ok();
}

// --- echo ------------------------------------------------------------------------------

asio::awaitable<Status> echo_write(std::shared_ptr<Stream> s, const std::vector<uint8_t>& data) {
  constexpr size_t kPiece = 256 * 1024;
  for (size_t off = 0; off < data.size(); off += kPiece) {
    std::span<const uint8_t> piece(data.data() + off, std::min(kPiece, data.size() - off));
    auto st = co_await s->write(piece);
    if (!st) co_return bzzz::make_error(st.error().code(), fmt::format("write at {}: {}", off, st.error().message()));
  }
  s->close_write();
  co_return bzzz::ok();
}

asio::awaitable<Result<size_t>> echo_read(std::shared_ptr<Stream> s, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> buf(64 * 1024);
  size_t received = 0;
  for (;;) {
    std::span<uint8_t> in(buf);
    auto n = co_await s->read_some(in);
    if (!n) {
      co_return bzzz::make_error(n.error().code(), fmt::format("read after {} bytes: {}", received, n.error().message()));
    }
    if (*n == 0) break;
    if (received + *n > data.size()) {
      co_return bzzz::make_error(ErrorCode::kProtocol,
                                 fmt::format("received {} bytes, sent only {}", received + *n, data.size()));
    }
    if (std::memcmp(buf.data(), data.data() + received, *n) != 0) {
      size_t i = 0;
      while (buf[i] == data[received + i]) ++i;
      co_return bzzz::make_error(ErrorCode::kProtocol, fmt::format("echoed byte mismatch at offset {}", received + i));
    }
    received += *n;
  }
  if (received != data.size()) {
    co_return bzzz::make_error(ErrorCode::kProtocol, fmt::format("echo ended after {} of {} bytes", received, data.size()));
  }
  co_return received;
}

// One echo stream: write everything and half-close while reading back; compare.
// Best run on the connection's strand (spawned there).
asio::awaitable<Result<size_t>> echo_once(std::shared_ptr<Host> host, PeerId peer, std::shared_ptr<const std::vector<uint8_t>> data) {
  std::vector<std::string> protos{std::string(bzzz::p2p::kEchoProtocol)};
  auto s = co_await host->new_stream(peer, std::move(protos));
  if (!s) co_return bzzz::make_error(s.error().code(), fmt::format("open: {}", s.error().message()));
  auto stream = *s;
  auto [wst, rst] = co_await (echo_write(stream, *data) && echo_read(stream, *data));
  if (!wst) {
    stream->reset();
    co_return tl::unexpected(wst.error());
  }
  if (!rst) {
    stream->reset();
    co_return tl::unexpected(rst.error());
  }
  co_await stream->close();
  co_return *rst;
}

// --- dial checks -------------------------------------------------------------------------

struct DialOptions {
  std::vector<std::string> checks;
  int streams = 64;
  size_t size = 1 << 20;
  int cycles = 100;
  int timeout = 60;
};

bool has(const std::vector<std::string>& v, std::string_view x) { return std::find(v.begin(), v.end(), x) != v.end(); }

class Dialer {
 public:
  Dialer(Runtime& rt, Multiaddr target, DialOptions opts)
      : rt_(rt),
        target_(std::move(target)),
        opts_(std::move(opts)),
        host_(make_host(rt.io(), true)),
        events_(HostEvents::attach(*host_)) {}

  int run() {
    auto deadline = Clock::now() + std::chrono::seconds(opts_.timeout);
    if (auto st = host_->start(); !st) {
      std::fprintf(stderr, "bzzz-p2p-probe: %s\n", st.error().message().c_str());
      return 2;
    }
    std::vector<std::string> pending = opts_.checks;
    bool all_ok = true;
    auto report = [&](const std::string& check, json result) {
      if (auto it = std::find(pending.begin(), pending.end(), check); it != pending.end()) pending.erase(it);
      if (!result.value("ok", false)) all_ok = false;
      json line = {{"check", check}};
      line.update(result);
      emit(line);
    };
    auto timed_out = [&](const std::string& current) {
      std::string err = fmt::format("overall timeout after {} s", opts_.timeout);
      for (const auto& c : pending) {
        emit({{"check", c}, {"ok", false}, {"error", c == current ? err : "not run: " + err}});
      }
      std::fflush(stdout);
      std::_Exit(1);
    };

    auto first = rt_.run(connect_first(), deadline);
    if (!first) timed_out(pending.empty() ? "" : pending.front());
    if (!*first) {
      for (const auto& c : std::vector<std::string>(pending)) {
        report(c, {{"ok", false}, {"error", "dial failed: " + first->error().message()}});
      }
      return finish(false);
    }
    for (const auto& check : opts_.checks) {
      spdlog::info("running check {}", check);
      std::optional<json> result;
      if (check == "identify") result = rt_.run(check_identify(), deadline);
      else if (check == "ping") result = rt_.run(check_ping(), deadline);
      else if (check == "echo") result = rt_.run(check_echo(deadline), deadline);
      else if (check == "cycles") result = rt_.run(check_cycles(), deadline);
      if (!result) timed_out(check);
      report(check, std::move(*result));
    }
    return finish(all_ok);
  }

 private:
  int finish(bool ok) {
    host_->stop();
    auto end = Clock::now() + 3s;
    while (!host_->idle() && Clock::now() < end) std::this_thread::sleep_for(10ms);
    return ok ? 0 : 1;
  }

  // The first connection (the identify check waits for its identify).
  asio::awaitable<Result<bool>> connect_first() {
    auto p = co_await host_->connect(target_);
    if (!p) co_return tl::unexpected(p.error());
    peer_ = (*p)->info().peer;
    spdlog::info("connected to {} via {}", peer_->to_string(), (*p)->info().remote_addr.to_string());
    co_return true;
  }

  // The connection to the peer, dialed again if it went away.
  asio::awaitable<Status> ensure_connected() {
    if (host_->connection(*peer_)) co_return bzzz::ok();
    auto c = co_await host_->connect(target_);
    if (!c) co_return tl::unexpected(c.error());
    co_return bzzz::ok();
  }

  asio::awaitable<json> check_identify() {
    auto st = co_await ensure_connected();
    if (!st) co_return json{{"ok", false}, {"error", st.error().message()}};
    bool identified = co_await events_->wait(
        [&] {
          auto rec = host_->peer_store().get(*peer_);
          return rec && rec->identified;
        },
        kIdentifyTimeout);
    if (!identified) {
      co_return json{{"ok", false},
                     {"error", fmt::format("no identify from the remote within {} s", kIdentifyTimeout.count())}};
    }
    auto rec = *host_->peer_store().get(*peer_);
    json listen = json::array();
    for (const auto& a : rec.addrs) listen.push_back(a.to_string());
    json result = {{"ok", true},
                   {"peer", peer_->to_string()},
                   {"protocols", rec.protocols},
                   {"agent", rec.agent_version},
                   {"protocol_version", rec.protocol_version},
                   {"observed", rec.observed_addr ? json(rec.observed_addr->to_string()) : json(nullptr)},
                   {"listen", listen}};
    std::vector<std::string> required{"/ipfs/id/1.0.0"};
    if (has(opts_.checks, "ping")) required.emplace_back(bzzz::p2p::kPingProtocol);
    if (has(opts_.checks, "echo") || has(opts_.checks, "cycles")) required.emplace_back(bzzz::p2p::kEchoProtocol);
    std::string missing;
    for (const auto& p : required) {
      if (!has(rec.protocols, p)) missing += (missing.empty() ? "" : ", ") + p;
    }
    if (!missing.empty()) {
      result["ok"] = false;
      result["error"] = "remote does not advertise " + missing;
    }
    co_return result;
  }

  asio::awaitable<json> check_ping() {
    auto st = co_await ensure_connected();
    if (!st) co_return json{{"ok", false}, {"error", st.error().message()}};
    json samples = json::array();
    double total = 0;
    for (int i = 0; i < 3; ++i) {
      if (i > 0) co_await sleep_for(250ms);
      auto rtt = co_await host_->ping(*peer_);
      if (!rtt) co_return json{{"ok", false}, {"error", fmt::format("ping {}: {}", i + 1, rtt.error().message())}};
      samples.push_back(round3(ms(*rtt)));
      total += ms(*rtt);
    }
    co_return json{{"ok", true}, {"rtt_ms", round3(total / 3)}, {"samples", samples}, {"retries", 0}};
  }

  asio::awaitable<json> check_echo(Clock::time_point deadline) {
    auto st = co_await ensure_connected();
    if (!st) co_return json{{"ok", false}, {"error", st.error().message()}};
    auto conn = host_->connection(*peer_);
    if (!conn) co_return json{{"ok", false}, {"error", "not connected"}};
    std::vector<std::shared_ptr<const std::vector<uint8_t>>> inputs;
    for (int i = 0; i < opts_.streams; ++i) {
      inputs.push_back(std::make_shared<const std::vector<uint8_t>>(
          pseudo_random_bytes(opts_.size, static_cast<uint32_t>(i + 1))));
    }
    auto t0 = Clock::now();
    std::vector<std::future<Result<size_t>>> futures;
    for (int i = 0; i < opts_.streams; ++i) {
      futures.push_back(asio::co_spawn(conn->strand(), echo_once(host_, *peer_, inputs[static_cast<size_t>(i)]),
                                       asio::use_future));
    }
    // Poll (wait_for(0s) never blocks an io thread) until every stream is done.
    bool waited = true;
    for (auto& f : futures) {
      while (waited && f.wait_for(0s) != std::future_status::ready) {
        if (Clock::now() >= deadline) waited = false;
        else co_await sleep_for(2ms);
      }
    }
    if (!waited) co_return json{{"ok", false}, {"error", "timed out"}};
    double secs = seconds_since(t0);
    size_t bytes = 0;
    int failed = 0;
    std::string first_error;
    for (size_t i = 0; i < futures.size(); ++i) {
      auto r = futures[i].get();
      if (r) {
        bytes += *r;
      } else {
        if (failed++ == 0) first_error = fmt::format("stream {}: {}", i, r.error().message());
      }
    }
    if (failed > 0) {
      co_return json{{"ok", false},
                     {"error", fmt::format("{}/{} streams failed; first: {}", failed, opts_.streams, first_error)},
                     {"streams", opts_.streams},
                     {"bytes", bytes}};
    }
    co_return json{{"ok", true},
                   {"streams", opts_.streams},
                   {"bytes", bytes},
                   {"seconds", round3(secs)},
                   {"mib_per_s", round3(2.0 * static_cast<double>(bytes) / (1 << 20) / secs)}};
  }

  asio::awaitable<json> check_cycles() {
    auto payload = std::make_shared<const std::vector<uint8_t>>(pseudo_random_bytes(kCycleEchoBytes, kCycleEchoSeed));
    auto t0 = Clock::now();
    for (int i = 0; i < opts_.cycles; ++i) {
      std::string step = "disconnect";
      auto fail = [&](const Error& e) {
        return json{{"ok", false},
                    {"error", fmt::format("cycle {}/{}: {}: {}", i + 1, opts_.cycles, step, e.message())},
                    {"cycles", i}};
      };
      auto st = co_await hang_up(*host_, *events_, *peer_);
      if (!st) co_return fail(st.error());
      step = "connect";
      auto p = co_await connect_identified(*host_, *events_, target_, peer_);
      if (!p) co_return fail(p.error());
      step = "ping";
      auto rtt = co_await host_->ping(*peer_);
      if (!rtt) co_return fail(rtt.error());
      step = "echo";
      auto conn = host_->connection(*peer_);
      if (!conn) co_return fail(Error(ErrorCode::kUnavailable, "the connection went away"));
      auto e = co_await asio::co_spawn(conn->strand(), echo_once(host_, *peer_, payload), asio::use_awaitable);
      if (!e) co_return fail(e.error());
    }
    host_->disconnect(*peer_);
    double secs = seconds_since(t0);
    co_await events_->wait([&] { return host_->connection_count() == 0; }, 2000ms);
    size_t left = host_->connection_count();
    json result = {{"ok", left == 0},
                   {"cycles", opts_.cycles},
                   {"seconds", round3(secs)},
                   {"ms_per_cycle", round3(secs * 1000.0 / opts_.cycles)},
                   {"connections", left}};
    if (left != 0) result["error"] = "connections left open 2 s after the final disconnect";
    co_return result;
  }

  Runtime& rt_;
  Multiaddr target_;
  DialOptions opts_;
  std::shared_ptr<Host> host_;
  std::shared_ptr<HostEvents> events_;
  std::optional<PeerId> peer_;
};

// --- bench -----------------------------------------------------------------------------

asio::awaitable<Result<std::pair<uint64_t, double>>> sink_send(std::shared_ptr<Host> host, PeerId peer, uint64_t total,
                                                               std::shared_ptr<const std::vector<uint8_t>> buf) {
  std::vector<std::string> protos{std::string(bzzz::p2p::kSinkProtocol)};
  auto s = co_await host->new_stream(peer, std::move(protos));
  if (!s) co_return tl::unexpected(s.error());
  auto stream = *s;
  auto t0 = Clock::now();
  uint64_t sent = 0;
  while (sent < total) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf->size(), total - sent));
    std::span<const uint8_t> piece(buf->data(), n);
    auto st = co_await stream->write(piece);
    if (!st) {
      stream->reset();
      co_return bzzz::make_error(st.error().code(), fmt::format("sink write at {}: {}", sent, st.error().message()));
    }
    sent += n;
  }
  stream->close_write();
  std::array<uint8_t, 8> count{};
  std::span<uint8_t> count_span(count);
  auto st = co_await stream->read_exact(count_span);
  double secs = seconds_since(t0);
  if (!st) {
    stream->reset();
    co_return bzzz::make_error(st.error().code(), fmt::format("sink count: {}", st.error().message()));
  }
  co_await stream->close();
  uint64_t acked = 0;
  for (uint8_t b : count) acked = (acked << 8) | b;
  if (acked != sent) {
    co_return bzzz::make_error(ErrorCode::kProtocol, fmt::format("sink acknowledged {} of {} bytes", acked, sent));
  }
  co_return std::pair<uint64_t, double>{sent, secs};
}

int run_bench(Runtime& rt, const Multiaddr& target, uint64_t bytes, int hs_seconds, const std::vector<std::string>& which) {
  auto host = make_host(rt.io(), false);
  auto events = HostEvents::attach(*host);
  if (auto st = host->start(); !st) {
    std::fprintf(stderr, "bzzz-p2p-probe: %s\n", st.error().message().c_str());
    return 2;
  }
  bool ok = true;
  auto fail = [&](const char* name, const std::string& error) {
    ok = false;
    spdlog::error("{} failed: {}", name, error);
    emit({{"bench", name}, {"impl", "cpp"}, {"ok", false}, {"error", error}});
  };
  auto deadline = [] { return Clock::now() + 300s; };

  if (has(which, "stream")) {
    auto conn = rt.run(host->connect(target), deadline());
    if (!conn || !*conn) {
      fail("stream_throughput", conn ? (*conn).error().message() : "connect timed out");
    } else {
      auto c = **conn;
      PeerId peer = c->info().peer;
      auto buf = std::make_shared<const std::vector<uint8_t>>(pseudo_random_bytes(1 << 20, 0xb0b));
      auto run_on_conn = [&](uint64_t n) {
        return rt.run(asio::co_spawn(c->strand(), sink_send(host, peer, n, buf), asio::use_awaitable), deadline());
      };
      auto warm = run_on_conn(4 << 20);
      if (!warm || !*warm) {
        fail("stream_throughput", warm ? (*warm).error().message() : "warm-up timed out");
      } else {
        auto r = run_on_conn(bytes);
        if (!r || !*r) {
          fail("stream_throughput", r ? (*r).error().message() : "timed out");
        } else {
          auto [sent, secs] = **r;
          emit({{"bench", "stream_throughput"},
                {"impl", "cpp"},
                {"bytes", sent},
                {"seconds", round3(secs)},
                {"mib_per_s", round3(static_cast<double>(sent) / (1 << 20) / secs)}});
        }
      }
      rt.run(hang_up(*host, *events, peer), deadline());
    }
  }

  if (has(which, "handshakes")) {
    auto body = [&]() -> asio::awaitable<json> {
      auto warm = co_await connect_identified(*host, *events, target, target.peer_id());
      if (!warm) co_return json{{"error", warm.error().message()}};
      PeerId peer = *warm;
      if (auto st = co_await hang_up(*host, *events, peer); !st) co_return json{{"error", st.error().message()}};
      int count = 0;
      auto t0 = Clock::now();
      auto end = t0 + std::chrono::seconds(hs_seconds);
      while (Clock::now() < end) {
        auto p = co_await connect_identified(*host, *events, target, peer);
        if (!p) co_return json{{"error", fmt::format("handshake {}: {}", count + 1, p.error().message())}};
        if (auto st = co_await hang_up(*host, *events, peer); !st) {
          co_return json{{"error", fmt::format("handshake {}: {}", count + 1, st.error().message())}};
        }
        ++count;
      }
      double secs = seconds_since(t0);
      co_return json{{"bench", "handshakes"}, {"impl", "cpp"},           {"count", count},
                     {"seconds", round3(secs)}, {"per_s", round3(count / secs)}};
    };
    auto r = rt.run(body(), deadline());
    if (!r) fail("handshakes", "timed out");
    else if (r->contains("error")) fail("handshakes", (*r)["error"].get<std::string>());
    else emit(*r);
  }

  host->stop();
  auto end = Clock::now() + 3s;
  while (!host->idle() && Clock::now() < end) std::this_thread::sleep_for(10ms);
  return ok ? 0 : 1;
}

// --- conns -----------------------------------------------------------------------------

int run_conns(Runtime& rt, const Multiaddr& target, int count) {
  std::vector<std::shared_ptr<Host>> hosts;
  std::vector<std::shared_ptr<HostEvents>> events;
  for (int i = 0; i < count; ++i) {
    hosts.push_back(make_host(rt.io(), false));
    events.push_back(HostEvents::attach(*hosts.back()));
    if (auto st = hosts.back()->start(); !st) {
      std::fprintf(stderr, "bzzz-p2p-probe: %s\n", st.error().message().c_str());
      return 2;
    }
  }
  auto t0 = Clock::now();
  constexpr int kBatch = 20;
  for (int i = 0; i < count; i += kBatch) {
    std::vector<std::future<Result<PeerId>>> batch;
    for (int j = i; j < std::min(count, i + kBatch); ++j) {
      auto& h = hosts[static_cast<size_t>(j)];
      batch.push_back(asio::co_spawn(asio::make_strand(rt.io()),
                                     connect_identified(*h, *events[static_cast<size_t>(j)], target, target.peer_id()),
                                     asio::use_future));
    }
    for (size_t k = 0; k < batch.size(); ++k) {
      if (batch[k].wait_for(30s) != std::future_status::ready) {
        std::fprintf(stderr, "bzzz-p2p-probe: connection %d timed out\n", i + static_cast<int>(k) + 1);
        std::_Exit(1);
      }
      auto r = batch[k].get();
      if (!r) {
        std::fprintf(stderr, "bzzz-p2p-probe: connection %d: %s\n", i + static_cast<int>(k) + 1, r.error().message().c_str());
        emit({{"ready", 0}, {"error", r.error().message()}});
        std::_Exit(1);
      }
    }
  }
  spdlog::info("{} connections in {:.3f} s", count, seconds_since(t0));
  emit({{"ready", count}, {"seconds", round3(seconds_since(t0))}});
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  for (auto& h : hosts) h->stop();
  auto end = Clock::now() + 5s;
  for (auto& h : hosts) {
    while (!h->idle() && Clock::now() < end) std::this_thread::sleep_for(10ms);
  }
  return 0;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    std::string part = s.substr(start, end - start);
    if (!part.empty()) out.push_back(part);
    start = end + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bzzz-p2p-probe: drives a remote libp2p peer for the interop tests and benchmarks", "bzzz-p2p-probe"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log (to stderr) at info level");

  std::string addr_text;
  DialOptions dial;
  std::string checks = "identify,ping,echo,cycles";
  auto* dial_cmd = app.add_subcommand("dial", "Run the checks of `peer.mjs dial` against MULTIADDR");
  dial_cmd->add_option("multiaddr", addr_text, "the peer (with /p2p/<id>)")->required();
  dial_cmd->add_option("--checks", checks, "identify,ping,echo,cycles (run in this order)");
  dial_cmd->add_option("--streams", dial.streams, "echo: concurrent streams")->check(CLI::PositiveNumber);
  dial_cmd->add_option("--size", dial.size, "echo: bytes per stream")->check(CLI::PositiveNumber);
  dial_cmd->add_option("--cycles", dial.cycles, "cycles: disconnect/connect rounds")->check(CLI::PositiveNumber);
  dial_cmd->add_option("--timeout", dial.timeout, "overall seconds")->check(CLI::PositiveNumber);

  uint64_t bytes = 1ull << 30;
  int hs_seconds = 5;
  std::string benches = "stream,handshakes";
  auto* bench_cmd = app.add_subcommand("bench", "Stream throughput to the sink, and handshakes per second");
  bench_cmd->add_option("multiaddr", addr_text, "the peer (with /p2p/<id>)")->required();
  bench_cmd->add_option("--bytes", bytes, "stream_throughput payload")->check(CLI::PositiveNumber);
  bench_cmd->add_option("--handshakes-seconds", hs_seconds, "handshakes duration")->check(CLI::PositiveNumber);
  bench_cmd->add_option("--bench", benches, "stream,handshakes");

  int count = 200;
  auto* conns_cmd = app.add_subcommand("conns", "Hold COUNT idle connections until stdin ends");
  conns_cmd->add_option("multiaddr", addr_text, "the peer (with /p2p/<id>)")->required();
  conns_cmd->add_option("--count", count, "connections (one host each)")->check(CLI::PositiveNumber);

  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("probe");
  spdlog::set_default_logger(logger);
  spdlog::set_level(verbose ? spdlog::level::info : spdlog::level::warn);

  auto target = Multiaddr::parse(addr_text);
  if (!target) {
    std::fprintf(stderr, "bzzz-p2p-probe: bad multiaddr %s: %s\n", addr_text.c_str(), target.error().message().c_str());
    return 2;
  }
  int rc = 0;
  {
    Runtime rt(2);
    if (dial_cmd->parsed()) {
      dial.checks = split(checks);
      for (const auto& c : dial.checks) {
        if (c != "identify" && c != "ping" && c != "echo" && c != "cycles") {
          std::fprintf(stderr, "bzzz-p2p-probe: unknown check %s\n", c.c_str());
          return 2;
        }
      }
      Dialer d(rt, *target, dial);
      rc = d.run();
    } else if (bench_cmd->parsed()) {
      auto which = split(benches);
      for (const auto& b : which) {
        if (b != "stream" && b != "handshakes") {
          std::fprintf(stderr, "bzzz-p2p-probe: unknown bench %s\n", b.c_str());
          return 2;
        }
      }
      rc = run_bench(rt, *target, bytes, hs_seconds, which);
    } else {
      rc = run_conns(rt, *target, count);
    }
    std::fflush(stdout);
    // Hosts are stopped; leave without waiting for every last coroutine to unwind.
    std::_Exit(rc);
  }
}
