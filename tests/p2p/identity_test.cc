// Keys, peer ids and the identity file, against libp2p's published vectors.
#include <sys/stat.h>

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/encoding/hex.h"
#include "p2p/identity/identity.h"
#include "support/temp_dir.h"

namespace bzzz::p2p {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> unhex(std::string_view h) { return *hex_decode(h); }

// Seed 00..01 -> the key, protobuf and peer id given in research/libp2p.md (js-generated).
TEST(PeerIdTest, Ed25519VectorFromSeed) {
  std::array<uint8_t, 32> seed{};
  seed[31] = 1;
  auto key = PrivateKey::from_seed(seed);
  EXPECT_EQ(hex_encode(key.public_key().encode()),
            "080112204cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29");
  auto id = PeerId::from_public_key(key.public_key());
  EXPECT_EQ(hex_encode(id.bytes()),
            "0024080112204cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29");
  EXPECT_EQ(id.to_string(), "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp");
  ASSERT_TRUE(id.public_key());
  EXPECT_EQ(*id.public_key(), key.public_key());

  auto parsed = PeerId::parse("12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp");
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(*parsed, id);
  auto from_cid = PeerId::parse(id.to_cid());  // the CIDv1 libp2p-key form parses back
  ASSERT_TRUE(from_cid) << id.to_cid() << ": " << from_cid.error().message();
  EXPECT_EQ(*from_cid, id);
  EXPECT_TRUE(id.to_cid().starts_with("bafz")) << id.to_cid();
}

TEST(PeerIdTest, SignaturesVerifyOnlyForTheirMessageAndKey) {
  auto a = PrivateKey::generate(), b = PrivateKey::generate();
  std::vector<uint8_t> msg{1, 2, 3};
  auto sig = a.sign(msg);
  EXPECT_TRUE(a.public_key().verify(msg, sig));
  EXPECT_FALSE(b.public_key().verify(msg, sig));
  msg[0] = 9;
  EXPECT_FALSE(a.public_key().verify(msg, sig));
  auto round = PrivateKey::decode(a.encode());
  ASSERT_TRUE(round);
  EXPECT_EQ(round->public_key(), a.public_key());
}

TEST(PeerIdTest, MalformedIdsAndKeysAreNamed) {
  // A sha2-256 peer id ("Qm...") parses; it embeds no key.
  auto qm = PeerId::parse("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
  ASSERT_TRUE(qm) << qm.error().message();
  EXPECT_FALSE(qm->public_key());
  for (std::string_view bad : {"", "12D3KooW", "hello", "QmO0", "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"}) {
    auto r = PeerId::parse(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_THAT(r.error().message(), HasSubstr("invalid peer id")) << bad;
    }
  }
  EXPECT_FALSE(PublicKey::decode(unhex("0801122001")));        // Data shorter than it claims
  auto short_key = unhex("08011210");
  short_key.resize(short_key.size() + 16);
  EXPECT_FALSE(PublicKey::decode(short_key));  // a 16-byte Ed25519 key
  EXPECT_FALSE(PublicKey::decode(unhex("1a00")));              // unknown field
}

TEST(IdentityTest, CreatedOnceKeptPrivateAndRefusedWhenReadable) {
  testing::TempDir dir;
  auto first = load_or_create_identity(dir.path());
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_TRUE(first->created);
  struct stat st;
  ASSERT_EQ(::stat((dir.path() + "/identity.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = load_or_create_identity(dir.path());
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->peer_id, first->peer_id);

  ::chmod((dir.path() + "/identity.key").c_str(), 0644);
  auto refused = load_or_create_identity(dir.path());
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message(), HasSubstr("chmod 600"));

  ::chmod((dir.path() + "/identity.key").c_str(), 0600);
  std::ofstream(dir.path() + "/identity.key", std::ios::binary | std::ios::trunc) << "garbage";
  auto garbage = load_or_create_identity(dir.path());
  ASSERT_FALSE(garbage);
  EXPECT_THAT(garbage.error().message(), HasSubstr("identity.key"));
}

}  // namespace
}  // namespace bzzz::p2p
