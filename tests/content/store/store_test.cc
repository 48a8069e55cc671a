#include "content/store/store.h"

#include "content/store/pack.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "base/crypto/blake3.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace bzzz::store {
namespace {

using testing::CollectSink;
namespace sfs = std::filesystem;
using testing::random_bytes;
using testing::TempDir;
using testing::text_bytes;
using testing::open_store;
using testing::flip_byte;

size_t files_in(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : sfs::recursive_directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

TEST(StoreTest, PutThenReadReturnsTheSameBytesAtEverySize) {
  TempDir dir;
  auto store = open_store(dir.path());
  for (size_t size : {0ul, 1ul, 63ul, 1024ul, 1025ul, 16384ul, 16385ul, 65536ul, (1ul << 20) + 1,
                      (3ul << 20) + 7}) {
    for (bool text : {false, true}) {
      auto data = text ? text_bytes(size, size) : random_bytes(size, size);
      auto put = store->put(data);
      ASSERT_TRUE(put) << put.error().message();
      EXPECT_EQ(put->hash, blake3(data)) << size;
      EXPECT_EQ(put->meta.size, size);
      EXPECT_EQ(put->meta.location, size <= 16384 ? Location::kPack : Location::kFile) << size;
      auto back = store->read(put->hash);
      ASSERT_TRUE(back) << back.error().message();
      EXPECT_EQ(*back, data) << size;
    }
  }
}

TEST(StoreTest, CompressesOnlyWhenItSaves) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto text = text_bytes(4u << 20, 1);
  auto noise = random_bytes(4u << 20, 2);
  auto small_text = text_bytes(8000, 3);
  auto t = store->put(text);
  auto n = store->put(noise);
  auto s = store->put(small_text);
  ASSERT_TRUE(t && n && s);
  EXPECT_EQ(t->meta.codec, Codec::kZstd);
  EXPECT_LT(t->meta.stored_size, text.size() / 5);
  EXPECT_EQ(n->meta.codec, Codec::kRaw);
  EXPECT_EQ(n->meta.stored_size, noise.size());
  EXPECT_EQ(sfs::file_size(store->blob_path(n->hash)), noise.size());
  EXPECT_EQ(s->meta.codec, Codec::kZstd);
  auto stats = store->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->counters.blobs, 3u);
  EXPECT_EQ(stats->counters.by_codec[static_cast<int>(Codec::kZstd)], 2u);
  EXPECT_EQ(stats->counters.logical_bytes, text.size() + noise.size() + small_text.size());
  EXPECT_LT(stats->compression_ratio, 0.75);
  EXPECT_GT(stats->disk_free_bytes, 0u);
}

TEST(StoreTest, GzipBlobsAreWrittenWhenAskedAndAlwaysReadable) {
  TempDir dir;
  StoreOptions gz;
  gz.codec = Codec::kGzip;
  gz.level = 6;
  auto big = text_bytes(1u << 20, 4);
  auto small = text_bytes(5000, 5);
  Hash hb, hs;
  {
    auto store = open_store(dir.path(), gz);
    auto b = store->put(big);
    auto s = store->put(small);
    ASSERT_TRUE(b && s);
    EXPECT_EQ(b->meta.codec, Codec::kGzip);
    EXPECT_EQ(s->meta.codec, Codec::kGzip);
    hb = b->hash;
    hs = s->hash;
  }
  auto store = open_store(dir.path());  // default settings: zstd for new blobs
  EXPECT_EQ(*store->read(hb), big);
  EXPECT_EQ(*store->read(hs), small);
}

TEST(StoreTest, DuplicatePutsStoreOnce) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto big = random_bytes(2u << 20, 7);
  auto small = random_bytes(3000, 8);
  auto first = store->put(big);
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->deduplicated);
  auto again = store->put(big);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->deduplicated);
  ASSERT_TRUE(store->put(small));
  EXPECT_TRUE(store->put(small)->deduplicated);
  EXPECT_EQ(store->stats()->counters.blobs, 2u);
  EXPECT_EQ(files_in(dir.sub("blobs/temp")), 0u);
}

TEST(StoreTest, ConcurrentPutsOfTheSameContentAreSafeAndStoredOnce) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto big = random_bytes(3u << 20, 9);
  auto small = random_bytes(4096, 10);
  std::vector<std::thread> threads;
  std::atomic<int> fresh{0};
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      auto r = store->put(t % 2 ? big : small);
      ASSERT_TRUE(r) << r.error().message();
      if (!r->deduplicated) ++fresh;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(fresh.load(), 2);
  EXPECT_EQ(store->stats()->counters.blobs, 2u);
  EXPECT_EQ(files_in(dir.sub("blobs/temp")), 0u);
  EXPECT_EQ(files_in(dir.sub("blobs/data")), 1u);
  auto report = store->verify();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean());
}

TEST(StoreTest, ConcurrentSmallPutsShareCommitsAndAllSurviveReopen) {
  TempDir dir;
  std::vector<Hash> hashes(8 * 500);
  {
    auto store = open_store(dir.path());
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 500; ++i) {
          auto data = random_bytes(64 + (i * 37) % 4000, t * 1000 + i);
          auto r = store->put(data);
          ASSERT_TRUE(r) << r.error().message();
          hashes[t * 500 + i] = r->hash;
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  auto store = open_store(dir.path());
  EXPECT_EQ(store->stats()->counters.blobs, hashes.size());
  for (int t = 0; t < 8; ++t) {
    for (int i = 0; i < 500; i += 50) {
      auto back = store->read(hashes[t * 500 + i]);
      ASSERT_TRUE(back);
      EXPECT_EQ(*back, random_bytes(64 + (i * 37) % 4000, t * 1000 + i));
    }
  }
}

TEST(StoreTest, ReplaysTheLogWhenTheIndexLostCommits) {
  TempDir dir;
  std::vector<std::vector<uint8_t>> blobs;
  for (int i = 0; i < 20; ++i) blobs.push_back(random_bytes(i % 2 ? 100 * i : 40000 + i, i));
  {
    auto store = open_store(dir.path());
    for (auto& b : blobs) ASSERT_TRUE(store->put(b));
  }
  // An index that never saw the commits (as after a power loss with an unsynced index).
  sfs::remove_all(dir.sub("index/data.mdb"));
  sfs::remove_all(dir.sub("index/lock.mdb"));
  auto store = open_store(dir.path());
  EXPECT_EQ(store->stats()->counters.blobs, blobs.size());
  for (auto& b : blobs) EXPECT_EQ(*store->read(blake3(b)), b);
  EXPECT_TRUE(store->verify()->clean());
}

TEST(StoreTest, ATornPackTailIsCutOffOnOpen) {
  TempDir dir;
  auto data = random_bytes(1000, 1);
  {
    auto store = open_store(dir.path());
    ASSERT_TRUE(store->put(data));
  }
  // The log ends after the file header and one record; a crash mid-append leaves part
  // of the next record there (the zeros after it are the pack's preallocated space).
  std::string pack = dir.sub("blobs/packs/pack-00000001.pack");
  const uint64_t log_end = kPackFileHeaderSize + kRecordHeaderSize + data.size();
  {
    std::fstream f(pack, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(log_end));
    f << "BZPK half a record, as a crash leaves it";
  }
  auto store = open_store(dir.path());
  EXPECT_EQ(sfs::file_size(pack), log_end);
  EXPECT_EQ(*store->read(blake3(data)), data);
  auto again = random_bytes(2000, 2);
  ASSERT_TRUE(store->put(again));
  store.reset();
  store = open_store(dir.path());
  EXPECT_EQ(*store->read(blake3(again)), again);
  EXPECT_TRUE(store->verify()->clean());
}

TEST(StoreTest, CorruptBlobsAreNeverServed) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto big = random_bytes(100000, 1);
  auto small = random_bytes(2000, 2);
  auto compressed = text_bytes(100000, 3);
  auto b = store->put(big);
  auto s = store->put(small);
  auto c = store->put(compressed);
  ASSERT_TRUE(b && s && c);
  flip_byte(store->blob_path(b->hash), 5000);
  flip_byte(dir.sub("blobs/packs/pack-00000001.pack"), s->meta.offset + 10);
  flip_byte(store->blob_path(c->hash), c->meta.stored_size / 2);
  for (const Hash& h : {b->hash, s->hash, c->hash}) {
    CollectSink sink;
    auto status = store->read_to(h, sink);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(status.error().message().find(h.hex()), std::string::npos) << status.error().message();
    EXPECT_TRUE(sink.data.empty()) << "corrupt bytes reached the sink";
  }
  EXPECT_EQ(store->stats()->corrupt_reads, 3u);
  auto report = store->verify();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->ok, 0u);
  for (const Hash& h : {b->hash, s->hash, c->hash}) {
    bool named = std::any_of(report->bad.begin(), report->bad.end(),
                             [&](const Problem& p) { return p.object == h.hex(); });
    EXPECT_TRUE(named) << h.hex() << " not reported bad";
  }
  EXPECT_EQ(report->bad.size(), 3u) << "each damaged blob is reported once";
}

TEST(StoreTest, PuttingTheSameContentRepairsACorruptBlob) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto big = random_bytes(100000, 1);
  auto small = random_bytes(2000, 2);
  auto b = store->put(big);
  auto s = store->put(small);
  ASSERT_TRUE(b && s);
  ASSERT_TRUE(store->pin(b->hash));
  flip_byte(store->blob_path(b->hash), 10);
  flip_byte(dir.sub("blobs/packs/pack-00000001.pack"), s->meta.offset + 10);
  EXPECT_FALSE(store->read(b->hash));  // detected by a read...
  auto report = store->verify();       // ...or by a scrub
  ASSERT_TRUE(report);
  EXPECT_EQ(report->bad.size(), 2u);
  EXPECT_TRUE(store->stat(b->hash)->corrupt);
  EXPECT_TRUE(store->stat(s->hash)->corrupt);
  for (const auto* data : {&big, &small}) {
    auto again = store->put(*data);
    ASSERT_TRUE(again);
    EXPECT_FALSE(again->deduplicated) << "a corrupt copy must be replaced, not kept";
    EXPECT_FALSE(again->meta.corrupt);
    EXPECT_EQ(*store->read(again->hash), *data);
  }
  EXPECT_EQ(store->stat(b->hash)->pins, 1u) << "the repair keeps the pins";
  EXPECT_TRUE(store->verify()->clean());
}

TEST(StoreTest, OneDamagedRecordCostsOnlyItsOwnBlob) {
  TempDir dir;
  std::vector<std::vector<uint8_t>> blobs;
  for (int i = 0; i < 5; ++i) blobs.push_back(random_bytes(3000, 100 + i));
  BlobMeta second;
  {
    auto store = open_store(dir.path());
    for (auto& b : blobs) ASSERT_TRUE(store->put(b));
    second = *store->stat(blake3(blobs[1]));
  }
  flip_byte(dir.sub("blobs/packs/pack-00000001.pack"), second.offset + 100);
  auto store = open_store(dir.path());
  ASSERT_TRUE(store->rebuild_index());
  for (int i = 0; i < 5; ++i) {
    auto back = store->read(blake3(blobs[i]));
    if (i == 1) {
      EXPECT_FALSE(back);
    } else {
      ASSERT_TRUE(back) << i << ": " << back.error().message();
      EXPECT_EQ(*back, blobs[i]);
    }
  }
  auto report = store->verify();
  ASSERT_TRUE(report);
  // No index entry points at the damaged record any more; the pack damage is reported.
  ASSERT_EQ(report->bad.size(), 1u);
  EXPECT_NE(report->bad[0].object.find("pack-00000001.pack"), std::string::npos);
  EXPECT_NE(report->bad[0].reason.find("damaged bytes"), std::string::npos);
}

TEST(StoreTest, PinsCountAndSurviveTheIndex) {
  TempDir dir;
  auto data = random_bytes(500, 1);
  Hash h = blake3(data);
  {
    auto store = open_store(dir.path());
    auto missing = store->pin(h);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
    ASSERT_TRUE(store->put(data));
    EXPECT_EQ(*store->pin(h), 1u);
    EXPECT_EQ(*store->pin(h), 2u);
    EXPECT_EQ(*store->unpin(h), 1u);
  }
  sfs::remove_all(dir.sub("index/data.mdb"));
  auto store = open_store(dir.path());
  auto pins = store->pins();
  ASSERT_TRUE(pins);
  ASSERT_EQ(pins->size(), 1u);
  EXPECT_EQ((*pins)[0].pins, 1u);
  EXPECT_EQ(*store->unpin(h), 0u);
  auto again = store->unpin(h);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(again.error().message().find("not pinned"), std::string::npos);
}

TEST(StoreTest, OneProcessOwnsADataDir) {
  TempDir dir;
  auto store = open_store(dir.path());
  StoreOptions quick;
  quick.lock_timeout = std::chrono::milliseconds(100);
  auto second = Store::open(dir.path(), quick);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kBusy);
  EXPECT_NE(second.error().message().find(std::to_string(::getpid())), std::string::npos)
      << second.error().message();
}

TEST(StoreTest, AFailingSinkStopsTheRead) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto put = store->put(random_bytes(3u << 20, 1));
  ASSERT_TRUE(put);
  struct Failing final : ByteSink {
    Status write(std::span<const uint8_t>) override {
      return make_error(ErrorCode::kNoSpace, "sink full");
    }
  } sink;
  auto status = store->read_to(put->hash, sink);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kNoSpace);
  EXPECT_EQ(store->stats()->corrupt_reads, 0u);
}

TEST(StoreTest, UnknownBlobsAreNotFound) {
  TempDir dir;
  auto store = open_store(dir.path());
  Hash h = blake3(std::vector<uint8_t>{1, 2, 3});
  EXPECT_EQ(store->read(h).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store->stat(h).error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(store->contains(h));
}

}  // namespace
}  // namespace bzzz::store
