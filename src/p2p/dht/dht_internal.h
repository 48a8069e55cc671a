// p2p/dht: what dht.cc, dht_server.cc, dht_rpc.cc and dht_lookup.cc share and nobody
// else sees: the metrics and the state of one request racing its timeout.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "p2p/dht/dht.h"

namespace bzzz::p2p::dht {

inline constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

struct Dht::Metrics {
  explicit Metrics(prometheus::Registry* registry)
      : own(registry ? nullptr : std::make_shared<prometheus::Registry>()),
        reg(registry ? *registry : *own),
        requests(prometheus::BuildCounter()
                     .Name("bzzz_dht_requests_total")
                     .Help("kad-dht requests by type and direction (in: served, out: sent)")
                     .Register(reg)),
        errors(prometheus::BuildCounter()
                   .Name("bzzz_dht_request_errors_total")
                   .Help("kad-dht requests rejected or failed, by reason")
                   .Register(reg)),
        lookup_seconds(prometheus::BuildHistogram()
                           .Name("bzzz_dht_lookup_seconds")
                           .Help("Duration of iterative DHT lookups")
                           .Register(reg)
                           .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
                                                                           0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30})),
        lookup_hops(prometheus::BuildHistogram()
                        .Name("bzzz_dht_lookup_hops")
                        .Help("Depth of the answering peer in a lookup's discovery tree")
                        .Register(reg)
                        .Add({}, prometheus::Histogram::BucketBoundaries{0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20})),
        records(prometheus::BuildGauge().Name("bzzz_dht_records").Help("Records in the DHT store").Register(reg).Add({})),
        providers(prometheus::BuildGauge()
                      .Name("bzzz_dht_providers")
                      .Help("Provider entries in the DHT store")
                      .Register(reg)
                      .Add({})),
        routing_table(prometheus::BuildGauge()
                          .Name("bzzz_dht_routing_table_peers")
                          .Help("Peers in the DHT routing table")
                          .Register(reg)
                          .Add({})) {}

  void request(MessageType type, bool inbound) {
    requests.Add({{"type", std::string(type_name(type))}, {"direction", inbound ? "in" : "out"}}).Increment();
  }
  void error(std::string_view reason) { errors.Add({{"reason", std::string(reason)}}).Increment(); }

  std::shared_ptr<prometheus::Registry> own;
  prometheus::Registry& reg;
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Counter>& errors;
  prometheus::Histogram& lookup_seconds;
  prometheus::Histogram& lookup_hops;
  prometheus::Gauge& records;
  prometheus::Gauge& providers;
  prometheus::Gauge& routing_table;
};

// One request and its timeout, on one strand: whichever ends first wins. The stream in
// use is also touched from the connection's strand, so it sits behind a lock.
struct Dht::Race {
  explicit Race(const boost::asio::any_io_executor& ex) : timer(ex) {}
  boost::asio::steady_timer timer;
  std::optional<Result<Message>> result;

  // The stream the request uses; reset (now, or when it is set) once timed out.
  void set_stream(const std::shared_ptr<net::Stream>& s) {
    std::lock_guard lock(mutex);
    if (timed_out) {
      s->reset();
      return;
    }
    stream = s;
  }
  void time_out() {
    std::shared_ptr<net::Stream> s;
    {
      std::lock_guard lock(mutex);
      timed_out = true;
      s = std::move(stream);
    }
    if (s) s->reset();
  }
  bool expired() {
    std::lock_guard lock(mutex);
    return timed_out;
  }

 private:
  std::mutex mutex;
  std::shared_ptr<net::Stream> stream;
  bool timed_out = false;
};

}  // namespace bzzz::p2p::dht
