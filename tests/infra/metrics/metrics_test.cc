#include "infra/metrics/metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include "infra/metrics/process_collector.h"
#include "support/temp_dir.h"

namespace bzzz::metrics {
namespace {

using ::testing::HasSubstr;

// A real stat line of `cat`, with the command name swapped for one that tries to
// confuse a parser that splits on spaces or stops at the first ')'.
std::string stat_line(std::string_view comm) {
  return "1996 (" + std::string(comm) +
         ") R 1993 1993 30116 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 7 0 915522 3133440 418 "
         "18446744073709551615 94580162076672 94580162096553 140733892227200 0 0 0 0 0 0 0 0 "
         "0 17 1 0 0 0 0 0 94580162112560 94580162114176 94580495151104 140733892233671 "
         "140733892233691 140733892233691 140733892235243 0\n";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The metric name of a sample line: up to '{' or ' '.
std::string sample_name(const std::string& line) {
  return line.substr(0, line.find_first_of("{ "));
}

double sample_value(const std::string& line) {
  return std::strtod(line.substr(line.rfind(' ') + 1).c_str(), nullptr);
}

// Checks the exposition rules a scraper relies on and returns each family's TYPE.
std::map<std::string, std::string> check_exposition(const std::string& text) {
  std::map<std::string, std::string> types;
  std::map<std::string, int> helps;
  std::set<std::string> finished;
  std::string current;
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the final newline is required";
  for (const auto& line : lines_of(text)) {
    std::string family;
    if (line.rfind("# HELP ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      ++helps[family];
    } else if (line.rfind("# TYPE ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_EQ(types.count(family), 0u) << "second TYPE for " << family;
      types[family] = line.substr(line.rfind(' ') + 1);
    } else {
      if (line.empty()) continue;  // allowed, and ignored by parsers
      family = sample_name(line);
      if (!types.count(family)) {
        for (std::string suffix : {"_bucket", "_sum", "_count"}) {
          if (family.size() > suffix.size() &&
              family.compare(family.size() - suffix.size(), suffix.size(), suffix) == 0 &&
              types.count(family.substr(0, family.size() - suffix.size()))) {
            family = family.substr(0, family.size() - suffix.size());
          }
        }
      }
      EXPECT_TRUE(types.count(family)) << "sample before its TYPE: " << line;
    }
    if (family != current) {
      EXPECT_EQ(finished.count(family), 0u) << "samples of " << family << " are split";
      if (!current.empty()) finished.insert(current);
      current = family;
    }
  }
  for (const auto& [family, type] : types) EXPECT_EQ(helps[family], 1) << family;
  EXPECT_EQ(helps.size(), types.size());
  return types;
}

TEST(MetricsBuckets, HttpLatencyIsThePrometheusDefault) {
  EXPECT_EQ(http_latency_buckets(), (prometheus::Histogram::BucketBoundaries{
                                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}));
}

TEST(MetricsBuckets, SizesGoFromKibToGibByFour) {
  auto b = size_buckets();
  ASSERT_EQ(b.size(), 11u);
  EXPECT_EQ(b.front(), 1024.0);
  EXPECT_EQ(b.back(), 1024.0 * 1024 * 1024);
  for (size_t i = 1; i < b.size(); ++i) EXPECT_EQ(b[i], b[i - 1] * 4);
}

class MetricsTest : public ::testing::Test {
 protected:
  MetricsTest() {
    auto& requests = prometheus::BuildCounter()
                         .Name("bzzz_http_requests_total")
                         .Help("HTTP requests by route and status class.")
                         .Register(metrics_.registry());
    requests.Add({{"route", "/blobs/{cid}"}, {"code", "2xx"}}).Increment(3);
    requests.Add({{"route", "/health"}, {"code", "5xx"}}).Increment();
    prometheus::BuildGauge()
        .Name("bzzz_store_blobs")
        .Help("Blobs in the store.")
        .Register(metrics_.registry())
        .Add({})
        .Set(42);
    auto& latency = prometheus::BuildHistogram()
                        .Name("bzzz_http_request_duration_seconds")
                        .Help("Time to answer an HTTP request.")
                        .Register(metrics_.registry())
                        .Add({{"route", "/blobs/{cid}"}}, http_latency_buckets());
    for (double s : {0.001, 0.02, 0.02, 0.3, 7.0, 60.0}) latency.Observe(s);
    auto& sizes = prometheus::BuildHistogram()
                      .Name("bzzz_store_put_size_bytes")
                      .Help("Size of stored blobs.")
                      .Register(*metrics_.shared_registry())
                      .Add({}, size_buckets());
    for (double bytes : {10.0, 5000.0, 3e6, 5e9}) sizes.Observe(bytes);
    metrics_.set_build_info("0.1.0", "abc123");
  }
  Metrics metrics_;
};

TEST_F(MetricsTest, SerializeFollowsTheTextFormat) {
  std::string text = metrics_.serialize();
  auto types = check_exposition(text);
  std::map<std::string, std::string> expected = {
      {"bzzz_build_info", "gauge"},
      {"bzzz_http_request_duration_seconds", "histogram"},
      {"bzzz_http_requests_total", "counter"},
      {"bzzz_process_cpu_seconds_total", "counter"},
      {"bzzz_process_max_fds", "gauge"},
      {"bzzz_process_open_fds", "gauge"},
      {"bzzz_process_resident_memory_bytes", "gauge"},
      {"bzzz_process_start_time_seconds", "gauge"},
      {"bzzz_process_threads", "gauge"},
      {"bzzz_process_virtual_memory_bytes", "gauge"},
      {"bzzz_store_blobs", "gauge"},
      {"bzzz_store_put_size_bytes", "histogram"},
  };
  EXPECT_EQ(types, expected) << text;
  EXPECT_THAT(text, HasSubstr("\nbzzz_build_info{commit=\"abc123\",version=\"0.1.0\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nbzzz_store_blobs 42\n"));
  EXPECT_THAT(text, HasSubstr("bzzz_http_requests_total{code=\"2xx\",route=\"/blobs/{cid}\"} 3\n"));
  EXPECT_STREQ(Metrics::kContentType, "text/plain; version=0.0.4; charset=utf-8");
}

// promtool does not check this (research/ops-style.md §3), so it is checked here.
TEST_F(MetricsTest, HistogramBucketsAreCumulativeAndEndAtInf) {
  std::vector<std::string> buckets;
  for (const auto& line : lines_of(metrics_.serialize())) {
    if (line.rfind("bzzz_http_request_duration_seconds_bucket", 0) == 0) buckets.push_back(line);
  }
  ASSERT_EQ(buckets.size(), http_latency_buckets().size() + 1);
  EXPECT_THAT(buckets.back(), HasSubstr("le=\"+Inf\"} 6"));
  for (size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_LE(sample_value(buckets[i - 1]), sample_value(buckets[i])) << buckets[i];
  }
  EXPECT_EQ(sample_value(buckets[0]), 1);  // 0.001 <= .005
  EXPECT_THAT(metrics_.serialize(), HasSubstr("\nbzzz_http_request_duration_seconds_count"
                                              "{route=\"/blobs/{cid}\"} 6\n"));
}

TEST_F(MetricsTest, BuildInfoIsReplacedNotDuplicated) {
  metrics_.set_build_info("0.2.0", "def456");
  std::string text = metrics_.serialize();
  EXPECT_THAT(text, HasSubstr("\nbzzz_build_info{commit=\"def456\",version=\"0.2.0\"} 1\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("abc123")));
}

TEST_F(MetricsTest, LabelValuesAreEscaped) {
  metrics_.set_build_info("1.0 \"beta\"\\x\nnext", "abc");
  EXPECT_THAT(metrics_.serialize(),
              HasSubstr(R"(bzzz_build_info{commit="abc",version="1.0 \"beta\"\\x\nnext"} 1)"));
}

TEST_F(MetricsTest, ExtraCollectablesJoinAndCannotDuplicateAFamily) {
  auto extra = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge().Name("bzzz_extra").Help("Extra.").Register(*extra).Add({}).Set(5);
  // Same name as a process family: dropped, so the scrape stays parsable.
  prometheus::BuildGauge()
      .Name("bzzz_process_threads")
      .Help("Impostor.")
      .Register(*extra)
      .Add({})
      .Set(-1);
  metrics_.add_collectable(extra);
  std::string text = metrics_.serialize();
  check_exposition(text);
  EXPECT_THAT(text, HasSubstr("\nbzzz_extra 5\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("Impostor")));
}

TEST_F(MetricsTest, SerializeWhileOthersUpdate) {
  auto& counter = prometheus::BuildCounter()
                      .Name("bzzz_busy_total")
                      .Help("Busy.")
                      .Register(metrics_.registry())
                      .Add({});
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&] {
      while (!stop) counter.Increment();
    });
  }
  double last = 0;
  for (int i = 0; i < 50; ++i) {
    for (const auto& line : lines_of(metrics_.serialize())) {
      if (line.rfind("bzzz_busy_total ", 0) == 0) {
        EXPECT_GE(sample_value(line), last);
        last = sample_value(line);
      }
    }
  }
  stop = true;
  for (auto& w : writers) w.join();
}

TEST_F(MetricsTest, PromtoolAcceptsTheOutput) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not on PATH (Debian package prometheus); skipping the lint";
  }
  metrics_.set_build_info("0.1.0 \"rc\"\\", "abc123");  // escaping must satisfy it too
  testing::TempDir dir;
  std::string in = dir.sub("metrics.txt");
  std::string out = dir.sub("promtool.out");
  std::ofstream(in, std::ios::binary) << metrics_.serialize();
  int rc = std::system(("promtool check metrics < '" + in + "' > '" + out + "' 2>&1").c_str());
  std::ifstream report(out);
  std::stringstream buf;
  buf << report.rdbuf();
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 0) << buf.str() << "\n--- input ---\n" << metrics_.serialize();
}

TEST(ProcessParse, StatTakesTheLastParenthesis) {
  for (std::string comm : {"bzzz", "a) (b", "x) S 1 2 3 (y", "with space", "()", ""}) {
    auto stat = parse_proc_stat(stat_line(comm));
    ASSERT_TRUE(stat) << comm << ": " << stat.error().message();
    EXPECT_EQ(stat->comm, comm);
    EXPECT_EQ(stat->state, 'R');
    EXPECT_EQ(stat->utime_ticks, 250u);
    EXPECT_EQ(stat->stime_ticks, 75u);
    EXPECT_EQ(stat->num_threads, 7);
    EXPECT_EQ(stat->start_time_ticks, 915522u);
    EXPECT_EQ(stat->virtual_bytes, 3133440u);
    EXPECT_EQ(stat->resident_pages, 418);
  }
}

TEST(ProcessParse, StatRejectsMalformedText) {
  EXPECT_FALSE(parse_proc_stat(""));
  EXPECT_FALSE(parse_proc_stat("1996 bzzz R 1 2 3"));
  EXPECT_FALSE(parse_proc_stat("1996 (bzzz R 1 2 3"));
  EXPECT_FALSE(parse_proc_stat(")1996 (bzzz"));
  auto short_line = parse_proc_stat("1996 (bzzz) R 1 2 3\n");
  ASSERT_FALSE(short_line);
  EXPECT_EQ(short_line.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(short_line.error().message(), HasSubstr("4 fields"));
  std::string bad = stat_line("bzzz");
  bad.replace(bad.find(" 250 "), 5, " 2x0 ");
  auto not_number = parse_proc_stat(bad);
  ASSERT_FALSE(not_number);
  EXPECT_THAT(not_number.error().message(), HasSubstr("utime"));
  EXPECT_THAT(not_number.error().message(), HasSubstr("2x0"));
}

TEST(ProcessParse, Statm) {
  auto statm = parse_proc_statm("765 437 409 5 0 123 0\n");
  ASSERT_TRUE(statm);
  EXPECT_EQ(statm->size_pages, 765u);
  EXPECT_EQ(statm->resident_pages, 437u);
  EXPECT_FALSE(parse_proc_statm("765\n"));
  EXPECT_FALSE(parse_proc_statm("765 -1 0\n"));
  EXPECT_FALSE(parse_proc_statm(""));
}

TEST(ProcessParse, BootTime) {
  std::string text =
      "cpu  1 2 3 4 5 6 7 0 0 0\ncpu0 1 2 3 4 5 6 7 0 0 0\nintr 12 0\nctxt 99\n"
      "btime 1795776430\nprocesses 100\n";
  auto boot = parse_boot_time(text);
  ASSERT_TRUE(boot) << boot.error().message();
  EXPECT_EQ(*boot, 1795776430u);
  EXPECT_FALSE(parse_boot_time("cpu 1 2 3\nctxt 99\n"));
  EXPECT_FALSE(parse_boot_time("btime soon\n"));
  EXPECT_FALSE(parse_boot_time("xbtime 5\n"));
}

TEST(ProcessParse, MaxOpenFiles) {
  std::string limits =
      "Limit                     Soft Limit           Hard Limit           Units     \n"
      "Max cpu time              unlimited            unlimited            seconds   \n"
      "Max open files            1024                 524288               files     \n"
      "Max locked memory         8388608              8388608              bytes     \n";
  auto max = parse_max_open_files(limits);
  ASSERT_TRUE(max) << max.error().message();
  ASSERT_TRUE(max->has_value());
  EXPECT_EQ(**max, 1024u);

  auto unlimited = parse_max_open_files(
      "Max open files            unlimited            unlimited            files\n");
  ASSERT_TRUE(unlimited);
  EXPECT_FALSE(unlimited->has_value());

  EXPECT_FALSE(parse_max_open_files("Max cpu time  unlimited  unlimited  seconds\n"));
  EXPECT_FALSE(parse_max_open_files("Max open files            lots   files\n"));
}

TEST(ProcessCollectorTest, ResidentMemoryIsPositive) {
  EXPECT_GT(resident_memory_bytes(), 0u);
}

std::map<std::string, double> collect_values(const ProcessCollector& collector) {
  std::map<std::string, double> values;
  for (const auto& family : collector.Collect()) {
    EXPECT_EQ(family.metric.size(), 1u) << family.name;
    EXPECT_FALSE(family.help.empty()) << family.name;
    const auto& m = family.metric.at(0);
    values[family.name] =
        family.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
  }
  return values;
}

TEST(ProcessCollectorTest, ReadsThisProcess) {
  ProcessCollector collector;
  auto values = collect_values(collector);
  ASSERT_EQ(values.size(), 7u);
  EXPECT_GT(values["bzzz_process_resident_memory_bytes"], 0);
  EXPECT_GE(values["bzzz_process_virtual_memory_bytes"],
            values["bzzz_process_resident_memory_bytes"]);
  EXPECT_GE(values["bzzz_process_cpu_seconds_total"], 0);
  EXPECT_GE(values["bzzz_process_threads"], 1);
  EXPECT_GE(values["bzzz_process_max_fds"], values["bzzz_process_open_fds"]);
  double now = std::chrono::duration<double>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
  double start = values["bzzz_process_start_time_seconds"];
  EXPECT_LE(start, now + 2);
  EXPECT_GT(start, now - 3600) << "this test process started within the hour";

  // One more open fd is seen by the next scrape.
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  double with_fd = collect_values(collector)["bzzz_process_open_fds"];
  ::close(fd);
  double without = collect_values(collector)["bzzz_process_open_fds"];
  EXPECT_EQ(with_fd, without + 1);

  // More threads are seen too.
  std::atomic<bool> stop{false};
  std::thread extra([&] {
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  double threads = collect_values(collector)["bzzz_process_threads"];
  stop = true;
  extra.join();
  EXPECT_EQ(threads, collect_values(collector)["bzzz_process_threads"] + 1);
}

TEST(ProcessCollectorTest, ReadsAFakeProcTree) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.sub("self/fd"));
  for (std::string fd : {"0", "1", "2"}) std::ofstream(dir.sub("self/fd/" + fd));
  std::ofstream(dir.sub("self/stat")) << stat_line("fake) (proc");
  std::ofstream(dir.sub("self/limits"))
      << "Max open files            unlimited            unlimited            files\n";
  std::ofstream(dir.sub("stat")) << "cpu 1 2 3\nbtime 1700000000\n";

  ProcessCollector collector(dir.path());
  auto values = collect_values(collector);
  double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  EXPECT_DOUBLE_EQ(values["bzzz_process_cpu_seconds_total"], (250 + 75) / tick);
  EXPECT_EQ(values["bzzz_process_resident_memory_bytes"], 418 * page);
  EXPECT_EQ(values["bzzz_process_virtual_memory_bytes"], 3133440);
  EXPECT_EQ(values["bzzz_process_threads"], 7);
  EXPECT_EQ(values["bzzz_process_open_fds"], 3);
  EXPECT_TRUE(std::isinf(values["bzzz_process_max_fds"]));
  EXPECT_DOUBLE_EQ(values["bzzz_process_start_time_seconds"], 1700000000 + 915522 / tick);
}

TEST(ProcessCollectorTest, MissingFilesLeaveOutTheirFamilies) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.sub("self/fd"));
  std::ofstream(dir.sub("self/stat")) << "garbage";
  ProcessCollector collector(dir.path());
  auto values = collect_values(collector);
  EXPECT_EQ(values.size(), 1u);
  EXPECT_EQ(values.count("bzzz_process_open_fds"), 1u);
}

}  // namespace
}  // namespace bzzz::metrics
