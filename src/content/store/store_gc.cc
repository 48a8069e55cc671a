// Garbage collection: removing unpinned blobs past their grace period, and compacting
// packs that became mostly garbage without losing what the log must still say.
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

constexpr size_t kRemoveChunk = 4096;

uint32_t oldest_pack_id(const std::vector<std::string>& names) {
  uint32_t oldest = UINT32_MAX;
  for (const auto& name : names) {
    if (uint32_t id = parse_pack_file_name(name)) oldest = std::min(oldest, id);
  }
  return oldest;
}

}  // namespace

// ---------------------------------------------------------------------------------
// gc

Status Store::submit_chunked(size_t count, const std::function<Status(size_t, Mutation&)>& fill,
                             const std::function<void(size_t, const Mutation&)>& done) {
  // In chunks: memory stays bounded for a million removals, and writers that queue
  // meanwhile get their turn between chunks.
  for (size_t start = 0; start < count; start += kRemoveChunk) {
    std::vector<Mutation> chunk(std::min(count, start + kRemoveChunk) - start);
    std::vector<Mutation*> ptrs;
    for (size_t i = 0; i < chunk.size(); ++i) {
      BZZZ_TRY(fill(start + i, chunk[i]));
      ptrs.push_back(&chunk[i]);
    }
    BZZZ_TRY(submit(ptrs));
    if (done) {
      for (size_t i = 0; i < chunk.size(); ++i) done(start + i, chunk[i]);
    }
  }
  return ok();
}

Result<GcReport> Store::gc(const GcOptions& options) {
  GcReport report;
  const int64_t cutoff = now_ns() - options.grace.count();
  BZZZ_TRY(submit({}));  // apply pending access times first: a recent read protects a blob
  std::vector<Hash> candidates;
  BZZZ_TRY(index_->scan([&](const Hash& h, const BlobMeta& m) {
    ++report.examined;
    if (m.pins > 0) {
      ++report.kept_pinned;
    } else if (std::max(m.created_ns, m.accessed_ns) >= cutoff) {
      ++report.kept_recent;
    } else if (leased(h)) {
      ++report.kept_in_use;
    } else {
      candidates.push_back(h);
    }
    return true;
  }));
  if (options.dry_run) {
    report.removed = candidates.size();
    return report;
  }
  BZZZ_TRY(submit_chunked(
      candidates.size(),
      [&](size_t i, Mutation& m) -> Status {
        m.kind = Mutation::Kind::kRemove;
        m.hash = candidates[i];
        m.cutoff_ns = cutoff;
        return ok();
      },
      [&](size_t, const Mutation& m) {
        if (m.applied) {
          ++report.removed;
          report.removed_bytes += m.result.size;
        } else {
          ++report.kept_in_use;  // read, pinned or re-put since the scan
        }
      }));
  BZZZ_TRY(compact_packs(report));
  return report;
}

Status Store::compact_packs(GcReport& report) {
  // The index must show every acknowledged record, and packs at or after the active one
  // (as of a moment when no group is mid-commit) are never victims.
  uint32_t active = 0;
  {
    std::lock_guard no_group_in_flight(commit_mu_);
    active = active_pack_id_;
  }
  std::map<uint32_t, uint64_t> live;  // pack id -> bytes of records still indexed
  BZZZ_TRY(index_->scan([&](const Hash&, const BlobMeta& m) {
    if (m.location == Location::kPack) live[m.pack_id] += kRecordHeaderSize + m.stored_size;
    return true;
  }));
  BZZZ_ASSIGN_OR_RETURN(auto names, fs::list_dir(packs_dir_));
  std::map<uint32_t, uint64_t> victims;  // pack id -> file size
  for (const auto& name : names) {
    uint32_t id = parse_pack_file_name(name);
    if (id == 0 || id >= active) continue;
    BZZZ_ASSIGN_OR_RETURN(auto file, fs::File::open_read(pack_path(id)));
    BZZZ_ASSIGN_OR_RETURN(uint64_t size, file.size());
    if (static_cast<double>(live[id]) < options_.pack_compact_below * static_cast<double>(size)) {
      victims[id] = size;
    }
  }
  if (victims.empty()) return ok();
  std::vector<std::pair<Hash, BlobMeta>> moving;
  BZZZ_TRY(index_->scan([&](const Hash& h, const BlobMeta& m) {
    if (m.location == Location::kPack && victims.count(m.pack_id)) moving.emplace_back(h, m);
    return true;
  }));
  BZZZ_TRY(submit_chunked(moving.size(), [&](size_t i, Mutation& m) -> Status {
    const auto& [hash, meta] = moving[i];
    BZZZ_ASSIGN_OR_RETURN(auto reader, pack_reader(meta.pack_id));
    m.kind = Mutation::Kind::kReplace;
    m.hash = hash;
    m.expected = meta;
    m.meta = meta;
    m.payload.resize(meta.stored_size);
    return reader->pread_exact(m.payload, meta.offset);
  }));
  // Besides the small blobs, a victim holds records the log still needs: intents of
  // large blobs that are still stored, and tombstones that shadow records of the same
  // blobs in older packs (which an index rebuild would otherwise resurrect). Both are
  // re-logged; a tombstone only while some older pack exists.
  std::vector<Mutation> keep;
  const uint32_t oldest = oldest_pack_id(names);
  for (const auto& [id, size] : victims) {
    BZZZ_ASSIGN_OR_RETURN(auto reader, pack_reader(id));
    BZZZ_TRY(scan_pack(*reader, kPackFileHeaderSize, [&](const ScannedRecord& rec) -> Status {
      if (rec.header.type == RecordType::kFileIntent) {
        Mutation m;
        m.kind = Mutation::Kind::kKeepFile;
        m.hash = rec.header.hash;
        keep.push_back(std::move(m));
        return ok();
      }
      if (rec.header.type != RecordType::kTombstone || id <= oldest) return ok();
      Mutation m;
      m.kind = Mutation::Kind::kKeepTombstone;
      m.hash = rec.header.hash;
      m.meta.codec = rec.header.codec;
      m.meta.size = rec.header.size;
      m.meta.stored_size = rec.header.stored_size;
      keep.push_back(std::move(m));
      return ok();
    }));
  }
  BZZZ_TRY(submit_chunked(keep.size(), [&](size_t i, Mutation& m) -> Status {
    m = std::move(keep[i]);
    return ok();
  }));
  // The moves are durable in the packs; the old packs may go once the index that no
  // longer points at them is durable too.
  BZZZ_TRY(index_->sync());
  // Last check before deleting: nothing in the index may point into a victim still.
  BZZZ_TRY(wait_for_index());
  BZZZ_TRY(index_->scan([&](const Hash&, const BlobMeta& m) {
    if (m.location == Location::kPack) victims.erase(m.pack_id);
    return true;
  }));
  for (const auto& [id, size] : victims) {
    forget_pack_reader(id);
    BZZZ_TRY(fs::remove_file(pack_path(id)));
    ++report.packs_compacted;
    report.pack_bytes_reclaimed += size - std::min(size, live[id]);
  }
  return fs::sync_dir(packs_dir_);
}

}  // namespace bzzz::store
