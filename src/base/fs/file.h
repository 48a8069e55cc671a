// base/fs: thin, error-reporting wrappers over POSIX file operations, so that the layers
// above never touch errno and every failure names its path. Owns nothing but file
// descriptors. The durability helpers (sync, sync_dir) are the only places the project
// calls fsync.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/status/result.h"

namespace bzzz::fs {

class File {
 public:
  File() = default;
  File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~File();
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  static Result<File> open(const std::string& path, int flags, int mode = 0644);
  static Result<File> open_read(const std::string& path);

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // Reads up to buf.size() bytes; returns 0 only at end of file.
  Result<size_t> read(std::span<uint8_t> buf);
  // Reads exactly buf.size() bytes at offset, or fails (a short file is kCorrupt).
  Status pread_exact(std::span<uint8_t> buf, uint64_t offset) const;
  Status write_all(std::span<const uint8_t> data);
  Status pwrite_all(std::span<const uint8_t> data, uint64_t offset);
  Status sync();       // fsync
  Status datasync();   // fdatasync
  // Starts writing back a range without waiting (sync_file_range), so that a later
  // fsync of a large file finds most of it already on disk. Advisory: never fails.
  void start_writeback(uint64_t offset, uint64_t length);
  Status truncate(uint64_t size);
  // Sizes the file to `size` bytes with its blocks reserved (fallocate), so that a full
  // disk shows now (kNoSpace) rather than midway through writes at scattered offsets.
  // Where the filesystem cannot reserve blocks, the file is only sized (ftruncate).
  Status allocate(uint64_t size);
  Result<uint64_t> size() const;
  Status close();

 private:
  int fd_ = -1;
  std::string path_;
};

// Creates the directory and its parents (like mkdir -p); fsyncs each parent of a new one.
Status make_dirs(const std::string& path);
Status sync_dir(const std::string& path);
Status rename(const std::string& from, const std::string& to);
// Removes a file; a missing file is not an error.
Status remove_file(const std::string& path);
bool exists(const std::string& path);
Result<bool> is_dir(const std::string& path);

struct DiskSpace {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;  // available to unprivileged users
};
Result<DiskSpace> disk_space(const std::string& path);

// Lists the names in a directory (not . and ..). A missing directory is kNotFound.
Result<std::vector<std::string>> list_dir(const std::string& path);

std::string join(const std::string& a, const std::string& b);

}  // namespace bzzz::fs
