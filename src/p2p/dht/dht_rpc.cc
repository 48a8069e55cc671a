// The client side: a request races its timeout on the caller's strand; streams are
// taken from (and given back to) a per-peer idle list, and a request that fails on a
// reused stream (the remote may have closed it meanwhile) is tried once more on a new
// one. kad requests are idempotent, so the retry is safe.
#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "p2p/dht/dht.h"
#include "p2p/dht/dht_internal.h"

namespace bzzz::p2p::dht {

namespace asio = boost::asio;

namespace {

asio::awaitable<void> close_quietly(std::shared_ptr<net::Stream> s) {
  co_await s->close(std::chrono::milliseconds(2000));
}

std::string_view reason_of(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kTooLarge: return "response_too_large";
    case ErrorCode::kProtocol: return "protocol";
    case ErrorCode::kBusy: return "busy";
    case ErrorCode::kNotFound: return "no_address";
    case ErrorCode::kUnavailable: return "unreachable";
    default: return "stream";
  }
}

}  // namespace

asio::awaitable<Result<Message>> Dht::rpc(PeerId peer, Message request, bool expect_response) {
  auto self = shared_from_this();
  auto ex = co_await asio::this_coro::executor;
  if (stopped_) co_return make_error(ErrorCode::kUnavailable, "dht: stopped");
  metrics_->request(request.type, false);
  auto race = std::make_shared<Race>(ex);
  auto frame = net::length_prefixed(encode(request));
  auto worker = [self, race, peer, frame = std::move(frame), type = request.type,
                 expect_response]() mutable -> asio::awaitable<void> {
    auto r = co_await self->exchange(race, peer, std::move(frame), type, expect_response);
    if (race->expired()) co_return;
    race->result = std::move(r);
    race->timer.cancel();
  };
  asio::co_spawn(ex, std::move(worker), asio::detached);
  if (!race->result) {
    race->timer.expires_after(options_.request_timeout);
    co_await race->timer.async_wait(kTuple);
  }
  Result<Message> result = make_error(ErrorCode::kTimeout, "");
  if (race->result) {
    result = std::move(*race->result);
  } else {
    race->time_out();
    result = make_error(ErrorCode::kTimeout, fmt::format("dht: {} {}: no answer within {} ms", type_name(request.type),
                                                         peer.to_string(), options_.request_timeout.count()));
  }
  if (result) {
    add_peer(peer);  // it answered on the protocol: a server, and alive
  } else {
    metrics_->error(reason_of(result.error()));
    // Our own connection limit says nothing about the peer.
    if (result.error().code() != ErrorCode::kBusy && !stopped_ && rt_.mark_failed(peer)) {
      metrics_->routing_table.Set(static_cast<double>(rt_.size()));
      spdlog::debug("dht: {} left the routing table: {}", peer.to_string(), result.error().message());
    }
  }
  co_return result;
}

struct Dht::Io {
  std::shared_ptr<net::Stream> stream;
  Result<std::optional<Bytes>> response = std::optional<Bytes>();
};

asio::awaitable<Dht::Io> Dht::on_connection(std::shared_ptr<Host> host, std::shared_ptr<Race> race,
                                           std::shared_ptr<net::Stream> s, PeerId peer, std::string protocol,
                                           Bytes frame, bool expect_response, size_t max_response) {
  Io io;
  if (!s) {
    std::vector<std::string> protocols{std::move(protocol)};
    auto opened = co_await host->new_stream(peer, std::move(protocols));
    if (!opened) {
      io.response = tl::unexpected(opened.error());
      co_return io;
    }
    s = std::move(*opened);
  }
  io.stream = s;
  race->set_stream(s);
  std::span<const uint8_t> out(frame);
  auto st = co_await s->write(out);
  if (!st) {
    io.response = tl::unexpected(st.error());
    co_return io;
  }
  if (!expect_response) co_return io;
  auto in = co_await net::read_length_prefixed(*s, max_response);
  if (!in) {
    io.response = tl::unexpected(in.error());
  } else if (!*in) {
    io.response = make_error(ErrorCode::kProtocol, fmt::format("dht: {} closed the stream without answering",
                                                               peer.to_string()));
  } else {
    io.response = std::move(*in);
  }
  co_return io;
}

asio::awaitable<Result<Message>> Dht::exchange(std::shared_ptr<Race> race, PeerId peer, Bytes frame, MessageType type,
                                               bool expect_response) {
  auto self = shared_from_this();
  for (int attempt = 0;; ++attempt) {
    std::shared_ptr<net::Stream> s = attempt == 0 ? take_idle(peer) : nullptr;
    const bool reused = s != nullptr;
    std::shared_ptr<net::Connection> conn = s ? s->connection_ptr() : host_->connection(peer);
    if (!conn) {
      auto dialed = co_await host_->connect(peer);
      if (!dialed) co_return tl::unexpected(dialed.error());
      conn = std::move(*dialed);
    }
    auto op = on_connection(host_, race, s, peer, options_.protocol, frame, expect_response,
                            options_.max_response_bytes);
    Io io = co_await conn->run(std::move(op));
    s = std::move(io.stream);
    if (!io.response) {
      if (s) s->reset();
      if (reused) continue;
      co_return tl::unexpected(io.response.error());
    }
    if (!expect_response) {
      if (!race->expired()) give_back(peer, std::move(s));
      co_return Message{type, {}, {}, {}, {}, 0};
    }
    auto response = decode(**io.response);
    if (!response || response->type != type) {
      s->reset();
      co_return make_error(ErrorCode::kProtocol, fmt::format("dht: {} answered {} with {}", peer.to_string(),
                                                             type_name(type),
                                                             response ? type_name(response->type) : "garbage"));
    }
    if (race->expired()) {
      s->reset();
    } else {
      give_back(peer, std::move(s));
    }
    co_return std::move(*response);
  }
}

std::shared_ptr<net::Stream> Dht::take_idle(const PeerId& peer) {
  std::vector<std::shared_ptr<net::Stream>> stale;
  std::shared_ptr<net::Stream> found;
  {
    std::lock_guard lock(mutex_);
    auto it = idle_.find(peer);
    if (it == idle_.end()) return nullptr;
    auto now = std::chrono::steady_clock::now();
    auto& list = it->second;
    while (!list.empty() && !found) {
      Idle e = std::move(list.back());
      list.pop_back();
      if (e.stream->connection().usable() && now - e.since < options_.outbound_idle_timeout) {
        found = std::move(e.stream);
      } else {
        stale.push_back(std::move(e.stream));
      }
    }
    if (list.empty()) idle_.erase(it);
  }
  for (auto& s : stale) asio::co_spawn(io_, close_quietly(std::move(s)), asio::detached);
  return found;
}

void Dht::give_back(const PeerId& peer, std::shared_ptr<net::Stream> stream) {
  {
    std::lock_guard lock(mutex_);
    auto& list = idle_[peer];
    if (!stopped_ && stream->connection().usable() && list.size() < options_.max_idle_streams_per_peer) {
      list.push_back(Idle{std::move(stream), std::chrono::steady_clock::now()});
      return;
    }
    if (list.empty()) idle_.erase(peer);
  }
  asio::co_spawn(io_, close_quietly(std::move(stream)), asio::detached);
}

void Dht::sweep_idle(bool all) {
  std::vector<std::shared_ptr<net::Stream>> closing;
  {
    std::lock_guard lock(mutex_);
    auto now = std::chrono::steady_clock::now();
    for (auto it = idle_.begin(); it != idle_.end();) {
      auto& list = it->second;
      std::erase_if(list, [&](Idle& e) {
        if (!all && e.stream->connection().usable() && now - e.since < options_.outbound_idle_timeout) return false;
        closing.push_back(std::move(e.stream));
        return true;
      });
      it = list.empty() ? idle_.erase(it) : std::next(it);
    }
  }
  for (auto& s : closing) asio::co_spawn(io_, close_quietly(std::move(s)), asio::detached);
}

asio::awaitable<size_t> Dht::send_all(std::vector<PeerId> peers, Message request, bool expect_response) {
  auto strand = asio::make_strand(io_);
  auto coro = send_all_here(std::move(peers), std::move(request), expect_response);
  co_return co_await asio::co_spawn(strand, std::move(coro), asio::use_awaitable);
}

asio::awaitable<size_t> Dht::send_all_here(std::vector<PeerId> peers, Message request, bool expect_response) {
  auto self = shared_from_this();
  auto ex = co_await asio::this_coro::executor;
  struct Fan {
    explicit Fan(const asio::any_io_executor& e) : wake(e) {}
    asio::steady_timer wake;
    size_t pending = 0;
    size_t accepted = 0;
  };
  auto fan = std::make_shared<Fan>(ex);
  for (auto& peer : peers) {
    ++fan->pending;
    auto worker = [self, fan, peer, request, expect_response]() -> asio::awaitable<void> {
      auto r = co_await self->rpc(peer, request, expect_response);
      bool accepted = r.has_value();
      if (accepted && request.type == MessageType::kPutValue) {
        accepted = r->record && request.record && r->record->value == request.record->value;
      }
      if (accepted) ++fan->accepted;
      if (--fan->pending == 0) fan->wake.cancel();
    };
    asio::co_spawn(ex, std::move(worker), asio::detached);
  }
  while (fan->pending > 0) {
    fan->wake.expires_after(std::chrono::hours(1));
    co_await fan->wake.async_wait(kTuple);
  }
  co_return fan->accepted;
}

}  // namespace bzzz::p2p::dht
