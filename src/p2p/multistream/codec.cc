#include "p2p/multistream/codec.h"

#include <fmt/format.h>

#include "base/encoding/varint.h"

namespace bzzz::p2p::mss {

void append_message(std::vector<uint8_t>& out, std::string_view text) {
  varint_append(out, text.size() + 1);
  out.insert(out.end(), text.begin(), text.end());
  out.push_back('\n');
}

std::vector<uint8_t> message(std::string_view text) {
  std::vector<uint8_t> out;
  append_message(out, text);
  return out;
}

Result<std::optional<std::string>> read_message(std::span<const uint8_t>& in) {
  std::span<const uint8_t> rest = in;
  BZZZ_ASSIGN_OR_RETURN(auto length, varint_try_read(rest));
  if (!length) return std::optional<std::string>();
  if (*length > kMaxMessage) {
    return make_error(ErrorCode::kProtocol,
                      fmt::format("multistream message of {} bytes (at most {})", *length, kMaxMessage));
  }
  if (*length == 0) return make_error(ErrorCode::kProtocol, "empty multistream message");
  if (rest.size() < *length) return std::optional<std::string>();
  if (rest[*length - 1] != '\n') {
    return make_error(ErrorCode::kProtocol, "multistream message does not end in a newline");
  }
  std::string text(rest.begin(), rest.begin() + static_cast<ptrdiff_t>(*length - 1));
  in = rest.subspan(static_cast<size_t>(*length));
  return std::optional<std::string>(std::move(text));
}

std::vector<uint8_t> ls_response(const std::vector<std::string>& protocols) {
  std::vector<uint8_t> body;
  for (const auto& p : protocols) append_message(body, p);
  std::vector<uint8_t> out;
  varint_append(out, body.size() + 1);
  out.insert(out.end(), body.begin(), body.end());
  out.push_back('\n');
  return out;
}

Result<std::vector<std::string>> parse_ls_body(std::string_view body) {
  std::span<const uint8_t> in(reinterpret_cast<const uint8_t*>(body.data()), body.size());
  std::vector<std::string> out;
  while (!in.empty()) {
    BZZZ_ASSIGN_OR_RETURN(auto msg, read_message(in));
    if (!msg) return make_error(ErrorCode::kProtocol, "ls answer ends inside a protocol entry");
    out.push_back(std::move(*msg));
  }
  return out;
}

}  // namespace bzzz::p2p::mss
