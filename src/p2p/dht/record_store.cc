#include "p2p/dht/record_store.h"

#include <lmdb.h>

#include <functional>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "base/encoding/varint.h"
#include "base/fs/file.h"
#include "p2p/proto/dht.pb.h"

namespace bzzz::p2p::dht {

// (Outside the anonymous namespace: RecordStore::Backend's signatures use them.)
enum Table { kRecords = 0, kProviders = 1 };
using Visit = std::function<bool(std::string_view key, std::string_view value)>;

namespace {

// Address space only: the file grows as used. Small, so that hundreds of nodes in one
// test process fit in the address space.
constexpr size_t kMapSize = size_t{1} << 30;

int64_t to_ms(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
Clock::time_point from_ms(int64_t ms) { return Clock::time_point(std::chrono::milliseconds(ms)); }

// uvarint(len key) || key: every provider entry of `key` starts with it, and no entry
// of another key does.
std::string provider_prefix(std::span<const uint8_t> key) {
  Bytes p;
  varint_append(p, key.size());
  p.insert(p.end(), key.begin(), key.end());
  return std::string(p.begin(), p.end());
}

std::span<const uint8_t> span_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

class RecordStore::Backend {
 public:
  virtual ~Backend() = default;
  virtual Status put(Table t, std::string_view key, std::string_view value) = 0;
  virtual std::optional<std::string> get(Table t, std::string_view key) const = 0;
  virtual Status scan(Table t, std::string_view prefix, const Visit& fn) const = 0;
  virtual Status erase(Table t, const std::vector<std::string>& keys) = 0;
  virtual size_t count(Table t) const = 0;
};

namespace {

class MemoryBackend final : public RecordStore::Backend {
 public:
  Status put(Table t, std::string_view key, std::string_view value) override {
    std::lock_guard lock(mutex_);
    tables_[t][std::string(key)] = std::string(value);
    return ok();
  }
  std::optional<std::string> get(Table t, std::string_view key) const override {
    std::lock_guard lock(mutex_);
    auto it = tables_[t].find(key);
    if (it == tables_[t].end()) return std::nullopt;
    return it->second;
  }
  Status scan(Table t, std::string_view prefix, const Visit& fn) const override {
    std::vector<std::pair<std::string, std::string>> copy;
    {
      std::lock_guard lock(mutex_);
      for (auto it = tables_[t].lower_bound(prefix); it != tables_[t].end() && it->first.starts_with(prefix); ++it) {
        copy.push_back(*it);
      }
    }
    for (const auto& [k, v] : copy) {
      if (!fn(k, v)) break;
    }
    return ok();
  }
  Status erase(Table t, const std::vector<std::string>& keys) override {
    std::lock_guard lock(mutex_);
    for (const auto& k : keys) tables_[t].erase(k);
    return ok();
  }
  size_t count(Table t) const override {
    std::lock_guard lock(mutex_);
    return tables_[t].size();
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string, std::less<>> tables_[2];
};

MDB_val to_val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view from_val(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

class LmdbBackend final : public RecordStore::Backend {
 public:
  ~LmdbBackend() override {
    if (env_ != nullptr) mdb_env_close(env_);
  }

  static Result<std::unique_ptr<LmdbBackend>> open(const std::string& dir) {
    BZZZ_TRY(fs::make_dirs(dir));
    std::unique_ptr<LmdbBackend> b(new LmdbBackend(dir));
    BZZZ_TRY(b->check(mdb_env_create(&b->env_), "create environment"));
    BZZZ_TRY(b->check(mdb_env_set_mapsize(b->env_, kMapSize), "set map size"));
    BZZZ_TRY(b->check(mdb_env_set_maxdbs(b->env_, 2), "set max dbs"));
    // NOSYNC: soft state (see the header). NOTLS: read transactions may cross threads.
    BZZZ_TRY(b->check(mdb_env_open(b->env_, dir.c_str(), MDB_NOSYNC | MDB_NOTLS | MDB_NORDAHEAD, 0644),
                      "open environment"));
    MDB_txn* txn = nullptr;
    BZZZ_TRY(b->check(mdb_txn_begin(b->env_, nullptr, 0, &txn), "begin"));
    int rc = mdb_dbi_open(txn, "records", MDB_CREATE, &b->dbi_[kRecords]);
    if (rc == MDB_SUCCESS) rc = mdb_dbi_open(txn, "providers", MDB_CREATE, &b->dbi_[kProviders]);
    if (rc != MDB_SUCCESS) {
      mdb_txn_abort(txn);
      return fail(b->error(rc, "open tables"));
    }
    BZZZ_TRY(b->check(mdb_txn_commit(txn), "commit"));
    return b;
  }

  Status put(Table t, std::string_view key, std::string_view value) override {
    std::lock_guard lock(write_mutex_);
    MDB_txn* txn = nullptr;
    BZZZ_TRY(check(mdb_txn_begin(env_, nullptr, 0, &txn), "begin write"));
    MDB_val k = to_val(key);
    MDB_val v = to_val(value);
    int rc = mdb_put(txn, dbi_[t], &k, &v, 0);
    if (rc != MDB_SUCCESS) {
      mdb_txn_abort(txn);
      return fail(error(rc, "put"));
    }
    return check(mdb_txn_commit(txn), "commit");
  }

  std::optional<std::string> get(Table t, std::string_view key) const override {
    Read r(env_);
    if (!r.txn) return std::nullopt;
    MDB_val k = to_val(key);
    MDB_val v;
    if (mdb_get(r.txn, dbi_[t], &k, &v) != MDB_SUCCESS) return std::nullopt;
    return std::string(from_val(v));
  }

  Status scan(Table t, std::string_view prefix, const Visit& fn) const override {
    Read r(env_);
    if (!r.txn) return fail(Error(ErrorCode::kIo, fmt::format("dht store {}: cannot begin a read", dir_)));
    MDB_cursor* cursor = nullptr;
    BZZZ_TRY(check(mdb_cursor_open(r.txn, dbi_[t], &cursor), "open cursor"));
    MDB_val k = to_val(prefix);
    MDB_val v;
    int rc = prefix.empty() ? mdb_cursor_get(cursor, &k, &v, MDB_FIRST) : mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
    while (rc == MDB_SUCCESS && from_val(k).starts_with(prefix)) {
      if (!fn(from_val(k), from_val(v))) break;
      rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return fail(error(rc, "scan"));
    return ok();
  }

  Status erase(Table t, const std::vector<std::string>& keys) override {
    if (keys.empty()) return ok();
    std::lock_guard lock(write_mutex_);
    MDB_txn* txn = nullptr;
    BZZZ_TRY(check(mdb_txn_begin(env_, nullptr, 0, &txn), "begin write"));
    for (const auto& key : keys) {
      MDB_val k = to_val(key);
      int rc = mdb_del(txn, dbi_[t], &k, nullptr);
      if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return fail(error(rc, "delete"));
      }
    }
    return check(mdb_txn_commit(txn), "commit");
  }

  size_t count(Table t) const override {
    Read r(env_);
    MDB_stat st{};
    if (!r.txn || mdb_stat(r.txn, dbi_[t], &st) != MDB_SUCCESS) return 0;
    return st.ms_entries;
  }

 private:
  explicit LmdbBackend(std::string dir) : dir_(std::move(dir)) {}
  struct Read {
    explicit Read(MDB_env* env) {
      if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != MDB_SUCCESS) txn = nullptr;
    }
    ~Read() {
      if (txn != nullptr) mdb_txn_abort(txn);
    }
    MDB_txn* txn = nullptr;
  };
  Error error(int rc, std::string_view what) const {
    ErrorCode code = rc == MDB_MAP_FULL || rc == ENOSPC ? ErrorCode::kNoSpace : ErrorCode::kIo;
    if (rc == MDB_CORRUPTED || rc == MDB_INVALID || rc == MDB_PAGE_NOTFOUND) code = ErrorCode::kCorrupt;
    return Error(code, fmt::format("dht store {}: {}: {}", dir_, what, mdb_strerror(rc)));
  }
  Status check(int rc, std::string_view what) const {
    if (rc == MDB_SUCCESS) return ok();
    return fail(error(rc, what));
  }

  std::string dir_;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_[2] = {0, 0};
  std::mutex write_mutex_;  // LMDB has one writer; waiting here rather than in LMDB's lock
};

}  // namespace

RecordStore::RecordStore(std::unique_ptr<Backend> backend, std::string dir, std::chrono::milliseconds record_ttl,
                         std::chrono::milliseconds provider_ttl)
    : backend_(std::move(backend)), dir_(std::move(dir)), record_ttl_(record_ttl), provider_ttl_(provider_ttl) {}

RecordStore::~RecordStore() = default;

Result<std::unique_ptr<RecordStore>> RecordStore::open(const std::string& dir, std::chrono::milliseconds record_ttl,
                                                       std::chrono::milliseconds provider_ttl) {
  std::unique_ptr<Backend> backend;
  if (dir.empty()) {
    backend = std::make_unique<MemoryBackend>();
  } else {
    BZZZ_ASSIGN_OR_RETURN(backend, LmdbBackend::open(dir));
  }
  return std::unique_ptr<RecordStore>(new RecordStore(std::move(backend), dir, record_ttl, provider_ttl));
}

bool RecordStore::expired(Clock::time_point received, bool own, std::chrono::milliseconds ttl,
                          Clock::time_point now) const {
  return !own && received + ttl <= now;
}

Status RecordStore::put_record(std::string_view key, const StoredRecord& record) {
  pb::DhtStoredRecord pb;
  pb.set_value(record.value.data(), record.value.size());
  pb.set_receivedms(to_ms(record.received));
  pb.set_own(record.own);
  return backend_->put(kRecords, key, pb.SerializeAsString());
}

std::optional<StoredRecord> RecordStore::get_record(std::string_view key, Clock::time_point now) const {
  auto raw = backend_->get(kRecords, key);
  if (!raw) return std::nullopt;
  pb::DhtStoredRecord pb;
  if (!pb.ParseFromString(*raw)) return std::nullopt;
  StoredRecord r{Bytes(pb.value().begin(), pb.value().end()), from_ms(pb.receivedms()), pb.own()};
  if (expired(r.received, r.own, record_ttl_, now)) return std::nullopt;
  return r;
}

Status RecordStore::add_provider(std::span<const uint8_t> key, const ProviderEntry& entry) {
  std::string k = provider_prefix(key);
  k.append(entry.peer.bytes().begin(), entry.peer.bytes().end());
  pb::DhtStoredProvider pb;
  for (const auto& a : entry.addrs) {
    auto b = a.to_bytes();
    pb.add_addrs(b.data(), b.size());
  }
  pb.set_receivedms(to_ms(entry.received));
  pb.set_own(entry.own);
  return backend_->put(kProviders, k, pb.SerializeAsString());
}

std::vector<ProviderEntry> RecordStore::providers(std::span<const uint8_t> key, Clock::time_point now,
                                                  size_t limit) const {
  std::vector<ProviderEntry> out;
  std::string prefix = provider_prefix(key);
  auto st = backend_->scan(kProviders, prefix, [&](std::string_view k, std::string_view v) {
    pb::DhtStoredProvider pb;
    auto peer = PeerId::from_bytes(span_of(k.substr(prefix.size())));
    if (!peer || !pb.ParseFromArray(v.data(), static_cast<int>(v.size()))) return true;
    ProviderEntry e{std::move(*peer), {}, from_ms(pb.receivedms()), pb.own()};
    if (expired(e.received, e.own, provider_ttl_, now)) return true;
    for (const auto& a : pb.addrs()) {
      auto addr = Multiaddr::from_bytes(span_of(a));
      if (addr) e.addrs.push_back(std::move(*addr));
    }
    out.push_back(std::move(e));
    return out.size() < limit;
  });
  (void)st;  // a failed read is an empty answer: the lookup goes on to other peers
  return out;
}

std::vector<std::pair<std::string, StoredRecord>> RecordStore::own_records() const {
  std::vector<std::pair<std::string, StoredRecord>> out;
  (void)backend_->scan(kRecords, {}, [&](std::string_view k, std::string_view v) {
    pb::DhtStoredRecord pb;
    if (pb.ParseFromArray(v.data(), static_cast<int>(v.size())) && pb.own()) {
      out.emplace_back(std::string(k), StoredRecord{Bytes(pb.value().begin(), pb.value().end()),
                                                    from_ms(pb.receivedms()), true});
    }
    return true;
  });
  return out;
}

std::vector<Bytes> RecordStore::own_provider_keys() const {
  std::vector<Bytes> out;
  (void)backend_->scan(kProviders, {}, [&](std::string_view k, std::string_view v) {
    pb::DhtStoredProvider pb;
    if (!pb.ParseFromArray(v.data(), static_cast<int>(v.size())) || !pb.own()) return true;
    std::span<const uint8_t> in = span_of(k);
    auto len = varint_read(in);
    if (len && *len <= in.size()) out.emplace_back(in.begin(), in.begin() + static_cast<ptrdiff_t>(*len));
    return true;
  });
  return out;
}

Result<RecordStore::Purged> RecordStore::purge(Clock::time_point now) {
  std::vector<std::string> records;
  std::vector<std::string> providers;
  BZZZ_TRY(backend_->scan(kRecords, {}, [&](std::string_view k, std::string_view v) {
    pb::DhtStoredRecord pb;
    if (!pb.ParseFromArray(v.data(), static_cast<int>(v.size())) ||
        expired(from_ms(pb.receivedms()), pb.own(), record_ttl_, now)) {
      records.emplace_back(k);
    }
    return true;
  }));
  BZZZ_TRY(backend_->scan(kProviders, {}, [&](std::string_view k, std::string_view v) {
    pb::DhtStoredProvider pb;
    if (!pb.ParseFromArray(v.data(), static_cast<int>(v.size())) ||
        expired(from_ms(pb.receivedms()), pb.own(), provider_ttl_, now)) {
      providers.emplace_back(k);
    }
    return true;
  }));
  BZZZ_TRY(backend_->erase(kRecords, records));
  BZZZ_TRY(backend_->erase(kProviders, providers));
  return Purged{records.size(), providers.size()};
}

size_t RecordStore::record_count() const { return backend_->count(kRecords); }
size_t RecordStore::provider_count() const { return backend_->count(kProviders); }

}  // namespace bzzz::p2p::dht
