#include "content/exchange/exchange.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "content/exchange/exchange_internal.h"
#include "p2p/net/byte_stream.h"
#include "p2p/net/connection.h"

namespace bzzz::exchange {

namespace asio = boost::asio;

std::string_view request_name(const Request& r) {
  if (std::holds_alternative<HaveRequest>(r)) return "have";
  if (std::holds_alternative<GetRequest>(r)) return "get";
  return "store";
}

std::shared_ptr<Exchange> Exchange::create(p2p::Host& host, store::Store& store, asio::thread_pool& workers,
                                           ExchangeOptions options, prometheus::Registry* metrics) {
  return std::shared_ptr<Exchange>(new Exchange(host, store, workers, std::move(options), metrics));
}

Exchange::Exchange(p2p::Host& host, store::Store& store, asio::thread_pool& workers, ExchangeOptions options,
                   prometheus::Registry* metrics)
    : host_(&host),
      store_(&store),
      workers_(&workers),
      options_(std::move(options)),
      metrics_(std::make_unique<Metrics>(metrics)) {}

Exchange::~Exchange() = default;

void Exchange::start() {
  {
    std::lock_guard lock(mutex_);
    if (started_ || stopped_) return;
    started_ = true;
  }
  std::weak_ptr<Exchange> weak = weak_from_this();
  host_->handle(std::string(kProtocol), [weak](std::shared_ptr<p2p::net::Stream> s) -> asio::awaitable<void> {
    co_await serve(weak, std::move(s));
  });
}

void Exchange::stop() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
}

void Exchange::set_store_policy(StorePolicy policy) {
  std::lock_guard lock(mutex_);
  store_policy_ = std::move(policy);
}

void Exchange::set_full_probe(FullProbe probe) {
  std::lock_guard lock(mutex_);
  full_probe_ = std::move(probe);
}

bool Exchange::avoided(const p2p::PeerId& peer) const {
  std::lock_guard lock(mutex_);
  auto it = avoided_.find(peer);
  return it != avoided_.end() && it->second > std::chrono::steady_clock::now();
}

void Exchange::penalise(const p2p::PeerId& peer, std::string_view reason) {
  spdlog::warn("exchange: {} sent bad data ({}); avoiding it for {} s", peer.to_string(), reason,
               std::chrono::duration_cast<std::chrono::seconds>(options_.bad_peer_backoff).count());
  std::lock_guard lock(mutex_);
  avoided_[peer] = std::chrono::steady_clock::now() + options_.bad_peer_backoff;
}

asio::awaitable<Result<Exchange::Call>> Exchange::call(p2p::PeerId peer, Request request,
                                                       std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) co_return make_error(ErrorCode::kUnavailable, "exchange: stopped");
  }
  metrics_->request(request_name(request), false);
  std::vector<std::string> protocols{std::string(kProtocol)};
  auto opened = co_await host_->new_stream(peer, std::move(protocols));
  if (!opened) co_return tl::unexpected(opened.error());
  auto stream = std::move(*opened);
  auto guard = stream->reset_after(timeout);
  auto frame = p2p::net::length_prefixed(encode_request(request));
  auto written = co_await stream->write(frame);
  if (!written) {
    stream->reset();
    co_return tl::unexpected(written.error());
  }
  auto answer = co_await p2p::net::read_length_prefixed(*stream, kMaxResponseBytes);
  guard.cancel();
  if (!answer) {
    stream->reset();
    co_return tl::unexpected(answer.error());
  }
  if (!*answer) {
    stream->reset();
    co_return make_error(ErrorCode::kProtocol,
                         fmt::format("exchange: {} closed the stream without answering", peer.to_string()));
  }
  auto response = decode_response(**answer, request);
  if (!response) {
    stream->reset();
    co_return tl::unexpected(response.error());
  }
  co_return Call{std::move(stream), std::move(*response)};
}

asio::awaitable<Result<std::vector<std::optional<uint64_t>>>> Exchange::have(p2p::PeerId peer,
                                                                          std::vector<Hash> hashes) {
  auto answer = co_await have_detail(std::move(peer), std::move(hashes));
  if (!answer) co_return tl::unexpected(answer.error());
  co_return std::move(answer->sizes);
}

asio::awaitable<Result<HaveAnswer>> Exchange::have_detail(p2p::PeerId peer, std::vector<Hash> hashes) {
  HaveAnswer out;
  for (size_t at = 0; at < hashes.size(); at += kMaxHashesPerRequest) {
    HaveRequest req;
    req.hashes.assign(hashes.begin() + static_cast<ptrdiff_t>(at),
                      hashes.begin() + static_cast<ptrdiff_t>(std::min(hashes.size(), at + kMaxHashesPerRequest)));
    Request request(std::move(req));
    auto answer = co_await call(peer, std::move(request), options_.request_timeout);
    if (!answer) co_return tl::unexpected(answer.error());
    co_await answer->stream->close();
    if (answer->response.code != Code::kOk) {
      co_return make_error(ErrorCode::kProtocol, fmt::format("exchange: {} answered HAVE with {}: {}", peer.to_string(),
                                                             code_name(answer->response.code),
                                                             answer->response.message));
    }
    const auto& r = answer->response;
    for (size_t i = 0; i < r.have.size(); ++i) {
      out.sizes.push_back(r.have[i] == 0 ? std::nullopt : std::optional<uint64_t>(r.have[i] - 1));
      out.pinned.push_back(i < r.pinned.size() && r.pinned[i] && r.have[i] != 0);
    }
    out.full = out.full || r.full;
  }
  co_return out;
}

asio::awaitable<Result<std::vector<bool>>> Exchange::ask_store(p2p::PeerId peer, std::vector<Hash> hashes,
                                                               std::vector<uint64_t> sizes, bool wait, bool pin) {
  if (hashes.size() != sizes.size() || hashes.size() > kMaxHashesPerRequest) {
    co_return make_error(ErrorCode::kInvalidArgument,
                         fmt::format("exchange: STORE of {} hashes with {} sizes (at most {})", hashes.size(),
                                     sizes.size(), kMaxHashesPerRequest));
  }
  Request request(StoreRequest{std::move(hashes), std::move(sizes), wait, pin});
  auto answer = co_await call(peer, std::move(request), wait ? options_.store_wait_timeout : options_.request_timeout);
  if (!answer) co_return tl::unexpected(answer.error());
  co_await answer->stream->close();
  const auto& r = answer->response;
  if (r.code == Code::kFull) {
    co_return make_error(ErrorCode::kNoSpace, fmt::format("exchange: {} is full: {}", peer.to_string(), r.message));
  }
  if (r.code != Code::kOk) {
    co_return make_error(ErrorCode::kProtocol, fmt::format("exchange: {} answered STORE with {}: {}", peer.to_string(),
                                                           code_name(r.code), r.message));
  }
  co_return r.stored;
}

}  // namespace bzzz::exchange
