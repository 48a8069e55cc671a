// content/routing: what router.cc and router_find.cc share: the bzzz_routing_* metrics.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "content/routing/router.h"

namespace bzzz::routing {

struct ContentRouter::Metrics {
  explicit Metrics(prometheus::Registry* registry)
      : own(registry ? nullptr : std::make_shared<prometheus::Registry>()),
        reg(registry ? *registry : *own),
        provides(prometheus::BuildCounter()
                     .Name("bzzz_routing_provides_total")
                     .Help("Provider records of held blobs announced in the DHT, by result (ok: sent to peers, "
                           "unsent: the DHT knew no peer, failed)")
                     .Register(reg)),
        queue(prometheus::BuildGauge()
                  .Name("bzzz_routing_announce_queue")
                  .Help("Blobs waiting to be announced or being announced")
                  .Register(reg)
                  .Add({})),
        reprovide_seconds(prometheus::BuildHistogram()
                              .Name("bzzz_routing_reprovide_seconds")
                              .Help("Duration of reprovide rounds, from listing the store to the last provide")
                              .Register(reg)
                              .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.1, 1, 10, 60, 300, 900, 3600,
                                                                              4 * 3600})),
        reprovide_blobs(prometheus::BuildGauge()
                            .Name("bzzz_routing_reprovide_blobs")
                            .Help("Blobs the last reprovide round announced")
                            .Register(reg)
                            .Add({})),
        lookups(prometheus::BuildCounter()
                    .Name("bzzz_routing_lookups_total")
                    .Help("Provider lookups of blobs, by result (found, not_found)")
                    .Register(reg)) {}

  void provide(std::string_view result) { provides.Add({{"result", std::string(result)}}).Increment(); }
  void lookup(std::string_view result) { lookups.Add({{"result", std::string(result)}}).Increment(); }

  std::shared_ptr<prometheus::Registry> own;
  prometheus::Registry& reg;
  prometheus::Family<prometheus::Counter>& provides;
  prometheus::Gauge& queue;
  prometheus::Histogram& reprovide_seconds;
  prometheus::Gauge& reprovide_blobs;
  prometheus::Family<prometheus::Counter>& lookups;
};

}  // namespace bzzz::routing
