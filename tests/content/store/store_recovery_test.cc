// Recovery paths found by review: what compaction must keep in the log, what a failed
// open must not write, how replay orders pins and tombstones, and how damage to the
// pins journal stays local.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "base/crypto/blake3.h"
#include "content/store/store.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace bzzz::store {
namespace {

namespace sfs = std::filesystem;
using testing::flip_byte;
using testing::no_grace;
using testing::open_store;
using testing::random_bytes;
using testing::TempDir;

uint32_t pins_of(Store& s, const Hash& h) {
  auto m = s.stat(h);
  return m ? m->pins : 9999;
}

StoreOptions small_raw_packs(uint64_t pack_bytes) {
  StoreOptions o;
  o.pack_target_bytes = pack_bytes;
  o.codec = Codec::kRaw;
  return o;
}

TEST(RecoveryTest, CompactionKeepsLargeBlobsInTheLogWithTheirPins) {
  TempDir dir;
  auto store = open_store(dir.path(), small_raw_packs(64 * 1024));
  auto x = store->put(random_bytes(100000, 7));
  ASSERT_TRUE(x);
  ASSERT_TRUE(store->pin(x->hash));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(store->put(random_bytes(3000, 100 + i)));
  auto r = store->gc(no_grace());
  ASSERT_TRUE(r);
  ASSERT_GE(r->packs_compacted, 1u) << "the pack holding x's intent must have been compacted";
  ASSERT_TRUE(store->rebuild_index());
  EXPECT_EQ(pins_of(*store, x->hash), 1u);
  ASSERT_TRUE(store->gc(no_grace()));
  EXPECT_TRUE(store->contains(x->hash)) << "a pinned blob was collected after a rebuild";
  EXPECT_TRUE(sfs::exists(store->blob_path(x->hash)));
  EXPECT_TRUE(store->verify()->clean());
}

TEST(RecoveryTest, RebuildNeverDeletesARePutFile) {
  TempDir dir;
  auto store = open_store(dir.path(), small_raw_packs(256 * 1024));
  int seed = 1000;
  auto seal = [&](bool pin) {  // fills the active pack until a new one starts
    uint64_t packs = store->stats()->packs;
    while (store->stats()->packs == packs) {
      auto r = store->put(random_bytes(3000, seed++));
      ASSERT_TRUE(r);
      if (pin) {
        ASSERT_TRUE(store->pin(r->hash));
      }
    }
  };
  seal(true);
  auto x = store->put(random_bytes(100000, 7));
  ASSERT_TRUE(x);
  seal(false);
  ASSERT_TRUE(store->gc(no_grace()));  // x removed: a tombstone
  seal(false);
  ASSERT_TRUE(store->gc(no_grace()));  // the tombstone's pack compacted: carried forward
  seal(true);
  auto again = store->put(random_bytes(100000, 7));
  ASSERT_TRUE(again && !again->deduplicated);
  ASSERT_TRUE(store->pin(x->hash));
  seal(false);
  ASSERT_TRUE(store->gc(no_grace()));
  ASSERT_TRUE(store->contains(x->hash));
  ASSERT_TRUE(store->rebuild_index());
  EXPECT_TRUE(store->contains(x->hash));
  EXPECT_TRUE(sfs::exists(store->blob_path(x->hash)));
  EXPECT_EQ(pins_of(*store, x->hash), 1u);
  EXPECT_EQ(*store->read(x->hash), random_bytes(100000, 7));
}

TEST(RecoveryTest, AFailedOpenWritesNothing) {
  TempDir dir;
  auto options = small_raw_packs(64 * 1024);
  Hash h;
  {
    auto store = open_store(dir.path(), options);
    auto x = store->put(random_bytes(1000, 7));
    ASSERT_TRUE(x);
    h = x->hash;
    ASSERT_TRUE(store->pin(h));
    for (int i = 0; i < 60; ++i) ASSERT_TRUE(store->put(random_bytes(3000, 100 + i)));
  }
  std::string first_pack = dir.sub("blobs/packs/pack-00000001.pack");
  flip_byte(first_pack, 0);
  {
    auto broken = Store::open(dir.path(), options);
    ASSERT_FALSE(broken);
    EXPECT_NE(broken.error().message().find("pack-00000001.pack"), std::string::npos)
        << broken.error().message();
  }
  flip_byte(first_pack, 0);
  auto store = open_store(dir.path(), options);
  EXPECT_EQ(pins_of(*store, h), 1u);
}

TEST(RecoveryTest, AnUnpinThenGcSurvivesLostIndexCommits) {
  TempDir dir;
  Hash h;
  {
    auto store = open_store(dir.path());
    auto x = store->put(random_bytes(100000, 7));
    ASSERT_TRUE(x);
    h = x->hash;
    ASSERT_TRUE(store->pin(h));
  }
  // The index as it was synced then; the commits after it are "lost" below.
  sfs::copy(dir.sub("index"), dir.sub("index.bak"), sfs::copy_options::recursive);
  {
    auto store = open_store(dir.path());
    ASSERT_TRUE(store->unpin(h));
    auto r = store->gc(no_grace());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->removed, 1u);
  }
  sfs::remove_all(dir.sub("index"));
  sfs::rename(dir.sub("index.bak"), dir.sub("index"));
  auto store = open_store(dir.path());
  EXPECT_FALSE(store->contains(h));
  auto v = store->verify();
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->clean()) << (v->missing.empty() ? "" : v->missing[0].reason);
}

TEST(RecoveryTest, ADamagedPinRecordCostsOnlyItself) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto a = store->put(random_bytes(1000, 1));
  auto b = store->put(random_bytes(1000, 2));
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(store->pin(a->hash));
  ASSERT_TRUE(store->pin(b->hash));
  flip_byte(dir.sub("blobs/pins.journal"), 10);  // inside a's record
  ASSERT_TRUE(store->rebuild_index());
  EXPECT_EQ(pins_of(*store, a->hash), 0u);
  EXPECT_EQ(pins_of(*store, b->hash), 1u);
  EXPECT_EQ(sfs::file_size(dir.sub("blobs/pins.journal")), 88u) << "no acknowledged record truncated";
}

TEST(RecoveryTest, AnIndexOpenAcrossAPowerLossIsRebuiltFromTheLog) {
  TempDir dir;
  auto small = random_bytes(1000, 1);
  auto large = random_bytes(100000, 2);
  {
    auto store = open_store(dir.path());
    ASSERT_TRUE(store->put(small));
    auto l = store->put(large);
    ASSERT_TRUE(l);
    ASSERT_TRUE(store->pin(l->hash));
    std::string mark;
    std::getline(std::ifstream(dir.sub("index/OPEN")), mark);
    EXPECT_NE(mark, "closed") << "an open store is marked with the boot id";
  }
  std::string mark;
  std::getline(std::ifstream(dir.sub("index/OPEN")), mark);
  EXPECT_EQ(mark, "closed") << "a clean close says so";
  // As the machine left it after losing power with the store open: a mark from another
  // boot, and an index whose unsynced pages are garbage.
  { std::ofstream(dir.sub("index/OPEN")) << "another-boot\n"; }
  {
    std::ofstream garbage(dir.sub("index/data.mdb"), std::ios::binary | std::ios::trunc);
    garbage << std::string(8192, 'x');
  }
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->read(blake3(small)), small);
  EXPECT_EQ(*store->read(blake3(large)), large);
  EXPECT_EQ(pins_of(*store, blake3(large)), 1u);
  EXPECT_TRUE(store->verify()->clean());
}

}  // namespace
}  // namespace bzzz::store
