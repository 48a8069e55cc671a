// Two and more hosts in one process on loopback: connect, identify, ping, streams,
// dedup, limits, disconnect events. Real sockets, real Noise and yamux.
#include <future>
#include <set>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "p2p/host/host.h"
#include "p2p/host_fixture.h"

namespace bzzz::p2p {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

using testing::addr_of;
using testing::eventually;
using testing::Loop;
using testing::make_host;
constexpr std::string_view kEcho = kEchoProtocol;

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

TEST(Host, ResetWakesOurOwnBlockedReader) {
  // Nothing arrives on the stream (the echo handler waits for bytes): only the reset can
  // end the read, and it must without any frame from the remote (no keep-alive here).
  Loop loop;
  auto a = make_host(loop.io());
  auto b = make_host(loop.io());
  ASSERT_TRUE(loop.run(a->connect(addr_of(*b))));
  auto s = loop.run(a->new_stream(b->id(), {std::string(kEcho)}));
  ASSERT_TRUE(s) << s.error().message();
  auto stream = *s;
  auto read = boost::asio::co_spawn(
      loop.io(),
      [stream]() -> boost::asio::awaitable<Result<size_t>> {
        std::array<uint8_t, 16> buf{};
        std::span<uint8_t> view(buf);
        co_return co_await stream->read_some(view);
      },
      boost::asio::use_future);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(read.wait_for(0ms), std::future_status::timeout);
  stream->reset();
  ASSERT_EQ(read.wait_for(5s), std::future_status::ready) << "the blocked read did not end";
  EXPECT_FALSE(read.get());
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

// A connect right after a disconnect dials anew instead of handing back the closing
// connection.
TEST(Host, ReconnectRightAfterDisconnect) {
  Loop loop;
  auto a = make_host(loop.io());
  auto b = make_host(loop.io());
  for (int i = 0; i < 5; ++i) {
    auto conn = loop.run(a->connect(addr_of(*b)));
    ASSERT_TRUE(conn) << conn.error().message();
    auto rtt = loop.run(a->ping(b->id()));
    ASSERT_TRUE(rtt) << rtt.error().message();
    EXPECT_TRUE(a->disconnect(b->id()));
  }
}

// Concurrent dials to one peer share one connection; dials both ways at once end with
// one connection on each side (the one the lower peer id dialed); events are emitted.
TEST(Host, DialDedupAndEvents) {
  Loop loop;
  auto a = make_host(loop.io());
  auto b = make_host(loop.io());
  std::atomic<int> connected{0}, identified{0}, disconnected{0};
  a->subscribe([&](const PeerEvent& e) {
    if (e.kind == PeerEvent::Kind::kConnected) ++connected;
    if (e.kind == PeerEvent::Kind::kIdentified) ++identified;
    if (e.kind == PeerEvent::Kind::kDisconnected) ++disconnected;
  });
  // (connect takes its address by reference: it must outlive the coroutine.)
  const Multiaddr to_b = addr_of(*b);
  const Multiaddr to_a = addr_of(*a);
  std::vector<std::future<Result<std::shared_ptr<net::Connection>>>> dials;
  for (int i = 0; i < 8; ++i) dials.push_back(asio::co_spawn(loop.io(), a->connect(to_b), asio::use_future));
  std::set<net::Connection*> distinct;
  for (auto& f : dials) {
    auto c = f.get();
    ASSERT_TRUE(c) << c.error().message();
    distinct.insert(c->get());
  }
  EXPECT_EQ(distinct.size(), 1u);
  EXPECT_EQ(a->connection_count(), 1u);
  EXPECT_TRUE(eventually([&] { return identified.load() == 1; }));
  EXPECT_TRUE(a->disconnect(b->id()));
  EXPECT_TRUE(eventually([&] { return a->idle() && b->idle(); }));
  EXPECT_EQ(disconnected.load(), 1);

  for (int round = 0; round < 5; ++round) {
    auto f1 = asio::co_spawn(loop.io(), a->connect(to_b), asio::use_future);
    auto f2 = asio::co_spawn(loop.io(), b->connect(to_a), asio::use_future);
    ASSERT_TRUE(f1.get());
    ASSERT_TRUE(f2.get());
    EXPECT_TRUE(eventually([&] { return a->connection_count() == 1 && b->connection_count() == 1; }))
        << a->connection_count() << " " << b->connection_count();
    auto rtt = loop.run(a->ping(b->id()));
    ASSERT_TRUE(rtt) << rtt.error().message();
    a->disconnect(b->id());
    EXPECT_TRUE(eventually([&] { return a->idle() && b->idle(); }));
  }
  EXPECT_EQ(connected.load(), disconnected.load());
}

// IPv6 listen and dial, where the machine has ::1.
TEST(Host, Ipv6) {
  boost::asio::io_context probe;
  boost::asio::ip::tcp::acceptor test(probe);
  boost::system::error_code ec;
  test.open(boost::asio::ip::tcp::v6(), ec);
  if (!ec) test.bind({boost::asio::ip::make_address("::1"), 0}, ec);
  if (ec) GTEST_SKIP() << "no IPv6 loopback here: " << ec.message();
  Loop loop;
  HostOptions options;
  options.listen = {*Multiaddr::parse("/ip6/::1/tcp/0")};
  auto a = make_host(loop.io());
  auto b = make_host(loop.io(), options);
  ASSERT_EQ(b->listen_addrs().at(0).to_string().rfind("/ip6/::1/tcp/", 0), 0u);
  auto conn = loop.run(a->connect(addr_of(*b)));
  ASSERT_TRUE(conn) << conn.error().message();
  EXPECT_EQ((*conn)->info().remote_addr.to_string().rfind("/ip6/::1/tcp/", 0), 0u);
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
