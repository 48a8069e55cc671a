// services/api: the JSON documents of the store API. The node's HTTP responses and
// the `bzzz --json` output of the same commands are these documents, so a script sees
// one shape whether it talks to a node or to a data dir; the CLI's node client parses
// them back with the from_json functions.
#pragma once

#include <nlohmann/json.hpp>

#include "base/crypto/hash.h"
#include "base/status/result.h"
#include "content/store/store.h"

namespace bzzz::api {

std::string iso_time(int64_t unix_ns);                      // "2026-11-27T13:00:00Z"
Result<int64_t> parse_iso_time(std::string_view text);      // back to Unix ns

nlohmann::json meta_json(const Hash& hash, const store::BlobMeta& meta);
nlohmann::json put_json(const store::PutResult& put);       // meta_json + "deduplicated"
nlohmann::json pins_json(const std::vector<store::PinEntry>& pins);
nlohmann::json gc_json(const store::GcReport& report, bool dry_run);
nlohmann::json verify_json(const store::VerifyReport& report);
nlohmann::json stats_json(const store::Stats& stats);
nlohmann::json optimize_json(const store::OptimizeReport& report);

// Each names the field that is missing or of the wrong type.
Result<std::pair<Hash, store::BlobMeta>> meta_from_json(const nlohmann::json& doc);
Result<store::PutResult> put_from_json(const nlohmann::json& doc);
Result<std::vector<store::PinEntry>> pins_from_json(const nlohmann::json& doc);
Result<store::GcReport> gc_from_json(const nlohmann::json& doc);
Result<store::VerifyReport> verify_from_json(const nlohmann::json& doc);
Result<store::Stats> stats_from_json(const nlohmann::json& doc);
Result<store::OptimizeReport> optimize_from_json(const nlohmann::json& doc);

}  // namespace bzzz::api
