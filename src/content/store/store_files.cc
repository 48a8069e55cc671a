// Large blobs: streaming them into blobs/temp, installing them, and reading them back
// verified. Also the pins journal's record format.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "content/store/store_internal.h"

namespace bzzz::store {
namespace internal {

namespace {
constexpr uint32_t kPinMagic = 0x4e49505a;  // "ZPIN"

unsigned worker_threads(unsigned configured) {
  if (configured != 0) return configured;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}
}  // namespace

std::array<uint8_t, kPinRecordSize> encode_pin_record(const PinRecord& r) {
  std::array<uint8_t, kPinRecordSize> out{};
  put_u32(out.data(), kPinMagic);
  std::memcpy(out.data() + 4, r.hash.data(), kHashSize);
  put_u32(out.data() + 36, static_cast<uint32_t>(r.delta));
  put_u32(out.data() + 40, static_cast<uint32_t>(crc32(0L, out.data(), 40)));
  return out;
}

std::optional<PinRecord> decode_pin_record(std::span<const uint8_t> b) {
  if (b.size() != kPinRecordSize || get_u32(b.data()) != kPinMagic) return std::nullopt;
  if (get_u32(b.data() + 40) != static_cast<uint32_t>(crc32(0L, b.data(), 40))) return std::nullopt;
  int32_t delta = static_cast<int32_t>(get_u32(b.data() + 36));
  if (delta != 1 && delta != -1) return std::nullopt;
  return PinRecord{Hash(std::span<const uint8_t, kHashSize>(b.data() + 4, kHashSize)), delta};
}

std::string shard_dir_of(const std::string& blob_path) {
  return blob_path.substr(0, blob_path.find_last_of('/'));
}

Status install_file(const std::string& temp, const std::string& final_path) {
  std::string shard = shard_dir_of(final_path);
  BZZZ_TRY(fs::make_dirs(shard));
  BZZZ_TRY(fs::rename(temp, final_path));
  return fs::sync_dir(shard);
}

LargeBlobWriter::~LargeBlobWriter() {
  if (released_) return;
  if (!raw_path_.empty()) (void)fs::remove_file(raw_path_);
  if (!z_path_.empty()) (void)fs::remove_file(z_path_);
}

Status LargeBlobWriter::start(std::string raw_path, std::string z_path,
                              std::span<const uint8_t> head) {
  raw_path_ = std::move(raw_path);
  BZZZ_ASSIGN_OR_RETURN(raw_, fs::File::open(raw_path_, O_WRONLY | O_CREAT | O_EXCL));
  // Compress the whole stream only if its head compresses well enough: incompressible
  // data (the common large case: media, archives, encrypted files) costs no CPU.
  if (options_.codec != Codec::kRaw) {
    BZZZ_ASSIGN_OR_RETURN(auto probe, encode(options_.codec, options_.level, head));
    if (saves_enough(probe.size(), head.size(), options_.min_savings)) {
      z_path_ = std::move(z_path);
      BZZZ_ASSIGN_OR_RETURN(z_, fs::File::open(z_path_, O_WRONLY | O_CREAT | O_EXCL));
      BZZZ_ASSIGN_OR_RETURN(
          encoder_, make_encoder(options_.codec, options_.level, worker_threads(options_.threads),
                                 [this](std::span<const uint8_t> out) {
                                   z_size_ += out.size();
                                   return z_.write_all(out);
                                 }));
    }
  }
  return write(head);
}

Status LargeBlobWriter::write(std::span<const uint8_t> data) {
  hasher_.update(data);
  size_ += data.size();
  // The raw copy is kept until the end because a stream cannot be read twice, and the
  // compressed one may yet turn out not to save enough.
  BZZZ_TRY(raw_.write_all(data));
  if (encoder_) BZZZ_TRY(encoder_->update(data));
  // Let the disk work while we read and hash: the fsync at the end then waits for the
  // last chunk only, not for the whole blob.
  if (size_ - raw_flushed_ >= kWritebackChunk) {
    raw_.start_writeback(raw_flushed_, size_ - raw_flushed_);
    raw_flushed_ = size_;
  }
  if (encoder_ && z_size_ - z_flushed_ >= kWritebackChunk) {
    z_.start_writeback(z_flushed_, z_size_ - z_flushed_);
    z_flushed_ = z_size_;
  }
  return ok();
}

Result<LargeBlobWriter::Done> LargeBlobWriter::finish() {
  Done done;
  done.hash = hasher_.finalize();
  done.meta.size = size_;
  done.meta.location = Location::kFile;
  bool use_z = false;
  if (encoder_) {
    BZZZ_TRY(encoder_->finish());
    use_z = saves_enough(z_size_, size_, options_.min_savings);
  }
  fs::File& keep = use_z ? z_ : raw_;
  BZZZ_TRY(keep.sync());
  BZZZ_TRY(keep.close());
  std::string& drop = use_z ? raw_path_ : z_path_;
  if (!drop.empty()) {
    (void)(use_z ? raw_ : z_).close();
    (void)fs::remove_file(drop);
    drop.clear();
  }
  done.meta.codec = use_z ? options_.codec : Codec::kRaw;
  done.meta.stored_size = use_z ? z_size_ : size_;
  done.path = use_z ? z_path_ : raw_path_;
  return done;
}

Result<std::optional<std::pair<Codec, std::vector<uint8_t>>>> reencode_small(
    const StoreOptions& options, std::span<const uint8_t> original) {
  using Out = std::optional<std::pair<Codec, std::vector<uint8_t>>>;
  if (options.codec == Codec::kRaw || original.empty()) return Out();
  BZZZ_ASSIGN_OR_RETURN(auto encoded, encode(options.codec, options.level, original));
  if (!saves_enough(encoded.size(), original.size(), options.min_savings)) return Out();
  return Out(std::make_pair(options.codec, std::move(encoded)));
}

}  // namespace internal


Status Store::read_file(const Hash& hash, const BlobMeta& meta, ByteSink& sink, bool* retry) {
  std::string path = blob_path(hash);
  auto file = fs::File::open_read(path);
  if (!file) {
    *retry = true;
    return fail(corrupt(hash, file.error().code() == ErrorCode::kNotFound
                                  ? fmt::format("its file {} is missing", path)
                                  : file.error().message()));
  }
  BZZZ_ASSIGN_OR_RETURN(uint64_t size, file->size());
  if (size != meta.stored_size) {
    *retry = true;
    return fail(corrupt(hash, fmt::format("its file {} has {} bytes, the index recorded {}", path,
                                          size, meta.stored_size)));
  }
  if (meta.codec == Codec::kRaw) {
    // Hash the whole file on all cores first, then serve it from the same descriptor
    // (a replacement renamed over the path meanwhile cannot mix in).
    BZZZ_ASSIGN_OR_RETURN(Hash actual, blake3_fd(file->fd(), path, options_.threads));
    if (actual != hash) {
      *retry = true;
      return fail(corrupt(hash, fmt::format("its file {} hashes to {}", path, actual.hex())));
    }
    std::vector<uint8_t> buf(std::min<uint64_t>(internal::kStreamBuffer, size));
    for (uint64_t offset = 0; offset < size;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - offset));
      BZZZ_TRY(file->pread_exact({buf.data(), n}, offset));
      BZZZ_TRY(sink.write({buf.data(), n}));
      offset += n;
    }
    return ok();
  }
  // Compressed: decode once to verify, then again to serve, so nothing unverified is
  // ever handed out and memory stays bounded whatever the size.
  auto decode_to = [&](const std::function<Status(std::span<const uint8_t>)>& out) -> Status {
    BZZZ_ASSIGN_OR_RETURN(auto decoder, make_decoder(meta.codec, meta.size, out));
    std::vector<uint8_t> buf(internal::kStreamBuffer);
    uint64_t offset = 0;
    while (offset < size) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - offset));
      BZZZ_TRY(file->pread_exact({buf.data(), n}, offset));
      BZZZ_TRY(decoder->update({buf.data(), n}));
      offset += n;
    }
    return decoder->finish();
  };
  Blake3Hasher hasher;
  auto verified = decode_to([&](std::span<const uint8_t> piece) {
    hasher.update(piece);
    return ok();
  });
  if (!verified) {
    *retry = true;
    return fail(corrupt(hash, fmt::format("its file {} does not decode: {}", path,
                                          verified.error().message())));
  }
  if (Hash actual = hasher.finalize(); actual != hash) {
    *retry = true;
    return fail(corrupt(hash, fmt::format("its file {} decodes to bytes hashing to {}", path,
                                          actual.hex())));
  }
  return decode_to([&](std::span<const uint8_t> piece) { return sink.write(piece); });
}

}  // namespace bzzz::store
