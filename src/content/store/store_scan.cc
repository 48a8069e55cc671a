// Whole-store operations: verify (scrub), statistics, optimize (recompression) and
// index rebuild. Garbage collection is in store_gc.cc.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "content/store/store_internal.h"

namespace bzzz::store {

using internal::now_ns;

namespace {



unsigned scan_threads(unsigned configured) {
  if (configured != 0) return configured;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

bool is_hex_name(const std::string& name, size_t len) {
  return name.size() == len &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Runs fn(i) for i in [0, n) on `threads` threads.
void parallel_for(size_t n, unsigned threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::min<size_t>(threads, n); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

// Hashes a blob file's decoded content without keeping it.
Result<Hash> hash_stored_file(const std::string& path, Codec codec, uint64_t size) {
  if (codec == Codec::kRaw) return blake3_file(path, 1);
  BZZZ_ASSIGN_OR_RETURN(auto file, fs::File::open_read(path));
  Blake3Hasher hasher;
  BZZZ_ASSIGN_OR_RETURN(auto decoder, make_decoder(codec, size, [&](std::span<const uint8_t> p) {
                          hasher.update(p);
                          return ok();
                        }));
  std::vector<uint8_t> buf(internal::kStreamBuffer);
  for (;;) {
    BZZZ_ASSIGN_OR_RETURN(size_t n, file.read(buf));
    if (n == 0) break;
    BZZZ_TRY(decoder->update({buf.data(), n}));
  }
  BZZZ_TRY(decoder->finish());
  return hasher.finalize();
}

}  // namespace

// ---------------------------------------------------------------------------------
// verify

// Checks one stored form against its hash; adds to report.ok/bytes or report.bad.
static void check_bytes(const Hash& hash, const BlobMeta& meta, std::span<const uint8_t> stored,
                        const std::string& where, VerifyReport& report) {
  std::vector<uint8_t> decoded;
  std::span<const uint8_t> bytes = stored;
  if (meta.codec != Codec::kRaw) {
    auto d = decode(meta.codec, meta.size, stored);
    if (!d) {
      report.bad.push_back({hash.hex(), fmt::format("{}: {}", where, d.error().message())});
      return;
    }
    decoded = std::move(*d);
    bytes = decoded;
  }
  Hash actual = blake3(bytes);
  if (actual != hash) {
    report.bad.push_back({hash.hex(), fmt::format("{}: its bytes hash to {}", where, actual.hex())});
    return;
  }
  report.bytes += meta.size;
  ++report.ok;
}

Status Store::verify_pack(uint32_t pack_id, const PackedEntries& entries, VerifyReport& report) {
  // The whole pack is read in order: its intact records are matched against the index,
  // and damage between them is reported even where no index entry points into it.
  std::string path = pack_path(pack_id);
  auto file = fs::File::open_read(path);
  if (!file) {
    for (const auto& [offset, entry] : entries) {
      report.missing.push_back({entry.first.hex(), fmt::format("its pack {} cannot be opened: {}",
                                                               path, file.error().message())});
    }
    return ok();
  }
  std::set<uint64_t> seen;
  auto end = scan_pack(*file, kPackFileHeaderSize, [&](const ScannedRecord& rec) -> Status {
    if (rec.header.type != RecordType::kBlob) return ok();
    auto it = entries.find(rec.offset + kRecordHeaderSize);
    if (it == entries.end()) return ok();  // superseded, removed or moved: garbage
    const auto& [hash, meta] = it->second;
    seen.insert(it->first);
    if (rec.header.hash != hash || rec.payload.size() != meta.stored_size) {
      report.bad.push_back({hash.hex(), fmt::format("the record at offset {} of {} belongs to {}",
                                                    rec.offset, path, rec.header.hash.hex())});
      return ok();
    }
    check_bytes(hash, meta, rec.payload, path, report);
    return ok();
  });
  BZZZ_TRY(end);
  for (const auto& d : end->damaged) {
    // Damage that starts at an indexed blob's record is reported once, as that blob.
    if (entries.count(d.begin + kRecordHeaderSize)) continue;
    // Damage to a record whose blob is stored elsewhere now (repaired, moved) is garbage.
    std::vector<uint8_t> head(kRecordHeaderSize);
    if (file->pread_exact(head, d.begin)) {
      if (auto h = parse_record_header(head)) {
        auto current = index_->get(h->hash);
        if (current && *current &&
            !((*current)->location == Location::kPack && (*current)->pack_id == pack_id &&
              (*current)->offset == d.begin + kRecordHeaderSize)) {
          continue;
        }
      }
    }
    report.bad.push_back({path, fmt::format("damaged bytes at offsets {}..{} ({})", d.begin, d.end,
                                            d.reason)});
  }
  if (end->torn && pack_id != active_pack_id_) {
    report.bad.push_back({path, fmt::format("damaged from offset {} to the end ({})",
                                            end->valid_end, end->reason)});
  }
  for (const auto& [offset, entry] : entries) {
    if (seen.count(offset)) continue;
    report.bad.push_back({entry.first.hex(),
                          fmt::format("its record at offset {} of {} is damaged or gone",
                                      offset - kRecordHeaderSize, path)});
  }
  return ok();
}

Status Store::verify_file(const Hash& hash, const BlobMeta& meta, VerifyReport& report) {
  std::string path = blob_path(hash);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    report.missing.push_back({hash.hex(), fmt::format("its file {} is missing", path)});
    return ok();
  }
  if (static_cast<uint64_t>(st.st_size) != meta.stored_size) {
    report.bad.push_back({hash.hex(), fmt::format("its file {} has {} bytes, the index recorded {}",
                                                  path, st.st_size, meta.stored_size)});
    return ok();
  }
  auto actual = hash_stored_file(path, meta.codec, meta.size);
  if (!actual) {
    report.bad.push_back({hash.hex(), actual.error().message()});
  } else if (*actual != hash) {
    report.bad.push_back({hash.hex(), fmt::format("its file {} hashes to {}", path, actual->hex())});
  } else {
    report.bytes += meta.size;
    ++report.ok;
  }
  return ok();
}

Status Store::find_orphans(VerifyReport& report) {
  auto orphan = [&](const std::string& path, std::string reason) {
    report.orphaned.push_back({path, std::move(reason)});
  };
  BZZZ_ASSIGN_OR_RETURN(auto level1, fs::list_dir(data_root_));
  for (const auto& a : level1) {
    std::string dir_a = fs::join(data_root_, a);
    if (!is_hex_name(a, 2)) {
      orphan(dir_a, "not a shard directory");
      continue;
    }
    BZZZ_ASSIGN_OR_RETURN(auto level2, fs::list_dir(dir_a));
    for (const auto& b : level2) {
      std::string dir_b = fs::join(dir_a, b);
      if (!is_hex_name(b, 2)) {
        orphan(dir_b, "not a shard directory");
        continue;
      }
      BZZZ_ASSIGN_OR_RETURN(auto files, fs::list_dir(dir_b));
      for (const auto& f : files) {
        std::string path = fs::join(dir_b, f);
        if (!is_hex_name(f, 64) || f.compare(0, 2, a) != 0 || f.compare(2, 2, b) != 0) {
          orphan(path, "not a blob file name");
          continue;
        }
        auto hash = Hash::parse(f);
        if (!hash) continue;  // unreachable: the name was checked above
        BZZZ_ASSIGN_OR_RETURN(auto meta, index_->get(*hash));
        if (!meta || meta->location != Location::kFile) orphan(path, "blob file not in the index");
      }
    }
  }
  BZZZ_ASSIGN_OR_RETURN(auto packs, fs::list_dir(packs_dir_));
  for (const auto& name : packs) {
    if (parse_pack_file_name(name) == 0) orphan(fs::join(packs_dir_, name), "not a pack file");
  }
  return ok();
}

Result<VerifyReport> Store::verify() {
  BZZZ_TRY(submit({}));
  // Work units: one per pack (read in order) and one per slice of blob files.
  std::map<uint32_t, PackedEntries> packs;
  std::vector<std::pair<Hash, BlobMeta>> files;
  StoreCounters recount;
  uint64_t checked = 0;
  BZZZ_TRY(index_->scan([&](const Hash& h, const BlobMeta& m) {
    ++checked;
    recount.add(m, +1);
    if (m.location == Location::kPack) {
      packs[m.pack_id].emplace(m.offset, std::make_pair(h, m));
    } else {
      files.emplace_back(h, m);
    }
    return true;
  }));
  BZZZ_ASSIGN_OR_RETURN(auto names, fs::list_dir(packs_dir_));
  for (const auto& name : names) {
    if (uint32_t id = parse_pack_file_name(name)) packs[id];  // damage shows in unreferenced packs too
  }
  std::vector<std::function<Status(VerifyReport&)>> units;
  for (const auto& [id, entries] : packs) {
    units.push_back([this, id = id, &entries = entries](VerifyReport& r) {
      return verify_pack(id, entries, r);
    });
  }
  constexpr size_t kSlice = 64;
  for (size_t start = 0; start < files.size(); start += kSlice) {
    units.push_back([this, start, &files](VerifyReport& r) -> Status {
      for (size_t i = start; i < std::min(files.size(), start + kSlice); ++i) {
        BZZZ_TRY(verify_file(files[i].first, files[i].second, r));
      }
      return ok();
    });
  }
  std::mutex mu;
  VerifyReport report;
  Status first_error = ok();
  parallel_for(units.size(), scan_threads(options_.threads), [&](size_t i) {
    VerifyReport local;
    Status status = units[i](local);
    std::lock_guard lock(mu);
    report.ok += local.ok;
    report.bytes += local.bytes;
    report.bad.insert(report.bad.end(), local.bad.begin(), local.bad.end());
    report.missing.insert(report.missing.end(), local.missing.begin(), local.missing.end());
    if (!status && first_error) first_error = status;
  });
  BZZZ_TRY(first_error);
  report.checked = checked;
  // Flag what failed, so that a put of the same content repairs it. The flag is set only
  // if the entry is still the one that was checked (a concurrent repair or move wins).
  std::set<Hash> failed;
  for (const auto* list : {&report.bad, &report.missing}) {
    for (const auto& problem : *list) {
      if (auto hash = Hash::parse(problem.object)) failed.insert(*hash);
    }
  }
  if (!failed.empty()) {
    for (const auto& [id, entries] : packs) {
      for (const auto& [offset, entry] : entries) {
        if (failed.count(entry.first)) mark_corrupt(entry.first, entry.second);
      }
    }
    for (const auto& [hash, meta] : files) {
      if (failed.count(hash)) mark_corrupt(hash, meta);
    }
  }
  BZZZ_ASSIGN_OR_RETURN(auto counters, index_->counters());
  if (!(counters == recount)) {
    report.bad.push_back({"index counters", fmt::format("recorded {} blobs / {} bytes, found {} / {} "
                                                        "(run `bzzz index rebuild`)",
                                                        counters.blobs, counters.logical_bytes,
                                                        recount.blobs, recount.logical_bytes)});
  }
  BZZZ_TRY(find_orphans(report));
  return report;
}

// ---------------------------------------------------------------------------------
// stats

Result<Stats> Store::stats() {
  Stats s;
  BZZZ_ASSIGN_OR_RETURN(s.counters, index_->counters());
  if (s.counters.logical_bytes > 0) {
    s.compression_ratio =
        static_cast<double>(s.counters.stored_bytes) / static_cast<double>(s.counters.logical_bytes);
  }
  BZZZ_ASSIGN_OR_RETURN(auto names, fs::list_dir(packs_dir_));
  for (const auto& name : names) {
    if (parse_pack_file_name(name) == 0) continue;
    struct stat st;
    if (::stat(fs::join(packs_dir_, name).c_str(), &st) == 0) {
      ++s.packs;
      s.pack_bytes += static_cast<uint64_t>(st.st_size);
    }
  }
  BZZZ_ASSIGN_OR_RETURN(auto disk, fs::disk_space(data_dir_));
  s.disk_free_bytes = disk.free_bytes;
  s.disk_total_bytes = disk.total_bytes;
  s.corrupt_reads = corrupt_reads_.load();
  return s;
}

// ---------------------------------------------------------------------------------
// optimize

namespace {

// Feeds a verified blob into a LargeBlobWriter, holding back the head it probes.
class RewriteSink final : public ByteSink {
 public:
  RewriteSink(internal::LargeBlobWriter& writer, std::string raw, std::string z)
      : writer_(writer), raw_(std::move(raw)), z_(std::move(z)) {}
  Status write(std::span<const uint8_t> data) override {
    if (started_) return writer_.write(data);
    head_.insert(head_.end(), data.begin(), data.end());
    if (head_.size() >= internal::kProbeBytes) return start();
    return ok();
  }
  Status start() {
    started_ = true;
    auto status = writer_.start(raw_, z_, head_);
    head_.clear();
    head_.shrink_to_fit();
    return status;
  }
  bool started() const { return started_; }

 private:
  internal::LargeBlobWriter& writer_;
  std::string raw_, z_;
  std::vector<uint8_t> head_;
  bool started_ = false;
};

}  // namespace

Result<OptimizeReport> Store::optimize() {
  OptimizeReport report;
  std::vector<std::pair<Hash, BlobMeta>> entries;
  BZZZ_TRY(index_->scan([&](const Hash& h, const BlobMeta& m) {
    entries.emplace_back(h, m);
    return true;
  }));
  for (const auto& [hash, meta] : entries) {
    ++report.examined;
    Mutation m;
    m.kind = Mutation::Kind::kReplace;
    m.hash = hash;
    m.expected = meta;
    m.meta = meta;
    std::optional<internal::LargeBlobWriter> writer;
    if (meta.location == Location::kPack) {
      auto original = read(hash);
      if (!original) continue;  // removed meanwhile, or corrupt: verify reports those
      BZZZ_ASSIGN_OR_RETURN(auto redone, internal::reencode_small(options_, *original));
      Codec codec = redone ? redone->first : Codec::kRaw;
      if (codec == meta.codec) continue;
      m.meta.codec = codec;
      m.payload = redone ? std::move(redone->second) : std::move(*original);
    } else {
      writer.emplace(options_);
      RewriteSink sink(*writer, temp_path("raw"), temp_path("z"));
      if (!read_to(hash, sink)) continue;
      if (!sink.started()) BZZZ_TRY(sink.start());
      BZZZ_ASSIGN_OR_RETURN(auto done, writer->finish());
      if (done.meta.codec == meta.codec) continue;
      m.meta.codec = done.meta.codec;
      m.meta.stored_size = done.meta.stored_size;
      m.temp_path = done.path;
    }
    m.meta.stored_size = meta.location == Location::kPack ? m.payload.size() : m.meta.stored_size;
    BZZZ_TRY(submit({&m}));
    if (writer) writer->release();
    if (m.applied) {
      ++report.rewritten;
      report.stored_before += meta.stored_size;
      report.stored_after += m.result.stored_size;
    }
  }
  return report;
}

// ---------------------------------------------------------------------------------
// rebuild

Status Store::rebuild_index() {
  {
    std::lock_guard lock(write_mu_);
    if (!writers_.empty()) {
      return make_error(ErrorCode::kBusy, "index rebuild needs the store idle: writes are in flight");
    }
  }
  // Offline work: no group may be committing meanwhile (readers must not run either;
  // the node stops serving before it rebuilds).
  std::lock_guard no_group(commit_mu_);
  return rebuild_locked();
}

Status Store::rebuild_locked() {
  index_.reset();
  for (const char* name : {"data.mdb", "lock.mdb"}) BZZZ_TRY(fs::remove_file(fs::join(index_dir_, name)));
  BZZZ_ASSIGN_OR_RETURN(index_, Index::open(index_dir_));
  active_pack_ = fs::File();
  rebuilding_ = true;
  auto replayed = replay();  // with no checkpoints, every pack and the whole pins journal
  rebuilding_ = false;
  BZZZ_TRY(replayed);

  // Blob files the log does not account for (its records compacted away) are adopted
  // when their content proves their name.
  VerifyReport scan;
  BZZZ_TRY(find_orphans(scan));
  BZZZ_ASSIGN_OR_RETURN(auto batch, index_->begin());
  std::set<Hash> adopted;
  for (const auto& problem : scan.orphaned) {
    std::string name = problem.object.substr(problem.object.find_last_of('/') + 1);
    auto hash = Hash::parse(name);
    if (!hash || !is_hex_name(name, 64)) continue;
    struct stat st;
    if (::stat(problem.object.c_str(), &st) != 0) continue;
    for (Codec codec : {Codec::kRaw, Codec::kZstd, Codec::kGzip}) {
      // The logical size of a compressed file is unknown here; decoding is bounded by a
      // generous cap and the hash decides.
      uint64_t size = codec == Codec::kRaw ? static_cast<uint64_t>(st.st_size) : UINT64_MAX;
      uint64_t seen = 0;
      Blake3Hasher hasher;
      Status decoded = ok();
      if (codec == Codec::kRaw) {
        auto h = blake3_file(problem.object, 0);
        if (!h || *h != *hash) continue;
        seen = size;
      } else {
        auto file = fs::File::open_read(problem.object);
        if (!file) break;
        auto decoder = make_decoder(codec, size, [&](std::span<const uint8_t> p) {
          hasher.update(p);
          seen += p.size();
          return ok();
        });
        if (!decoder) continue;
        std::vector<uint8_t> buf(internal::kStreamBuffer);
        for (;;) {
          auto n = file->read(buf);
          if (!n) { decoded = fail(n.error()); break; }
          if (*n == 0) break;
          decoded = (*decoder)->update({buf.data(), *n});
          if (!decoded) break;
        }
        if (!decoded || hasher.finalize() != *hash) continue;
      }
      BlobMeta m;
      m.codec = codec;
      m.location = Location::kFile;
      m.size = seen;
      m.stored_size = static_cast<uint64_t>(st.st_size);
      m.created_ns = m.accessed_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000;
      BZZZ_TRY(batch.put(*hash, m));
      adopted.insert(*hash);
      break;
    }
  }
  // The journal was replayed before these were found: give them their pins now.
  if (!adopted.empty()) {
    std::map<Hash, int64_t> pins;
    BZZZ_TRY(for_each_pin_record(0, pins_journal_size_, [&](const internal::PinRecord& rec) {
      if (adopted.count(rec.hash)) pins[rec.hash] = std::max<int64_t>(0, pins[rec.hash] + rec.delta);
      return ok();
    }));
    for (const auto& [hash, count] : pins) {
      BZZZ_ASSIGN_OR_RETURN(auto meta, batch.get(hash));
      if (!meta) continue;
      meta->pins = static_cast<uint32_t>(count);
      BZZZ_TRY(batch.put(hash, *meta));
    }
  }
  BZZZ_TRY(batch.commit());
  return index_->sync();
}

}  // namespace bzzz::store
