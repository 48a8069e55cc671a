#include "base/fs/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace bzzz::fs {

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

File::File(File&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

Result<File> File::open(const std::string& path, int flags, int mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return fail(errno_error(errno, fmt::format("open {}", path)));
  return File(fd, path);
}

Result<File> File::open_read(const std::string& path) { return open(path, O_RDONLY); }

Result<size_t> File::read(std::span<uint8_t> buf) {
  for (;;) {
    ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    return fail(errno_error(errno, fmt::format("read {}", path_)));
  }
}

Status File::pread_exact(std::span<uint8_t> buf, uint64_t offset) const {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::pread(fd_, buf.data() + done, buf.size() - done,
                        static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno_error(errno, fmt::format("read {}", path_)));
    }
    if (n == 0) {
      return make_error(ErrorCode::kCorrupt,
                        fmt::format("{} ends at {} bytes, expected data up to byte {}", path_,
                                    offset + done, offset + buf.size()));
    }
    done += static_cast<size_t>(n);
  }
  return ok();
}

Status File::write_all(std::span<const uint8_t> data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno_error(errno, fmt::format("write {}", path_)));
    }
    done += static_cast<size_t>(n);
  }
  return ok();
}

Status File::pwrite_all(std::span<const uint8_t> data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done,
                         static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno_error(errno, fmt::format("write {}", path_)));
    }
    done += static_cast<size_t>(n);
  }
  return ok();
}

Status File::sync() {
  if (::fsync(fd_) != 0) return fail(errno_error(errno, fmt::format("fsync {}", path_)));
  return ok();
}

Status File::datasync() {
  if (::fdatasync(fd_) != 0) {
    return fail(errno_error(errno, fmt::format("fdatasync {}", path_)));
  }
  return ok();
}

void File::start_writeback(uint64_t offset, uint64_t length) {
  (void)::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(length),
                          SYNC_FILE_RANGE_WRITE);
}

Status File::truncate(uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    return fail(errno_error(errno, fmt::format("truncate {}", path_)));
  }
  return ok();
}

Status File::allocate(uint64_t size) {
  if (size == 0) return ok();
  for (;;) {
    if (::fallocate(fd_, 0, 0, static_cast<off_t>(size)) == 0) return ok();
    if (errno == EINTR) continue;
    if (errno == EOPNOTSUPP) return truncate(size);
    return fail(errno_error(errno, fmt::format("allocate {} bytes for {}", size, path_)));
  }
}

Result<uint64_t> File::size() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return fail(errno_error(errno, fmt::format("stat {}", path_)));
  return static_cast<uint64_t>(st.st_size);
}

Status File::close() {
  if (fd_ < 0) return ok();
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return fail(errno_error(errno, fmt::format("close {}", path_)));
  return ok();
}

std::string join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

static std::string parent_of(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

Status make_dirs(const std::string& path) {
  if (path.empty()) return ok();
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return ok();
    return make_error(ErrorCode::kAlreadyExists,
                      fmt::format("{} exists and is not a directory", path));
  }
  std::string parent = parent_of(path);
  if (parent != path) BZZZ_TRY(make_dirs(parent));
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return fail(errno_error(errno, fmt::format("create directory {}", path)));
  }
  // The new entry is durable only once its parent directory is synced.
  return sync_dir(parent);
}

Status sync_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(errno_error(errno, fmt::format("open directory {}", path)));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return fail(errno_error(err, fmt::format("fsync directory {}", path)));
  return ok();
}

Status rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return fail(errno_error(errno, fmt::format("rename {} to {}", from, to)));
  }
  return ok();
}

Status remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return fail(errno_error(errno, fmt::format("remove {}", path)));
  }
  return ok();
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Result<bool> is_dir(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return fail(errno_error(errno, fmt::format("stat {}", path)));
  return S_ISDIR(st.st_mode);
}

Result<DiskSpace> disk_space(const std::string& path) {
  struct statvfs vfs;
  if (::statvfs(path.c_str(), &vfs) != 0) {
    return fail(errno_error(errno, fmt::format("statvfs {}", path)));
  }
  DiskSpace out;
  out.total_bytes = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  out.free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  return out;
}

Result<std::vector<std::string>> list_dir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return fail(errno_error(errno, fmt::format("list {}", path)));
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* entry = ::readdir(dir)) {
    std::string_view name(entry->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return fail(errno_error(err, fmt::format("list {}", path)));
  return names;
}

}  // namespace bzzz::fs
