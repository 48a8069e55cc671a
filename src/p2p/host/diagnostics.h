// p2p/host: two diagnostic protocols, served when p2p.diagnostics is on: /bzzz/echo/1.0.0
// (every byte back; our FIN after the remote's) and /bzzz/sink/1.0.0 (bytes read and
// dropped; at the remote's FIN, the count as a u64 big-endian, then FIN). Interop tests
// and the benchmarks use them; js test peers serve the same two.
#pragma once

#include <string_view>

#include "p2p/host/host.h"

namespace bzzz::p2p {

inline constexpr std::string_view kEchoProtocol = "/bzzz/echo/1.0.0";
inline constexpr std::string_view kSinkProtocol = "/bzzz/sink/1.0.0";

void add_diagnostic_protocols(Host& host);

}  // namespace bzzz::p2p
