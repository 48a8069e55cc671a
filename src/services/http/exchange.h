// services/http: one request and its response, as a handler sees them.
//
// The request header has been read; the body is read on demand (streamed, in pieces
// of the handler's choosing) so a large upload never sits in memory. The response is
// either whole (send, send_json, send_error) or streamed: a header with the length,
// then pieces or a file range sent with sendfile. Every read and write is bounded by
// the listener's timeouts; failures come back as values, never exceptions.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <nlohmann/json.hpp>

#include "base/status/result.h"
#include "services/http/router.h"

namespace bzzz::http {

namespace beast = boost::beast;
using Status_ = beast::http::status;

struct Limits {
  uint64_t max_body_bytes = 64ull << 30;
  size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds header_timeout{10000};  // from a request's first byte to its last header
  std::chrono::milliseconds idle_timeout{60000};    // keep-alive wait for the next request
  std::chrono::milliseconds io_timeout{30000};      // a body read or write that makes no progress
};

class Exchange {
 public:
  using Parser = beast::http::request_parser<beast::http::buffer_body>;
  using Header = std::vector<std::pair<std::string, std::string>>;

  // `server_draining`, when given, is the listener's flag, read live by long-lived
  // responses (event streams) so they end when the node drains.
  Exchange(beast::tcp_stream& stream, beast::flat_buffer& buffer, Parser& parser,
           const Limits& limits, std::string path, Params params, bool draining,
           const std::atomic<bool>* server_draining = nullptr);

  // --- the request
  beast::http::verb method() const { return parser_.get().method(); }
  bool is_head() const { return method() == beast::http::verb::head; }
  std::string_view target() const;
  std::string_view path() const { return path_; }
  std::string_view header(beast::http::field field) const;
  std::string_view param(std::string_view name) const;
  std::optional<std::string> query(std::string_view name) const;
  // The body's declared length; nullopt when chunked (or absent, see has_body).
  std::optional<uint64_t> content_length() const;
  bool chunked() const { return parser_.chunked(); }
  bool has_body() const { return chunked() || content_length().value_or(0) > 0; }

  // Reads the next piece of the body into buf; 0 at its end. kTooLarge past the
  // listener's limit, kInvalidArgument for a malformed or truncated body, kTimeout.
  boost::asio::awaitable<Result<size_t>> read_some(std::span<uint8_t> buf);
  boost::asio::awaitable<Result<std::string>> read_all(size_t limit);

  // --- the response
  boost::asio::awaitable<void> send(Status_ status, std::string body, std::string_view content_type,
                                    const Header& extra = {});
  boost::asio::awaitable<void> send_json(Status_ status, const nlohmann::json& body,
                                         const Header& extra = {});
  // {"error":{"code":code,"message":message}}
  boost::asio::awaitable<void> send_error(Status_ status, std::string_view code,
                                          std::string_view message, const Header& extra = {});
  // The status and code that fit an Error (404 for kNotFound, 507 for kNoSpace, ...).
  boost::asio::awaitable<void> send_error(const Error& error);

  // Streamed: the header (with Content-Length) first, then exactly that many bytes.
  boost::asio::awaitable<Status> send_header(Status_ status, uint64_t content_length,
                                             std::string_view content_type, const Header& extra = {});
  boost::asio::awaitable<Status> send_piece(std::span<const uint8_t> data);
  // Open-ended (Server-Sent Events): the header without a length, the connection ends
  // with the body; then send_piece() as often as needed.
  boost::asio::awaitable<Status> send_stream_header(Status_ status, std::string_view content_type,
                                                    const Header& extra = {});
  // Whether the listener started draining since this request arrived.
  bool server_draining() const { return draining_ || (server_draining_ && server_draining_->load()); }
  boost::asio::awaitable<Status> send_file(int fd, uint64_t offset, uint64_t length);

  // Ends the connection after this response.
  void close_after() { keep_alive_ = false; }
  bool keep_alive() const;
  bool responded() const { return responded_; }
  unsigned status_code() const { return status_code_; }
  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t bytes_out() const { return bytes_out_; }
  bool broken() const { return broken_; }  // the connection failed mid-response

 private:
  template <class Response>
  void prepare(Response& res, Status_ status, const Header& extra);
  boost::asio::awaitable<Status> write_buffers(std::span<const uint8_t> data);
  // The header alone; without a length the body runs until the connection closes.
  boost::asio::awaitable<Status> write_header(Status_ status, std::optional<uint64_t> content_length,
                                              std::string_view content_type, const Header& extra);

  beast::tcp_stream& stream_;
  beast::flat_buffer& buffer_;
  Parser& parser_;
  const Limits& limits_;
  Params params_;
  std::string path_;
  bool draining_;
  const std::atomic<bool>* server_draining_;
  bool keep_alive_ = true;
  bool responded_ = false;
  bool broken_ = false;
  bool continued_ = false;  // an Expect: 100-continue was answered (or not asked for)
  unsigned status_code_ = 0;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

// A header list of one field. (A braced {{"a", "b"}} would pick vector's iterator-pair
// constructor.)
inline Exchange::Header one_header(std::string name, std::string value) {
  Exchange::Header h;
  h.emplace_back(std::move(name), std::move(value));
  return h;
}

// The HTTP status that fits an error code.
Status_ status_for(ErrorCode code);

}  // namespace bzzz::http
