#include "services/api/store_api.h"

#include <charconv>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/http/verb.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/config/value_parse.h"
#include "services/api/json.h"
#include "services/api/range.h"
#include "services/api/store_metrics.h"
#include "base/async/blocking.h"
#include "services/http/exchange.h"

namespace bzzz::api {

namespace asio = boost::asio;
using boost::beast::http::verb;
using http::Exchange;
using bzzz::run_blocking;
using http::Status_;

namespace {

constexpr size_t kUploadPiece = 1u << 20;
constexpr size_t kSmallBody = 64 * 1024;  // read whole, then one store call
constexpr uint64_t kInMemoryGet = 4u << 20; // packed or compressed blobs up to this are read whole

class VectorSink final : public store::ByteSink {
 public:
  Status write(std::span<const uint8_t> d) override {
    data.insert(data.end(), d.begin(), d.end());
    return ok();
  }
  std::vector<uint8_t> data;
};

asio::awaitable<std::optional<Hash>> hash_param(Exchange& ex) {
  auto hash = Hash::parse(ex.param("hash"));
  if (hash) co_return *hash;
  co_await ex.send_error(Status_::bad_request, "bad_hash", hash.error().message());
  co_return std::nullopt;
}

std::string etag_of(const Hash& hash) { return fmt::format("\"{}\"", hash.hex()); }

bool etag_matches(std::string_view if_none_match, const Hash& hash) {
  if (if_none_match.empty()) return false;
  if (if_none_match == "*") return true;
  std::string tag = etag_of(hash);
  // A list of tags, weak or strong: content-addressed bytes never change, so any match counts.
  size_t pos = 0;
  while (pos < if_none_match.size()) {
    size_t comma = if_none_match.find(',', pos);
    std::string_view item = if_none_match.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);
    if (item == tag) return true;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return false;
}

// Hands verified bytes from the store (on a worker thread) to the connection (on its
// strand), one piece at a time; the header goes out with the first piece, so a blob
// that fails verification is still answered with a proper error.
class ConnectionSink final : public store::ByteSink {
 public:
  ConnectionSink(Exchange& ex, asio::any_io_executor strand, Status_ status, uint64_t length,
                 Exchange::Header header)
      : ex_(ex), strand_(std::move(strand)), status_(status), length_(length), header_(std::move(header)) {}

  Status write(std::span<const uint8_t> data) override {
    return asio::co_spawn(strand_, send(data), asio::use_future).get();
  }
  asio::awaitable<Status> send(std::span<const uint8_t> data) {
    if (!started_) {
      started_ = true;
      Status sent = co_await ex_.send_header(status_, length_, "application/octet-stream", header_);
      if (!sent) co_return sent;
    }
    co_return co_await ex_.send_piece(data);
  }
  bool started() const { return started_; }

 private:
  Exchange& ex_;
  asio::any_io_executor strand_;
  Status_ status_;
  uint64_t length_;
  Exchange::Header header_;
  bool started_ = false;
};

int64_t unix_ns(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

double seconds_of(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// GET /v1/routing
nlohmann::json routing_json(const routing::RouterStats& s, const routing::RouterOptions& o) {
  return {{"announcing", s.announcing},
          {"queued", s.queued},
          {"in_flight", s.in_flight},
          {"provided", s.provided},
          {"unsent", s.unsent},
          {"failed", s.failed},
          {"reprovide_interval_seconds", seconds_of(o.reprovide_interval)},
          {"reprovide",
           {{"rounds", s.rounds},
            {"running", s.round_running},
            {"blobs", s.round_blobs},
            {"provided", s.round_provided},
            {"started", s.round_started ? nlohmann::json(iso_time(unix_ns(*s.round_started))) : nlohmann::json()},
            {"seconds", seconds_of(s.round_duration)}}}};
}

}  // namespace

StoreApi::StoreApi(store::Store& store, asio::thread_pool& workers, prometheus::Registry* metrics,
                   routing::ContentRouter* router)
    : store_(store), workers_(workers), router_(router) {
  if (metrics != nullptr) metrics_ = std::make_shared<StoreMetrics>(*metrics, store);
}

StoreApi::~StoreApi() = default;

asio::awaitable<Status> StoreApi::send_piecewise(Exchange& ex, const Hash& hash,
                                                 const store::Store::VerifiedFile& vf, ByteRange range,
                                                 Status_ status, const Exchange::Header& header) {
  using namespace asio::experimental::awaitable_operators;
  const PieceTree& tree = *vf.tree;
  const int fd = vf.file.fd();
  const size_t tail = tree.cvs.size();  // the tail is the piece after the full ones
  auto piece_begin = [&](size_t i) { return uint64_t{i} * kPieceBytes; };
  auto piece_end = [&](size_t i) { return i < tail ? piece_begin(i + 1) : tree.size; };
  auto piece_of = [&](uint64_t offset) { return std::min<size_t>(offset / kPieceBytes, tail); };
  std::vector<uint8_t> buf(kPieceBytes);
  // On a worker: read piece i and check it against the tree (the tail: against the hash).
  auto check = [&](size_t i) -> Status {
    size_t len = static_cast<size_t>(piece_end(i) - piece_begin(i));
    BZZZ_TRY(vf.file.pread_exact({buf.data(), len}, piece_begin(i)));
    std::span<const uint8_t> bytes(buf.data(), len);
    bool good = i < tail ? piece_matches(tree, i, bytes) : root_with_tail(tree, bytes) == hash;
    if (good) return ok();
    store_.forget_tree(hash);
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("blob {} is corrupt: bytes {}-{} fail their check; not served",
                                  hash.hex(), piece_begin(i), piece_end(i)));
  };
  if (range.length == 0) co_return co_await ex.send_header(status, 0, "application/octet-stream", header);
  size_t first = piece_of(range.offset), last = piece_of(range.offset + range.length - 1);
  Status checked = co_await run_blocking(workers_, [&] { return check(first); });
  if (!checked) {
    // Nothing sent yet: hash the whole file the usual way, which flags the blob as
    // corrupt and gives the answer.
    auto full = co_await run_blocking(workers_, [&] { return store_.open_verified_file(hash); });
    co_await ex.send_error(full ? checked.error() : full.error());
    co_return checked;
  }
  Status started = co_await ex.send_header(status, range.length, "application/octet-stream", header);
  if (!started) co_return started;
  for (size_t i = first; i <= last; ++i) {
    uint64_t from = std::max(range.offset, piece_begin(i));
    uint64_t to = std::min(range.offset + range.length, piece_end(i));
    if (i == last) co_return co_await ex.send_file(fd, from, to - from);
    // Send this piece (checked) while the next one is read and checked.
    auto [sent, next] = co_await (ex.send_file(fd, from, to - from) &&
                                  run_blocking(workers_, [&check, j = i + 1] { return check(j); }));
    if (!sent) co_return sent;
    if (!next) {
      ex.close_after();  // the header went out: a cut connection is the only way to say it
      co_return next;
    }
  }
  co_return ok();
}

void StoreApi::decide(Fetch& f, const Hash& hash, const store::BlobMeta& meta,
                      const std::string& if_none_match, const std::string& range_text) {
  f.meta = meta;
  f.range = {0, meta.size};
  if (etag_matches(if_none_match, hash)) {
    f.not_modified = true;
    return;
  }
  if (range_text.empty()) return;
  auto parsed = parse_range(range_text, meta.size);
  if (!parsed) {
    f.range_error = parsed.error().message();
    return;
  }
  f.range = *parsed;
  f.partial = true;
}

Result<StoreApi::Fetch> StoreApi::fetch(const Hash& hash, const std::string& if_none_match,
                                        const std::string& range_text, bool head) {
  Fetch f;
  BZZZ_ASSIGN_OR_RETURN(auto meta, store_.stat(hash));
  decide(f, hash, meta, if_none_match, range_text);
  if (head || f.not_modified || !f.range_error.empty()) return f;
  if (f.meta.location == store::Location::kFile && f.meta.codec == store::Codec::kRaw) {
    // Read before: its piece tree lets each piece be checked as it goes out. Else the
    // whole file is hashed now (which also remembers the tree for next time).
    BZZZ_ASSIGN_OR_RETURN(f.file, store_.open_piecewise(hash));
    if (!f.file) {
      BZZZ_ASSIGN_OR_RETURN(f.file, store_.open_verified_file(hash));
    }
    if (f.file) return f;
  }
  if (f.meta.size <= kInMemoryGet) {
    VectorSink sink;
    BZZZ_TRY(store_.read_to(hash, sink));
    if (sink.data.size() != f.meta.size) {
      return make_error(ErrorCode::kInternal, fmt::format("blob {} changed size while read", hash.hex()));
    }
    f.bytes.assign(reinterpret_cast<const char*>(sink.data.data()) + f.range.offset, f.range.length);
    f.in_memory = true;
  }
  return f;
}

asio::awaitable<void> StoreApi::head_remote(Exchange& ex, Hash hash, std::string range_text) {
  auto found = co_await router_->find(hash, 1, true);
  if (!found) co_return co_await ex.send_error(found.error());
  if (found->providers.empty() || !found->size) {
    co_return co_await ex.send_error(
        Status_::not_found, error_code_name(ErrorCode::kNotFound),
        fmt::format("blob {} is not in this node's store and no peer holds it (asked {} peers{}; HEAD does "
                    "not fetch)",
                    hash.hex(), found->asked, found->dht ? " and the DHT" : ""));
  }
  Fetch f;
  store::BlobMeta meta;
  meta.size = *found->size;
  decide(f, hash, meta, "", range_text);
  Exchange::Header header;
  header.emplace_back("X-Bzzz-Remote", "1");  // held by peers, not here: a GET fetches it
  header.emplace_back("ETag", etag_of(hash));
  header.emplace_back("Accept-Ranges", "bytes");
  if (!f.range_error.empty()) {
    header.emplace_back("Content-Range", fmt::format("bytes */{}", meta.size));
    co_return co_await ex.send_error(Status_::range_not_satisfiable, "bad_range", f.range_error, header);
  }
  if (f.partial) {
    header.emplace_back("Content-Range", fmt::format("bytes {}-{}/{}", f.range.offset,
                                                     f.range.offset + f.range.length - 1, meta.size));
  }
  (void)co_await ex.send_header(f.partial ? Status_::partial_content : Status_::ok, f.range.length,
                                "application/octet-stream", header);
}

asio::awaitable<void> StoreApi::fetch_route(Exchange& ex) {
  auto hash = co_await hash_param(ex);
  if (!hash) co_return;
  bool pin = false;
  if (auto p = ex.query("pin")) {
    auto b = config::parse_bool(p->empty() ? "true" : *p);
    if (!b) co_return co_await ex.send_error(Status_::bad_request, "bad_pin", "pin: " + b.error().message());
    pin = *b;
  }
  const auto started = std::chrono::steady_clock::now();
  nlohmann::json served_by = nlohmann::json::array();
  nlohmann::json dropped = nlohmann::json::array();
  uint64_t bytes = 0;
  bool fetched = false;
  // Held already (and sound): no transfer; the pin is applied.
  auto local = co_await run_blocking(workers_, [&]() -> Result<store::BlobMeta> {
    BZZZ_ASSIGN_OR_RETURN(auto meta, store_.stat(*hash));
    if (meta.corrupt) return make_error(ErrorCode::kNotFound, "corrupt here: fetch a sound copy");
    if (pin) {
      BZZZ_ASSIGN_OR_RETURN(meta.pins, store_.pin(*hash));
    }
    return meta;
  });
  if (!local && local.error().code() != ErrorCode::kNotFound) co_return co_await ex.send_error(local.error());
  if (!local) {
    if (!router_) {
      co_return co_await ex.send_error(
          Status_::not_found, error_code_name(ErrorCode::kNotFound),
          fmt::format("blob {} is not in this node's store, and this node fetches from no one (no p2p layer)",
                      hash->hex()));
    }
    exchange::FetchOptions options;
    options.pin = pin;
    auto got = co_await router_->fetch(*hash, options);
    if (!got) co_return co_await ex.send_error(got.error());
    fetched = true;
    bytes = got->bytes;
    for (const auto& p : got->served_by) served_by.push_back(p.to_string());
    for (const auto& d : got->dropped) dropped.push_back(d);
    local = co_await run_blocking(workers_, [&] { return store_.stat(*hash); });
    if (!local) co_return co_await ex.send_error(local.error());
  } else if (pin && router_) {
    router_->announce(*hash);
  }
  nlohmann::json doc = {{"hash", hash->hex()},
                        {"size", local->size},
                        {"fetched", fetched},
                        {"pins", local->pins},
                        {"served_by", std::move(served_by)},
                        {"bytes", bytes},
                        {"seconds", seconds_of(std::chrono::steady_clock::now() - started)},
                        {"dropped", std::move(dropped)}};
  co_await ex.send_json(Status_::ok, doc);
}

std::shared_ptr<prometheus::Collectable> StoreApi::collectable() const {
  return metrics_ ? metrics_->gauges : nullptr;
}

void StoreApi::add_routes(http::Router& router) {
  auto count = [m = metrics_](const std::string& op, bool ok) {
    if (m) m->count(op, ok);
  };

  // POST /v1/blobs: the body, streamed into the store; 201 once durable.
  // ?pin=1 pins it (a replica: pushed to the responsible nodes in the background);
  // ?replicas=N pins it and answers once N copies (this one included) are durable.
  router.add(verb::post, "/v1/blobs", [this, count](Exchange& ex) -> asio::awaitable<void> {
    if (!ex.chunked() && !ex.content_length()) {
      co_await ex.send_error(Status_::length_required, "length_required",
                             "POST /v1/blobs needs a Content-Length or a chunked body");
      co_return;
    }
    // The query is checked before the body is read: a bad one costs no upload.
    bool pin = false;
    size_t replicas = 0;
    if (auto p = ex.query("pin")) {
      auto b = config::parse_bool(p->empty() ? "true" : *p);
      if (!b) co_return co_await ex.send_error(Status_::bad_request, "bad_pin", "pin: " + b.error().message());
      pin = *b;
    }
    if (auto r = ex.query("replicas")) {
      const size_t factor = replicator_ ? replicator_->options().factor : 1;
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(r->data(), r->data() + r->size(), n);
      if (ec != std::errc() || end != r->data() + r->size() || n == 0 || n > factor) {
        co_return co_await ex.send_error(
            Status_::bad_request, "bad_replicas",
            fmt::format("replicas={} is not a number of copies from 1 to replication.factor ({})", bzzz::quoted(*r),
                        factor));
      }
      replicas = static_cast<size_t>(n);
      pin = true;
    }
    if (pin && !replicator_) {
      co_return co_await ex.send_error(Status_::service_unavailable, "replication_off",
                                       "this node runs without replication (replication.enabled is false): "
                                       "pin or replicas cannot be asked of a put");
    }
    Result<store::PutResult> put = make_error(ErrorCode::kInternal, "no upload");
    uint64_t length = ex.content_length().value_or(UINT64_MAX);
    if (length <= kSmallBody) {
      auto body = co_await ex.read_all(kSmallBody);
      if (!body) {
        count("put", false);
        co_await ex.send_error(body.error());
        co_return;
      }
      put = co_await run_blocking(workers_, [&] {
        return store_.put(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(body->data()), body->size()));
      });
    } else {
      auto upload = store_.begin_put();
      std::vector<uint8_t> piece(std::min<uint64_t>(length, kUploadPiece));
      Status status = ok();
      for (;;) {
        auto n = co_await ex.read_some(piece);
        if (!n) {
          status = fail(n.error());
          break;
        }
        if (*n == 0) break;
        status = co_await run_blocking(workers_, [&] { return upload->write({piece.data(), *n}); });
        if (!status) break;
      }
      if (status) {
        put = co_await run_blocking(workers_, [&] { return upload->finish(); });
      } else {
        put = fail(status.error());
      }
      // Dropping an unfinished upload removes its temp files: disk work, off the loop.
      co_await run_blocking(workers_, [&] {
        upload.reset();
        return 0;
      });
    }
    count("put", put.has_value());
    if (!put) {
      co_await ex.send_error(put.error());
      co_return;
    }
    if (metrics_) {
      metrics_->put_bytes.Increment(static_cast<double>(put->meta.size));
      if (put->deduplicated) metrics_->deduplicated.Increment();
    }
    if (router_) router_->announce(put->hash);
    Exchange::Header header;
    header.emplace_back("Location", "/v1/blobs/" + put->hash.hex());
    header.emplace_back("ETag", etag_of(put->hash));
    auto doc = put_json(*put);
    if (pin) {
      const Hash h = put->hash;
      auto pins = co_await run_blocking(workers_, [&] { return store_.pin(h); });
      if (!pins) co_return co_await ex.send_error(pins.error());
      doc["pins"] = *pins;
      auto held = co_await replicator_->replicate(h, put->meta.size, replicas);
      if (!held) co_return co_await ex.send_error(held.error());  // stored and pinned here; the message says so
      nlohmann::json ids = nlohmann::json::array();
      for (const auto& p : *held) ids.push_back(p.to_string());
      doc["replicas"] = std::move(ids);
    }
    co_await ex.send_json(Status_::created, doc, header);
  });

  // GET (and HEAD) /v1/blobs/{hash}: verified bytes, with Range and ETag. One trip to
  // the worker pool decides everything and, for all but large compressed blobs, also
  // fetches what is sent: verified bytes in memory, or a verified raw file for sendfile.
  // A blob not held here is fetched from the mesh first (not with ?local=1, not for HEAD);
  // so is one whose copy here is found damaged before a byte is sent.
  router.add(verb::get, "/v1/blobs/{hash}", [this, count](Exchange& ex) -> asio::awaitable<void> {
    auto hash = co_await hash_param(ex);
    if (!hash) co_return;
    std::string if_none_match(ex.header(boost::beast::http::field::if_none_match));
    std::string range_text(ex.header(boost::beast::http::field::range));
    bool head = ex.is_head();
    Result<Fetch> fetched = Fetch{};
    if (auto hit = store_.cached(*hash)) {
      // Hot and small: answered from memory without leaving the event loop.
      decide(*fetched, *hash, hit->meta, if_none_match, range_text);
      if (!fetched->not_modified && fetched->range_error.empty() && !head) {
        fetched->bytes.assign(hit->bytes->data() + fetched->range.offset, fetched->range.length);
        fetched->in_memory = true;
      }
    } else {
      fetched = co_await run_blocking(workers_, [&]() -> Result<Fetch> {
        return fetch(*hash, if_none_match, range_text, head);
      });
    }
    bool from_mesh = false;
    auto local = ex.query("local");
    const bool local_only = local && config::parse_bool(local->empty() ? "1" : *local).value_or(false);
    if (!fetched && fetched.error().code() == ErrorCode::kCorrupt && router_ && !local_only && !head) {
      // The copy here is damaged (and now flagged so): a sound one from a peer replaces
      // it, keeping its pins, and is served.
      spdlog::warn("api: the local copy of {} is damaged; fetching it again from peers", hash->hex());
      exchange::FetchOptions keep;
      auto got = co_await router_->fetch(*hash, keep);
      if (got) {
        from_mesh = true;
        fetched = co_await run_blocking(workers_, [&]() -> Result<Fetch> {
          return fetch(*hash, if_none_match, range_text, head);
        });
      } else {
        spdlog::warn("api: could not repair {} from peers: {}", hash->hex(), got.error().message());
      }
    }
    if (!fetched && fetched.error().code() == ErrorCode::kNotFound) {
      if (local_only) {
        count("get", false);
        co_return co_await ex.send_error(
            Status_::not_found, error_code_name(ErrorCode::kNotFound),
            fmt::format("blob {} is not in this node's store (not fetched from the mesh: local=1)", hash->hex()));
      }
      if (router_ && if_none_match != "*" && etag_matches(if_none_match, *hash)) {
        // The client holds these bytes already (their tag is their hash): nothing to
        // fetch. (`*` asks whether this node has the blob: it does not.)
        Exchange::Header etag = http::one_header("ETag", etag_of(*hash));
        co_return co_await ex.send(Status_::not_modified, "", "application/octet-stream", etag);
      }
      if (router_ && head) co_return co_await head_remote(ex, *hash, range_text);
      if (router_) {
        exchange::FetchOptions cache;  // unpinned: gc may collect it later
        auto got = co_await router_->fetch(*hash, cache);
        if (!got) {
          count("get", false);
          co_return co_await ex.send_error(got.error());
        }
        from_mesh = true;
        fetched = co_await run_blocking(workers_, [&]() -> Result<Fetch> {
          return fetch(*hash, if_none_match, range_text, head);
        });
      }
    }
    if (!fetched) {
      count("get", false);
      co_return co_await ex.send_error(fetched.error());
    }
    Fetch& f = *fetched;
    Exchange::Header header;
    if (from_mesh) header.emplace_back("X-Bzzz-Fetched", "1");
    header.emplace_back("ETag", etag_of(*hash));
    header.emplace_back("Accept-Ranges", "bytes");
    header.emplace_back("Cache-Control", "public, max-age=31536000, immutable");
    if (f.not_modified) co_return co_await ex.send(Status_::not_modified, "", "application/octet-stream", header);
    if (!f.range_error.empty()) {
      header.emplace_back("Content-Range", fmt::format("bytes */{}", f.meta.size));
      co_return co_await ex.send_error(Status_::range_not_satisfiable, "bad_range", f.range_error, header);
    }
    Status_ status = f.partial ? Status_::partial_content : Status_::ok;
    if (f.partial) {
      header.emplace_back("Content-Range", fmt::format("bytes {}-{}/{}", f.range.offset,
                                                       f.range.offset + f.range.length - 1, f.meta.size));
    }
    if (head) co_return (void)co_await ex.send_header(status, f.range.length, "application/octet-stream", header);

    Status sent = ok();
    if (f.file && !f.file->checked) {
      sent = co_await send_piecewise(ex, *hash, *f.file, f.range, status, header);
      co_await run_blocking(workers_, [&] {
        f.file.reset();
        return 0;
      });
    } else if (f.file) {
      sent = co_await ex.send_header(status, f.range.length, "application/octet-stream", header);
      if (sent) sent = co_await ex.send_file(f.file->file.fd(), f.range.offset, f.range.length);
      co_await run_blocking(workers_, [&] {
        f.file.reset();  // closing a descriptor can block on some filesystems
        return 0;
      });
    } else if (f.in_memory) {
      // Header and body in one write: small reads are most requests.
      co_await ex.send(status, std::move(f.bytes), "application/octet-stream", header);
      if (ex.broken()) sent = make_error(ErrorCode::kUnavailable, "client went away");
    } else {
      // Large and compressed: decoded and verified on a worker, sent piece by piece.
      ConnectionSink sink(ex, co_await asio::this_coro::executor, status, f.range.length, header);
      sent = co_await run_blocking(workers_, [&] {
        return store_.read_range_to(*hash, f.range.offset, f.range.length, sink);
      });
      if (!sent && !sink.started()) co_return co_await ex.send_error(sent.error());
      if (!sent) ex.close_after();  // the header went out; only a cut connection can say it failed
    }
    count("get", sent.has_value());
    if (sent && metrics_) metrics_->get_bytes.Increment(static_cast<double>(f.range.length));
  });

  // GET /v1/blobs/{hash}/meta: what the store knows of a blob.
  router.add(verb::get, "/v1/blobs/{hash}/meta", [this, count](Exchange& ex) -> asio::awaitable<void> {
    auto hash = co_await hash_param(ex);
    if (!hash) co_return;
    auto meta = co_await run_blocking(workers_, [&] { return store_.stat(*hash); });
    count("stat", meta.has_value());
    if (!meta) co_return co_await ex.send_error(meta.error());
    co_await ex.send_json(Status_::ok, meta_json(*hash, *meta));
  });

  // GET /v1/blobs?after=HASH&limit=N: blobs in hash order, a page at a time.
  router.add(verb::get, "/v1/blobs", [this](Exchange& ex) -> asio::awaitable<void> {
    std::optional<Hash> after;
    if (auto a = ex.query("after"); a && !a->empty()) {
      auto h = Hash::parse(*a);
      if (!h) co_return co_await ex.send_error(Status_::bad_request, "bad_hash", h.error().message());
      after = *h;
    }
    uint64_t limit = 1000;
    if (auto l = ex.query("limit")) {
      auto n = config::parse_int(*l);
      if (!n || *n < 1 || *n > 100000) {
        co_return co_await ex.send_error(Status_::bad_request, "bad_limit",
                                         fmt::format("limit '{}' is not a number from 1 to 100000", *l));
      }
      limit = static_cast<uint64_t>(*n);
    }
    nlohmann::json list = nlohmann::json::array();
    std::optional<Hash> last;
    bool more = false;
    auto status = co_await run_blocking(workers_, [&] {
      return store_.list([&](const Hash& h, const store::BlobMeta& m) {
        if (after && !(*after < h)) return true;
        if (list.size() == limit) {
          more = true;
          return false;
        }
        list.push_back(meta_json(h, m));
        last = h;
        return true;
      });
    });
    if (!status) co_return co_await ex.send_error(status.error());
    nlohmann::json doc = {{"blobs", list}, {"next", nullptr}};
    if (more && last) doc["next"] = last->hex();
    co_await ex.send_json(Status_::ok, doc);
  });

  auto pin_route = [this, count](bool add) {
    return [this, count, add](Exchange& ex) -> asio::awaitable<void> {
      auto hash = co_await hash_param(ex);
      if (!hash) co_return;
      auto pins = co_await run_blocking(workers_, [&] { return add ? store_.pin(*hash) : store_.unpin(*hash); });
      count(add ? "pin" : "unpin", pins.has_value());
      if (!pins) co_return co_await ex.send_error(pins.error());
      if (add && router_) router_->announce(*hash);
      // (Built before the co_await: g++ 12 cannot keep a braced json temporary across it.)
      nlohmann::json doc = {{"hash", hash->hex()}, {"pins", *pins}};
      co_await ex.send_json(Status_::ok, doc);
    };
  };
  router.add(verb::post, "/v1/pins/{hash}", pin_route(true));
  router.add(verb::delete_, "/v1/pins/{hash}", pin_route(false));

  router.add(verb::get, "/v1/pins", [this](Exchange& ex) -> asio::awaitable<void> {
    auto pins = co_await run_blocking(workers_, [&] { return store_.pins(); });
    if (!pins) co_return co_await ex.send_error(pins.error());
    nlohmann::json doc = {{"pins", pins_json(*pins)}};
    co_await ex.send_json(Status_::ok, doc);
  });

  // POST /v1/gc?grace=1h&dry_run=true
  router.add(verb::post, "/v1/gc", [this, count](Exchange& ex) -> asio::awaitable<void> {
    store::GcOptions options;
    if (auto g = ex.query("grace")) {
      auto d = config::parse_duration(*g);
      if (!d) co_return co_await ex.send_error(Status_::bad_request, "bad_grace", "grace: " + d.error().message());
      options.grace = *d;
    }
    if (auto d = ex.query("dry_run")) {
      auto b = config::parse_bool(d->empty() ? "true" : *d);
      if (!b) co_return co_await ex.send_error(Status_::bad_request, "bad_dry_run", "dry_run: " + b.error().message());
      options.dry_run = *b;
    }
    auto report = co_await run_blocking(workers_, [&] { return store_.gc(options); });
    count("gc", report.has_value());
    if (!report) co_return co_await ex.send_error(report.error());
    co_await ex.send_json(Status_::ok, gc_json(*report, options.dry_run));
  });

  router.add(verb::post, "/v1/verify", [this, count](Exchange& ex) -> asio::awaitable<void> {
    auto report = co_await run_blocking(workers_, [&] { return store_.verify(); });
    count("verify", report.has_value());
    if (!report) co_return co_await ex.send_error(report.error());
    co_await ex.send_json(Status_::ok, verify_json(*report));
  });

  router.add(verb::post, "/v1/optimize", [this, count](Exchange& ex) -> asio::awaitable<void> {
    auto report = co_await run_blocking(workers_, [&] { return store_.optimize(); });
    count("optimize", report.has_value());
    if (!report) co_return co_await ex.send_error(report.error());
    co_await ex.send_json(Status_::ok, optimize_json(*report));
  });

  router.add(verb::post, "/v1/blobs/{hash}/fetch",
             [this](Exchange& ex) -> asio::awaitable<void> { co_await fetch_route(ex); });

  router.add(verb::get, "/v1/routing", [this](Exchange& ex) -> asio::awaitable<void> {
    if (!router_) {
      co_return co_await ex.send_error(Status_::service_unavailable, "routing_off",
                                       "this node has no content routing (its p2p layer is not running)");
    }
    co_await ex.send_json(Status_::ok, routing_json(router_->stats(), router_->options()));
  });

  router.add(verb::get, "/v1/stats", [this](Exchange& ex) -> asio::awaitable<void> {
    auto stats = co_await run_blocking(workers_, [&] { return store_.stats(); });
    if (!stats) co_return co_await ex.send_error(stats.error());
    co_await ex.send_json(Status_::ok, stats_json(*stats));
  });
}

}  // namespace bzzz::api
