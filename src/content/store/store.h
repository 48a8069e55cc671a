// content/store: the content-addressed blob store on one machine's disk.
//
// Owns everything under the data dir:
//   LOCK                         held (flock) by the one process that has the store open
//   blobs/data/xx/yy/<hash>      blobs over the small-blob threshold, one file each
//   blobs/packs/pack-N.pack      small blobs, file intents and tombstones: the store's log
//   blobs/temp/                  staging for large puts and imports; emptied on open
//   blobs/pins.journal           pin +1/-1 records, the durable truth of pins
//   index/                       LMDB index (hash -> BlobMeta), rebuildable from the above
//
// Durability: a put returns only after its bytes and the log record that makes them
// findable are fsynced. Concurrent callers share those fsyncs: writers queue, and the
// one at the head commits the whole queue as one group (one pack append, one fdatasync,
// one index transaction). A crash at any moment loses nothing acknowledged: open()
// replays the log past the index's checkpoints and truncates a torn tail.
//
// Integrity: every read hashes what it is about to return and refuses bytes that do
// not match their name; such failures are counted and reported, never served.
//
// Thread-safe. Blocking: callers on an event loop run these on a worker pool.
// Depends only on base/; knows nothing of networks, nodes or commands.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/crypto/blake3.h"
#include "base/crypto/hash.h"
#include "base/fs/file.h"
#include "base/status/result.h"
#include "content/store/blob_meta.h"
#include "content/store/codec.h"
#include "content/store/index.h"
#include "content/store/pack.h"
#include "content/store/read_cache.h"

namespace bzzz::store {

namespace internal {
struct PinRecord;
class LargeBlobWriter;
}

class Store;

struct StoreOptions {
  uint64_t small_blob_threshold = 16 * 1024;  // blobs up to this size go into packs
  Codec codec = Codec::kZstd;                 // codec tried for new blobs (kRaw: never compress)
  int level = 3;                              // compression level of that codec
  double min_savings = 0.10;                  // keep compressed only if it saves this fraction
  unsigned threads = 0;                       // hashing/compression threads (0 = all cores)
  uint64_t pack_target_bytes = 256u << 20;    // start a new pack past this size
  double pack_compact_below = 0.5;            // gc rewrites packs whose live share is lower
  std::chrono::milliseconds lock_timeout{30000};
  uint64_t read_cache_bytes = 64u << 20;      // verified small blobs kept in memory (0: none)
  uint64_t read_cache_max_entry = 64u << 10;  // larger blobs are never cached
};

// A stream of bytes to put. read() returns 0 only at the end.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual Result<size_t> read(std::span<uint8_t> buf) = 0;
};

// Where read_to() delivers a blob's verified bytes.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Status write(std::span<const uint8_t> data) = 0;
};

class SpanSource final : public ByteSource {
 public:
  explicit SpanSource(std::span<const uint8_t> data) : data_(data) {}
  Result<size_t> read(std::span<uint8_t> buf) override;

 private:
  std::span<const uint8_t> data_;
};

class FdSource final : public ByteSource {
 public:
  FdSource(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  Result<size_t> read(std::span<uint8_t> buf) override;

 private:
  int fd_;
  std::string name_;
};

class FdSink final : public ByteSink {
 public:
  FdSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  Status write(std::span<const uint8_t> data) override;

 private:
  int fd_;
  std::string name_;
};

struct PutResult {
  Hash hash;
  BlobMeta meta;
  bool deduplicated = false;  // the store already held this content
};

struct GcOptions {
  std::chrono::nanoseconds grace = std::chrono::hours(1);
  bool dry_run = false;
};

struct GcReport {
  uint64_t examined = 0;
  uint64_t removed = 0;
  uint64_t removed_bytes = 0;     // logical bytes of removed blobs
  uint64_t kept_pinned = 0;
  uint64_t kept_recent = 0;       // within the grace period
  uint64_t kept_in_use = 0;       // a reader or writer held them
  uint64_t packs_compacted = 0;
  uint64_t pack_bytes_reclaimed = 0;
};

struct Problem {
  std::string object;  // a hash, or a path for orphans
  std::string reason;
};

struct VerifyReport {
  uint64_t checked = 0;
  uint64_t ok = 0;
  uint64_t bytes = 0;
  std::vector<Problem> bad;       // bytes do not hash to the name, or do not decode
  std::vector<Problem> missing;   // indexed, but the data is not there
  std::vector<Problem> orphaned;  // data the index does not know
  bool clean() const { return bad.empty() && missing.empty() && orphaned.empty(); }
};

struct Stats {
  StoreCounters counters;
  double compression_ratio = 1.0;  // stored / logical (1.0 when empty)
  uint64_t packs = 0;
  uint64_t pack_bytes = 0;
  uint64_t disk_free_bytes = 0;
  uint64_t disk_total_bytes = 0;
  uint64_t corrupt_reads = 0;      // since this process opened the store
};

struct OptimizeReport {
  uint64_t examined = 0;
  uint64_t rewritten = 0;
  uint64_t stored_before = 0;  // of the rewritten blobs
  uint64_t stored_after = 0;
};

// A put fed piece by piece, for bytes that arrive rather than being read (an HTTP
// body). Same guarantees as Store::put: finish() returns once the blob is durable.
// Destroying an unfinished upload discards what it wrote. Not thread-safe; one
// upload is fed by one caller at a time.
class Upload {
 public:
  ~Upload();
  Upload(const Upload&) = delete;
  Upload& operator=(const Upload&) = delete;

  Status write(std::span<const uint8_t> data);
  Result<PutResult> finish();

 private:
  friend class Store;
  explicit Upload(Store& store);
  Status start_large();

  Store& store_;
  std::vector<uint8_t> head_;  // until it is known whether the blob is small
  std::unique_ptr<internal::LargeBlobWriter> large_;
  bool done_ = false;
};

// A blob put by pieces in any order, for bytes fetched from several peers at once: its
// piece tree (base/crypto/blake3.h) and tail were proven against its hash up front
// (Store::begin_import), so each 1 MiB piece is checked alone as it arrives and the
// whole file need not be hashed again at the end. Same guarantees as Store::put:
// finish() returns once the blob is durable. Pieces are staged in blobs/temp, in a file
// sized up front; destroying an unfinished import, or a failed finish(), removes it.
// write_piece() may be called from several threads at once; finish() only once they
// have all returned.
class Import {
 public:
  ~Import();
  Import(const Import&) = delete;
  Import& operator=(const Import&) = delete;

  // Checks `bytes` against full piece `index` and writes them at index * kPieceBytes.
  // Bytes that do not match fail with kCorrupt (naming the piece and the blob) and
  // write nothing: the peer that sent them is at fault, not the import. Writing a piece
  // again is harmless.
  Status write_piece(size_t index, std::span<const uint8_t> bytes);
  size_t piece_count() const { return tree_->cvs.size(); }  // the full pieces
  std::vector<size_t> missing() const;                      // pieces not written yet
  bool complete() const;
  const Hash& hash() const { return hash_; }

  // Once every piece is written: writes the tail, fsyncs, and installs the file as a raw
  // blob through the group commit (deduplicated when the store already has it); its
  // piece tree is remembered, so open_piecewise serves it at once. A blob without full
  // pieces (tail only) is put as Store::put would. Fails with kInvalidArgument naming
  // the first missing piece while some are missing (write it and call again).
  Result<PutResult> finish();

 private:
  friend class Store;
  Import(Store& store, const Hash& hash, PieceTree tree, std::vector<uint8_t> tail);
  Result<PutResult> install();
  void discard();  // removes the temp file, unless installed

  Store& store_;
  Hash hash_;
  std::shared_ptr<const PieceTree> tree_;
  std::vector<uint8_t> tail_;
  std::string temp_path_;  // empty when there are no full pieces
  fs::File file_;          // open until destruction: a late write_piece then stays harmless
  mutable std::mutex mu_;  // guards what follows
  std::vector<bool> written_;
  size_t missing_ = 0;
  bool done_ = false;
  bool installed_ = false;
};

struct PinEntry {
  Hash hash;
  uint32_t pins;
};

class Store {
 public:
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Opens (creating if needed) the store in data_dir, waiting up to lock_timeout for
  // another process to release it, then replays the log and empties blobs/temp.
  static Result<std::unique_ptr<Store>> open(const std::string& data_dir, StoreOptions options);

  Result<PutResult> put(ByteSource& source);
  Result<PutResult> put(std::span<const uint8_t> data);

  std::unique_ptr<Upload> begin_put();
  // Begins an import of `hash` whose piece tree and tail (the bytes after the full
  // pieces) are given, typically by the first peer asked. They are checked before
  // anything is written: kCorrupt, naming the hash, unless they are the canonical tree
  // of a blob of tree.size bytes (tree.size == tree.tail_offset() + tail.size(), the
  // tail holding the last chunk) and root_with_tail(tree, tail) == hash. Reserves the
  // whole file at once, so a full disk fails here (kNoSpace) and not midway.
  Result<std::unique_ptr<Import>> begin_import(const Hash& hash, PieceTree tree,
                                               std::vector<uint8_t> tail);

  // A recently read small blob, from memory: never waits for the disk, so an event loop
  // may call it. Empty when the blob is not cached (read it the usual way).
  std::optional<CachedBlob> cached(const Hash& hash);

  // Delivers the blob's bytes to the sink only after they verified against the hash.
  Status read_to(const Hash& hash, ByteSink& sink);
  // Delivers bytes [offset, offset+length) of the blob, after verifying all of it.
  Status read_range_to(const Hash& hash, uint64_t offset, uint64_t length, ByteSink& sink);

  // A raw (uncompressed) blob file, opened and verified: callers may send its bytes
  // with sendfile. Empty when the blob is packed or compressed (use read_range_to).
  struct VerifiedFile {
    fs::File file;
    BlobMeta meta;
    // The blob's piece tree (see base/crypto/blake3.h), proven against its hash. When
    // `checked` is false the file was not hashed now: the caller must check each piece
    // it sends (piece_matches, root_with_tail) right before sending it.
    std::shared_ptr<const PieceTree> tree;
    bool checked = true;
  };
  // Hashes the whole file now and remembers its piece tree.
  Result<std::optional<VerifiedFile>> open_verified_file(const Hash& hash);
  // With a remembered piece tree, opens the file without hashing it (checked = false);
  // empty when there is none (use open_verified_file).
  Result<std::optional<VerifiedFile>> open_piecewise(const Hash& hash);
  // A piece failed its check: forget the tree, so the next read hashes the whole file
  // (and flags the blob as corrupt).
  void forget_tree(const Hash& hash);
  Result<std::vector<uint8_t>> read(const Hash& hash);

  Result<BlobMeta> stat(const Hash& hash);
  bool contains(const Hash& hash);
  // Visits blobs in hash order; `fn` returns false to stop.
  Status list(const std::function<bool(const Hash&, const BlobMeta&)>& fn);

  Result<uint32_t> pin(const Hash& hash);    // returns the new pin count
  Result<uint32_t> unpin(const Hash& hash);  // kInvalidArgument if not pinned
  Result<std::vector<PinEntry>> pins();

  Result<GcReport> gc(const GcOptions& options);
  Result<VerifyReport> verify();
  Result<Stats> stats();
  Result<OptimizeReport> optimize();
  // Discards the index and rebuilds it from packs, blob files and the pins journal.
  Status rebuild_index();

  const std::string& data_dir() const { return data_dir_; }
  const StoreOptions& options() const { return options_; }
  std::string blob_path(const Hash& hash) const;

 private:
  friend class Upload;
  friend class Import;
  struct Mutation;
  struct Writer;
  class Lease;

  Store(std::string data_dir, StoreOptions options);
  Status open_impl();
  Status rebuild_locked();
  // The index is written without fsync; after a power loss it may be damaged, not just
  // behind. A marker holding the boot id is kept while the store is open: finding one
  // from another boot means the machine went down with the store open.
  Result<bool> index_survived_last_boot();
  Status mark_index_open(bool open);
  Status replay();
  // Returns where the pack's log ends (its intact records; preallocated zeros follow).
  Result<uint64_t> replay_pack(uint32_t pack_id, uint64_t from, bool is_last, Index::Batch& batch,
                               std::set<Hash>& removed);
  Status apply_file_intent(const RecordHeader& header, std::string_view temp_name,
                           Index::Batch& batch);
  Status replay_pins(Index::Batch& batch);
  Status for_each_pin_record(uint64_t from, uint64_t size,
                             const std::function<Status(const internal::PinRecord&)>& fn);
  Status open_active_pack(uint64_t log_end);
  Status start_new_pack();
  Status reserve_pack_space(uint64_t bytes);
  Status clean_temp();

  Result<PutResult> put_small(std::span<const uint8_t> data);
  Result<PutResult> put_file(internal::LargeBlobWriter& writer);

  // Queues mutations and returns once the group holding them is durable.
  Status submit(std::vector<Mutation*> mutations);
  // Makes a group durable; leaves its index transaction in `pending` for the caller.
  Status apply_group(std::vector<Mutation*>& ms, std::optional<Index::Batch>& pending);
  // Commits a group's index transaction; if that fails, catches the index up from the
  // log instead, so acknowledged changes stay visible.
  void commit_index(Index::Batch& batch);
  // Returns once the index reflects every acknowledged change; fails (kUnavailable)
  // while it cannot, rather than let a read miss an acknowledged put.
  Status wait_for_index();

  Result<std::shared_ptr<fs::File>> pack_reader(uint32_t pack_id);
  void forget_pack_reader(uint32_t pack_id);
  Status read_once(const Hash& hash, const BlobMeta& meta, ByteSink& sink, bool* retry);
  Status read_file(const Hash& hash, const BlobMeta& meta, ByteSink& sink, bool* retry);
  Error corrupt(const Hash& hash, const std::string& what);
  // After a read of `seen` failed its check: true when the blob has moved since (try
  // again); false when the failure stands (counted, and the blob flagged corrupt).
  Result<bool> moved_since(const Hash& hash, const BlobMeta& seen, int attempt);
  void mark_corrupt(const Hash& hash, const BlobMeta& meta);
  void note_access(const Hash& hash, const BlobMeta& meta);
  std::vector<std::pair<Hash, int64_t>> take_touches();

  std::string temp_path(std::string_view suffix);
  std::string pack_path(uint32_t pack_id) const;
  bool leased(const Hash& hash);

  // store_gc.cc
  Status compact_packs(GcReport& report);
  // Fills and submits `count` mutations in bounded chunks; `done` sees each result.
  Status submit_chunked(size_t count, const std::function<Status(size_t, Mutation&)>& fill,
                        const std::function<void(size_t, const Mutation&)>& done = {});
  // store_scan.cc
  // payload offset -> (hash, meta) of the blobs the index places in one pack
  using PackedEntries = std::map<uint64_t, std::pair<Hash, BlobMeta>>;
  Status verify_pack(uint32_t pack_id, const PackedEntries& entries, VerifyReport& report);
  Status verify_file(const Hash& hash, const BlobMeta& meta, VerifyReport& report);
  Status find_orphans(VerifyReport& report);

  std::string data_dir_;
  std::string data_root_;   // blobs/data
  std::string temp_dir_;    // blobs/temp
  std::string packs_dir_;   // blobs/packs
  std::string index_dir_;   // index
  StoreOptions options_;
  fs::File lock_file_;
  std::unique_ptr<Index> index_;

  // Group commit: writers queue here; the head commits for everyone.
  std::mutex write_mu_;
  std::deque<Writer*> writers_;
  size_t last_group_writers_ = 1;  // see submit(); guarded by write_mu_
  // Held while a group commits; readers that met moved bytes wait on it (read_to).
  std::mutex commit_mu_;
  // Held from a group's acknowledgement to its index commit; index_pending_ says so.
  std::mutex index_mu_;
  std::atomic<bool> index_pending_{false};
  std::atomic<bool> index_behind_{false};  // an index commit failed, catching up too

  // Owned by the committing writer (the queue serialises them).
  uint32_t active_pack_id_ = 0;
  fs::File active_pack_;
  uint64_t active_pack_size_ = 0;   // end of the log: the next record goes here
  uint64_t active_pack_alloc_ = 0;  // file size: zeros from active_pack_size_ to here
  fs::File pins_journal_;
  uint64_t pins_journal_size_ = 0;

  std::mutex readers_mu_;
  std::map<uint32_t, std::shared_ptr<fs::File>> pack_readers_;

  std::mutex lease_mu_;
  std::unordered_map<Hash, int, HashHasher> leases_;

  std::mutex touch_mu_;
  std::unordered_map<Hash, int64_t, HashHasher> touches_;

  std::atomic<uint64_t> temp_seq_{0};
  int64_t open_ns_ = 0;
  bool opened_ = false;
  bool rebuilding_ = false;
  std::atomic<uint64_t> corrupt_reads_{0};
  ReadCache cache_;
  // Piece trees of raw blob files read lately (32 bytes per MiB each).
  std::mutex trees_mu_;
  std::unordered_map<Hash, std::shared_ptr<const PieceTree>, HashHasher> trees_;
};

}  // namespace bzzz::store
