// infra/metrics: the bzzz_process_* metrics (memory, CPU, file descriptors, threads,
// start time), read from /proc on each scrape, and the pure parsers of the /proc text
// they come from. Linux only: where /proc is missing the families are simply absent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "base/status/result.h"

namespace bzzz::metrics {

// The fields of /proc/<pid>/stat that the collector uses (proc(5)).
struct ProcStat {
  std::string comm;              // the command name, without its parentheses
  char state = '?';
  uint64_t utime_ticks = 0;       // user CPU, in clock ticks
  uint64_t stime_ticks = 0;       // system CPU, in clock ticks
  int64_t num_threads = 0;
  uint64_t start_time_ticks = 0;  // after boot, in clock ticks
  uint64_t virtual_bytes = 0;
  int64_t resident_pages = 0;
};
Result<ProcStat> parse_proc_stat(std::string_view text);

// /proc/<pid>/statm, in pages.
struct ProcStatm {
  uint64_t size_pages = 0;
  uint64_t resident_pages = 0;
};
Result<ProcStatm> parse_proc_statm(std::string_view text);

// The "btime" line of /proc/stat: boot time, in seconds since the Unix epoch.
Result<uint64_t> parse_boot_time(std::string_view proc_stat);

// The soft "Max open files" limit of /proc/<pid>/limits; nullopt when "unlimited".
Result<std::optional<uint64_t>> parse_max_open_files(std::string_view limits);

// Resident set size of this process, from /proc/self/statm; 0 when it cannot be read.
// Cheap (one small read), so a health check may call it often.
uint64_t resident_memory_bytes();

class ProcessCollector final : public prometheus::Collectable {
 public:
  // `proc_root` is "/proc" but for tests, which point it at a fake tree holding
  // self/{stat,statm,limits,fd/} and stat. The start time is computed once, here.
  explicit ProcessCollector(std::string proc_root = "/proc");

  // Never throws: a file that cannot be read or parsed leaves out its families.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string self_;  // <proc_root>/self
  double ticks_per_second_;
  uint64_t page_size_;
  std::optional<double> start_time_seconds_;
};

}  // namespace bzzz::metrics
