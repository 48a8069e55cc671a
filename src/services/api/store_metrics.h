// services/api: what the store exposes to Prometheus: operation counters kept by the
// API, and gauges read from the store's own counters at scrape time.
#pragma once

#include <memory>
#include <string>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include "content/store/store.h"

namespace bzzz::api {

struct StoreMetrics {
  StoreMetrics(prometheus::Registry& registry, store::Store& store);
  ~StoreMetrics();
  void count(const std::string& op, bool ok);

  prometheus::Family<prometheus::Counter>& operations;
  prometheus::Counter& put_bytes;
  prometheus::Counter& get_bytes;
  prometheus::Counter& deduplicated;
  prometheus::Registry& registry;
  // Not in the registry (it holds families only): whoever serves /metrics collects it.
  std::shared_ptr<prometheus::Collectable> gauges;
};

}  // namespace bzzz::api
