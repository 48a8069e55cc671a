// The responder of /bzzz/blob/1.0.0: requests one after another on a stream.
#include <algorithm>
#include <array>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_future.hpp>
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

namespace {

constexpr size_t kStreamedTreesKept = 16;  // trees of large compressed blobs served lately
constexpr auto kIdleTimeout = std::chrono::seconds(30);  // between requests on one stream

// What a GET is served from: a raw blob file (each piece checked right before it is
// sent unless the whole file was hashed just now), the blob's verified bytes, or, for a
// packed or compressed blob too large for memory, the store's verified reader
// (`streamed`: its tree built once from a pass over the bytes, then kept).
struct Source {
  uint64_t size = 0;
  std::shared_ptr<const PieceTree> tree;
  std::vector<uint8_t> tail;
  std::optional<fs::File> file;
  bool checked = true;
  std::vector<uint8_t> memory;
  bool streamed = false;
};

// A blob's piece tree and tail, made from its bytes as they stream by.
class TreeSink final : public store::ByteSink {
 public:
  explicit TreeSink(uint64_t size) : pieces_(full_pieces(size)) {
    tree.size = size;
    tree.cvs.reserve(pieces_);
    buf_.reserve(kPieceBytes);
  }
  bzzz::Status write(std::span<const uint8_t> data) override {
    while (!data.empty()) {
      if (tree.cvs.size() == pieces_) {
        tail.insert(tail.end(), data.begin(), data.end());
        break;
      }
      size_t n = std::min(data.size(), kPieceBytes - buf_.size());
      buf_.insert(buf_.end(), data.begin(), data.begin() + static_cast<ptrdiff_t>(n));
      data = data.subspan(n);
      if (buf_.size() == kPieceBytes) {
        tree.cvs.push_back(piece_cv(tree.cvs.size(), buf_));
        buf_.clear();
      }
    }
    return ok();
  }
  PieceTree tree;
  std::vector<uint8_t> tail;

 private:
  uint64_t pieces_;
  std::vector<uint8_t> buf_;
};

// Bytes a worker reads, written into a stream: the worker waits for each write.
class StreamSink final : public store::ByteSink {
 public:
  StreamSink(p2p::net::Stream& stream, asio::any_io_executor ex) : stream_(stream), ex_(std::move(ex)) {}
  bzzz::Status write(std::span<const uint8_t> data) override {
    auto st = asio::co_spawn(ex_, stream_.write(data), asio::use_future).get();
    if (st) sent += data.size();
    return st;
  }
  uint64_t sent = 0;

 private:
  p2p::net::Stream& stream_;
  asio::any_io_executor ex_;
};

Response refusal(Code code, std::string message) {
  Response r;
  r.code = code;
  r.message = std::move(message);
  return r;
}

}  // namespace

asio::awaitable<void> Exchange::serve(std::weak_ptr<Exchange> weak, std::shared_ptr<p2p::net::Stream> stream) {
  const p2p::PeerId from = stream->connection().info().peer;
  for (;;) {
    auto idle = stream->reset_after(kIdleTimeout);
    auto frame = co_await p2p::net::read_length_prefixed(*stream, kMaxRequestBytes);
    idle.cancel();
    if (!frame || !*frame) break;  // the stream ended (or was reset, or sent too much)
    auto self = weak.lock();
    if (!self) break;
    {
      std::lock_guard lock(self->mutex_);
      if (self->stopped_) break;
    }
    auto request = decode_request(**frame);
    bzzz::Status done = ok();
    if (!request) {
      self->metrics_->refuse(Code::kBadRequest);
      auto reply = p2p::net::length_prefixed(encode_response(refusal(Code::kBadRequest, request.error().message())));
      (void)co_await stream->write(reply);
      break;
    }
    self->metrics_->request(request_name(*request), true);
    if (auto* have = std::get_if<HaveRequest>(&*request)) {
      done = co_await self->serve_have(*stream, std::move(*have));
    } else if (auto* get = std::get_if<GetRequest>(&*request)) {
      done = co_await self->serve_get(*stream, std::move(*get));
    } else {
      done = co_await self->serve_store(*stream, from, std::get<StoreRequest>(std::move(*request)));
    }
    if (!done) {
      stream->reset();
      co_return;
    }
  }
  co_await stream->close();
}

asio::awaitable<bzzz::Status> Exchange::serve_have(p2p::net::Stream& stream, HaveRequest request) {
  Response r;
  co_await run_blocking(*workers_, [&] {
    r.have.reserve(request.hashes.size());
    r.pinned.reserve(request.hashes.size());
    for (const auto& h : request.hashes) {
      auto meta = store_->stat(h);
      bool held = meta && !meta->corrupt;  // a copy known damaged is no copy
      r.have.push_back(held ? meta->size + 1 : 0);
      r.pinned.push_back(held && meta->pins > 0);
    }
    return 0;
  });
  FullProbe probe;
  {
    std::lock_guard lock(mutex_);
    probe = full_probe_;
  }
  r.full = probe && probe();
  auto reply = p2p::net::length_prefixed(encode_response(r));
  co_return co_await stream.write(reply);
}

asio::awaitable<bzzz::Status> Exchange::serve_get(p2p::net::Stream& stream, GetRequest request) {
  {
    std::lock_guard lock(mutex_);
    if (serving_ >= options_.max_inbound_transfers) {
      metrics_->refuse(Code::kBusy);
      auto reply = p2p::net::length_prefixed(encode_response(
          refusal(Code::kBusy, fmt::format("serving {} transfers already", options_.max_inbound_transfers))));
      co_return co_await stream.write(reply);
    }
    ++serving_;
    metrics_->serving.Increment();
  }
  struct Release {
    Exchange* self;
    ~Release() {
      std::lock_guard lock(self->mutex_);
      --self->serving_;
      self->metrics_->serving.Decrement();
    }
  } release{this};

  // Find the blob and its tree (disk work).
  const Hash hash = request.hash;
  auto prepared = co_await run_blocking(*workers_, [&]() -> Result<Source> {
    Source src;
    auto opened = store_->open_piecewise(hash);
    if (opened && !*opened) opened = store_->open_verified_file(hash);
    if (!opened) return tl::unexpected(opened.error());
    if (*opened) {
      auto& vf = **opened;
      src.size = vf.meta.size;
      src.tree = vf.tree;
      src.checked = vf.checked;
      src.tail.resize(static_cast<size_t>(src.size - src.tree->tail_offset()));
      BZZZ_TRY(vf.file.pread_exact(src.tail, src.tree->tail_offset()));
      if (!src.checked && root_with_tail(*src.tree, src.tail) != hash) {
        store_->forget_tree(hash);
        return make_error(ErrorCode::kCorrupt, fmt::format("the local copy of {} is corrupt (its tail)", hash.hex()));
      }
      src.file = std::move(vf.file);
      return src;
    }
    BZZZ_ASSIGN_OR_RETURN(auto meta, store_->stat(hash));
    if (meta.size > options_.max_serve_in_memory) {
      // Too large for memory: served through the store's verified reader, its tree made
      // by one pass over the bytes and kept for the requests that follow.
      src.size = meta.size;
      src.streamed = true;
      {
        std::lock_guard lock(mutex_);
        if (auto it = streamed_trees_.find(hash); it != streamed_trees_.end()) {
          src.tree = it->second.first;
          src.tail = *it->second.second;
          return src;
        }
      }
      TreeSink made(meta.size);
      BZZZ_TRY(store_->read_to(hash, made));
      src.tree = std::make_shared<const PieceTree>(std::move(made.tree));
      src.tail = made.tail;
      std::lock_guard lock(mutex_);
      if (streamed_trees_.size() >= kStreamedTreesKept) streamed_trees_.erase(streamed_trees_.begin());
      streamed_trees_[hash] = {src.tree, std::make_shared<const std::vector<uint8_t>>(std::move(made.tail))};
      return src;
    }
    BZZZ_ASSIGN_OR_RETURN(src.memory, store_->read(hash));  // verified by the store
    src.size = src.memory.size();
    auto tree = std::make_shared<PieceTree>(piece_tree(src.memory));
    src.tail.assign(src.memory.begin() + static_cast<ptrdiff_t>(tree->tail_offset()), src.memory.end());
    src.tree = std::move(tree);
    return src;
  });
  if (!prepared) {
    const auto& e = prepared.error();
    Code st = e.code() == ErrorCode::kNotFound ? Code::kNotFound
                : e.code() == ErrorCode::kUnavailable ? Code::kBusy
                                                      : Code::kError;
    if (st == Code::kError) spdlog::error("exchange: cannot serve {}: {}", hash.hex(), e.message());
    metrics_->refuse(st);
    auto reply = p2p::net::length_prefixed(encode_response(refusal(st, e.message())));
    co_return co_await stream.write(reply);
  }
  Source& src = *prepared;
  if (request.offset > src.size) {
    metrics_->refuse(Code::kBadRequest);
    auto reply = p2p::net::length_prefixed(encode_response(refusal(
        Code::kBadRequest,
        fmt::format("range starts at byte {}, past the end of the blob's {} bytes", request.offset, src.size))));
    co_return co_await stream.write(reply);
  }
  Response r;
  r.size = src.size;
  r.offset = request.offset;
  r.length = std::min(request.length, src.size - request.offset);
  if (request.want_tree) {
    r.tree = *src.tree;
    r.tail = src.tail;
    metrics_->sent(r.tail.size());  // blob bytes too
  }
  auto header = p2p::net::length_prefixed(encode_response(r));
  if (auto st = co_await stream.write(header); !st) co_return st;

  // The bytes: piece by piece. A piece from the file is read and checked (if need be)
  // on a worker while the one before it is sent, so the disk and the network overlap.
  const uint64_t end = r.offset + r.length;
  const uint64_t tail_at = src.tree->tail_offset();
  std::array<std::vector<uint8_t>, 2> piece;
  size_t cur = 0;
  bool loaded = false;  // piece[cur] holds the file piece `at` falls in
  auto load = [&](uint64_t index, std::vector<uint8_t>& into) -> asio::awaitable<bzzz::Status> {
    co_return co_await run_blocking(*workers_, [&]() -> bzzz::Status {
      into.resize(kPieceBytes);
      BZZZ_TRY(src.file->pread_exact(into, index * kPieceBytes));
      if (!src.checked && !piece_matches(*src.tree, static_cast<size_t>(index), into)) {
        store_->forget_tree(hash);
        return make_error(ErrorCode::kCorrupt,
                          fmt::format("the local copy of {} is corrupt (piece {})", hash.hex(), index));
      }
      return ok();
    });
  };
  auto stop_sending = [&](const Error& e) -> bzzz::Status {
    spdlog::error("exchange: stopped sending {}: {}", hash.hex(), e.message());
    return tl::unexpected(e);  // the stream is reset: the peer tries another
  };
  uint64_t at = r.offset;
  if (src.streamed && at < std::min(end, tail_at)) {
    // The pieces through the store's reader (verified there), on a worker; the tail below.
    const uint64_t upto = std::min(end, tail_at);
    StreamSink sink(stream, co_await asio::this_coro::executor);
    auto st = co_await run_blocking(*workers_, [&] { return store_->read_range_to(hash, at, upto - at, sink); });
    metrics_->sent(sink.sent);
    if (!st) co_return stop_sending(st.error());
    at = upto;
  }
  for (; at < end;) {
    if (!src.memory.empty() || at >= tail_at) {
      const uint8_t* base = src.memory.empty() ? src.tail.data() - tail_at : src.memory.data();
      const uint64_t next = std::min(end, at + kPieceBytes);
      std::span<const uint8_t> out(base + at, static_cast<size_t>(next - at));
      if (auto st = co_await stream.write(out); !st) co_return st;
      metrics_->sent(out.size());
      at = next;
      continue;
    }
    const uint64_t index = at / kPieceBytes;
    const uint64_t piece_start = index * kPieceBytes;
    if (!loaded) {
      if (auto st = co_await load(index, piece[cur]); !st) co_return stop_sending(st.error());
    }
    const uint64_t next = std::min(end, piece_start + kPieceBytes);
    std::span<const uint8_t> out(piece[cur].data() + (at - piece_start), static_cast<size_t>(next - at));
    const bool ahead = next < end && next < tail_at;  // the next piece comes from the file too
    bzzz::Status sent = ok();
    bzzz::Status read = ok();
    if (ahead) {
      auto w = stream.write(out);
      auto l = load(index + 1, piece[1 - cur]);
      std::tie(sent, read) = co_await (std::move(w) && std::move(l));
    } else {
      sent = co_await stream.write(out);
    }
    if (!sent) co_return sent;
    metrics_->sent(out.size());
    if (ahead && !read) co_return stop_sending(read.error());
    loaded = ahead;
    if (ahead) cur = 1 - cur;
    at = next;
  }
  co_return ok();
}

}  // namespace bzzz::exchange
