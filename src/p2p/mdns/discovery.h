// p2p/mdns: what the libp2p mDNS spec (specs/discovery/mdns.md) puts in messages, as
// pure functions the service (mdns.h) calls and tests drive without sockets: the query,
// our response to a query, the peers found in a response, the addresses we advertise
// and the ones we dial. Depends on dns_message and p2p/multiaddr; no I/O.
//
// Wire shape, as js-libp2p and go-libp2p send it:
//   query      question  _p2p._udp.local PTR
//   response   answers   _p2p._udp.local PTR <name>._p2p._udp.local
//                        <name>._p2p._udp.local TXT "dnsaddr=<multiaddr>/p2p/<id>"  (one per address)
// The spec puts the TXT records in the additional section; js and go put them in the
// answers. We send them in the answers and read both.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "base/status/result.h"
#include "p2p/identity/peer_id.h"
#include "p2p/mdns/dns_message.h"
#include "p2p/multiaddr/multiaddr.h"

namespace bzzz::p2p::mdns {

inline constexpr std::string_view kServiceName = "_p2p._udp.local";
inline constexpr std::string_view kDnsaddrPrefix = "dnsaddr=";
inline constexpr uint32_t kRecordTtl = 120;  // seconds; what js and go use
// Our responses stay within one Ethernet frame (no IP fragments on the LAN): the
// addresses that do not fit are left out.
inline constexpr size_t kMaxResponseBytes = 1200;
// What we take from one response: peers beyond these are ignored.
inline constexpr size_t kMaxPeersPerResponse = 32;
inline constexpr size_t kMaxAddrsPerPeer = 16;

// A fresh instance name: lower-case letters and digits, 32 to 63 of them (the spec's
// peer-name: random, so it tells nothing about the peer id).
std::string random_peer_name();

// Whether mDNS may advertise an address: an IP address that is loopback, private
// (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) or IPv4 link-local (169.254/16).
// Like js-libp2p, a LAN announcement carries no public or DNS address: those are for
// peers beyond the LAN, which learn them through identify once connected.
bool is_lan_address(const Multiaddr& addr);

// The addresses to advertise, from the host's announced ones: LAN addresses only, each
// with /p2p/<self>, each "dnsaddr=" string at most 255 bytes; duplicates dropped.
std::vector<Multiaddr> advertised_addrs(const std::vector<Multiaddr>& announced, const PeerId& self);

// The PTR question for the service. (id 0, as mDNS queries use.)
std::vector<uint8_t> build_query();
// A query (QR = 0) with a PTR or ANY question for the service.
bool is_service_query(const dns::Message& message);

// Our response: the PTR and one TXT per address, in the answers. `addrs` end in
// /p2p/<id> (advertised_addrs); those that would take the message over
// kMaxResponseBytes are left out. A unicast answer to a one-shot query (RFC 6762 §6.7:
// `id` echoed, `echo_question`) repeats the question, as resolvers like dig expect.
// Errors: a name that is not a DNS label.
Result<std::vector<uint8_t>> build_response(std::string_view peer_name, const std::vector<Multiaddr>& addrs,
                                            uint16_t id = 0, bool echo_question = false);

struct FoundPeer {
  PeerId id;
  std::string name;              // the PTR target, <peer-name>._p2p._udp.local
  std::vector<Multiaddr> addrs;  // without /p2p; in the order announced
};

struct ResponseContent {
  std::vector<FoundPeer> peers;
  bool own = false;                   // the response names our own instance
  std::vector<std::string> problems;  // records we could not use (bad dnsaddr, ...)
};

// The peers a response announces: for each PTR answer of the service (but ours, named
// `own_name`), the dnsaddr TXT strings of records named as its target, in the answers
// or the additional records. Addresses must end in /p2p/<id>; one instance announcing
// several ids gives one FoundPeer per id.
ResponseContent peers_in_response(const dns::Message& message, std::string_view own_name);

// Which found addresses to dial, best first: TCP ones only; loopback ones only when the
// response came from this machine (`sender_is_local`: from any other machine they
// would reach us or a neighbour, not the peer); IPv6 link-local never (no zone); those
// on the sender's IP first. At most kMaxAddrsPerPeer.
std::vector<Multiaddr> dialable_addrs(const std::vector<Multiaddr>& addrs, const boost::asio::ip::address& sender,
                                      bool sender_is_local);

}  // namespace bzzz::p2p::mdns
