#include "content/store/index.h"

#include <lmdb.h>

#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "base/fs/file.h"

namespace bzzz::store {

namespace {

constexpr size_t kMapSize = size_t{1} << 40;  // address space only; the file grows as used
constexpr std::string_view kCountersKey = "counters";
constexpr std::string_view kPinsAppliedKey = "pins_applied";
constexpr std::string_view kPackPrefix = "pack:";
constexpr std::string_view kFormatKey = "format";
constexpr uint64_t kFormat = 1;

MDB_val to_val(const void* data, size_t size) {
  return MDB_val{size, const_cast<void*>(data)};
}
MDB_val to_val(std::string_view s) { return to_val(s.data(), s.size()); }
MDB_val to_val(const Hash& h) { return to_val(h.data(), kHashSize); }

std::string pack_key(uint32_t id) { return fmt::format("{}{:08d}", kPackPrefix, id); }

constexpr size_t kCountersSize = 8 * 8;

std::array<uint8_t, kCountersSize> encode_counters(const StoreCounters& c) {
  std::array<uint8_t, kCountersSize> out{};
  uint64_t v[8] = {c.blobs,       c.logical_bytes, c.stored_bytes, c.by_codec[0],
                   c.by_codec[1], c.by_codec[2],   c.packed,       c.files};
  for (int i = 0; i < 8; ++i) put_u64(out.data() + 8 * i, v[i]);
  return out;
}

StoreCounters decode_counters(const MDB_val& val) {
  StoreCounters c;
  if (val.mv_size != kCountersSize) return c;
  auto* p = static_cast<const uint8_t*>(val.mv_data);
  c.blobs = get_u64(p);
  c.logical_bytes = get_u64(p + 8);
  c.stored_bytes = get_u64(p + 16);
  for (int i = 0; i < 3; ++i) c.by_codec[i] = get_u64(p + 24 + 8 * i);
  c.packed = get_u64(p + 48);
  c.files = get_u64(p + 56);
  return c;
}

Error lmdb_error(int rc, std::string_view what, const std::string& dir) {
  ErrorCode code = ErrorCode::kIo;
  if (rc == MDB_CORRUPTED || rc == MDB_INVALID || rc == MDB_PAGE_NOTFOUND ||
      rc == MDB_VERSION_MISMATCH) {
    code = ErrorCode::kCorrupt;
  } else if (rc == ENOSPC || rc == MDB_MAP_FULL) {
    code = ErrorCode::kNoSpace;
  } else if (rc == EACCES || rc == EPERM || rc == EROFS) {
    code = ErrorCode::kPermission;
  }
  std::string detail = rc == ENOSPC ? "no space left on device (disk full)" : mdb_strerror(rc);
  std::string msg = fmt::format("index {}: {}: {}", dir, what, detail);
  if (code == ErrorCode::kCorrupt) msg += " (run `bzzz index rebuild` to rebuild it from the blobs)";
  return Error(code, msg);
}

// A read-only transaction that always ends.
struct ReadTxn {
  MDB_txn* txn = nullptr;
  ~ReadTxn() {
    if (txn != nullptr) mdb_txn_abort(txn);
  }
};

}  // namespace

void StoreCounters::add(const BlobMeta& m, int sign) {
  auto apply = [sign](uint64_t& field, uint64_t amount) {
    field = sign > 0 ? field + amount : field - amount;
  };
  apply(blobs, 1);
  apply(logical_bytes, m.size);
  apply(stored_bytes, m.stored_size);
  apply(by_codec[static_cast<int>(m.codec)], 1);
  apply(m.location == Location::kPack ? packed : files, 1);
}

Index::~Index() {
  if (env_ != nullptr) mdb_env_close(env_);
}

Status Index::check(int rc, const char* what) const {
  if (rc == MDB_SUCCESS) return ok();
  return fail(lmdb_error(rc, what, dir_));
}

Result<std::unique_ptr<Index>> Index::open(const std::string& dir) {
  BZZZ_TRY(fs::make_dirs(dir));
  std::unique_ptr<Index> index(new Index());
  index->dir_ = dir;
  BZZZ_TRY(index->check(mdb_env_create(&index->env_), "create environment"));
  BZZZ_TRY(index->check(mdb_env_set_mapsize(index->env_, kMapSize), "set map size"));
  BZZZ_TRY(index->check(mdb_env_set_maxdbs(index->env_, 4), "set max dbs"));
  BZZZ_TRY(index->check(mdb_env_set_maxreaders(index->env_, 1024), "set max readers"));
  // NOSYNC: durability comes from the packs and pins journal (see the header).
  // NOTLS: read transactions are not tied to threads, so coroutines may move.
  BZZZ_TRY(index->check(
      mdb_env_open(index->env_, dir.c_str(), MDB_NOSYNC | MDB_NOTLS | MDB_NORDAHEAD, 0644),
      "open environment"));
  MDB_txn* txn = nullptr;
  BZZZ_TRY(index->check(mdb_txn_begin(index->env_, nullptr, 0, &txn), "begin transaction"));
  MDB_dbi blobs = 0;
  MDB_dbi meta = 0;
  int rc = mdb_dbi_open(txn, "blobs", MDB_CREATE, &blobs);
  if (rc == MDB_SUCCESS) rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &meta);
  MDB_val fkey = to_val(kFormatKey);
  MDB_val fval;
  if (rc == MDB_SUCCESS) {
    rc = mdb_get(txn, meta, &fkey, &fval);
    if (rc == MDB_NOTFOUND) {
      uint8_t buf[8];
      put_u64(buf, kFormat);
      fval = to_val(buf, 8);
      rc = mdb_put(txn, meta, &fkey, &fval, 0);
    } else if (rc == MDB_SUCCESS &&
               (fval.mv_size != 8 || get_u64(static_cast<uint8_t*>(fval.mv_data)) != kFormat)) {
      mdb_txn_abort(txn);
      return make_error(ErrorCode::kCorrupt,
                        fmt::format("index {}: unknown index format (run `bzzz index rebuild`)", dir));
    }
  }
  if (rc != MDB_SUCCESS) {
    mdb_txn_abort(txn);
    return fail(lmdb_error(rc, "open tables", dir));
  }
  BZZZ_TRY(index->check(mdb_txn_commit(txn), "commit"));
  index->blobs_dbi_ = blobs;
  index->meta_dbi_ = meta;
  return index;
}

Result<std::optional<BlobMeta>> Index::get(const Hash& hash) const {
  ReadTxn r;
  BZZZ_TRY(check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &r.txn), "begin read"));
  MDB_val key = to_val(hash);
  MDB_val val;
  int rc = mdb_get(r.txn, blobs_dbi_, &key, &val);
  if (rc == MDB_NOTFOUND) return std::optional<BlobMeta>();
  BZZZ_TRY(check(rc, "get"));
  BZZZ_ASSIGN_OR_RETURN(BlobMeta meta,
                        decode_blob_meta({static_cast<uint8_t*>(val.mv_data), val.mv_size}));
  return std::optional<BlobMeta>(meta);
}

Status Index::scan(const std::function<bool(const Hash&, const BlobMeta&)>& fn) const {
  ReadTxn r;
  BZZZ_TRY(check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &r.txn), "begin read"));
  MDB_cursor* cursor = nullptr;
  BZZZ_TRY(check(mdb_cursor_open(r.txn, blobs_dbi_, &cursor), "open cursor"));
  MDB_val key;
  MDB_val val;
  Status status = ok();
  int rc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST);
  while (rc == MDB_SUCCESS) {
    auto hash = Hash::from_bytes({static_cast<uint8_t*>(key.mv_data), key.mv_size});
    auto meta = decode_blob_meta({static_cast<uint8_t*>(val.mv_data), val.mv_size});
    if (!hash || !meta) {
      status = make_error(ErrorCode::kCorrupt,
                          fmt::format("index {}: malformed entry (run `bzzz index rebuild`)", dir_));
      break;
    }
    if (!fn(*hash, *meta)) break;
    rc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT);
  }
  if (status && rc != MDB_SUCCESS && rc != MDB_NOTFOUND) status = check(rc, "scan");
  mdb_cursor_close(cursor);
  return status;
}

Result<StoreCounters> Index::counters() const {
  ReadTxn r;
  BZZZ_TRY(check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &r.txn), "begin read"));
  MDB_val key = to_val(kCountersKey);
  MDB_val val;
  int rc = mdb_get(r.txn, meta_dbi_, &key, &val);
  if (rc == MDB_NOTFOUND) return StoreCounters{};
  BZZZ_TRY(check(rc, "get counters"));
  return decode_counters(val);
}

Result<std::map<uint32_t, uint64_t>> Index::pack_checkpoints() const {
  ReadTxn r;
  BZZZ_TRY(check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &r.txn), "begin read"));
  MDB_cursor* cursor = nullptr;
  BZZZ_TRY(check(mdb_cursor_open(r.txn, meta_dbi_, &cursor), "open cursor"));
  std::map<uint32_t, uint64_t> out;
  MDB_val key = to_val(kPackPrefix);
  MDB_val val;
  int rc = mdb_cursor_get(cursor, &key, &val, MDB_SET_RANGE);
  while (rc == MDB_SUCCESS) {
    std::string_view k(static_cast<char*>(key.mv_data), key.mv_size);
    if (k.substr(0, kPackPrefix.size()) != kPackPrefix) break;
    uint32_t id = static_cast<uint32_t>(std::stoul(std::string(k.substr(kPackPrefix.size()))));
    if (val.mv_size == 8) out[id] = get_u64(static_cast<uint8_t*>(val.mv_data));
    rc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT);
  }
  mdb_cursor_close(cursor);
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) BZZZ_TRY(check(rc, "scan checkpoints"));
  return out;
}

Result<uint64_t> Index::pins_applied() const {
  ReadTxn r;
  BZZZ_TRY(check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &r.txn), "begin read"));
  MDB_val key = to_val(kPinsAppliedKey);
  MDB_val val;
  int rc = mdb_get(r.txn, meta_dbi_, &key, &val);
  if (rc == MDB_NOTFOUND) return uint64_t{0};
  BZZZ_TRY(check(rc, "get pins checkpoint"));
  return val.mv_size == 8 ? get_u64(static_cast<uint8_t*>(val.mv_data)) : 0;
}

Result<Index::Batch> Index::begin() {
  MDB_txn* txn = nullptr;
  BZZZ_TRY(check(mdb_txn_begin(env_, nullptr, 0, &txn), "begin write"));
  MDB_val key = to_val(kCountersKey);
  MDB_val val;
  StoreCounters counters;
  int rc = mdb_get(txn, meta_dbi_, &key, &val);
  if (rc == MDB_SUCCESS) {
    counters = decode_counters(val);
  } else if (rc != MDB_NOTFOUND) {
    mdb_txn_abort(txn);
    return fail(lmdb_error(rc, "get counters", dir_));
  }
  return Batch(this, txn, counters);
}

Status Index::sync() { return check(mdb_env_sync(env_, 1), "sync"); }

Index::Batch::~Batch() { abort(); }

Index::Batch::Batch(Batch&& other) noexcept
    : index_(other.index_), txn_(other.txn_), counters_(other.counters_) {
  other.txn_ = nullptr;
}

void Index::Batch::abort() {
  if (txn_ != nullptr) mdb_txn_abort(txn_);
  txn_ = nullptr;
}

Result<std::optional<BlobMeta>> Index::Batch::get(const Hash& hash) {
  MDB_val key = to_val(hash);
  MDB_val val;
  int rc = mdb_get(txn_, index_->blobs_dbi_, &key, &val);
  if (rc == MDB_NOTFOUND) return std::optional<BlobMeta>();
  BZZZ_TRY(index_->check(rc, "get"));
  BZZZ_ASSIGN_OR_RETURN(BlobMeta meta,
                        decode_blob_meta({static_cast<uint8_t*>(val.mv_data), val.mv_size}));
  return std::optional<BlobMeta>(meta);
}

Status Index::Batch::put(const Hash& hash, const BlobMeta& meta) {
  BZZZ_ASSIGN_OR_RETURN(auto old, get(hash));
  if (old) counters_.add(*old, -1);
  counters_.add(meta, +1);
  auto bytes = encode_blob_meta(meta);
  MDB_val key = to_val(hash);
  MDB_val val = to_val(bytes.data(), bytes.size());
  return index_->check(mdb_put(txn_, index_->blobs_dbi_, &key, &val, 0), "put");
}

Status Index::Batch::erase(const Hash& hash) {
  BZZZ_ASSIGN_OR_RETURN(auto old, get(hash));
  if (!old) return ok();
  counters_.add(*old, -1);
  MDB_val key = to_val(hash);
  return index_->check(mdb_del(txn_, index_->blobs_dbi_, &key, nullptr), "delete");
}

Status Index::Batch::set_pack_checkpoint(uint32_t pack_id, uint64_t end) {
  std::string k = pack_key(pack_id);
  uint8_t buf[8];
  put_u64(buf, end);
  MDB_val key = to_val(k);
  MDB_val val = to_val(buf, 8);
  return index_->check(mdb_put(txn_, index_->meta_dbi_, &key, &val, 0), "put checkpoint");
}

Status Index::Batch::erase_pack_checkpoint(uint32_t pack_id) {
  std::string k = pack_key(pack_id);
  MDB_val key = to_val(k);
  int rc = mdb_del(txn_, index_->meta_dbi_, &key, nullptr);
  if (rc == MDB_NOTFOUND) return ok();
  return index_->check(rc, "delete checkpoint");
}

Status Index::Batch::set_pins_applied(uint64_t offset) {
  uint8_t buf[8];
  put_u64(buf, offset);
  MDB_val key = to_val(kPinsAppliedKey);
  MDB_val val = to_val(buf, 8);
  return index_->check(mdb_put(txn_, index_->meta_dbi_, &key, &val, 0), "put pins checkpoint");
}

Status Index::Batch::commit() {
  auto bytes = encode_counters(counters_);
  MDB_val key = to_val(kCountersKey);
  MDB_val val = to_val(bytes.data(), bytes.size());
  int rc = mdb_put(txn_, index_->meta_dbi_, &key, &val, 0);
  if (rc != MDB_SUCCESS) {
    abort();
    return index_->check(rc, "put counters");
  }
  MDB_txn* txn = txn_;
  txn_ = nullptr;
  return index_->check(mdb_txn_commit(txn), "commit");
}

}  // namespace bzzz::store
