#include "infra/metrics/process_collector.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <limits>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

namespace bzzz::metrics {

namespace {

// /proc/stat grows with the CPU count; even a few thousand CPUs stay far below this.
constexpr size_t kMaxProcFileBytes = 4 << 20;

tl::unexpected<Error> malformed(std::string_view file, std::string_view why) {
  return make_error(ErrorCode::kInvalidArgument, fmt::format("malformed {}: {}", file, why));
}

// /proc files report a size of 0, so they are read to EOF rather than by stat size.
// base/fs is not a dependency of this module; these are small reads of kernel text.
Result<std::string> read_proc_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errno_error(errno, path));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return fail(errno_error(err, path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxProcFileBytes) {
      ::close(fd);
      return make_error(ErrorCode::kInternal, fmt::format("{}: larger than expected", path));
    }
  }
  ::close(fd);
  return out;
}

Result<uint64_t> count_open_fds(const std::string& fd_dir) {
  DIR* dir = ::opendir(fd_dir.c_str());
  if (dir == nullptr) return fail(errno_error(errno, fd_dir));
  // The directory stream holds an fd of its own; it is not one of the process's.
  std::string own = std::to_string(::dirfd(dir));
  uint64_t count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == ".." || name == own) continue;
    ++count;
  }
  ::closedir(dir);
  return count;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  return fields;
}

template <typename T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The line of `text` that starts with `prefix`, without the prefix.
std::optional<std::string_view> line_after(std::string_view text, std::string_view prefix) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    if (line.substr(0, prefix.size()) == prefix) return line.substr(prefix.size());
    pos = eol + 1;
  }
  return std::nullopt;
}

prometheus::MetricFamily one_sample(std::string name, std::string help,
                                    prometheus::MetricType type, double value) {
  prometheus::MetricFamily family{std::move(name), std::move(help), type, {}};
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

uint64_t page_size() {
  long size = ::sysconf(_SC_PAGESIZE);
  return size > 0 ? static_cast<uint64_t>(size) : 4096;
}

}  // namespace

Result<ProcStat> parse_proc_stat(std::string_view text) {
  constexpr std::string_view kFile = "/proc/<pid>/stat";
  // The command name is whatever the program chose (prctl, argv[0]) and may itself hold
  // spaces and parentheses; only the last ')' ends it.
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return malformed(kFile, "no command name in parentheses");
  }
  ProcStat stat;
  stat.comm = std::string(text.substr(open + 1, close - open - 1));
  auto fields = split_fields(text.substr(close + 1));
  // fields[0] is field 3 of proc(5), "state"; field N is fields[N - 3].
  constexpr size_t kNeeded = 24 - 2;
  if (fields.size() < kNeeded) {
    return malformed(kFile, fmt::format("{} fields after the command name, expected at least {}",
                                        fields.size(), kNeeded));
  }
  if (fields[0].size() != 1) return malformed(kFile, "state is not one character");
  stat.state = fields[0][0];

  auto field = [&](size_t number, std::string_view name, auto* out) -> Status {
    using T = std::remove_pointer_t<decltype(out)>;
    auto value = parse_number<T>(fields[number - 3]);
    if (!value) {
      return malformed(kFile, fmt::format("field {} ({}) is not a number: \"{}\"", number, name,
                                          fields[number - 3].substr(0, 32)));
    }
    *out = *value;
    return ok();
  };
  BZZZ_TRY(field(14, "utime", &stat.utime_ticks));
  BZZZ_TRY(field(15, "stime", &stat.stime_ticks));
  BZZZ_TRY(field(20, "num_threads", &stat.num_threads));
  BZZZ_TRY(field(22, "starttime", &stat.start_time_ticks));
  BZZZ_TRY(field(23, "vsize", &stat.virtual_bytes));
  BZZZ_TRY(field(24, "rss", &stat.resident_pages));
  return stat;
}

Result<ProcStatm> parse_proc_statm(std::string_view text) {
  auto fields = split_fields(text);
  if (fields.size() < 2) return malformed("/proc/<pid>/statm", "fewer than 2 fields");
  auto size = parse_number<uint64_t>(fields[0]);
  auto resident = parse_number<uint64_t>(fields[1]);
  if (!size || !resident) return malformed("/proc/<pid>/statm", "size or resident is not a number");
  return ProcStatm{*size, *resident};
}

Result<uint64_t> parse_boot_time(std::string_view proc_stat) {
  auto rest = line_after(proc_stat, "btime ");
  if (!rest) return malformed("/proc/stat", "no btime line");
  auto fields = split_fields(*rest);
  auto value = fields.size() == 1 ? parse_number<uint64_t>(fields[0]) : std::nullopt;
  if (!value) return malformed("/proc/stat", "btime is not a number");
  return *value;
}

Result<std::optional<uint64_t>> parse_max_open_files(std::string_view limits) {
  // Columns: name, soft limit, hard limit, units; the name itself holds spaces.
  auto rest = line_after(limits, "Max open files");
  if (!rest) return malformed("/proc/<pid>/limits", "no \"Max open files\" line");
  auto fields = split_fields(*rest);
  if (fields.empty()) return malformed("/proc/<pid>/limits", "no soft limit for open files");
  if (fields[0] == "unlimited") return std::optional<uint64_t>();
  auto value = parse_number<uint64_t>(fields[0]);
  if (!value) return malformed("/proc/<pid>/limits", "open files soft limit is not a number");
  return std::optional<uint64_t>(*value);
}

uint64_t resident_memory_bytes() {
  auto text = read_proc_file("/proc/self/statm");
  if (!text) return 0;
  auto statm = parse_proc_statm(*text);
  return statm ? statm->resident_pages * page_size() : 0;
}

ProcessCollector::ProcessCollector(std::string proc_root)
    : self_(proc_root + "/self"), ticks_per_second_(100), page_size_(page_size()) {
  long ticks = ::sysconf(_SC_CLK_TCK);
  if (ticks > 0) ticks_per_second_ = static_cast<double>(ticks);
  auto stat_text = read_proc_file(self_ + "/stat");
  auto boot_text = read_proc_file(proc_root + "/stat");
  if (!stat_text || !boot_text) return;
  auto stat = parse_proc_stat(*stat_text);
  auto boot = parse_boot_time(*boot_text);
  if (!stat || !boot) return;
  start_time_seconds_ = static_cast<double>(*boot) +
                        static_cast<double>(stat->start_time_ticks) / ticks_per_second_;
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  if (auto text = read_proc_file(self_ + "/stat")) {
    if (auto stat = parse_proc_stat(*text)) {
      double cpu = static_cast<double>(stat->utime_ticks + stat->stime_ticks) / ticks_per_second_;
      out.push_back(one_sample("bzzz_process_cpu_seconds_total",
                               "Total user and system CPU time spent in seconds.",
                               MetricType::Counter, cpu));
      double resident = static_cast<double>(std::max<int64_t>(stat->resident_pages, 0)) *
                        static_cast<double>(page_size_);
      out.push_back(one_sample("bzzz_process_resident_memory_bytes",
                               "Resident memory size in bytes.", MetricType::Gauge, resident));
      out.push_back(one_sample("bzzz_process_virtual_memory_bytes",
                               "Virtual memory size in bytes.", MetricType::Gauge,
                               static_cast<double>(stat->virtual_bytes)));
      out.push_back(one_sample("bzzz_process_threads", "Number of OS threads in the process.",
                               MetricType::Gauge, static_cast<double>(stat->num_threads)));
    }
  }
  if (auto fds = count_open_fds(self_ + "/fd")) {
    out.push_back(one_sample("bzzz_process_open_fds", "Number of open file descriptors.",
                             MetricType::Gauge, static_cast<double>(*fds)));
  }
  if (auto text = read_proc_file(self_ + "/limits")) {
    if (auto max = parse_max_open_files(*text)) {
      double value = max->has_value() ? static_cast<double>(**max)
                                      : std::numeric_limits<double>::infinity();
      out.push_back(one_sample("bzzz_process_max_fds",
                               "Maximum number of open file descriptors (soft limit).",
                               MetricType::Gauge, value));
    }
  }
  if (start_time_seconds_) {
    out.push_back(one_sample("bzzz_process_start_time_seconds",
                             "Start time of the process since the Unix epoch in seconds.",
                             MetricType::Gauge, *start_time_seconds_));
  }
  return out;
}

}  // namespace bzzz::metrics
