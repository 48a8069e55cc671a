// content/exchange: what exchange.cc, exchange_server.cc and fetch.cc share.
#pragma once

#include <string>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "content/exchange/exchange.h"

namespace bzzz::exchange {

struct Exchange::Metrics {
  explicit Metrics(prometheus::Registry* registry)
      : own(registry ? nullptr : std::make_shared<prometheus::Registry>()),
        reg(registry ? *registry : *own),
        requests(prometheus::BuildCounter()
                     .Name("bzzz_exchange_requests_total")
                     .Help("Blob exchange requests by type (have, get, store) and direction (in: served, out: sent)")
                     .Register(reg)),
        bytes(prometheus::BuildCounter()
                  .Name("bzzz_exchange_bytes_total")
                  .Help("Blob bytes sent to and received from peers")
                  .Register(reg)),
        fetches(prometheus::BuildCounter()
                    .Name("bzzz_exchange_fetches_total")
                    .Help("Blob fetches from peers by result (ok, not_found, failed)")
                    .Register(reg)),
        peer_failures(prometheus::BuildCounter()
                          .Name("bzzz_exchange_peer_failures_total")
                          .Help("Providers dropped during fetches, by reason (bad_piece, bad_tree, stalled, "
                                "not_found, busy, protocol, unreachable)")
                          .Register(reg)),
        verification_failures(prometheus::BuildCounter()
                                  .Name("bzzz_exchange_verification_failures_total")
                                  .Help("Pieces or trees from peers that did not match the blob's hash")
                                  .Register(reg)
                                  .Add({})),
        refused(prometheus::BuildCounter()
                    .Name("bzzz_exchange_refused_total")
                    .Help("Requests served with an error, by reason (bad_request, not_found, busy, full, error)")
                    .Register(reg)),
        fetch_seconds(prometheus::BuildHistogram()
                          .Name("bzzz_exchange_fetch_seconds")
                          .Help("Duration of successful blob fetches")
                          .Register(reg)
                          .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1,
                                                                          2.5, 5, 10, 30, 60, 300})),
        serving(prometheus::BuildGauge()
                    .Name("bzzz_exchange_serving")
                    .Help("GET transfers being served now")
                    .Register(reg)
                    .Add({})) {}

  void request(std::string_view type, bool inbound) {
    requests.Add({{"type", std::string(type)}, {"direction", inbound ? "in" : "out"}}).Increment();
  }
  void sent(uint64_t n) { bytes.Add({{"direction", "sent"}}).Increment(static_cast<double>(n)); }
  void received(uint64_t n) { bytes.Add({{"direction", "received"}}).Increment(static_cast<double>(n)); }
  void fetch(std::string_view result) { fetches.Add({{"result", std::string(result)}}).Increment(); }
  void peer_failure(std::string_view reason) { peer_failures.Add({{"reason", std::string(reason)}}).Increment(); }
  void refuse(Code s) { refused.Add({{"reason", std::string(code_name(s))}}).Increment(); }

  std::shared_ptr<prometheus::Registry> own;
  prometheus::Registry& reg;
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Counter>& bytes;
  prometheus::Family<prometheus::Counter>& fetches;
  prometheus::Family<prometheus::Counter>& peer_failures;
  prometheus::Counter& verification_failures;
  prometheus::Family<prometheus::Counter>& refused;
  prometheus::Histogram& fetch_seconds;
  prometheus::Gauge& serving;
};

std::string_view request_name(const Request& r);

}  // namespace bzzz::exchange
