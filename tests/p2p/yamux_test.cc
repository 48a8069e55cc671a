// The yamux session: frame headers, two sessions back to back, and hand-made frames.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "p2p/yamux/session.h"

namespace bzzz::p2p::yamux {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string hex(std::span<const uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

std::vector<uint8_t> header_bytes(const Header& h) {
  std::vector<uint8_t> out;
  append_header(out, h);
  return out;
}

// A raw frame: header (length as given) and payload.
std::vector<uint8_t> frame(Type type, uint16_t flags, uint32_t id, uint32_t length,
                           std::span<const uint8_t> payload = {}) {
  std::vector<uint8_t> out = header_bytes(Header{0, type, flags, id, length});
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<uint8_t> data_frame(uint16_t flags, uint32_t id, std::span<const uint8_t> payload) {
  return frame(Type::kData, flags, id, static_cast<uint32_t>(payload.size()), payload);
}

std::vector<uint8_t> concat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct Frame {
  Header header;
  std::vector<uint8_t> payload;
};

// Splits a session's output into frames (Data payloads attached).
std::vector<Frame> parse(std::span<const uint8_t> bytes) {
  std::vector<Frame> out;
  while (!bytes.empty()) {
    EXPECT_GE(bytes.size(), kHeaderSize);
    if (bytes.size() < kHeaderSize) break;
    auto h = decode_header(bytes.first(kHeaderSize));
    EXPECT_TRUE(h) << h.error().message();
    if (!h) break;
    bytes = bytes.subspan(kHeaderSize);
    Frame f{*h, {}};
    if (h->type == Type::kData) {
      EXPECT_GE(bytes.size(), h->length);
      f.payload.assign(bytes.begin(), bytes.begin() + h->length);
      bytes = bytes.subspan(h->length);
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<uint8_t> drain(Session& s) {
  std::vector<uint8_t> out;
  s.drain_output(out);
  return out;
}

std::vector<Frame> drain_frames(Session& s) { return parse(drain(s)); }

std::vector<uint32_t> events(Session& s) {
  std::vector<uint32_t> ids;
  s.take_events(ids);
  return ids;
}

// Pseudo-random bytes (splitmix64, eight at a time).
std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> out(n);
  uint64_t x = seed;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t z = (x += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    z ^= z >> 31;
    std::memcpy(out.data() + i, &z, std::min<size_t>(8, n - i));
  }
  return out;
}

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

// Reads everything buffered on a stream.
std::vector<uint8_t> read_all(Session& s, uint32_t id) {
  std::vector<uint8_t> out(s.state(id).readable);
  EXPECT_EQ(s.read(id, out), out.size());
  return out;
}

// Client and server back to back: pump() carries each side's output to the other in
// random pieces (1 byte up to max_chunk) until both are quiet.
// The spec's defaults (a 256 KiB window), which these tests are written against; the
// session's own default window is larger.
Options spec() {
  Options o;
  o.receive_window = kInitialWindow;
  return o;
}

struct Pair {
  explicit Pair(Options client_options = spec(), Options server_options = spec(), uint32_t seed = 1)
      : client(true, client_options), server(false, server_options), rng(seed) {}

  void feed(Session& to, std::span<const uint8_t> bytes) {
    while (!bytes.empty()) {
      size_t n = (rng() & 1) ? 1 + rng() % 16 : 1 + rng() % max_chunk;
      n = std::min(n, bytes.size());
      auto s = to.receive(bytes.first(n));
      ASSERT_TRUE(s) << s.error().message();
      bytes = bytes.subspan(n);
    }
  }

  void pump() {
    while (client.has_output() || server.has_output()) {
      up.clear();
      client.drain_output(up);
      feed(server, up);
      down.clear();
      server.drain_output(down);
      feed(client, down);
    }
  }

  // Opens a stream on the client and accepts it on the server.
  uint32_t connect() {
    auto id = client.open();
    EXPECT_TRUE(id) << id.error().message();
    pump();
    auto accepted = server.accept();
    EXPECT_TRUE(accepted);
    EXPECT_EQ(accepted.value_or(0), *id);
    pump();
    return *id;
  }

  Session client;
  Session server;
  std::mt19937 rng;
  size_t max_chunk = 70000;
  std::vector<uint8_t> up, down;  // one per direction: drain_output() swaps buffers
};

// --- headers ----------------------------------------------------------------------

TEST(YamuxHeaderTest, EncodesBigEndian) {
  // version | type | flags (u16) | stream id (u32) | length (u32)
  EXPECT_EQ(hex(header_bytes({0, Type::kData, kSyn, 1, 5})), "000000010000000100000005");
  EXPECT_EQ(hex(header_bytes({0, Type::kWindowUpdate, kAck, 2, 0x40000})),
            "000100020000000200040000");
  EXPECT_EQ(hex(header_bytes({0, Type::kPing, kSyn, 0, 0x01020304})), "000200010000000001020304");
  EXPECT_EQ(hex(header_bytes({0, Type::kPing, kAck, 0, 0xdeadbeef})), "0002000200000000deadbeef");
  EXPECT_EQ(hex(header_bytes({0, Type::kGoAway, 0, 0, 1})), "000300000000000000000001");
  EXPECT_EQ(hex(header_bytes({0, Type::kGoAway, 0, 0, 2})), "000300000000000000000002");
  EXPECT_EQ(hex(header_bytes({0, Type::kData, kFin, 0x12345678, 0})), "000000041234567800000000");
  EXPECT_EQ(hex(header_bytes({0, Type::kWindowUpdate, kRst, 3, 0})), "000100080000000300000000");
  EXPECT_EQ(hex(header_bytes({0, Type::kData, kFin | kRst, 0xfffffffe, 0x00010000})),
            "0000000cfffffffe00010000");
  EXPECT_EQ(hex(header_bytes({0, Type::kWindowUpdate, 0xabcd, 0x01000000, 0xffffffff})),
            "0001abcd01000000ffffffff");
  std::vector<uint8_t> out = {0x42};
  append_header(out, {0, Type::kData, 0, 1, 1});
  EXPECT_EQ(out.size(), 1 + kHeaderSize);  // appends
  EXPECT_EQ(out[0], 0x42);
}

TEST(YamuxHeaderTest, DecodesWhatItEncodes) {
  for (Type type : {Type::kData, Type::kWindowUpdate, Type::kPing, Type::kGoAway}) {
    for (uint16_t flags : {0, 1, 2, 4, 8, 3, 5, 12, 0xffff}) {
      Header h{0, type, flags, 0x01020304u * flags + 7, 0xa0b0c0d0u - flags};
      auto bytes = header_bytes(h);
      ASSERT_EQ(bytes.size(), kHeaderSize);
      auto back = decode_header(bytes);
      ASSERT_TRUE(back) << back.error().message();
      EXPECT_EQ(*back, h);
    }
  }
  const uint8_t raw[] = {0, 1, 0, 5, 0, 0, 1, 0, 0x80, 0, 0, 1};
  auto h = decode_header(raw);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->type, Type::kWindowUpdate);
  EXPECT_EQ(h->flags, kSyn | kFin);
  EXPECT_EQ(h->stream_id, 256u);
  EXPECT_EQ(h->length, 0x80000001u);
}

TEST(YamuxHeaderTest, RejectsBadVersionUnknownTypeAndWrongSize) {
  const uint8_t bad_version[] = {1, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0};
  auto v = decode_header(bad_version);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code(), ErrorCode::kProtocol);
  EXPECT_THAT(v.error().message(), HasSubstr("version 1"));

  const uint8_t bad_type[] = {0, 4, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0};
  auto t = decode_header(bad_type);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code(), ErrorCode::kProtocol);
  EXPECT_THAT(t.error().message(), HasSubstr("type 4"));
  const uint8_t bad_type2[] = {0, 0xff, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0};
  EXPECT_THAT(decode_header(bad_type2).error().message(), HasSubstr("type 255"));

  const uint8_t short_header[] = {0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0};
  EXPECT_FALSE(decode_header(short_header));
}

// --- two sessions ---------------------------------------------------------------------

TEST(YamuxSessionTest, OpenAcceptAndDataBothWays) {
  Pair p;
  EXPECT_TRUE(p.client.is_client());
  EXPECT_FALSE(p.server.is_client());
  auto a = p.client.open();
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, 1u);
  EXPECT_TRUE(p.client.state(*a).exists);
  EXPECT_FALSE(p.client.state(*a).acked);
  EXPECT_EQ(p.client.state(*a).send_window, kInitialWindow);

  // The SYN is a WindowUpdate with delta 0.
  auto syn = drain(p.client);
  EXPECT_EQ(hex(syn), "000100010000000100000000");
  p.feed(p.server, syn);
  EXPECT_EQ(p.server.pending_accept(), 1u);
  EXPECT_THAT(events(p.server), ElementsAre(0u));
  EXPECT_FALSE(p.server.has_output());  // no ACK before accept()
  auto acc = p.server.accept();
  ASSERT_TRUE(acc);
  EXPECT_EQ(*acc, 1u);
  EXPECT_FALSE(p.server.accept());
  EXPECT_EQ(hex(drain(p.server)), "000100020000000100000000");  // WindowUpdate+ACK
  // feed the ACK by hand, since we drained it
  p.feed(p.client, frame(Type::kWindowUpdate, kAck, 1, 0));
  EXPECT_TRUE(p.client.state(1).acked);
  EXPECT_THAT(events(p.client), ElementsAre(1u));

  auto hello = bytes_of("hello, server");
  EXPECT_EQ(p.client.write(1, hello), hello.size());
  auto back = bytes_of("hello, client!");
  EXPECT_EQ(p.server.write(1, back), back.size());
  p.pump();
  EXPECT_EQ(p.server.state(1).readable, hello.size());
  EXPECT_EQ(read_all(p.server, 1), hello);
  EXPECT_EQ(read_all(p.client, 1), back);
  EXPECT_EQ(p.client.state(1).send_window, kInitialWindow - hello.size());
  EXPECT_EQ(p.server.state(1).send_window, kInitialWindow - back.size());

  // The server opens one too: even ids.
  auto b = p.server.open();
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, 2u);
  EXPECT_EQ(*p.server.open(), 4u);
  EXPECT_EQ(*p.client.open(), 3u);
  p.pump();
  EXPECT_EQ(p.client.pending_accept(), 2u);
  EXPECT_EQ(p.client.accept(), 2u);
  EXPECT_EQ(p.client.accept(), 4u);
  EXPECT_EQ(p.server.accept(), 3u);
  p.pump();
  EXPECT_TRUE(p.server.state(2).acked);
  EXPECT_TRUE(p.server.state(4).acked);
  EXPECT_EQ(p.client.stream_count(), 4u);
  EXPECT_EQ(p.server.stream_count(), 4u);
  EXPECT_FALSE(p.client.failed());
  EXPECT_FALSE(p.server.failed());
}

TEST(YamuxSessionTest, DataFlowsBeforeTheAck) {
  Pair p;
  auto id = *p.client.open();
  auto msg = pattern(100000, 3);
  EXPECT_EQ(p.client.write(id, msg), msg.size());
  p.client.close_write(id);
  p.pump();
  EXPECT_FALSE(p.client.state(id).acked);
  EXPECT_EQ(p.server.pending_accept(), 1u);
  EXPECT_TRUE(events(p.server) == std::vector<uint32_t>{0});  // backlog ids are not named
  ASSERT_EQ(p.server.accept(), id);
  EXPECT_EQ(p.server.state(id).readable, msg.size());
  EXPECT_TRUE(p.server.state(id).remote_closed);
  EXPECT_EQ(read_all(p.server, id), msg);
  p.pump();
  EXPECT_TRUE(p.client.state(id).acked);
}

TEST(YamuxSessionTest, DataBeforeAckMarksTheStreamAcked) {
  Session client(true, spec());
  auto id = *client.open();
  drain(client);
  ASSERT_TRUE(client.receive(data_frame(0, id, bytes_of("x"))));
  EXPECT_TRUE(client.state(id).acked);
  EXPECT_EQ(client.state(id).readable, 1u);
}

TEST(YamuxSessionTest, SendWindowClosesUntilTheReaderReads) {
  Pair p;
  auto id = p.connect();
  events(p.server);
  auto big = pattern(1 << 20, 5);
  EXPECT_EQ(p.client.write(id, big), kInitialWindow);  // only what fits
  EXPECT_EQ(p.client.state(id).send_window, 0u);
  EXPECT_EQ(p.client.write(id, big), 0u);
  // Frames of at most max_data_frame (64 KiB).
  auto out = drain(p.client);
  auto frames = parse(out);
  ASSERT_EQ(frames.size(), 4u);
  for (const auto& f : frames) {
    EXPECT_EQ(f.header.type, Type::kData);
    EXPECT_EQ(f.header.length, 64u * 1024);
  }
  p.feed(p.server, out);
  EXPECT_THAT(events(p.server), ElementsAre(id));
  EXPECT_EQ(p.server.state(id).readable, kInitialWindow);

  std::vector<uint8_t> got(kInitialWindow / 2 - 1);
  EXPECT_EQ(p.server.read(id, got), got.size());
  EXPECT_FALSE(p.server.has_output());  // under half consumed: no WindowUpdate yet
  std::vector<uint8_t> one(1);
  EXPECT_EQ(p.server.read(id, one), 1u);
  auto wu = drain_frames(p.server);
  ASSERT_EQ(wu.size(), 1u);
  EXPECT_EQ(wu[0].header.type, Type::kWindowUpdate);
  EXPECT_EQ(wu[0].header.flags, 0);
  EXPECT_EQ(wu[0].header.stream_id, id);
  EXPECT_EQ(wu[0].header.length, kInitialWindow / 2);
  events(p.client);
  p.feed(p.client, header_bytes(wu[0].header));
  EXPECT_THAT(events(p.client), ElementsAre(id));  // window to write
  EXPECT_EQ(p.client.state(id).send_window, kInitialWindow / 2);

  // Stream the whole thing through with a reader that takes odd-sized bites.
  std::vector<uint8_t> received(got.begin(), got.end());
  received.push_back(one[0]);
  size_t sent = kInitialWindow;
  std::vector<uint8_t> buf(7777);
  for (int round = 0; received.size() < big.size(); ++round) {
    ASSERT_LT(round, 10000);
    sent += p.client.write(id, std::span(big).subspan(sent));
    p.pump();
    size_t n = p.server.read(id, buf);
    ASSERT_GT(n, 0u);  // a window update always arrives before the reader runs dry
    received.insert(received.end(), buf.begin(), buf.begin() + n);
    p.pump();
  }
  EXPECT_EQ(received, big);
  EXPECT_EQ(p.server.state(id).readable, 0u);
}

TEST(YamuxSessionTest, HalfCloseBothSidesAndEof) {
  Pair p;
  auto id = p.connect();
  EXPECT_EQ(p.client.write(id, bytes_of("request")), 7u);
  p.client.close_write(id);
  EXPECT_TRUE(p.client.state(id).local_closed);
  EXPECT_EQ(p.client.state(id).send_window, 0u);
  EXPECT_EQ(p.client.write(id, bytes_of("more")), 0u);  // after FIN: nothing taken
  p.pump();
  auto st = p.server.state(id);
  EXPECT_TRUE(st.remote_closed);
  EXPECT_FALSE(st.local_closed);
  EXPECT_EQ(st.readable, 7u);
  EXPECT_EQ(read_all(p.server, id), bytes_of("request"));
  EXPECT_EQ(p.server.state(id).readable, 0u);  // EOF: remote_closed and nothing readable
  std::vector<uint8_t> buf(10);
  EXPECT_EQ(p.server.read(id, buf), 0u);

  // The other direction still works.
  EXPECT_EQ(p.server.write(id, bytes_of("response")), 8u);
  p.server.close_write(id);
  p.pump();
  EXPECT_EQ(read_all(p.client, id), bytes_of("response"));
  EXPECT_TRUE(p.client.state(id).remote_closed);
  EXPECT_TRUE(p.client.state(id).local_closed);
  EXPECT_FALSE(p.client.state(id).reset);

  // Closed both ways: release sends nothing.
  p.client.release(id);
  p.server.release(id);
  EXPECT_FALSE(p.client.has_output());
  EXPECT_FALSE(p.server.has_output());
  EXPECT_FALSE(p.client.state(id).exists);
  EXPECT_EQ(p.client.stream_count(), 0u);
  EXPECT_EQ(p.server.stream_count(), 0u);
}

TEST(YamuxSessionTest, CloseWriteIsIdempotentAndGoesOutOnce) {
  Pair p;
  auto id = p.connect();
  p.client.close_write(id);
  p.client.close_write(id);
  auto frames = drain_frames(p.client);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].header.flags, kFin);
  EXPECT_EQ(frames[0].header.stream_id, id);
}

TEST(YamuxSessionTest, ResetKillsTheStreamBothWays) {
  Pair p;
  auto id = p.connect();
  EXPECT_EQ(p.server.write(id, bytes_of("unread")), 6u);
  EXPECT_EQ(p.client.write(id, bytes_of("unread too")), 10u);
  p.pump();
  events(p.client);
  events(p.server);
  p.client.reset(id);
  EXPECT_THAT(events(p.client), ElementsAre(id));  // other waiters wake
  auto cs = p.client.state(id);
  EXPECT_TRUE(cs.exists);
  EXPECT_TRUE(cs.reset);
  EXPECT_EQ(cs.readable, 0u);
  EXPECT_EQ(p.client.write(id, bytes_of("x")), 0u);
  p.client.reset(id);  // once
  auto frames = parse(drain(p.client));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].header.flags, kRst);
  p.feed(p.server, header_bytes(frames[0].header));
  EXPECT_THAT(events(p.server), ElementsAre(id));
  auto ss = p.server.state(id);
  EXPECT_TRUE(ss.reset);
  EXPECT_EQ(ss.readable, 0u);
  EXPECT_EQ(ss.send_window, 0u);
  EXPECT_EQ(p.server.write(id, bytes_of("x")), 0u);
  std::vector<uint8_t> buf(16);
  EXPECT_EQ(p.server.read(id, buf), 0u);
  // Data still in flight towards the reset side is dropped quietly.
  ASSERT_TRUE(p.client.receive(data_frame(0, id, bytes_of("late"))));
  EXPECT_EQ(p.client.state(id).readable, 0u);
  p.server.release(id);
  p.client.release(id);
  EXPECT_FALSE(p.server.has_output());  // reset already: no second RST
  EXPECT_FALSE(p.client.has_output());
}

TEST(YamuxSessionTest, ReleaseWithoutCloseSendsRst) {
  Pair p;
  auto id = p.connect();
  EXPECT_EQ(p.client.write(id, bytes_of("abc")), 3u);
  p.client.release(id);
  EXPECT_FALSE(p.client.state(id).exists);
  EXPECT_EQ(p.client.write(id, bytes_of("abc")), 0u);
  EXPECT_THAT(events(p.client), ElementsAre(id));
  p.pump();
  EXPECT_TRUE(p.server.state(id).reset);
  // Frames for the released stream are ignored.
  EXPECT_EQ(p.server.write(id, bytes_of("abc")), 0u);
  ASSERT_TRUE(p.client.receive(data_frame(0, id, bytes_of("ignored"))));
  ASSERT_TRUE(p.client.receive(frame(Type::kWindowUpdate, 0, id, 1000)));
  EXPECT_FALSE(p.client.state(id).exists);
  EXPECT_FALSE(p.client.has_output());
}

TEST(YamuxSessionTest, ReleaseAfterOnlyOneFinSendsRst) {
  Pair p;
  auto a = p.connect();
  auto b = p.connect();
  p.client.close_write(a);  // we closed, they did not
  p.pump();
  p.client.release(a);
  auto fa = drain_frames(p.client);
  ASSERT_EQ(fa.size(), 1u);
  EXPECT_EQ(fa[0].header.flags, kRst);
  EXPECT_EQ(fa[0].header.stream_id, a);

  p.server.close_write(b);  // they closed, we did not
  p.pump();
  EXPECT_TRUE(p.client.state(b).remote_closed);
  p.client.release(b);
  auto fb = drain_frames(p.client);
  ASSERT_EQ(fb.size(), 1u);
  EXPECT_EQ(fb[0].header.flags, kRst);
  EXPECT_EQ(fb[0].header.stream_id, b);
}

TEST(YamuxSessionTest, RemoteResetThenReleaseSendsNothing) {
  Pair p;
  auto id = p.connect();
  p.server.reset(id);
  p.pump();
  EXPECT_TRUE(p.client.state(id).reset);
  p.client.release(id);
  EXPECT_FALSE(p.client.has_output());
}

TEST(YamuxSessionTest, FullAckBacklogRefusesWithRst) {
  Options server_options = spec();
  server_options.max_ack_backlog = 2;
  Pair p({}, server_options);
  auto a = *p.client.open();
  auto b = *p.client.open();
  auto c = *p.client.open();
  p.pump();
  EXPECT_EQ(p.server.pending_accept(), 2u);
  EXPECT_EQ(p.server.stream_count(), 2u);
  EXPECT_FALSE(p.client.state(a).reset);
  EXPECT_FALSE(p.client.state(b).reset);
  EXPECT_TRUE(p.client.state(c).reset);
  EXPECT_THAT(events(p.client), ElementsAre(c));
  // Data the client sent on the refused stream before the RST arrived is skipped.
  ASSERT_TRUE(p.server.receive(data_frame(0, c, bytes_of("lost"))));
  EXPECT_FALSE(p.server.state(c).exists);
  // Accepting one makes room.
  EXPECT_EQ(p.server.accept(), a);
  auto d = *p.client.open();
  p.pump();
  EXPECT_FALSE(p.client.state(d).reset);
  EXPECT_EQ(p.server.accept(), b);
  EXPECT_EQ(p.server.accept(), d);
  p.pump();
  EXPECT_TRUE(p.client.state(d).acked);
}

TEST(YamuxSessionTest, MaxStreamsLimitsBothDirections) {
  Options small = spec();
  small.max_streams = 2;
  Pair p(small, small);
  auto a = p.connect();
  auto b = p.connect();
  auto c = p.client.open();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), ErrorCode::kBusy);
  EXPECT_THAT(c.error().message(), HasSubstr("max_streams 2"));

  // The server holds the same two streams: it cannot open one either.
  EXPECT_EQ(p.server.open().error().code(), ErrorCode::kBusy);

  // Released streams make room.
  p.client.release(a);
  p.server.release(a);
  p.pump();
  auto s = p.server.open();  // the server holds b and s
  ASSERT_TRUE(s);
  p.pump();
  EXPECT_EQ(p.client.pending_accept(), 1u);
  EXPECT_EQ(p.client.stream_count(), 2u);  // b and s, not accepted yet: both count
  p.server.release(*s);                    // its RST drops s from the client's backlog
  p.pump();
  EXPECT_EQ(p.client.stream_count(), 1u);
  EXPECT_EQ(p.client.pending_accept(), 0u);
  auto t = p.server.open();
  auto u = p.server.open();
  ASSERT_TRUE(t && !u);  // the server holds b and t
  p.pump();
  EXPECT_EQ(p.client.accept(), *t);
  EXPECT_EQ(p.client.stream_count(), 2u);
  // The client is full (b and t): a third SYN towards it (made by hand) gets RST.
  ASSERT_TRUE(p.client.receive(frame(Type::kWindowUpdate, kSyn, 100, 0)));
  auto fr = drain_frames(p.client);
  ASSERT_EQ(fr.size(), 2u);  // t's ACK, then the RST
  EXPECT_EQ(fr[0].header.flags, kAck);
  EXPECT_EQ(fr[1].header.flags, kRst);
  EXPECT_EQ(fr[1].header.stream_id, 100u);
  EXPECT_EQ(p.client.pending_accept(), 0u);
  (void)b;
}

TEST(YamuxSessionTest, GoAwayStopsNewStreamsExistingOnesContinue) {
  Pair p;
  auto id = p.connect();
  events(p.server);
  p.client.go_away();
  p.client.go_away();
  EXPECT_TRUE(p.client.went_away());
  auto out = drain(p.client);
  EXPECT_EQ(hex(out), "000300000000000000000000");  // once, code 0
  auto o = p.client.open();
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().code(), ErrorCode::kUnavailable);
  p.feed(p.server, out);
  EXPECT_TRUE(p.server.went_away());
  EXPECT_EQ(p.server.remote_go_away_code(), GoAwayCode::kNormal);
  EXPECT_EQ(p.client.remote_go_away_code(), std::nullopt);
  EXPECT_THAT(events(p.server), ElementsAre(0u));
  auto so = p.server.open();
  ASSERT_FALSE(so);
  EXPECT_EQ(so.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(so.error().message(), HasSubstr("GoAway"));

  // The existing stream carries on both ways.
  EXPECT_EQ(p.client.write(id, bytes_of("still")), 5u);
  EXPECT_EQ(p.server.write(id, bytes_of("here")), 4u);
  p.pump();
  EXPECT_EQ(read_all(p.server, id), bytes_of("still"));
  EXPECT_EQ(read_all(p.client, id), bytes_of("here"));

  // A SYN that crosses our GoAway is refused.
  ASSERT_TRUE(p.client.receive(frame(Type::kWindowUpdate, kSyn, 2, 0)));
  auto fr = drain_frames(p.client);
  ASSERT_EQ(fr.size(), 1u);
  EXPECT_EQ(fr[0].header.flags, kRst);
  EXPECT_EQ(fr[0].header.stream_id, 2u);
  EXPECT_EQ(p.client.pending_accept(), 0u);
}

TEST(YamuxSessionTest, GoAwayCodesReachTheRemote) {
  Pair p;
  p.server.go_away(GoAwayCode::kInternalError);
  p.pump();
  EXPECT_EQ(p.client.remote_go_away_code(), GoAwayCode::kInternalError);
  EXPECT_FALSE(p.client.open());
}

TEST(YamuxSessionTest, PingPong) {
  Pair p;
  p.client.ping(42);
  p.client.ping(0xfeedface);
  auto out = drain(p.client);
  EXPECT_EQ(hex(out), "00020001000000000000002a" "0002000100000000feedface");
  auto pings = parse(out);
  ASSERT_EQ(pings.size(), 2u);
  EXPECT_EQ(pings[0].header, (Header{0, Type::kPing, kSyn, 0, 42}));
  p.feed(p.server, out);
  EXPECT_TRUE(events(p.server).empty());
  auto pongs = drain(p.server);
  EXPECT_EQ(hex(pongs), "00020002000000000000002a" "0002000200000000feedface");
  p.feed(p.client, pongs);
  EXPECT_THAT(events(p.client), ElementsAre(0u));
  EXPECT_EQ(p.client.take_pong(), 42u);
  EXPECT_EQ(p.client.take_pong(), 0xfeedfaceu);
  EXPECT_EQ(p.client.take_pong(), std::nullopt);
  EXPECT_FALSE(p.server.take_pong());
  // A Ping without SYN or ACK is ignored.
  ASSERT_TRUE(p.client.receive(frame(Type::kPing, 0, 0, 9)));
  EXPECT_FALSE(p.client.has_output());
  EXPECT_FALSE(p.client.take_pong());
}

TEST(YamuxSessionTest, LargerReceiveWindowIsAnnouncedAndHonoured) {
  constexpr uint32_t kWindow = 1 << 20;
  Options big = spec();
  big.receive_window = kWindow;
  Pair p(big, big);

  // Outbound: the SYN carries the extra window.
  auto id = *p.client.open();
  auto syn = parse(drain(p.client));
  ASSERT_EQ(syn.size(), 1u);
  EXPECT_EQ(syn[0].header, (Header{0, Type::kWindowUpdate, kSyn, id, kWindow - kInitialWindow}));
  p.feed(p.server, header_bytes(syn[0].header));
  // Before accepting, the server's send window holds the full grant already.
  ASSERT_EQ(p.server.accept(), id);
  EXPECT_EQ(p.server.state(id).send_window, kWindow);
  // Inbound: the ACK carries the extra window.
  auto ack = parse(drain(p.server));
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(ack[0].header, (Header{0, Type::kWindowUpdate, kAck, id, kWindow - kInitialWindow}));
  p.feed(p.client, header_bytes(ack[0].header));
  EXPECT_EQ(p.client.state(id).send_window, kWindow);

  // Both directions take a whole MiB without a window update, and the receivers accept it.
  auto up = pattern(kWindow + 5, 7);
  auto down = pattern(kWindow + 9, 8);
  EXPECT_EQ(p.client.write(id, up), kWindow);
  EXPECT_EQ(p.server.write(id, down), kWindow);
  p.pump();
  EXPECT_FALSE(p.client.failed());
  EXPECT_FALSE(p.server.failed());
  EXPECT_EQ(p.server.state(id).readable, kWindow);
  EXPECT_EQ(p.client.state(id).readable, kWindow);
  // Half the window read returns half the window.
  std::vector<uint8_t> half(kWindow / 2);
  EXPECT_EQ(p.server.read(id, half), half.size());
  auto wu = drain_frames(p.server);
  ASSERT_EQ(wu.size(), 1u);
  EXPECT_EQ(wu[0].header.length, kWindow / 2);
  p.feed(p.client, header_bytes(wu[0].header));
  EXPECT_EQ(p.client.write(id, std::span(up).subspan(kWindow)), 5u);
  p.pump();
  std::vector<uint8_t> rest(kWindow);
  size_t n = p.server.read(id, rest);
  EXPECT_EQ(n, kWindow / 2 + 5);
  std::vector<uint8_t> all(half);
  all.insert(all.end(), rest.begin(), rest.begin() + n);
  EXPECT_EQ(all, up);
}

TEST(YamuxSessionTest, SmallerReceiveWindowCountsAsInitial) {
  Options tiny = spec();
  tiny.receive_window = 1000;
  Pair p(tiny, tiny);
  auto id = p.connect();
  auto data = pattern(kInitialWindow, 9);
  EXPECT_EQ(p.client.write(id, data), kInitialWindow);
  p.pump();
  EXPECT_FALSE(p.server.failed());
  EXPECT_EQ(read_all(p.server, id), data);
}

TEST(YamuxSessionTest, WriteSplitsAtMaxDataFrame) {
  Options o = spec();
  o.max_data_frame = 1000;
  Pair p(o, {});
  auto id = p.connect();
  auto data = pattern(2500, 1);
  EXPECT_EQ(p.client.write(id, data), 2500u);
  auto frames = drain_frames(p.client);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].header.length, 1000u);
  EXPECT_EQ(frames[1].header.length, 1000u);
  EXPECT_EQ(frames[2].header.length, 500u);
  std::vector<uint8_t> joined;
  for (const auto& f : frames) joined.insert(joined.end(), f.payload.begin(), f.payload.end());
  EXPECT_EQ(joined, data);
}

TEST(YamuxSessionTest, ManyStreamsInterleavedTransferIntact) {
  constexpr size_t kStreams = 64;
  constexpr size_t kSize = 1 << 20;
  Pair p({}, {}, 77);
  p.max_chunk = 40000;
  // Every stream carries its own slice of one random source each way (a different offset
  // per stream and direction), checked as it is read, so a byte on the wrong stream shows.
  const auto source = pattern(2 * kSize, 99);
  struct Flow {
    uint32_t id = 0;
    size_t up_off = 0, up_len = 0, down_off = 0, down_len = 0;  // slices of `source`
    size_t up_sent = 0, down_sent = 0, up_got = 0, down_got = 0;
  };
  std::vector<Flow> flows(kStreams);
  for (size_t i = 0; i < kStreams; ++i) {
    auto id = p.client.open();
    ASSERT_TRUE(id);
    flows[i].id = *id;
    flows[i].up_off = i * 4099;
    flows[i].up_len = kSize;
    flows[i].down_off = kSize / 2 + i * 4111;
    flows[i].down_len = kSize - i * 1000;
  }
  p.pump();
  for (size_t i = 0; i < kStreams; ++i) ASSERT_EQ(p.server.accept(), flows[i].id);
  std::mt19937 rng(5);
  std::vector<uint8_t> buf(100000);
  std::vector<uint32_t> ids;
  auto send = [&](Session& s, uint32_t id, size_t off, size_t len, size_t& sent, size_t bite) {
    if (sent == len) return;
    size_t n = std::min(bite, len - sent);
    sent += s.write(id, std::span(source).subspan(off + sent, n));
    if (sent == len) s.close_write(id);
  };
  auto receive = [&](Session& s, uint32_t id, size_t off, size_t& got, size_t want) {
    size_t n = s.read(id, std::span(buf).first(want));
    ASSERT_TRUE(std::equal(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n),
                           source.begin() + static_cast<ptrdiff_t>(off + got)))
        << "stream " << id << " at " << got;
    got += n;
  };
  size_t done = 0;
  for (int round = 0; done < kStreams; ++round) {
    ASSERT_LT(round, 100000);
    for (auto& f : flows) {
      size_t bite = 1 + rng() % 90000;
      send(p.client, f.id, f.up_off, f.up_len, f.up_sent, bite);
      send(p.server, f.id, f.down_off, f.down_len, f.down_sent, bite);
    }
    p.pump();
    ids.clear();
    p.server.take_events(ids);
    p.client.take_events(ids);
    for (auto& f : flows) {
      size_t want = rng() % buf.size() + 1;
      receive(p.server, f.id, f.up_off, f.up_got, want);
      receive(p.client, f.id, f.down_off, f.down_got, want);
    }
    p.pump();
    done = 0;
    for (auto& f : flows) {
      auto cs = p.client.state(f.id);
      auto ss = p.server.state(f.id);
      if (cs.remote_closed && cs.readable == 0 && ss.remote_closed && ss.readable == 0) ++done;
    }
  }
  for (auto& f : flows) {
    EXPECT_EQ(f.up_got, f.up_len) << f.id;
    EXPECT_EQ(f.down_got, f.down_len) << f.id;
    EXPECT_FALSE(p.client.state(f.id).reset);
    EXPECT_FALSE(p.server.state(f.id).reset);
    p.client.release(f.id);
    p.server.release(f.id);
  }
  EXPECT_FALSE(p.client.has_output());  // closed both ways: no RST
  EXPECT_FALSE(p.server.has_output());
  EXPECT_EQ(p.client.stream_count(), 0u);
  EXPECT_EQ(p.server.stream_count(), 0u);
  EXPECT_FALSE(p.client.failed());
  EXPECT_FALSE(p.server.failed());
}

TEST(YamuxSessionTest, EventsNameEachIdOnce) {
  Pair p;
  auto a = p.connect();
  auto b = p.connect();
  events(p.client);
  events(p.server);
  for (int i = 0; i < 5; ++i) {
    p.server.write(a, bytes_of("x"));
    p.server.write(b, bytes_of("y"));
  }
  p.client.ping(1);  // the pong comes back as session event 0
  p.pump();
  auto ids = events(p.client);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<uint32_t>{0, a, b}));
  EXPECT_TRUE(events(p.client).empty());
  // read() and write() alone name nothing.
  std::vector<uint8_t> buf(2);
  p.client.read(a, buf);
  p.client.write(a, buf);
  EXPECT_TRUE(events(p.client).empty());
  // An event after take_events is named again.
  p.server.write(a, bytes_of("z"));
  p.pump();
  EXPECT_THAT(events(p.client), ElementsAre(a));
}

TEST(YamuxSessionTest, DrainOutputAppendsWhenNotEmpty) {
  Session s(true, spec());
  s.ping(7);
  std::vector<uint8_t> out = {1, 2, 3};
  s.drain_output(out);
  ASSERT_EQ(out.size(), 3 + kHeaderSize);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[3], 0);
  EXPECT_EQ(out[4], 2);  // Ping
  EXPECT_FALSE(s.has_output());
  s.drain_output(out);
  EXPECT_EQ(out.size(), 3 + kHeaderSize);
}

// --- hand-made frames -------------------------------------------------------------------

TEST(YamuxFramesTest, FinRstAndAckOnWindowUpdateFrames) {
  Session client(true, spec());
  auto a = *client.open();
  auto b = *client.open();
  drain(client);
  ASSERT_TRUE(client.receive(frame(Type::kWindowUpdate, kAck, a, 0)));
  EXPECT_TRUE(client.state(a).acked);
  EXPECT_FALSE(client.state(b).acked);
  ASSERT_TRUE(client.receive(frame(Type::kWindowUpdate, kAck | kFin, b, 100)));
  auto sb = client.state(b);
  EXPECT_TRUE(sb.acked);
  EXPECT_TRUE(sb.remote_closed);
  EXPECT_EQ(sb.send_window, kInitialWindow + 100);
  ASSERT_TRUE(client.receive(frame(Type::kWindowUpdate, kRst, a, 0)));
  EXPECT_TRUE(client.state(a).reset);
  auto ids = events(client);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<uint32_t>{a, b}));
  // ACK, FIN and RST on Data frames as well.
  auto c = *client.open();
  drain(client);
  ASSERT_TRUE(client.receive(data_frame(kAck | kFin, c, bytes_of("bye"))));
  EXPECT_TRUE(client.state(c).acked);
  EXPECT_TRUE(client.state(c).remote_closed);
  EXPECT_EQ(client.state(c).readable, 3u);
  ASSERT_TRUE(client.receive(data_frame(kRst, c, bytes_of("dropped"))));
  EXPECT_TRUE(client.state(c).reset);
  EXPECT_EQ(client.state(c).readable, 0u);
  EXPECT_FALSE(client.has_output());
  // An inbound stream opened with SYN on a Data frame, closed with FIN on a WindowUpdate.
  ASSERT_TRUE(client.receive(data_frame(kSyn, 2, bytes_of("hi"))));
  ASSERT_TRUE(client.receive(frame(Type::kWindowUpdate, kFin, 2, 0)));
  ASSERT_EQ(client.accept(), 2u);
  EXPECT_EQ(client.state(2).readable, 2u);
  EXPECT_TRUE(client.state(2).remote_closed);
  EXPECT_FALSE(client.failed());
}

TEST(YamuxFramesTest, DataAfterFinIsDroppedButCounted) {
  Session server(false, spec());
  ASSERT_TRUE(server.receive(data_frame(kSyn | kFin, 1, bytes_of("all"))));
  ASSERT_EQ(server.accept(), 1u);
  drain(server);
  auto late = pattern(kInitialWindow - 3, 1);
  ASSERT_TRUE(server.receive(data_frame(0, 1, late)));  // dropped, within the window
  EXPECT_EQ(read_all(server, 1), bytes_of("all"));
  EXPECT_FALSE(server.has_output());  // no window goes back after FIN
  EXPECT_FALSE(server.receive(data_frame(0, 1, bytes_of("x"))));  // past it: still an error
}

TEST(YamuxFramesTest, FinOnDataAppliesAfterItsPayload) {
  Session server(false, spec());
  auto payload = pattern(5000, 2);
  auto bytes = concat({data_frame(kSyn, 1, std::span(payload).first(1000)),
                       data_frame(kFin, 1, std::span(payload).subspan(1000))});
  ASSERT_TRUE(server.receive(std::span(bytes).first(12 + 1000)));
  ASSERT_EQ(server.accept(), 1u);
  drain(server);
  for (size_t i = 12 + 1000; i < bytes.size(); ++i) {
    EXPECT_FALSE(server.state(1).remote_closed) << i;
    ASSERT_TRUE(server.receive(std::span(bytes).subspan(i, 1)));
    // the second frame's payload starts at 12 + 1000 + 12
    EXPECT_EQ(server.state(1).readable, 1000 + (i + 1 > 1024 ? i + 1 - 1024 : 0)) << i;
  }
  EXPECT_TRUE(server.state(1).remote_closed);
  EXPECT_EQ(read_all(server, 1), payload);
}

TEST(YamuxFramesTest, SplitAnywhereGivesTheSameResult) {
  // One byte stream with every kind of frame, fed whole and in every two-piece split.
  auto payload = pattern(300, 4);
  auto wire = concat({
      frame(Type::kWindowUpdate, kSyn, 1, 50),
      data_frame(0, 1, payload),
      frame(Type::kPing, kSyn, 0, 77),
      data_frame(kSyn, 3, std::span(payload).first(10)),
      frame(Type::kData, 0, 9, 5, bytes_of("abcde")),  // unknown stream: skipped
      frame(Type::kWindowUpdate, kFin, 1, 0),
      frame(Type::kGoAway, 0, 0, 0),
  });
  auto check = [&](Session& s) {
    EXPECT_EQ(s.pending_accept(), 2u);
    EXPECT_EQ(s.accept(), 1u);
    EXPECT_EQ(s.accept(), 3u);
    EXPECT_EQ(s.state(1).readable, 300u);
    EXPECT_TRUE(s.state(1).remote_closed);
    EXPECT_EQ(s.state(1).send_window, kInitialWindow + 50);
    EXPECT_EQ(s.state(3).readable, 10u);
    EXPECT_FALSE(s.state(9).exists);
    EXPECT_EQ(s.remote_go_away_code(), GoAwayCode::kNormal);
    EXPECT_EQ(read_all(s, 1), payload);
  };
  Session whole(false, spec());
  ASSERT_TRUE(whole.receive(wire));
  check(whole);
  auto expected_out = drain(whole);
  for (size_t cut = 1; cut < wire.size(); ++cut) {
    Session s(false, spec());
    ASSERT_TRUE(s.receive(std::span(wire).first(cut)));
    ASSERT_TRUE(s.receive(std::span(wire).subspan(cut)));
    check(s);
    EXPECT_EQ(drain(s), expected_out) << cut;
  }
  Session bytewise(false, spec());
  for (uint8_t b : wire) ASSERT_TRUE(bytewise.receive(std::span(&b, 1)));
  check(bytewise);
  ASSERT_TRUE(bytewise.receive({}));
}

TEST(YamuxFramesTest, WindowUpdateAfterFinIsTolerated) {
  Pair p;
  auto id = p.connect();
  p.client.close_write(id);
  p.server.close_write(id);
  p.pump();
  // js answers FIN with a WindowUpdate; before release it just adds window.
  ASSERT_TRUE(p.client.receive(frame(Type::kWindowUpdate, 0, id, 4096)));
  EXPECT_FALSE(p.client.failed());
  p.client.release(id);
  p.server.release(id);
  EXPECT_FALSE(p.client.has_output());
  // ... and after release it is ignored.
  ASSERT_TRUE(p.client.receive(frame(Type::kWindowUpdate, 0, id, 4096)));
  ASSERT_TRUE(p.client.receive(frame(Type::kWindowUpdate, kFin, id, 0)));
  ASSERT_TRUE(p.server.receive(frame(Type::kWindowUpdate, 0, id, 4096)));
  EXPECT_FALSE(p.client.has_output());
  EXPECT_FALSE(p.server.has_output());
  EXPECT_FALSE(p.client.state(id).exists);
  EXPECT_EQ(p.client.stream_count(), 0u);
}

TEST(YamuxFramesTest, FramesForUnknownStreamsAreIgnored) {
  Session server(false, spec());
  auto junk = pattern(70000, 1);  // more than a window: not checked for unknown ids
  auto wire = concat({
      data_frame(0, 5, junk),
      frame(Type::kWindowUpdate, 0, 7, 100),
      frame(Type::kWindowUpdate, kFin, 9, 0),
      frame(Type::kWindowUpdate, kRst, 11, 0),
      frame(Type::kWindowUpdate, kAck, 13, 0),
      data_frame(kFin, 15, bytes_of("x")),
      frame(Type::kData, kRst, 4, 0),  // our own id space, never opened
      frame(Type::kWindowUpdate, kSyn, 1, 0),  // a frame after them all still counts
  });
  ASSERT_TRUE(server.receive(wire));
  EXPECT_FALSE(server.failed());
  EXPECT_EQ(server.stream_count(), 1u);
  EXPECT_EQ(server.pending_accept(), 1u);
  EXPECT_FALSE(server.has_output());
  EXPECT_FALSE(server.state(5).exists);
}

TEST(YamuxFramesTest, RemoteResetOfAStreamNotYetAcceptedDropsIt) {
  Session server(false, spec());
  ASSERT_TRUE(server.receive(concat({frame(Type::kWindowUpdate, kSyn, 1, 0),
                                     frame(Type::kWindowUpdate, kSyn, 3, 0),
                                     frame(Type::kWindowUpdate, kRst, 1, 0)})));
  EXPECT_EQ(server.pending_accept(), 1u);
  EXPECT_EQ(server.stream_count(), 1u);
  EXPECT_EQ(server.accept(), 3u);
  EXPECT_FALSE(server.accept());
}

TEST(YamuxFramesTest, ReleasingMidPayloadDropsTheRest) {
  Session server(false, spec());
  auto payload = pattern(1000, 3);
  auto wire = concat({data_frame(kSyn, 1, payload), frame(Type::kPing, kSyn, 0, 5)});
  ASSERT_TRUE(server.receive(std::span(wire).first(500)));
  ASSERT_EQ(server.accept(), 1u);
  server.release(1);
  drain(server);
  ASSERT_TRUE(server.receive(std::span(wire).subspan(500)));
  auto fr = drain_frames(server);
  ASSERT_EQ(fr.size(), 1u);  // the pong after the skipped payload
  EXPECT_EQ(fr[0].header, (Header{0, Type::kPing, kAck, 0, 5}));
  EXPECT_FALSE(server.state(1).exists);
}

// --- protocol errors -------------------------------------------------------------------

// Checks the session failed with kProtocol, GoAway(protocol error) last in its output, and
// refuses what comes next.
void expect_failed(Session& s, const Status& status, std::string_view needle) {
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kProtocol);
  EXPECT_THAT(status.error().message(), HasSubstr(std::string(needle)));
  EXPECT_TRUE(s.failed());
  EXPECT_TRUE(s.went_away());
  auto frames = drain_frames(s);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().header, (Header{0, Type::kGoAway, 0, 0, 1}));
  auto again = s.receive(frame(Type::kPing, kSyn, 0, 1));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kProtocol);
  EXPECT_FALSE(s.has_output());
  auto o = s.open();
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().code(), ErrorCode::kUnavailable);
  std::vector<uint32_t> ids;
  s.take_events(ids);
  EXPECT_TRUE(std::find(ids.begin(), ids.end(), 0u) != ids.end());
}

TEST(YamuxErrorTest, DataPastTheGrantedWindow) {
  Session server(false, spec());
  auto payload = pattern(kInitialWindow + 1, 1);
  auto bytes = data_frame(kSyn, 1, payload);
  Status s = server.receive(std::span(bytes).first(kHeaderSize + 3));
  expect_failed(server, s, "262145 bytes on stream 1 exceeds the 262144 bytes");
}

TEST(YamuxErrorTest, DataPastWhatIsLeftOfTheWindow) {
  Session server(false, spec());
  auto a = pattern(200000, 1);
  auto b = pattern(70000, 2);
  ASSERT_TRUE(server.receive(data_frame(kSyn, 1, a)));
  ASSERT_EQ(server.accept(), 1u);
  std::vector<uint8_t> buf(1000);
  EXPECT_EQ(server.read(1, buf), 1000u);  // not enough to return window
  Status s = server.receive(data_frame(0, 1, b));
  expect_failed(server, s, "70000 bytes on stream 1 exceeds the 62144 bytes");
}

TEST(YamuxErrorTest, BigReceiveWindowIsNotGrantedBeforeTheAck) {
  Options big = spec();
  big.receive_window = 1 << 20;
  Session server(false, big);
  auto payload = pattern(kInitialWindow + 1, 1);
  Status s = server.receive(data_frame(kSyn, 1, payload));
  expect_failed(server, s, "exceeds the 262144 bytes");
}

TEST(YamuxErrorTest, SynReusingAnOpenId) {
  Session server(false, spec());
  ASSERT_TRUE(server.receive(frame(Type::kWindowUpdate, kSyn, 1, 0)));
  Status s = server.receive(data_frame(kSyn, 1, bytes_of("again")));
  expect_failed(server, s, "stream 1, which is already open");
}

TEST(YamuxErrorTest, SynInOurIdSpace) {
  Session server(false, spec());
  expect_failed(server, server.receive(frame(Type::kWindowUpdate, kSyn, 2, 0)),
                "opened stream 2 in our id space");
  Session client(true, spec());
  expect_failed(client, client.receive(data_frame(kSyn, 1, bytes_of("x"))),
                "opened stream 1 in our id space");
}

TEST(YamuxErrorTest, BadVersionAndUnknownType) {
  Session a(false, spec());
  auto v = frame(Type::kWindowUpdate, kSyn, 1, 0);
  v[0] = 1;
  expect_failed(a, a.receive(v), "version 1");
  Session b(false, spec());
  auto t = frame(Type::kWindowUpdate, 0, 1, 0);
  t[1] = 7;
  // split inside the header: the error comes when the header is whole
  ASSERT_TRUE(b.receive(std::span(t).first(5)));
  expect_failed(b, b.receive(std::span(t).subspan(5)), "unknown frame type 7");
}

TEST(YamuxErrorTest, StreamFramesOnStreamZero) {
  Session a(true, spec());
  expect_failed(a, a.receive(data_frame(0, 0, bytes_of("x"))), "Data frame on stream 0");
  Session b(true, spec());
  expect_failed(b, b.receive(frame(Type::kWindowUpdate, 0, 0, 10)),
                "WindowUpdate frame on stream 0");
  Session c(false, spec());
  expect_failed(c, c.receive(frame(Type::kWindowUpdate, kSyn, 0, 0)), "on stream 0");
}

TEST(YamuxErrorTest, SendWindowOverflow) {
  Session client(true, spec());
  auto id = *client.open();
  drain(client);
  ASSERT_TRUE(client.receive(frame(Type::kWindowUpdate, kAck, id, 0xffffffffu - kInitialWindow)));
  EXPECT_EQ(client.state(id).send_window, 0xffffffffu);
  expect_failed(client, client.receive(frame(Type::kWindowUpdate, 0, id, 1)), "overflows");
}

TEST(YamuxErrorTest, FailedSessionRefusesStreamCalls) {
  Pair p;
  auto id = p.connect();
  EXPECT_EQ(p.server.write(id, bytes_of("buffered")), 8u);
  p.pump();
  auto bad = frame(Type::kPing, 0, 0, 0);
  bad[0] = 9;
  ASSERT_FALSE(p.client.receive(bad));
  EXPECT_EQ(p.client.write(id, bytes_of("x")), 0u);
  std::vector<uint8_t> buf(8);
  EXPECT_EQ(p.client.read(id, buf), 0u);
  p.client.close_write(id);
  p.client.reset(id);
  p.client.ping(1);
  p.client.go_away();
  auto frames = drain_frames(p.client);
  ASSERT_EQ(frames.size(), 1u);  // only the GoAway(protocol error)
  EXPECT_EQ(frames[0].header.type, Type::kGoAway);
  EXPECT_EQ(frames[0].header.length, 1u);
  p.client.release(id);
  EXPECT_FALSE(p.client.has_output());
  EXPECT_EQ(p.client.stream_count(), 0u);
}

}  // namespace
}  // namespace bzzz::p2p::yamux
