#include "content/store/index.h"

#include <gtest/gtest.h>

#include "base/crypto/blake3.h"
#include "support/temp_dir.h"

namespace bzzz::store {
namespace {

BlobMeta meta(uint64_t size, Codec codec = Codec::kRaw, Location loc = Location::kPack) {
  BlobMeta m;
  m.size = size;
  m.stored_size = size / 2;
  m.codec = codec;
  m.location = loc;
  m.pack_id = 3;
  m.offset = 88;
  m.created_ns = 100;
  m.accessed_ns = 200;
  return m;
}

Hash key(int i) {
  uint8_t b[4] = {static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8), 1, 2};
  return blake3(b);
}

TEST(BlobMetaEncoding, RoundTrips) {
  BlobMeta m = meta(12345, Codec::kZstd, Location::kFile);
  m.pins = 3;
  auto decoded = decode_blob_meta(encode_blob_meta(m));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, m);
}

TEST(BlobMetaEncoding, RejectsDamage) {
  auto bytes = encode_blob_meta(meta(1));
  EXPECT_FALSE(decode_blob_meta(std::span<const uint8_t>(bytes).first(10)));
  bytes[1] = 7;  // codec
  EXPECT_NE(decode_blob_meta(bytes).error().message().find("codec 7"), std::string::npos);
}

TEST(IndexTest, PutGetEraseAndCountersFollow) {
  testing::TempDir dir;
  auto index = Index::open(dir.path());
  ASSERT_TRUE(index) << index.error().message();
  {
    auto batch = (*index)->begin();
    ASSERT_TRUE(batch);
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(batch->put(key(i), meta(1000, i % 2 ? Codec::kZstd : Codec::kRaw)));
    }
    ASSERT_TRUE(batch->put(key(0), meta(500)));  // overwrite: counters replace, not add
    ASSERT_TRUE(batch->erase(key(1)));
    ASSERT_TRUE(batch->erase(key(1000)));  // absent: no-op
    ASSERT_TRUE(batch->set_pack_checkpoint(3, 4096));
    ASSERT_TRUE(batch->commit());
  }
  auto c = (*index)->counters();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->blobs, 99u);
  EXPECT_EQ(c->logical_bytes, 98u * 1000 + 500);
  EXPECT_EQ(c->by_codec[1], 49u);
  EXPECT_EQ(c->by_codec[0], 50u);
  auto got = (*index)->get(key(0));
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->size, 500u);
  EXPECT_FALSE(*(*index)->get(key(1)));
  size_t scanned = 0;
  ASSERT_TRUE((*index)->scan([&](const Hash&, const BlobMeta&) { return ++scanned < 10; }));
  EXPECT_EQ(scanned, 10u);
  auto ck = (*index)->pack_checkpoints();
  ASSERT_TRUE(ck);
  EXPECT_EQ(ck->at(3), 4096u);
}

TEST(IndexTest, AbortedBatchChangesNothingAndReopenKeepsCommits) {
  testing::TempDir dir;
  {
    auto index = Index::open(dir.path());
    ASSERT_TRUE(index);
    auto batch = (*index)->begin();
    ASSERT_TRUE(batch->put(key(1), meta(10)));
    ASSERT_TRUE(batch->commit());
    auto aborted = (*index)->begin();
    ASSERT_TRUE(aborted->put(key(2), meta(10)));
    aborted->abort();
    ASSERT_TRUE((*index)->sync());
  }
  auto index = Index::open(dir.path());
  ASSERT_TRUE(index);
  EXPECT_TRUE(*(*index)->get(key(1)));
  EXPECT_FALSE(*(*index)->get(key(2)));
  EXPECT_EQ((*index)->counters()->blobs, 1u);
}

}  // namespace
}  // namespace bzzz::store
