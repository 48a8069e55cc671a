// Two and more hosts in one process on loopback: connect, identify, ping, streams,
// dedup, limits, disconnect events. Real sockets, real Noise and yamux.
#include <future>
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
