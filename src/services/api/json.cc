#include "services/api/json.h"

#include <ctime>

#include <fmt/format.h>

namespace bzzz::api {

using nlohmann::json;

std::string iso_time(int64_t unix_ns) {
  std::time_t secs = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<int64_t> parse_iso_time(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("'{}' is not a UTC time like 2026-01-31T12:00:00Z", text));
  }
  return static_cast<int64_t>(timegm(&tm)) * 1'000'000'000;
}

json meta_json(const Hash& h, const store::BlobMeta& m) {
  return {{"hash", h.hex()},
          {"cid", h.cid()},
          {"size", m.size},
          {"stored_size", m.stored_size},
          {"codec", std::string(store::codec_name(m.codec))},
          {"location", m.location == store::Location::kPack ? "pack" : "file"},
          {"pins", m.pins},
          {"created", iso_time(m.created_ns)},
          {"accessed", iso_time(m.accessed_ns)},
          {"corrupt", m.corrupt}};
}

json put_json(const store::PutResult& put) {
  json doc = meta_json(put.hash, put.meta);
  doc["deduplicated"] = put.deduplicated;
  return doc;
}

json pins_json(const std::vector<store::PinEntry>& pins) {
  json list = json::array();
  for (const auto& p : pins) list.push_back({{"hash", p.hash.hex()}, {"pins", p.pins}});
  return list;
}

json gc_json(const store::GcReport& r, bool dry_run) {
  return {{"examined", r.examined},         {"removed", r.removed},
          {"removed_bytes", r.removed_bytes}, {"kept_pinned", r.kept_pinned},
          {"kept_recent", r.kept_recent},   {"kept_in_use", r.kept_in_use},
          {"packs_compacted", r.packs_compacted},
          {"pack_bytes_reclaimed", r.pack_bytes_reclaimed}, {"dry_run", dry_run}};
}

json verify_json(const store::VerifyReport& r) {
  auto problems = [](const std::vector<store::Problem>& list) {
    json a = json::array();
    for (const auto& p : list) a.push_back({{"object", p.object}, {"reason", p.reason}});
    return a;
  };
  return {{"checked", r.checked},          {"ok", r.ok},
          {"bytes", r.bytes},              {"clean", r.clean()},
          {"bad", problems(r.bad)},        {"missing", problems(r.missing)},
          {"orphaned", problems(r.orphaned)}};
}

json stats_json(const store::Stats& s) {
  const auto& c = s.counters;
  return {{"blobs", c.blobs},
          {"logical_bytes", c.logical_bytes},
          {"stored_bytes", c.stored_bytes},
          {"compression_ratio", s.compression_ratio},
          {"codecs", {{"raw", c.by_codec[0]}, {"zstd", c.by_codec[1]}, {"gzip", c.by_codec[2]}}},
          {"packed_blobs", c.packed},
          {"file_blobs", c.files},
          {"packs", s.packs},
          {"pack_bytes", s.pack_bytes},
          {"disk_free_bytes", s.disk_free_bytes},
          {"disk_total_bytes", s.disk_total_bytes},
          {"corrupt_reads", s.corrupt_reads}};
}

json optimize_json(const store::OptimizeReport& r) {
  return {{"examined", r.examined},
          {"rewritten", r.rewritten},
          {"stored_before", r.stored_before},
          {"stored_after", r.stored_after}};
}

namespace {

// Reads typed fields, remembering the first one that was missing or mistyped.
class Reader {
 public:
  Reader(const json& doc, std::string_view what) : doc_(doc), what_(what) {
    if (!doc_.is_object()) problem_ = fmt::format("{}: expected a JSON object", what_);
  }
  template <class T>
  T get(const char* key) {
    if (!problem_.empty()) return T{};
    auto it = doc_.find(key);
    try {
      if (it != doc_.end()) return it->get<T>();
    } catch (const json::exception&) {
    }
    problem_ = fmt::format("{}: field '{}' is missing or of the wrong type", what_, key);
    return T{};
  }
  Status status() const {
    if (problem_.empty()) return ok();
    return make_error(ErrorCode::kInvalidArgument, problem_);
  }
  void note(std::string problem) {
    if (problem_.empty()) problem_ = std::move(problem);
  }

 private:
  const json& doc_;
  std::string what_;
  std::string problem_;
};

}  // namespace

Result<std::pair<Hash, store::BlobMeta>> meta_from_json(const json& doc) {
  Reader r(doc, "blob");
  auto hash = Hash::parse(r.get<std::string>("hash"));
  store::BlobMeta m;
  m.size = r.get<uint64_t>("size");
  m.stored_size = r.get<uint64_t>("stored_size");
  auto codec = store::parse_codec(r.get<std::string>("codec"));
  m.location = r.get<std::string>("location") == "file" ? store::Location::kFile : store::Location::kPack;
  m.pins = r.get<uint32_t>("pins");
  auto created = parse_iso_time(r.get<std::string>("created"));
  auto accessed = parse_iso_time(r.get<std::string>("accessed"));
  m.corrupt = r.get<bool>("corrupt");
  BZZZ_TRY(r.status());
  if (!hash) return fail(hash.error());
  if (!codec) return fail(codec.error());
  if (!created) return fail(created.error());
  if (!accessed) return fail(accessed.error());
  m.codec = *codec;
  m.created_ns = *created;
  m.accessed_ns = *accessed;
  return std::make_pair(*hash, m);
}

Result<store::PutResult> put_from_json(const json& doc) {
  BZZZ_ASSIGN_OR_RETURN(auto meta, meta_from_json(doc));
  Reader r(doc, "put");
  store::PutResult put{meta.first, meta.second, r.get<bool>("deduplicated")};
  BZZZ_TRY(r.status());
  return put;
}

Result<std::vector<store::PinEntry>> pins_from_json(const json& doc) {
  if (!doc.is_array()) return make_error(ErrorCode::kInvalidArgument, "pins: expected a JSON array");
  std::vector<store::PinEntry> out;
  for (const auto& item : doc) {
    Reader r(item, "pin");
    auto hash = Hash::parse(r.get<std::string>("hash"));
    uint32_t pins = r.get<uint32_t>("pins");
    BZZZ_TRY(r.status());
    if (!hash) return fail(hash.error());
    out.push_back({*hash, pins});
  }
  return out;
}

Result<store::GcReport> gc_from_json(const json& doc) {
  Reader r(doc, "gc");
  store::GcReport g;
  g.examined = r.get<uint64_t>("examined");
  g.removed = r.get<uint64_t>("removed");
  g.removed_bytes = r.get<uint64_t>("removed_bytes");
  g.kept_pinned = r.get<uint64_t>("kept_pinned");
  g.kept_recent = r.get<uint64_t>("kept_recent");
  g.kept_in_use = r.get<uint64_t>("kept_in_use");
  g.packs_compacted = r.get<uint64_t>("packs_compacted");
  g.pack_bytes_reclaimed = r.get<uint64_t>("pack_bytes_reclaimed");
  BZZZ_TRY(r.status());
  return g;
}

Result<store::VerifyReport> verify_from_json(const json& doc) {
  Reader r(doc, "verify");
  store::VerifyReport v;
  v.checked = r.get<uint64_t>("checked");
  v.ok = r.get<uint64_t>("ok");
  v.bytes = r.get<uint64_t>("bytes");
  auto problems = [&](const char* key, std::vector<store::Problem>& out) {
    for (const auto& p : r.get<json>(key)) {
      Reader pr(p, key);
      out.push_back({pr.get<std::string>("object"), pr.get<std::string>("reason")});
      if (!pr.status()) r.note(pr.status().error().message());
    }
  };
  problems("bad", v.bad);
  problems("missing", v.missing);
  problems("orphaned", v.orphaned);
  BZZZ_TRY(r.status());
  return v;
}

Result<store::Stats> stats_from_json(const json& doc) {
  Reader r(doc, "stats");
  store::Stats s;
  auto& c = s.counters;
  c.blobs = r.get<uint64_t>("blobs");
  c.logical_bytes = r.get<uint64_t>("logical_bytes");
  c.stored_bytes = r.get<uint64_t>("stored_bytes");
  s.compression_ratio = r.get<double>("compression_ratio");
  json codecs = r.get<json>("codecs");
  Reader cr(codecs, "stats.codecs");
  c.by_codec[0] = cr.get<uint64_t>("raw");
  c.by_codec[1] = cr.get<uint64_t>("zstd");
  c.by_codec[2] = cr.get<uint64_t>("gzip");
  c.packed = r.get<uint64_t>("packed_blobs");
  c.files = r.get<uint64_t>("file_blobs");
  s.packs = r.get<uint64_t>("packs");
  s.pack_bytes = r.get<uint64_t>("pack_bytes");
  s.disk_free_bytes = r.get<uint64_t>("disk_free_bytes");
  s.disk_total_bytes = r.get<uint64_t>("disk_total_bytes");
  s.corrupt_reads = r.get<uint64_t>("corrupt_reads");
  BZZZ_TRY(r.status());
  BZZZ_TRY(cr.status());
  return s;
}

Result<store::OptimizeReport> optimize_from_json(const json& doc) {
  Reader r(doc, "optimize");
  store::OptimizeReport o;
  o.examined = r.get<uint64_t>("examined");
  o.rewritten = r.get<uint64_t>("rewritten");
  o.stored_before = r.get<uint64_t>("stored_before");
  o.stored_after = r.get<uint64_t>("stored_after");
  BZZZ_TRY(r.status());
  return o;
}

}  // namespace bzzz::api
