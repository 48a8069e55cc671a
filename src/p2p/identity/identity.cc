#include "p2p/identity/identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/fs/file.h"

namespace bzzz::p2p {

Result<Identity> load_or_create_identity(const std::string& data_dir) {
  std::string path = fs::join(data_dir, kIdentityFileName);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if ((st.st_mode & 077) != 0) {
      return make_error(ErrorCode::kPermission,
                        fmt::format("identity key {} has mode {:03o}: it must be readable by its owner "
                                    "only (chmod 600 {})",
                                    path, st.st_mode & 0777, path));
    }
    BZZZ_ASSIGN_OR_RETURN(auto file, fs::File::open_read(path));
    BZZZ_ASSIGN_OR_RETURN(uint64_t size, file.size());
    if (size > 4096) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("identity key {} has {} bytes: not a key file", path, size));
    }
    std::vector<uint8_t> bytes(size);
    BZZZ_TRY(file.pread_exact(bytes, 0));
    auto key = PrivateKey::decode(bytes);
    if (!key) return fail(key.error().wrap(fmt::format("identity key {}", path)));
    return Identity{*key, PeerId::from_public_key(key->public_key()), false};
  } else if (errno != ENOENT) {
    return fail(errno_error(errno, path));
  }
  BZZZ_TRY(fs::make_dirs(data_dir));
  auto key = PrivateKey::generate();
  auto bytes = key.encode();
  std::string temp = path + ".tmp";
  (void)fs::remove_file(temp);
  {
    BZZZ_ASSIGN_OR_RETURN(auto file, fs::File::open(temp, O_WRONLY | O_CREAT | O_EXCL, 0600));
    BZZZ_TRY(file.write_all(bytes));
    BZZZ_TRY(file.sync());
    BZZZ_TRY(file.close());
  }
  BZZZ_TRY(fs::rename(temp, path));
  BZZZ_TRY(fs::sync_dir(data_dir));
  return Identity{key, PeerId::from_public_key(key.public_key()), true};
}

}  // namespace bzzz::p2p
