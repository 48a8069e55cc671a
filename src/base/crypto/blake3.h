// base/crypto: BLAKE3 hashing over the official C implementation (runtime-dispatched
// SIMD kernels). Adds what that version lacks: hashing one large input on several
// threads, by computing power-of-two subtrees independently and merging their chaining
// values exactly as the BLAKE3 tree prescribes, so the result is identical to the
// single-threaded hash. Never depends on anything above base/.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/crypto/hash.h"
#include "base/status/result.h"

namespace bzzz {

// Incremental single-threaded hashing, for streams.
class Blake3Hasher {
 public:
  Blake3Hasher();
  ~Blake3Hasher();
  Blake3Hasher(const Blake3Hasher&) = delete;
  Blake3Hasher& operator=(const Blake3Hasher&) = delete;

  void update(std::span<const uint8_t> data);
  Hash finalize() const;
  void reset();

 private:
  // The C library's blake3_hasher is a typedef of an anonymous struct, which C++ cannot
  // forward-declare, so it is wrapped.
  struct State;
  State* state_;
};

// One-shot hash of a buffer on the calling thread.
Hash blake3(std::span<const uint8_t> data);

// One-shot hash of a buffer using up to `threads` threads (0 = all hardware threads).
// Inputs below a threshold where threading loses (1 MiB) are hashed on the caller's
// thread. Helper threads come from a process-wide pool that grows on demand and lives
// until exit. The result equals blake3(data).
Hash blake3_parallel(std::span<const uint8_t> data, unsigned threads = 0);

// Hashes a whole file: regular files of a few hundred KiB and up are read in pieces by
// up to `threads` threads (0 = all) and hashed as above; smaller files, pipes and special
// files are read and hashed in a stream. The error names the path.
Result<Hash> blake3_file(const std::string& path, unsigned threads = 0);
// The same for a file already open: regular files are hashed from offset 0 whatever the
// descriptor's position; `name` is used in errors.
Result<Hash> blake3_fd(int fd, const std::string& name, unsigned threads = 0);

// Verified streaming. Every full 1 MiB piece of an input (1 MiB aligned, before the
// last chunk) is a complete subtree of the BLAKE3 tree; its chaining value together with
// those of the other pieces and the bytes after them (the tail) determines the root
// hash. A reader that checked the chaining values against the hash once can then check
// each piece alone, right before using it, instead of hashing everything first.
inline constexpr size_t kPieceBytes = 1u << 20;

struct PieceTree {
  uint64_t size = 0;
  std::vector<std::array<uint8_t, 32>> cvs;  // the full pieces', in order
  uint64_t tail_offset() const { return cvs.size() * uint64_t{kPieceBytes}; }
};

// Hashes a regular file as blake3_fd does and also returns its piece tree.
Result<std::pair<Hash, PieceTree>> blake3_fd_pieces(int fd, const std::string& name,
                                                    unsigned threads = 0);
// The piece tree of bytes in memory, on the calling thread (its tail is
// data.subspan(tree.tail_offset())): what a sender holding a blob in memory hands out.
PieceTree piece_tree(std::span<const uint8_t> data);
// The chaining value of full piece `index` (`piece` is kPieceBytes long): what a tree
// built from a stream is made of.
std::array<uint8_t, 32> piece_cv(size_t index, std::span<const uint8_t> piece);
// True when `piece` is exactly the full piece `index` the tree describes.
bool piece_matches(const PieceTree& tree, size_t index, std::span<const uint8_t> piece);
// The root hash that the tree's pieces and this tail make (equal to the input's hash
// exactly when the tail and the chaining values are the input's).
Hash root_with_tail(const PieceTree& tree, std::span<const uint8_t> tail);

}  // namespace bzzz
