// fetch(): a blob from several providers at once, verified piece by piece; and the
// STORE responder, which fetches what it agreed to hold.
#include <algorithm>
#include <array>
#include <deque>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/async/blocking.h"
#include "content/exchange/exchange.h"
#include "content/exchange/exchange_internal.h"
#include "p2p/net/byte_stream.h"
#include "p2p/net/connection.h"

namespace bzzz::exchange {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

namespace {

// A provider answering BUSY serves its limit of transfers: it is asked again after a
// pause (0.1, 0.2, 0.4 ... s: about 6 s in all) before it counts as failed.
constexpr int kBusyRetries = 6;
std::chrono::milliseconds busy_pause(int attempt) { return std::chrono::milliseconds(100 << attempt); }

}  // namespace

// One fetch's shared state; everything but `import` (thread-safe for distinct pieces)
// is touched only on `strand`.
struct Exchange::Fetch {
  explicit Fetch(asio::any_io_executor ex) : strand(asio::make_strand(ex)), done(strand, Clock::time_point::max()) {}
  asio::strand<asio::any_io_executor> strand;
  asio::steady_timer done;  // cancelled when the last worker ends
  Hash hash;
  uint64_t size = 0;
  uint64_t pieces = 0;
  std::unique_ptr<store::Import> import;
  std::deque<std::pair<uint64_t, uint64_t>> todo;  // piece ranges [first, last) not yet asked for
  std::vector<p2p::PeerId> spare;                  // providers not used yet
  std::vector<p2p::PeerId> idle;                   // providers that finished their ranges
  size_t running = 0;
  FetchResult result;
  std::vector<std::string> failures;  // "peer: why", for the error

  // The next range for a worker: an even share of what is left, at least min pieces.
  std::optional<std::pair<uint64_t, uint64_t>> take(uint64_t min_pieces) {
    if (todo.empty()) return std::nullopt;
    uint64_t left = 0;
    for (auto& [a, b] : todo) left += b - a;
    uint64_t share = std::max<uint64_t>(min_pieces, (left + running - 1) / std::max<size_t>(running, 1));
    auto& front = todo.front();
    std::pair<uint64_t, uint64_t> out{front.first, std::min(front.second, front.first + share)};
    front.first = out.second;
    if (front.first == front.second) todo.pop_front();
    return out;
  }
};

asio::awaitable<void> Exchange::fetch_worker(std::shared_ptr<Fetch> f, p2p::PeerId peer) {
  bool delivered = false;
  bool failed = false;
  int busy = 0;  // BUSY answers in a row: the provider serves its limit; asked again later
  for (;;) {
    auto range = f->take(options_.min_range_pieces);
    if (!range) break;
    auto [first, last] = *range;
    Request request(GetRequest{f->hash, first * kPieceBytes, (last - first) * kPieceBytes, false});
    auto answer = co_await call(peer, std::move(request), options_.request_timeout);
    std::string why;
    std::string reason;
    uint64_t next = first;
    if (!answer) {
      why = answer.error().message();
      reason = answer.error().code() == ErrorCode::kProtocol ? "protocol" : "unreachable";
    } else if (answer->response.code != Code::kOk) {
      why = fmt::format("{}: {}", code_name(answer->response.code), answer->response.message);
      reason = answer->response.code == Code::kNotFound ? "not_found"
               : answer->response.code == Code::kBusy   ? "busy"
                                                        : "protocol";
      answer->stream->reset();
    } else if (answer->response.size != f->size || answer->response.length != (last - first) * kPieceBytes) {
      why = fmt::format("answered {} bytes of a {}-byte blob for pieces {}..{}", answer->response.length,
                        answer->response.size, first, last);
      reason = "protocol";
      answer->stream->reset();
    } else {
      // Pipelined: piece k is checked and written on a worker while piece k + 1 is
      // read from the stream, so the network and the disk overlap.
      auto& stream = *answer->stream;
      std::array<std::vector<uint8_t>, 2> buf{std::vector<uint8_t>(kPieceBytes), std::vector<uint8_t>(kPieceBytes)};
      auto read_piece = [&](std::vector<uint8_t>& into) -> asio::awaitable<bzzz::Status> {
        auto stall = stream.reset_after(options_.stall_timeout);
        auto got = co_await stream.read_exact(into);
        stall.cancel();
        if (!got) co_return tl::unexpected(got.error());
        metrics_->received(into.size());
        f->result.bytes += into.size();
        co_return bzzz::ok();
      };
      auto write_piece = [&](uint64_t index, std::vector<uint8_t>& bytes) -> asio::awaitable<bzzz::Status> {
        co_return co_await run_blocking(*workers_, [&] { return f->import->write_piece(index, bytes); });
      };
      size_t cur = 0;
      bzzz::Status got = co_await read_piece(buf[cur]);
      for (;;) {
        if (!got) {
          why = fmt::format("piece {}: {}", next, got.error().message());
          reason = "stalled";
          break;
        }
        const bool more = next + 1 < last;
        bzzz::Status written = bzzz::ok();
        bzzz::Status ahead = bzzz::ok();
        if (more) {
          auto w = write_piece(next, buf[cur]);
          auto r = read_piece(buf[1 - cur]);
          std::tie(written, ahead) = co_await (std::move(w) && std::move(r));
        } else {
          written = co_await write_piece(next, buf[cur]);
        }
        if (!written) {
          if (written.error().code() == ErrorCode::kCorrupt) {
            metrics_->verification_failures.Increment();
            penalise(peer, fmt::format("piece {} of {}", next, f->hash.hex()));
            why = fmt::format("piece {} does not match the blob's hash", next);
            reason = "bad_piece";
          } else {
            why = written.error().message();  // our disk: no fault of the peer's
            reason = "local";
          }
          break;
        }
        delivered = true;
        busy = 0;
        ++next;
        if (!more) break;
        got = std::move(ahead);
        cur = 1 - cur;
      }
      if (next == last) {
        co_await stream.close();
      } else {
        stream.reset();
      }
    }
    if (next < last && reason == "busy" && busy < kBusyRetries) {
      f->todo.emplace_front(next, last);  // for anyone, this one included after a pause
      asio::steady_timer pause(co_await asio::this_coro::executor);
      pause.expires_after(busy_pause(busy++));
      co_await pause.async_wait(asio::use_awaitable);
      continue;
    }
    if (next < last) {
      f->todo.emplace_front(next, last);  // for the others
      f->failures.push_back(fmt::format("{}: {}", peer.to_string(), why));
      metrics_->peer_failure(reason);
      if (reason == "local") f->todo.clear();  // nothing can be written: stop everyone
      failed = true;
      break;
    }
  }
  if (delivered && std::find(f->result.served_by.begin(), f->result.served_by.end(), peer) == f->result.served_by.end()) {
    f->result.served_by.push_back(peer);
  }
  if (!failed) {
    f->idle.push_back(peer);  // it may be asked again if another one drops out
    co_return;
  }
  // A provider that dropped out is replaced: by one that finished its ranges (it has
  // the blob and answers), else by a spare one, if any is left.
  std::vector<p2p::PeerId>& pool = f->idle.empty() ? f->spare : f->idle;
  if (!f->todo.empty() && !pool.empty()) {
    p2p::PeerId spare = pool.front();
    pool.erase(pool.begin());
    ++f->running;
    asio::co_spawn(f->strand, fetch_worker(f, spare), [f](std::exception_ptr) {
      if (--f->running == 0) f->done.cancel();
    });
  }
}

// One transfer of a hash, which later fetches of it wait for (they poll: a transfer
// takes milliseconds to minutes, and a poll cannot miss its wake-up).
struct Exchange::InFlight {
  std::mutex mu;
  std::optional<Result<FetchResult>> result;  // set when the transfer ends
};

asio::awaitable<Result<FetchResult>> Exchange::fetch(Hash hash, std::vector<p2p::PeerId> providers,
                                                     FetchOptions options) {
  const bool pin = options.pin;
  // Held here already: nothing to transfer.
  auto local = co_await run_blocking(*workers_, [&]() -> std::optional<Result<FetchResult>> {
    auto meta = store_->stat(hash);
    if (!meta || meta->corrupt) return std::nullopt;
    FetchResult r;
    r.put.hash = hash;
    r.put.meta = *meta;
    r.put.deduplicated = true;
    if (pin && meta->pins == 0) {
      auto pins = store_->pin(hash);
      if (!pins) return Result<FetchResult>(tl::unexpected(pins.error()));
      r.put.meta.pins = *pins;
    }
    return Result<FetchResult>(std::move(r));
  });
  if (local) co_return std::move(*local);

  std::shared_ptr<InFlight> flight;
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    auto& slot = in_flight_[hash];
    if (!slot) {
      slot = std::make_shared<InFlight>();
      first = true;
    }
    flight = slot;
  }
  if (first) {
    auto result = co_await fetch_once(hash, std::move(providers), options);
    {
      std::lock_guard lock(mutex_);
      in_flight_.erase(hash);
    }
    std::lock_guard lock(flight->mu);
    flight->result = result;
    co_return result;
  }
  asio::steady_timer poll(co_await asio::this_coro::executor);
  std::optional<Result<FetchResult>> shared;
  for (auto wait = std::chrono::milliseconds(1);; wait = std::min(wait * 2, std::chrono::milliseconds(50))) {
    {
      std::lock_guard lock(flight->mu);
      shared = flight->result;
    }
    if (shared) break;
    poll.expires_after(wait);
    co_await poll.async_wait(asio::use_awaitable);
  }
  // The other transfer failed: its providers may not be ours, so try ours.
  if (!*shared) co_return co_await fetch_once(hash, std::move(providers), options);
  auto result = std::move(**shared);
  if (pin && result.put.meta.pins == 0) {
    auto pins = co_await run_blocking(*workers_, [&] { return store_->pin(hash); });
    if (!pins) co_return tl::unexpected(pins.error());
    result.put.meta.pins = *pins;
  }
  result.put.deduplicated = true;
  co_return result;
}

asio::awaitable<Result<FetchResult>> Exchange::fetch_once(Hash hash, std::vector<p2p::PeerId> providers,
                                                          FetchOptions options) {
  auto self = shared_from_this();
  const auto started = Clock::now();
  // Not ourselves, not peers caught lying lately, each once.
  std::vector<p2p::PeerId> usable;
  for (auto& p : providers) {
    if (p == host_->id() || avoided(p) || std::find(usable.begin(), usable.end(), p) != usable.end()) continue;
    usable.push_back(p);
  }
  auto f = std::make_shared<Fetch>(co_await asio::this_coro::executor);
  f->hash = hash;
  // The tree, from the first provider that has one that proves out.
  std::optional<Response> header;
  std::optional<p2p::PeerId> first_peer;
  std::vector<p2p::PeerId> rest;  // providers not asked yet, or busy
  std::vector<p2p::PeerId> asking = usable;
  for (int round = 0; !header && !asking.empty(); ++round) {
    if (round > 0) {
      asio::steady_timer pause(co_await asio::this_coro::executor);
      pause.expires_after(busy_pause(round - 1));
      co_await pause.async_wait(asio::use_awaitable);
    }
    std::vector<p2p::PeerId> busy;
    for (size_t i = 0; i < asking.size(); ++i) {
      const auto& peer = asking[i];
      if (header) {
        rest.push_back(peer);
        continue;
      }
      Request request(GetRequest{hash, 0, 0, true});
      auto answer = co_await call(peer, std::move(request), options_.request_timeout);
      if (!answer) {
        f->failures.push_back(fmt::format("{}: {}", peer.to_string(), answer.error().message()));
        metrics_->peer_failure(answer.error().code() == ErrorCode::kProtocol ? "protocol" : "unreachable");
        continue;
      }
      co_await answer->stream->close();
      auto& r = answer->response;
      if (r.code == Code::kBusy && round < kBusyRetries) {
        busy.push_back(peer);
        continue;
      }
      if (r.code != Code::kOk) {
        f->failures.push_back(fmt::format("{}: {}: {}", peer.to_string(), code_name(r.code), r.message));
        metrics_->peer_failure(r.code == Code::kNotFound ? "not_found" : r.code == Code::kBusy ? "busy" : "protocol");
        continue;
      }
      if (!r.tree || root_with_tail(*r.tree, r.tail) != hash) {
        metrics_->verification_failures.Increment();
        metrics_->peer_failure("bad_tree");
        penalise(peer, fmt::format("a piece tree that is not {}'s", hash.hex()));
        f->failures.push_back(fmt::format("{}: its piece tree does not hash to {}", peer.to_string(), hash.hex()));
        continue;
      }
      metrics_->received(r.tail.size());
      f->result.bytes += r.tail.size();
      header = std::move(r);
      first_peer = peer;
    }
    if (header) rest.insert(rest.end(), busy.begin(), busy.end());
    asking = std::move(busy);
  }
  if (!header) {
    metrics_->fetch("not_found");
    if (usable.empty()) {
      co_return make_error(ErrorCode::kNotFound, fmt::format("exchange: no provider to fetch {} from", hash.hex()));
    }
    co_return make_error(ErrorCode::kNotFound, fmt::format("exchange: none of {} providers served {}: {}",
                                                           usable.size(), hash.hex(), fmt::join(f->failures, "; ")));
  }
  const p2p::PeerId first = *first_peer;
  f->size = header->size;
  auto begun = co_await run_blocking(*workers_, [&] {
    return store_->begin_import(hash, std::move(*header->tree), std::move(header->tail));
  });
  if (!begun) {
    metrics_->fetch("failed");
    co_return tl::unexpected(begun.error());
  }
  f->import = std::move(*begun);
  f->pieces = f->import->piece_count();
  if (f->pieces > 0) {
    f->todo.emplace_back(0, f->pieces);
    std::vector<p2p::PeerId> workers{first};
    for (const auto& p : rest) {
      (workers.size() < options_.max_parallel_providers ? workers : f->spare).push_back(p);
    }
    // More providers than the blob has ranges for would only wait.
    size_t useful = static_cast<size_t>((f->pieces + options_.min_range_pieces - 1) / options_.min_range_pieces);
    while (workers.size() > std::max<size_t>(useful, 1)) {
      f->spare.insert(f->spare.begin(), workers.back());
      workers.pop_back();
    }
    auto run = [](std::shared_ptr<Exchange> ex, std::shared_ptr<Fetch> fs,
                  std::vector<p2p::PeerId> peers) -> asio::awaitable<void> {
      fs->running = peers.size();
      for (auto& p : peers) {
        asio::co_spawn(fs->strand, ex->fetch_worker(fs, p), [fs](std::exception_ptr) {
          if (--fs->running == 0) fs->done.cancel();
        });
      }
      auto [ec] = co_await fs->done.async_wait(asio::as_tuple(asio::use_awaitable));
      (void)ec;
    };
    co_await asio::co_spawn(f->strand, run(self, f, std::move(workers)), asio::use_awaitable);
  }
  if (!f->import->complete()) {
    metrics_->fetch("failed");
    auto missing = f->import->missing();
    co_return make_error(ErrorCode::kUnavailable,
                         fmt::format("exchange: fetching {} failed with {} of {} pieces missing: {}", hash.hex(),
                                     missing.size(), f->pieces, fmt::join(f->failures, "; ")));
  }
  const bool pin = options.pin;
  auto finished = co_await run_blocking(*workers_, [&]() -> Result<store::PutResult> {
    BZZZ_ASSIGN_OR_RETURN(auto put, f->import->finish());
    if (pin) BZZZ_TRY(store_->pin(hash));
    return put;
  });
  if (!finished) {
    metrics_->fetch("failed");
    co_return tl::unexpected(finished.error());
  }
  if (f->result.served_by.empty()) f->result.served_by.push_back(first);
  f->result.put = std::move(*finished);
  f->result.dropped = std::move(f->failures);
  metrics_->fetch("ok");
  metrics_->fetch_seconds.Observe(std::chrono::duration<double>(Clock::now() - started).count());
  co_return std::move(f->result);
}

asio::awaitable<bzzz::Status> Exchange::serve_store(p2p::net::Stream& stream, p2p::PeerId from,
                                                    StoreRequest request) {
  StorePolicy policy;
  {
    std::lock_guard lock(mutex_);
    policy = store_policy_;
  }
  // What we hold already (pinned now if asked), and what we agree to fetch.
  std::vector<bool> stored(request.hashes.size(), false);
  std::vector<size_t> wanted;
  bool refused = false;
  co_await run_blocking(*workers_, [&] {
    for (size_t i = 0; i < request.hashes.size(); ++i) {
      const Hash& h = request.hashes[i];
      if (auto meta = store_->stat(h); meta && !meta->corrupt) {
        stored[i] = true;
        if (request.pin && meta->pins == 0) (void)store_->pin(h);
      } else if (!policy || policy(h, request.sizes[i])) {
        wanted.push_back(i);
      } else {
        refused = true;
      }
    }
    return 0;
  });
  auto fetch_all = [](std::shared_ptr<Exchange> self, StoreRequest req, std::vector<size_t> which,
                      p2p::PeerId peer) -> asio::awaitable<std::vector<bool>> {
    std::vector<bool> ok(req.hashes.size(), false);
    for (size_t i : which) {
      std::vector<p2p::PeerId> providers{peer};
      auto got = co_await self->fetch(req.hashes[i], std::move(providers), FetchOptions{req.pin});
      if (got) {
        ok[i] = true;
        StoredHook hook;
        {
          std::lock_guard lock(self->mutex_);
          hook = self->on_stored_;
        }
        if (hook) hook(req.hashes[i]);
      } else {
        spdlog::warn("exchange: could not fetch {} that {} asked us to hold: {}", req.hashes[i].hex(),
                     peer.to_string(), got.error().message());
      }
    }
    co_return ok;
  };
  if (request.wait && !wanted.empty()) {
    auto got = co_await fetch_all(shared_from_this(), request, wanted, from);
    for (size_t i : wanted) stored[i] = got[i];
  } else if (!wanted.empty()) {
    asio::co_spawn(co_await asio::this_coro::executor, fetch_all(shared_from_this(), request, wanted, from),
                   asio::detached);
  }
  Response r;
  if (refused && wanted.empty() && std::none_of(stored.begin(), stored.end(), [](bool b) { return b; })) {
    r.code = Code::kFull;
    r.message = "no room for these blobs here";
    metrics_->refuse(Code::kFull);
  } else {
    r.stored = std::move(stored);
  }
  auto reply = p2p::net::length_prefixed(encode_response(r));
  co_return co_await stream.write(reply);
}

}  // namespace bzzz::exchange
