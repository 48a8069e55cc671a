// gc, verify, optimize and index rebuild: the whole-store operations.
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "base/crypto/blake3.h"
#include "content/store/store.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace bzzz::store {
namespace {

namespace sfs = std::filesystem;
using testing::random_bytes;
using testing::TempDir;
using testing::text_bytes;
using testing::no_grace;
using testing::open_store;
using testing::flip_byte;

TEST(GcTest, RemovesUnpinnedBlobsPastTheGracePeriodOnly) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto keep = store->put(random_bytes(100000, 1));
  auto drop_big = store->put(random_bytes(100000, 2));
  auto drop_small = store->put(random_bytes(100, 3));
  ASSERT_TRUE(keep && drop_big && drop_small);
  ASSERT_TRUE(store->pin(keep->hash));

  auto recent = store->gc(GcOptions{});  // default grace: 1 h
  ASSERT_TRUE(recent);
  EXPECT_EQ(recent->removed, 0u);
  EXPECT_EQ(recent->kept_recent, 2u);
  EXPECT_EQ(recent->kept_pinned, 1u);

  auto dry = store->gc(GcOptions{std::chrono::nanoseconds(0), true});
  ASSERT_TRUE(dry);
  EXPECT_EQ(dry->removed, 2u);
  EXPECT_TRUE(store->contains(drop_big->hash));

  auto r = store->gc(no_grace());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->removed, 2u);
  EXPECT_EQ(r->removed_bytes, 100100u);
  EXPECT_FALSE(store->contains(drop_big->hash));
  EXPECT_FALSE(store->contains(drop_small->hash));
  EXPECT_FALSE(sfs::exists(store->blob_path(drop_big->hash)));
  EXPECT_TRUE(store->read(keep->hash));
  EXPECT_EQ(store->stats()->counters.blobs, 1u);
  EXPECT_TRUE(store->verify()->clean());
}

TEST(GcTest, NeverRemovesABlobAReaderHoldsOpen) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto put = store->put(random_bytes(3u << 20, 1));
  ASSERT_TRUE(put);
  // A sink that blocks mid-read until gc has run.
  struct Blocking final : ByteSink {
    std::promise<void> entered;
    std::shared_future<void> release;
    bool first = true;
    size_t bytes = 0;
    Status write(std::span<const uint8_t> d) override {
      if (first) {
        first = false;
        entered.set_value();
        release.wait();
      }
      bytes += d.size();
      return ok();
    }
  } sink;
  std::promise<void> go;
  sink.release = go.get_future().share();
  auto entered = sink.entered.get_future();
  std::thread reader([&] { EXPECT_TRUE(store->read_to(put->hash, sink)); });
  entered.wait();
  auto r = store->gc(no_grace());
  go.set_value();
  reader.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->removed, 0u);
  EXPECT_EQ(r->kept_in_use, 1u);
  EXPECT_EQ(sink.bytes, 3u << 20);
  EXPECT_TRUE(store->contains(put->hash));
}

TEST(GcTest, CompactsPacksThatAreMostlyGarbage) {
  TempDir dir;
  StoreOptions small_packs;
  small_packs.pack_target_bytes = 64 * 1024;
  small_packs.codec = Codec::kRaw;
  auto store = open_store(dir.path(), small_packs);
  std::vector<std::vector<uint8_t>> blobs;
  std::vector<Hash> hashes;
  for (int i = 0; i < 200; ++i) {
    blobs.push_back(random_bytes(3000, i));
    auto r = store->put(blobs.back());
    ASSERT_TRUE(r);
    hashes.push_back(r->hash);
    if (i % 10 == 0) {
      ASSERT_TRUE(store->pin(r->hash));  // one in ten survives
    }
  }
  auto before = store->stats();
  ASSERT_TRUE(before);
  EXPECT_GE(before->packs, 8u);
  auto r = store->gc(no_grace());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->removed, 180u);
  EXPECT_GE(r->packs_compacted, 7u);
  EXPECT_GT(r->pack_bytes_reclaimed, 400000u);
  auto after = store->stats();
  EXPECT_LT(after->pack_bytes, before->pack_bytes / 3);
  for (int i = 0; i < 200; i += 10) {
    EXPECT_EQ(*store->read(hashes[i]), blobs[i]);
  }
  EXPECT_TRUE(store->verify()->clean());
  // And the moved records are where a reopened store finds them.
  store.reset();
  store = open_store(dir.path(), small_packs);
  for (int i = 0; i < 200; i += 10) {
    EXPECT_EQ(*store->read(hashes[i]), blobs[i]);
  }
  EXPECT_EQ(store->stats()->counters.blobs, 20u);
}

TEST(VerifyTest, ReportsMissingAndOrphanedData) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto a = store->put(random_bytes(50000, 1));
  auto b = store->put(random_bytes(50000, 2));
  ASSERT_TRUE(a && b);
  sfs::remove(store->blob_path(a->hash));
  sfs::create_directories(dir.sub("blobs/data/ab/cd"));
  std::ofstream(dir.sub("blobs/data/ab/cd/stray")) << "x";
  std::ofstream(dir.sub("blobs/data/ab/cd/abcd" + std::string(60, '0'))) << "not indexed";
  auto r = store->verify();
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->clean());
  EXPECT_EQ(r->ok, 1u);
  ASSERT_EQ(r->missing.size(), 1u);
  EXPECT_EQ(r->missing[0].object, a->hash.hex());
  EXPECT_EQ(r->orphaned.size(), 2u);
}

TEST(OptimizeTest, RecompressesWithCurrentSettingsWhileReadersRead) {
  TempDir dir;
  StoreOptions raw;
  raw.codec = Codec::kRaw;
  std::vector<std::vector<uint8_t>> blobs;
  std::vector<Hash> hashes;
  {
    auto store = open_store(dir.path(), raw);
    for (int i = 0; i < 12; ++i) {
      blobs.push_back(i % 3 == 2 ? random_bytes(30000, i) : text_bytes(i % 2 ? 5000 : 300000, i));
      auto r = store->put(blobs.back());
      ASSERT_TRUE(r);
      EXPECT_EQ(r->meta.codec, Codec::kRaw);
      hashes.push_back(r->hash);
    }
  }
  auto store = open_store(dir.path());  // zstd by default
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!stop) {
      for (size_t i = 0; i < hashes.size(); ++i) {
        auto back = store->read(hashes[i]);
        ASSERT_TRUE(back) << back.error().message();
        ASSERT_EQ(*back, blobs[i]);
        ++reads;
      }
    }
  });
  auto r = store->optimize();
  stop = true;
  reader.join();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->examined, 12u);
  EXPECT_EQ(r->rewritten, 8u);  // the random ones stay raw
  EXPECT_LT(r->stored_after, r->stored_before / 3);
  EXPECT_EQ(store->stats()->corrupt_reads, 0u);
  EXPECT_GT(reads.load(), 0);
  for (size_t i = 0; i < hashes.size(); ++i) {
    EXPECT_EQ(store->stat(hashes[i])->codec, i % 3 == 2 ? Codec::kRaw : Codec::kZstd) << i;
    EXPECT_EQ(*store->read(hashes[i]), blobs[i]);
  }
  EXPECT_TRUE(store->verify()->clean());
  auto again = store->optimize();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->rewritten, 0u);
}

TEST(RebuildTest, RebuildsTheSameIndexFromTheDataAlone) {
  TempDir dir;
  auto store = open_store(dir.path());
  std::vector<Hash> hashes;
  for (int i = 0; i < 30; ++i) {
    auto data = i % 3 == 0 ? text_bytes(100000 + i, i) : random_bytes(i % 2 ? 700 : 40000, i);
    auto r = store->put(data);
    ASSERT_TRUE(r);
    hashes.push_back(r->hash);
    if (i % 4 == 0) {
      ASSERT_TRUE(store->pin(r->hash));
    }
  }
  ASSERT_TRUE(store->gc(GcOptions{std::chrono::nanoseconds(0), false}));  // leaves the pinned 8
  auto listing = [&] {
    std::vector<std::tuple<std::string, uint64_t, uint64_t, int, uint32_t>> out;
    EXPECT_TRUE(store->list([&](const Hash& h, const BlobMeta& m) {
      out.emplace_back(h.hex(), m.size, m.stored_size, static_cast<int>(m.codec), m.pins);
      return true;
    }));
    return out;
  };
  auto before = listing();
  EXPECT_EQ(before.size(), 8u);
  auto counters = store->stats()->counters;
  ASSERT_TRUE(store->rebuild_index());
  EXPECT_EQ(listing(), before);
  EXPECT_EQ(store->stats()->counters, counters);
  EXPECT_TRUE(store->verify()->clean());
}

}  // namespace
}  // namespace bzzz::store
