#include "base/config/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <type_traits>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

namespace bzzz::config {

namespace {

// Enough for any real config or secret; stops a path like /dev/zero from eating memory.
constexpr size_t kMaxFileSize = 4 << 20;

// Schema mistakes and wrong getters are bugs in the caller; they must stop the program
// in release builds too, where assert() is compiled out.
[[noreturn]] void die(std::string_view message) {
  std::fprintf(stderr, "bzzz: config: programmer error: %.*s\n", static_cast<int>(message.size()),
               message.data());
  std::abort();
}

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::kString: return "string";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kDouble: return "double";
    case Kind::kDuration: return "duration";
    case Kind::kBytes: return "bytes";
    case Kind::kList: return "list";
    case Kind::kEnum: return "enum";
    case Kind::kHostPort: return "host:port";
  }
  return "unknown";
}

// Every load error reads "config: ..." and is the user's to fix.
template <typename... Args>
tl::unexpected<Error> invalid(fmt::format_string<Args...> format, Args&&... args) {
  return make_error(ErrorCode::kInvalidArgument,
                    "config: " + fmt::format(format, std::forward<Args>(args)...));
}

bool valid_key(std::string_view key) {
  if (key.empty() || key.front() == '.' || key.back() == '.') return false;
  if (key.find("..") != std::string_view::npos) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

Result<std::string> read_small_file(const std::string& path, std::string_view what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errno_error(errno, what));
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return fail(errno_error(err, what));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxFileSize) {
      ::close(fd);
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{}: larger than {} bytes", what, kMaxFileSize));
    }
  }
  ::close(fd);
  return out;
}

}  // namespace

// The only code that builds a Config; a friend so the typed storage stays private.
class Loader {
 public:
  explicit Loader(const Schema& schema) : config_(schema) {}

  static Result<Config::Typed> parse(const Option& option, std::string_view text) {
    auto bounded = [&](auto value, double as_double,
                       std::string_view unit) -> Result<Config::Typed> {
      BZZZ_TRY(check_range(text, as_double, option.min, option.max, unit));
      return Config::Typed{value};
    };
    switch (option.kind) {
      case Kind::kString: return Config::Typed{};
      case Kind::kBool: {
        BZZZ_ASSIGN_OR_RETURN(bool value, parse_bool(text));
        return Config::Typed{value};
      }
      case Kind::kInt: {
        BZZZ_ASSIGN_OR_RETURN(int64_t value, parse_int(text));
        return bounded(value, static_cast<double>(value), "");
      }
      case Kind::kDouble: {
        BZZZ_ASSIGN_OR_RETURN(double value, parse_double(text));
        return bounded(value, value, "");
      }
      case Kind::kDuration: {
        BZZZ_ASSIGN_OR_RETURN(std::chrono::nanoseconds value, parse_duration(text));
        return bounded(value, std::chrono::duration<double>(value).count(), "s");
      }
      case Kind::kBytes: {
        BZZZ_ASSIGN_OR_RETURN(uint64_t value, parse_bytes(text));
        return bounded(value, static_cast<double>(value), " bytes");
      }
      case Kind::kList: return Config::Typed{split_list(text)};
      case Kind::kEnum: {
        BZZZ_TRY(check_choice(text, option.choices));
        return Config::Typed{};
      }
      case Kind::kHostPort: {
        BZZZ_ASSIGN_OR_RETURN(HostPort value, parse_host_port(text));
        return Config::Typed{std::move(value)};
      }
    }
    die("unknown option kind");
  }

  Status defaults() {
    for (const auto& option : schema().options()) {
      BZZZ_TRY(assign(option, option.default_value, Source::kDefault, "default", "default"));
    }
    return ok();
  }

  Status file(const std::string& path) {
    BZZZ_ASSIGN_OR_RETURN(
        std::string text,
        read_small_file(path, fmt::format("config: cannot read config file {}", path)));
    try {
      YAML::Node root = YAML::Load(text);
      if (root.IsNull()) return ok();
      if (!root.IsMap()) {
        return invalid("{}:{}: expected a map of options at the top level", path,
                       root.Mark().line + 1);
      }
      std::map<std::string, YamlEntry> entries;
      BZZZ_TRY(walk(root, "", path, entries));
      for (const auto& [key, entry] : entries) {
        if (!entry.value.IsNull()) BZZZ_TRY(apply_yaml(key, entry, path, entries));
      }
    } catch (const YAML::Exception& e) {
      if (e.mark.is_null()) return invalid("{}: malformed YAML: {}", path, e.msg);
      return invalid("{}:{}:{}: malformed YAML: {}", path, e.mark.line + 1, e.mark.column + 1,
                     e.msg);
    }
    return ok();
  }

  Status env(const std::map<std::string, std::string>& env) {
    for (const auto& option : schema().options()) {
      std::string name = option.env_name();
      auto plain = env.find(name);
      auto file = option.secret ? env.find(name + "_FILE") : env.end();
      if (plain != env.end() && file != env.end()) {
        return invalid("{}: both {} and {}_FILE are set; use one", option.key, name, name);
      }
      if (plain != env.end()) {
        BZZZ_TRY(assign(option, plain->second, Source::kEnv, name, "environment " + name));
      } else if (file != env.end()) {
        Via via{Source::kEnv, file->first, "environment variable " + file->first};
        BZZZ_TRY(assign_secret_file(option, file->second, via));
      }
    }
    return ok();
  }

  Status flags(const std::vector<Flag>& flags) {
    std::set<std::string> plain_given;
    std::set<std::string> file_given;
    for (const auto& flag : flags) {
      std::string origin = flag.origin.empty() ? "--set " + flag.key : flag.origin;
      const Option* secret = secret_of_file_key(flag.key);
      const Option* option = secret != nullptr ? secret : schema().find(flag.key);
      if (option == nullptr) return invalid("unknown option \"{}\" (from {})", flag.key, origin);
      (secret != nullptr ? file_given : plain_given).insert(option->key);
      if (plain_given.count(option->key) != 0 && file_given.count(option->key) != 0) {
        return invalid("{}: both {} and {}_file are given as flags; use one", option->key,
                       option->key, option->key);
      }
      if (secret != nullptr) {
        BZZZ_TRY(
            assign_secret_file(*secret, flag.value, {Source::kFlag, origin, "flag " + origin}));
      } else {
        BZZZ_TRY(assign(*option, flag.value, Source::kFlag, origin, "flag " + origin));
      }
    }
    return ok();
  }

  Config take() { return std::move(config_); }

 private:
  struct YamlEntry {
    YAML::Node value;
    int line;
  };
  // Where a secret file was named: "BZZZ_API_TOKEN_FILE" for origins, "environment
  // variable BZZZ_API_TOKEN_FILE" for messages.
  struct Via {
    Source source;
    std::string origin;
    std::string described;
  };

  const Schema& schema() const { return config_.schema_; }

  const Option* secret_of_file_key(std::string_view key) const {
    constexpr std::string_view kSuffix = "_file";
    if (key.size() <= kSuffix.size() || key.substr(key.size() - kSuffix.size()) != kSuffix) {
      return nullptr;
    }
    const Option* option = schema().find(key.substr(0, key.size() - kSuffix.size()));
    return option != nullptr && option->secret ? option : nullptr;
  }

  bool is_group(std::string_view key) const {
    std::string prefix = fmt::format("{}.", key);
    return std::any_of(schema().options().begin(), schema().options().end(),
                       [&](const Option& o) { return starts_with(o.key, prefix); });
  }

  // Flattens nested maps into dotted keys, so `api: {listen: x}` and `api.listen: x` are
  // the same thing, and rejects what no option can mean while the line is still known.
  Status walk(const YAML::Node& map, const std::string& prefix, const std::string& path,
              std::map<std::string, YamlEntry>& out) const {
    for (auto it = map.begin(); it != map.end(); ++it) {
      // By value: yaml-cpp's `it->` yields a temporary, so a reference would dangle.
      YAML::Node name = it->first;
      YAML::Node value = it->second;
      int line = name.Mark().line + 1;
      if (!name.IsScalar()) return invalid("{}:{}: a key must be a plain name", path, line);
      std::string key = prefix.empty() ? name.Scalar() : prefix + "." + name.Scalar();
      bool known = schema().find(key) != nullptr || secret_of_file_key(key) != nullptr;
      if (value.IsMap() && known) {
        return invalid("{}: expected a value, found a map at {}:{}", key, path, line);
      }
      if (!known && !is_group(key)) return invalid("unknown key \"{}\" at {}:{}", key, path, line);
      if (value.IsMap()) {
        BZZZ_TRY(walk(value, key, path, out));
      } else if (!known && !value.IsNull()) {
        return invalid("{}: expected a map of options, found a {} at {}:{}", key,
                       value.IsSequence() ? "sequence" : "value", path, line);
      } else if (known) {
        auto [previous, inserted] = out.emplace(key, YamlEntry{value, line});
        if (!inserted) {
          return invalid("{}: given twice in {} (lines {} and {})", key, path,
                         previous->second.line, line);
        }
      }
    }
    return ok();
  }

  Status apply_yaml(const std::string& key, const YamlEntry& entry, const std::string& path,
                    const std::map<std::string, YamlEntry>& entries) {
    std::string where = fmt::format("{}:{}", path, entry.line);
    const YAML::Node& value = entry.value;
    if (const Option* secret = secret_of_file_key(key)) {
      auto plain = entries.find(secret->key);
      if (plain != entries.end() && !plain->second.value.IsNull()) {
        return invalid("{}: both {} (line {}) and {} (line {}) are given in {}; use one",
                       secret->key, secret->key, plain->second.line, key, entry.line, path);
      }
      if (!value.IsScalar()) {
        return invalid("{}: expected a file path, found a sequence at {}", key, where);
      }
      Via via{Source::kFile, where, fmt::format("{} at {}", key, where)};
      return assign_secret_file(*secret, value.Scalar(), via);
    }
    const Option& option = *schema().find(key);
    if (!value.IsSequence()) return assign(option, value.Scalar(), Source::kFile, where, where);
    if (option.kind != Kind::kList) {
      return invalid("{}: expected a single value, found a sequence at {}", key, where);
    }
    std::vector<std::string> items;
    for (const auto& item : value) {
      if (item.IsNull()) continue;
      if (!item.IsScalar()) {
        return invalid("{}: list items must be plain values, at {}:{}", key, path,
                       item.Mark().line + 1);
      }
      items.push_back(item.Scalar());
    }
    auto& slot = config_.values_[option.key];
    slot.setting = Setting{fmt::format("{}", fmt::join(items, ",")), Source::kFile, where};
    slot.typed = std::move(items);
    return ok();
  }

  Status assign(const Option& option, std::string text, Source source, std::string origin,
                std::string_view where) {
    auto typed = parse(option, text);
    if (!typed) {
      // The parsers' messages start with the quoted value, so where it came from fits
      // right after it; a secret's value is never shown, not even when it is wrong.
      std::string quoted = quote_value(text);
      const std::string& message = typed.error().message();
      std::string rest =
          starts_with(message, quoted) ? message.substr(quoted.size()) : ": " + message;
      if (option.secret) rest = fmt::format(" is not a valid {}", kind_name(option.kind));
      return invalid("{}: {} from {}{}", option.key, option.secret ? "<redacted>" : quoted, where,
                     rest);
    }
    auto& slot = config_.values_[option.key];
    slot.setting = Setting{std::move(text), source, std::move(origin)};
    slot.typed = std::move(*typed);
    return ok();
  }

  Status assign_secret_file(const Option& option, const std::string& path, const Via& via) {
    if (path.empty()) return invalid("{}: {} names no file", option.key, via.described);
    std::string what = fmt::format("config: {}: cannot read secret file {} (named by {})",
                                   option.key, path, via.described);
    BZZZ_ASSIGN_OR_RETURN(std::string text, read_small_file(path, what));
    // Files written by editors and `echo` end in a newline that is not part of the
    // secret; only one is removed, so a secret that really ends in whitespace survives.
    if (text.size() >= 2 && text.compare(text.size() - 2, 2, "\r\n") == 0) {
      text.resize(text.size() - 2);
    } else if (!text.empty() && text.back() == '\n') {
      text.pop_back();
    }
    if (text.empty()) {
      return invalid("{}: secret file {} (named by {}) is empty", option.key, path, via.described);
    }
    std::string origin = fmt::format("file {} ({})", path, via.origin);
    return assign(option, std::move(text), via.source, origin, origin);
  }

  Config config_;
};

// --- public API -------------------------------------------------------------------------

std::string Option::env_name() const {
  std::string name = "BZZZ_";
  for (char c : key) {
    name += c == '.' ? '_' : (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }
  return name;
}

Schema& Schema::add(Option option) {
  if (!valid_key(option.key)) die(fmt::format("invalid option key \"{}\"", option.key));
  std::string env = option.env_name();
  for (const auto& other : options_) {
    if (other.key == option.key) die(fmt::format("option {} added twice", option.key));
    if (other.env_name() == env) {
      die(fmt::format("options {} and {} share the variable {}", other.key, option.key, env));
    }
    if ((other.secret && other.key + "_file" == option.key) ||
        (option.secret && option.key + "_file" == other.key)) {
      die(fmt::format("option {} collides with the _file form of a secret", option.key));
    }
    if (starts_with(other.key, option.key + ".") || starts_with(option.key, other.key + ".")) {
      die(fmt::format("option {} and {}: one is a group of the other", other.key, option.key));
    }
  }
  if (option.kind == Kind::kEnum && option.choices.empty()) {
    die(fmt::format("enum option {} has no choices", option.key));
  }
  auto parsed = Loader::parse(option, option.default_value);
  if (!parsed) {
    die(fmt::format("default of {}: {}", option.key, parsed.error().message()));
  }
  options_.push_back(std::move(option));
  return *this;
}

const Option* Schema::find(std::string_view key) const {
  for (const auto& option : options_) {
    if (option.key == key) return &option;
  }
  return nullptr;
}

std::string_view source_name(Source source) {
  switch (source) {
    case Source::kDefault: return "default";
    case Source::kFile: return "file";
    case Source::kEnv: return "env";
    case Source::kFlag: return "flag";
  }
  return "unknown";
}

std::map<std::string, std::string> environment() {
  std::map<std::string, std::string> out;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    size_t eq = text.find('=');
    if (eq == std::string_view::npos || !starts_with(text, "BZZZ_")) continue;
    out.emplace(text.substr(0, eq), text.substr(eq + 1));
  }
  return out;
}

Result<Config> load(const Schema& schema, const Inputs& inputs) {
  Loader loader(schema);
  BZZZ_TRY(loader.defaults());
  if (inputs.file) BZZZ_TRY(loader.file(*inputs.file));
  BZZZ_TRY(loader.env(inputs.env));
  BZZZ_TRY(loader.flags(inputs.flags));
  return loader.take();
}

const Config::Value& Config::value(std::string_view key, std::initializer_list<Kind> kinds) const {
  const Option* option = schema_.find(key);
  if (option == nullptr) die(fmt::format("unknown option {}", key));
  if (kinds.size() != 0 && std::find(kinds.begin(), kinds.end(), option->kind) == kinds.end()) {
    die(fmt::format("option {} is a {}, read with the getter of another kind", key,
                    kind_name(option->kind)));
  }
  return values_.find(key)->second;
}

const std::string& Config::string(std::string_view key) const {
  return value(key, {Kind::kString, Kind::kEnum, Kind::kHostPort}).setting.text;
}
bool Config::boolean(std::string_view key) const {
  return std::get<bool>(value(key, {Kind::kBool}).typed);
}
int64_t Config::integer(std::string_view key) const {
  return std::get<int64_t>(value(key, {Kind::kInt}).typed);
}
double Config::number(std::string_view key) const {
  return std::get<double>(value(key, {Kind::kDouble}).typed);
}
std::chrono::nanoseconds Config::duration(std::string_view key) const {
  return std::get<std::chrono::nanoseconds>(value(key, {Kind::kDuration}).typed);
}
uint64_t Config::bytes(std::string_view key) const {
  return std::get<uint64_t>(value(key, {Kind::kBytes}).typed);
}
std::vector<std::string> Config::list(std::string_view key) const {
  return std::get<std::vector<std::string>>(value(key, {Kind::kList}).typed);
}
Config::HostPort Config::host_port(std::string_view key) const {
  return std::get<HostPort>(value(key, {Kind::kHostPort}).typed);
}
const Setting& Config::setting(std::string_view key) const {
  return value(key, {}).setting;
}

namespace {

std::string shown_text(const Option& option, const Setting& setting) {
  if (option.secret && !setting.text.empty()) return "<redacted>";
  return setting.text;
}

}  // namespace

std::string Config::render_text() const {
  std::vector<std::string> left;
  size_t key_width = 0;
  for (const auto& option : schema_.options()) key_width = std::max(key_width, option.key.size());
  size_t left_width = 0;
  for (const auto& option : schema_.options()) {
    left.push_back(
        fmt::format("{:<{}} = {}", option.key, key_width, shown_text(option, setting(option.key))));
    left_width = std::max(left_width, left.back().size());
  }
  std::string out;
  for (size_t i = 0; i < left.size(); ++i) {
    out += fmt::format("{:<{}}  # {}\n", left[i], left_width,
                       setting(schema_.options()[i].key).origin);
  }
  return out;
}

nlohmann::json Config::render_json() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& option : schema_.options()) {
    const Value& v = values_.find(option.key)->second;
    nlohmann::json value = std::visit(
        [&](const auto& typed) -> nlohmann::json {
          using T = std::decay_t<decltype(typed)>;
          if constexpr (std::is_same_v<T, std::monostate> || std::is_same_v<T, HostPort>) {
            return v.setting.text;  // strings, enums and host:port as written
          } else if constexpr (std::is_same_v<T, std::chrono::nanoseconds>) {
            return std::chrono::duration<double>(typed).count();
          } else {
            return typed;
          }
        },
        v.typed);
    if (option.secret) value = shown_text(option, v.setting);
    out[option.key] = {{"value", std::move(value)},
                       {"source", std::string(source_name(v.setting.source))},
                       {"origin", v.setting.origin}};
  }
  return out;
}

}  // namespace bzzz::config
