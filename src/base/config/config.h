// base/config: the configuration engine of a node. Owns the option schema, the layered
// loading (defaults < YAML file < environment < flags), secrets read from files (Docker
// secrets), where each value came from, and `bzzz config show`. Knows no option of its
// own: each module adds its options to a Schema. Depends only on base/status, yaml-cpp,
// nlohmann_json and fmt; it must never learn about the layers that use it.
//
// Rules a user relies on:
// - key `a.b.c` is the environment variable BZZZ_A_B_C; unknown BZZZ_* variables are
//   ignored (test harnesses set BZZZ_BIN and the like), unknown YAML keys are errors;
// - a list is a YAML sequence in the file and a comma-separated string elsewhere;
// - a secret `x` may come from a file named by `x_file` / BZZZ_X_FILE (one trailing
//   newline stripped); giving `x` and `x_file` in the same layer is an error;
// - YAML null (`~` or nothing) means "not set here"; an empty environment variable is
//   set to "" (that is how a list is emptied from the environment);
// - a bad value in any layer is an error, even if a higher layer overrides it.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/config/value_parse.h"
#include "base/status/result.h"

namespace bzzz::config {

enum class Kind { kString, kBool, kInt, kDouble, kDuration, kBytes, kList, kEnum, kHostPort };

// Every member has an initializer so that designated initializers may leave any out
// without -Wmissing-field-initializers.
struct Option {
  std::string key{};                   // "api.listen": lowercase, digits, '_' and '.'
  Kind kind = Kind::kString;
  std::string default_value{};         // parsed like any other source
  std::string help{};                  // one line
  bool secret = false;                 // redacted when shown; may come from key_file
  std::vector<std::string> choices{};  // kEnum
  std::optional<double> min{}, max{};  // kInt, kDouble, kDuration (seconds), kBytes
  std::string env_name() const;        // "BZZZ_API_LISTEN"
};

class Schema {
 public:
  // Aborts on a duplicate key (or environment name), a malformed key, or a default
  // that does not parse: those are programmer errors, caught by any test that builds
  // the schema.
  Schema& add(Option option);
  const Option* find(std::string_view key) const;
  const std::vector<Option>& options() const { return options_; }

 private:
  std::vector<Option> options_;
};

enum class Source { kDefault, kFile, kEnv, kFlag };
std::string_view source_name(Source source);  // "default", "file", "env", "flag"

struct Setting {
  std::string text;  // as given (a secret itself; redaction happens when rendering)
  Source source = Source::kDefault;
  // "default", "/etc/bzzz.yaml:12", "BZZZ_API_LISTEN", "--set api.listen",
  // "file /run/secrets/t (BZZZ_API_TOKEN_FILE)"
  std::string origin;
};

struct Flag {
  std::string key;     // an option, or `x_file` for a secret `x`
  std::string value;
  std::string origin;  // "--set api.listen", "--data"; "" means "--set <key>"
};

struct Inputs {
  std::optional<std::string> file;         // YAML config path, if any
  std::map<std::string, std::string> env;  // usually environment()
  std::vector<Flag> flags;                 // applied in order; a later one wins
};

// The process environment, BZZZ_* variables only.
std::map<std::string, std::string> environment();

class Loader;

class Config {
 public:
  using HostPort = config::HostPort;

  // Typed getters. Asking for an unknown key or with the getter of another kind is a
  // programmer error and aborts.
  const std::string& string(std::string_view key) const;  // kString, kEnum, kHostPort
  bool boolean(std::string_view key) const;
  int64_t integer(std::string_view key) const;
  double number(std::string_view key) const;
  std::chrono::nanoseconds duration(std::string_view key) const;
  uint64_t bytes(std::string_view key) const;
  std::vector<std::string> list(std::string_view key) const;
  HostPort host_port(std::string_view key) const;
  const Setting& setting(std::string_view key) const;
  const Schema& schema() const { return schema_; }

  // One line per option, "key = value  # origin", in aligned columns; a set secret
  // shows as <redacted>, an unset one as empty (so "is it set?" stays answerable).
  std::string render_text() const;
  // {"key": {"value": <typed>, "source": "env", "origin": "BZZZ_..."}, ...}. Durations
  // are seconds (a number), sizes bytes, lists arrays, host:port a string.
  nlohmann::json render_json() const;

 private:
  friend class Loader;
  using Typed = std::variant<std::monostate, bool, int64_t, double, std::chrono::nanoseconds,
                             uint64_t, std::vector<std::string>, HostPort>;
  struct Value {
    Setting setting;
    Typed typed;  // monostate for kString and kEnum, whose value is setting.text
  };

  explicit Config(const Schema& schema) : schema_(schema) {}
  // Aborts unless `key` is an option of one of `kinds` (any kind if none is given).
  const Value& value(std::string_view key, std::initializer_list<Kind> kinds) const;

  Schema schema_;
  std::map<std::string, Value, std::less<>> values_;
};

Result<Config> load(const Schema& schema, const Inputs& inputs);

}  // namespace bzzz::config
