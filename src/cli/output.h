// cli: how commands speak. Text for people by default, one JSON document per command
// with --json; errors go to stderr as "bzzz: <message>" (and as a JSON error object on
// stdout with --json). Exit codes: 0 success, 1 failure, 2 usage error.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "base/status/result.h"

namespace bzzz::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

class Output {
 public:
  explicit Output(bool json) : json_(json) {}
  bool json() const { return json_; }

  void text(const std::string& line) const;  // printed only in text mode
  void document(const nlohmann::json& doc) const;  // printed only in JSON mode
  // Reports an error and returns the exit code for it.
  int error(const Error& error, int exit_code = kExitFailure) const;

 private:
  bool json_;
};

std::string human_bytes(uint64_t bytes);

}  // namespace bzzz::cli
