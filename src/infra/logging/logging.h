// infra/logging: where the process's log lines go and what they look like. It owns the
// configuration of spdlog's default logger (named "bzzz"): its level, its format (text
// for people, JSON lines for collectors) and its destination (stderr or a file). Every
// module logs through spdlog::info(...) and friends and never configures spdlog itself.
// Depends on base/status and spdlog only; never on the modules that log.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/common.h>
#include <spdlog/formatter.h>

#include "base/status/result.h"

namespace bzzz::logging {

struct LogOptions {
  std::string level = "info";  // trace|debug|info|warn|error|off
  std::string format = "text";  // text|json
  std::string file;             // "" = stderr; otherwise appended to (parent dirs created)
};

// Replaces the default logger. Nothing changes when it fails (bad level or format, a log
// file that cannot be opened). Call it before other threads log: spdlog's free functions
// read the default logger without a lock.
Status setup(const LogOptions& options);

// Writes out buffered lines (a log file is flushed at once only for info and above).
void flush();

// The pieces of setup(), exposed so tests and other sinks can reuse them.
Result<spdlog::level::level_enum> parse_level(std::string_view name);
// "text": `2026-11-27T13:00:00.123Z info  message`;
// "json": `{"ts":"2026-11-27T13:00:00.123Z","level":"info","logger":"bzzz","msg":"message"}`.
// Both in UTC with milliseconds, one line per message.
Result<std::unique_ptr<spdlog::formatter>> make_formatter(std::string_view format);

// `text` as a JSON string literal, quotes included. Never fails: control characters are
// escaped and bytes that are not valid UTF-8 become U+FFFD, so any message is a valid line.
std::string json_quote(std::string_view text);

}  // namespace bzzz::logging
