// Times blake3_file on one file, to compare with `b3sum [--num-threads N] FILE`.
//
//   bzzz_hash_bench FILE [THREADS] [RUNS]
//
// THREADS 0 (the default) means all hardware threads. With RUNS > 1 every run is
// printed, then the median, so a cold page cache on the first run stands out.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/crypto/blake3.h"

namespace {

bool parse_unsigned(const char* text, unsigned* out) {
  char* end = nullptr;
  unsigned long v = std::strtoul(text, &end, 10);
  if (end == text || *end != '\0' || v > 1024) return false;
  *out = static_cast<unsigned>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned threads = 0;
  unsigned runs = 1;
  if (argc < 2 || argc > 4 || (argc > 2 && !parse_unsigned(argv[2], &threads)) ||
      (argc > 3 && (!parse_unsigned(argv[3], &runs) || runs == 0))) {
    fmt::print(stderr, "usage: {} FILE [THREADS (0 = all)] [RUNS]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    fmt::print(stderr, "{}: cannot stat\n", path);
    return 1;
  }
  double bytes = static_cast<double>(st.st_size);

  std::vector<double> seconds;
  for (unsigned run = 0; run < runs; ++run) {
    auto start = std::chrono::steady_clock::now();
    auto hash = bzzz::blake3_file(path, threads);
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    if (!hash) {
      fmt::print(stderr, "{}\n", hash.error().message());
      return 1;
    }
    seconds.push_back(took.count());
    fmt::print("{}  {}  {:.4f} s  {:.2f} GB/s\n", hash->hex(), path, took.count(),
               bytes / took.count() / 1e9);
  }
  if (runs > 1) {
    std::sort(seconds.begin(), seconds.end());
    double median = seconds[seconds.size() / 2];
    fmt::print("median of {} runs ({} threads): {:.4f} s  {:.2f} GB/s\n", runs,
               threads, median, bytes / median / 1e9);
  }
  return 0;
}
