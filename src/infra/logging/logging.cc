#include "infra/logging/logging.h"

#include <array>
#include <chrono>
#include <iterator>
#include <utility>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace bzzz::logging {

namespace {

constexpr char kLoggerName[] = "bzzz";
constexpr char kLevelChoices[] = "trace, debug, info, warn, error, off";
constexpr char kFormatChoices[] = "text, json";

// Our names rather than spdlog's ("warning", "err"), so a line says the same word the
// --log-level flag takes.
std::string_view level_name(spdlog::level::level_enum level) {
  static constexpr std::array<std::string_view, 7> kNames = {
      "trace", "debug", "info", "warn", "error", "critical", "off"};
  auto i = static_cast<size_t>(level);
  return i < kNames.size() ? kNames[i] : "unknown";
}

void append(spdlog::memory_buf_t& out, std::string_view text) {
  out.append(text.data(), text.data() + text.size());
}

// UTC with milliseconds, so lines from several nodes sort and compare as text.
// std::chrono's calendar types are used instead of gmtime_r: no locale, no global state.
void append_timestamp(spdlog::memory_buf_t& out, std::chrono::system_clock::time_point tp) {
  using namespace std::chrono;
  auto ms = floor<milliseconds>(tp);
  auto day = floor<days>(ms);
  year_month_day ymd{day};
  hh_mm_ss<milliseconds> hms{ms - day};
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                 static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                 static_cast<unsigned>(ymd.day()), hms.hours().count(), hms.minutes().count(),
                 hms.seconds().count(), hms.subseconds().count());
}

// Length of the well-formed UTF-8 sequence at `p`, or 0 with `*skip` set to how many
// bytes one U+FFFD replaces: the maximal subpart of a broken sequence (Unicode §3.9), so a
// truncated character costs one replacement and the byte after it is not swallowed.
size_t utf8_sequence(const unsigned char* p, const unsigned char* end, size_t* skip) {
  unsigned char c = p[0];
  size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c == 0xe0) {  // no overlong forms
    len = 3;
    lo = 0xa0;
  } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
    len = 3;
  } else if (c == 0xed) {  // no surrogates
    len = 3;
    hi = 0x9f;
  } else if (c == 0xf0) {
    len = 4;
    lo = 0x90;
  } else if (c >= 0xf1 && c <= 0xf3) {
    len = 4;
  } else if (c == 0xf4) {  // nothing above U+10FFFF
    len = 4;
    hi = 0x8f;
  } else {
    *skip = 1;
    return 0;
  }
  size_t i = 1;
  for (; i < len && p + i < end; ++i) {
    unsigned char b = p[i];
    bool fits = i == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xbf);
    if (!fits) break;
  }
  if (i == len) return len;
  *skip = i;
  return 0;
}

// Works on std::string and spdlog's memory buffer alike (both have push_back and
// append(begin, end)).
template <typename Out>
void append_json_string(Out& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const auto* run = p;
    while (p < end && *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ++p;
    out.append(reinterpret_cast<const char*>(run), reinterpret_cast<const char*>(p));
    if (p == end) break;
    unsigned char c = *p;
    if (c >= 0x80) {
      size_t skip = 0;
      size_t len = utf8_sequence(p, end, &skip);
      if (len > 0) {
        out.append(reinterpret_cast<const char*>(p), reinterpret_cast<const char*>(p + len));
        p += len;
      } else {
        constexpr std::string_view kReplacement = "\\ufffd";
        out.append(kReplacement.data(), kReplacement.data() + kReplacement.size());
        p += skip;
      }
      continue;
    }
    ++p;
    out.push_back('\\');
    switch (c) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '\n': out.push_back('n'); break;
      case '\r': out.push_back('r'); break;
      case '\t': out.push_back('t'); break;
      case '\b': out.push_back('b'); break;
      case '\f': out.push_back('f'); break;
      default: {
        // Other control characters, and DEL, which JSON allows raw but a terminal
        // showing the log would act on.
        const char esc[] = {'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out.append(esc, esc + sizeof(esc));
      }
    }
  }
  out.push_back('"');
}

// The message is written as given: a person reading text logs wants a multi-line
// message to stay multi-line. Collectors that need one record per line use JSON.
class TextFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    append_timestamp(dest, msg.time);
    dest.push_back(' ');
    std::string_view level = level_name(msg.level);
    append(dest, level);
    for (size_t i = level.size(); i < 5; ++i) dest.push_back(' ');
    dest.push_back(' ');
    append(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>();
  }
};

// No state, so sharing it between threads is safe even outside a sink's lock.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    append(dest, R"({"ts":")");
    append_timestamp(dest, msg.time);
    append(dest, R"(","level":")");
    append(dest, level_name(msg.level));
    append(dest, R"(","logger":)");
    append_json_string(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    append(dest, R"(,"msg":)");
    append_json_string(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    append(dest, "}\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

std::string json_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_json_string(out, text);
  return out;
}

Result<spdlog::level::level_enum> parse_level(std::string_view name) {
  using spdlog::level::level_enum;
  if (name == "trace") return level_enum::trace;
  if (name == "debug") return level_enum::debug;
  if (name == "info") return level_enum::info;
  if (name == "warn") return level_enum::warn;
  if (name == "error") return level_enum::err;
  if (name == "off") return level_enum::off;
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("invalid log level {} (choices: {})", json_quote(name),
                                kLevelChoices));
}

Result<std::unique_ptr<spdlog::formatter>> make_formatter(std::string_view format) {
  using Ptr = std::unique_ptr<spdlog::formatter>;
  if (format == "text") return Ptr(std::make_unique<TextFormatter>());
  if (format == "json") return Ptr(std::make_unique<JsonFormatter>());
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("invalid log format {} (choices: {})", json_quote(format),
                                kFormatChoices));
}

Status setup(const LogOptions& options) {
  BZZZ_ASSIGN_OR_RETURN(auto level, parse_level(options.level));
  BZZZ_ASSIGN_OR_RETURN(auto formatter, make_formatter(options.format));
  spdlog::sink_ptr sink;
  try {
    if (options.file.empty()) {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file, /*truncate=*/false);
    }
  } catch (const spdlog::spdlog_ex& e) {
    // spdlog's message names the file and carries strerror.
    return make_error(ErrorCode::kIo, fmt::format("log file: {}", e.what()));
  }
  sink->set_formatter(std::move(formatter));
  auto logger = std::make_shared<spdlog::logger>(kLoggerName, std::move(sink));
  logger->set_level(level);
  // A daemon's info lines are few and whoever tails the file expects them at once;
  // debug and trace volume stays buffered until the next one.
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  return ok();
}

void flush() {
  if (auto logger = spdlog::default_logger()) logger->flush();
}

}  // namespace bzzz::logging
