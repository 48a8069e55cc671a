// Verified imports: blobs put by 1 MiB pieces in any order, each checked against a piece
// tree proven against the blob's hash before anything was written, then installed like
// a large put's temp file. Checking every piece against a proven tree is as good as
// hashing the whole file, so finish() does not read it back.
#include <fcntl.h>

#include <algorithm>

#include <fmt/format.h>

#include "content/store/store_internal.h"

namespace bzzz::store {

namespace {

// The full pieces of a blob of `size` bytes: those before the piece holding its last
// chunk (base/crypto/blake3.h), so a canonical tail holds 1 to kPieceBytes bytes (none
// only for the empty blob).
uint64_t full_pieces(uint64_t size) { return size == 0 ? 0 : (size - 1) / kPieceBytes; }

}  // namespace

Result<std::unique_ptr<Import>> Store::begin_import(const Hash& hash, PieceTree tree,
                                                    std::vector<uint8_t> tail) {
  // The shape first: root_with_tail assumes a canonical tree (the tail ends the input).
  if (tree.size != tree.tail_offset() + tail.size() || tree.cvs.size() != full_pieces(tree.size)) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("the piece tree offered for blob {} is malformed: {} pieces "
                                  "and {} tail bytes for {} bytes",
                                  hash.hex(), tree.cvs.size(), tail.size(), tree.size));
  }
  if (Hash root = root_with_tail(tree, tail); root != hash) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("the piece tree and tail offered for blob {} hash to {}",
                                  hash.hex(), root.hex()));
  }
  const uint64_t size = tree.size;
  std::unique_ptr<Import> import(new Import(*this, hash, std::move(tree), std::move(tail)));
  if (import->piece_count() == 0) return import;  // the tail is the whole blob
  std::string path = temp_path("import");
  BZZZ_ASSIGN_OR_RETURN(import->file_, fs::File::open(path, O_WRONLY | O_CREAT | O_EXCL));
  import->temp_path_ = std::move(path);
  // Reserved now: pieces arrive at scattered offsets, and a disk that cannot hold the
  // blob should say so before any peer was asked for a piece.
  BZZZ_TRY(import->file_.allocate(size));
  return import;
}

Import::Import(Store& store, const Hash& hash, PieceTree tree, std::vector<uint8_t> tail)
    : store_(store),
      hash_(hash),
      tree_(std::make_shared<const PieceTree>(std::move(tree))),
      tail_(std::move(tail)),
      written_(tree_->cvs.size(), false),
      missing_(tree_->cvs.size()) {}

Import::~Import() { discard(); }

void Import::discard() {
  if (installed_ || temp_path_.empty()) return;
  (void)file_.close();
  (void)fs::remove_file(temp_path_);
  temp_path_.clear();
}

Status Import::write_piece(size_t index, std::span<const uint8_t> bytes) {
  {
    std::lock_guard lock(mu_);
    if (done_) {
      return make_error(ErrorCode::kInternal,
                        fmt::format("piece {} written after the import of blob {} finished",
                                    index, hash_.hex()));
    }
  }
  if (index >= piece_count()) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("blob {} has {} full pieces: there is no piece {}", hash_.hex(),
                                  piece_count(), index));
  }
  if (!piece_matches(*tree_, index, bytes)) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("piece {} of blob {} ({} bytes) does not match its piece "
                                  "tree; nothing was written",
                                  index, hash_.hex(), bytes.size()));
  }
  const uint64_t offset = uint64_t{index} * kPieceBytes;
  BZZZ_TRY(file_.pwrite_all(bytes, offset));
  // Let the disk work while other pieces arrive: the fsync in finish() then waits for
  // the last few only.
  file_.start_writeback(offset, bytes.size());
  std::lock_guard lock(mu_);
  if (!written_[index]) {
    written_[index] = true;
    --missing_;
  }
  return ok();
}

std::vector<size_t> Import::missing() const {
  std::lock_guard lock(mu_);
  std::vector<size_t> out;
  out.reserve(missing_);
  for (size_t i = 0; i < written_.size(); ++i) {
    if (!written_[i]) out.push_back(i);
  }
  return out;
}

bool Import::complete() const {
  std::lock_guard lock(mu_);
  return missing_ == 0;
}

Result<PutResult> Import::finish() {
  {
    std::lock_guard lock(mu_);
    if (done_) {
      return make_error(ErrorCode::kInternal,
                        fmt::format("the import of blob {} finished twice", hash_.hex()));
    }
    if (missing_ > 0) {
      size_t first = static_cast<size_t>(
          std::find(written_.begin(), written_.end(), false) - written_.begin());
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("the import of blob {} is missing piece {} ({} of {} "
                                    "pieces missing)",
                                    hash_.hex(), first, missing_, written_.size()));
    }
    done_ = true;
  }
  // Without full pieces the blob is its (proven) tail: small ones belong in packs.
  if (piece_count() == 0) return store_.put(tail_);
  auto put = install();
  if (!put) discard();
  return put;
}

Result<PutResult> Import::install() {
  const PieceTree& tree = *tree_;
  BZZZ_TRY(file_.pwrite_all(tail_, tree.tail_offset()));
  BZZZ_TRY(file_.sync());
  // What LargeBlobWriter hands put_file for a raw blob.
  Store::Mutation m;
  m.kind = Store::Mutation::Kind::kAddFile;
  m.hash = hash_;
  m.meta.size = tree.size;
  m.meta.codec = Codec::kRaw;
  m.meta.stored_size = tree.size;
  m.meta.location = Location::kFile;
  m.temp_path = temp_path_;
  BZZZ_TRY(store_.submit({&m}));
  BZZZ_TRY(m.status);
  installed_ = true;  // the temp file is installed (or dropped as a duplicate) now
  if (m.result.location == Location::kFile && m.result.codec == Codec::kRaw) {
    // As open_verified_file would: the tree is proven, so reads need not hash first.
    std::lock_guard lock(store_.trees_mu_);
    if (store_.trees_.size() >= internal::kMaxPieceTrees) store_.trees_.clear();
    store_.trees_[hash_] = tree_;
  }
  return PutResult{m.hash, m.result, m.deduplicated};
}

}  // namespace bzzz::store
