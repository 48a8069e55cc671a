// Store benchmarks, in process, each printed beside its anchor measured in the same run:
//   small  durable puts of N random 4 KiB blobs from W concurrent writers, against the
//          one-file-per-blob layout (write, fsync, rename, fsync dir) on the same disk;
//          then verified gets of them (1 thread and all cores).
//   scale  verify and gc over M blobs (time only; the goal is under 30 s each).
// Usage: bzzz_store_bench DIR [small N W] [scale M]
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/crypto/blake3.h"
#include "base/fs/file.h"
#include "content/store/store.h"

using namespace bzzz;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::vector<uint8_t> blob(uint64_t i, size_t size) {
  std::mt19937_64 rng(i * 7919 + 1);
  std::vector<uint8_t> out(size);
  for (size_t k = 0; k < size; k += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + k, &v, std::min<size_t>(8, size - k));
  }
  return out;
}

void run_threads(unsigned n, const std::function<void(unsigned)>& fn) {
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < n; ++t) threads.emplace_back(fn, t);
  for (auto& t : threads) t.join();
}

[[noreturn]] void die(const Error& e) {
  std::fprintf(stderr, "bench: %s\n", e.message().c_str());
  std::exit(1);
}

// The anchor: each blob its own file, made durable the classic way.
double file_per_blob_rate(const std::string& dir, size_t count, unsigned writers) {
  std::filesystem::create_directories(dir);
  for (int s = 0; s < 256; ++s) std::filesystem::create_directories(fmt::format("{}/{:02x}", dir, s));
  std::atomic<size_t> next{0};
  auto start = Clock::now();
  run_threads(writers, [&](unsigned) {
    for (size_t i = next++; i < count; i = next++) {
      auto data = blob(1'000'000'000 + i, 4096);
      Hash h = blake3(data);
      std::string hex = h.hex();
      std::string shard = fmt::format("{}/{}", dir, hex.substr(0, 2));
      std::string tmp = fmt::format("{}/{}.tmp", shard, hex);
      auto f = fs::File::open(tmp, O_WRONLY | O_CREAT | O_TRUNC);
      if (!f || !f->write_all(data) || !f->sync() || !f->close() ||
          !fs::rename(tmp, fmt::format("{}/{}", shard, hex)) || !fs::sync_dir(shard)) {
        std::fprintf(stderr, "anchor write failed\n");
        std::exit(1);
      }
    }
  });
  return static_cast<double>(count) / seconds_since(start);
}

void bench_small(const std::string& dir, size_t count, unsigned writers) {
  double anchor = file_per_blob_rate(dir + "/anchor", std::min<size_t>(count, 5000), writers);
  std::filesystem::remove_all(dir + "/anchor");

  auto store = store::Store::open(dir + "/store", {});
  if (!store) die(store.error());
  std::vector<Hash> hashes(count);
  std::atomic<size_t> next{0};
  auto start = Clock::now();
  run_threads(writers, [&](unsigned) {
    for (size_t i = next++; i < count; i = next++) {
      auto r = (*store)->put(blob(i, 4096));
      if (!r) die(r.error());
      hashes[i] = r->hash;
    }
  });
  double put_rate = static_cast<double>(count) / seconds_since(start);

  std::vector<size_t> order(count);
  for (size_t i = 0; i < count; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(42));
  auto gets = [&](unsigned threads) {
    std::atomic<size_t> at{0};
    auto t0 = Clock::now();
    run_threads(threads, [&](unsigned) {
      for (size_t i = at++; i < count; i = at++) {
        auto r = (*store)->read(hashes[order[i]]);
        if (!r || r->size() != 4096) die(r ? Error(ErrorCode::kInternal, "short read") : r.error());
      }
    });
    return static_cast<double>(count) / seconds_since(t0);
  };
  double get1 = gets(1);
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  double getn = gets(cores);
  std::printf("small blobs: %zu x 4 KiB, %u writers\n", count, writers);
  std::printf("  durable puts      %9.0f /s   anchor one-file-per-blob+fsync %7.0f /s   ratio %.1fx   (goal >= 20000/s)\n",
              put_rate, anchor, put_rate / anchor);
  std::printf("  verified gets     %9.0f /s (1 thread), %.0f /s (%u threads)   (goal >= 100000/s)\n",
              get1, getn, cores);
}

void bench_scale(const std::string& dir, size_t count) {
  store::StoreOptions options;
  options.codec = store::Codec::kRaw;  // the scrub and gc are what is measured here
  auto store = store::Store::open(dir + "/scale", options);
  if (!store) die(store.error());
  std::atomic<size_t> next{0};
  auto start = Clock::now();
  run_threads(16, [&](unsigned) {
    for (size_t i = next++; i < count; i = next++) {
      auto data = blob(i, 1024);
      auto r = (*store)->put(data);
      if (!r) die(r.error());
      if (i % 10 == 0 && !(*store)->pin(r->hash)) die(Error(ErrorCode::kInternal, "pin failed"));
    }
  });
  double fill = seconds_since(start);
  start = Clock::now();
  auto report = (*store)->verify();
  if (!report) die(report.error());
  double verify = seconds_since(start);
  start = Clock::now();
  auto gc = (*store)->gc({std::chrono::nanoseconds(0), false});
  if (!gc) die(gc.error());
  double gc_time = seconds_since(start);
  std::printf("scale: %zu blobs of 1 KiB (filled in %.1f s)\n", count, fill);
  std::printf("  verify            %9.1f s  (%llu ok, clean=%s)   (goal < 30 s)\n", verify,
              static_cast<unsigned long long>(report->ok), report->clean() ? "yes" : "NO");
  std::printf("  gc                %9.1f s  (removed %llu, kept %llu pinned, compacted %llu packs)   (goal < 30 s)\n",
              gc_time, static_cast<unsigned long long>(gc->removed),
              static_cast<unsigned long long>(gc->kept_pinned),
              static_cast<unsigned long long>(gc->packs_compacted));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DIR [small N WRITERS] [scale M]\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string what = argv[i];
    if (what == "small" && i + 2 < argc) {
      bench_small(dir, std::stoul(argv[i + 1]), static_cast<unsigned>(std::stoul(argv[i + 2])));
      i += 2;
    } else if (what == "scale" && i + 1 < argc) {
      bench_scale(dir, std::stoul(argv[i + 1]));
      i += 1;
    } else {
      std::fprintf(stderr, "unknown benchmark '%s'\n", what.c_str());
      return 2;
    }
  }
  return 0;
}
