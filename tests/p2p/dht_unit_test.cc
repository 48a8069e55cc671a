// The DHT's pure parts: key space, routing table, wire messages, validators, and the
// record store (in memory and in LMDB).
#include <set>

#include <gtest/gtest.h>

#include "p2p/dht/key_space.h"
#include "p2p/dht/messages.h"
#include "p2p/dht/record_store.h"
#include "p2p/dht/routing_table.h"
#include "p2p/dht/validators.h"
#include "support/temp_dir.h"

namespace bzzz::p2p::dht {
namespace {

using namespace std::chrono_literals;

PeerId random_peer() { return PeerId::from_public_key(PrivateKey::generate().public_key()); }

KadId kad_with_prefix(std::initializer_list<uint8_t> head) {
  KadId k;
  std::copy(head.begin(), head.end(), k.bytes.begin());
  return k;
}

// --- key space --------------------------------------------------------------------------

TEST(DhtKeySpace, DistanceAndPrefix) {
  KadId zero;
  EXPECT_EQ(common_prefix_length(zero, zero), 256);
  EXPECT_EQ(common_prefix_length(zero, kad_with_prefix({0x80})), 0);
  EXPECT_EQ(common_prefix_length(zero, kad_with_prefix({0x01})), 7);
  EXPECT_EQ(common_prefix_length(zero, kad_with_prefix({0x00, 0x40})), 9);
  KadId a = kad_with_prefix({0xf0, 0x0f});
  KadId b = kad_with_prefix({0xf0, 0xff});
  EXPECT_EQ(distance(a, b), kad_with_prefix({0x00, 0xf0}));
  EXPECT_EQ(distance(a, a), zero);
  // closer(): XOR order, not numeric order of the places themselves.
  KadId target = kad_with_prefix({0x10});
  EXPECT_TRUE(closer(kad_with_prefix({0x11}), kad_with_prefix({0x00}), target));
  EXPECT_FALSE(closer(kad_with_prefix({0x00}), kad_with_prefix({0x11}), target));
  EXPECT_FALSE(closer(target, target, target));
  // sha256 of the bytes (the libp2p spec's "sha256(key)").
  Bytes abc{'a', 'b', 'c'};
  EXPECT_EQ(kad_id(abc).bytes[0], 0xba);
  EXPECT_EQ(kad_id(abc).bytes[31], 0xad);
}

TEST(DhtKeySpace, RandomKeyLandsInTheBucketAsked) {
  KadId self = kad_id(random_peer());
  for (int cpl = 0; cpl <= 10; ++cpl) {
    Bytes key = random_key_with_cpl(self, cpl);
    EXPECT_EQ(common_prefix_length(self, kad_id(key)), cpl);
  }
}

// --- routing table ----------------------------------------------------------------------

TEST(DhtRoutingTable, AddUpdateClosest) {
  PeerId self = random_peer();
  RoutingTable rt(self, 20, 2);
  EXPECT_EQ(rt.add(self), RoutingTable::AddResult::kSelf);
  std::vector<PeerId> peers;
  for (int i = 0; i < 30; ++i) peers.push_back(random_peer());
  size_t added = 0;
  for (auto& p : peers) {
    auto r = rt.add(p);
    if (r == RoutingTable::AddResult::kAdded) ++added;
  }
  EXPECT_EQ(rt.size(), added);
  EXPECT_EQ(rt.add(peers[0]) == RoutingTable::AddResult::kUpdated || !rt.contains(peers[0]), true);
  for (const auto& e : rt.entries()) EXPECT_EQ(e.bucket, common_prefix_length(kad_id(self), e.kad));

  KadId target = kad_id(random_peer());
  auto closest = rt.closest(target, 5);
  ASSERT_EQ(closest.size(), 5u);
  // Sorted by distance, and nothing in the table is closer than the fifth.
  for (size_t i = 1; i < closest.size(); ++i) EXPECT_TRUE(closer(kad_id(closest[i - 1]), kad_id(closest[i]), target));
  std::set<PeerId> chosen(closest.begin(), closest.end());
  for (const auto& e : rt.entries()) {
    if (!chosen.count(e.id)) {
      EXPECT_FALSE(closer(e.kad, kad_id(closest.back()), target));
    }
  }
  EXPECT_EQ(rt.closest(target, 1000).size(), rt.size());
}

// A full bucket keeps its members, parks newcomers, and lets one in when a member
// fails (at once if a member has failed before, else after max_failures failures).
TEST(DhtRoutingTable, FullBucketReplacement) {
  PeerId self = random_peer();
  KadId me = kad_id(self);
  RoutingTable rt(self, 3, 2);
  std::vector<PeerId> bucket0;  // peers whose first bit differs from ours
  while (bucket0.size() < 6) {
    PeerId p = random_peer();
    if (common_prefix_length(me, kad_id(p)) == 0) bucket0.push_back(p);
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rt.add(bucket0[i]), RoutingTable::AddResult::kAdded);
  EXPECT_EQ(rt.add(bucket0[3]), RoutingTable::AddResult::kPending);
  EXPECT_EQ(rt.add(bucket0[4]), RoutingTable::AddResult::kPending);
  EXPECT_FALSE(rt.contains(bucket0[3]));
  EXPECT_EQ(rt.size(), 3u);

  // One failure: not yet dropped; two: dropped, the most recent replacement moves in.
  EXPECT_FALSE(rt.mark_failed(bucket0[0]));
  EXPECT_TRUE(rt.contains(bucket0[0]));
  EXPECT_TRUE(rt.mark_failed(bucket0[0]));
  EXPECT_FALSE(rt.contains(bucket0[0]));
  EXPECT_TRUE(rt.contains(bucket0[4]));
  EXPECT_EQ(rt.size(), 3u);

  // A member that failed once makes room for a newcomer at once.
  EXPECT_FALSE(rt.mark_failed(bucket0[1]));
  EXPECT_EQ(rt.add(bucket0[5]), RoutingTable::AddResult::kReplaced);
  EXPECT_FALSE(rt.contains(bucket0[1]));
  EXPECT_TRUE(rt.contains(bucket0[5]));
  // A success clears the failures.
  EXPECT_FALSE(rt.mark_failed(bucket0[2]));
  EXPECT_EQ(rt.add(bucket0[2]), RoutingTable::AddResult::kUpdated);
  EXPECT_FALSE(rt.mark_failed(bucket0[2]));
  EXPECT_TRUE(rt.contains(bucket0[2]));

  EXPECT_TRUE(rt.remove(bucket0[2]));
  EXPECT_TRUE(rt.contains(bucket0[3]));  // the remaining replacement
  EXPECT_EQ(rt.max_bucket(), 0);
}

// --- messages ---------------------------------------------------------------------------

Message sample_message() {
  Message m;
  m.type = MessageType::kGetProviders;
  m.key = {1, 2, 3, 0, 255};
  m.record = Record{{'/', 'k'}, {9, 8, 7}, "2026-11-27T13:00:00.123Z"};
  m.closer.push_back(PeerInfo{random_peer(), {*Multiaddr::parse("/ip4/127.0.0.1/tcp/4001")}, true});
  m.providers.push_back(
      PeerInfo{random_peer(), {*Multiaddr::parse("/ip6/::1/tcp/1"), *Multiaddr::parse("/dns4/a.example/tcp/2")}, false});
  return m;
}

TEST(DhtMessages, RoundTrip) {
  Message m = sample_message();
  auto back = decode(encode(m));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->type, m.type);
  EXPECT_EQ(back->key, m.key);
  ASSERT_TRUE(back->record);
  EXPECT_EQ(back->record->key, m.record->key);
  EXPECT_EQ(back->record->value, m.record->value);
  EXPECT_EQ(back->record->time_received, m.record->time_received);
  ASSERT_EQ(back->closer.size(), 1u);
  EXPECT_EQ(back->closer[0].id, m.closer[0].id);
  EXPECT_EQ(back->closer[0].addrs, m.closer[0].addrs);
  EXPECT_TRUE(back->closer[0].connected);
  ASSERT_EQ(back->providers.size(), 1u);
  EXPECT_EQ(back->providers[0].addrs, m.providers[0].addrs);
  EXPECT_EQ(back->skipped_peers, 0u);

  Message ping;
  auto p = decode(encode(ping));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, MessageType::kPing);
  EXPECT_FALSE(p->record);
  for (int t = 0; t <= 5; ++t) EXPECT_NE(type_name(static_cast<MessageType>(t)), "UNKNOWN");
}

TEST(DhtMessages, RejectsMalformedBytes) {
  Bytes good = encode(sample_message());
  // Cut short inside a length-delimited field.
  Bytes cut(good.begin(), good.begin() + static_cast<ptrdiff_t>(good.size() / 2));
  EXPECT_FALSE(decode(cut));
  // Wire type 7 does not exist; a varint of 11 bytes; a length past the end.
  EXPECT_FALSE(decode(Bytes{0x0f, 0x00}));
  EXPECT_FALSE(decode(Bytes{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  EXPECT_FALSE(decode(Bytes{0x12, 0x40, 0x01}));
  // An unknown type decodes (the caller rejects it) and is never a known one.
  auto odd = decode(Bytes{0x08, 0x2a});
  ASSERT_TRUE(odd);
  EXPECT_FALSE(is_known(odd->type));
  EXPECT_EQ(type_name(odd->type), "UNKNOWN");
}

// Bad entries in the peer lists are skipped, not fatal: a peer id that is not one, an
// address of a protocol we do not know.
TEST(DhtMessages, SkipsBadPeersAndUnknownAddrs) {
  Message m = sample_message();
  Bytes bytes = encode(m);
  // closerPeers entry: id = "xx" (not a multihash).
  Bytes bad_peer{0x42, 0x04, 0x0a, 0x02, 'x', 'x'};
  bytes.insert(bytes.end(), bad_peer.begin(), bad_peer.end());
  // providerPeers entry: a good id with a /udp/1/quic-v1 address (0x01cc unknown to us).
  auto id = random_peer().bytes();
  Bytes quic{0x04, 127, 0, 0, 1, 0x91, 0x02, 0x00, 0x01, 0xcc, 0x03};
  Bytes entry{0x0a, static_cast<uint8_t>(id.size())};
  entry.insert(entry.end(), id.begin(), id.end());
  entry.push_back(0x12);
  entry.push_back(static_cast<uint8_t>(quic.size()));
  entry.insert(entry.end(), quic.begin(), quic.end());
  bytes.push_back(0x4a);
  bytes.push_back(static_cast<uint8_t>(entry.size()));
  bytes.insert(bytes.end(), entry.begin(), entry.end());
  auto back = decode(bytes);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->skipped_peers, 1u);
  EXPECT_EQ(back->closer.size(), 1u);
  ASSERT_EQ(back->providers.size(), 2u);
  EXPECT_TRUE(back->providers[1].addrs.empty());
}

TEST(DhtMessages, Rfc3339) {
  auto t = Clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
  EXPECT_EQ(rfc3339(t), "2023-11-14T22:13:20.123Z");
}

// --- validators -------------------------------------------------------------------------

TEST(DhtValidators, PublicKeyRecords) {
  Validators v;
  auto key = PrivateKey::generate();
  PeerId id = PeerId::from_public_key(key.public_key());
  auto value = key.public_key().encode();
  EXPECT_TRUE(v.validate(pk_key(id), value));
  // Another peer's key under this id; garbage; a key with no id.
  auto other = PrivateKey::generate().public_key().encode();
  EXPECT_FALSE(v.validate(pk_key(id), other));
  EXPECT_FALSE(v.validate(pk_key(id), Bytes{1, 2, 3}));
  EXPECT_FALSE(v.validate("/pk/", value));
  auto best = v.select(pk_key(id), {value, value});
  ASSERT_TRUE(best);
  EXPECT_EQ(*best, 0u);
}

TEST(DhtValidators, BzzzRecords) {
  Validators v;
  auto key = PrivateKey::generate();
  PeerId id = PeerId::from_public_key(key.public_key());
  std::string k = bzzz_key(id, "agents/one");
  EXPECT_EQ(k, "/bzzz/" + id.to_string() + "/agents/one");
  Bytes hello{'h', 'i'};
  Bytes r1 = make_bzzz_record(key, "agents/one", hello, 1);
  EXPECT_TRUE(v.validate(k, r1)) << v.validate(k, r1).error().message();
  auto parsed = decode_bzzz_record(r1);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->value, hello);
  EXPECT_EQ(parsed->seq, 1u);

  // Signed by someone else (under our id); under another name; tampered value/seq.
  auto mallory = PrivateKey::generate();
  BzzzRecord forged = *parsed;
  forged.public_key = mallory.public_key();
  auto sig = mallory.sign(bzzz_signing_payload(k, hello, 1));
  forged.signature.assign(sig.begin(), sig.end());
  EXPECT_FALSE(v.validate(k, encode_bzzz_record(forged)));
  EXPECT_FALSE(v.validate(bzzz_key(id, "agents/two"), r1));
  BzzzRecord tampered = *parsed;
  tampered.value = {'b', 'y', 'e'};
  EXPECT_FALSE(v.validate(k, encode_bzzz_record(tampered)));
  tampered = *parsed;
  tampered.seq = 2;
  EXPECT_FALSE(v.validate(k, encode_bzzz_record(tampered)));
  tampered = *parsed;
  tampered.signature[0] ^= 1;
  EXPECT_FALSE(v.validate(k, encode_bzzz_record(tampered)));
  // A key naming a peer id in another form, or no name, or garbage.
  EXPECT_FALSE(v.validate("/bzzz/" + id.to_cid() + "/agents/one", r1));
  EXPECT_FALSE(v.validate("/bzzz/" + id.to_string() + "/", r1));
  EXPECT_FALSE(v.validate("/bzzz/notapeer/x", r1));
  EXPECT_FALSE(v.validate(k, Bytes{0xff, 0xff}));

  // The highest seq wins, wherever it is.
  Bytes r5 = make_bzzz_record(key, "agents/one", Bytes{'5'}, 5);
  Bytes r3 = make_bzzz_record(key, "agents/one", Bytes{'3'}, 3);
  auto best = v.select(k, {r1, r5, r3});
  ASSERT_TRUE(best);
  EXPECT_EQ(*best, 1u);
  best = v.select(k, {r5, r1});
  EXPECT_EQ(*best, 0u);
}

TEST(DhtValidators, NamespacesAndExtraValidators) {
  Validators v;
  EXPECT_EQ(namespace_of("/pk/x"), "pk");
  EXPECT_EQ(namespace_of("/bzzz/a/b"), "bzzz");
  EXPECT_FALSE(namespace_of("/pk"));
  EXPECT_FALSE(namespace_of("nope/x"));
  EXPECT_FALSE(namespace_of("//x"));
  auto unknown = v.validate("/ipns/abc", Bytes{1});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("no validator"), std::string::npos);
  EXPECT_FALSE(v.validate("no-namespace", Bytes{1}));
  EXPECT_FALSE(v.select("/ipns/abc", {Bytes{1}}));

  Validator test;
  test.validate = [](std::string_view, std::span<const uint8_t> value) -> Status {
    if (value.empty()) return make_error(ErrorCode::kInvalidArgument, "empty");
    return ok();
  };
  test.select = [](std::string_view, const std::vector<Bytes>& values) -> size_t {
    return static_cast<size_t>(std::max_element(values.begin(), values.end()) - values.begin());
  };
  v.add("test", test);
  EXPECT_TRUE(v.has("test"));
  EXPECT_TRUE(v.validate("/test/a", Bytes{1}));
  EXPECT_FALSE(v.validate("/test/a", Bytes{}));
  EXPECT_EQ(*v.select("/test/a", {Bytes{1}, Bytes{3}, Bytes{2}}), 1u);
}

// --- record store -----------------------------------------------------------------------

class DhtRecordStore : public ::testing::TestWithParam<bool> {};

TEST_P(DhtRecordStore, RecordsProvidersExpiryAndReopen) {
  bzzz::testing::TempDir dir;
  const std::string path = GetParam() ? dir.sub("dht") : "";
  auto now = Clock::now();
  PeerId a = random_peer();
  PeerId b = random_peer();
  Bytes key1{0x12, 0x20, 1};
  Bytes key12{0x12, 0x20, 1, 2};  // key1 is a prefix of it: entries must not mix
  {
    auto s = RecordStore::open(path, 48h, 48h);
    ASSERT_TRUE(s) << s.error().message();
    auto& store = **s;
    ASSERT_TRUE(store.put_record("/test/fresh", StoredRecord{{1}, now, false}));
    ASSERT_TRUE(store.put_record("/test/old", StoredRecord{{2}, now - 49h, false}));
    ASSERT_TRUE(store.put_record("/test/mine", StoredRecord{{3}, now - 100h, true}));
    EXPECT_TRUE(store.get_record("/test/fresh", now));
    EXPECT_FALSE(store.get_record("/test/old", now));  // expired: ignored before any purge
    EXPECT_FALSE(store.get_record("/test/none", now));
    auto mine = store.get_record("/test/mine", now);
    ASSERT_TRUE(mine);
    EXPECT_TRUE(mine->own);
    EXPECT_EQ(store.record_count(), 3u);

    auto addr = *Multiaddr::parse("/ip4/10.0.0.1/tcp/4001");
    ASSERT_TRUE(store.add_provider(key1, ProviderEntry{a, {addr}, now, false}));
    ASSERT_TRUE(store.add_provider(key1, ProviderEntry{b, {addr}, now - 49h, false}));
    ASSERT_TRUE(store.add_provider(key12, ProviderEntry{b, {addr}, now, false}));
    ASSERT_TRUE(store.add_provider(key12, ProviderEntry{a, {}, now - 100h, true}));
    auto p1 = store.providers(key1, now);
    ASSERT_EQ(p1.size(), 1u);
    EXPECT_EQ(p1[0].peer, a);
    EXPECT_EQ(p1[0].addrs, std::vector<Multiaddr>{addr});
    EXPECT_EQ(store.providers(key12, now).size(), 2u);
    EXPECT_EQ(store.providers(key12, now, 1).size(), 1u);
    EXPECT_EQ(store.own_provider_keys(), std::vector<Bytes>{key12});
    ASSERT_EQ(store.own_records().size(), 1u);
    EXPECT_EQ(store.own_records()[0].first, "/test/mine");

    auto purged = store.purge(now);
    ASSERT_TRUE(purged);
    EXPECT_EQ(purged->records, 1u);
    EXPECT_EQ(purged->providers, 1u);
    EXPECT_EQ(store.record_count(), 2u);
    EXPECT_EQ(store.provider_count(), 3u);
  }
  if (path.empty()) return;
  auto s = RecordStore::open(path, 48h, 48h);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_TRUE((*s)->get_record("/test/fresh", now));
  EXPECT_TRUE((*s)->get_record("/test/mine", now));
  EXPECT_EQ((*s)->providers(key1, now).size(), 1u);
  EXPECT_EQ((*s)->provider_count(), 3u);
}

INSTANTIATE_TEST_SUITE_P(Backends, DhtRecordStore, ::testing::Values(false, true),
                         [](const auto& param_info) { return param_info.param ? std::string("Lmdb") : std::string("Memory"); });

}  // namespace
}  // namespace bzzz::p2p::dht
