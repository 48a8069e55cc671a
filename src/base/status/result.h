// base/status: the error model of the whole project.
//
// Expected failures (bad input, I/O, a full disk, a corrupt blob, a timeout) are values:
// Result<T> holds either a T or an Error with a code a program can branch on and a
// message a person can act on. Exceptions from libraries are caught at module edges
// and turned into Errors. Programmer errors assert. Depends on nothing but the standard
// library and tl::expected.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace bzzz {

enum class ErrorCode {
  kInvalidArgument,  // the caller's input is malformed (bad hash, bad flag value)
  kNotFound,         // a named thing does not exist (blob, file)
  kAlreadyExists,
  kCorrupt,          // stored data fails verification
  kIo,               // an operating-system I/O error other than the ones below
  kNoSpace,          // ENOSPC / EDQUOT: the disk is full
  kPermission,       // EACCES / EPERM
  kBusy,             // a lock is held by someone else
  kTimeout,
  kUnavailable,      // a service is not reachable or is shutting down
  kTooLarge,         // input over a configured limit (a request body, a header)
  kProtocol,         // a remote peer broke the wire protocol (bad frame, bad handshake)
  kInternal,         // a bug or an invariant broken by the environment
};

std::string_view error_code_name(ErrorCode code);

// A value as an error message shows it: in double quotes, escaped, cut at 80 bytes, so
// a hostile or binary input cannot garble the message.
std::string quoted(std::string_view text);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes context, so errors read outermost-first: "put /x: write temp file: No space left".
  Error wrap(std::string_view context) const&;
  Error wrap(std::string_view context) &&;

 private:
  ErrorCode code_;
  std::string message_;
};

// Maps an errno value to an Error whose message names `what` (a path, an operation).
Error errno_error(int err, std::string_view what);

template <typename T>
using Result = tl::expected<T, Error>;
using Status = Result<void>;

inline tl::unexpected<Error> make_error(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error(code, std::move(message)));
}
inline tl::unexpected<Error> fail(Error e) { return tl::unexpected<Error>(std::move(e)); }
inline Status ok() { return {}; }

}  // namespace bzzz

// Propagates an error from an expression returning Result<...>.
#define BZZZ_TRY(expr)                                   \
  do {                                                   \
    auto&& bzzz_try_result_ = (expr);                    \
    if (!bzzz_try_result_) return ::bzzz::fail(std::move(bzzz_try_result_).error()); \
  } while (0)

#define BZZZ_CONCAT_INNER_(a, b) a##b
#define BZZZ_CONCAT_(a, b) BZZZ_CONCAT_INNER_(a, b)
// Declares `lhs` from a Result's value, or returns its error.
#define BZZZ_ASSIGN_OR_RETURN(lhs, expr)                                      \
  auto BZZZ_CONCAT_(bzzz_res_, __LINE__) = (expr);                            \
  if (!BZZZ_CONCAT_(bzzz_res_, __LINE__))                                     \
    return ::bzzz::fail(std::move(BZZZ_CONCAT_(bzzz_res_, __LINE__)).error()); \
  lhs = std::move(*BZZZ_CONCAT_(bzzz_res_, __LINE__))
