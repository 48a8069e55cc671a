// The store's put and pin paths and the group-commit writer queue. Open and replay are in
// store_open.cc, reads in store_read.cc, whole-store operations in store_scan.cc.
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

Result<size_t> SpanSource::read(std::span<uint8_t> buf) {
  size_t n = std::min(buf.size(), data_.size());
  std::copy_n(data_.begin(), n, buf.begin());
  data_ = data_.subspan(n);
  return n;
}

Result<size_t> FdSource::read(std::span<uint8_t> buf) {
  for (;;) {
    ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    return fail(errno_error(errno, fmt::format("read {}", name_)));
  }
}

Status FdSink::write(std::span<const uint8_t> data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno_error(errno, fmt::format("write {}", name_)));
    }
    done += static_cast<size_t>(n);
  }
  return ok();
}

// ---------------------------------------------------------------------------------
// put

Result<PutResult> Store::put(std::span<const uint8_t> data) {
  if (data.size() <= options_.small_blob_threshold) return put_small(data);
  auto upload = begin_put();
  BZZZ_TRY(upload->write(data));
  return upload->finish();
}

Result<PutResult> Store::put(ByteSource& source) {
  auto upload = begin_put();
  std::vector<uint8_t> buf(options_.small_blob_threshold + 1);
  for (;;) {
    BZZZ_ASSIGN_OR_RETURN(size_t n, source.read(buf));
    if (n == 0) break;
    BZZZ_TRY(upload->write({buf.data(), n}));
    // Most puts are small and stop at the first read; a large one earns a larger buffer.
    if (buf.size() < internal::kStreamBuffer) buf.resize(internal::kStreamBuffer);
  }
  return upload->finish();
}

std::unique_ptr<Upload> Store::begin_put() { return std::unique_ptr<Upload>(new Upload(*this)); }

Result<PutResult> Store::put_small(std::span<const uint8_t> data) {
  Mutation m;
  m.kind = Mutation::Kind::kAddPacked;
  m.hash = blake3(data);
  m.meta.size = data.size();
  m.meta.codec = Codec::kRaw;
  if (options_.codec != Codec::kRaw && !data.empty()) {
    BZZZ_ASSIGN_OR_RETURN(auto encoded, encode(options_.codec, options_.level, data));
    if (internal::saves_enough(encoded.size(), data.size(), options_.min_savings)) {
      m.meta.codec = options_.codec;
      m.payload = std::move(encoded);
    }
  }
  if (m.meta.codec == Codec::kRaw) m.payload.assign(data.begin(), data.end());
  m.meta.stored_size = m.payload.size();
  BZZZ_TRY(submit({&m}));
  BZZZ_TRY(m.status);
  // What was just published is what is read next, as a rule.
  cache_.put(m.hash, m.result, data);
  return PutResult{m.hash, m.result, m.deduplicated};
}

Result<PutResult> Store::put_file(internal::LargeBlobWriter& writer) {
  BZZZ_ASSIGN_OR_RETURN(auto done, writer.finish());
  Mutation m;
  m.kind = Mutation::Kind::kAddFile;
  m.hash = done.hash;
  m.meta = done.meta;
  m.temp_path = done.path;
  BZZZ_TRY(submit({&m}));
  BZZZ_TRY(m.status);
  writer.release();  // the temp file is installed (or dropped as a duplicate) now
  return PutResult{m.hash, m.result, m.deduplicated};
}

// ---------------------------------------------------------------------------------
// uploads: bytes are held until it is clear the blob is large (past the small
// threshold) and there is enough of a head to probe whether compression pays.

Upload::Upload(Store& store) : store_(store) {}

Upload::~Upload() = default;  // an unfinished LargeBlobWriter removes its temp files

Status Upload::start_large() {
  large_ = std::make_unique<internal::LargeBlobWriter>(store_.options_);
  auto status = large_->start(store_.temp_path("raw"), store_.temp_path("z"), head_);
  head_.clear();
  head_.shrink_to_fit();
  return status;
}

Status Upload::write(std::span<const uint8_t> data) {
  if (done_) return make_error(ErrorCode::kInternal, "write after the upload finished");
  if (large_) return large_->write(data);
  head_.insert(head_.end(), data.begin(), data.end());
  if (head_.size() >= internal::kProbeBytes) return start_large();
  return ok();
}

Result<PutResult> Upload::finish() {
  if (done_) return make_error(ErrorCode::kInternal, "upload finished twice");
  done_ = true;
  if (!large_) {
    if (head_.size() <= store_.options_.small_blob_threshold) return store_.put_small(head_);
    BZZZ_TRY(start_large());
  }
  return store_.put_file(*large_);
}

// ---------------------------------------------------------------------------------
// pins

Result<uint32_t> Store::pin(const Hash& hash) {
  Mutation m;
  m.kind = Mutation::Kind::kPin;
  m.hash = hash;
  m.pin_delta = 1;
  BZZZ_TRY(submit({&m}));
  BZZZ_TRY(m.status);
  return m.result.pins;
}

Result<uint32_t> Store::unpin(const Hash& hash) {
  Mutation m;
  m.kind = Mutation::Kind::kPin;
  m.hash = hash;
  m.pin_delta = -1;
  BZZZ_TRY(submit({&m}));
  BZZZ_TRY(m.status);
  return m.result.pins;
}

Result<std::vector<PinEntry>> Store::pins() {
  BZZZ_TRY(wait_for_index());
  std::vector<PinEntry> out;
  BZZZ_TRY(index_->scan([&](const Hash& h, const BlobMeta& m) {
    if (m.pins > 0) out.push_back({h, m.pins});
    return true;
  }));
  return out;
}

// ---------------------------------------------------------------------------------
// group commit

Status Store::submit(std::vector<Mutation*> mutations) {
  Writer w;
  w.mutations = std::move(mutations);
  std::unique_lock lock(write_mu_);
  writers_.push_back(&w);
  if (writers_.front() != &w && writers_.size() >= last_group_writers_) {
    writers_.front()->cv.notify_one();  // a head waiting for its group to fill
  }
  w.cv.wait(lock, [&] { return w.done || writers_.front() == &w; });
  if (w.done) return w.status;
  // First let the previous group finish its index commit: writers that queue meanwhile
  // join this group instead of waiting for the next one.
  lock.unlock();
  std::unique_lock committing(commit_mu_);
  lock.lock();
  // The writers of the last group are likely back with their next change within
  // microseconds (they were acknowledged together); a head that would commit without
  // them waits briefly, or every fsync would serve alternately most and few of them.
  if (writers_.size() < last_group_writers_) {
    w.cv.wait_for(lock, internal::kGatherWait,
                  [&] { return writers_.size() >= last_group_writers_; });
  }

  // This writer heads the queue: commit everyone queued behind it as one group.
  std::vector<Writer*> group;
  size_t count = 0;
  for (Writer* x : writers_) {
    group.push_back(x);
    count += x->mutations.size();
    if (count >= internal::kMaxGroupMutations) break;
  }
  last_group_writers_ = group.size();
  lock.unlock();

  std::vector<Mutation*> all;
  for (Writer* x : group) all.insert(all.end(), x->mutations.begin(), x->mutations.end());
  std::optional<Index::Batch> pending;
  Status status = index_behind_ ? replay() : ok();
  if (status) {
    index_behind_ = false;
    const auto log_before = std::make_tuple(active_pack_id_, active_pack_size_, pins_journal_size_);
    status = apply_group(all, pending);
    if (!status && log_before != std::make_tuple(active_pack_id_, active_pack_size_, pins_journal_size_)) {
      // Failed after its records became durable: the index must still learn of them
      // (they may unlink or install files), so catch it up from the log now.
      if (!replay()) index_behind_ = true;
    }
  }
  std::unique_lock indexing(index_mu_, std::defer_lock);
  if (pending) {
    indexing.lock();
    index_pending_ = true;
  }
  // Acknowledge the group: its changes are durable. The index commit below overlaps
  // with the writers' next changes.
  lock.lock();
  for (Writer* x : group) {
    writers_.pop_front();
    x->status = status;
    if (x != &w) {
      x->done = true;
      x->cv.notify_one();
    }
  }
  if (!writers_.empty()) writers_.front()->cv.notify_one();
  lock.unlock();
  if (pending) {
    commit_index(*pending);
    index_pending_ = false;
  }
  return w.status;
}

void Store::commit_index(Index::Batch& batch) {
  if (batch.commit()) return;
  // The group is durable in the log; the index missed it. Replaying the log past the
  // index's checkpoints brings it back; failing that, the next group tries again first.
  if (!replay()) index_behind_ = true;
}

Status Store::wait_for_index() {
  if (index_pending_.load(std::memory_order_acquire)) std::lock_guard wait(index_mu_);
  if (index_behind_.load()) {
    // Catch up here rather than wait for the next write: a node that only serves reads
    // would otherwise refuse them until one came. Holding commit_mu_ means no group is
    // applying meanwhile (the state replay touches is theirs otherwise).
    std::lock_guard committing(commit_mu_);
    if (index_behind_.load() && replay()) index_behind_ = false;
  }
  if (index_behind_.load()) {
    // Better no answer than a wrong one: acknowledged changes are in the log but not in
    // the index; the next read or group tries again, as does reopening the store.
    return make_error(ErrorCode::kUnavailable,
                      "the index is behind the log after a failed index write; retry, or "
                      "reopen the store to replay the log");
  }
  return ok();
}

}  // namespace bzzz::store
