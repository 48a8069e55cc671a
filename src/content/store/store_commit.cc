// The group commit: applies a batch of mutations as one durable step.
//
// Order, which is what makes a crash at any point lose nothing acknowledged:
//   1. decide every mutation against the index (dedup, pin checks, gc re-checks);
//   2. append their log records to the active pack, fdatasync (and the pins journal);
//   3. unlink the files of removed blobs (their tombstones are durable now, and replay
//      finishes the job after a crash), then rename fsynced temp files into
//      blobs/data and sync the directories;
//   4. fill the index transaction; the caller acknowledges the writers (their changes
//      are durable now) and then commits it (not synced: steps 2-3 are the durable
//      truth and open() replays them), while the writers go on with their next change.
//      Reads wait for that commit (Store::wait_for_index), so a put is always visible
//      to a read that follows it.
// Only one group commits at a time (the writer queue in store.cc).
#include <sys/stat.h>

#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "content/store/store_internal.h"

namespace bzzz::store {

using internal::now_ns;

namespace {


bool same_place(const BlobMeta& a, const BlobMeta& b) {
  return a.codec == b.codec && a.location == b.location && a.pack_id == b.pack_id &&
         a.offset == b.offset && a.stored_size == b.stored_size;
}

}  // namespace

Status Store::apply_group(std::vector<Mutation*>& ms, std::optional<Index::Batch>& pending) {
  struct Plan {
    std::unordered_map<Hash, BlobMeta, HashHasher> staged;  // entries to put
    std::unordered_set<Hash, HashHasher> erased;            // entries to erase
    std::vector<uint8_t> log;                               // pack records
    std::vector<uint8_t> pins_log;                          // pins journal records
    struct Install {
      Mutation* mutation;
      std::string temp;
      std::string final_path;
    };
    std::vector<Install> installs;
    std::vector<std::string> drop_temps;    // duplicates of content already stored
    std::vector<std::string> unlinks;       // files of removed blobs
  };

  auto touches = take_touches();
  BZZZ_ASSIGN_OR_RETURN(auto batch, index_->begin());
  Plan plan;
  const uint64_t log_base = active_pack_size_;
  const int64_t now = now_ns();

  auto current = [&](const Hash& h) -> Result<std::optional<BlobMeta>> {
    if (plan.erased.count(h)) return std::optional<BlobMeta>();
    auto it = plan.staged.find(h);
    if (it != plan.staged.end()) return std::optional<BlobMeta>(it->second);
    return batch.get(h);
  };
  auto log_record = [&](RecordType type, const Hash& h, const BlobMeta& meta,
                        std::span<const uint8_t> payload) {
    Record r;
    r.type = type;
    r.codec = meta.codec;
    r.size = meta.size;
    r.stored_size = meta.stored_size;
    r.created_ns = now;
    r.hash = h;
    r.payload = payload;
    return log_base + encode_record(r, plan.log);
  };
  auto stage_new_location = [&](Mutation* m, BlobMeta& meta) {
    if (meta.location == Location::kPack) {
      meta.pack_id = active_pack_id_;
      meta.offset = log_record(RecordType::kBlob, m->hash, meta, m->payload);
    } else {
      std::string name = m->temp_path.substr(m->temp_path.find_last_of('/') + 1);
      log_record(RecordType::kFileIntent, m->hash, meta,
                 {reinterpret_cast<const uint8_t*>(name.data()), name.size()});
      plan.installs.push_back({m, m->temp_path, blob_path(m->hash)});
    }
  };

  // Reads first: a blob read since gc's scan must count as recently used below.
  for (const auto& [hash, when] : touches) {
    BZZZ_ASSIGN_OR_RETURN(auto cur, current(hash));
    if (cur && when > cur->accessed_ns) {
      cur->accessed_ns = when;
      plan.staged[hash] = *cur;
    }
  }

  for (Mutation* m : ms) {
    BZZZ_ASSIGN_OR_RETURN(auto cur, current(m->hash));
    switch (m->kind) {
      case Mutation::Kind::kAddPacked:
      case Mutation::Kind::kAddFile: {
        if (cur && !cur->corrupt) {
          cur->accessed_ns = now;  // a put of stored content renews it against gc
          plan.staged[m->hash] = *cur;
          m->result = *cur;
          m->deduplicated = true;
          if (m->kind == Mutation::Kind::kAddFile) plan.drop_temps.push_back(m->temp_path);
          break;
        }
        plan.erased.erase(m->hash);  // removed earlier in this group, stored again now
        BlobMeta meta = m->meta;
        meta.location = m->kind == Mutation::Kind::kAddPacked ? Location::kPack : Location::kFile;
        // A stored copy known to be damaged is replaced by this good one (a repair):
        // its pins and age carry over.
        meta.pins = cur ? cur->pins : 0;
        meta.created_ns = cur ? cur->created_ns : now;
        meta.accessed_ns = now;
        meta.corrupt = false;
        stage_new_location(m, meta);
        plan.staged[m->hash] = meta;
        m->result = meta;
        m->applied = true;
        break;
      }
      case Mutation::Kind::kReplace: {
        cache_.erase(m->hash);
        forget_tree(m->hash);  // the cached meta would go stale
        if (!cur || !same_place(*cur, m->expected)) {
          // Moved or removed meanwhile; the caller's work is simply moot.
          if (!m->temp_path.empty()) plan.drop_temps.push_back(m->temp_path);
          break;
        }
        BlobMeta meta = *cur;
        meta.codec = m->meta.codec;
        meta.stored_size = m->meta.stored_size;
        meta.location = m->meta.location;
        stage_new_location(m, meta);
        plan.staged[m->hash] = meta;
        m->result = meta;
        m->applied = true;
        break;
      }
      case Mutation::Kind::kPin: {
        if (!cur) {
          m->status = make_error(ErrorCode::kNotFound,
                                 fmt::format("blob {} not found; only stored blobs can be pinned",
                                             m->hash.hex()));
          break;
        }
        if (m->pin_delta < 0 && cur->pins == 0) {
          m->status = make_error(ErrorCode::kInvalidArgument,
                                 fmt::format("blob {} is not pinned", m->hash.hex()));
          break;
        }
        cur->pins = static_cast<uint32_t>(static_cast<int64_t>(cur->pins) + m->pin_delta);
        auto rec = internal::encode_pin_record({m->hash, m->pin_delta});
        plan.pins_log.insert(plan.pins_log.end(), rec.begin(), rec.end());
        plan.staged[m->hash] = *cur;
        m->result = *cur;
        m->applied = true;
        break;
      }
      case Mutation::Kind::kKeepTombstone: {
        // Compaction carries a tombstone forward while older packs may still hold a
        // record it shadows (see compact_packs).
        if (!cur) log_record(RecordType::kTombstone, m->hash, m->meta, {});
        m->applied = !cur;
        break;
      }
      case Mutation::Kind::kKeepFile: {
        if (cur && cur->location == Location::kFile) {
          log_record(RecordType::kFileIntent, m->hash, *cur, {});
          m->applied = true;
        }
        break;
      }
      case Mutation::Kind::kMarkCorrupt: {
        cache_.erase(m->hash);
        forget_tree(m->hash);
        if (cur && same_place(*cur, m->expected) && !cur->corrupt) {
          cur->corrupt = true;
          plan.staged[m->hash] = *cur;
          m->applied = true;
        }
        break;
      }
      case Mutation::Kind::kRemove: {
        if (!cur || cur->pins > 0 || std::max(cur->created_ns, cur->accessed_ns) >= m->cutoff_ns ||
            leased(m->hash)) {
          break;
        }
        log_record(RecordType::kTombstone, m->hash, *cur, {});
        cache_.erase(m->hash);
        forget_tree(m->hash);
        if (cur->location == Location::kFile) plan.unlinks.push_back(blob_path(m->hash));
        plan.staged.erase(m->hash);
        plan.erased.insert(m->hash);
        m->result = *cur;
        m->applied = true;
        break;
      }
    }
  }

  // 2. The log. A failed append is undone so the pack never keeps a half group.
  if (!plan.log.empty()) {
    auto written = reserve_pack_space(plan.log.size());
    if (written) written = active_pack_.pwrite_all(plan.log, log_base);
    if (written) written = active_pack_.datasync();
    if (!written) {
      // Back to a clean end of log; the zeros ahead are re-reserved by the next group.
      (void)active_pack_.truncate(log_base);
      active_pack_alloc_ = log_base;
      return written;
    }
    active_pack_size_ += plan.log.size();
  }
  if (!plan.pins_log.empty()) {
    auto written = pins_journal_.pwrite_all(plan.pins_log, pins_journal_size_);
    if (written) written = pins_journal_.datasync();
    if (!written) {
      (void)pins_journal_.truncate(pins_journal_size_);
      return written;
    }
    pins_journal_size_ += plan.pins_log.size();
  }

  // 3. Files. Removals first: a put later in the same group may reinstall the path.
  for (const auto& path : plan.unlinks) BZZZ_TRY(fs::remove_file(path));
  // A failed install fails only its own put; its logged intent finds no file
  // on replay and is ignored.
  std::set<std::string> dirs_to_sync;
  for (auto& install : plan.installs) {
    std::string shard = internal::shard_dir_of(install.final_path);
    auto status = fs::make_dirs(shard);
    if (status) status = fs::rename(install.temp, install.final_path);
    if (!status) {
      install.mutation->status = std::move(status);
      install.mutation->applied = false;
      plan.staged.erase(install.mutation->hash);
      plan.drop_temps.push_back(install.temp);
      continue;
    }
    dirs_to_sync.insert(shard);
  }
  for (const auto& dir : dirs_to_sync) BZZZ_TRY(fs::sync_dir(dir));

  // 4. The index.
  for (const auto& [hash, meta] : plan.staged) BZZZ_TRY(batch.put(hash, meta));
  for (const auto& hash : plan.erased) BZZZ_TRY(batch.erase(hash));
  BZZZ_TRY(batch.set_pack_checkpoint(active_pack_id_, active_pack_size_));
  BZZZ_TRY(batch.set_pins_applied(pins_journal_size_));

  for (const auto& path : plan.drop_temps) (void)fs::remove_file(path);
  if (active_pack_size_ >= options_.pack_target_bytes) BZZZ_TRY(start_new_pack());
  pending.emplace(std::move(batch));
  return ok();
}

}  // namespace bzzz::store
