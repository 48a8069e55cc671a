// Reads: index lookups that wait for acknowledged commits, verified reads of packed
// and file blobs, and the retry that tells moved bytes from damaged ones.
#include "content/store/store.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <fstream>
#include <cerrno>
#include <set>
#include <thread>
#include <unordered_set>
#include <fmt/format.h>
#include "base/crypto/blake3.h"
#include "content/store/store_internal.h"

namespace bzzz::store {

using internal::now_ns;

// ---------------------------------------------------------------------------------
// reads

Result<BlobMeta> Store::stat(const Hash& hash) {
  BZZZ_TRY(wait_for_index());
  BZZZ_ASSIGN_OR_RETURN(auto meta, index_->get(hash));
  if (!meta) return make_error(ErrorCode::kNotFound, fmt::format("blob {} not found", hash.hex()));
  return *meta;
}

bool Store::contains(const Hash& hash) {
  if (!wait_for_index()) return false;
  auto meta = index_->get(hash);
  return meta && meta->has_value();
}

Status Store::list(const std::function<bool(const Hash&, const BlobMeta&)>& fn) {
  BZZZ_TRY(wait_for_index());
  return index_->scan(fn);
}

std::optional<CachedBlob> Store::cached(const Hash& hash) {
  auto hit = cache_.get(hash);
  if (hit) note_access(hash, hit->meta);
  return hit;
}

Result<std::vector<uint8_t>> Store::read(const Hash& hash) {
  internal::VectorSink sink;
  BZZZ_TRY(read_to(hash, sink));
  return std::move(sink.data);
}

Status Store::read_to(const Hash& hash, ByteSink& sink) {
  Lease lease(*this, hash);
  BZZZ_TRY(wait_for_index());
  for (int attempt = 0;; ++attempt) {
    BZZZ_ASSIGN_OR_RETURN(auto meta, index_->get(hash));
    if (!meta) return make_error(ErrorCode::kNotFound, fmt::format("blob {} not found", hash.hex()));
    bool retry = false;
    auto status = read_once(hash, *meta, sink, &retry);
    if (status) {
      note_access(hash, *meta);
      return status;
    }
    if (!retry) return status;  // the sink failed, not the blob
    BZZZ_ASSIGN_OR_RETURN(bool again, moved_since(hash, *meta, attempt));
    if (!again) return status;
  }
}

Result<bool> Store::moved_since(const Hash& hash, const BlobMeta& seen, int attempt) {
  // optimize and pack compaction move blobs: a reader can meet the new bytes before
  // the index names them. Wait out the commit in progress, then look again; only a
  // failure against an unchanged entry is corruption.
  { std::lock_guard barrier(commit_mu_); }
  BZZZ_ASSIGN_OR_RETURN(auto now, index_->get(hash));
  if (!now) return make_error(ErrorCode::kNotFound, fmt::format("blob {} not found", hash.hex()));
  if (*now != seen && attempt < 2) return true;
  corrupt_reads_.fetch_add(1);
  mark_corrupt(hash, *now);
  return false;
}

namespace {
// Passes on only the bytes of [offset, offset+length) of what flows through it.
class RangeSink final : public ByteSink {
 public:
  RangeSink(ByteSink& out, uint64_t offset, uint64_t length)
      : out_(out), begin_(offset), end_(offset + length) {}
  Status write(std::span<const uint8_t> data) override {
    uint64_t start = pos_, stop = pos_ + data.size();
    pos_ = stop;
    uint64_t from = std::max(start, begin_), to = std::min(stop, end_);
    if (from >= to) return ok();
    return out_.write(data.subspan(from - start, to - from));
  }

 private:
  ByteSink& out_;
  uint64_t begin_, end_, pos_ = 0;
};
}  // namespace

Status Store::read_range_to(const Hash& hash, uint64_t offset, uint64_t length, ByteSink& sink) {
  BZZZ_ASSIGN_OR_RETURN(auto meta, stat(hash));
  if (offset > meta.size || length > meta.size - offset) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("range {}+{} is outside blob {} of {} bytes", offset, length,
                                  hash.hex(), meta.size));
  }
  RangeSink range(sink, offset, length);
  return read_to(hash, range);
}

Result<std::optional<Store::VerifiedFile>> Store::open_verified_file(const Hash& hash) {
  using Out = std::optional<VerifiedFile>;
  Lease lease(*this, hash);
  for (int attempt = 0;; ++attempt) {
    BZZZ_ASSIGN_OR_RETURN(auto meta, stat(hash));
    if (meta.location != Location::kFile || meta.codec != Codec::kRaw) return Out();
    std::string path = blob_path(hash);
    auto file = fs::File::open_read(path);
    Status problem = ok();
    if (!file) {
      problem = fail(corrupt(hash, file.error().code() == ErrorCode::kNotFound
                                       ? fmt::format("its file {} is missing", path)
                                       : file.error().message()));
    } else if (auto size = file->size(); !size || *size != meta.size) {
      problem = fail(corrupt(hash, fmt::format("its file {} does not have the {} bytes recorded",
                                               path, meta.size)));
    } else {
      BZZZ_ASSIGN_OR_RETURN(auto hashed, blake3_fd_pieces(file->fd(), path, options_.threads));
      auto& [actual, tree] = hashed;
      if (actual == hash) {
        note_access(hash, meta);
        auto shared = std::make_shared<const PieceTree>(std::move(tree));
        if (!shared->cvs.empty()) {
          std::lock_guard lock(trees_mu_);
          if (trees_.size() >= internal::kMaxPieceTrees) trees_.clear();
          trees_[hash] = shared;
        }
        return Out(VerifiedFile{std::move(*file), meta, shared, true});
      }
      problem = fail(corrupt(hash, fmt::format("its file {} hashes to {}", path, actual.hex())));
    }
    BZZZ_ASSIGN_OR_RETURN(bool again, moved_since(hash, meta, attempt));
    if (!again) return fail(problem.error());
  }
}

Result<std::optional<Store::VerifiedFile>> Store::open_piecewise(const Hash& hash) {
  using Out = std::optional<VerifiedFile>;
  std::shared_ptr<const PieceTree> tree;
  {
    std::lock_guard lock(trees_mu_);
    auto it = trees_.find(hash);
    if (it == trees_.end()) return Out();
    tree = it->second;
  }
  BZZZ_ASSIGN_OR_RETURN(auto meta, stat(hash));
  if (meta.location != Location::kFile || meta.codec != Codec::kRaw || meta.size != tree->size) {
    forget_tree(hash);
    return Out();
  }
  auto file = fs::File::open_read(blob_path(hash));
  if (!file) return Out();  // moved or gone: the full path will say which
  auto size = file->size();
  if (!size || *size != tree->size) return Out();
  note_access(hash, meta);
  return Out(VerifiedFile{std::move(*file), meta, std::move(tree), false});
}

void Store::forget_tree(const Hash& hash) {
  std::lock_guard lock(trees_mu_);
  trees_.erase(hash);
}

void Store::mark_corrupt(const Hash& hash, const BlobMeta& meta) {
  // Best effort: the flag lets the next put of the same content repair the blob, and
  // shows in stat; failing to record it changes nothing else.
  Mutation m;
  m.kind = Mutation::Kind::kMarkCorrupt;
  m.hash = hash;
  m.expected = meta;
  (void)submit({&m});
}

Error Store::corrupt(const Hash& hash, const std::string& what) {
  return Error(ErrorCode::kCorrupt,
               fmt::format("blob {} is corrupt: {}; it was not served (run `bzzz verify`)",
                           hash.hex(), what));
}

void Store::note_access(const Hash& hash, const BlobMeta& meta) {
  // Access times are coarse (like relatime): a read records one only when the stored
  // time is over a minute old, so hot reads cost no index writes.
  int64_t now = now_ns();
  if (now - meta.accessed_ns < internal::kAccessGranularityNs) return;
  std::lock_guard lock(touch_mu_);
  touches_[hash] = now;
}

std::vector<std::pair<Hash, int64_t>> Store::take_touches() {
  std::lock_guard lock(touch_mu_);
  std::vector<std::pair<Hash, int64_t>> out(touches_.begin(), touches_.end());
  touches_.clear();
  return out;
}

bool Store::leased(const Hash& hash) {
  std::lock_guard lock(lease_mu_);
  return leases_.count(hash) != 0;
}

Result<std::shared_ptr<fs::File>> Store::pack_reader(uint32_t pack_id) {
  std::lock_guard lock(readers_mu_);
  auto it = pack_readers_.find(pack_id);
  if (it != pack_readers_.end()) return it->second;
  BZZZ_ASSIGN_OR_RETURN(auto file, fs::File::open_read(pack_path(pack_id)));
  auto shared = std::make_shared<fs::File>(std::move(file));
  // Bounded, so a store of many packs never runs out of descriptors; readers holding a
  // dropped one keep it until they finish.
  if (pack_readers_.size() >= internal::kMaxPackReaders) pack_readers_.clear();
  pack_readers_[pack_id] = shared;
  return shared;
}

void Store::forget_pack_reader(uint32_t pack_id) {
  std::lock_guard lock(readers_mu_);
  pack_readers_.erase(pack_id);
}

Status Store::read_once(const Hash& hash, const BlobMeta& meta, ByteSink& sink, bool* retry) {
  *retry = false;
  if (meta.location == Location::kPack) {
    auto reader = pack_reader(meta.pack_id);
    if (!reader) {
      *retry = true;
      return fail(corrupt(hash, fmt::format("its pack {} cannot be opened: {}",
                                            pack_file_name(meta.pack_id), reader.error().message())));
    }
    std::vector<uint8_t> stored(meta.stored_size);
    auto read = (*reader)->pread_exact(stored, meta.offset);
    if (!read) {
      *retry = true;
      return fail(corrupt(hash, read.error().message()));
    }
    std::vector<uint8_t> decoded;
    std::span<const uint8_t> bytes = stored;
    if (meta.codec != Codec::kRaw) {
      auto d = decode(meta.codec, meta.size, stored);
      if (!d) {
        *retry = true;
        return fail(corrupt(hash, d.error().message()));
      }
      decoded = std::move(*d);
      bytes = decoded;
    }
    if (bytes.size() != meta.size || blake3(bytes) != hash) {
      *retry = true;
      return fail(corrupt(hash, fmt::format("its bytes in {} hash to {}", pack_file_name(meta.pack_id),
                                            blake3(bytes).hex())));
    }
    cache_.put(hash, meta, bytes);
    return sink.write(bytes);
  }
  return read_file(hash, meta, sink, retry);
}

}  // namespace bzzz::store
