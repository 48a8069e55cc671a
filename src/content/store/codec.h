// content/store: per-blob compression codecs. A blob is stored raw, as one zstd frame,
// or as one gzip member (readable for compatibility, writable when configured). The
// content hash is always of the original bytes; codecs never see hashes.
//
// Decoding is bounded by the blob's known logical size: output beyond it, or input
// that ends before it, is a kCorrupt error, so a damaged or hostile blob cannot make a
// reader allocate without limit.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "base/status/result.h"

namespace bzzz::store {

enum class Codec : uint8_t { kRaw = 0, kZstd = 1, kGzip = 2 };

std::string_view codec_name(Codec codec);
// "raw" / "none", "zstd", "gzip"; the error lists the accepted names.
Result<Codec> parse_codec(std::string_view name);

// Checks a compression level for a codec (zstd 1..19 or negative, gzip 1..9; any level
// for kRaw); the error names the level and the accepted range.
Status check_level(Codec codec, int level);

// Receives decoded or encoded output in pieces; returning an error stops the stream.
using ByteCallback = std::function<Status(std::span<const uint8_t>)>;

// Streaming encoder. update() may emit output through the callback given at creation;
// finish() flushes the end of the frame.
class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual Status update(std::span<const uint8_t> input) = 0;
  virtual Status finish() = 0;
};

// level: zstd 1..19 (negative allowed), gzip 1..9. threads: zstd worker threads for
// large inputs (0 = none); ignored by gzip. kRaw is not a valid encoder.
Result<std::unique_ptr<Encoder>> make_encoder(Codec codec, int level, unsigned threads,
                                              ByteCallback out);

// Streaming decoder that checks the decoded length against `expected_size`.
class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual Status update(std::span<const uint8_t> input) = 0;
  // Fails with kCorrupt if the frame is incomplete or decoded size != expected_size.
  virtual Status finish() = 0;
};

Result<std::unique_ptr<Decoder>> make_decoder(Codec codec, uint64_t expected_size,
                                              ByteCallback out);

// One-shot helpers for small blobs.
Result<std::vector<uint8_t>> encode(Codec codec, int level, std::span<const uint8_t> input);
Result<std::vector<uint8_t>> decode(Codec codec, uint64_t expected_size,
                                    std::span<const uint8_t> input);

}  // namespace bzzz::store
