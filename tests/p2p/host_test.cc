// Two and more hosts in one process on loopback: connect, identify, ping, streams,
// dedup, limits, disconnect events. Real sockets, real Noise and yamux.
#include <future>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "p2p/host/host.h"

namespace bzzz::p2p {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr std::string_view kEcho = "/test/echo/1.0.0";

asio::awaitable<void> echo(std::shared_ptr<net::Stream> s) {
  std::vector<uint8_t> buf(64 * 1024);
  for (;;) {
    std::span<uint8_t> span(buf);
    auto n = co_await s->read_some(span);
    if (!n || *n == 0) break;
    std::span<const uint8_t> out(buf.data(), *n);
    auto st = co_await s->write(out);
    if (!st) co_return;
  }
  s->close_write();
}

class Loop {
 public:
  Loop() : guard_(asio::make_work_guard(io_)) {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~Loop() {
    guard_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
  }
  asio::io_context& io() { return io_; }
  template <class T>
  T run(asio::awaitable<T> coro) {
    auto f = asio::co_spawn(io_, std::move(coro), asio::use_future);
    if (f.wait_for(20s) != std::future_status::ready) {
      ADD_FAILURE() << "timed out";
      std::abort();
    }
    return f.get();
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

std::shared_ptr<Host> make_host(asio::io_context& io, HostOptions options = {}) {
  if (options.listen.empty()) options.listen = {*Multiaddr::parse("/ip4/127.0.0.1/tcp/0")};
  if (options.connection.keepalive_interval == 30s) options.connection.keepalive_interval = 0ms;
  auto host = Host::create(io, PrivateKey::generate(), std::move(options), nullptr);
  host->handle(std::string(kEcho), echo);
  EXPECT_TRUE(host->start());
  return host;
}

Multiaddr addr_of(const Host& h) { return h.listen_addrs().at(0).with_peer_id(h.id()); }

template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

TEST(Host, ConnectIdentifyPing) {
  Loop loop;
  auto a = make_host(loop.io());
  auto b = make_host(loop.io());
  auto conn = loop.run(a->connect(addr_of(*b)));
  ASSERT_TRUE(conn) << conn.error().message();
  EXPECT_EQ((*conn)->info().peer, b->id());
  ASSERT_TRUE(eventually([&] {
    auto rec = a->peer_store().get(b->id());
    return rec && rec->identified;
  }));
  auto rec = a->peer_store().get(b->id());
  EXPECT_NE(std::find(rec->protocols.begin(), rec->protocols.end(), std::string(kEcho)), rec->protocols.end());
  EXPECT_NE(std::find(rec->protocols.begin(), rec->protocols.end(), "/ipfs/ping/1.0.0"), rec->protocols.end());
  EXPECT_TRUE(eventually([&] { return b->connection_count() == 1; }));
  for (int i = 0; i < 3; ++i) {
    auto rtt = loop.run(a->ping(b->id()));
    ASSERT_TRUE(rtt) << rtt.error().message();
    auto back = loop.run(b->ping(a->id()));
    ASSERT_TRUE(back) << back.error().message();
  }
  a->stop();
  b->stop();
  EXPECT_TRUE(eventually([&] { return a->idle() && b->idle(); }));
}

TEST(Host, PingRightAfterConnect) {
  Loop loop;
  HostOptions keepalive;
  keepalive.connection.keepalive_interval = 10s;
  auto a = make_host(loop.io(), keepalive);
  auto b = make_host(loop.io(), keepalive);
  auto conn = loop.run(a->connect(addr_of(*b)));
  ASSERT_TRUE(conn) << conn.error().message();
  auto rtt = loop.run(a->ping(b->id()));
  ASSERT_TRUE(rtt) << rtt.error().message();
}

// Many pings in a row from a coroutine off the connections' strands, as the API does.
TEST(Host, ManyPingsFromAnotherExecutor) {
  Loop loop;
  auto a = make_host(loop.io());
  auto b = make_host(loop.io());
  auto conn = loop.run(a->connect(addr_of(*b)));
  ASSERT_TRUE(conn) << conn.error().message();
  auto strand = asio::make_strand(loop.io());
  auto pings = [&]() -> asio::awaitable<int> {
    int ok = 0;
    for (int i = 0; i < 200; ++i) {
      auto rtt = co_await a->ping(b->id());
      if (!rtt) {
        ADD_FAILURE() << rtt.error().message();
        co_return ok;
      }
      ++ok;
    }
    co_return ok;
  };
  auto f = asio::co_spawn(strand, pings(), asio::use_future);
  ASSERT_EQ(f.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(f.get(), 200);
}

}  // namespace
}  // namespace bzzz::p2p
