// The mDNS service over real sockets, in one process: two hosts on loopback find each
// other through a multicast group and connect; a lone service answers its own query but
// does not "find" itself; a one-shot (unicast) query gets a unicast answer; start()
// names why a socket cannot be set up. A private port
// and group keep these tests away from real responders and from each other; they skip
// when this machine has no up, multicast-capable interface.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <random>

#include <gtest/gtest.h>
#include <fmt/format.h>
#include <prometheus/registry.h>

#include "p2p/host_fixture.h"
#include "p2p/mdns/mdns.h"

namespace bzzz::p2p::mdns {
namespace {

using namespace std::chrono_literals;
using p2p::testing::eventually;
using p2p::testing::Loop;
using p2p::testing::make_host;

Options test_options() {
  std::random_device rd;
  Options o;
  o.port = static_cast<uint16_t>(40000 + rd() % 20000);
  o.group = fmt::format("239.255.{}.{}", rd() % 250 + 1, rd() % 250 + 1);
  o.interval = 300ms;
  o.dial_backoff_initial = 200ms;
  return o;
}

double counter(prometheus::Registry& reg, const std::string& name, const std::string& label_value = "") {
  double total = 0;
  for (const auto& family : reg.Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) {
      bool match = label_value.empty();
      for (const auto& l : m.label) match |= l.value == label_value;
      if (match) total += m.counter.value;
    }
  }
  return total;
}

// Starts `s`, or says why the test cannot run here.
std::string start_or_reason(Service& s) {
  auto st = s.start();
  if (!st) return st.error().message();
  if (!eventually([&] { return s.interface_count() > 0; }, 2s)) return "no up, multicast-capable IPv4 interface";
  return "";
}

TEST(MdnsService, TwoHostsFindEachOtherAndConnect) {
  prometheus::Registry reg_a, reg_b;  // outlive the loop's threads
  Loop loop;
  auto a = make_host(loop.io());
  auto b = make_host(loop.io());
  auto options = test_options();
  auto ma = Service::create(a, options, &reg_a);
  auto mb = Service::create(b, options, &reg_b);
  std::mutex mu;
  std::vector<FoundPeer> found_by_a;
  ma->on_found([&](const FoundPeer& p) {
    std::lock_guard lock(mu);
    found_by_a.push_back(p);
  });
  if (auto why = start_or_reason(*ma); !why.empty()) GTEST_SKIP() << why;
  ASSERT_TRUE(mb->start());
  EXPECT_NE(ma->peer_name(), mb->peer_name());

  ASSERT_TRUE(eventually([&] { return a->connection(b->id()) && b->connection(a->id()); }, 15s))
      << "the two hosts did not connect through mDNS";
  {
    std::lock_guard lock(mu);
    ASSERT_FALSE(found_by_a.empty());
    for (const auto& p : found_by_a) EXPECT_EQ(p.id, b->id());  // never itself
    EXPECT_EQ(found_by_a[0].addrs.at(0), b->listen_addrs().at(0));
  }
  auto stored = a->peer_store().addrs(b->id());
  EXPECT_NE(std::find(stored.begin(), stored.end(), b->listen_addrs().at(0)), stored.end());

  EXPECT_GT(counter(reg_a, "bzzz_mdns_queries_total", "out"), 0);
  EXPECT_GT(counter(reg_a, "bzzz_mdns_queries_total", "in"), 0);
  EXPECT_GT(counter(reg_a, "bzzz_mdns_responses_total", "out"), 0);
  EXPECT_GT(counter(reg_a, "bzzz_mdns_responses_total", "in"), 0);
  // b may have been dialed by a before it heard a's response: it hears one soon after.
  EXPECT_TRUE(eventually([&] { return counter(reg_b, "bzzz_mdns_peers_discovered_total") == 1; }, 10s));
  EXPECT_EQ(counter(reg_a, "bzzz_mdns_peers_discovered_total"), 1);

  ma->stop();
  mb->stop();
  a->stop();
  b->stop();
}

TEST(MdnsService, AnswersItsOwnQueryButDoesNotFindItself) {
  prometheus::Registry reg;  // outlives the loop's threads
  Loop loop;
  auto a = make_host(loop.io());
  auto m = Service::create(a, test_options(), &reg);
  std::atomic<int> found{0};
  m->on_found([&](const FoundPeer&) { ++found; });
  if (auto why = start_or_reason(*m); !why.empty()) GTEST_SKIP() << why;
  ASSERT_TRUE(eventually([&] { return counter(reg, "bzzz_mdns_responses_total", "out") >= 2; }, 10s));
  EXPECT_GE(counter(reg, "bzzz_mdns_queries_total", "in"), 1);
  EXPECT_EQ(counter(reg, "bzzz_mdns_responses_total", "in"), 0);  // its own are not counted
  EXPECT_EQ(found.load(), 0);
  EXPECT_EQ(a->connection_count(), 0u);
  m->stop();
  a->stop();
}

TEST(MdnsService, AnswersAOneShotQueryToItsSender) {
  Loop loop;
  auto a = make_host(loop.io());
  auto options = test_options();
  auto m = Service::create(a, options, nullptr);
  ASSERT_TRUE(m->start());
  // A resolver's query (dig -p PORT @127.0.0.1): from an ephemeral port, with an id.
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  dns::Message q;
  q.id = 0xBEEF;
  q.questions.push_back({std::string(kServiceName), dns::Type::kPtr, dns::kClassIn, false});
  auto bytes = dns::encode(q);
  ASSERT_TRUE(bytes);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(options.port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::sendto(fd, bytes->data(), bytes->size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(bytes->size()));
  std::vector<uint8_t> buf(9000);
  ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
  ::close(fd);
  ASSERT_GT(n, 0) << "no answer";
  buf.resize(static_cast<size_t>(n));
  auto answer = dns::parse(buf);
  ASSERT_TRUE(answer) << answer.error().message();
  EXPECT_EQ(answer->id, 0xBEEF);
  ASSERT_EQ(answer->questions.size(), 1u);
  auto content = peers_in_response(*answer, "someone-else");
  ASSERT_EQ(content.peers.size(), 1u);
  EXPECT_EQ(content.peers[0].id, a->id());
  EXPECT_EQ(content.peers[0].addrs, a->listen_addrs());
  m->stop();
  a->stop();
}

TEST(MdnsService, StartNamesWhyItCannot) {
  Loop loop;
  auto a = make_host(loop.io());
  auto options = test_options();
  options.group = "10.1.2.3";
  auto bad_group = Service::create(a, options, nullptr)->start();
  ASSERT_FALSE(bad_group);
  EXPECT_NE(bad_group.error().message().find("\"10.1.2.3\" is not an IPv4 multicast group"), std::string::npos)
      << bad_group.error().message();

  // A socket that does not share the port holds it.
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  socklen_t len = sizeof sin;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len), 0);
  options = test_options();
  options.port = ntohs(sin.sin_port);
  auto held = Service::create(a, options, nullptr)->start();
  ::close(fd);
  ASSERT_FALSE(held);
  EXPECT_NE(held.error().message().find(fmt::format("cannot set up UDP 0.0.0.0:{} (bind)", options.port)),
            std::string::npos)
      << held.error().message();

  options.interval = 0ms;
  auto zero = Service::create(a, options, nullptr)->start();
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error().message().find("interval"), std::string::npos);
  a->stop();
}

}  // namespace
}  // namespace bzzz::p2p::mdns
