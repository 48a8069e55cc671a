#include "services/api/store_metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

namespace bzzz::api {

namespace {

// Reads the store's counters when Prometheus scrapes, so they are never stale and
// cost nothing between scrapes.
class StoreGauges final : public prometheus::Collectable {
 public:
  explicit StoreGauges(store::Store& store) : store_(store) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    auto stats = store_.stats();
    if (!stats) return out;
    auto gauge = [&](const char* name, const char* help, double value,
                     prometheus::MetricType type = prometheus::MetricType::Gauge) {
      prometheus::MetricFamily f;
      f.name = name;
      f.help = help;
      f.type = type;
      prometheus::ClientMetric m;
      if (type == prometheus::MetricType::Counter) {
        m.counter.value = value;
      } else {
        m.gauge.value = value;
      }
      f.metric.push_back(m);
      out.push_back(std::move(f));
    };
    const auto& c = stats->counters;
    gauge("bzzz_store_blobs", "Blobs in the store", static_cast<double>(c.blobs));
    gauge("bzzz_store_logical_bytes", "Bytes of the blobs as they were put",
          static_cast<double>(c.logical_bytes));
    gauge("bzzz_store_stored_bytes", "Bytes the blobs take on disk after compression",
          static_cast<double>(c.stored_bytes));
    gauge("bzzz_store_compression_ratio", "Stored bytes over logical bytes (1 = no saving)",
          stats->compression_ratio);
    gauge("bzzz_store_packs", "Pack files holding small blobs", static_cast<double>(stats->packs));
    gauge("bzzz_store_disk_free_bytes", "Free bytes on the data dir's filesystem",
          static_cast<double>(stats->disk_free_bytes));
    gauge("bzzz_store_disk_total_bytes", "Size of the data dir's filesystem",
          static_cast<double>(stats->disk_total_bytes));
    gauge("bzzz_store_corrupt_reads_total", "Reads refused because the bytes failed verification",
          static_cast<double>(stats->corrupt_reads), prometheus::MetricType::Counter);
    return out;
  }

 private:
  store::Store& store_;
};

}  // namespace

StoreMetrics::StoreMetrics(prometheus::Registry& reg, store::Store& store)
    : operations(prometheus::BuildCounter()
                     .Name("bzzz_store_operations_total")
                     .Help("Store operations requested through the API, by operation and result")
                     .Register(reg)),
      put_bytes(prometheus::BuildCounter()
                    .Name("bzzz_store_put_bytes_total")
                    .Help("Bytes received in blob uploads")
                    .Register(reg)
                    .Add({})),
      get_bytes(prometheus::BuildCounter()
                    .Name("bzzz_store_get_bytes_total")
                    .Help("Blob bytes served")
                    .Register(reg)
                    .Add({})),
      deduplicated(prometheus::BuildCounter()
                       .Name("bzzz_store_deduplicated_puts_total")
                       .Help("Uploads of content the store already held")
                       .Register(reg)
                       .Add({})),
      registry(reg),
      gauges(std::make_shared<StoreGauges>(store)) {}

StoreMetrics::~StoreMetrics() = default;

void StoreMetrics::count(const std::string& op, bool ok) {
  operations.Add({{"op", op}, {"result", ok ? "ok" : "error"}}).Increment();
}

}  // namespace bzzz::api
