// The read cache: bounded, least recently used out first, and forgetting removed blobs.
#include "content/store/read_cache.h"

#include <gtest/gtest.h>

#include "base/crypto/blake3.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace bzzz::store {
namespace {

std::vector<uint8_t> bytes_of(size_t n, uint8_t fill) { return std::vector<uint8_t>(n, fill); }

TEST(ReadCacheTest, KeepsTheMostRecentlyUsedWithinItsBudget) {
  ReadCache cache(3000, 1000);
  std::vector<Hash> hashes;
  for (uint8_t i = 0; i < 4; ++i) {
    auto b = bytes_of(1000, i);
    hashes.push_back(blake3(b));
    cache.put(hashes.back(), BlobMeta{}, b);
    if (i == 2) {
      ASSERT_TRUE(cache.get(hashes[0]));  // 0 becomes the most recent
    }
  }
  EXPECT_TRUE(cache.get(hashes[0]));
  EXPECT_FALSE(cache.get(hashes[1]));  // the least recently used went
  EXPECT_TRUE(cache.get(hashes[2]));
  EXPECT_TRUE(cache.get(hashes[3]));
  EXPECT_LE(cache.bytes(), 3000u);
  auto big = bytes_of(1001, 9);
  cache.put(blake3(big), BlobMeta{}, big);
  EXPECT_FALSE(cache.get(blake3(big)));  // over the entry limit: never cached
  cache.erase(hashes[0]);
  EXPECT_FALSE(cache.get(hashes[0]));
}

TEST(ReadCacheTest, TheStoreServesHotBlobsFromMemoryAndForgetsWhatGcRemoves) {
  testing::TempDir dir;
  auto store = testing::open_store(dir.path());
  auto data = testing::random_bytes(4096, 1);
  auto put = store->put(data);
  ASSERT_TRUE(put);
  auto hit = store->cached(put->hash);
  ASSERT_TRUE(hit);
  EXPECT_EQ(*hit->bytes, std::string(data.begin(), data.end()));
  EXPECT_EQ(hit->meta.size, data.size());
  ASSERT_TRUE(store->gc(testing::no_grace()));
  EXPECT_FALSE(store->contains(put->hash));
  EXPECT_FALSE(store->cached(put->hash));  // a removed blob is not served from memory

  StoreOptions off;
  off.read_cache_bytes = 0;
  testing::TempDir dir2;
  auto plain = testing::open_store(dir2.path(), off);
  auto again = plain->put(data);
  ASSERT_TRUE(again);
  EXPECT_FALSE(plain->cached(again->hash));
}

}  // namespace
}  // namespace bzzz::store
