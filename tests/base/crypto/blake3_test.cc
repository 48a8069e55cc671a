#include "base/crypto/blake3.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bzzz {
namespace {

using ::testing::HasSubstr;

// From the official BLAKE3 test vectors (input byte i is i % 251), default hash,
// first 32 bytes; computed with b3sum, the reference implementation.
struct Vector {
  size_t len;
  const char* hex;
};
constexpr Vector kVectors[] = {
    {0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
    {1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"},
    {1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11"},
    {1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"},
    {1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"},
    {2048, "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a"},
    {2049, "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030"},
    {3072, "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2"},
    {3073, "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3"},
    {4096, "015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969"},
    {4097, "9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995"},
    {5120, "9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833"},
    {5121, "628bd2cb2004694adaab7bbd778a25df25c47b9d4155a55f8fbd79f2fe154cff"},
    {6144, "3e2e5b74e048f3add6d21faab3f83aa44d3b2278afb83b80b3c35164ebeca205"},
    {6145, "f1323a8631446cc50536a9f705ee5cb619424d46887f3c376c695b70e0f0507f"},
    {7168, "61da957ec2499a95d6b8023e2b0e604ec7f6b50e80a9678b89d2628e99ada77a"},
    {7169, "a003fc7a51754a9b3c7fae0367ab3d782dccf28855a03d435f8cfe74605e7817"},
    {8192, "aae792484c8efe4f19e2ca7d371d8c467ffb10748d8a5a1ae579948f718a2a63"},
    {8193, "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b"},
    {16384, "f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4"},
    {31744, "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47"},
    {102400, "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085"},
};

std::vector<uint8_t> vector_input(size_t len) {
  std::vector<uint8_t> out(len);
  for (size_t i = 0; i < len; ++i) out[i] = static_cast<uint8_t>(i % 251);
  return out;
}

// Pseudo-random rather than periodic, so that hashing chunks in the wrong place or
// order changes the result.
std::vector<uint8_t> random_input(size_t len, uint64_t seed) {
  std::vector<uint8_t> out(len);
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (size_t i = 0; i < len; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<uint8_t>(x >> 24);
  }
  return out;
}

Hash hash_in_pieces(std::span<const uint8_t> data) {
  static constexpr size_t kPieces[] = {1, 63, 65, 1000, 4097, 65537, 1 << 20 | 3};
  Blake3Hasher hasher;
  size_t pos = 0;
  for (size_t i = 0; pos < data.size(); ++i) {
    size_t n = std::min(kPieces[i % std::size(kPieces)], data.size() - pos);
    hasher.update(data.subspan(pos, n));
    pos += n;
  }
  return hasher.finalize();
}

TEST(Blake3Test, OfficialVectors) {
  for (const auto& v : kVectors) {
    auto input = vector_input(v.len);
    EXPECT_EQ(blake3(input).hex(), v.hex) << v.len;
    EXPECT_EQ(hash_in_pieces(input).hex(), v.hex) << v.len;
    EXPECT_EQ(blake3_parallel(input, 2).hex(), v.hex) << v.len;
  }
}

TEST(Blake3Test, HasherResetAndFinalizeTwice) {
  auto input = vector_input(3073);
  Blake3Hasher hasher;
  hasher.update(std::vector<uint8_t>(500, 9));
  hasher.reset();
  hasher.update(input);
  EXPECT_EQ(hasher.finalize().hex(), kVectors[8].hex);
  EXPECT_EQ(hasher.finalize().hex(), kVectors[8].hex);  // finalize does not consume
}

// Sizes that put the end of the input on and just around the chunk and subtree
// boundaries the parallel split cares about, from below the threading threshold up to
// 64 MiB + 1.
std::vector<size_t> boundary_sizes() {
  constexpr size_t KiB = 1024, MiB = 1024 * 1024;
  std::vector<size_t> sizes = {256 * KiB - 1, 256 * KiB, 256 * KiB + 1, 1 * MiB + 1,
                               3 * MiB + 1025, 5 * MiB + 3 * KiB + 17, 7 * MiB + 12345};
  for (size_t p = 512 * KiB; p <= 64 * MiB; p *= 2) {
    for (size_t s : {p - 1, p, p + 1, p + KiB, p + KiB + 1, p + p / 2 + 3 * KiB + 7}) {
      if (p < 64 * MiB || s <= 64 * MiB + 1) sizes.push_back(s);
    }
  }
  return sizes;
}

TEST(Blake3Test, ParallelMatchesSerialAroundBoundaries) {
  auto sizes = boundary_sizes();
  auto data = random_input(64 * 1024 * 1024 + 1, 42);
  for (size_t size : sizes) {
    std::span<const uint8_t> input(data.data(), size);
    Hash expected = blake3(input);
    EXPECT_EQ(hash_in_pieces(input), expected) << size;
    for (unsigned threads : {0u, 1u, 2u, 3u, 4u, 7u}) {
      EXPECT_EQ(blake3_parallel(input, threads), expected)
          << "size " << size << " threads " << threads;
    }
  }
}

TEST(Blake3Test, ParallelUnalignedInput) {
  auto data = random_input(3 * 1024 * 1024 + 1030, 7);
  std::span<const uint8_t> input(data.data() + 3, data.size() - 3);
  EXPECT_EQ(blake3_parallel(input, 2), blake3(input));
}

// Several hashes at once share the helper threads; each must still get its own result.
TEST(Blake3Test, ConcurrentParallelHashes) {
  constexpr int kCallers = 4;
  std::vector<std::vector<uint8_t>> inputs;
  std::vector<Hash> expected;
  for (int i = 0; i < kCallers; ++i) {
    inputs.push_back(random_input(2 * 1024 * 1024 + 1024 * static_cast<size_t>(i) + 1,
                                  static_cast<uint64_t>(100 + i)));
    expected.push_back(blake3(inputs.back()));
  }
  std::vector<int> mismatches(kCallers, 0);
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] {
      for (int round = 0; round < 20; ++round) {
        if (blake3_parallel(inputs[i], 2 + static_cast<unsigned>(round % 3)) != expected[i]) {
          ++mismatches[i];
        }
      }
    });
  }
  for (auto& t : callers) t.join();
  for (int i = 0; i < kCallers; ++i) EXPECT_EQ(mismatches[i], 0) << "caller " << i;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bzzz_blake3_XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

void write_file(const std::string& path, std::span<const uint8_t> data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(out.good());
}

TEST(Blake3FileTest, RegularFiles) {
  TempDir dir;
  for (size_t size : {size_t{0}, size_t{1}, size_t{1025}, size_t{100000},
                      size_t{3 * 1024 * 1024 + 1025}, size_t{20 * 1024 * 1024 + 7}}) {
    auto data = random_input(size, size);
    std::string path = dir.file(fmt::format("f{}", size));
    write_file(path, data);
    for (unsigned threads : {0u, 1u, 3u}) {
      auto h = blake3_file(path, threads);
      ASSERT_TRUE(h) << h.error().message();
      EXPECT_EQ(*h, blake3(data)) << size;
    }
  }
  auto empty = blake3_file(dir.file("f0"));
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->hex(), kVectors[0].hex);
}

TEST(Blake3FileTest, Pipe) {
  TempDir dir;
  std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto data = random_input(3 * 1024 * 1024 + 5, 99);
  // Opening a FIFO for writing without O_NONBLOCK waits for a reader forever; polling
  // instead lets the test fail rather than hang if blake3_file never opens it.
  std::thread writer([&] {
    int fd = -1;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK)) < 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (fd < 0) return;
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    size_t pos = 0;
    while (pos < data.size()) {
      size_t n = std::min<size_t>(77777, data.size() - pos);
      ssize_t w = ::write(fd, data.data() + pos, n);
      if (w <= 0) break;
      pos += static_cast<size_t>(w);
    }
    ::close(fd);
  });
  auto h = blake3_file(fifo);
  writer.join();
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(*h, blake3(data));
}

TEST(Blake3FileTest, ProcFileWithUnknownSize) {
  const std::string path = "/proc/version";  // st_size is 0, content is not
  std::ifstream in(path, std::ios::binary);
  if (!in) GTEST_SKIP() << "no " << path;
  std::vector<uint8_t> content((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
  ASSERT_FALSE(content.empty());
  auto h = blake3_file(path);
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(*h, blake3(content));
}

TEST(Blake3FileTest, Errors) {
  TempDir dir;
  std::string missing = dir.file("missing");
  auto r = blake3_file(missing);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(r.error().message(), HasSubstr(missing));

  std::string subdir = dir.file("sub");
  std::filesystem::create_directory(subdir);
  auto d = blake3_file(subdir);
  ASSERT_FALSE(d);
  EXPECT_THAT(d.error().message(), HasSubstr(subdir));
}

// Verified streaming: the piece tree of a file rebuilds its hash, every piece checks on
// its own, and a flipped byte in a piece or the tail is caught.
TEST(PieceTreeTest, PiecesAndTailRebuildTheHashAtEveryBoundary) {
  auto dir = std::filesystem::temp_directory_path() / fmt::format("bzzz-pieces-{}", ::getpid());
  std::filesystem::create_directories(dir);
  const uint64_t mib = kPieceBytes;
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{1024}, uint64_t{1025}, mib - 1, mib, mib + 1,
                        mib + 1024, mib + 1025, 2 * mib, 2 * mib + 1, 3 * mib - 7, 4 * mib, 5 * mib + 4096,
                        7 * mib + 1}) {
    std::vector<uint8_t> data(size);
    uint32_t x = static_cast<uint32_t>(size) * 2654435761u + 1;
    for (auto& b : data) b = static_cast<uint8_t>((x = x * 1664525u + 1013904223u) >> 24);
    auto path = (dir / "f").string();
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data.data()),
                                                static_cast<std::streamsize>(data.size()));
    int fd = ::open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    auto got = blake3_fd_pieces(fd, path, 2);
    ::close(fd);
    ASSERT_TRUE(got) << got.error().message();
    auto& [root, tree] = *got;
    EXPECT_EQ(root, blake3(data)) << size;
    // Full pieces are those before the last chunk's piece: (chunks - 1) / 1024 of them.
    uint64_t chunks = size == 0 ? 1 : (size + 1023) / 1024;
    EXPECT_EQ(tree.cvs.size(), (chunks - 1) / 1024) << size;
    std::span<const uint8_t> all(data);
    for (size_t i = 0; i < tree.cvs.size(); ++i) {
      EXPECT_TRUE(piece_matches(tree, i, all.subspan(i * mib, mib))) << size << " piece " << i;
    }
    auto tail = all.subspan(tree.tail_offset());
    EXPECT_EQ(root_with_tail(tree, tail), root) << size;
    if (!tree.cvs.empty()) {
      auto bad = data;
      bad[tree.cvs.size() * mib - 5] ^= 1;  // in the last full piece
      EXPECT_FALSE(piece_matches(tree, tree.cvs.size() - 1,
                                 std::span<const uint8_t>(bad).subspan((tree.cvs.size() - 1) * mib, mib)));
      EXPECT_FALSE(piece_matches(tree, 0, all.subspan(0, mib - 1)));  // wrong length
    }
    if (!tail.empty()) {
      auto bad = std::vector<uint8_t>(tail.begin(), tail.end());
      bad.back() ^= 0x80;
      EXPECT_NE(root_with_tail(tree, bad), root) << size;
    }
  }
  std::filesystem::remove_all(dir);
}

// A tree computed in memory is the one a file of the same bytes gives, and rebuilds the
// hash with the bytes after its pieces.
TEST(PieceTreeTest, TreeOfABufferRebuildsItsHash) {
  const uint64_t mib = kPieceBytes;
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, mib, mib + 1, 2 * mib, 2 * mib + 1,
                        5 * mib + mib / 2}) {
    std::vector<uint8_t> data(size);
    uint32_t x = static_cast<uint32_t>(size) * 2654435761u + 7;
    for (auto& b : data) b = static_cast<uint8_t>((x = x * 1664525u + 1013904223u) >> 24);
    PieceTree tree = piece_tree(data);
    EXPECT_EQ(tree.size, size);
    EXPECT_EQ(tree.cvs.size(), size == 0 ? 0 : (size - 1) / mib) << size;
    std::span<const uint8_t> all(data);
    EXPECT_EQ(root_with_tail(tree, all.subspan(tree.tail_offset())), blake3(data)) << size;
    for (size_t i = 0; i < tree.cvs.size(); ++i) {
      EXPECT_TRUE(piece_matches(tree, i, all.subspan(i * mib, mib))) << size << " piece " << i;
    }
  }
}

}  // namespace
}  // namespace bzzz
