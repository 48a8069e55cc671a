#include "infra/health/checks.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <utility>

#include <fmt/format.h>

namespace bzzz::health {

namespace {

std::string human_bytes(uint64_t bytes) {
  constexpr std::array<const char*, 5> kUnits = {"B", "KiB", "MiB", "GiB", "TiB"};
  auto value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < kUnits.size()) {
    value /= 1024.0;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string percent(double ratio) { return fmt::format("{:.1f}%", ratio * 100.0); }

}  // namespace

Observation disk_observation(const std::string& path, const fs::DiskSpace& space,
                             double warn_free_ratio, double fail_free_ratio,
                             uint64_t fail_free_bytes) {
  Observation obs;
  if (space.total_bytes == 0) {
    // A pseudo file system (proc, an odd FUSE mount): nothing to measure, and most
    // likely the wrong path configured.
    obs.status = Status::kWarn;
    obs.output = fmt::format("{}: the file system reports no capacity", path);
    return obs;
  }
  uint64_t free = std::min(space.free_bytes, space.total_bytes);
  double free_ratio = static_cast<double>(free) / static_cast<double>(space.total_bytes);
  obs.observed_value = 1.0 - free_ratio;
  obs.observed_unit = "ratio";
  std::string what = fmt::format("{}: {} bytes free ({}, {} of {})", path, free, human_bytes(free),
                                 percent(free_ratio), human_bytes(space.total_bytes));
  if (free_ratio < fail_free_ratio || free < fail_free_bytes) {
    obs.status = Status::kFail;
    obs.output = fmt::format("{}; fails below {} or {} free", what, percent(fail_free_ratio),
                             human_bytes(fail_free_bytes));
  } else if (free_ratio < warn_free_ratio) {
    obs.status = Status::kWarn;
    obs.output = fmt::format("{}; warns below {} free", what, percent(warn_free_ratio));
  } else {
    obs.output = what;  // not shown on pass, but the SIGQUIT dump has it
  }
  return obs;
}

std::function<Observation()> disk_space(std::string path, double warn_free_ratio,
                                        double fail_free_ratio, uint64_t fail_free_bytes) {
  return [path = std::move(path), warn_free_ratio, fail_free_ratio, fail_free_bytes] {
    auto space = fs::disk_space(path);
    if (!space) {
      Observation obs;
      obs.status = Status::kFail;
      obs.output = space.error().message();
      return obs;
    }
    return disk_observation(path, *space, warn_free_ratio, fail_free_ratio, fail_free_bytes);
  };
}

Observation memory_observation(uint64_t rss_bytes, uint64_t limit_bytes, double warn_ratio) {
  Observation obs;
  obs.observed_value = rss_bytes;
  obs.observed_unit = "bytes";
  std::string what =
      fmt::format("resident memory {} ({} bytes)", human_bytes(rss_bytes), rss_bytes);
  if (limit_bytes == 0) {
    obs.output = what;
    return obs;
  }
  auto warn_at = static_cast<double>(limit_bytes) * warn_ratio;
  if (rss_bytes > limit_bytes) {
    obs.status = Status::kFail;
    obs.output = fmt::format("{} is over the limit of {}", what, human_bytes(limit_bytes));
  } else if (static_cast<double>(rss_bytes) > warn_at) {
    obs.status = Status::kWarn;
    obs.output = fmt::format("{} is over {} of the limit of {}", what, percent(warn_ratio),
                             human_bytes(limit_bytes));
  } else {
    obs.output = fmt::format("{} of a limit of {}", what, human_bytes(limit_bytes));
  }
  return obs;
}

std::function<Observation()> memory(uint64_t limit_bytes, double warn_ratio) {
  return [limit_bytes, warn_ratio] {
    auto rss = resident_bytes();
    if (!rss) {
      Observation obs;
      obs.status = Status::kFail;
      obs.output = rss.error().message();
      return obs;
    }
    return memory_observation(*rss, limit_bytes, warn_ratio);
  };
}

Result<uint64_t> parse_statm_rss(std::string_view statm, uint64_t page_size) {
  // "size resident shared text lib data dt", all in pages.
  auto skip_spaces = [&] {
    while (!statm.empty() && statm.front() == ' ') statm.remove_prefix(1);
  };
  uint64_t fields[2] = {0, 0};
  for (uint64_t& field : fields) {
    skip_spaces();
    auto [end, ec] = std::from_chars(statm.data(), statm.data() + statm.size(), field);
    if (ec != std::errc() || end == statm.data()) {
      return make_error(
          ErrorCode::kCorrupt,
          fmt::format("/proc/self/statm: expected page counts, got \"{}\"", statm.substr(0, 40)));
    }
    statm.remove_prefix(static_cast<size_t>(end - statm.data()));
  }
  return fields[1] * page_size;
}

Result<uint64_t> resident_bytes() {
  BZZZ_ASSIGN_OR_RETURN(auto file, fs::File::open_read("/proc/self/statm"));
  std::array<uint8_t, 256> buf{};
  BZZZ_ASSIGN_OR_RETURN(size_t n, file.read(buf));
  long page = ::sysconf(_SC_PAGESIZE);
  return parse_statm_rss(std::string_view(reinterpret_cast<const char*>(buf.data()), n),
                         page > 0 ? static_cast<uint64_t>(page) : 4096);
}

}  // namespace bzzz::health
