#include "content/store/codec.h"

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <optional>
#include <string>

#include <fmt/format.h>

namespace bzzz::store {

namespace {

// Output buffers stay small so a 10 GiB blob streams through in constant memory; no
// callback ever sees a piece larger than this.
constexpr size_t kMaxPiece = size_t{1} << 20;
constexpr size_t kZlibBufferSize = size_t{128} << 10;
// zlib counts in uInt; larger inputs are fed to it in slices.
constexpr size_t kZlibMaxSlice = size_t{1} << 30;
// decode() trusts the recorded size only this far when reserving memory up front.
constexpr size_t kDecodeReserveCap = size_t{64} << 20;
constexpr size_t kDecodeReserveFactor = 16;

Error corrupt(std::string message) { return Error(ErrorCode::kCorrupt, std::move(message)); }

Error truncated(std::string_view what) {
  return corrupt(fmt::format("compressed data is truncated ({})", what));
}

std::span<const uint8_t> bytes_of(const std::vector<uint8_t>& buf, size_t n) {
  return {buf.data(), n};
}

struct ZstdCCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct ZstdDCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
using ZstdCCtxPtr = std::unique_ptr<ZSTD_CCtx, ZstdCCtxFree>;
using ZstdDCtxPtr = std::unique_ptr<ZSTD_DCtx, ZstdDCtxFree>;

// A stream that failed (library error or the callback's own error) keeps failing with
// the same error: its internal state is no longer meaningful, and a caller that ignores
// one error must not get a silently damaged result later.
class Sticky {
 protected:
  Status stick(Error e) {
    error_ = e;
    return fail(std::move(e));
  }
  // Returns the earlier error, or a misuse error after finish(), or nullopt if usable.
  std::optional<Error> unusable(std::string_view kind) const {
    if (error_) return *error_;
    if (finished_) {
      return Error(ErrorCode::kInternal, fmt::format("{} used after finish()", kind));
    }
    return std::nullopt;
  }

  std::optional<Error> error_;
  bool finished_ = false;
};

// ---------------------------------------------------------------------------------
// Encoders

class ZstdEncoder final : public Encoder, Sticky {
 public:
  ZstdEncoder(ZstdCCtxPtr cctx, ByteCallback out)
      : cctx_(std::move(cctx)), out_(std::move(out)), buf_(ZSTD_CStreamOutSize()) {}

  Status update(std::span<const uint8_t> input) override {
    if (auto e = unusable("zstd encoder")) return fail(std::move(*e));
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    while (in.pos < in.size) {
      BZZZ_TRY(step(in, ZSTD_e_continue));
    }
    return ok();
  }

  Status finish() override {
    if (auto e = unusable("zstd encoder")) return fail(std::move(*e));
    ZSTD_inBuffer in{nullptr, 0, 0};
    for (;;) {
      auto remaining = step(in, ZSTD_e_end);
      if (!remaining) return fail(std::move(remaining).error());
      if (*remaining == 0) break;
    }
    finished_ = true;
    return ok();
  }

 private:
  // One compressStream2 call; returns zstd's "bytes left to flush" hint.
  Result<size_t> step(ZSTD_inBuffer& in, ZSTD_EndDirective mode) {
    ZSTD_outBuffer out{buf_.data(), buf_.size(), 0};
    size_t rc = ZSTD_compressStream2(cctx_.get(), &out, &in, mode);
    if (ZSTD_isError(rc)) {
      auto s = stick(Error(ErrorCode::kInternal,
                           fmt::format("zstd compression failed: {}", ZSTD_getErrorName(rc))));
      return fail(std::move(s).error());
    }
    if (out.pos > 0) {
      auto s = out_(bytes_of(buf_, out.pos));
      if (!s) {
        auto st = stick(std::move(s).error());
        return fail(std::move(st).error());
      }
    }
    return rc;
  }

  ZstdCCtxPtr cctx_;
  ByteCallback out_;
  std::vector<uint8_t> buf_;
};

class GzipEncoder final : public Encoder, Sticky {
 public:
  explicit GzipEncoder(ByteCallback out) : out_(std::move(out)), buf_(kZlibBufferSize) {}
  ~GzipEncoder() override {
    if (initialized_) deflateEnd(&strm_);
  }
  GzipEncoder(const GzipEncoder&) = delete;
  GzipEncoder& operator=(const GzipEncoder&) = delete;

  Status init(int level) {
    int rc = deflateInit2(&strm_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) {
      return make_error(ErrorCode::kInternal,
                        fmt::format("deflateInit2 failed: {}", zError(rc)));
    }
    initialized_ = true;
    return ok();
  }

  Status update(std::span<const uint8_t> input) override {
    if (auto e = unusable("gzip encoder")) return fail(std::move(*e));
    while (!input.empty()) {
      size_t n = std::min(input.size(), kZlibMaxSlice);
      // zlib's API is not const-correct; deflate never writes through next_in.
      strm_.next_in = const_cast<Bytef*>(input.data());
      strm_.avail_in = static_cast<uInt>(n);
      do {
        BZZZ_TRY(step(Z_NO_FLUSH));
      } while (strm_.avail_out == 0);
      input = input.subspan(n);
    }
    return ok();
  }

  Status finish() override {
    if (auto e = unusable("gzip encoder")) return fail(std::move(*e));
    strm_.next_in = nullptr;
    strm_.avail_in = 0;
    for (;;) {
      auto rc = step(Z_FINISH);
      if (!rc) return fail(std::move(rc).error());
      if (*rc == Z_STREAM_END) break;
    }
    finished_ = true;
    return ok();
  }

 private:
  Result<int> step(int flush) {
    strm_.next_out = buf_.data();
    strm_.avail_out = static_cast<uInt>(buf_.size());
    int rc = deflate(&strm_, flush);
    // Z_BUF_ERROR only says no progress was possible, which the loops above rule out
    // from being permanent.
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      auto s = stick(Error(ErrorCode::kInternal,
                           fmt::format("gzip compression failed: {}", zError(rc))));
      return fail(std::move(s).error());
    }
    size_t produced = buf_.size() - strm_.avail_out;
    if (produced > 0) {
      auto s = out_(bytes_of(buf_, produced));
      if (!s) {
        auto st = stick(std::move(s).error());
        return fail(std::move(st).error());
      }
    }
    return rc;
  }

  z_stream strm_{};
  bool initialized_ = false;
  ByteCallback out_;
  std::vector<uint8_t> buf_;
};

Result<std::unique_ptr<Encoder>> make_zstd_encoder(int level, unsigned threads,
                                                   ByteCallback out) {
  // Levels above 19 ("ultra") need windows of up to 128 MiB per stream.
  if (level == 0 || level < ZSTD_minCLevel() || level > 19) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("zstd level must be 1..19 or negative (down to {}), got {}",
                                  ZSTD_minCLevel(), level));
  }
  ZstdCCtxPtr cctx(ZSTD_createCCtx());
  if (!cctx) return make_error(ErrorCode::kInternal, "cannot allocate a zstd context");
  auto set = [&](ZSTD_cParameter p, int v, std::string_view name) -> Status {
    size_t rc = ZSTD_CCtx_setParameter(cctx.get(), p, v);
    if (ZSTD_isError(rc)) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("zstd: cannot set {} to {}: {}", name, v,
                                    ZSTD_getErrorName(rc)));
    }
    return ok();
  };
  BZZZ_TRY(set(ZSTD_c_compressionLevel, level, "compression level"));
  // The content hash already verifies every blob; a second checksum only costs time.
  BZZZ_TRY(set(ZSTD_c_checksumFlag, 0, "checksum flag"));
  if (threads > 0) {
    // A libzstd built without threads reports an upper bound of 0 (or an error);
    // compressing single-threaded is then still correct, only slower.
    ZSTD_bounds b = ZSTD_cParam_getBounds(ZSTD_c_nbWorkers);
    if (!ZSTD_isError(b.error) && b.upperBound > 0) {
      int workers = static_cast<int>(
          std::min<unsigned>(threads, static_cast<unsigned>(b.upperBound)));
      if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_nbWorkers, workers))) {
        ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_nbWorkers, 0);
      }
    }
  }
  size_t rc = ZSTD_CCtx_setPledgedSrcSize(cctx.get(), ZSTD_CONTENTSIZE_UNKNOWN);
  if (ZSTD_isError(rc)) {
    return make_error(ErrorCode::kInternal,
                      fmt::format("zstd: cannot reset source size: {}", ZSTD_getErrorName(rc)));
  }
  return std::make_unique<ZstdEncoder>(std::move(cctx), std::move(out));
}

Result<std::unique_ptr<Encoder>> make_gzip_encoder(int level, ByteCallback out) {
  if (level < 1 || level > 9) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("gzip level must be 1..9, got {}", level));
  }
  auto enc = std::make_unique<GzipEncoder>(std::move(out));
  BZZZ_TRY(enc->init(level));
  return enc;
}

// ---------------------------------------------------------------------------------
// Decoders

// Holds the size bookkeeping every decoder shares, so a blob's recorded size bounds
// what any codec can emit.
class SizedDecoder : public Decoder, protected Sticky {
 public:
  SizedDecoder(uint64_t expected_size, ByteCallback out)
      : expected_(expected_size), out_(std::move(out)) {}

 protected:
  Status emit(std::span<const uint8_t> piece) {
    if (piece.empty()) return ok();
    if (piece.size() > expected_ - produced_) {
      return stick(corrupt(
          fmt::format("decoded data is longer than the recorded size {}", expected_)));
    }
    produced_ += piece.size();
    auto s = out_(piece);
    if (!s) return stick(std::move(s).error());
    return ok();
  }

  Status check_complete() {
    if (produced_ != expected_) {
      return stick(corrupt(fmt::format(
          "decoded data is shorter than the recorded size: got {} of {} bytes", produced_,
          expected_)));
    }
    finished_ = true;
    return ok();
  }

 private:
  uint64_t expected_;
  uint64_t produced_ = 0;
  ByteCallback out_;
};

class RawDecoder final : public SizedDecoder {
 public:
  using SizedDecoder::SizedDecoder;

  Status update(std::span<const uint8_t> input) override {
    if (auto e = unusable("raw decoder")) return fail(std::move(*e));
    while (!input.empty()) {
      size_t n = std::min(input.size(), kMaxPiece);
      BZZZ_TRY(emit(input.first(n)));
      input = input.subspan(n);
    }
    return ok();
  }

  Status finish() override {
    if (auto e = unusable("raw decoder")) return fail(std::move(*e));
    return check_complete();
  }
};

class ZstdDecoder final : public SizedDecoder {
 public:
  ZstdDecoder(ZstdDCtxPtr dctx, uint64_t expected_size, ByteCallback out)
      : SizedDecoder(expected_size, std::move(out)),
        dctx_(std::move(dctx)),
        buf_(ZSTD_DStreamOutSize()) {}

  Status update(std::span<const uint8_t> input) override {
    if (auto e = unusable("zstd decoder")) return fail(std::move(*e));
    if (input.empty()) return ok();
    if (frame_done_) return trailing();
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    bool out_full = false;
    // A full output buffer may leave decoded bytes inside zstd even when all input is
    // consumed, so keep going until it is drained.
    while (in.pos < in.size || out_full) {
      BZZZ_TRY(step(in, out_full));
      if (frame_done_) {
        if (in.pos < in.size) return trailing();
        break;
      }
    }
    return ok();
  }

  Status finish() override {
    if (auto e = unusable("zstd decoder")) return fail(std::move(*e));
    if (!frame_done_) {
      // zstd may report the end of a frame only once asked again with no new input.
      ZSTD_inBuffer in{nullptr, 0, 0};
      bool out_full = true;
      while (out_full && !frame_done_) BZZZ_TRY(step(in, out_full));
    }
    if (!frame_done_) return stick(truncated("incomplete zstd frame"));
    return check_complete();
  }

 private:
  Status step(ZSTD_inBuffer& in, bool& out_full) {
    ZSTD_outBuffer out{buf_.data(), buf_.size(), 0};
    size_t rc = ZSTD_decompressStream(dctx_.get(), &out, &in);
    if (ZSTD_isError(rc)) {
      ErrorCode code = ZSTD_getErrorCode(rc) == ZSTD_error_memory_allocation
                           ? ErrorCode::kInternal
                           : ErrorCode::kCorrupt;
      return stick(Error(code, fmt::format("invalid zstd data: {}", ZSTD_getErrorName(rc))));
    }
    BZZZ_TRY(emit(bytes_of(buf_, out.pos)));
    out_full = out.pos == out.size;
    if (rc == 0) frame_done_ = true;
    return ok();
  }

  Status trailing() {
    return stick(corrupt("trailing bytes after the end of the zstd frame"));
  }

  ZstdDCtxPtr dctx_;
  std::vector<uint8_t> buf_;
  bool frame_done_ = false;
};

class GzipDecoder final : public SizedDecoder {
 public:
  GzipDecoder(uint64_t expected_size, ByteCallback out)
      : SizedDecoder(expected_size, std::move(out)), buf_(kZlibBufferSize) {}
  ~GzipDecoder() override {
    if (initialized_) inflateEnd(&strm_);
  }
  GzipDecoder(const GzipDecoder&) = delete;
  GzipDecoder& operator=(const GzipDecoder&) = delete;

  Status init() {
    int rc = inflateInit2(&strm_, 15 + 16);
    if (rc != Z_OK) {
      return make_error(ErrorCode::kInternal,
                        fmt::format("inflateInit2 failed: {}", zError(rc)));
    }
    initialized_ = true;
    return ok();
  }

  Status update(std::span<const uint8_t> input) override {
    if (auto e = unusable("gzip decoder")) return fail(std::move(*e));
    if (input.empty()) return ok();
    if (member_done_) return trailing(input);
    while (!input.empty()) {
      size_t n = std::min(input.size(), kZlibMaxSlice);
      strm_.next_in = const_cast<Bytef*>(input.data());
      strm_.avail_in = static_cast<uInt>(n);
      input = input.subspan(n);
      bool out_full = false;
      while (strm_.avail_in > 0 || out_full) {
        BZZZ_TRY(step(out_full));
        if (member_done_) {
          if (strm_.avail_in > 0) {
            return trailing({strm_.next_in, strm_.avail_in});
          }
          if (!input.empty()) return trailing(input);
          return ok();
        }
      }
    }
    return ok();
  }

  Status finish() override {
    if (auto e = unusable("gzip decoder")) return fail(std::move(*e));
    if (!member_done_) {
      strm_.next_in = nullptr;
      strm_.avail_in = 0;
      bool out_full = true;
      while (out_full && !member_done_) BZZZ_TRY(step(out_full));
    }
    if (!member_done_) return stick(truncated("incomplete gzip member"));
    return check_complete();
  }

 private:
  Status step(bool& out_full) {
    strm_.next_out = buf_.data();
    strm_.avail_out = static_cast<uInt>(buf_.size());
    int rc = inflate(&strm_, Z_NO_FLUSH);
    switch (rc) {
      case Z_OK:
      case Z_STREAM_END:
      case Z_BUF_ERROR:  // no progress possible: more input is needed
        break;
      case Z_MEM_ERROR:
        return stick(Error(ErrorCode::kInternal, "gzip decoder: out of memory"));
      case Z_NEED_DICT:
        return stick(corrupt("invalid gzip data: requires a preset dictionary"));
      default:
        return stick(corrupt(fmt::format("invalid gzip data: {}",
                                         strm_.msg != nullptr ? strm_.msg : zError(rc))));
    }
    size_t produced = buf_.size() - strm_.avail_out;
    BZZZ_TRY(emit(bytes_of(buf_, produced)));
    out_full = strm_.avail_out == 0;
    if (rc == Z_STREAM_END) member_done_ = true;
    return ok();
  }

  Status trailing(std::span<const uint8_t> rest) {
    // A second member would decode with `gzip -d`, so say why it is refused here.
    if (!rest.empty() && rest[0] == 0x1f && (rest.size() == 1 || rest[1] == 0x8b)) {
      return stick(corrupt(
          "trailing bytes after the end of the gzip member: data with several "
          "concatenated gzip members is not supported"));
    }
    return stick(corrupt("trailing bytes after the end of the gzip member"));
  }

  z_stream strm_{};
  bool initialized_ = false;
  std::vector<uint8_t> buf_;
  bool member_done_ = false;
};

Status require_callback(const ByteCallback& out) {
  if (!out) return make_error(ErrorCode::kInvalidArgument, "codec output callback is empty");
  return ok();
}

}  // namespace

std::string_view codec_name(Codec codec) {
  switch (codec) {
    case Codec::kRaw: return "raw";
    case Codec::kZstd: return "zstd";
    case Codec::kGzip: return "gzip";
  }
  return "unknown";
}

Result<Codec> parse_codec(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  if (lower == "raw" || lower == "none") return Codec::kRaw;
  if (lower == "zstd") return Codec::kZstd;
  if (lower == "gzip") return Codec::kGzip;
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("unknown codec \"{}\" (accepted: raw, none, zstd, gzip)", name));
}

Result<std::unique_ptr<Encoder>> make_encoder(Codec codec, int level, unsigned threads,
                                              ByteCallback out) {
  BZZZ_TRY(require_callback(out));
  switch (codec) {
    case Codec::kZstd: return make_zstd_encoder(level, threads, std::move(out));
    case Codec::kGzip: return make_gzip_encoder(level, std::move(out));
    case Codec::kRaw:
      return make_error(ErrorCode::kInvalidArgument,
                        "the raw codec has no encoder: store the bytes as they are");
  }
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("unknown codec id {}", static_cast<int>(codec)));
}

Result<std::unique_ptr<Decoder>> make_decoder(Codec codec, uint64_t expected_size,
                                              ByteCallback out) {
  BZZZ_TRY(require_callback(out));
  switch (codec) {
    case Codec::kRaw: return std::make_unique<RawDecoder>(expected_size, std::move(out));
    case Codec::kZstd: {
      ZstdDCtxPtr dctx(ZSTD_createDCtx());
      if (!dctx) return make_error(ErrorCode::kInternal, "cannot allocate a zstd context");
      return std::make_unique<ZstdDecoder>(std::move(dctx), expected_size, std::move(out));
    }
    case Codec::kGzip: {
      auto dec = std::make_unique<GzipDecoder>(expected_size, std::move(out));
      BZZZ_TRY(dec->init());
      return dec;
    }
  }
  return make_error(ErrorCode::kCorrupt,
                    fmt::format("unknown codec id {}", static_cast<int>(codec)));
}

namespace {

// Small blobs are encoded and decoded one at a time at high rates; a fresh zstd context
// per call costs more than the work itself, so each thread keeps one.
Result<std::vector<uint8_t>> zstd_encode_once(int level, std::span<const uint8_t> input) {
  thread_local ZstdCCtxPtr cctx(ZSTD_createCCtx());
  if (!cctx) return make_error(ErrorCode::kInternal, "cannot allocate a zstd context");
  ZSTD_CCtx_reset(cctx.get(), ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 0);
  std::vector<uint8_t> out(ZSTD_compressBound(input.size()));
  size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), input.data(), input.size());
  if (ZSTD_isError(n)) {
    return make_error(ErrorCode::kInternal,
                      fmt::format("zstd compression failed: {}", ZSTD_getErrorName(n)));
  }
  out.resize(n);
  return out;
}

// Returns nullopt when the frame does not record its size: the streaming path decides.
std::optional<Result<std::vector<uint8_t>>> zstd_decode_once(uint64_t expected_size,
                                                             std::span<const uint8_t> input) {
  using Out = Result<std::vector<uint8_t>>;
  unsigned long long content = ZSTD_getFrameContentSize(input.data(), input.size());
  if (content == ZSTD_CONTENTSIZE_UNKNOWN || content == ZSTD_CONTENTSIZE_ERROR) return std::nullopt;
  if (content > expected_size) {
    return Out(fail(corrupt(
        fmt::format("decoded data is longer than the recorded size {}", expected_size))));
  }
  size_t frame = ZSTD_findFrameCompressedSize(input.data(), input.size());
  if (ZSTD_isError(frame)) return std::nullopt;
  if (frame < input.size()) {
    return Out(fail(corrupt("trailing bytes after the end of the zstd frame")));
  }
  thread_local ZstdDCtxPtr dctx(ZSTD_createDCtx());
  if (!dctx) return Out(make_error(ErrorCode::kInternal, "cannot allocate a zstd context"));
  std::vector<uint8_t> out(static_cast<size_t>(content));
  size_t n = ZSTD_decompressDCtx(dctx.get(), out.data(), out.size(), input.data(), input.size());
  if (ZSTD_isError(n)) {
    return Out(fail(corrupt(fmt::format("invalid zstd data: {}", ZSTD_getErrorName(n)))));
  }
  if (n != expected_size) {
    return Out(fail(corrupt(fmt::format(
        "decoded data is shorter than the recorded size: got {} of {} bytes", n, expected_size))));
  }
  return Out(std::move(out));
}

}  // namespace

Status check_level(Codec codec, int level) {
  switch (codec) {
    case Codec::kRaw:
      return ok();
    case Codec::kZstd:
      if (level == 0 || level < ZSTD_minCLevel() || level > 19) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("zstd level must be 1..19 or negative (down to {}), got {}",
                                      ZSTD_minCLevel(), level));
      }
      return ok();
    case Codec::kGzip:
      if (level < 1 || level > 9) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("gzip level must be 1..9, got {}", level));
      }
      return ok();
  }
  return make_error(ErrorCode::kInvalidArgument, "unknown codec");
}

Result<std::vector<uint8_t>> encode(Codec codec, int level, std::span<const uint8_t> input) {
  if (codec == Codec::kZstd && level != 0 && level >= ZSTD_minCLevel() && level <= 19) {
    return zstd_encode_once(level, input);
  }
  std::vector<uint8_t> result;
  BZZZ_ASSIGN_OR_RETURN(auto enc,
                        make_encoder(codec, level, 0, [&](std::span<const uint8_t> piece) {
                          result.insert(result.end(), piece.begin(), piece.end());
                          return ok();
                        }));
  BZZZ_TRY(enc->update(input));
  BZZZ_TRY(enc->finish());
  return result;
}

Result<std::vector<uint8_t>> decode(Codec codec, uint64_t expected_size,
                                    std::span<const uint8_t> input) {
  if (codec == Codec::kZstd && expected_size <= kDecodeReserveCap) {
    if (auto once = zstd_decode_once(expected_size, input)) return std::move(*once);
  }
  std::vector<uint8_t> result;
  // The recorded size may be damaged or hostile; past this guess the vector grows only
  // as real output arrives, and the decoder stops it at expected_size anyway.
  size_t guess = input.size() > kDecodeReserveCap / kDecodeReserveFactor
                     ? kDecodeReserveCap
                     : input.size() * kDecodeReserveFactor;
  result.reserve(static_cast<size_t>(
      std::min<uint64_t>({expected_size, guess, uint64_t{kDecodeReserveCap}})));
  BZZZ_ASSIGN_OR_RETURN(auto dec,
                        make_decoder(codec, expected_size, [&](std::span<const uint8_t> piece) {
                          result.insert(result.end(), piece.begin(), piece.end());
                          return ok();
                        }));
  BZZZ_TRY(dec->update(input));
  BZZZ_TRY(dec->finish());
  return result;
}

}  // namespace bzzz::store
