// The responder: one coroutine per inbound stream, answering requests in order until
// the remote's EOF (then our FIN), a silence of inbound_idle_timeout, or a bad request.
#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "p2p/dht/dht.h"
#include "p2p/dht/dht_internal.h"

namespace bzzz::p2p::dht {

namespace asio = boost::asio;

// Holds the DHT only while handling a request, not while waiting for the next one: a
// peer that keeps a stream open must not keep a stopped DHT (and its store) alive. (A
// stream reset here, by the idle limit or by stop(), wakes its reader only when the
// connection's next frame arrives -- p2p/net dispatches stream events from its read
// loop -- so such a coroutine may linger until then; it holds the stream only.)
asio::awaitable<void> Dht::serve(std::weak_ptr<Dht> weak, std::shared_ptr<net::Stream> s) {
  const PeerId from = s->connection().info().peer;
  // Listed while served, so that stop() can reset streams waiting for a next request.
  struct Listed {
    std::weak_ptr<Dht> dht;
    const net::Stream* key;
    ~Listed() {
      if (auto d = dht.lock()) {
        std::lock_guard lock(d->mutex_);
        d->serving_.erase(key);
      }
    }
  };
  size_t max_message = 0;
  std::chrono::milliseconds idle_limit{0};
  {
    auto self = weak.lock();
    if (!self || self->stopped_) {
      s->reset();
      co_return;
    }
    std::lock_guard lock(self->mutex_);
    self->serving_[s.get()] = s;
    max_message = self->options_.max_message_bytes;
    idle_limit = self->options_.inbound_idle_timeout;
  }
  Listed listed{weak, s.get()};
  for (;;) {
    auto idle = s->reset_after(idle_limit);
    auto frame = co_await net::read_length_prefixed(*s, max_message);
    idle.cancel();
    auto self = weak.lock();
    if (!self || self->stopped_) {
      s->reset();
      co_return;
    }
    auto reject = [&](std::string_view reason, std::string_view detail) {
      self->metrics_->error(reason);
      spdlog::debug("dht: request from {} rejected ({}): {}", from.to_string(), reason, detail);
      s->reset();
    };
    if (!frame) {
      if (frame.error().code() == ErrorCode::kTooLarge) {
        reject("too_large", frame.error().message());
      } else {
        s->reset();  // the remote reset, went silent, or broke the framing
      }
      co_return;
    }
    if (!*frame) {  // the remote is done: our FIN after theirs
      self.reset();
      co_await s->close();
      co_return;
    }
    auto request = decode(**frame);
    if (!request) {
      reject("malformed", request.error().message());
      co_return;
    }
    if (!is_known(request->type)) {
      reject("unknown_type", fmt::format("message type {}", static_cast<int32_t>(request->type)));
      co_return;
    }
    self->metrics_->request(request->type, true);
    auto answer = self->handle(from, std::move(*request));
    if (!answer) {
      reject(answer.error().reason, "");
      co_return;
    }
    self.reset();
    if (!*answer) continue;
    auto out = net::length_prefixed(encode(**answer));
    std::span<const uint8_t> out_span(out);
    auto st = co_await s->write(out_span);
    if (!st) {
      s->reset();
      co_return;
    }
  }
}

PeerInfo Dht::self_info() const { return PeerInfo{host_->id(), host_->announced_addrs(), true}; }

std::vector<PeerInfo> Dht::closer_peers(const KadId& target, const PeerId& exclude) const {
  std::vector<PeerInfo> out;
  for (auto& id : rt_.closest(target, options_.k + 1)) {
    if (id == exclude) continue;
    auto addrs = host_->peer_store().addrs(id);
    if (addrs.empty()) continue;  // useless to the asker (js drops such entries too)
    // (ConnectionType stays NOT_CONNECTED: advisory, and a lookup per peer per answer.)
    out.push_back(PeerInfo{std::move(id), std::move(addrs), false});
    if (out.size() == options_.k) break;
  }
  return out;
}

Dht::Answer Dht::handle(const PeerId& from, Message req) {
  auto store = this->store();
  if (!store) return tl::unexpected(Rejection{"stopped"});
  const auto now = Clock::now();
  auto bad_key = [&] { return tl::unexpected(Rejection{"bad_key"}); };
  switch (req.type) {
    case MessageType::kPing:
      return Message{MessageType::kPing, {}, {}, {}, {}, 0};

    case MessageType::kFindNode: {
      if (req.key.empty()) return bad_key();
      Message r;
      r.type = MessageType::kFindNode;
      r.closer = closer_peers(kad_id(req.key), from);
      if (req.key == host_->id().bytes()) r.closer.push_back(self_info());
      return r;
    }

    case MessageType::kGetValue: {
      if (req.key.empty()) return bad_key();
      Message r;
      r.type = MessageType::kGetValue;
      r.key = req.key;
      std::string key = to_string(req.key);
      if (auto rec = store->get_record(key, now)) {
        r.record = Record{req.key, std::move(rec->value), rfc3339(rec->received)};
      } else if (key == pk_key(host_->id())) {
        r.record = Record{req.key, host_->public_key().encode(), rfc3339(now)};
      }
      r.closer = closer_peers(kad_id(req.key), from);
      return r;
    }

    case MessageType::kPutValue: {
      if (req.key.empty()) return bad_key();
      if (!req.record || req.record->key != req.key) return tl::unexpected(Rejection{"bad_record"});
      std::string key = to_string(req.key);
      auto valid = validators_.validate(key, req.record->value);
      if (!valid) {
        spdlog::debug("dht: PUT_VALUE from {}: {}", from.to_string(), valid.error().message());
        return tl::unexpected(Rejection{"invalid_record"});
      }
      auto old = store->get_record(key, now);
      bool own = false;
      if (old && old->value != req.record->value) {
        std::vector<Bytes> both{req.record->value, old->value};
        auto best = validators_.select(key, both);
        if (best && *best != 0) return tl::unexpected(Rejection{"outdated_record"});
      } else if (old) {
        own = old->own;  // the same value: still ours to republish
      }
      auto st = store->put_record(key, StoredRecord{req.record->value, now, own});
      if (!st) {
        spdlog::warn("dht: storing a record: {}", st.error().message());
        return tl::unexpected(Rejection{"store"});
      }
      metrics_->records.Set(static_cast<double>(store->record_count()));
      return std::optional<Message>(std::move(req));  // the echo
    }

    case MessageType::kAddProvider: {
      if (req.key.empty() || req.key.size() > options_.max_provider_key_bytes) return bad_key();
      for (auto& p : req.providers) {
        if (p.id != from) {
          metrics_->error("provider_not_sender");  // ignored, as go and js do
          continue;
        }
        if (p.addrs.empty()) {
          metrics_->error("provider_without_addrs");
          continue;
        }
        host_->peer_store().add_addrs(from, p.addrs);
        auto st = store->add_provider(req.key, ProviderEntry{from, p.addrs, now, false});
        if (!st) {
          spdlog::warn("dht: storing a provider entry: {}", st.error().message());
          return tl::unexpected(Rejection{"store"});
        }
      }
      metrics_->providers.Set(static_cast<double>(store->provider_count()));
      return std::optional<Message>();
    }

    case MessageType::kGetProviders: {
      if (req.key.empty() || req.key.size() > options_.max_provider_key_bytes) return bad_key();
      Message r;
      r.type = MessageType::kGetProviders;
      r.key = req.key;
      for (auto& e : store->providers(req.key, now, options_.k)) {
        if (e.peer == host_->id()) {
          r.providers.push_back(self_info());
          continue;
        }
        auto addrs = e.addrs.empty() ? host_->peer_store().addrs(e.peer) : e.addrs;
        if (addrs.empty()) continue;
        bool connected = host_->connection(e.peer) != nullptr;
        r.providers.push_back(PeerInfo{e.peer, std::move(addrs), connected});
      }
      r.closer = closer_peers(kad_id(req.key), from);
      return r;
    }
  }
  return tl::unexpected(Rejection{"unknown_type"});
}

}  // namespace bzzz::p2p::dht
