#include "p2p/host/diagnostics.h"

#include <array>
#include <vector>

namespace bzzz::p2p {

namespace asio = boost::asio;

namespace {

asio::awaitable<void> echo(std::shared_ptr<net::Stream> s) {
  std::vector<uint8_t> buf(64 * 1024);
  for (;;) {
    std::span<uint8_t> in(buf);
    auto n = co_await s->read_some(in);
    if (!n) co_return;  // reset: nothing more to do
    if (*n == 0) break;
    std::span<const uint8_t> out(buf.data(), *n);
    auto st = co_await s->write(out);
    if (!st) co_return;
  }
  s->close_write();
}

asio::awaitable<void> sink(std::shared_ptr<net::Stream> s) {
  std::vector<uint8_t> buf(256 * 1024);
  uint64_t total = 0;
  for (;;) {
    std::span<uint8_t> in(buf);
    auto n = co_await s->read_some(in);
    if (!n) co_return;
    if (*n == 0) break;
    total += *n;
  }
  std::array<uint8_t, 8> count;
  for (int i = 0; i < 8; ++i) count[i] = static_cast<uint8_t>(total >> (56 - 8 * i));
  std::span<const uint8_t> out(count);
  auto st = co_await s->write(out);
  if (st) s->close_write();
}

}  // namespace

void add_diagnostic_protocols(Host& host) {
  host.handle(std::string(kEchoProtocol), echo);
  host.handle(std::string(kSinkProtocol), sink);
}

}  // namespace bzzz::p2p
