// content/replication: what replicator.cc and repair.cc share: the metrics.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "content/replication/replicator.h"

namespace bzzz::replication {

struct Replicator::Metrics {
  explicit Metrics(prometheus::Registry* registry)
      : own(registry ? nullptr : std::make_shared<prometheus::Registry>()),
        reg(registry ? *registry : *own),
        pinned(prometheus::BuildGauge()
                   .Name("bzzz_replication_pinned_blobs")
                   .Help("Pinned blobs (replicas) held here, as of the last repair round")
                   .Register(reg)
                   .Add({})),
        under(prometheus::BuildGauge()
                  .Name("bzzz_replication_under_replicated_blobs")
                  .Help("Pinned blobs here with fewer than replication.factor replicas on live nodes")
                  .Register(reg)
                  .Add({})),
        queue(prometheus::BuildGauge()
                  .Name("bzzz_replication_repair_queue")
                  .Help("Blob copies waiting to be pushed to the nodes responsible for them")
                  .Register(reg)
                  .Add({})),
        live(prometheus::BuildGauge()
                 .Name("bzzz_replication_live_nodes")
                 .Help("Nodes that can hold replicas, this one included, as of the last repair round")
                 .Register(reg)
                 .Add({})),
        pushes(prometheus::BuildCounter()
                   .Name("bzzz_replication_pushes_total")
                   .Help("Blob copies asked of other nodes, by result (ok, full, failed)")
                   .Register(reg)),
        dropped(prometheus::BuildCounter()
                    .Name("bzzz_replication_dropped_total")
                    .Help("Surplus pins given up here once the responsible nodes confirmed theirs")
                    .Register(reg)
                    .Add({})),
        repaired(prometheus::BuildCounter()
                     .Name("bzzz_replication_scrub_repaired_total")
                     .Help("Damaged or missing local blobs fetched again from peers by a scrub")
                     .Register(reg)
                     .Add({})),
        rounds(prometheus::BuildCounter()
                   .Name("bzzz_replication_rounds_total")
                   .Help("Repair rounds run")
                   .Register(reg)
                   .Add({})),
        round_seconds(prometheus::BuildHistogram()
                          .Name("bzzz_replication_repair_seconds")
                          .Help("Duration of repair rounds")
                          .Register(reg)
                          .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30,
                                                                          60, 300, 1800})) {}

  void push(std::string_view result, size_t n = 1) {
    pushes.Add({{"result", std::string(result)}}).Increment(static_cast<double>(n));
  }

  std::shared_ptr<prometheus::Registry> own;
  prometheus::Registry& reg;
  prometheus::Gauge& pinned;
  prometheus::Gauge& under;
  prometheus::Gauge& queue;
  prometheus::Gauge& live;
  prometheus::Family<prometheus::Counter>& pushes;
  prometheus::Counter& dropped;
  prometheus::Counter& repaired;
  prometheus::Counter& rounds;
  prometheus::Histogram& round_seconds;
};

}  // namespace bzzz::replication
