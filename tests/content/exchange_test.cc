// content/exchange: the wire format, and fetches between real hosts on loopback, each
// with a store of its own: from one provider, from two at once, past a provider that
// corrupts a piece, one that stalls, one that claims a blob it does not have; HAVE and
// STORE; and bad requests.
#include "content/exchange/exchange.h"

#include <filesystem>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include "base/crypto/blake3.h"
#include "content/content_fixture.h"
#include "p2p/host_fixture.h"
#include "support/metric.h"
#include "support/temp_dir.h"
#include "p2p/net/byte_stream.h"
#include "p2p/net/connection.h"

namespace bzzz::exchange {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using p2p::testing::addr_of;
using p2p::testing::Loop;
using p2p::testing::make_host;

using bzzz::testing::metric;
using bzzz::testing::random_bytes;


struct Node {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<p2p::Host> host;
  std::unique_ptr<store::Store> store;
  std::shared_ptr<Exchange> exchange;
};

class ExchangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::err);
    root_ = std::filesystem::temp_directory_path() / fmt::format("bzzz-exchange-{}-{}", ::getpid(), counter_++);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override {
    // Hosts go while their loop still runs (a host must not outlive its io_context);
    // the loop's coroutines may hold them a little longer. Stores go after the loop.
    for (auto& n : nodes_) {
      n->exchange->stop();
      n->host->stop();
      n->exchange.reset();
      n->host.reset();
    }
    for (auto& h : extra_hosts_) h->stop();
    extra_hosts_.clear();
    loop_.reset();
    nodes_.clear();
    std::filesystem::remove_all(root_);
  }

  Node& node(ExchangeOptions options = fast(), store::StoreOptions so = bzzz::testing::raw_store_options()) {
    auto n = std::make_unique<Node>();
    n->host = make_host(loop_->io(), {}, n->registry.get());
    n->store = bzzz::testing::open_store(root_ / fmt::format("n{}", nodes_.size()), so);
    n->exchange = Exchange::create(*n->host, *n->store, workers_, options, n->registry.get());
    n->exchange->start();
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }
  static ExchangeOptions fast() {
    ExchangeOptions o;
    o.request_timeout = 3s;
    o.stall_timeout = 500ms;
    o.min_range_pieces = 2;
    return o;
  }
  void connect(Node& a, const std::shared_ptr<p2p::Host>& b) {
    auto c = loop_->run(a.host->connect(addr_of(*b)));
    ASSERT_TRUE(c) << c.error().message();
  }
  Result<FetchResult> fetch(Node& n, const Hash& h, std::vector<p2p::PeerId> from, FetchOptions o = {}) {
    return loop_->run(n.exchange->fetch(h, std::move(from), o));
  }

  static inline int counter_ = 0;
  std::filesystem::path root_;
  asio::thread_pool workers_{4};
  std::unique_ptr<Loop> loop_ = std::make_unique<Loop>();
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::shared_ptr<p2p::Host>> extra_hosts_;
};

// A host speaking /bzzz/blob/1.0.0 by hand for one blob: `corrupt_piece` gets a flipped
// byte; `stall_piece` is never sent (the stream just goes quiet); `deny` answers every
// GET NOT_FOUND.
struct Liar {
  std::vector<uint8_t> data;
  Hash hash;
  int corrupt_piece = -1;
  int stall_piece = -1;
  bool deny = false;
  std::atomic<uint64_t> pieces_sent{0};

  static asio::awaitable<void> serve(std::shared_ptr<Liar> self, std::shared_ptr<p2p::net::Stream> s) {
    auto frame = co_await p2p::net::read_length_prefixed(*s, kMaxRequestBytes);
    if (!frame || !*frame) co_return;
    auto req = decode_request(**frame);
    if (!req || !std::holds_alternative<GetRequest>(*req)) co_return s->reset();
    auto get = std::get<GetRequest>(*req);
    Response r;
    if (self->deny) {
      r.code = Code::kNotFound;
      auto out = p2p::net::length_prefixed(encode_response(r));
      (void)co_await s->write(out);
      co_return co_await s->close();
    }
    PieceTree tree = piece_tree(self->data);
    r.size = self->data.size();
    r.offset = get.offset;
    r.length = std::min<uint64_t>(get.length, r.size - get.offset);
    if (get.want_tree) {
      r.tail.assign(self->data.begin() + static_cast<ptrdiff_t>(tree.tail_offset()), self->data.end());
      r.tree = std::move(tree);
    }
    auto out = p2p::net::length_prefixed(encode_response(r));
    if (!co_await s->write(out)) co_return;
    for (uint64_t at = r.offset; at < r.offset + r.length; at += kPieceBytes) {
      const auto index = static_cast<int>(at / kPieceBytes);
      if (index == self->stall_piece) {
        asio::steady_timer t(co_await asio::this_coro::executor, 5s);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        co_return s->reset();
      }
      std::vector<uint8_t> piece(self->data.begin() + static_cast<ptrdiff_t>(at),
                                 self->data.begin() + static_cast<ptrdiff_t>(at + kPieceBytes));
      if (index == self->corrupt_piece) piece[12345] ^= 0x40;
      if (!co_await s->write(piece)) co_return;
      ++self->pieces_sent;
    }
    co_await s->close();
  }
};

std::shared_ptr<p2p::Host> liar_host(Loop& loop, std::shared_ptr<Liar> liar) {
  auto host = make_host(loop.io());
  host->handle(std::string(kProtocol), [liar](std::shared_ptr<p2p::net::Stream> s) -> asio::awaitable<void> {
    co_await Liar::serve(liar, std::move(s));
  });
  return host;
}

// --- wire ----------------------------------------------------------------------------

TEST(ExchangeWire, RequestsRoundTrip) {
  Hash h = blake3(random_bytes(100, 1));
  auto have = decode_request(encode_request(Request(HaveRequest{{h, h}})));
  ASSERT_TRUE(have);
  EXPECT_EQ(std::get<HaveRequest>(*have).hashes.size(), 2u);
  auto get = decode_request(encode_request(Request(GetRequest{h, 7, 9, true})));
  ASSERT_TRUE(get);
  EXPECT_EQ(std::get<GetRequest>(*get).hash, h);
  EXPECT_EQ(std::get<GetRequest>(*get).offset, 7u);
  EXPECT_EQ(std::get<GetRequest>(*get).length, 9u);
  EXPECT_TRUE(std::get<GetRequest>(*get).want_tree);
  auto store = decode_request(encode_request(Request(StoreRequest{{h}, {100}, true, true})));
  ASSERT_TRUE(store);
  EXPECT_TRUE(std::get<StoreRequest>(*store).pin);
}

TEST(ExchangeWire, BadRequestsNameTheProblem) {
  std::vector<uint8_t> junk{0xff, 0xff, 0xff};
  EXPECT_FALSE(decode_request(junk));
  // A 31-byte hash: built by hand with the protobuf layout (field 3, bytes).
  std::vector<uint8_t> short_hash{0x08, 0x01, 0x1a, 31};
  short_hash.resize(short_hash.size() + 31, 0xaa);
  auto r = decode_request(short_hash);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("31 bytes"), std::string::npos) << r.error().message();
  HaveRequest many;
  many.hashes.resize(kMaxHashesPerRequest + 1);
  auto too_many = decode_request(encode_request(Request(many)));
  ASSERT_FALSE(too_many);
  EXPECT_NE(too_many.error().message().find("1025 hashes"), std::string::npos);
  StoreRequest unpaired{{Hash()}, {}, false, false};
  EXPECT_FALSE(decode_request(encode_request(Request(unpaired))));
}

TEST(ExchangeWire, ResponsesAreCheckedAgainstTheRequest) {
  auto data = random_bytes(3 * kPieceBytes + 10, 2);
  PieceTree tree = piece_tree(data);
  Response r;
  r.size = data.size();
  r.tree = tree;
  r.tail.assign(data.end() - 10, data.end());
  Request asked(GetRequest{blake3(data), 0, 0, true});
  auto ok = decode_response(encode_response(r), asked);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(root_with_tail(*ok->tree, ok->tail), blake3(data));
  r.tail.pop_back();  // a tail that does not fit the size
  EXPECT_FALSE(decode_response(encode_response(r), asked));
  r.tail.push_back(0);
  r.tree->cvs.pop_back();  // too few chaining values
  EXPECT_FALSE(decode_response(encode_response(r), asked));
  Response range;
  range.size = 100;
  range.offset = 90;
  range.length = 20;  // past the end
  EXPECT_FALSE(decode_response(encode_response(range), Request(GetRequest{Hash(), 90, 20, false})));
  Response have;
  have.have = {1};
  EXPECT_FALSE(decode_response(encode_response(have), Request(HaveRequest{{Hash(), Hash()}})));
  EXPECT_EQ(full_pieces(0), 0u);
  EXPECT_EQ(full_pieces(kPieceBytes), 0u);
  EXPECT_EQ(full_pieces(kPieceBytes + 1), 1u);
  EXPECT_EQ(full_pieces(2 * kPieceBytes), 1u);
}

// --- fetches -----------------------------------------------------------------------

TEST_F(ExchangeTest, FetchesSmallAndLargeBlobsFromOneProvider) {
  Node& a = node();
  Node& b = node();
  connect(b, a.host);
  for (size_t size : {size_t{0}, size_t{100}, size_t{20000}, kPieceBytes, 3 * kPieceBytes + 777}) {
    auto data = random_bytes(size, static_cast<uint32_t>(size));
    auto put = a.store->put(data);
    ASSERT_TRUE(put);
    auto got = fetch(b, put->hash, {a.host->id()});
    ASSERT_TRUE(got) << size << ": " << got.error().message();
    EXPECT_EQ(got->put.hash, put->hash);
    auto back = b.store->read(put->hash);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, data) << size;
  }
  EXPECT_EQ(metric(*b.registry, "bzzz_exchange_fetches_total", {{"result", "ok"}}), 5);
  EXPECT_GT(metric(*a.registry, "bzzz_exchange_bytes_total", {{"direction", "sent"}}), 3 * kPieceBytes);
}

TEST_F(ExchangeTest, FetchesOfOneBlobAtOnceShareOneTransfer) {
  Node& a = node();
  Node& b = node();
  connect(b, a.host);
  auto data = random_bytes(8 * kPieceBytes + 1, 4);
  auto put = a.store->put(data);
  ASSERT_TRUE(put);
  auto one = asio::co_spawn(loop_->io(), b.exchange->fetch(put->hash, {a.host->id()}, {}), asio::use_future);
  auto two = asio::co_spawn(loop_->io(), b.exchange->fetch(put->hash, {a.host->id()}, FetchOptions{true}),
                            asio::use_future);
  ASSERT_EQ(one.wait_for(20s), std::future_status::ready);
  ASSERT_EQ(two.wait_for(20s), std::future_status::ready);
  auto r1 = one.get();
  auto r2 = two.get();
  ASSERT_TRUE(r1) << r1.error().message();
  ASSERT_TRUE(r2) << r2.error().message();
  // One transfer: the blob's bytes crossed once; the second caller's pin was applied.
  EXPECT_EQ(metric(*b.registry, "bzzz_exchange_fetches_total", {{"result", "ok"}}), 1);
  EXPECT_LT(metric(*a.registry, "bzzz_exchange_bytes_total", {{"direction", "sent"}}), 2.0 * data.size());
  EXPECT_EQ(b.store->stat(put->hash)->pins, 1u);
  EXPECT_EQ(*b.store->read(put->hash), data);
}

TEST_F(ExchangeTest, ABusyProviderIsAskedAgainAfterAPause) {
  auto one_at_a_time = fast();
  one_at_a_time.max_inbound_transfers = 1;
  Node& a = node(one_at_a_time);
  Node& b = node();
  Node& c = node();
  connect(b, a.host);
  connect(c, a.host);
  auto x = random_bytes(48 * kPieceBytes, 11);
  auto y = random_bytes(2 * kPieceBytes + 9, 12);
  auto px = a.store->put(x);
  auto py = a.store->put(y);
  ASSERT_TRUE(px && py);
  auto first = asio::co_spawn(loop_->io(), b.exchange->fetch(px->hash, {a.host->id()}, {}), asio::use_future);
  // Once A serves B's transfer, C's request finds it busy, and is asked again later.
  ASSERT_TRUE(p2p::testing::eventually([&] { return metric(*a.registry, "bzzz_exchange_serving") >= 1; }));
  auto second = fetch(c, py->hash, {a.host->id()});
  ASSERT_EQ(first.wait_for(20s), std::future_status::ready);
  auto r1 = first.get();
  ASSERT_TRUE(r1) << r1.error().message();
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(*c.store->read(py->hash), y);
  EXPECT_GE(metric(*a.registry, "bzzz_exchange_refused_total", {{"reason", "busy"}}), 1);
}

TEST_F(ExchangeTest, FetchesFromTwoProvidersAtOnce) {
  Node& a = node();
  Node& c = node();
  Node& b = node();
  connect(b, a.host);
  connect(b, c.host);
  auto data = random_bytes(24 * kPieceBytes + 5, 3);
  auto pa = a.store->put(data);
  auto pc = c.store->put(data);
  ASSERT_TRUE(pa && pc);
  auto got = fetch(b, pa->hash, {a.host->id(), c.host->id()});
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->served_by.size(), 2u);
  EXPECT_GT(metric(*a.registry, "bzzz_exchange_bytes_total", {{"direction", "sent"}}), 0);
  EXPECT_GT(metric(*c.registry, "bzzz_exchange_bytes_total", {{"direction", "sent"}}), 0);
  EXPECT_EQ(*b.store->read(pa->hash), data);
}

TEST_F(ExchangeTest, ACorruptPieceCutsThePeerOffAtThatPiece) {
  Node& a = node();
  Node& b = node();
  auto liar = std::make_shared<Liar>();
  liar->data = random_bytes(16 * kPieceBytes + 100, 4);
  liar->hash = blake3(liar->data);
  liar->corrupt_piece = 2;
  auto bad = liar_host(*loop_, liar);
  extra_hosts_.push_back(bad);
  ASSERT_TRUE(a.store->put(liar->data));
  connect(b, a.host);
  connect(b, bad);
  auto got = fetch(b, liar->hash, {bad->id(), a.host->id()});
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*b.store->read(liar->hash), liar->data);
  EXPECT_EQ(metric(*b.registry, "bzzz_exchange_verification_failures_total"), 1);
  EXPECT_EQ(metric(*b.registry, "bzzz_exchange_peer_failures_total", {{"reason", "bad_piece"}}), 1);
  EXPECT_TRUE(b.exchange->avoided(bad->id()));
  // Caught at piece 2: nothing after it was taken from the liar but the one piece read
  // ahead while piece 2 was checked, so at most two pieces were received beyond the
  // blob (the bad one and that one), not the rest of its range.
  EXPECT_GE(got->bytes, liar->data.size() + kPieceBytes);
  EXPECT_LE(got->bytes, liar->data.size() + 2 * kPieceBytes);
  ASSERT_EQ(got->dropped.size(), 1u);
  EXPECT_NE(got->dropped[0].find("piece 2 "), std::string::npos) << got->dropped[0];
  // Avoided next time: a fetch from it alone finds no provider.
  auto from_b = fetch(b, blake3(random_bytes(10, 9)), {bad->id()});
  ASSERT_FALSE(from_b);
  EXPECT_EQ(from_b.error().code(), ErrorCode::kNotFound);
}

TEST_F(ExchangeTest, AStallingPeerTimesOutAndTheFetchMovesOn) {
  Node& a = node();
  Node& b = node();
  auto liar = std::make_shared<Liar>();
  liar->data = random_bytes(8 * kPieceBytes + 1, 5);
  liar->hash = blake3(liar->data);
  liar->stall_piece = 1;
  auto slow = liar_host(*loop_, liar);
  extra_hosts_.push_back(slow);
  ASSERT_TRUE(a.store->put(liar->data));
  connect(b, a.host);
  connect(b, slow);
  auto got = fetch(b, liar->hash, {slow->id(), a.host->id()});
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*b.store->read(liar->hash), liar->data);
  EXPECT_EQ(metric(*b.registry, "bzzz_exchange_peer_failures_total", {{"reason", "stalled"}}), 1);
  EXPECT_FALSE(b.exchange->avoided(slow->id()));  // slow is not a lie
}

TEST_F(ExchangeTest, APeerClaimingABlobItDoesNotHaveIsSkipped) {
  Node& a = node();
  Node& empty = node();
  Node& b = node();
  auto data = random_bytes(3 * kPieceBytes, 6);
  auto put = a.store->put(data);
  ASSERT_TRUE(put);
  connect(b, a.host);
  connect(b, empty.host);
  auto got = fetch(b, put->hash, {empty.host->id(), a.host->id()});
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(metric(*b.registry, "bzzz_exchange_peer_failures_total", {{"reason", "not_found"}}), 1);
  auto none = fetch(b, blake3(random_bytes(5, 7)), {empty.host->id()});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(none.error().message().find("not_found"), std::string::npos) << none.error().message();
}

TEST_F(ExchangeTest, HaveAndStore) {
  Node& a = node();
  Node& b = node();
  connect(b, a.host);
  auto data = random_bytes(2 * kPieceBytes + 3, 8);
  auto put = a.store->put(data);
  ASSERT_TRUE(put);
  Hash unknown = blake3(random_bytes(3, 1));
  auto have = loop_->run(b.exchange->have(a.host->id(), {put->hash, unknown}));
  ASSERT_TRUE(have) << have.error().message();
  ASSERT_EQ(have->size(), 2u);
  EXPECT_EQ((*have)[0], data.size());
  EXPECT_FALSE((*have)[1]);
  // A asks B to hold it: B fetches it from A, pins it, and answers once it is durable.
  auto stored = loop_->run(a.exchange->ask_store(b.host->id(), {put->hash}, {data.size()}, true, true));
  ASSERT_TRUE(stored) << stored.error().message();
  EXPECT_EQ(*stored, std::vector<bool>{true});
  auto meta = b.store->stat(put->hash);
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->pins, 1u);
  // HAVE in detail: B holds it pinned (a replica), A only unpinned; B says it is full.
  b.exchange->set_full_probe([] { return true; });
  auto detail = loop_->run(a.exchange->have_detail(b.host->id(), {put->hash, unknown}));
  ASSERT_TRUE(detail) << detail.error().message();
  EXPECT_EQ(detail->pinned, (std::vector<bool>{true, false}));
  EXPECT_TRUE(detail->full);
  auto of_a = loop_->run(b.exchange->have_detail(a.host->id(), {put->hash}));
  ASSERT_TRUE(of_a);
  EXPECT_EQ(of_a->pinned, std::vector<bool>{false});
  EXPECT_FALSE(of_a->full);
  // A second fetch of what is held is no transfer; asked to pin, it pins.
  auto again = loop_->run(b.exchange->fetch(put->hash, {a.host->id()}, FetchOptions{true}));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->put.deduplicated);
  EXPECT_EQ(again->bytes, 0u);
  // A full node refuses.
  b.exchange->set_store_policy([](const Hash&, uint64_t) { return false; });
  auto other = a.store->put(random_bytes(100, 9));
  auto refused = loop_->run(a.exchange->ask_store(b.host->id(), {other->hash}, {100}, true, true));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kNoSpace);
}

TEST_F(ExchangeTest, ServesCompressedBlobs) {
  store::StoreOptions z;
  z.codec = store::Codec::kZstd;
  z.threads = 1;
  Node& a = node(fast(), z);
  Node& b = node();
  connect(b, a.host);
  std::vector<uint8_t> text;
  while (text.size() < 3 * kPieceBytes) {
    std::string line = fmt::format("line {} of a very compressible text\n", text.size());
    text.insert(text.end(), line.begin(), line.end());
  }
  auto put = a.store->put(text);
  ASSERT_TRUE(put);
  ASSERT_NE(put->meta.codec, store::Codec::kRaw);
  auto got = fetch(b, put->hash, {a.host->id()});
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*b.store->read(put->hash), text);
}

TEST_F(ExchangeTest, StreamsCompressedBlobsTooLargeForMemory) {
  store::StoreOptions z;
  z.codec = store::Codec::kZstd;
  z.threads = 1;
  auto small_memory = fast();
  small_memory.max_serve_in_memory = kPieceBytes;  // a 9 MiB blob is then streamed
  Node& a = node(small_memory, z);
  Node& c = node(small_memory, z);
  Node& b = node();
  connect(b, a.host);
  connect(b, c.host);
  std::vector<uint8_t> text;
  while (text.size() < 9 * kPieceBytes + 4321) {
    std::string line = fmt::format("line {} of a very compressible text\n", text.size());
    text.insert(text.end(), line.begin(), line.end());
  }
  auto pa = a.store->put(text);
  auto pc = c.store->put(text);
  ASSERT_TRUE(pa && pc);
  ASSERT_NE(pa->meta.codec, store::Codec::kRaw);
  // From both at once, by ranges: each served from the store's reader, its tree kept.
  auto got = fetch(b, pa->hash, {a.host->id(), c.host->id()});
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*b.store->read(pa->hash), text);
  EXPECT_EQ(got->served_by.size(), 2u);
  EXPECT_EQ(metric(*a.registry, "bzzz_exchange_refused_total"), 0);
}

TEST_F(ExchangeTest, BadRequestsGetClearAnswersAndTheNodeKeepsServing) {
  Node& a = node();
  auto client = make_host(loop_->io());
  extra_hosts_.push_back(client);
  auto data = random_bytes(kPieceBytes + 5, 10);
  auto put = a.store->put(data);
  ASSERT_TRUE(put);
  auto ask = [&](std::vector<uint8_t> frame) -> Result<Response> {
    return loop_->run([](std::shared_ptr<p2p::Host> c, p2p::PeerId to,
                         std::vector<uint8_t> f) -> asio::awaitable<Result<Response>> {
      std::vector<std::string> protocols{std::string(kProtocol)};
      auto s = co_await c->new_stream(to, std::move(protocols));
      if (!s) co_return tl::unexpected(s.error());
      auto out = p2p::net::length_prefixed(f);
      if (auto st = co_await (*s)->write(out); !st) co_return tl::unexpected(st.error());
      auto in = co_await p2p::net::read_length_prefixed(**s, kMaxResponseBytes);
      (*s)->reset();
      if (!in || !*in) co_return make_error(ErrorCode::kProtocol, "no answer");
      co_return decode_response(**in, Request(HaveRequest{}));
    }(client, a.host->id(), std::move(frame)));
  };
  connect(a, client);
  auto past_end = ask(encode_request(Request(GetRequest{put->hash, data.size() + 1, 10, false})));
  ASSERT_TRUE(past_end) << past_end.error().message();
  EXPECT_EQ(past_end->code, Code::kBadRequest);
  EXPECT_NE(past_end->message.find("past the end"), std::string::npos) << past_end->message;
  auto junk = ask({0x08, 0x01, 0x1a, 0x03, 1, 2, 3});  // a GET of a 3-byte hash
  ASSERT_TRUE(junk);
  EXPECT_EQ(junk->code, Code::kBadRequest);
  EXPECT_NE(junk->message.find("3 bytes"), std::string::npos) << junk->message;
  EXPECT_EQ(metric(*a.registry, "bzzz_exchange_refused_total", {{"reason", "bad_request"}}), 2);
  // Still serving.
  Node& b = node();
  connect(b, a.host);
  EXPECT_TRUE(fetch(b, put->hash, {a.host->id()}));
}

}  // namespace
}  // namespace bzzz::exchange
