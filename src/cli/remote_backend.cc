#include "cli/remote_backend.h"

#include <poll.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include "base/crypto/blake3.h"
#include "services/api/json.h"

namespace bzzz::cli {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using nlohmann::json;

constexpr size_t kPiece = 1u << 20;
constexpr size_t kReadRoom = 64 * 1024;  // beast reads at most 64 KiB per call anyway
constexpr uint64_t kJsonLimit = 256ull << 20;  // a verify report of a badly damaged store is long
constexpr uint64_t kErrorBodyLimit = 1u << 20;
constexpr int kListPage = 1000;

// --- the node's address --------------------------------------------------------------

struct Url {
  std::string host;       // without the brackets of an IPv6 literal
  std::string port;
  std::string authority;  // the Host header: host[:port] as written
  std::string prefix;     // a path before /v1 (a reverse proxy's), without a trailing '/'
  std::string text;       // how messages name the node: http://authority[prefix]
};

Result<Url> parse_url(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("node URL '{}' {} (expected http://host:port)", text, why));
  };
  std::string_view rest = text;
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!rest.empty() && space(rest.front())) rest.remove_prefix(1);
  while (!rest.empty() && space(rest.back())) rest.remove_suffix(1);
  if (rest.starts_with("https://")) return bad("uses https, which the CLI does not speak");
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    return bad("has a scheme other than http://");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  while (path.ends_with('/')) path.remove_suffix(1);
  if (path.find_first_of("?# ") != std::string_view::npos) {
    return bad("has a query, fragment or space in its path");
  }
  if (authority.find('@') != std::string_view::npos) {
    return bad("carries credentials (pass the API token as the token)");
  }

  std::string_view host = authority, port;
  bool has_port = false;
  if (authority.starts_with('[')) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("has an unclosed '['");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("has text after ']' that is not a port");
      has_port = true;
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    if (authority.find(':') != colon) return bad("has an IPv6 address without [brackets]");
    host = authority.substr(0, colon);
    has_port = true;
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return bad("has no host");
  if (has_port) {
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    bool digits = !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), digit);
    if (!digits || std::stoul(std::string(port)) == 0 || std::stoul(std::string(port)) > 65535) {
      return bad("has no valid port (1 to 65535)");
    }
  }
  Url url;
  url.host = std::string(host);
  url.port = has_port ? std::string(port) : "80";
  url.authority = std::string(authority);
  url.prefix = std::string(path);
  url.text = fmt::format("http://{}{}", authority, path);
  return url;
}

// --- answers and errors --------------------------------------------------------------

struct Answer {
  unsigned status = 0;
  std::string reason;
  std::string body;
};

// The node names the error (its ErrorCode's name) where it can; the HTTP status decides
// the rest (route-specific codes such as "bad_hash", or an answer from a proxy).
ErrorCode code_for(unsigned status, std::string_view name) {
  static constexpr std::array kCodes = {
      ErrorCode::kInvalidArgument, ErrorCode::kNotFound,    ErrorCode::kAlreadyExists,
      ErrorCode::kCorrupt,         ErrorCode::kIo,          ErrorCode::kNoSpace,
      ErrorCode::kPermission,      ErrorCode::kBusy,        ErrorCode::kTimeout,
      ErrorCode::kUnavailable,     ErrorCode::kTooLarge,    ErrorCode::kProtocol,
      ErrorCode::kInternal};
  if (name == "disk_full") return ErrorCode::kNoSpace;
  for (ErrorCode code : kCodes) {
    if (!name.empty() && error_code_name(code) == name) return code;
  }
  switch (status) {
    case 400: return ErrorCode::kInvalidArgument;
    case 401:
    case 403: return ErrorCode::kPermission;
    case 404: return ErrorCode::kNotFound;
    case 408: return ErrorCode::kTimeout;
    case 409: return ErrorCode::kAlreadyExists;
    case 413: return ErrorCode::kTooLarge;
    case 502:
    case 503:
    case 504: return ErrorCode::kUnavailable;
    case 507: return ErrorCode::kNoSpace;
    default: return ErrorCode::kInternal;
  }
}

Error answer_error(const Url& url, const Answer& answer, bool sent_token) {
  std::string message, name;
  json doc = json::parse(answer.body, nullptr, false);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
    const json& e = doc["error"];
    if (e.contains("message") && e["message"].is_string()) message = e["message"];
    if (e.contains("code") && e["code"].is_string()) name = e["code"];
  }
  if (message.empty()) {
    // Not one of ours (a proxy, another program on the port): show what came back.
    message = fmt::format("node at {} answered HTTP {} {}", url.text, answer.status, answer.reason);
    std::string snippet;
    for (char c : answer.body.substr(0, 200)) {
      snippet += std::isprint(static_cast<unsigned char>(c)) ? c : ' ';
    }
    while (!snippet.empty() && snippet.back() == ' ') snippet.pop_back();
    if (!snippet.empty()) message += ": " + snippet;
  } else if (answer.status == 401 && sent_token) {
    message = fmt::format("the node at {} refused the API token ({})", url.text, message);
  }
  return Error(code_for(answer.status, name), std::move(message));
}

Error unexpected_doc(const Url& url, std::string_view what, const std::string& why) {
  return Error(ErrorCode::kInternal, fmt::format("node at {} answered {} with an unexpected document: {}",
                                                 url.text, what, why));
}

Result<json> parse_doc(const Url& url, std::string_view what, const std::string& body) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded()) return fail(unexpected_doc(url, what, "not JSON"));
  return doc;
}

bool is_disconnect(const error_code& ec) {
  return ec == asio::error::eof || ec == bhttp::error::end_of_stream ||
         ec == bhttp::error::partial_message || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted;
}

// Reads until the buffer is full or the source ends, so pieces stay 1 MiB even from a pipe.
Result<size_t> fill(store::ByteSource& source, std::span<uint8_t> buf) {
  size_t got = 0;
  while (got < buf.size()) {
    BZZZ_ASSIGN_OR_RETURN(size_t n, source.read(buf.subspan(got)));
    if (n == 0) break;
    got += n;
  }
  return got;
}

// --- one keep-alive connection ------------------------------------------------------

// Beast's synchronous calls take no timeouts, so each step is started asynchronously
// and the private io_context is run until it completes; tcp_stream's expiry bounds it.
class Connection {
 public:
  Connection(Url url, RemoteOptions options) : url_(std::move(url)), options_(std::move(options)) {}
  ~Connection() { close(); }

  const Url& url() const { return url_; }

  Status open() {
    close();
    tcp::resolver resolver(io_);
    error_code ec;
    auto endpoints = resolver.resolve(url_.host, url_.port, ec);
    if (ec) {
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("no bzzz node answers at {}: cannot resolve '{}': {}", url_.text,
                                    url_.host, ec.message()));
    }
    stream_.emplace(io_);
    stream_->expires_after(options_.connect_timeout);
    ec = run([&](auto done) { stream_->async_connect(endpoints, std::move(done)); });
    if (ec) {
      close();
      std::string why = ec == beast::error::timeout
                            ? fmt::format("no answer within {} ms", options_.connect_timeout.count())
                            : ec.message();
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("no bzzz node answers at {}: {}", url_.text, why));
    }
    stream_->socket().set_option(tcp::no_delay(true), ec);
    // Beast reads at most the buffer's free capacity (but at least 512 bytes) per call,
    // and a body parser empties it each time: without room, a download is read 512
    // bytes per system call.
    buffer_.reserve(kReadRoom);
    used_ = false;
    return ok();
  }

  // A request without a body; returns the body of a 2xx answer. A request that may be
  // sent twice (retry_safe) is, once, when a kept-alive connection turns out closed
  // before any answer came. long_running: the node answers only once done (gc, verify).
  // A JSON request body may be given (`json_body`, sent as application/json).
  Result<std::string> call(bhttp::verb method, std::string_view path, bool retry_safe,
                           bool long_running = false, const std::string& body = {},
                           std::string_view content_type = "application/json") {
    std::string target = url_.prefix + std::string(path);
    for (int attempt = 0;; ++attempt) {
      BZZZ_TRY(ensure_open());
      bool reused = used_;
      bhttp::request<bhttp::string_body> req{method, target, 11};
      prepare(req);
      if (!body.empty()) {
        req.set(bhttp::field::content_type, content_type);
        req.body() = body;
      }
      if (method != bhttp::verb::get && method != bhttp::verb::head) req.content_length(body.size());
      error_code ec = write(req);
      Answer answer;
      bool got_some = false;
      if (!ec) ec = read_answer(answer, got_some, long_running);
      if (ec) {
        close();
        if (reused && retry_safe && attempt == 0 && !got_some && is_disconnect(ec)) continue;
        return fail(io_error(ec, got_some ? "answering" : "taking the request"));
      }
      if (answer.status / 100 != 2) return fail(answer_error(url_, answer, !options_.token.empty()));
      return std::move(answer.body);
    }
  }

  // POST with the source as a chunked body, in 1 MiB pieces; `sent` gets the hash of
  // what was sent. A node that answers before the body is complete (disk full, too
  // large) is heard: its answer is read instead of writing on.
  Result<std::string> upload(std::string_view path, store::ByteSource& source, Hash* sent) {
    BZZZ_TRY(ensure_open());
    bhttp::request<bhttp::buffer_body> req{bhttp::verb::post, url_.prefix + std::string(path), 11};
    prepare(req);
    req.set(bhttp::field::content_type, "application/octet-stream");
    req.chunked(true);
    req.body().data = nullptr;
    req.body().more = true;
    bhttp::request_serializer<bhttp::buffer_body> sr{req};
    stream_->expires_after(options_.io_timeout);
    error_code ec = run([&](auto done) { bhttp::async_write_header(*stream_, sr, std::move(done)); });
    if (ec) {
      close();
      return fail(io_error(ec, "taking the upload"));
    }
    std::vector<uint8_t> buf(kPiece);
    Blake3Hasher hasher;
    bool complete = false;
    while (!complete && !node_spoke()) {
      auto n = fill(source, buf);
      if (!n) {
        close();  // the node sees a cut body and discards what it received
        return fail(n.error());
      }
      hasher.update({buf.data(), *n});
      req.body().data = *n > 0 ? buf.data() : nullptr;
      req.body().size = *n;
      req.body().more = *n > 0;
      ec = write(sr);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) break;
      complete = *n == 0;
    }
    if (ec == beast::error::timeout) {
      close();
      return fail(io_error(ec, "taking the upload"));
    }
    // After a failed write too: a node that stopped reading may have said why.
    Answer answer;
    bool got_some = false;
    error_code read_ec = read_answer(answer, got_some, false);
    if (!complete || read_ec) close();  // an unfinished request leaves the connection unusable
    if (read_ec) return fail(io_error(ec ? ec : read_ec, ec ? "taking the upload" : "answering"));
    if (answer.status / 100 != 2) return fail(answer_error(url_, answer, !options_.token.empty()));
    if (!complete) {
      return make_error(ErrorCode::kInternal,
                        fmt::format("node at {} answered HTTP {} before the upload was complete",
                                    url_.text, answer.status));
    }
    *sent = hasher.finalize();
    return std::move(answer.body);
  }

  // GET of a blob: its pieces go to the sink as they arrive, each one only once the
  // next arrived, and the last only once everything hashed to `want`.
  Status download(std::string_view path, const Hash& want, store::ByteSink& sink) {
    std::string target = url_.prefix + std::string(path);
    for (int attempt = 0;; ++attempt) {
      BZZZ_TRY(ensure_open());
      bool reused = used_;
      bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
      prepare(req);
      error_code ec = write(req);
      bhttp::response_parser<bhttp::buffer_body> parser;
      parser.body_limit(boost::none);
      if (!ec) ec = read_header(parser);
      if (ec) {
        close();
        if (reused && attempt == 0 && !parser.got_some() && is_disconnect(ec)) continue;
        return fail(io_error(ec, parser.got_some() ? "answering" : "taking the request"));
      }
      if (parser.get().result() != bhttp::status::ok) return read_error_answer(std::move(parser));
      return stream_body(parser, want, sink);
    }
  }

  // GET of an open-ended body (an event stream): every line, without its newline, goes
  // to `on_line` until the node ends the body or on_line returns false.
  Status read_lines(std::string_view path, const std::function<bool(std::string_view)>& on_line) {
    BZZZ_TRY(ensure_open());
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, url_.prefix + std::string(path), 11};
    prepare(req);
    req.set(bhttp::field::accept, "text/event-stream");
    error_code ec = write(req);
    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.body_limit(boost::none);
    if (!ec) ec = read_header(parser);
    if (ec) {
      close();
      return fail(io_error(ec, "taking the request"));
    }
    if (parser.get().result() != bhttp::status::ok) return read_error_answer(std::move(parser));
    std::vector<uint8_t> piece(64 * 1024);
    std::string pending;
    for (;;) {
      // read_some, not read: an event must come out as soon as it arrives, not when a
      // piece is full.
      parser.get().body().data = piece.data();
      parser.get().body().size = piece.size();
      stream_->expires_after(options_.io_timeout);
      ec = run([&](auto done) { bhttp::async_read_some(*stream_, buffer_, parser, std::move(done)); });
      if (ec == bhttp::error::need_buffer) ec = {};
      size_t n = piece.size() - parser.get().body().size;
      parser.get().body().data = nullptr;
      if (ec && ec != bhttp::error::partial_message && !is_disconnect(ec)) {
        close();
        return fail(io_error(ec, "streaming events"));
      }
      pending.append(reinterpret_cast<const char*>(piece.data()), n);
      size_t start = 0, nl;
      while ((nl = pending.find('\n', start)) != std::string::npos) {
        std::string_view line(pending.data() + start, nl - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!on_line(line)) {
          close();
          return ok();
        }
        start = nl + 1;
      }
      pending.erase(0, start);
      if (ec || parser.is_done()) break;
    }
    close();
    return ok();
  }

 private:
  template <class Start>
  error_code run(Start&& start) {
    error_code result = asio::error::would_block;
    start([&result](error_code ec, auto&&...) { result = ec; });
    io_.restart();
    io_.run();
    return result;
  }

  // A message or a serializer (which may return need_buffer: its piece went out).
  template <class Message>
  error_code write(Message& message) {
    stream_->expires_after(options_.io_timeout);
    return run([&](auto done) { bhttp::async_write(*stream_, message, std::move(done)); });
  }

  template <class Parser>
  error_code read_header(Parser& parser, bool bounded = true) {
    if (bounded) {
      stream_->expires_after(options_.io_timeout);
    } else {
      stream_->expires_never();
    }
    return run([&](auto done) { bhttp::async_read_header(*stream_, buffer_, parser, std::move(done)); });
  }

  template <class Parser>
  error_code read(Parser& parser) {
    stream_->expires_after(options_.io_timeout);
    return run([&](auto done) { bhttp::async_read(*stream_, buffer_, parser, std::move(done)); });
  }

  template <class Request>
  void prepare(Request& req) const {
    req.set(bhttp::field::host, url_.authority);
    req.set(bhttp::field::user_agent, "bzzz-cli");
    if (!options_.token.empty()) req.set(bhttp::field::authorization, "Bearer " + options_.token);
    req.keep_alive(true);
  }

  Status ensure_open() {
    if (stream_ && !idle_and_open()) close();
    if (!stream_) return open();
    return ok();
  }

  // A kept-alive connection with nothing to read is still good; one that is readable
  // was closed by the node (idle timeout, shutdown) or holds bytes nobody asked for.
  bool idle_and_open() {
    if (buffer_.size() > 0) return false;
    pollfd p{stream_->socket().native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }

  // Whether the node has answered (or closed) while the request is still being sent.
  bool node_spoke() {
    if (buffer_.size() > 0) return true;
    pollfd p{stream_->socket().native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  void close() {
    if (stream_) {
      error_code ignored;
      stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_->socket().close(ignored);
    }
    stream_.reset();
    buffer_.clear();
    used_ = false;
  }

  // Reads a whole answer; closes the connection when the node says it will not keep it.
  error_code read_answer(Answer& answer, bool& got_some, bool long_running) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(kJsonLimit);
    error_code ec = read_header(parser, !long_running);
    got_some = parser.got_some();
    if (ec) return ec;
    ec = read(parser);
    if (ec) return ec;
    answer.status = parser.get().result_int();
    answer.reason = std::string(parser.get().reason());
    answer.body = std::move(parser.get().body());
    finish_answer(parser.keep_alive());
    return {};
  }

  void finish_answer(bool keep_alive) {
    used_ = true;
    if (!keep_alive) close();
  }

  Status read_error_answer(bhttp::response_parser<bhttp::buffer_body>&& header_only) {
    bhttp::response_parser<bhttp::string_body> parser(std::move(header_only));
    parser.body_limit(kErrorBodyLimit);
    error_code ec = read(parser);
    if (ec) {
      close();
      return fail(io_error(ec, "answering"));
    }
    Answer answer{parser.get().result_int(), std::string(parser.get().reason()),
                  std::move(parser.get().body())};
    finish_answer(parser.keep_alive());
    return fail(answer_error(url_, answer, !options_.token.empty()));
  }

  Status stream_body(bhttp::response_parser<bhttp::buffer_body>& parser, const Hash& want,
                     store::ByteSink& sink) {
    // A body of known length is read straight into the piece, a MiB per call; the
    // parser (which copies out of the buffer, at most 64 KiB per read) is left for
    // chunked bodies, which the node does not send but a proxy might.
    std::optional<uint64_t> left;
    if (!parser.chunked() && parser.content_length()) left = *parser.content_length();
    std::vector<uint8_t> piece(kPiece), held(kPiece);
    size_t held_size = 0;
    uint64_t total = 0;
    Blake3Hasher hasher;
    for (;;) {
      size_t n = 0;
      error_code ec = left ? read_direct(piece, *left, n) : read_parsed(parser, piece, n);
      if (ec) {
        close();
        if (ec == beast::error::timeout) return fail(io_error(ec, "sending the blob"));
        return make_error(ErrorCode::kIo,
                          fmt::format("node at {} ended the download of {} after {} bytes ({}); the "
                                      "output is incomplete",
                                      url_.text, want.hex(), total + n, ec.message()));
      }
      if (n == 0) break;
      hasher.update({piece.data(), n});
      total += n;
      if (held_size > 0) {
        Status written = sink.write({held.data(), held_size});
        if (!written) {
          close();  // the rest of the body is left unread
          return written;
        }
      }
      std::swap(piece, held);
      held_size = n;
    }
    finish_answer(parser.keep_alive());
    Hash got = hasher.finalize();
    if (got != want) {
      return make_error(ErrorCode::kCorrupt,
                        fmt::format("node at {} served bytes that do not hash to {} (they hash to {}); "
                                    "the output is incomplete",
                                    url_.text, want.hex(), got.hex()));
    }
    if (held_size > 0) BZZZ_TRY(sink.write({held.data(), held_size}));
    return ok();
  }

  // The next piece of a body of `left` more bytes: what the header read left in the
  // buffer, then the socket. n = 0 once the body is complete.
  error_code read_direct(std::span<uint8_t> piece, uint64_t& left, size_t& n) {
    size_t wanted = static_cast<size_t>(std::min<uint64_t>(piece.size(), left));
    n = asio::buffer_copy(asio::buffer(piece.data(), wanted), buffer_.data());
    buffer_.consume(n);
    error_code ec;
    if (n < wanted) {
      size_t got = 0;
      stream_->expires_after(options_.io_timeout);
      ec = run([&](auto done) {
        asio::async_read(*stream_, asio::buffer(piece.data() + n, wanted - n),
                         [&got, done = std::move(done)](error_code e, size_t bytes) mutable {
                           got = bytes;
                           done(e);
                         });
      });
      n += got;
    }
    left -= n;
    return ec;
  }

  error_code read_parsed(bhttp::response_parser<bhttp::buffer_body>& parser, std::span<uint8_t> piece,
                         size_t& n) {
    n = 0;
    while (n == 0 && !parser.is_done()) {
      parser.get().body().data = piece.data();
      parser.get().body().size = piece.size();
      error_code ec = read(parser);
      if (ec == bhttp::error::need_buffer) ec = {};
      n = piece.size() - parser.get().body().size;
      parser.get().body().data = nullptr;
      if (ec) return ec;
    }
    return {};
  }

  Error io_error(const error_code& ec, std::string_view while_node) const {
    if (ec == beast::error::timeout) {
      return Error(ErrorCode::kTimeout, fmt::format("node at {} made no progress {} for {} ms", url_.text,
                                                    while_node, options_.io_timeout.count()));
    }
    if (is_disconnect(ec)) {
      return Error(ErrorCode::kUnavailable,
                   fmt::format("node at {} closed the connection while {} ({})", url_.text, while_node,
                               ec.message()));
    }
    return Error(ErrorCode::kIo, fmt::format("node at {}: {} failed: {}", url_.text, while_node, ec.message()));
  }

  Url url_;
  RemoteOptions options_;
  asio::io_context io_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  bool used_ = false;  // an answer came on this connection: it is a kept-alive one
};

// --- the backend -----------------------------------------------------------------------

class RemoteBackend final : public Backend {
 public:
  RemoteBackend(Url url, RemoteOptions options)
      : local_only_(options.local_only), put_query_(options.put_query), conn_(std::move(url), std::move(options)) {}

  Status open() { return conn_.open(); }

  Result<store::PutResult> put(store::ByteSource& source) override {
    Hash sent;
    BZZZ_ASSIGN_OR_RETURN(std::string body, conn_.upload("/v1/blobs" + put_query_, source, &sent));
    BZZZ_ASSIGN_OR_RETURN(json doc, parse_doc(url(), "the upload", body));
    auto put = api::put_from_json(doc);
    if (!put) return fail(unexpected_doc(url(), "the upload", put.error().message()));
    if (put->hash != sent) {
      return make_error(ErrorCode::kCorrupt,
                        fmt::format("node at {} stored the upload as {}, but the bytes sent hash to {}",
                                    url().text, put->hash.hex(), sent.hex()));
    }
    return std::move(*put);
  }

  Status get(const Hash& hash, store::ByteSink& sink) override {
    return conn_.download(fmt::format("/v1/blobs/{}{}", hash.hex(), local_only_ ? "?local=1" : ""), hash, sink);
  }

  Result<store::BlobMeta> stat(const Hash& hash) override {
    BZZZ_ASSIGN_OR_RETURN(json doc, call_json(bhttp::verb::get, "/v1/blobs/" + hash.hex() + "/meta", "stat"));
    auto meta = api::meta_from_json(doc);
    if (!meta) return fail(unexpected_doc(url(), "stat", meta.error().message()));
    if (meta->first != hash) return fail(unexpected_doc(url(), "stat", "it describes " + meta->first.hex()));
    return meta->second;
  }

  Status list(const std::function<bool(const Hash&, const store::BlobMeta&)>& fn) override {
    std::optional<Hash> after;
    for (;;) {
      std::string path = fmt::format("/v1/blobs?limit={}", kListPage);
      if (after) path += "&after=" + after->hex();
      BZZZ_ASSIGN_OR_RETURN(json doc, call_json(bhttp::verb::get, path, "list"));
      if (!doc.is_object() || !doc.contains("blobs") || !doc["blobs"].is_array()) {
        return fail(unexpected_doc(url(), "list", "no 'blobs' array"));
      }
      for (const json& item : doc["blobs"]) {
        auto meta = api::meta_from_json(item);
        if (!meta) return fail(unexpected_doc(url(), "list", meta.error().message()));
        if (!fn(meta->first, meta->second)) return ok();
      }
      const json& next = doc.contains("next") ? doc["next"] : json();
      if (next.is_null()) return ok();
      auto hash = next.is_string() ? Hash::parse(next.get<std::string>())
                                   : make_error(ErrorCode::kInvalidArgument, "'next' is not a string");
      if (!hash) return fail(unexpected_doc(url(), "list", hash.error().message()));
      // Pages must advance, or a confused node would keep us here forever.
      if (after && !(*after < *hash)) return fail(unexpected_doc(url(), "list", "'next' does not advance"));
      after = *hash;
    }
  }

  Result<uint32_t> pin(const Hash& hash) override { return pin_call(bhttp::verb::post, hash); }
  Result<uint32_t> unpin(const Hash& hash) override { return pin_call(bhttp::verb::delete_, hash); }

  Result<std::vector<store::PinEntry>> pins() override {
    BZZZ_ASSIGN_OR_RETURN(json doc, call_json(bhttp::verb::get, "/v1/pins", "pins"));
    if (!doc.is_object() || !doc.contains("pins")) return fail(unexpected_doc(url(), "pins", "no 'pins'"));
    auto pins = api::pins_from_json(doc["pins"]);
    if (!pins) return fail(unexpected_doc(url(), "pins", pins.error().message()));
    return std::move(*pins);
  }

  Result<store::GcReport> gc(const store::GcOptions& options) override {
    // Nanoseconds: the exact grace, in a unit the node's duration parser takes.
    std::string path = fmt::format("/v1/gc?grace={}ns&dry_run={}", std::max<int64_t>(options.grace.count(), 0),
                                   options.dry_run ? "true" : "false");
    BZZZ_ASSIGN_OR_RETURN(json doc, call_json(bhttp::verb::post, path, "gc", true));
    auto report = api::gc_from_json(doc);
    if (!report) return fail(unexpected_doc(url(), "gc", report.error().message()));
    return *report;
  }

  Result<store::VerifyReport> verify() override {
    BZZZ_ASSIGN_OR_RETURN(json doc, call_json(bhttp::verb::post, "/v1/verify", "verify", true));
    auto report = api::verify_from_json(doc);
    if (!report) return fail(unexpected_doc(url(), "verify", report.error().message()));
    return std::move(*report);
  }

  Result<store::Stats> stats() override {
    BZZZ_ASSIGN_OR_RETURN(json doc, call_json(bhttp::verb::get, "/v1/stats", "stats"));
    auto stats = api::stats_from_json(doc);
    if (!stats) return fail(unexpected_doc(url(), "stats", stats.error().message()));
    return *stats;
  }

  Result<store::OptimizeReport> optimize() override {
    BZZZ_ASSIGN_OR_RETURN(json doc, call_json(bhttp::verb::post, "/v1/optimize", "optimize", true));
    auto report = api::optimize_from_json(doc);
    if (!report) return fail(unexpected_doc(url(), "optimize", report.error().message()));
    return *report;
  }

  Status rebuild_index() override {
    return make_error(ErrorCode::kUnavailable,
                      "index rebuild needs the data dir to itself: stop the node (or run with "
                      "--offline once it is stopped)");
  }

 private:
  const Url& url() const { return conn_.url(); }

  // GETs, gc, verify and optimize may be sent again on a fresh connection if a kept-alive
  // one was found closed; pin and unpin count, so they are not.
  Result<json> call_json(bhttp::verb method, const std::string& path, std::string_view what,
                         bool long_running = false) {
    bool retry_safe = method == bhttp::verb::get || long_running;
    BZZZ_ASSIGN_OR_RETURN(std::string body, conn_.call(method, path, retry_safe, long_running));
    return parse_doc(url(), what, body);
  }

  Result<uint32_t> pin_call(bhttp::verb method, const Hash& hash) {
    std::string_view what = method == bhttp::verb::post ? "pin" : "unpin";
    BZZZ_ASSIGN_OR_RETURN(json doc, call_json(method, "/v1/pins/" + hash.hex(), what));
    if (!doc.is_object() || !doc.contains("pins") || !doc["pins"].is_number_unsigned() ||
        doc["pins"].get<uint64_t>() > UINT32_MAX) {
      return fail(unexpected_doc(url(), what, "no pin count"));
    }
    return static_cast<uint32_t>(doc["pins"].get<uint64_t>());
  }

  bool local_only_;
  std::string put_query_;  // "?pin=1", "?replicas=N" or ""
  Connection conn_;
};

}  // namespace

Result<std::unique_ptr<Backend>> connect_remote(const RemoteOptions& options) {
  BZZZ_ASSIGN_OR_RETURN(Url url, parse_url(options.url));
  auto backend = std::make_unique<RemoteBackend>(std::move(url), options);
  BZZZ_TRY(backend->open());
  return std::unique_ptr<Backend>(std::move(backend));
}

Result<nlohmann::json> node_call(const RemoteOptions& options, std::string_view method, std::string_view path,
                                 const nlohmann::json* body) {
  BZZZ_ASSIGN_OR_RETURN(Url url, parse_url(options.url));
  Connection conn(url, options);
  bhttp::verb verb = bhttp::string_to_verb(method);
  std::string text = body ? body->dump() : std::string();
  BZZZ_ASSIGN_OR_RETURN(std::string answer, conn.call(verb, path, verb == bhttp::verb::get, false, text));
  return parse_doc(url, std::string(path), answer);
}

Result<nlohmann::json> node_send(const RemoteOptions& options, std::string_view method, std::string_view path,
                                 const std::string& body, std::string_view content_type) {
  BZZZ_ASSIGN_OR_RETURN(Url url, parse_url(options.url));
  Connection conn(url, options);
  BZZZ_ASSIGN_OR_RETURN(std::string answer,
                        conn.call(bhttp::string_to_verb(method), path, false, false, body, content_type));
  return parse_doc(url, std::string(path), answer);
}

Status node_lines(const RemoteOptions& options, std::string_view path,
                  const std::function<bool(std::string_view)>& on_line) {
  BZZZ_ASSIGN_OR_RETURN(Url url, parse_url(options.url));
  Connection conn(url, options);
  return conn.read_lines(path, on_line);
}

Result<std::string> api_path(std::string_view prefix, std::string_view name, std::string_view what) {
  std::string path(prefix);
  bool segment_start = true;
  for (char c : name) {
    if (c == '/') {
      if (segment_start) break;
      path.push_back('/');
      segment_start = true;
      continue;
    }
    segment_start = false;
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                 c == '_' || c == '.' || c == '~';
    if (plain) {
      path.push_back(c);
    } else {
      path += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  if (segment_start) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{} \"{}\" has an empty segment (a leading, trailing or doubled '/'), "
                                  "which the API path cannot carry",
                                  what, name));
  }
  return path;
}

Result<nlohmann::json> node_status(const RemoteOptions& options) {
  BZZZ_ASSIGN_OR_RETURN(Url url, parse_url(options.url));
  Connection conn(url, options);
  BZZZ_ASSIGN_OR_RETURN(std::string body, conn.call(bhttp::verb::get, "/v1/status", true));
  BZZZ_ASSIGN_OR_RETURN(json doc, parse_doc(url, "status", body));
  if (!doc.is_object() || !doc.contains("version")) {
    return fail(unexpected_doc(url, "status", "no 'version' (is this a bzzz node?)"));
  }
  return doc;
}

}  // namespace bzzz::cli
