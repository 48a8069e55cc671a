// infra/health checks: the generic checks every node has, disk space and memory, as
// functions for CheckSpec::run. The pure parts (turning numbers into an Observation,
// reading /proc/self/statm) are separate so tests can drive every threshold.
//
// Depends only on base/ (statvfs through base/fs); reads /proc itself rather than
// borrowing infra/metrics, so health keeps working whatever metrics does.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/fs/file.h"
#include "base/status/result.h"
#include "infra/health/health.h"

namespace bzzz::health {

// "disk:utilization" of the file system holding `path`. observedValue is the used
// ratio (0..1, unit "ratio") as an unprivileged writer sees it (root's reserve counts
// as used). Warns when the free ratio is below warn_free_ratio; fails when it is below
// fail_free_ratio or fewer than fail_free_bytes are free.
std::function<Observation()> disk_space(std::string path, double warn_free_ratio,
                                        double fail_free_ratio, uint64_t fail_free_bytes);
Observation disk_observation(const std::string& path, const fs::DiskSpace& space,
                             double warn_free_ratio, double fail_free_ratio,
                             uint64_t fail_free_bytes);

// "memory:utilization" of this process: resident set size in bytes. Warns above
// warn_ratio x limit_bytes, fails above limit_bytes; limit_bytes 0 only reports.
std::function<Observation()> memory(uint64_t limit_bytes, double warn_ratio);
Observation memory_observation(uint64_t rss_bytes, uint64_t limit_bytes, double warn_ratio);

// The resident set size from the text of /proc/self/statm (its second field is in pages).
Result<uint64_t> parse_statm_rss(std::string_view statm, uint64_t page_size);
Result<uint64_t> resident_bytes();

}  // namespace bzzz::health
