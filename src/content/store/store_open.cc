// The store's open: taking the data dir, replaying the log into the index, the
// power-loss marker, and the active pack.
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
// open and replay

Store::Store(std::string data_dir, StoreOptions options)
    : data_dir_(std::move(data_dir)),
      options_(options),
      cache_(options.read_cache_bytes, options.read_cache_max_entry) {
  open_ns_ = internal::now_ns();
  data_root_ = fs::join(data_dir_, "blobs/data");
  temp_dir_ = fs::join(data_dir_, "blobs/temp");
  packs_dir_ = fs::join(data_dir_, "blobs/packs");
  index_dir_ = fs::join(data_dir_, "index");
}

Store::~Store() {
  // Access times are advisory; flush what is pending, and leave the index synced so the
  // next open replays nothing.
  if (opened_) {
    std::vector<Mutation*> none;
    (void)submit(none);
    if (index_->sync()) (void)mark_index_open(false);  // clean: no rebuild next time
  }
}

namespace {

// The index entry a replayed record stands for; an entry already there keeps its pins
// and age.
BlobMeta replayed(const RecordHeader& h, Location location, const std::optional<BlobMeta>& existing) {
  BlobMeta m;
  m.codec = h.codec;
  m.location = location;
  m.size = h.size;
  m.stored_size = h.stored_size;
  m.created_ns = existing ? existing->created_ns : h.created_ns;
  m.accessed_ns = existing ? std::max(existing->accessed_ns, h.created_ns) : h.created_ns;
  m.pins = existing ? existing->pins : 0;
  return m;
}

std::string boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}
}  // namespace

Result<bool> Store::index_survived_last_boot() {
  std::string marker = fs::join(index_dir_, "OPEN");
  if (!fs::exists(marker)) return true;  // never opened
  std::ifstream in(marker);
  std::string id;
  std::getline(in, id);
  if (id == "closed") return true;
  // The same boot: a process crash, which leaves LMDB's pages in the page cache and the
  // index intact. Another boot (or no boot id to compare): rebuild from the log.
  std::string now = boot_id();
  return !now.empty() && id == now;
}

Status Store::mark_index_open(bool open) {
  // Rewritten in place at a fixed size, so that marking needs no new disk space: a store
  // on a full disk still opens and closes.
  constexpr size_t kMarkerSize = 64;
  std::string text = open ? boot_id() : std::string("closed");
  text.resize(kMarkerSize, '\n');
  std::string marker = fs::join(index_dir_, "OPEN");
  bool existed = fs::exists(marker);
  BZZZ_ASSIGN_OR_RETURN(auto file, fs::File::open(marker, O_WRONLY | O_CREAT));
  BZZZ_TRY(file.pwrite_all({reinterpret_cast<const uint8_t*>(text.data()), text.size()}, 0));
  BZZZ_TRY(file.sync());
  return existed ? ok() : fs::sync_dir(index_dir_);
}

Result<std::unique_ptr<Store>> Store::open(const std::string& data_dir, StoreOptions options) {
  if (options.min_savings < 0 || options.min_savings >= 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("compression min_savings must be in [0, 1), got {}",
                                  options.min_savings));
  }
  if (options.small_blob_threshold > internal::kMaxSmallThreshold) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("small-blob threshold must be at most {} bytes, got {}",
                                  internal::kMaxSmallThreshold, options.small_blob_threshold));
  }
  BZZZ_TRY(check_level(options.codec, options.level));
  std::unique_ptr<Store> store(new Store(data_dir, options));
  auto status = store->open_impl();
  if (!status) return fail(std::move(status).error().wrap(fmt::format("open store {}", data_dir)));
  return store;
}

Status Store::open_impl() {
  BZZZ_TRY(fs::make_dirs(data_dir_));
  for (const auto& dir : {data_root_, temp_dir_, packs_dir_, index_dir_}) BZZZ_TRY(fs::make_dirs(dir));

  // One process owns a data dir at a time (as LevelDB's LOCK): wait for it, bounded.
  BZZZ_ASSIGN_OR_RETURN(lock_file_, fs::File::open(fs::join(data_dir_, "LOCK"), O_RDWR | O_CREAT));
  auto deadline = std::chrono::steady_clock::now() + options_.lock_timeout;
  while (::flock(lock_file_.fd(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return fail(errno_error(errno, "lock " + lock_file_.path()));
    if (std::chrono::steady_clock::now() >= deadline) {
      char pid[32] = {0};
      (void)::pread(lock_file_.fd(), pid, sizeof pid - 1, 0);
      return make_error(ErrorCode::kBusy,
                        fmt::format("data dir is in use by another process (pid {}); waited {} ms",
                                    pid[0] ? pid : "unknown", options_.lock_timeout.count()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::string pid = fmt::format("{}\n", ::getpid());
  BZZZ_TRY(lock_file_.truncate(0));
  BZZZ_TRY(lock_file_.pwrite_all({reinterpret_cast<const uint8_t*>(pid.data()), pid.size()}, 0));

  BZZZ_ASSIGN_OR_RETURN(bool trusted, index_survived_last_boot());
  if (trusted) {
    BZZZ_ASSIGN_OR_RETURN(index_, Index::open(index_dir_));
    BZZZ_TRY(replay());
  } else {
    BZZZ_TRY(rebuild_locked());
  }
  BZZZ_TRY(mark_index_open(true));
  BZZZ_TRY(clean_temp());
  opened_ = true;  // only now may the destructor write: a half-open store must not
  return ok();
}

std::string Store::pack_path(uint32_t pack_id) const {
  return fs::join(packs_dir_, pack_file_name(pack_id));
}

std::string Store::blob_path(const Hash& hash) const {
  std::string hex = hash.hex();
  return fmt::format("{}/{}/{}/{}", data_root_, hex.substr(0, 2), hex.substr(2, 2), hex);
}

std::string Store::temp_path(std::string_view suffix) {
  // The open time makes names unique across processes that reuse a pid (containers).
  return fmt::format("{}/{}.{}.{}.{}", temp_dir_, ::getpid(), open_ns_, temp_seq_.fetch_add(1),
                     suffix);
}

Status Store::replay() {
  BZZZ_ASSIGN_OR_RETURN(auto names, fs::list_dir(packs_dir_));
  std::vector<uint32_t> ids;
  for (const auto& name : names) {
    if (uint32_t id = parse_pack_file_name(name)) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  BZZZ_ASSIGN_OR_RETURN(auto checkpoints, index_->pack_checkpoints());
  BZZZ_ASSIGN_OR_RETURN(auto batch, index_->begin());
  uint64_t log_end = 0;
  std::set<Hash> removed;  // tombstoned and not stored again later in the log
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = checkpoints.find(ids[i]);
    uint64_t from = it == checkpoints.end() ? kPackFileHeaderSize : it->second;
    BZZZ_ASSIGN_OR_RETURN(log_end, replay_pack(ids[i], from, i + 1 == ids.size(), batch, removed));
  }
  // A gc that crashed between its tombstones and its unlinks left files behind. (Not
  // while rebuilding from scratch: then a file of doubtful standing is kept, not lost.)
  for (const Hash& hash : rebuilding_ ? std::set<Hash>() : removed) {
    BZZZ_ASSIGN_OR_RETURN(auto existing, batch.get(hash));
    if (!existing) BZZZ_TRY(fs::remove_file(blob_path(hash)));
  }
  BZZZ_TRY(replay_pins(batch));
  BZZZ_TRY(batch.commit());
  BZZZ_TRY(index_->sync());
  active_pack_id_ = ids.empty() ? 0 : ids.back();
  return open_active_pack(log_end);
}

Result<uint64_t> Store::replay_pack(uint32_t pack_id, uint64_t from, bool is_last, Index::Batch& batch,
                                    std::set<Hash>& removed) {
  std::string path = pack_path(pack_id);
  BZZZ_ASSIGN_OR_RETURN(auto file, fs::File::open(path, is_last ? O_RDWR : O_RDONLY));
  BZZZ_ASSIGN_OR_RETURN(uint64_t size, file.size());
  if (size < kPackFileHeaderSize) {
    // A pack whose header never became durable holds nothing acknowledged.
    if (is_last) {
      std::vector<uint8_t> header = encode_pack_file_header(pack_id);
      BZZZ_TRY(file.truncate(0));
      BZZZ_TRY(file.pwrite_all(header, 0));
      BZZZ_TRY(file.sync());
      BZZZ_TRY(batch.set_pack_checkpoint(pack_id, kPackFileHeaderSize));
      return uint64_t{kPackFileHeaderSize};
    }
    return make_error(ErrorCode::kCorrupt, fmt::format("{} is truncated ({} bytes)", path, size));
  }
  std::vector<uint8_t> header(kPackFileHeaderSize);
  BZZZ_TRY(file.pread_exact(header, 0));
  BZZZ_TRY(check_pack_file_header(header, pack_id).map_error([&](Error e) { return e.wrap(path); }));
  if (from >= size) return from;
  auto end = scan_pack(file, from, [&](const ScannedRecord& rec) -> Status {
    const RecordHeader& h = rec.header;
    if (h.type == RecordType::kTombstone) {
      removed.insert(h.hash);
    } else {
      removed.erase(h.hash);
    }
    switch (h.type) {
      case RecordType::kBlob: {
        BZZZ_ASSIGN_OR_RETURN(auto existing, batch.get(h.hash));
        BlobMeta m = replayed(h, Location::kPack, existing);
        m.stored_size = h.payload_len;
        m.pack_id = pack_id;
        m.offset = rec.offset + kRecordHeaderSize;
        return batch.put(h.hash, m);
      }
      case RecordType::kFileIntent: {
        std::string_view name(reinterpret_cast<const char*>(rec.payload.data()), rec.payload.size());
        return apply_file_intent(h, name, batch);
      }
      case RecordType::kTombstone: {
        // gc logged it when the blob was unpinned; a pin journal record that looks
        // otherwise is an unpin that preceded it and is replayed later.
        return batch.erase(h.hash);
      }
    }
    return ok();
  });
  if (!end) return fail(std::move(end).error().wrap(path));
  uint64_t checkpoint = end->valid_end;
  if (end->torn) {
    if (is_last) {
      // A torn tail is a group commit the crash interrupted: nothing in it was
      // acknowledged, so it is cut off.
      BZZZ_TRY(file.truncate(end->valid_end));
      BZZZ_TRY(file.sync());
    } else {
      // Damage inside a sealed pack: keep what precedes it; verify reports the rest.
      checkpoint = size;
    }
  }
  BZZZ_TRY(batch.set_pack_checkpoint(pack_id, checkpoint));
  return checkpoint;
}

Status Store::apply_file_intent(const RecordHeader& h, std::string_view temp_name,
                                Index::Batch& batch) {
  std::string final_path = blob_path(h.hash);
  // An empty name says "the file is in place" (compaction re-logs intents that way); a
  // name that is not a plain file name is never followed out of blobs/temp.
  bool plain = !temp_name.empty() && temp_name.find('/') == std::string_view::npos &&
               temp_name != "." && temp_name != "..";
  std::string temp = plain ? fs::join(temp_dir_, std::string(temp_name)) : std::string();
  auto file_size = [](const std::string& path) -> std::optional<uint64_t> {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return static_cast<uint64_t>(st.st_size);
  };
  // The intent was logged after the temp file was fsynced and before the rename, so a
  // temp file of the logged size is the complete blob.
  if (plain && file_size(temp) == h.stored_size) {
    BZZZ_TRY(internal::install_file(temp, final_path));
  } else if (file_size(final_path) != h.stored_size) {
    return ok();  // neither is there: the put failed before its rename and said so
  }
  BZZZ_ASSIGN_OR_RETURN(auto existing, batch.get(h.hash));
  return batch.put(h.hash, replayed(h, Location::kFile, existing));
}

Status Store::for_each_pin_record(uint64_t from, uint64_t size,
                                  const std::function<Status(const internal::PinRecord&)>& fn) {
  // Records are fixed-size: a damaged one is skipped, never the ones after it.
  constexpr uint64_t kRec = internal::kPinRecordSize;
  std::vector<uint8_t> buf(static_cast<size_t>(std::min<uint64_t>(size - std::min(from, size), 4u << 20)));
  for (uint64_t pos = from; pos + kRec <= size;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), (size - pos) / kRec * kRec));
    BZZZ_TRY(pins_journal_.pread_exact({buf.data(), n}, pos));
    for (size_t i = 0; i < n; i += kRec) {
      if (auto rec = internal::decode_pin_record({buf.data() + i, kRec})) BZZZ_TRY(fn(*rec));
    }
    pos += n;
  }
  return ok();
}

Status Store::replay_pins(Index::Batch& batch) {
  std::string path = fs::join(data_dir_, internal::kPinsJournalName);
  bool created = !fs::exists(path);
  BZZZ_ASSIGN_OR_RETURN(pins_journal_, fs::File::open(path, O_RDWR | O_CREAT));
  if (created) BZZZ_TRY(fs::sync_dir(fs::join(data_dir_, "blobs")));
  BZZZ_ASSIGN_OR_RETURN(uint64_t size, pins_journal_.size());
  // Only a partial record at the end is a torn append; it was never acknowledged.
  uint64_t whole = size / internal::kPinRecordSize * internal::kPinRecordSize;
  if (whole < size) {
    BZZZ_TRY(pins_journal_.truncate(whole));
    BZZZ_TRY(pins_journal_.sync());
  }
  BZZZ_ASSIGN_OR_RETURN(uint64_t from, index_->pins_applied());
  BZZZ_TRY(for_each_pin_record(from, whole, [&](const internal::PinRecord& rec) -> Status {
    BZZZ_ASSIGN_OR_RETURN(auto existing, batch.get(rec.hash));
    if (!existing) return ok();
    int64_t pins = static_cast<int64_t>(existing->pins) + rec.delta;
    existing->pins = static_cast<uint32_t>(std::max<int64_t>(0, pins));
    return batch.put(rec.hash, *existing);
  }));
  pins_journal_size_ = whole;
  return batch.set_pins_applied(whole);
}

Status Store::open_active_pack(uint64_t log_end) {
  if (active_pack_id_ != 0) {
    BZZZ_ASSIGN_OR_RETURN(active_pack_, fs::File::open(pack_path(active_pack_id_), O_RDWR));
    BZZZ_ASSIGN_OR_RETURN(active_pack_alloc_, active_pack_.size());
    active_pack_size_ = log_end;
    if (active_pack_size_ < options_.pack_target_bytes) return ok();
  }
  return start_new_pack();
}

Status Store::start_new_pack() {
  if (active_pack_.valid()) {
    // Sealed: its preallocated zeros are of no further use.
    BZZZ_TRY(active_pack_.truncate(active_pack_size_));
  }
  uint32_t id = active_pack_id_ + 1;
  std::string path = pack_path(id);
  BZZZ_ASSIGN_OR_RETURN(auto file, fs::File::open(path, O_RDWR | O_CREAT | O_TRUNC));
  BZZZ_TRY(file.write_all(encode_pack_file_header(id)));
  BZZZ_TRY(file.sync());
  BZZZ_TRY(fs::sync_dir(packs_dir_));
  active_pack_ = std::move(file);
  active_pack_id_ = id;
  active_pack_size_ = active_pack_alloc_ = kPackFileHeaderSize;
  return ok();
}

Status Store::reserve_pack_space(uint64_t bytes) {
  // fdatasync of a write that grows a file also commits the new size to the journal,
  // which costs twice as much as syncing a write into existing blocks. So the pack is
  // kept zero-filled a few MiB ahead of its end, and most group commits only overwrite.
  if (active_pack_size_ + bytes <= active_pack_alloc_) return ok();
  static const std::vector<uint8_t> zeros(1u << 20, 0);
  auto fill_to = [&](uint64_t target) -> Status {
    while (active_pack_alloc_ < target) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), target - active_pack_alloc_));
      BZZZ_TRY(active_pack_.pwrite_all({zeros.data(), n}, active_pack_alloc_));
      active_pack_alloc_ += n;
    }
    return ok();
  };
  auto status = fill_to(active_pack_size_ + bytes + internal::kPackPrealloc);
  if (!status && status.error().code() == ErrorCode::kNoSpace) {
    // A nearly full disk may still hold this group without the reserve.
    BZZZ_TRY(active_pack_.truncate(active_pack_size_));
    active_pack_alloc_ = active_pack_size_;
    return ok();
  }
  return status;
}

Status Store::clean_temp() {
  // We hold LOCK, so nothing in temp/ belongs to a live put: it is debris of a crash.
  BZZZ_ASSIGN_OR_RETURN(auto names, fs::list_dir(temp_dir_));
  for (const auto& name : names) BZZZ_TRY(fs::remove_file(fs::join(temp_dir_, name)));
  return ok();
}

}  // namespace bzzz::store
