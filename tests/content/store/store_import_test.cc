// Verified imports: blobs put by 1 MiB pieces in any order (bytes fetched from peers),
// checked against a piece tree proven up front.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/crypto/blake3.h"
#include "content/store/store.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace bzzz::store {
namespace {

using ::testing::HasSubstr;
using testing::open_store;
using testing::random_bytes;
using testing::TempDir;

constexpr size_t kMiB = kPieceBytes;

// What a sender offers: the blob's piece tree and its tail.
struct Offer {
  std::vector<uint8_t> data;
  Hash hash;
  PieceTree tree;
  std::vector<uint8_t> tail;

  std::span<const uint8_t> piece(size_t i) const {
    return std::span<const uint8_t>(data).subspan(i * kMiB, kMiB);
  }
};

Offer offer(std::vector<uint8_t> data) {
  Offer o;
  o.hash = blake3(data);
  o.tree = piece_tree(data);
  o.tail.assign(data.begin() + static_cast<std::ptrdiff_t>(o.tree.tail_offset()), data.end());
  o.data = std::move(data);
  return o;
}

Result<std::unique_ptr<Import>> begin_import_of(Store& store, const Offer& o) {
  return store.begin_import(o.hash, o.tree, o.tail);
}

// The error's code, or none when it succeeded.
std::optional<ErrorCode> code_of(const Status& status) {
  if (status) return std::nullopt;
  return status.error().code();
}

std::vector<std::string> temp_files(const std::string& data_dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(data_dir + "/blobs/temp")) {
    out.push_back(e.path().string());
  }
  return out;
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

TEST(ImportTest, PiecesInAnyOrderMakeTheBlobPutWouldStore) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto o = offer(random_bytes(5 * kMiB + kMiB / 2, 1));
  auto import = begin_import_of(*store, o);
  ASSERT_TRUE(import) << import.error().message();
  Import& im = **import;
  ASSERT_EQ(im.piece_count(), 5u);
  EXPECT_EQ(im.missing(), (std::vector<size_t>{0, 1, 2, 3, 4}));
  EXPECT_FALSE(im.complete());
  for (size_t i = im.piece_count(); i-- > 0;) {
    ASSERT_TRUE(im.write_piece(i, o.piece(i))) << i;
  }
  EXPECT_TRUE(im.missing().empty());
  EXPECT_TRUE(im.complete());
  auto put = im.finish();
  ASSERT_TRUE(put) << put.error().message();
  EXPECT_EQ(put->hash, o.hash);
  EXPECT_FALSE(put->deduplicated);
  EXPECT_EQ(put->meta.codec, Codec::kRaw);
  EXPECT_EQ(put->meta.location, Location::kFile);
  EXPECT_EQ(put->meta.size, o.data.size());
  EXPECT_EQ(put->meta.stored_size, o.data.size());
  EXPECT_TRUE(temp_files(dir.path()).empty());

  auto back = store->read(o.hash);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, o.data);
  auto meta = store->stat(o.hash);
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->codec, Codec::kRaw);
  EXPECT_EQ(meta->location, Location::kFile);

  // The same file, byte for byte, as a put into a store that never compresses.
  TempDir raw_dir;
  StoreOptions raw;
  raw.codec = Codec::kRaw;
  auto raw_store = open_store(raw_dir.path(), raw);
  auto raw_put = raw_store->put(o.data);
  ASSERT_TRUE(raw_put);
  EXPECT_EQ(raw_put->meta.codec, put->meta.codec);
  EXPECT_EQ(raw_put->meta.location, put->meta.location);
  EXPECT_EQ(raw_put->meta.stored_size, put->meta.stored_size);
  EXPECT_EQ(file_bytes(store->blob_path(o.hash)), file_bytes(raw_store->blob_path(o.hash)));

  // Shuffled, another blob.
  auto o2 = offer(random_bytes(4 * kMiB + 3, 2));
  auto import2 = begin_import_of(*store, o2);
  ASSERT_TRUE(import2);
  std::vector<size_t> order{0, 1, 2, 3};
  std::shuffle(order.begin(), order.end(), std::mt19937(5));
  for (size_t i : order) ASSERT_TRUE((*import2)->write_piece(i, o2.piece(i)));
  auto put2 = (*import2)->finish();
  ASSERT_TRUE(put2) << put2.error().message();
  auto back2 = store->read(o2.hash);
  ASSERT_TRUE(back2);
  EXPECT_EQ(*back2, o2.data);
}

TEST(ImportTest, PiecesFromSeveralThreadsAtOnce) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto o = offer(random_bytes(12 * kMiB + 77, 3));
  auto import = begin_import_of(*store, o);
  ASSERT_TRUE(import);
  Import& im = **import;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      // Every thread writes its own pieces and, overlapping, its neighbour's.
      for (size_t i = t; i < im.piece_count(); i += 2) {
        if (!im.write_piece(i, o.piece(i))) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto put = im.finish();
  ASSERT_TRUE(put) << put.error().message();
  auto back = store->read(o.hash);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, o.data);
}

TEST(ImportTest, AnOfferThatDoesNotProveTheHashIsRefused) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto o = offer(random_bytes(3 * kMiB + 100, 4));
  auto expect_corrupt = [&](const Hash& hash, const PieceTree& tree,
                            const std::vector<uint8_t>& tail) {
    auto import = store->begin_import(hash, tree, tail);
    ASSERT_FALSE(import);
    EXPECT_EQ(import.error().code(), ErrorCode::kCorrupt);
    EXPECT_THAT(import.error().message(), HasSubstr(hash.hex()));
  };

  auto tail = o.tail;
  tail[7] ^= 1;
  expect_corrupt(o.hash, o.tree, tail);  // a wrong tail
  auto tree = o.tree;
  tree.cvs[1][0] ^= 1;
  expect_corrupt(o.hash, tree, o.tail);  // a wrong chaining value
  expect_corrupt(blake3(o.tail), o.tree, o.tail);  // another hash
  // Shapes no blob has: a short tail, a tail that should hold a piece, no tail at all.
  expect_corrupt(o.hash, o.tree, std::vector<uint8_t>(o.tail.begin(), o.tail.end() - 1));
  PieceTree fewer = o.tree;
  fewer.cvs.pop_back();
  std::vector<uint8_t> longer(o.data.begin() + 2 * kMiB, o.data.end());
  fewer.size = o.tree.size;
  expect_corrupt(o.hash, fewer, longer);
  auto even = offer(random_bytes(3 * kMiB, 5));
  ASSERT_EQ(even.tree.cvs.size(), 2u);  // the last piece holds the last chunk: the tail
  auto longer_data = even.data;
  longer_data.push_back(1);
  PieceTree no_tail = piece_tree(longer_data);  // its first 3 pieces are even's bytes
  ASSERT_EQ(no_tail.cvs.size(), 3u);
  no_tail.size = 3 * kMiB;
  expect_corrupt(even.hash, no_tail, {});
  PieceTree lying = even.tree;
  lying.size += 1;
  expect_corrupt(even.hash, lying, even.tail);
  EXPECT_TRUE(temp_files(dir.path()).empty());
}

TEST(ImportTest, ACorruptPieceIsRefusedAndNothingWritten) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto o = offer(random_bytes(3 * kMiB + 5, 6));
  auto import = begin_import_of(*store, o);
  ASSERT_TRUE(import);
  Import& im = **import;
  ASSERT_TRUE(im.write_piece(0, o.piece(0)));

  auto good = o.piece(1);
  std::vector<uint8_t> bad(good.begin(), good.end());
  bad[4242] ^= 0x10;
  auto refused = im.write_piece(1, bad);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kCorrupt);
  EXPECT_THAT(refused.error().message(), HasSubstr("piece 1"));
  EXPECT_THAT(refused.error().message(), HasSubstr(o.hash.hex()));
  // Another piece's bytes, a short piece and a piece that does not exist.
  EXPECT_EQ(code_of(im.write_piece(1, o.piece(2))), ErrorCode::kCorrupt);
  EXPECT_EQ(code_of(im.write_piece(1, good.first(kMiB - 1))), ErrorCode::kCorrupt);
  EXPECT_EQ(code_of(im.write_piece(3, good)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(im.missing(), (std::vector<size_t>{1, 2}));

  auto temps = temp_files(dir.path());
  ASSERT_EQ(temps.size(), 1u);
  auto staged = file_bytes(temps[0]);
  ASSERT_EQ(staged.size(), o.data.size());  // sized up front
  EXPECT_TRUE(std::all_of(staged.begin() + kMiB, staged.begin() + 2 * kMiB,
                          [](uint8_t b) { return b == 0; }));

  ASSERT_TRUE(im.write_piece(1, o.piece(1)));
  ASSERT_TRUE(im.write_piece(2, o.piece(2)));
  ASSERT_TRUE(im.write_piece(2, o.piece(2)));  // again: harmless
  auto put = im.finish();
  ASSERT_TRUE(put) << put.error().message();
  auto back = store->read(o.hash);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, o.data);
  EXPECT_EQ(code_of(im.write_piece(0, o.piece(0))), ErrorCode::kInternal);
  EXPECT_FALSE(im.finish());
}

TEST(ImportTest, FinishNamesTheFirstMissingPieceAndCanBeRetried) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto o = offer(random_bytes(5 * kMiB + 1, 7));
  auto import = begin_import_of(*store, o);
  ASSERT_TRUE(import);
  Import& im = **import;
  for (size_t i : {0u, 1u, 4u}) ASSERT_TRUE(im.write_piece(i, o.piece(i)));
  auto early = im.finish();
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(early.error().message(), HasSubstr("missing piece 2"));
  EXPECT_THAT(early.error().message(), HasSubstr(o.hash.hex()));
  EXPECT_FALSE(store->contains(o.hash));
  for (size_t i : {2u, 3u}) ASSERT_TRUE(im.write_piece(i, o.piece(i)));
  auto put = im.finish();
  ASSERT_TRUE(put) << put.error().message();
  EXPECT_TRUE(store->contains(o.hash));
}

TEST(ImportTest, BlobsWithoutFullPiecesAreTheirTail) {
  TempDir dir;
  auto store = open_store(dir.path());
  for (size_t size : {size_t{0}, size_t{100}, size_t{16384}, size_t{16385}, kMiB - 1, kMiB}) {
    auto o = offer(random_bytes(size, size + 11));
    ASSERT_TRUE(o.tree.cvs.empty()) << size;
    auto import = begin_import_of(*store, o);
    ASSERT_TRUE(import) << size << ": " << import.error().message();
    EXPECT_EQ((*import)->piece_count(), 0u);
    EXPECT_TRUE((*import)->complete());
    EXPECT_EQ(code_of((*import)->write_piece(0, o.data)), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(temp_files(dir.path()).empty());
    auto put = (*import)->finish();
    ASSERT_TRUE(put) << size << ": " << put.error().message();
    EXPECT_EQ(put->hash, o.hash);
    EXPECT_EQ(put->meta.location, size <= 16384 ? Location::kPack : Location::kFile) << size;
    auto back = store->read(o.hash);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, o.data) << size;
  }
}

TEST(ImportTest, TwoMiBIsOnePieceAndAOneMiBTail) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto o = offer(random_bytes(2 * kMiB, 8));
  ASSERT_EQ(o.tree.cvs.size(), 1u);
  ASSERT_EQ(o.tail.size(), kMiB);
  auto import = begin_import_of(*store, o);
  ASSERT_TRUE(import) << import.error().message();
  ASSERT_TRUE((*import)->write_piece(0, o.piece(0)));
  EXPECT_EQ(code_of((*import)->write_piece(1, o.tail)), ErrorCode::kInvalidArgument);
  auto put = (*import)->finish();
  ASSERT_TRUE(put) << put.error().message();
  auto back = store->read(o.hash);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, o.data);
}

TEST(ImportTest, AnAbandonedImportLeavesNothingBehind) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto o = offer(random_bytes(3 * kMiB + 9, 9));
  {
    auto import = begin_import_of(*store, o);
    ASSERT_TRUE(import);
    ASSERT_TRUE((*import)->write_piece(1, o.piece(1)));
    EXPECT_EQ(temp_files(dir.path()).size(), 1u);
  }
  EXPECT_TRUE(temp_files(dir.path()).empty());
  EXPECT_FALSE(store->contains(o.hash));
}

TEST(ImportTest, ContentAlreadyStoredIsDeduplicated) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto o = offer(random_bytes(2 * kMiB + 500, 10));
  auto stored = store->put(o.data);
  ASSERT_TRUE(stored);
  auto import = begin_import_of(*store, o);
  ASSERT_TRUE(import);
  for (size_t i = 0; i < (*import)->piece_count(); ++i) {
    ASSERT_TRUE((*import)->write_piece(i, o.piece(i)));
  }
  auto put = (*import)->finish();
  ASSERT_TRUE(put) << put.error().message();
  EXPECT_TRUE(put->deduplicated);
  EXPECT_EQ(put->meta.location, stored->meta.location);
  EXPECT_TRUE(temp_files(dir.path()).empty());

  // Two imports of the same new blob at once: one stores it, the other finds it stored.
  auto o2 = offer(random_bytes(3 * kMiB + 1, 11));
  auto a = begin_import_of(*store, o2);
  auto b = begin_import_of(*store, o2);
  ASSERT_TRUE(a && b);
  for (size_t i = 0; i < o2.tree.cvs.size(); ++i) {
    ASSERT_TRUE((*a)->write_piece(i, o2.piece(i)));
    ASSERT_TRUE((*b)->write_piece(i, o2.piece(i)));
  }
  auto put_a = (*a)->finish();
  auto put_b = (*b)->finish();
  ASSERT_TRUE(put_a && put_b);
  EXPECT_FALSE(put_a->deduplicated);
  EXPECT_TRUE(put_b->deduplicated);
  EXPECT_TRUE(temp_files(dir.path()).empty());
  auto back = store->read(o2.hash);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, o2.data);
}

TEST(ImportTest, AnImportedBlobIsServedPiecewiseAtOnceAndSurvivesAReopen) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto o = offer(random_bytes(4 * kMiB + kMiB / 3, 12));
  auto import = begin_import_of(*store, o);
  ASSERT_TRUE(import);
  for (size_t i = 0; i < (*import)->piece_count(); ++i) {
    ASSERT_TRUE((*import)->write_piece(i, o.piece(i)));
  }
  ASSERT_TRUE((*import)->finish());
  import->reset();

  auto piecewise = store->open_piecewise(o.hash);
  ASSERT_TRUE(piecewise) << piecewise.error().message();
  ASSERT_TRUE(piecewise->has_value());
  EXPECT_FALSE((*piecewise)->checked);
  EXPECT_EQ((*piecewise)->tree->size, o.tree.size);
  EXPECT_EQ((*piecewise)->tree->cvs, o.tree.cvs);
  EXPECT_EQ((*piecewise)->meta.size, o.data.size());

  store.reset();  // closed; then opened again, as after a restart
  store = open_store(dir.path());
  ASSERT_TRUE(store);
  auto back = store->read(o.hash);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, o.data);
  auto report = store->verify();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean());
  // The log alone (its file intent) knows the blob.
  ASSERT_TRUE(store->rebuild_index());
  auto meta = store->stat(o.hash);
  ASSERT_TRUE(meta) << meta.error().message();
  EXPECT_EQ(meta->codec, Codec::kRaw);
  EXPECT_EQ(meta->size, o.data.size());
}

}  // namespace
}  // namespace bzzz::store
