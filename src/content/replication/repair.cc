// The repair round: who is live, what each pinned blob here needs, the pushes that
// give it, and the surplus pins given up.
#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/async/blocking.h"
#include "base/async/parallel.h"
#include "content/exchange/wire.h"
#include "content/replication/placement.h"
#include "content/replication/replication_internal.h"
#include "content/replication/replicator.h"
#include "p2p/net/connection.h"

namespace bzzz::replication {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

bool speaks_blobs(const p2p::PeerRecord& r) {
  return std::find(r.protocols.begin(), r.protocols.end(), exchange::kProtocol) != r.protocols.end();
}

}  // namespace

std::vector<p2p::PeerId> Replicator::live_peers() const {
  std::vector<p2p::PeerId> out;
  for (const auto& r : host_->peer_store().all()) {
    if (r.id == host_->id() || r.connections == 0 || !r.identified || !speaks_blobs(r)) continue;
    out.push_back(r.id);
  }
  return out;
}

asio::awaitable<void> Replicator::dial_known_peers() {
  // Known blob peers (or peers not identified yet) we are not connected to, unless a
  // dial failed lately.
  std::vector<p2p::PeerId> targets;
  const auto now = Clock::now();
  {
    std::lock_guard lock(mutex_);
    for (const auto& r : host_->peer_store().all()) {
      if (r.id == host_->id() || r.connections > 0 || r.addrs.empty()) continue;
      if (r.identified && !speaks_blobs(r)) continue;
      if (auto it = unreachable_.find(r.id); it != unreachable_.end() && it->second > now) continue;
      targets.push_back(r.id);
      if (targets.size() >= options_.max_dials_per_round) break;
    }
  }
  if (targets.empty()) co_return;
  std::vector<Task> tasks;
  for (const auto& peer : targets) {
    tasks.push_back([this, peer]() -> asio::awaitable<void> {
      asio::steady_timer deadline(co_await asio::this_coro::executor);
      auto conn = co_await host_->connect(peer);
      if (!conn) {
        std::lock_guard lock(mutex_);
        unreachable_[peer] = Clock::now() + options_.unreachable_backoff;
        co_return;
      }
      // Identify runs on its own after a connection; wait for it briefly, so this
      // round already counts the peer.
      for (int i = 0; i < 50; ++i) {
        auto rec = host_->peer_store().get(peer);
        if (rec && rec->identified) break;
        deadline.expires_after(std::chrono::milliseconds(20));
        co_await deadline.async_wait(asio::use_awaitable);
      }
    });
  }
  co_await run_parallel(std::move(tasks), 16);
}

asio::awaitable<RoundReport> Replicator::round() {
  RoundReport report;
  report.started = std::chrono::system_clock::now();
  const auto started = Clock::now();
  auto finish = [&] {
    report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    metrics_->live.Set(static_cast<double>(report.live_nodes));
  };
  co_await dial_known_peers();
  const auto self = host_->id();
  auto live = live_peers();
  report.live_nodes = live.size() + 1;

  // The pinned blobs here, with their sizes.
  auto listed = co_await run_blocking(*workers_, [&]() -> Result<std::vector<Pinned>> {
    refresh_used();
    BZZZ_ASSIGN_OR_RETURN(auto pins, store_->pins());
    std::vector<Pinned> out;
    out.reserve(pins.size());
    for (const auto& p : pins) {
      auto meta = store_->stat(p.hash);
      if (!meta || meta->corrupt) continue;  // the scrub deals with damaged ones
      out.push_back({p.hash, meta->size});
    }
    return out;
  });
  if (!listed) {
    spdlog::warn("replication: cannot list the pinned blobs: {}", listed.error().message());
    ++report.failed;
    finish();
    co_return report;
  }
  const auto& blobs = *listed;
  report.blobs = blobs.size();
  uint64_t pinned_bytes = 0;
  for (const auto& b : blobs) pinned_bytes += b.size;

  // Whom to ask about what: the closest live peers of each blob, a few beyond `factor`
  // in case some are full.
  std::vector<p2p::PeerId> everyone = live;
  everyone.push_back(self);
  std::vector<std::vector<p2p::PeerId>> ranked(blobs.size());
  std::map<p2p::PeerId, std::vector<size_t>> ask;
  const size_t probe = options_.factor + options_.probe_extra;
  for (size_t i = 0; i < blobs.size(); ++i) {
    ranked[i] = rank(blobs[i].hash, everyone);
    size_t asked = 0;
    for (const auto& p : ranked[i]) {
      if (p == self) continue;
      if (asked++ >= probe) break;
      ask[p].push_back(i);
    }
  }
  // HAVE, one batch per peer, all peers at once.
  struct Answer {
    bool ok = false;
    bool full = false;
    std::map<size_t, bool> pinned;  // blob index -> pinned there (absent: not held)
  };
  std::map<p2p::PeerId, Answer> answers;
  for (auto& [peer, which] : ask) answers[peer];
  {
    std::vector<Task> tasks;
    for (auto& [peer, which] : ask) {
      tasks.push_back([this, &blobs, &answers, peer = peer, which = which]() -> asio::awaitable<void> {
        std::vector<Hash> hashes;
        hashes.reserve(which.size());
        for (size_t i : which) hashes.push_back(blobs[i].hash);
        auto answer = co_await exchange_->have_detail(peer, std::move(hashes));
        auto& a = answers[peer];
        if (!answer) {
          spdlog::debug("replication: {} did not answer HAVE: {}", peer.to_string(), answer.error().message());
          co_return;
        }
        a.ok = true;
        a.full = answer->full;
        note_full(peer, answer->full);
        for (size_t k = 0; k < which.size(); ++k) {
          if (answer->sizes[k]) a.pinned[which[k]] = answer->pinned[k];
        }
      });
    }
    co_await run_parallel(std::move(tasks), 16);
  }
  for (auto& [peer, a] : answers) {
    if (!a.ok) ++report.failed;
  }

  // Decide, blob by blob.
  const bool self_full = full();
  std::map<p2p::PeerId, std::vector<Pinned>> pushes;
  std::vector<Hash> drops;
  std::set<Hash> under;
  for (size_t i = 0; i < blobs.size(); ++i) {
    std::vector<p2p::PeerId> responsible_nodes;
    std::vector<p2p::PeerId> holders;  // pinned copies on live nodes, closest first
    for (const auto& p : ranked[i]) {
      bool holds;
      bool eligible;
      if (p == self) {
        holds = true;
        eligible = !self_full;
      } else {
        auto it = answers.find(p);
        if (it == answers.end() || !it->second.ok) continue;  // not asked, or not answering
        auto h = it->second.pinned.find(i);
        holds = h != it->second.pinned.end() && h->second;
        eligible = !it->second.full;
      }
      if (holds) holders.push_back(p);
      if (eligible && responsible_nodes.size() < options_.factor) responsible_nodes.push_back(p);
    }
    auto in = [](const std::vector<p2p::PeerId>& v, const p2p::PeerId& p) {
      return std::find(v.begin(), v.end(), p) != v.end();
    };
    size_t confirmed = 0;  // responsible nodes holding it
    std::optional<p2p::PeerId> pusher;
    for (const auto& p : responsible_nodes) {
      if (!in(holders, p)) continue;
      ++confirmed;
      if (!pusher) pusher = p;  // the closest responsible holder
    }
    if (holders.size() < options_.factor) under.insert(blobs[i].hash);
    const bool here_responsible = in(responsible_nodes, self);
    // A surplus copy pushes only when no responsible node has it yet.
    const bool push_from_here = here_responsible ? pusher == self : confirmed == 0;
    if (push_from_here) {
      for (const auto& p : responsible_nodes) {
        if (p != self && !in(holders, p)) pushes[p].push_back(blobs[i]);
      }
    }
    if (!here_responsible && confirmed >= options_.factor) drops.push_back(blobs[i].hash);
  }

  // Pushes, batched per peer.
  std::vector<Push> batches;
  for (auto& [peer, list] : pushes) {
    for (size_t at = 0; at < list.size(); at += options_.store_batch) {
      Push p;
      p.peer = peer;
      p.blobs.assign(list.begin() + static_cast<ptrdiff_t>(at),
                     list.begin() + static_cast<ptrdiff_t>(std::min(list.size(), at + options_.store_batch)));
      batches.push_back(std::move(p));
    }
  }
  if (!batches.empty()) co_await push(std::move(batches), report);

  // Surplus pins, given up once the responsible nodes hold theirs.
  if (!drops.empty()) {
    auto dropped = co_await run_blocking(*workers_, [&] {
      size_t n = 0;
      for (const auto& h : drops) {
        for (;;) {
          auto left = store_->unpin(h);
          if (!left) break;  // not pinned (any more)
          if (*left == 0) {
            ++n;
            break;
          }
        }
      }
      return n;
    });
    report.dropped = dropped;
    metrics_->dropped.Increment(static_cast<double>(dropped));
    if (dropped > 0) spdlog::info("replication: gave up {} surplus pins (their responsible nodes hold them)", dropped);
  }
  for (const auto& h : drops) under.erase(h);
  report.under_replicated = under.size();
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    std::map<Hash, Clock::time_point> next;
    for (const auto& h : under) {
      auto it = under_since_.find(h);
      next[h] = it == under_since_.end() ? now : it->second;
    }
    under_since_ = std::move(next);
    pinned_count_ = blobs.size() - report.dropped;
    pinned_bytes_ = pinned_bytes;
    live_nodes_ = report.live_nodes;
  }
  metrics_->pinned.Set(static_cast<double>(blobs.size() - report.dropped));
  metrics_->under.Set(static_cast<double>(under.size()));
  finish();
  if (report.pushed > 0 || report.dropped > 0 || report.failed > 0) {
    spdlog::info("replication: round over {} pinned blobs on {} live nodes: pushed {} ({} confirmed), dropped {}, "
                 "{} under-replicated, {} failures, {:.2f} s",
                 report.blobs, report.live_nodes, report.pushed, report.confirmed, report.dropped,
                 report.under_replicated, report.failed, report.seconds);
  }
  co_return report;
}

asio::awaitable<size_t> Replicator::push(std::vector<Push> pushes, RoundReport& report) {
  size_t total = 0;
  for (const auto& p : pushes) total += p.blobs.size();
  {
    std::lock_guard lock(mutex_);
    queue_ += total;
    metrics_->queue.Set(static_cast<double>(queue_));
  }
  report.pushed += total;
  std::vector<Task> tasks;
  for (auto& p : pushes) {
    tasks.push_back([this, &report, p = std::move(p)]() -> asio::awaitable<void> {
      std::vector<Hash> hashes;
      std::vector<uint64_t> sizes;
      for (const auto& b : p.blobs) {
        hashes.push_back(b.hash);
        sizes.push_back(b.size);
      }
      auto stored = co_await store_on(p.peer, std::move(hashes), std::move(sizes));
      size_t ok = 0;
      if (stored) {
        for (bool s : *stored) ok += s ? 1 : 0;
      } else if (stored.error().code() == ErrorCode::kNoSpace) {
        note_full(p.peer, true);
      }
      if (!stored) {
        spdlog::warn("replication: {} did not take {} blobs: {}", p.peer.to_string(), p.blobs.size(),
                     stored.error().message());
      }
      report.confirmed += ok;
      report.failed += p.blobs.size() - ok;
      metrics_->push("ok", ok);
      if (p.blobs.size() > ok) {
        metrics_->push(!stored && stored.error().code() == ErrorCode::kNoSpace ? "full" : "failed",
                       p.blobs.size() - ok);
      }
      std::lock_guard lock(mutex_);
      queue_ -= p.blobs.size();
      metrics_->queue.Set(static_cast<double>(queue_));
    });
  }
  co_await run_parallel(std::move(tasks), options_.max_pushes);
  co_return total;
}

}  // namespace bzzz::replication
