#include "content/store/codec.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace bzzz::store {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr size_t kMiB = size_t{1} << 20;
// The codec promises pieces of at most ~1 MiB; this is the bound the tests hold it to.
constexpr size_t kPieceLimit = kMiB;

enum class Kind { kCompressible, kRandom };

Bytes make_data(size_t size, Kind kind, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(size);
  if (kind == Kind::kRandom) {
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
      uint64_t v = rng();
      std::memcpy(out.data() + i, &v, 8);
    }
    for (; i < size; ++i) out[i] = static_cast<uint8_t>(rng());
    return out;
  }
  // Words from a small vocabulary with occasional noise: compresses well but not
  // trivially, so the codecs emit many blocks.
  static constexpr std::string_view kWords[] = {
      "blob ", "store ", "content ", "address ", "hash ", "zstd ", "gzip ", "frame ",
      "window ", "stream ", "\n", "0123456789 "};
  size_t i = 0;
  while (i < size) {
    std::string_view w = kWords[rng() % std::size(kWords)];
    for (char c : w) {
      if (i == size) break;
      out[i++] = static_cast<uint8_t>(c);
    }
    if (i < size && rng() % 16 == 0) out[i++] = static_cast<uint8_t>(rng());
  }
  return out;
}

// Piece sizes spread over 0 .. 256 KiB on a log scale, zero-length pieces included.
template <typename Sink>
Status feed_random(Sink& sink, std::span<const uint8_t> data, std::mt19937_64& rng) {
  while (!data.empty()) {
    size_t piece = rng() % (size_t{1} << (rng() % 19));
    piece = std::min(piece, data.size());
    BZZZ_TRY(sink.update(data.first(piece)));
    data = data.subspan(piece);
  }
  return ok();
}

struct Collected {
  Bytes bytes;
  size_t max_piece = 0;
  size_t pieces = 0;

  ByteCallback callback() {
    return [this](std::span<const uint8_t> piece) {
      bytes.insert(bytes.end(), piece.begin(), piece.end());
      max_piece = std::max(max_piece, piece.size());
      ++pieces;
      return ok();
    };
  }
};

Result<Bytes> encode_stream(Codec codec, int level, unsigned threads,
                            std::span<const uint8_t> data, uint64_t seed,
                            size_t* max_piece = nullptr) {
  std::mt19937_64 rng(seed);
  Collected out;
  BZZZ_ASSIGN_OR_RETURN(auto enc, make_encoder(codec, level, threads, out.callback()));
  BZZZ_TRY(feed_random(*enc, data, rng));
  BZZZ_TRY(enc->finish());
  if (max_piece != nullptr) *max_piece = out.max_piece;
  return std::move(out.bytes);
}

Result<Bytes> decode_stream(Codec codec, uint64_t expected, std::span<const uint8_t> data,
                            uint64_t seed, size_t* max_piece = nullptr) {
  std::mt19937_64 rng(seed);
  Collected out;
  BZZZ_ASSIGN_OR_RETURN(auto dec, make_decoder(codec, expected, out.callback()));
  BZZZ_TRY(feed_random(*dec, data, rng));
  BZZZ_TRY(dec->finish());
  if (max_piece != nullptr) *max_piece = out.max_piece;
  return std::move(out.bytes);
}

// Decodes in one update() call per chunk and returns the first error.
Status decode_chunks(Codec codec, uint64_t expected, std::vector<Bytes> chunks) {
  BZZZ_ASSIGN_OR_RETURN(auto dec,
                        make_decoder(codec, expected, [](std::span<const uint8_t>) {
                          return ok();
                        }));
  for (const Bytes& c : chunks) BZZZ_TRY(dec->update(c));
  return dec->finish();
}

int default_level(Codec codec) { return codec == Codec::kZstd ? 3 : 6; }

bool has_substr(const Error& e, std::string_view needle) {
  return e.message().find(needle) != std::string::npos;
}

#define EXPECT_ERROR(status, code_, needle)                                         \
  do {                                                                              \
    const auto& st_ = (status);                                                     \
    ASSERT_FALSE(st_.has_value()) << "expected an error containing: " << (needle);  \
    EXPECT_EQ(st_.error().code(), (code_)) << st_.error().message();                \
    EXPECT_TRUE(has_substr(st_.error(), (needle)))                                  \
        << "message: " << st_.error().message() << "\nwanted: " << (needle);        \
  } while (0)

// ---------------------------------------------------------------------------------
// Round trips

using RoundTripParam = std::tuple<Codec, size_t, Kind>;

class CodecRoundTrip : public ::testing::TestWithParam<RoundTripParam> {};

TEST_P(CodecRoundTrip, StreamsInRandomPieces) {
  auto [codec, size, kind] = GetParam();
  Bytes data = make_data(size, kind, size * 31 + static_cast<uint64_t>(kind));
  size_t enc_piece = 0, dec_piece = 0;
  auto encoded = encode_stream(codec, default_level(codec), 0, data, 1, &enc_piece);
  ASSERT_TRUE(encoded) << encoded.error().message();
  auto decoded = decode_stream(codec, data.size(), *encoded, 2, &dec_piece);
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_TRUE(*decoded == data);
  EXPECT_LE(enc_piece, kPieceLimit);
  EXPECT_LE(dec_piece, kPieceLimit);
  if (kind == Kind::kCompressible && size >= 1000) {
    EXPECT_LT(encoded->size(), data.size() / 2);
  }

  // The one-shot helpers agree with the streaming path.
  auto one_shot = decode(codec, data.size(), *encoded);
  ASSERT_TRUE(one_shot) << one_shot.error().message();
  EXPECT_TRUE(*one_shot == data);
}

std::string round_trip_name(const ::testing::TestParamInfo<RoundTripParam>& info) {
  auto [codec, size, kind] = info.param;
  return fmt::format("{}_{}_{}", codec_name(codec), size,
                     kind == Kind::kRandom ? "random" : "compressible");
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, CodecRoundTrip,
    ::testing::Combine(::testing::Values(Codec::kZstd, Codec::kGzip),
                       ::testing::Values(size_t{0}, size_t{1}, size_t{1000}, kMiB + 7,
                                         20 * kMiB),
                       ::testing::Values(Kind::kCompressible, Kind::kRandom)),
    round_trip_name);

TEST(CodecTest, ZstdWithTwoThreadsRoundTrips) {
  for (Kind kind : {Kind::kCompressible, Kind::kRandom}) {
    Bytes data = make_data(20 * kMiB + 3, kind, 77);
    size_t enc_piece = 0;
    auto encoded = encode_stream(Codec::kZstd, 3, 2, data, 5, &enc_piece);
    ASSERT_TRUE(encoded) << encoded.error().message();
    EXPECT_LE(enc_piece, kPieceLimit);
    auto decoded = decode_stream(Codec::kZstd, data.size(), *encoded, 6);
    ASSERT_TRUE(decoded) << decoded.error().message();
    EXPECT_TRUE(*decoded == data);
  }
}

TEST(CodecTest, OtherLevelsRoundTrip) {
  Bytes data = make_data(300000, Kind::kCompressible, 9);
  for (int level : {-5, 1, 19}) {
    auto encoded = encode(Codec::kZstd, level, data);
    ASSERT_TRUE(encoded) << level << ": " << encoded.error().message();
    auto decoded = decode(Codec::kZstd, data.size(), *encoded);
    ASSERT_TRUE(decoded) << level << ": " << decoded.error().message();
    EXPECT_TRUE(*decoded == data);
  }
  for (int level : {1, 9}) {
    auto encoded = encode(Codec::kGzip, level, data);
    ASSERT_TRUE(encoded) << level << ": " << encoded.error().message();
    auto decoded = decode(Codec::kGzip, data.size(), *encoded);
    ASSERT_TRUE(decoded) << level << ": " << decoded.error().message();
    EXPECT_TRUE(*decoded == data);
  }
}

TEST(CodecTest, RawDecoderPassesBytesThroughWithSizeChecks) {
  Bytes data = make_data(3 * kMiB + 1, Kind::kRandom, 4);
  size_t max_piece = 0;
  auto decoded = decode_stream(Codec::kRaw, data.size(), data, 8, &max_piece);
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_TRUE(*decoded == data);
  EXPECT_LE(max_piece, kPieceLimit);

  // One big update is still handed on in bounded pieces.
  Collected out;
  auto dec = make_decoder(Codec::kRaw, data.size(), out.callback());
  ASSERT_TRUE(dec);
  ASSERT_TRUE((*dec)->update(data));
  ASSERT_TRUE((*dec)->finish());
  EXPECT_TRUE(out.bytes == data);
  EXPECT_LE(out.max_piece, kPieceLimit);

  EXPECT_ERROR(decode(Codec::kRaw, data.size() - 1, data), ErrorCode::kCorrupt,
               fmt::format("decoded data is longer than the recorded size {}", data.size() - 1));
  EXPECT_ERROR(decode(Codec::kRaw, data.size() + 1, data), ErrorCode::kCorrupt,
               fmt::format("{}", data.size() + 1));
  auto empty = decode(Codec::kRaw, 0, {});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

// ---------------------------------------------------------------------------------
// Damaged input

class CodecDamage : public ::testing::TestWithParam<Codec> {
 protected:
  void SetUp() override {
    data_ = make_data(200000, Kind::kCompressible, 11);
    auto e = encode(GetParam(), default_level(GetParam()), data_);
    ASSERT_TRUE(e) << e.error().message();
    encoded_ = std::move(*e);
  }
  Bytes data_;
  Bytes encoded_;
};

TEST_P(CodecDamage, TruncatedFramesAreCorrupt) {
  for (size_t keep : {size_t{0}, size_t{1}, size_t{5}, size_t{12}, encoded_.size() / 2,
                      encoded_.size() - 4, encoded_.size() - 1}) {
    Bytes cut(encoded_.begin(), encoded_.begin() + static_cast<ptrdiff_t>(keep));
    EXPECT_ERROR(decode(GetParam(), data_.size(), cut), ErrorCode::kCorrupt,
                 "compressed data is truncated");
    // The truncated prefix is fine on its own; only finish() can tell.
    auto dec = make_decoder(GetParam(), data_.size(), [](std::span<const uint8_t>) {
      return ok();
    });
    ASSERT_TRUE(dec);
    EXPECT_TRUE((*dec)->update(cut)) << keep;
    EXPECT_ERROR((*dec)->finish(), ErrorCode::kCorrupt, "compressed data is truncated");
  }
}

TEST_P(CodecDamage, FlippedBytesNeverDecodeBeyondTheRecordedSize) {
  Bytes small_data = make_data(20000, Kind::kCompressible, 12);
  auto enc = encode(GetParam(), default_level(GetParam()), small_data);
  ASSERT_TRUE(enc);
  size_t detected = 0;
  for (size_t pos = 0; pos < enc->size(); ++pos) {
    Bytes bad = *enc;
    bad[pos] ^= 0x5a;
    auto r = decode(GetParam(), small_data.size(), bad);
    if (r) {
      // zstd frames carry no checksum here (the content hash catches this), and the
      // gzip header's MTIME/XFL/OS bytes are not covered by the CRC.
      EXPECT_EQ(r->size(), small_data.size());
      if (GetParam() == Codec::kGzip) {
        EXPECT_TRUE(pos >= 4 && pos < 10) << "undetected gzip flip at " << pos;
      }
    } else {
      EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt) << pos << ": " << r.error().message();
      ++detected;
    }
  }
  EXPECT_GT(detected, enc->size() / 2);
}

TEST_P(CodecDamage, GarbageNamesTheLibraryError) {
  Bytes garbage = make_data(5000, Kind::kRandom, 13);
  auto r = decode(GetParam(), 5000, garbage);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
  if (GetParam() == Codec::kZstd) {
    EXPECT_TRUE(has_substr(r.error(), "Unknown frame descriptor")) << r.error().message();
  } else {
    EXPECT_TRUE(has_substr(r.error(), "incorrect header check")) << r.error().message();
  }
}

TEST_P(CodecDamage, ExpectedSizeTooSmall) {
  for (uint64_t expected : {uint64_t{0}, uint64_t{1}, uint64_t{data_.size() - 1}}) {
    EXPECT_ERROR(decode(GetParam(), expected, encoded_), ErrorCode::kCorrupt,
                 fmt::format("decoded data is longer than the recorded size {}", expected));
  }
}

TEST_P(CodecDamage, ExpectedSizeTooLarge) {
  for (uint64_t expected : {uint64_t{data_.size() + 1}, uint64_t{1} << 50}) {
    auto r = decode(GetParam(), expected, encoded_);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
    EXPECT_TRUE(has_substr(r.error(), std::to_string(expected))) << r.error().message();
    EXPECT_TRUE(has_substr(r.error(), std::to_string(data_.size()))) << r.error().message();
  }
}

TEST_P(CodecDamage, TrailingBytesAreCorrupt) {
  Bytes tail = {'j', 'u', 'n', 'k'};
  Bytes joined = encoded_;
  joined.insert(joined.end(), tail.begin(), tail.end());
  EXPECT_ERROR(decode(GetParam(), data_.size(), joined), ErrorCode::kCorrupt, "trailing");
  // Also when the extra bytes arrive in a later update(), or one byte at a time.
  EXPECT_ERROR(decode_chunks(GetParam(), data_.size(), {encoded_, tail}), ErrorCode::kCorrupt,
               "trailing");
  EXPECT_ERROR(decode_chunks(GetParam(), data_.size(), {encoded_, {0}}), ErrorCode::kCorrupt,
               "trailing");
  // A second frame or member is not part of the blob either.
  Bytes twice = encoded_;
  twice.insert(twice.end(), encoded_.begin(), encoded_.end());
  EXPECT_ERROR(decode(GetParam(), data_.size(), twice), ErrorCode::kCorrupt, "trailing");
  EXPECT_ERROR(decode(GetParam(), 2 * data_.size(), twice), ErrorCode::kCorrupt, "trailing");
}

TEST_P(CodecDamage, ErrorsAreSticky) {
  auto dec = make_decoder(GetParam(), data_.size() - 10, [](std::span<const uint8_t>) {
    return ok();
  });
  ASSERT_TRUE(dec);
  auto first = (*dec)->update(encoded_);
  ASSERT_FALSE(first);
  auto again = (*dec)->update(encoded_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message(), first.error().message());
  auto fin = (*dec)->finish();
  ASSERT_FALSE(fin);
  EXPECT_EQ(fin.error().message(), first.error().message());
}

TEST_P(CodecDamage, UseAfterFinishIsAnError) {
  auto dec = make_decoder(GetParam(), data_.size(), [](std::span<const uint8_t>) {
    return ok();
  });
  ASSERT_TRUE(dec);
  ASSERT_TRUE((*dec)->update(encoded_));
  ASSERT_TRUE((*dec)->finish());
  EXPECT_FALSE((*dec)->update(encoded_));

  auto enc = make_encoder(GetParam(), default_level(GetParam()), 0,
                          [](std::span<const uint8_t>) { return ok(); });
  ASSERT_TRUE(enc);
  ASSERT_TRUE((*enc)->finish());
  EXPECT_FALSE((*enc)->update(data_));
}

TEST_P(CodecDamage, CallbackErrorsPropagateUnchanged) {
  // Encoder: the callback fails on its third piece.
  int calls = 0;
  auto enc = make_encoder(GetParam(), default_level(GetParam()), 0,
                          [&](std::span<const uint8_t>) -> Status {
                            if (++calls == 3) {
                              return make_error(ErrorCode::kNoSpace, "test: disk is full");
                            }
                            return ok();
                          });
  ASSERT_TRUE(enc);
  Bytes big = make_data(8 * kMiB, Kind::kRandom, 14);
  Status s = (*enc)->update(big);
  if (s) s = (*enc)->finish();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kNoSpace);
  EXPECT_EQ(s.error().message(), "test: disk is full");
  EXPECT_EQ(calls, 3);

  // Decoder: the first piece already fails.
  auto dec = make_decoder(GetParam(), data_.size(), [](std::span<const uint8_t>) -> Status {
    return make_error(ErrorCode::kIo, "test: socket closed");
  });
  ASSERT_TRUE(dec);
  s = (*dec)->update(encoded_);
  if (s) s = (*dec)->finish();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kIo);
  EXPECT_EQ(s.error().message(), "test: socket closed");
}

std::string codec_param_name(const ::testing::TestParamInfo<Codec>& param_info) {
  return std::string(codec_name(param_info.param));
}

INSTANTIATE_TEST_SUITE_P(Codecs, CodecDamage, ::testing::Values(Codec::kZstd, Codec::kGzip),
                         codec_param_name);

TEST(CodecTest, ConcatenatedGzipMembersErrorClearly) {
  Bytes a = make_data(1000, Kind::kCompressible, 15);
  auto ea = encode(Codec::kGzip, 6, a);
  ASSERT_TRUE(ea);
  Bytes twice = *ea;
  twice.insert(twice.end(), ea->begin(), ea->end());
  EXPECT_ERROR(decode(Codec::kGzip, 2 * a.size(), twice), ErrorCode::kCorrupt,
               "several concatenated gzip members is not supported");
}

// ---------------------------------------------------------------------------------
// Interoperability with the command-line tools

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            fmt::format("bzzz-codec-test-{}-{}", ::getpid(), counter_++);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& p, std::span<const uint8_t> data) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(f.good()) << p;
}

Bytes read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

bool have_tool(const char* name) {
  return std::system(fmt::format("command -v {} >/dev/null 2>&1", name).c_str()) == 0;
}

int run(const std::string& cmd) { return std::system(cmd.c_str()); }

TEST(CodecInteropTest, SystemGzipOutputDecodes) {
  if (!have_tool("gzip")) GTEST_SKIP() << "gzip is not installed";
  TempDir dir;
  for (size_t size : {size_t{0}, size_t{1000}, 3 * kMiB + 5}) {
    Bytes data = make_data(size, Kind::kCompressible, size);
    write_file(dir / "in", data);
    // gzip stores the file name and mtime in the header; the decoder skips them.
    ASSERT_EQ(run(fmt::format("gzip -c '{}' > '{}'", (dir / "in").string(),
                              (dir / "in.gz").string())),
              0);
    ASSERT_EQ(run(fmt::format("gzip -9 -n -c < '{}' > '{}'", (dir / "in").string(),
                              (dir / "in9.gz").string())),
              0);
    for (const char* name : {"in.gz", "in9.gz"}) {
      auto decoded = decode_stream(Codec::kGzip, size, read_file(dir / name), size + 1);
      ASSERT_TRUE(decoded) << name << ": " << decoded.error().message();
      EXPECT_TRUE(*decoded == data) << name << " size " << size;
    }
  }
}

TEST(CodecInteropTest, SystemGzipReadsOurOutput) {
  if (!have_tool("gzip")) GTEST_SKIP() << "gzip is not installed";
  TempDir dir;
  Bytes data = make_data(2 * kMiB + 9, Kind::kCompressible, 16);
  auto encoded = encode_stream(Codec::kGzip, 6, 0, data, 17);
  ASSERT_TRUE(encoded);
  write_file(dir / "ours.gz", *encoded);
  ASSERT_EQ(run(fmt::format("gzip -dc '{}' > '{}'", (dir / "ours.gz").string(),
                            (dir / "out").string())),
            0);
  EXPECT_TRUE(read_file(dir / "out") == data);
}

TEST(CodecInteropTest, ZstdCliOutputDecodes) {
  if (!have_tool("zstd")) GTEST_SKIP() << "the zstd CLI is not installed";
  TempDir dir;
  for (size_t size : {size_t{0}, size_t{1000}, 3 * kMiB + 5}) {
    Bytes data = make_data(size, Kind::kCompressible, size + 2);
    write_file(dir / "in", data);
    // The CLI's defaults differ from ours: it writes a checksum and the content size.
    ASSERT_EQ(run(fmt::format("zstd -q -f -c '{}' > '{}'", (dir / "in").string(),
                              (dir / "a.zst").string())),
              0);
    // From a pipe the size is unknown, as in our own streaming frames.
    ASSERT_EQ(run(fmt::format("zstd -q -19 --no-check -T2 -c < '{}' > '{}'",
                              (dir / "in").string(), (dir / "b.zst").string())),
              0);
    for (const char* name : {"a.zst", "b.zst"}) {
      auto decoded = decode_stream(Codec::kZstd, size, read_file(dir / name), size + 3);
      ASSERT_TRUE(decoded) << name << ": " << decoded.error().message();
      EXPECT_TRUE(*decoded == data) << name << " size " << size;
    }
  }
}

TEST(CodecInteropTest, ZstdCliReadsOurOutput) {
  if (!have_tool("zstd")) GTEST_SKIP() << "the zstd CLI is not installed";
  TempDir dir;
  Bytes data = make_data(2 * kMiB + 9, Kind::kCompressible, 18);
  auto encoded = encode_stream(Codec::kZstd, 3, 2, data, 19);
  ASSERT_TRUE(encoded);
  write_file(dir / "ours.zst", *encoded);
  ASSERT_EQ(run(fmt::format("zstd -q -d -c '{}' > '{}'", (dir / "ours.zst").string(),
                            (dir / "out").string())),
            0);
  EXPECT_TRUE(read_file(dir / "out") == data);
}

// ---------------------------------------------------------------------------------
// Names, arguments

TEST(CodecTest, ParseCodecAcceptsKnownNamesInAnyCase) {
  struct Case {
    std::string_view name;
    Codec codec;
  };
  for (Case c : {Case{"raw", Codec::kRaw}, Case{"none", Codec::kRaw}, Case{"RAW", Codec::kRaw},
                 Case{"None", Codec::kRaw}, Case{"zstd", Codec::kZstd},
                 Case{"ZStd", Codec::kZstd}, Case{"gzip", Codec::kGzip},
                 Case{"GZIP", Codec::kGzip}}) {
    auto r = parse_codec(c.name);
    ASSERT_TRUE(r) << c.name << ": " << r.error().message();
    EXPECT_EQ(*r, c.codec) << c.name;
  }
  for (Codec c : {Codec::kRaw, Codec::kZstd, Codec::kGzip}) {
    auto r = parse_codec(codec_name(c));
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, c);
  }
}

TEST(CodecTest, ParseCodecRejectsOtherNames) {
  for (std::string_view bad : {"", "lz4", "zstd ", "gz", "deflate", "zst"}) {
    auto r = parse_codec(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(has_substr(r.error(), fmt::format("\"{}\"", bad))) << r.error().message();
    for (std::string_view accepted : {"raw", "none", "zstd", "gzip"}) {
      EXPECT_TRUE(has_substr(r.error(), accepted)) << r.error().message();
    }
  }
}

TEST(CodecTest, RawHasNoEncoder) {
  auto noop = [](std::span<const uint8_t>) { return ok(); };
  auto enc = make_encoder(Codec::kRaw, 3, 0, noop);
  ASSERT_FALSE(enc);
  EXPECT_EQ(enc.error().code(), ErrorCode::kInvalidArgument);
  Bytes data = {1, 2, 3};
  auto r = encode(Codec::kRaw, 3, data);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

TEST(CodecTest, InvalidLevelsAndCallbacksAreRejected) {
  auto noop = [](std::span<const uint8_t>) { return ok(); };
  for (int level : {0, 20, 100}) {
    auto enc = make_encoder(Codec::kZstd, level, 0, noop);
    ASSERT_FALSE(enc) << level;
    EXPECT_EQ(enc.error().code(), ErrorCode::kInvalidArgument);
  }
  for (int level : {-1, 0, 10}) {
    auto enc = make_encoder(Codec::kGzip, level, 0, noop);
    ASSERT_FALSE(enc) << level;
    EXPECT_EQ(enc.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(make_encoder(Codec::kZstd, 3, 0, nullptr));
  EXPECT_FALSE(make_decoder(Codec::kGzip, 0, nullptr));
  EXPECT_FALSE(make_decoder(static_cast<Codec>(9), 0, noop));
}

TEST(CodecTest, DecodeDoesNotTrustHugeRecordedSizes) {
  Bytes data = make_data(1000, Kind::kCompressible, 20);
  for (Codec c : {Codec::kZstd, Codec::kGzip}) {
    auto enc = encode(c, default_level(c), data);
    ASSERT_TRUE(enc);
    // Would throw std::length_error or bad_alloc if reserved as recorded.
    auto r = decode(c, uint64_t{1} << 62, *enc);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
  }
}

// ---------------------------------------------------------------------------------
// Bounded memory

// Streams 1 GiB of zeros through encoder and decoder chained together; nothing ever
// holds more than one piece, and the pieces themselves must stay small.
void stream_gib_of_zeros(Codec codec, int level, unsigned threads) {
  constexpr uint64_t kTotal = uint64_t{1} << 30;
  static const Bytes kZeros(kMiB, 0);
  size_t max_encoded_piece = 0, max_decoded_piece = 0;
  uint64_t encoded_bytes = 0, decoded_bytes = 0;
  bool all_zero = true;

  auto dec = make_decoder(codec, kTotal, [&](std::span<const uint8_t> piece) {
    max_decoded_piece = std::max(max_decoded_piece, piece.size());
    decoded_bytes += piece.size();
    all_zero = all_zero && std::memcmp(piece.data(), kZeros.data(), piece.size()) == 0;
    return ok();
  });
  ASSERT_TRUE(dec);
  auto enc = make_encoder(codec, level, threads, [&](std::span<const uint8_t> piece) {
    max_encoded_piece = std::max(max_encoded_piece, piece.size());
    encoded_bytes += piece.size();
    return (*dec)->update(piece);
  });
  ASSERT_TRUE(enc);
  for (uint64_t fed = 0; fed < kTotal; fed += kZeros.size()) {
    auto s = (*enc)->update(kZeros);
    ASSERT_TRUE(s) << s.error().message();
  }
  auto s = (*enc)->finish();
  ASSERT_TRUE(s) << s.error().message();
  s = (*dec)->finish();
  ASSERT_TRUE(s) << s.error().message();

  EXPECT_EQ(decoded_bytes, kTotal);
  EXPECT_TRUE(all_zero);
  EXPECT_LT(encoded_bytes, kTotal / 100);
  EXPECT_LE(max_encoded_piece, kPieceLimit);
  EXPECT_LE(max_decoded_piece, kPieceLimit);
}

TEST(CodecMemoryTest, ZstdStreamsAGibibyteInSmallPieces) {
  stream_gib_of_zeros(Codec::kZstd, 3, 0);
}

TEST(CodecMemoryTest, ZstdMultithreadedStreamsAGibibyteInSmallPieces) {
  stream_gib_of_zeros(Codec::kZstd, 3, 2);
}

TEST(CodecMemoryTest, GzipStreamsAGibibyteInSmallPieces) {
  stream_gib_of_zeros(Codec::kGzip, 1, 0);
}

}  // namespace
}  // namespace bzzz::store
