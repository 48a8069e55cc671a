#include "p2p/net/mss.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "p2p/multistream/codec.h"

namespace bzzz::p2p::net {

namespace asio = boost::asio;

namespace {

// Reads whole multistream messages off a stream, keeping what is past them.
class Reader {
 public:
  explicit Reader(ByteStream& stream) : stream_(stream) {}
  ~Reader() {
    if (pos_ < buf_.size()) stream_.unread(std::span<const uint8_t>(buf_).subspan(pos_));
  }

  asio::awaitable<Result<std::string>> next() {
    for (;;) {
      std::span<const uint8_t> in = std::span<const uint8_t>(buf_).subspan(pos_);
      size_t before = in.size();
      auto msg = mss::read_message(in);
      if (!msg) co_return make_error(ErrorCode::kProtocol, fmt::format("multistream: {}", msg.error().message()));
      if (*msg) {
        pos_ += before - in.size();
        co_return std::move(**msg);
      }
      uint8_t chunk[1100];
      auto n = co_await stream_.read_some(chunk);
      if (!n) co_return tl::unexpected(n.error());
      if (*n == 0) co_return make_error(ErrorCode::kProtocol, "multistream: the remote closed the stream while negotiating");
      buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(pos_));
      pos_ = 0;
      buf_.insert(buf_.end(), chunk, chunk + *n);
    }
  }

 private:
  ByteStream& stream_;
  std::vector<uint8_t> buf_;
  size_t pos_ = 0;
};

Result<void> expect_header(const std::string& text) {
  if (text != mss::kHeader) {
    return make_error(ErrorCode::kProtocol,
                      fmt::format("multistream: expected the header {}, got {}", mss::kHeader, quoted(text)));
  }
  return ok();
}

}  // namespace

asio::awaitable<Result<std::string>> mss_select(ByteStream& stream, const std::vector<std::string>& protocols) {
  if (protocols.empty()) co_return make_error(ErrorCode::kInvalidArgument, "multistream: nothing to propose");
  std::vector<uint8_t> out;
  mss::append_message(out, mss::kHeader);
  mss::append_message(out, protocols[0]);
  auto st = co_await stream.write(out);
  if (!st) co_return tl::unexpected(st.error());
  Reader reader(stream);
  auto header = co_await reader.next();
  if (!header) co_return tl::unexpected(header.error());
  auto hst = expect_header(*header);
  if (!hst) co_return tl::unexpected(hst.error());
  for (size_t i = 0; i < protocols.size(); ++i) {
    if (i > 0) {
      auto proposal = mss::message(protocols[i]);
      auto wst = co_await stream.write(proposal);
      if (!wst) co_return tl::unexpected(wst.error());
    }
    auto answer = co_await reader.next();
    if (!answer) co_return tl::unexpected(answer.error());
    if (*answer == protocols[i]) co_return protocols[i];
    if (*answer != mss::kNa) {
      co_return make_error(ErrorCode::kProtocol, fmt::format("multistream: proposed {}, the answer was {}",
                                                             quoted(protocols[i]), quoted(*answer)));
    }
  }
  co_return make_error(ErrorCode::kNotFound,
                       fmt::format("multistream: the remote supports none of {}", fmt::join(protocols, ", ")));
}

asio::awaitable<Result<std::string>> mss_handle(ByteStream& stream, const MssServer& server) {
  Reader reader(stream);
  auto header = co_await reader.next();
  if (!header) co_return tl::unexpected(header.error());
  auto hst = expect_header(*header);
  if (!hst) co_return tl::unexpected(hst.error());
  auto header_msg = mss::message(mss::kHeader);
  auto st = co_await stream.write(header_msg);
  if (!st) co_return tl::unexpected(st.error());
  for (int i = 0; i < kMaxProposals; ++i) {
    auto proposal = co_await reader.next();
    if (!proposal) co_return tl::unexpected(proposal.error());
    std::vector<uint8_t> answer;
    if (*proposal == mss::kLs) {
      answer = mss::ls_response(server.list ? server.list() : std::vector<std::string>{});
    } else if (server.supports(*proposal)) {
      auto echo = mss::message(*proposal);
      auto wst = co_await stream.write(echo);
      if (!wst) co_return tl::unexpected(wst.error());
      co_return std::move(*proposal);
    } else {
      answer = mss::message(mss::kNa);
    }
    auto wst = co_await stream.write(answer);
    if (!wst) co_return tl::unexpected(wst.error());
  }
  co_return make_error(ErrorCode::kProtocol,
                       fmt::format("multistream: more than {} proposals without agreement", kMaxProposals));
}

}  // namespace bzzz::p2p::net
