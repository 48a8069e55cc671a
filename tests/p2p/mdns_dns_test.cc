// The DNS message codec of p2p/mdns: round trips of every record type, name
// compression both ways, and malformed input (truncations, pointer loops, bad lengths,
// random bytes) giving errors, never crashes.
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "p2p/mdns/dns_message.h"

namespace bzzz::p2p::mdns::dns {
namespace {

// Byte-level building, independent of encode(): what a packet capture shows.
struct Bytes {
  std::vector<uint8_t> b;
  Bytes& u8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Bytes& u16(uint16_t v) { return u8(static_cast<uint8_t>(v >> 8)).u8(static_cast<uint8_t>(v)); }
  Bytes& u32(uint32_t v) { return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v)); }
  Bytes& text(std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  // Uncompressed labels and the root.
  Bytes& name(std::string_view dotted) {
    size_t start = 0;
    while (start < dotted.size()) {
      size_t dot = dotted.find('.', start);
      if (dot == std::string_view::npos) dot = dotted.size();
      u8(static_cast<uint8_t>(dot - start)).text(dotted.substr(start, dot - start));
      start = dot + 1;
    }
    return u8(0);
  }
  Bytes& header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
    return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
  }
};

Record ptr_record(std::string name, std::string target) {
  Record r;
  r.name = std::move(name);
  r.type = Type::kPtr;
  r.ptr = std::move(target);
  return r;
}

Message sample() {
  Message m;
  m.id = 0x1234;
  m.flags = kFlagResponse | kFlagAuthoritative;
  m.questions.push_back({"_p2p._udp.local", Type::kPtr, kClassIn, true});
  m.answers.push_back(ptr_record("_p2p._udp.local", "abcdef._p2p._udp.local"));
  Record txt;
  txt.name = "abcdef._p2p._udp.local";
  txt.type = Type::kTxt;
  txt.ttl = 4500;
  txt.cache_flush = true;
  txt.txt = {"dnsaddr=/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp", "", "k=v"};
  m.answers.push_back(txt);
  Record srv;
  srv.name = "abcdef._p2p._udp.local";
  srv.type = Type::kSrv;
  srv.srv = {10, 1, 4001, "host-1.local"};
  m.authorities.push_back(srv);
  Record a;
  a.name = "host-1.local";
  a.type = Type::kA;
  a.address = {192, 168, 1, 20};
  m.additionals.push_back(a);
  Record aaaa;
  aaaa.name = "host-1.local";
  aaaa.type = Type::kAaaa;
  aaaa.address = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  m.additionals.push_back(aaaa);
  return m;
}

TEST(DnsMessage, RoundTripsEveryRecordType) {
  Message m = sample();
  auto bytes = encode(m);
  ASSERT_TRUE(bytes) << bytes.error().message();
  auto back = parse(*bytes);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, m);
  EXPECT_TRUE(back->is_response());
  EXPECT_TRUE(back->questions[0].unicast_response);
  EXPECT_TRUE(back->answers[1].cache_flush);
  EXPECT_EQ(back->answers[1].klass, kClassIn);
}

TEST(DnsMessage, EncodeCompressesRepeatedSuffixes) {
  Message m;
  m.flags = kFlagResponse;
  m.answers.push_back(ptr_record("_p2p._udp.local", "peer._p2p._udp.local"));
  auto bytes = encode(m);
  ASSERT_TRUE(bytes);
  // header, "_p2p._udp.local" in full (17 bytes), fixed fields (10), then the target:
  // the label "peer" and a pointer to offset 12 (where the owner name starts).
  Bytes want;
  want.header(0, kFlagResponse, 0, 1, 0, 0).name("_p2p._udp.local").u16(12).u16(1).u32(120).u16(7);
  want.u8(4).text("peer").u16(0xC000 | 12);
  EXPECT_EQ(*bytes, want.b);
  // Case differences still share the suffix (DNS names are case-insensitive).
  m.answers.push_back(ptr_record("_P2P._UDP.LOCAL", "other._p2p._udp.local"));
  auto twice = encode(m);
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->size(), bytes->size() + 2 + 10 + 1 + 5 + 2);
}

TEST(DnsMessage, ParsesCompressionPointersChained) {
  // Answer 0 owns "_p2p._udp.local" at 12; answer 1's name is "x" + pointer to the PTR
  // target's "peer" label, which itself ends in a pointer to 12.
  Bytes b;
  b.header(7, kFlagResponse, 0, 2, 0, 0).name("_p2p._udp.local").u16(12).u16(1).u32(120).u16(7);
  size_t peer_at = b.b.size();
  b.u8(4).text("peer").u16(0xC000 | 12);
  b.u8(1).text("x").u16(static_cast<uint16_t>(0xC000 | peer_at)).u16(1).u16(1).u32(60).u16(4).u8(10).u8(0).u8(0).u8(7);
  auto m = parse(b.b);
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_EQ(m->answers.size(), 2u);
  EXPECT_EQ(m->id, 7);
  EXPECT_EQ(m->answers[0].ptr, "peer._p2p._udp.local");
  EXPECT_EQ(m->answers[1].name, "x.peer._p2p._udp.local");
  EXPECT_EQ(m->answers[1].type, Type::kA);
  EXPECT_EQ(m->answers[1].address, (std::vector<uint8_t>{10, 0, 0, 7}));
  EXPECT_EQ(m->answers[1].ttl, 60u);
}

TEST(DnsMessage, SkipsUnknownTypes) {
  Message m;
  m.flags = kFlagResponse;
  Record nsec;
  nsec.name = "peer._p2p._udp.local";
  nsec.type = static_cast<Type>(47);  // NSEC
  nsec.rdata = {0xC0, 0x0C, 0x00, 0x01, 0x40};
  m.answers.push_back(nsec);
  m.answers.push_back(ptr_record("_p2p._udp.local", "peer._p2p._udp.local"));
  auto bytes = encode(m);
  ASSERT_TRUE(bytes);
  auto back = parse(*bytes);
  ASSERT_TRUE(back) << back.error().message();
  ASSERT_EQ(back->answers.size(), 1u);
  EXPECT_EQ(back->answers[0].type, Type::kPtr);
  EXPECT_EQ(type_name(static_cast<Type>(47)), "TYPE47");
}

TEST(DnsMessage, LabelsWithDotsAreEscaped) {
  Bytes b;
  b.header(0, 0, 1, 0, 0, 0).u8(3).text("a.b").u8(2).text("c\\").u8(0).u16(12).u16(1);
  auto m = parse(b.b);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->questions[0].name, "a\\.b.c\\\\");
  auto again = encode(*m);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, b.b);
}

TEST(DnsMessage, EmptyTxtIsOneEmptyString) {
  Message m;
  Record txt;
  txt.name = "x.local";
  txt.type = Type::kTxt;
  m.answers.push_back(txt);
  auto bytes = encode(m);
  ASSERT_TRUE(bytes);
  auto back = parse(*bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->answers[0].txt, std::vector<std::string>{""});
}

TEST(DnsMessage, EncodeRejectsBadNamesAndData) {
  auto encode_name = [](std::string name) {
    Message m;
    m.questions.push_back({std::move(name), Type::kPtr, kClassIn, false});
    return encode(m);
  };
  EXPECT_TRUE(encode_name("a.b.local"));
  EXPECT_TRUE(encode_name("a.b.local."));
  EXPECT_TRUE(encode_name(""));  // the root
  auto empty = encode_name("a..local");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("empty label"), std::string::npos) << empty.error().message();
  auto long_label = encode_name(std::string(64, 'x') + ".local");
  ASSERT_FALSE(long_label);
  EXPECT_NE(long_label.error().message().find("64 bytes"), std::string::npos);
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'a') + ".";
  auto too_long = encode_name(long_name + "local");
  ASSERT_FALSE(too_long);
  EXPECT_NE(too_long.error().message().find("longer than 255"), std::string::npos);

  Message m;
  Record txt;
  txt.name = "x.local";
  txt.type = Type::kTxt;
  txt.txt = {std::string(256, 'x')};
  m.answers.push_back(txt);
  auto big = encode(m);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message().find("256 bytes"), std::string::npos);
  Record a;
  a.name = "x.local";
  a.type = Type::kA;
  a.address = {1, 2, 3};
  m.answers = {a};
  EXPECT_FALSE(encode(m));
  // Over the mDNS message limit.
  m.answers.clear();
  for (int i = 0; i < 40; ++i) {
    txt.txt = {std::string(250, 'y')};
    m.answers.push_back(txt);
  }
  auto huge = encode(m);
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code(), ErrorCode::kTooLarge);
}

// --- malformed input --------------------------------------------------------------------

std::string parse_error(const std::vector<uint8_t>& bytes) {
  auto m = parse(bytes);
  if (m) return "";
  EXPECT_EQ(m.error().code(), ErrorCode::kProtocol);
  EXPECT_NE(m.error().message().find("dns: "), std::string::npos) << m.error().message();
  return m.error().message();
}

TEST(DnsMessage, ShortHeader) {
  EXPECT_NE(parse_error({}).find("shorter than the 12-byte header"), std::string::npos);
  EXPECT_NE(parse_error(std::vector<uint8_t>(11)).find("11 bytes"), std::string::npos);
  EXPECT_EQ(parse_error(std::vector<uint8_t>(12)), "");  // an empty message is fine
}

TEST(DnsMessage, CountsBeyondTheData) {
  Bytes b;
  b.header(0, 0, 1, 0, 0, 0);
  EXPECT_NE(parse_error(b.b).find("question 0"), std::string::npos);
  Bytes c;
  c.header(0, kFlagResponse, 0, 3, 0, 0).name("a.local").u16(1).u16(1).u32(1).u16(4).u32(0x0a000001);
  EXPECT_NE(parse_error(c.b).find("answer 1"), std::string::npos);
}

TEST(DnsMessage, PointerLoopsAreRejected) {
  // A pointer to itself.
  Bytes self;
  self.header(0, 0, 1, 0, 0, 0).u16(0xC000 | 12).u16(12).u16(1);
  EXPECT_NE(parse_error(self.b).find("compression pointer at offset 12 points to 12"), std::string::npos);
  // A label then a pointer back to that label: a loop through a backwards pointer.
  Bytes loop;
  loop.header(0, 0, 1, 0, 0, 0).u8(1).text("a").u16(0xC000 | 12).u16(12).u16(1);
  EXPECT_NE(parse_error(loop.b).find("not before its name"), std::string::npos);
  // Two names pointing at each other (the second points forward into the first's pointer).
  Bytes pair;
  pair.header(0, 0, 2, 0, 0, 0).u16(0xC000 | 18).u16(12).u16(1).u16(0xC000 | 12).u16(12).u16(1);
  EXPECT_NE(parse_error(pair.b).find("compression pointer"), std::string::npos);
  // A pointer past the end.
  Bytes past;
  past.header(0, 0, 1, 0, 0, 0).u16(0xC000 | 0x3FFF).u16(12).u16(1);
  EXPECT_NE(parse_error(past.b).find("compression pointer"), std::string::npos);
  // A pointer cut in half.
  Bytes half;
  half.header(0, 0, 1, 0, 0, 0).u8(0xC0);
  EXPECT_NE(parse_error(half.b).find("cut off"), std::string::npos);
}

TEST(DnsMessage, BadLabelsAndLongNames) {
  Bytes reserved;
  reserved.header(0, 0, 1, 0, 0, 0).u8(0x41).text("x").u8(0).u16(12).u16(1);
  EXPECT_NE(parse_error(reserved.b).find("type bits 0x40"), std::string::npos);
  Bytes overrun;
  overrun.header(0, 0, 1, 0, 0, 0).u8(20).text("short");
  EXPECT_NE(parse_error(overrun.b).find("runs past the end"), std::string::npos);
  // 5 labels of 63 bytes: 320 bytes of name.
  Bytes long_name;
  long_name.header(0, 0, 1, 0, 0, 0);
  for (int i = 0; i < 5; ++i) long_name.u8(63).text(std::string(63, 'a'));
  long_name.u8(0).u16(12).u16(1);
  EXPECT_NE(parse_error(long_name.b).find("longer than 255 bytes"), std::string::npos);
  // A name made long only through pointers: each question adds a label to the previous.
  Bytes chain;
  chain.header(0, 0, 6, 0, 0, 0);
  size_t prev = chain.b.size();
  chain.u8(63).text(std::string(63, 'b')).u8(0).u16(12).u16(1);
  for (int i = 0; i < 5; ++i) {
    size_t here = chain.b.size();
    chain.u8(63).text(std::string(63, 'c')).u16(static_cast<uint16_t>(0xC000 | prev)).u16(12).u16(1);
    prev = here;
  }
  EXPECT_NE(parse_error(chain.b).find("longer than 255 bytes"), std::string::npos);
}

TEST(DnsMessage, BadRecordData) {
  auto record = [](uint16_t type, const std::vector<uint8_t>& rdata, uint16_t rdlen) {
    Bytes b;
    b.header(0, kFlagResponse, 0, 1, 0, 0).name("x.local").u16(type).u16(1).u32(120).u16(rdlen);
    b.b.insert(b.b.end(), rdata.begin(), rdata.end());
    return b.b;
  };
  EXPECT_NE(parse_error(record(1, {1, 2, 3}, 3)).find("address of 3 bytes, expected 4"), std::string::npos);
  EXPECT_NE(parse_error(record(28, {1, 2, 3, 4}, 4)).find("expected 16"), std::string::npos);
  EXPECT_NE(parse_error(record(1, {1, 2, 3, 4}, 9)).find("runs past the end of the message"), std::string::npos);
  EXPECT_NE(parse_error(record(16, {5, 'a', 'b'}, 3)).find("string of 5 bytes"), std::string::npos);
  // A PTR whose name ends before its data does: bytes left over.
  EXPECT_NE(parse_error(record(12, {1, 'a', 0, 9}, 4)).find("1 bytes left over"), std::string::npos);
  // A PTR whose name goes on beyond its data.
  EXPECT_NE(parse_error(record(12, {1, 'a', 1, 'b', 0}, 3)).find("PTR"), std::string::npos);
  EXPECT_NE(parse_error(record(33, {0, 1, 0, 2}, 4)).find("at least 7"), std::string::npos);
  // An unknown type with data past the end is still an error (its length is checked).
  EXPECT_NE(parse_error(record(99, {1}, 2)).find("runs past the end"), std::string::npos);
  // Fixed fields cut off.
  Bytes cut;
  cut.header(0, kFlagResponse, 0, 1, 0, 0).name("x.local").u16(1).u16(1);
  EXPECT_NE(parse_error(cut.b).find("fixed fields cut off"), std::string::npos);
}

TEST(DnsMessage, OversizedMessage) {
  std::vector<uint8_t> big(kMaxMessageSize + 1);
  EXPECT_NE(parse_error(big).find("over the 9000-byte limit"), std::string::npos);
}

TEST(DnsMessage, EveryTruncationIsAnErrorNotACrash) {
  auto bytes = encode(sample());
  ASSERT_TRUE(bytes);
  for (size_t n = 0; n < bytes->size(); ++n) {
    std::vector<uint8_t> cut(bytes->begin(), bytes->begin() + static_cast<ptrdiff_t>(n));
    auto m = parse(cut);
    EXPECT_FALSE(m) << "prefix of " << n << " bytes parsed";
  }
}

// parse() must hold on any input; whatever parses must encode, and re-parse to the same.
void check_any(const std::vector<uint8_t>& input, size_t& parsed) {
  auto m = parse(input);
  if (!m) {
    EXPECT_FALSE(m.error().message().empty());
    return;
  }
  ++parsed;
  auto again = encode(*m);
  if (!again) {
    // Only size can stop it: names, labels and strings read are all encodable.
    EXPECT_EQ(again.error().code(), ErrorCode::kTooLarge) << again.error().message();
    return;
  }
  auto back = parse(*again);
  ASSERT_TRUE(back) << back.error().message();
  auto third = encode(*back);
  ASSERT_TRUE(third);
  EXPECT_EQ(*third, *again);
}

TEST(DnsMessage, RandomAndMutatedInput) {
  std::mt19937 rng(20261127);
  size_t parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> junk(rng() % 200);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    // Small counts make the random bytes go deeper than the header.
    if (junk.size() >= 12) {
      for (size_t k = 4; k < 12; k += 2) junk[k] = 0, junk[k + 1] = static_cast<uint8_t>(rng() % 4);
    }
    check_any(junk, parsed);
  }
  auto base = encode(sample());
  ASSERT_TRUE(base);
  for (int i = 0; i < 20000; ++i) {
    auto m = *base;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) m[rng() % m.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) m.resize(rng() % m.size());
    check_any(m, parsed);
  }
  EXPECT_GT(parsed, 100u);  // the mutations reach the deep paths, not only the header checks
}

TEST(DnsMessage, SameNameIgnoresCaseAndTrailingDot) {
  EXPECT_TRUE(same_name("_p2p._udp.local", "_P2P._UDP.Local."));
  EXPECT_FALSE(same_name("_p2p._udp.local", "_p2p._udp.locale"));
  EXPECT_FALSE(same_name("a.local", "b.local"));
}

}  // namespace
}  // namespace bzzz::p2p::mdns::dns
