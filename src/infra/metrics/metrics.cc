#include "infra/metrics/metrics.h"

#include <unordered_set>
#include <utility>

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include "infra/metrics/process_collector.h"

namespace bzzz::metrics {

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  collectables_.push_back(registry_);
  collectables_.push_back(std::make_shared<ProcessCollector>());
}

void Metrics::add_collectable(std::shared_ptr<prometheus::Collectable> collectable) {
  std::lock_guard lock(mutex_);
  collectables_.push_back(std::move(collectable));
}

std::string Metrics::serialize() const {
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables;
  {
    std::lock_guard lock(mutex_);
    collectables = collectables_;
  }
  std::vector<prometheus::MetricFamily> families;
  std::unordered_set<std::string> names;
  for (const auto& collectable : collectables) {
    for (auto& family : collectable->Collect()) {
      // The registry itself refuses duplicates; collectables from different modules
      // cannot know about each other, so the first one wins.
      if (names.insert(family.name).second) families.push_back(std::move(family));
    }
  }
  // Each sample line ends in "\n", which gives the final newline the format requires.
  return prometheus::TextSerializer().Serialize(families);
}

void Metrics::set_build_info(std::string_view version, std::string_view commit) {
  std::lock_guard lock(mutex_);
  if (build_info_family_ == nullptr) {
    build_info_family_ = &prometheus::BuildGauge()
                              .Name("bzzz_build_info")
                              .Help("Version and commit of the running bzzz; always 1.")
                              .Register(*registry_);
  }
  if (build_info_ != nullptr) build_info_family_->Remove(build_info_);
  build_info_ = &build_info_family_->Add(
      {{"version", std::string(version)}, {"commit", std::string(commit)}});
  build_info_->Set(1);
}

prometheus::Histogram::BucketBoundaries http_latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

prometheus::Histogram::BucketBoundaries size_buckets() {
  prometheus::Histogram::BucketBoundaries buckets;
  for (double bound = 1024; bound <= 1024.0 * 1024 * 1024; bound *= 4) buckets.push_back(bound);
  return buckets;
}

}  // namespace bzzz::metrics
