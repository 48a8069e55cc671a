// infra/metrics: a node's Prometheus metrics. It owns the node's prometheus::Registry
// (modules register their counters, gauges and histograms on it), the process metrics,
// bzzz_build_info, and the Prometheus text exposition (format 0.0.4) that the node's own
// HTTP server serves at /metrics. Depends on base/status and prometheus-cpp core only:
// no HTTP here, and never on the modules it measures.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace bzzz::metrics {

class Metrics {  // one per node
 public:
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  // Creates the registry and registers the process collector (bzzz_process_*).
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  prometheus::Registry& registry() { return *registry_; }
  std::shared_ptr<prometheus::Registry> shared_registry() { return registry_; }

  // For metrics computed at scrape time (e.g. store counters read from its index).
  // A family whose name was already collected from an earlier collectable is dropped
  // from the output, since a second HELP line would make the whole scrape unparsable.
  void add_collectable(std::shared_ptr<prometheus::Collectable> collectable);

  // Every family of every collectable, in Prometheus text format 0.0.4 (ends in "\n").
  // Safe to call from any thread, concurrently with updates.
  std::string serialize() const;

  // bzzz_build_info{version="...",commit="..."} 1. Calling it again replaces the labels.
  void set_build_info(std::string_view version, std::string_view commit);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  mutable std::mutex mutex_;  // guards collectables_ and build_info_*
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  prometheus::Family<prometheus::Gauge>* build_info_family_ = nullptr;  // on first use
  prometheus::Gauge* build_info_ = nullptr;
};

// Bucket boundaries shared across modules, so the same quantity is comparable
// everywhere (research/ops-style.md §3).
// Request latency in seconds: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10.
prometheus::Histogram::BucketBoundaries http_latency_buckets();
// Blob and body sizes in bytes: 1 KiB to 1 GiB, x4 per bucket (11 boundaries).
prometheus::Histogram::BucketBoundaries size_buckets();

}  // namespace bzzz::metrics
