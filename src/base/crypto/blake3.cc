#include "base/crypto/blake3.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>

// blake3_impl.h is the C library's internal header: it has no extern "C" guard of its
// own, and it is the only place that declares the SIMD-dispatching primitives the
// parallel tree below is built from.
extern "C" {
#include "blake3.h"
#include "blake3_impl.h"
}

namespace bzzz {

namespace {

constexpr size_t kChunkLen = BLAKE3_CHUNK_LEN;
constexpr size_t kBlockLen = BLAKE3_BLOCK_LEN;
constexpr size_t kCvLen = BLAKE3_OUT_LEN;
constexpr size_t kBlocksPerChunk = kChunkLen / kBlockLen;

// Below this a second thread does not pay for handing it work: on the 2-core AVX-512 VM
// here, 1 MiB hashes in ~130 us on one thread and ~140 us on two (median; 2 MiB: 250 vs
// 180 us, 4 MiB: 530 vs 330 us). The C hasher is also quicker than the tree below it.
constexpr size_t kParallelThreshold = 1024 * 1024;

// Chunks hashed by one blake3_hash_many call: enough to keep the 16-wide kernel busy and
// make the per-call overhead vanish, small enough that the chaining values (32 bytes per
// chunk) stay in L1.
constexpr size_t kLeafBatchChunks = 512;

// Work units handed to threads are power-of-two subtrees of at most this many chunks;
// smaller units only where needed to give every thread several.
constexpr size_t kMaxUnitChunks = 1024;
// Read from a file, a unit is copied into a buffer and hashed from there; small enough
// to still be in L2 when hashed.
constexpr size_t kMaxFileUnitChunks = 256;
constexpr size_t kIoBufferLen = 1 << 20;
static_assert(kIoBufferLen >= kMaxFileUnitChunks * kChunkLen);
constexpr size_t kMinUnitChunks = 16;
constexpr size_t kUnitsPerThread = 8;

void store_cv(const uint32_t words[8], uint8_t* out) {
  for (int i = 0; i < 8; ++i) {
    out[4 * i] = static_cast<uint8_t>(words[i]);
    out[4 * i + 1] = static_cast<uint8_t>(words[i] >> 8);
    out[4 * i + 2] = static_cast<uint8_t>(words[i] >> 16);
    out[4 * i + 3] = static_cast<uint8_t>(words[i] >> 24);
  }
}

// Parent node over two adjacent subtrees.
void parent_cv(const uint8_t* left, const uint8_t* right, bool root, uint8_t* out) {
  uint8_t block[kBlockLen];
  std::memcpy(block, left, kCvLen);
  std::memcpy(block + kCvLen, right, kCvLen);
  uint32_t cv[8];
  std::memcpy(cv, IV, sizeof cv);
  blake3_compress_in_place(cv, block, kBlockLen, 0,
                           static_cast<uint8_t>(PARENT | (root ? ROOT : 0)));
  store_cv(cv, out);
}

// The final chunk of the input (1..1024 bytes, possibly full): it is the only chunk that
// may be partial, and the only one that can be the root, so it is done block by block.
void last_chunk_cv(const uint8_t* input, size_t len, uint64_t chunk_index, bool root,
                   uint8_t* out) {
  uint32_t cv[8];
  std::memcpy(cv, IV, sizeof cv);
  size_t blocks = (len + kBlockLen - 1) / kBlockLen;
  for (size_t b = 0; b < blocks; ++b) {
    size_t block_len = std::min(kBlockLen, len - b * kBlockLen);
    uint8_t block[kBlockLen] = {};
    std::memcpy(block, input + b * kBlockLen, block_len);
    uint8_t flags = b == 0 ? CHUNK_START : 0;
    if (b + 1 == blocks) flags |= CHUNK_END | (root ? ROOT : 0);
    blake3_compress_in_place(cv, block, static_cast<uint8_t>(block_len), chunk_index, flags);
  }
  store_cv(cv, out);
}

// Reduces `n` chaining values (n a power of two), stored back to back in `cvs`, level by
// level to the one of their common (non-root) parent. `scratch` holds n / 2 values. Each
// level is a single wide blake3_hash_many over 64-byte parent blocks, which are just
// adjacent pairs of the level below.
void reduce_cvs(uint8_t* cvs, size_t n, uint8_t* scratch, uint8_t* out) {
  constexpr size_t kPtrBatch = 256;
  const uint8_t* parents[kPtrBatch];
  while (n > 1) {
    size_t count = n / 2;
    for (size_t first = 0; first < count; first += kPtrBatch) {
      size_t batch = std::min(kPtrBatch, count - first);
      for (size_t i = 0; i < batch; ++i) parents[i] = cvs + (first + i) * kBlockLen;
      blake3_hash_many(parents, batch, 1, IV, 0, false, PARENT, 0, 0,
                       scratch + first * kCvLen);
    }
    std::swap(cvs, scratch);
    n = count;
  }
  std::memcpy(out, cvs, kCvLen);
}

// Chaining value of a complete subtree of `chunks` (a power of two) full chunks whose
// first chunk has index `chunk_index`. Never the root: the parallel path always has a
// last chunk to its right.
void subtree_cv(const uint8_t* input, size_t chunks, uint64_t chunk_index, uint8_t* out) {
  if (chunks > kLeafBatchChunks) {
    size_t half = chunks / 2;
    uint8_t halves[2 * kCvLen];
    subtree_cv(input, half, chunk_index, halves);
    subtree_cv(input + half * kChunkLen, half, chunk_index + half, halves + kCvLen);
    parent_cv(halves, halves + kCvLen, false, out);
    return;
  }
  const uint8_t* inputs[kLeafBatchChunks] = {};  // zeroed only to quiet -Wmaybe-uninitialized
  for (size_t i = 0; i < chunks; ++i) inputs[i] = input + i * kChunkLen;
  uint8_t cvs[kLeafBatchChunks * kCvLen];
  blake3_hash_many(inputs, chunks, kBlocksPerChunk, IV, chunk_index, true, 0, CHUNK_START,
                   CHUNK_END, cvs);
  if (chunks == 1) {
    std::memcpy(out, cvs, kCvLen);
    return;
  }
  uint8_t scratch[kLeafBatchChunks / 2 * kCvLen];
  reduce_cvs(cvs, chunks, scratch, out);
}

// Helper threads shared by all parallel hashes, so that hashing a few MiB does not pay
// for starting threads: here, with a thread started per call, two threads were slower
// than one up to 4 MiB and beyond; with the pool they win from about 1 MiB.
// The caller always works on its own hash and only borrows idle helpers, so hashes
// running concurrently, a pool that could not grow, or a forked child without the
// helpers still finish.
class HelperPool {
 public:
  // Never destroyed, so a hash from a static destructor still works; the helpers are
  // detached and sleep until exit.
  static HelperPool& get() {
    static auto* pool = new HelperPool;
    return *pool;
  }

  // Runs `work` on the calling thread and on up to `helpers` idle pool threads; returns
  // once every thread that took it has returned from it.
  void run(size_t helpers, const std::function<void()>& work) {
    if (helpers == 0) return work();
    Job job;
    job.work = &work;
    job.tickets = helpers;
    {
      std::lock_guard lock(mu_);
      grow(helpers);
      queue_.push_back(&job);
    }
    wake_.notify_all();
    work();
    std::unique_lock lock(mu_);
    if (job.tickets > 0) std::erase(queue_, &job);  // helpers that never came never will
    job.done.wait(lock, [&] { return job.active == 0; });
  }

 private:
  static constexpr size_t kMaxThreads = 64;

  struct Job {
    const std::function<void()>* work = nullptr;
    size_t tickets = 0;  // helpers that may still take it
    size_t active = 0;
    std::condition_variable done;
  };

  void grow(size_t wanted) {
    while (threads_ < std::min(wanted, kMaxThreads)) {
      try {
        std::thread([this] { loop(); }).detach();
      } catch (const std::system_error&) {
        return;  // out of threads: callers do the work themselves
      }
      ++threads_;
    }
  }

  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return !queue_.empty(); });
      Job* job = queue_.front();
      if (--job->tickets == 0) queue_.pop_front();
      ++job->active;
      lock.unlock();
      (*job->work)();
      lock.lock();
      // Notified under the lock: once it is released the job's owner may return and
      // destroy it.
      if (--job->active == 0) job->done.notify_one();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Job*> queue_;
  size_t threads_ = 0;
};

struct Unit {
  size_t first_chunk;
  size_t chunks;
};

// One left subtree hanging off the tree's right spine, hashed as `count` units.
struct SpineNode {
  size_t first_unit;
  size_t count;
};

// Runs fn(0) .. fn(count - 1) on the calling thread and up to threads - 1 pool helpers,
// each index once; the first error stops the rest and is returned.
Status for_each_unit(size_t count, unsigned threads, const std::function<Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  std::optional<Error> error;
  auto work = [&] {
    while (!failed.load(std::memory_order_relaxed)) {
      size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= count) return;
      if (auto status = fn(i); !status) {
        std::lock_guard lock(error_mu);
        if (!error) error = std::move(status).error();
        failed = true;
        return;
      }
    }
  };
  HelperPool::get().run(std::min<size_t>(threads, std::max<size_t>(count, 1)) - 1, work);
  if (error) return fail(std::move(*error));
  return ok();
}

// The BLAKE3 tree of an input of C > 1 chunks: the root's left child is the complete
// subtree of the largest power of two below C chunks, and so on down the right edge, so
// the left subtrees along that edge are exactly the set bits of C - 1, largest first,
// and the last chunk ends the edge. Each complete subtree is split into units small
// enough to spread over the threads; their chaining values are independent, so the
// threads need no coordination beyond taking the next unit.
//
// `fetch(offset, len)` yields a pointer to those bytes of the input, valid until the
// calling thread's next fetch, or an error that stops the hash.
template <typename Fetch>
Result<Hash> tree_hash(size_t size, unsigned threads, size_t max_unit_chunks,
                       const Fetch& fetch) {
  size_t total_chunks = (size + kChunkLen - 1) / kChunkLen;
  size_t spine_chunks = total_chunks - 1;
  size_t unit_chunks = max_unit_chunks;
  if (threads > 1) {
    unit_chunks = std::bit_floor(std::max<size_t>(
        1, spine_chunks / (static_cast<size_t>(threads) * kUnitsPerThread)));
    unit_chunks = std::clamp(unit_chunks, kMinUnitChunks, max_unit_chunks);
  }

  std::vector<Unit> units;
  std::vector<SpineNode> spine;
  size_t chunk = 0;
  for (int bit = std::bit_width(spine_chunks) - 1; bit >= 0; --bit) {
    size_t subtree = size_t{1} << bit;
    if ((spine_chunks & subtree) == 0) continue;
    size_t per_unit = std::min(subtree, unit_chunks);
    spine.push_back({units.size(), subtree / per_unit});
    for (size_t i = 0; i < subtree / per_unit; ++i) {
      units.push_back({chunk + i * per_unit, per_unit});
    }
    chunk += subtree;
  }

  std::vector<uint8_t> cvs(units.size() * kCvLen);
  BZZZ_TRY(for_each_unit(units.size(), threads, [&](size_t i) -> Status {
    BZZZ_ASSIGN_OR_RETURN(const uint8_t* bytes,
                          fetch(units[i].first_chunk * kChunkLen, units[i].chunks * kChunkLen));
    subtree_cv(bytes, units[i].chunks, units[i].first_chunk, &cvs[i * kCvLen]);
    return ok();
  }));

  size_t last_len = size - spine_chunks * kChunkLen;
  auto last = fetch(spine_chunks * kChunkLen, last_len);
  if (!last) return fail(std::move(last).error());
  uint8_t right[kCvLen];
  last_chunk_cv(*last, last_len, spine_chunks, false, right);
  std::vector<uint8_t> scratch;
  for (size_t k = spine.size(); k-- > 0;) {
    uint8_t* first = &cvs[spine[k].first_unit * kCvLen];
    uint8_t left[kCvLen];
    if (spine[k].count == 1) {
      std::memcpy(left, first, kCvLen);
    } else {
      scratch.resize(spine[k].count / 2 * kCvLen);
      reduce_cvs(first, spine[k].count, scratch.data(), left);
    }
    parent_cv(left, right, k == 0, right);
  }
  return Hash(std::span<const uint8_t, kHashSize>(right, kHashSize));
}

// Kept per thread and reused: a fresh buffer costs a page fault per 4 KiB on first
// touch, which on a virtual machine can cost as much as hashing those bytes.
uint8_t* thread_buffer() {
  thread_local auto buffer = std::make_unique_for_overwrite<uint8_t[]>(kIoBufferLen);
  return buffer.get();
}

Result<Hash> hash_stream(int fd, const std::string& path) {
  uint8_t* buf = thread_buffer();
  Blake3Hasher hasher;
  for (;;) {
    ssize_t n = ::read(fd, buf, kIoBufferLen);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno_error(errno, path));
    }
    if (n == 0) break;
    hasher.update({buf, static_cast<size_t>(n)});
  }
  return hasher.finalize();
}

Result<const uint8_t*> read_at(int fd, size_t offset, size_t len, const std::string& path) {
  uint8_t* buf = thread_buffer();
  for (size_t done = 0; done < len;) {
    ssize_t n = ::pread(fd, buf + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno_error(errno, path));
    }
    if (n == 0) {
      return make_error(ErrorCode::kIo,
                        fmt::format("{}: file shrank while being hashed (ends before byte {})",
                                    path, offset + len));
    }
    done += static_cast<size_t>(n);
  }
  return buf;
}

}  // namespace

struct Blake3Hasher::State {
  blake3_hasher hasher;
};

Blake3Hasher::Blake3Hasher() : state_(new State) { blake3_hasher_init(&state_->hasher); }

Blake3Hasher::~Blake3Hasher() { delete state_; }

void Blake3Hasher::update(std::span<const uint8_t> data) {
  blake3_hasher_update(&state_->hasher, data.data(), data.size());
}

Hash Blake3Hasher::finalize() const {
  uint8_t out[kHashSize];
  blake3_hasher_finalize(&state_->hasher, out, kHashSize);
  return Hash(out);
}

void Blake3Hasher::reset() { blake3_hasher_reset(&state_->hasher); }

Hash blake3(std::span<const uint8_t> data) {
  blake3_hasher hasher;
  blake3_hasher_init(&hasher);
  blake3_hasher_update(&hasher, data.data(), data.size());
  uint8_t out[kHashSize];
  blake3_hasher_finalize(&hasher, out, kHashSize);
  return Hash(out);
}

Hash blake3_parallel(std::span<const uint8_t> data, unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  if (data.size() < kParallelThreshold) return blake3(data);
  auto in_memory = [&](size_t offset, size_t) -> Result<const uint8_t*> {
    return data.data() + offset;
  };
  return *tree_hash(data.size(), threads, kMaxUnitChunks, in_memory);
}

namespace {
constexpr size_t kPieceChunks = kPieceBytes / kChunkLen;

size_t chunks_of(uint64_t size) { return size == 0 ? 1 : static_cast<size_t>((size + kChunkLen - 1) / kChunkLen); }
size_t full_pieces(uint64_t size) { return (chunks_of(size) - 1) / kPieceChunks; }
}  // namespace

std::array<uint8_t, 32> piece_cv(size_t index, std::span<const uint8_t> piece) {
  std::array<uint8_t, 32> cv{};
  subtree_cv(piece.data(), kPieceChunks, uint64_t{index} * kPieceChunks, cv.data());
  return cv;
}

bool piece_matches(const PieceTree& tree, size_t index, std::span<const uint8_t> piece) {
  if (index >= tree.cvs.size() || piece.size() != kPieceBytes) return false;
  uint8_t cv[kCvLen];
  subtree_cv(piece.data(), kPieceChunks, uint64_t{index} * kPieceChunks, cv);
  return std::memcmp(cv, tree.cvs[index].data(), kCvLen) == 0;
}

Hash root_with_tail(const PieceTree& tree, std::span<const uint8_t> tail) {
  size_t pieces = tree.cvs.size();
  if (pieces == 0) return blake3(tail);
  // The left subtrees along the right edge are the set bits of C - 1 (see tree_hash):
  // those of a piece or more are made of whole pieces, the smaller ones lie in the tail.
  size_t spine = pieces * kPieceChunks + (tail.size() + kChunkLen - 1) / kChunkLen - 1;
  std::vector<std::array<uint8_t, kCvLen>> lefts;
  size_t piece = 0, chunk_in_tail = 0;
  std::vector<uint8_t> buf, scratch;
  for (int bit = std::bit_width(spine) - 1; bit >= 0; --bit) {
    size_t subtree = size_t{1} << bit;
    if ((spine & subtree) == 0) continue;
    std::array<uint8_t, kCvLen> cv;
    if (subtree >= kPieceChunks) {
      size_t count = subtree / kPieceChunks;
      if (count == 1) {
        cv = tree.cvs[piece];
      } else {
        buf.resize(count * kCvLen);
        scratch.resize(count / 2 * kCvLen);
        for (size_t i = 0; i < count; ++i) std::memcpy(&buf[i * kCvLen], tree.cvs[piece + i].data(), kCvLen);
        reduce_cvs(buf.data(), count, scratch.data(), cv.data());
      }
      piece += count;
    } else {
      subtree_cv(tail.data() + chunk_in_tail * kChunkLen, subtree,
                 uint64_t{pieces} * kPieceChunks + chunk_in_tail, cv.data());
      chunk_in_tail += subtree;
    }
    lefts.push_back(cv);
  }
  uint8_t right[kCvLen];
  last_chunk_cv(tail.data() + chunk_in_tail * kChunkLen, tail.size() - chunk_in_tail * kChunkLen,
                spine, false, right);
  for (size_t k = lefts.size(); k-- > 0;) parent_cv(lefts[k].data(), right, k == 0, right);
  return Hash(std::span<const uint8_t, kHashSize>(right, kHashSize));
}

PieceTree piece_tree(std::span<const uint8_t> data) {
  PieceTree tree;
  tree.size = data.size();
  tree.cvs.resize(full_pieces(tree.size));
  for (size_t i = 0; i < tree.cvs.size(); ++i) {
    subtree_cv(data.data() + i * kPieceBytes, kPieceChunks, uint64_t{i} * kPieceChunks,
               tree.cvs[i].data());
  }
  return tree;
}

Result<std::pair<Hash, PieceTree>> blake3_fd_pieces(int fd, const std::string& path, unsigned threads) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return fail(errno_error(errno, path));
  if (!S_ISREG(st.st_mode)) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("{} is not a regular file", path));
  }
  PieceTree tree;
  tree.size = static_cast<uint64_t>(st.st_size);
  tree.cvs.resize(full_pieces(tree.size));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  BZZZ_TRY(for_each_unit(tree.cvs.size(), threads, [&](size_t i) -> Status {
    BZZZ_ASSIGN_OR_RETURN(const uint8_t* bytes, read_at(fd, i * kPieceBytes, kPieceBytes, path));
    subtree_cv(bytes, kPieceChunks, uint64_t{i} * kPieceChunks, tree.cvs[i].data());
    return ok();
  }));
  size_t tail_len = static_cast<size_t>(tree.size - tree.tail_offset());
  BZZZ_ASSIGN_OR_RETURN(const uint8_t* tail, read_at(fd, tree.tail_offset(), tail_len, path));
  Hash root = root_with_tail(tree, {tail, tail_len});
  return std::make_pair(root, std::move(tree));
}

Result<Hash> blake3_file(const std::string& path, unsigned threads) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errno_error(errno, path));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  return blake3_fd(fd, path, threads);
}

Result<Hash> blake3_fd(int fd, const std::string& path, unsigned threads) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return fail(errno_error(errno, path));
  // Size 0 is read rather than trusted: it is both the empty file and the /proc or
  // sysfs file whose size is unknown until read.
  auto size = static_cast<size_t>(st.st_size);
  if (!S_ISREG(st.st_mode) || size < kParallelThreshold) {
    if (S_ISREG(st.st_mode) && ::lseek(fd, 0, SEEK_SET) != 0) {
      return fail(errno_error(errno, path));
    }
    return hash_stream(fd, path);
  }

  // Read, not mapped: every page of a fresh mapping faults on first touch, and on this
  // project's VMs that made mmap hashing 2.5x slower than pread into a reused buffer
  // (b3sum: 0.64 s per GiB mapped, 0.25 s with --no-mmap). Reading also turns a file
  // truncated under us into an error instead of SIGBUS.
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  auto from_file = [&](size_t offset, size_t len) { return read_at(fd, offset, len, path); };
  return tree_hash(size, threads, kMaxFileUnitChunks, from_file);
}

}  // namespace bzzz
