// Uploads fed piece by piece, ranged reads, and verified raw files (what the HTTP API uses).
#include <filesystem>

#include <gtest/gtest.h>

#include "base/crypto/blake3.h"
#include "content/store/store.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace bzzz::store {
namespace {

using testing::CollectSink;
using testing::open_store;
using testing::random_bytes;
using testing::TempDir;

Result<PutResult> upload_in_pieces(Store& store, std::span<const uint8_t> data, size_t piece) {
  auto upload = store.begin_put();
  for (size_t off = 0; off < data.size(); off += piece) {
    BZZZ_TRY(upload->write(data.subspan(off, std::min(piece, data.size() - off))));
  }
  return upload->finish();
}

TEST(UploadTest, PiecesOfAnySizeMakeTheSameBlobAsOnePut) {
  TempDir dir;
  auto store = open_store(dir.path());
  for (size_t size : {0ul, 100ul, 16384ul, 16385ul, (1ul << 20) - 1, (1ul << 20), (2ul << 20) + 3}) {
    auto data = random_bytes(size, size + 1);
    for (size_t piece : {1000ul, 4096ul, 65536ul, 1ul << 20}) {
      if (size > (1u << 20) && piece < 4096) continue;  // slow and adds nothing
      auto put = upload_in_pieces(*store, data, piece);
      ASSERT_TRUE(put) << put.error().message();
      EXPECT_EQ(put->hash, blake3(data)) << size << "/" << piece;
      EXPECT_EQ(put->meta.size, size);
      auto back = store->read(put->hash);
      ASSERT_TRUE(back);
      EXPECT_EQ(*back, data);
    }
  }
}

TEST(UploadTest, AnAbandonedUploadLeavesNothingBehind) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto data = random_bytes(3 << 20, 7);
  {
    auto upload = store->begin_put();
    ASSERT_TRUE(upload->write(data));
  }
  EXPECT_FALSE(store->contains(blake3(data)));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/blobs/temp"));
}

TEST(UploadTest, RangesOfPackedCompressedAndRawBlobs) {
  TempDir dir;
  auto store = open_store(dir.path());
  std::vector<uint8_t> text(3 << 20);
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<uint8_t>('a' + (i / 7) % 26);
  for (auto data : {random_bytes(5000, 1), random_bytes(3 << 20, 2), text}) {
    auto put = store->put(data);
    ASSERT_TRUE(put);
    for (auto [off, len] : {std::pair<uint64_t, uint64_t>{0, 1}, {1, 4096}, {data.size() - 10, 10},
                            {0, data.size()}, {data.size(), 0}}) {
      CollectSink sink;
      ASSERT_TRUE(store->read_range_to(put->hash, off, len, sink));
      EXPECT_EQ(sink.data, std::vector<uint8_t>(data.begin() + off, data.begin() + off + len));
    }
    CollectSink sink;
    auto bad = store->read_range_to(put->hash, data.size() - 1, 2, sink);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(UploadTest, VerifiedFileOnlyForRawFilesAndNeverForDamagedOnes) {
  TempDir dir;
  auto store = open_store(dir.path());
  auto small = store->put(random_bytes(100, 3));
  ASSERT_TRUE(small);
  auto none = store->open_verified_file(small->hash);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());

  auto data = random_bytes(2 << 20, 4);
  auto big = store->put(data);
  ASSERT_TRUE(big);
  auto file = store->open_verified_file(big->hash);
  ASSERT_TRUE(file) << file.error().message();
  ASSERT_TRUE(file->has_value());
  EXPECT_EQ((*file)->meta.size, data.size());

  testing::flip_byte(store->blob_path(big->hash), 12345);
  auto damaged = store->open_verified_file(big->hash);
  ASSERT_FALSE(damaged);
  EXPECT_EQ(damaged.error().code(), ErrorCode::kCorrupt);
}

}  // namespace
}  // namespace bzzz::store
