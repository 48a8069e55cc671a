#include "services/http/exchange.h"

#include <sys/sendfile.h>

#include <cerrno>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

namespace bzzz::http {

namespace asio = boost::asio;
namespace bhttp = beast::http;
using asio::use_awaitable;
constexpr auto kTuple = asio::as_tuple(use_awaitable);

Status_ status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return Status_::bad_request;
    case ErrorCode::kNotFound: return Status_::not_found;
    case ErrorCode::kAlreadyExists: return Status_::conflict;
    case ErrorCode::kNoSpace: return Status_::insufficient_storage;
    case ErrorCode::kBusy:
    case ErrorCode::kUnavailable: return Status_::service_unavailable;
    case ErrorCode::kTimeout: return Status_::request_timeout;
    case ErrorCode::kProtocol: return Status_::bad_gateway;
    case ErrorCode::kTooLarge: return Status_::payload_too_large;
    case ErrorCode::kCorrupt:
    case ErrorCode::kIo:
    case ErrorCode::kPermission:
    case ErrorCode::kInternal: return Status_::internal_server_error;
  }
  return Status_::internal_server_error;
}

Exchange::Exchange(beast::tcp_stream& stream, beast::flat_buffer& buffer, Parser& parser,
                   const Limits& limits, std::string path, Params params, bool draining,
                   const std::atomic<bool>* server_draining)
    : stream_(stream),
      buffer_(buffer),
      parser_(parser),
      limits_(limits),
      params_(std::move(params)),
      path_(std::move(path)),
      draining_(draining),
      server_draining_(server_draining) {}

std::string_view Exchange::target() const {
  auto t = parser_.get().target();
  return {t.data(), t.size()};
}

std::string_view Exchange::header(bhttp::field field) const {
  auto it = parser_.get().find(field);
  if (it == parser_.get().end()) return {};
  return {it->value().data(), it->value().size()};
}

std::string_view Exchange::param(std::string_view name) const {
  auto it = params_.find(name);
  return it == params_.end() ? std::string_view() : std::string_view(it->second);
}

std::optional<std::string> Exchange::query(std::string_view name) const {
  std::string_view t = target();
  size_t q = t.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = t.substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (key == name) {
      auto value = decode_path(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
      return value ? *value : std::string();
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return std::nullopt;
}

std::optional<uint64_t> Exchange::content_length() const {
  auto len = parser_.content_length();
  if (!len) return std::nullopt;
  return static_cast<uint64_t>(*len);
}

bool Exchange::keep_alive() const {
  // A body left unread cannot be skipped safely: the connection ends with the response.
  return keep_alive_ && !draining_ && !broken_ && parser_.is_done() && parser_.get().keep_alive();
}

asio::awaitable<Result<size_t>> Exchange::read_some(std::span<uint8_t> buf) {
  if (!continued_ && !parser_.is_done()) {
    continued_ = true;
    // A client that asked to wait (curl does for large bodies) hears it may go on only
    // now that a handler wants the body: a refusal sent before this saves the upload.
    if (beast::iequals(header(bhttp::field::expect), "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(limits_.io_timeout);
      auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()), kTuple);
      bytes_out_ += n;
      if (ec) {
        broken_ = true;
        keep_alive_ = false;
        co_return make_error(ErrorCode::kUnavailable, fmt::format("client went away: {}", ec.message()));
      }
    }
  }
  // Beast reads into the connection buffer first, as much as its free space allows: a
  // large body gets a large one, or every read would be a 4 KiB system call.
  constexpr size_t kBodyBuffer = 256 * 1024;
  if (buffer_.capacity() < kBodyBuffer && (chunked() || content_length().value_or(0) > 64 * 1024)) {
    buffer_.reserve(kBodyBuffer);
  }
  while (!parser_.is_done() && !buf.empty()) {
    auto& body = parser_.get().body();
    body.data = buf.data();
    body.size = buf.size();
    stream_.expires_after(limits_.io_timeout);
    auto [ec, unused] = co_await bhttp::async_read(stream_, buffer_, parser_, kTuple);
    (void)unused;
    size_t got = buf.size() - body.size;
    body.data = nullptr;
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      keep_alive_ = false;
      if (ec == bhttp::error::body_limit) {
        co_return make_error(ErrorCode::kTooLarge,
                             fmt::format("request body is larger than the limit of {} bytes",
                                         limits_.max_body_bytes));
      }
      if (ec == beast::error::timeout) {
        co_return make_error(ErrorCode::kTimeout,
                             fmt::format("request body stalled for {} ms",
                                         limits_.io_timeout.count()));
      }
      if (ec == bhttp::error::partial_message || ec == asio::error::eof ||
          ec == asio::error::connection_reset) {
        broken_ = true;
        co_return make_error(ErrorCode::kInvalidArgument,
                             fmt::format("request body ended early after {} bytes", bytes_in_ + got));
      }
      co_return make_error(ErrorCode::kInvalidArgument,
                           fmt::format("malformed request body: {}", ec.message()));
    }
    bytes_in_ += got;
    if (got > 0) co_return got;
  }
  co_return size_t{0};
}

asio::awaitable<Result<std::string>> Exchange::read_all(size_t limit) {
  std::string out;
  std::vector<uint8_t> buf(16 * 1024);
  for (;;) {
    auto n = co_await read_some(buf);
    if (!n) co_return fail(n.error());
    if (*n == 0) break;
    if (out.size() + *n > limit) {
      keep_alive_ = false;
      co_return make_error(ErrorCode::kTooLarge,
                           fmt::format("request body is larger than the {} bytes this route takes",
                                       limit));
    }
    out.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  co_return out;
}

template <class Response>
void Exchange::prepare(Response& res, Status_ status, const Header& extra) {
  res.version(11);
  res.result(status);
  for (const auto& [name, value] : extra) res.set(name, value);
  res.keep_alive(keep_alive());
  responded_ = true;
  status_code_ = static_cast<unsigned>(status);
}

asio::awaitable<void> Exchange::send(Status_ status, std::string body, std::string_view content_type,
                                     const Header& extra) {
  if (responded_) co_return;  // a streamed response already started; nothing can be added
  stream_.expires_after(limits_.io_timeout);
  if (is_head()) {
    bhttp::response<bhttp::empty_body> res;
    prepare(res, status, extra);
    res.set(bhttp::field::content_type, content_type);
    res.content_length(body.size());
    bhttp::response_serializer<bhttp::empty_body> sr(res);
    auto [ec, n] = co_await bhttp::async_write_header(stream_, sr, kTuple);
    bytes_out_ += n;
    if (ec) broken_ = true;
    co_return;
  }
  bhttp::response<bhttp::string_body> res;
  prepare(res, status, extra);
  res.set(bhttp::field::content_type, content_type);
  res.body() = std::move(body);
  res.prepare_payload();
  auto [ec, n] = co_await bhttp::async_write(stream_, res, kTuple);
  bytes_out_ += n;
  if (ec) broken_ = true;
}

asio::awaitable<void> Exchange::send_json(Status_ status, const nlohmann::json& body,
                                          const Header& extra) {
  co_await send(status, body.dump() + "\n", "application/json", extra);
}

asio::awaitable<void> Exchange::send_error(Status_ status, std::string_view code,
                                           std::string_view message, const Header& extra) {
  nlohmann::json body = {{"error", {{"code", code}, {"message", message}}}};
  co_await send(status, body.dump() + "\n", "application/json", extra);
}

asio::awaitable<void> Exchange::send_error(const Error& error) {
  std::string_view code = error.code() == ErrorCode::kNoSpace ? "disk_full"
                                                               : error_code_name(error.code());
  co_await send_error(status_for(error.code()), code, error.message());
}

asio::awaitable<Status> Exchange::send_header(Status_ status, uint64_t content_length,
                                              std::string_view content_type, const Header& extra) {
  co_return co_await write_header(status, content_length, content_type, extra);
}

asio::awaitable<Status> Exchange::send_stream_header(Status_ status, std::string_view content_type,
                                                     const Header& extra) {
  keep_alive_ = false;  // the body ends when the connection does
  Header with = extra;
  with.emplace_back("Cache-Control", "no-cache");
  co_return co_await write_header(status, std::nullopt, content_type, with);
}

asio::awaitable<Status> Exchange::write_header(Status_ status, std::optional<uint64_t> content_length,
                                               std::string_view content_type, const Header& extra) {
  bhttp::response<bhttp::empty_body> res;
  prepare(res, status, extra);
  res.set(bhttp::field::content_type, content_type);
  if (content_length) res.content_length(*content_length);
  bhttp::response_serializer<bhttp::empty_body> sr(res);
  stream_.expires_after(limits_.io_timeout);
  auto [ec, n] = co_await bhttp::async_write_header(stream_, sr, kTuple);
  bytes_out_ += n;
  if (ec) {
    broken_ = true;
    co_return make_error(ErrorCode::kUnavailable, fmt::format("client went away: {}", ec.message()));
  }
  co_return ok();
}

asio::awaitable<Status> Exchange::write_buffers(std::span<const uint8_t> data) {
  stream_.expires_after(limits_.io_timeout);
  auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(data.data(), data.size()), kTuple);
  bytes_out_ += n;
  if (ec) {
    broken_ = true;
    co_return make_error(ErrorCode::kUnavailable, fmt::format("client went away: {}", ec.message()));
  }
  co_return ok();
}

asio::awaitable<Status> Exchange::send_piece(std::span<const uint8_t> data) {
  co_return co_await write_buffers(data);
}

asio::awaitable<Status> Exchange::send_file(int fd, uint64_t offset, uint64_t length) {
  using namespace asio::experimental::awaitable_operators;
  auto& socket = stream_.socket();
  socket.native_non_blocking(true);
  off_t off = static_cast<off_t>(offset);
  uint64_t end = offset + length;
  asio::steady_timer timer(stream_.get_executor());
  while (static_cast<uint64_t>(off) < end) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(end - off, 1u << 30));
    ssize_t n = ::sendfile(socket.native_handle(), fd, &off, want);
    if (n > 0) {
      bytes_out_ += static_cast<uint64_t>(n);
      continue;
    }
    if (n == 0) {
      broken_ = true;
      co_return make_error(ErrorCode::kIo, "blob file ended before its recorded size");
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      broken_ = true;
      co_return make_error(ErrorCode::kUnavailable, fmt::format("client went away: {}",
                                                                std::strerror(errno)));
    }
    timer.expires_after(limits_.io_timeout);
    auto done = co_await (socket.async_wait(asio::socket_base::wait_write, kTuple) ||
                          timer.async_wait(kTuple));
    if (done.index() == 1) {
      broken_ = true;
      co_return make_error(ErrorCode::kTimeout,
                           fmt::format("client read nothing for {} ms", limits_.io_timeout.count()));
    }
    auto [ec] = std::get<0>(done);
    if (ec) {
      broken_ = true;
      co_return make_error(ErrorCode::kUnavailable, fmt::format("client went away: {}", ec.message()));
    }
  }
  co_return ok();
}

}  // namespace bzzz::http
