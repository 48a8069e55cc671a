#include "base/status/result.h"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace bzzz {

std::string quoted(std::string_view text) {
  constexpr size_t kMaxShown = 80;
  std::string out = "\"";
  size_t shown = text.size() > kMaxShown ? kMaxShown - 3 : text.size();
  for (size_t i = 0; i < shown; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (shown < text.size()) out += "...";
  out += '"';
  return out;
}

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kAlreadyExists: return "already_exists";
    case ErrorCode::kCorrupt: return "corrupt";
    case ErrorCode::kIo: return "io_error";
    case ErrorCode::kNoSpace: return "no_space";
    case ErrorCode::kPermission: return "permission_denied";
    case ErrorCode::kBusy: return "busy";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kTooLarge: return "too_large";
    case ErrorCode::kProtocol: return "protocol_error";
    case ErrorCode::kInternal: return "internal";
  }
  return "unknown";
}

Error Error::wrap(std::string_view context) const& {
  return Error(code_, fmt::format("{}: {}", context, message_));
}

Error Error::wrap(std::string_view context) && {
  message_ = fmt::format("{}: {}", context, message_);
  return std::move(*this);
}

Error errno_error(int err, std::string_view what) {
  ErrorCode code = ErrorCode::kIo;
  switch (err) {
    case ENOENT: code = ErrorCode::kNotFound; break;
    case EEXIST: code = ErrorCode::kAlreadyExists; break;
    case ENOSPC:
    case EDQUOT: code = ErrorCode::kNoSpace; break;
    case EACCES:
    case EPERM:
    case EROFS: code = ErrorCode::kPermission; break;
    case EWOULDBLOCK: code = ErrorCode::kBusy; break;
    case EINVAL: code = ErrorCode::kInvalidArgument; break;
    default: break;
  }
  if (err == ENOSPC || err == EDQUOT) {
    return Error(code, fmt::format("{}: no space left on device (disk full)", what));
  }
  return Error(code, fmt::format("{}: {}", what, std::strerror(err)));
}

}  // namespace bzzz
