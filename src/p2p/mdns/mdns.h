// p2p/mdns: local peer discovery by multicast DNS (libp2p specs/discovery/mdns.md,
// wire-compatible with js-libp2p's @libp2p/mdns and go-libp2p).
//
// Owns: one UDP socket bound to 0.0.0.0:5353 (SO_REUSEADDR and SO_REUSEPORT: an
// avahi or another node on this machine may hold the port too), member of 224.0.0.251
// on every up, multicast-capable IPv4 interface (re-scanned at each query, so an
// interface that comes up later is joined then); the PTR query for _p2p._udp.local on
// start and every `interval`, sent out of each of those interfaces; our response to any
// such query (our own included: the spec wants it, so that passive peers see us), at
// most one per second per the RFC 6762 rate limit (a query inside that second is
// answered at its end); found peers (not us) handed to the Host: their addresses into
// the peer store, and a dial when not connected, with a per-peer backoff and a cap on
// dials in flight; metrics. IPv4 only (ff02::fb is not joined).
//
// Advertised addresses: the host's announced ones that are loopback, private or
// link-local (discovery.h, is_lan_address), as js-libp2p does.
//
// Depends on p2p/host (and its parts) only. Threading: everything runs on one strand
// of the host's io_context; start() and stop() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "base/status/result.h"
#include "p2p/host/host.h"
#include "p2p/mdns/discovery.h"

namespace prometheus {
class Registry;
}

namespace bzzz::p2p::mdns {

struct Options {
  std::chrono::milliseconds interval{10'000};  // between our queries
  std::string peer_name;                        // empty: random_peer_name()
  // Tests use another port and group so they meet no real responder.
  uint16_t port = 5353;
  std::string group = "224.0.0.251";
  bool connect = true;  // dial found peers (false: only fill the peer store)
  std::chrono::milliseconds dial_backoff_initial{5'000};
  std::chrono::milliseconds dial_backoff_max{300'000};
  size_t max_dials_in_flight = 8;
};

class Service : public std::enable_shared_from_this<Service> {
 public:
  // Called on the service's strand for each response that names a peer (not us), with
  // the addresses that will be dialed; must not block nor call stop(). Never called
  // once stop() has returned.
  using FoundHandler = std::function<void(const FoundPeer&)>;

  static std::shared_ptr<Service> create(std::shared_ptr<Host> host, Options options, prometheus::Registry* metrics);
  ~Service();

  // Opens, binds and joins; sends the first query. An error names why the socket could
  // not be set up (a caller may go on without mDNS).
  Status start();
  // Closes the socket and stops the timers; dials in flight finish on their own. The
  // metrics registry must outlive the io_context's threads: a packet being handled may
  // still count.
  void stop();

  const std::string& peer_name() const { return name_; }
  // Interfaces joined at the last scan (a diagnostic; 0 means nothing can be heard).
  size_t interface_count() const { return interfaces_.load(); }
  // Set before start().
  void on_found(FoundHandler handler) { found_handler_ = std::move(handler); }

  struct Impl;  // sockets, timers, peer state, metrics (mdns.cc)

 private:
  Service(std::shared_ptr<Host> host, Options options, prometheus::Registry* metrics);

  std::shared_ptr<Host> host_;
  Options options_;
  std::string name_;
  FoundHandler found_handler_;
  std::mutex handler_mu_;  // held around found_handler_ calls and by stop()
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<size_t> interfaces_{0};
};

}  // namespace bzzz::p2p::mdns
