#include "infra/logging/logging.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "support/temp_dir.h"

namespace bzzz::logging {
namespace {

using ::testing::HasSubstr;

constexpr char kTsPattern[] = R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// Formats one message at a fixed time: 2026-11-27T13:00:00.123Z.
std::string format_one(std::string_view format, spdlog::level::level_enum level,
                       std::string_view text, std::string_view logger = "bzzz") {
  auto formatter = make_formatter(format);
  EXPECT_TRUE(formatter) << formatter.error().message();
  using namespace std::chrono;
  auto tp = sys_days{year{2026} / 11 / 27} + hours{13} + milliseconds{123} + microseconds{456};
  spdlog::details::log_msg msg(tp, spdlog::source_loc{},
                               spdlog::string_view_t(logger.data(), logger.size()), level,
                               spdlog::string_view_t(text.data(), text.size()));
  spdlog::memory_buf_t buf;
  (*formatter)->format(msg, buf);
  return std::string(buf.data(), buf.size());
}

// Every test that touches the default logger puts a stderr one back, so a temp dir
// removed at the end never holds the process's log.
class LoggingSetupTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(setup(LogOptions{})); }
  testing::TempDir dir_;
};

TEST(LoggingJsonQuote, EscapesWhatJsonRequires) {
  EXPECT_EQ(json_quote(""), R"("")");
  EXPECT_EQ(json_quote("plain text"), R"("plain text")");
  EXPECT_EQ(json_quote(R"(say "hi" \ bye)"), R"("say \"hi\" \\ bye")");
  EXPECT_EQ(json_quote("a\nb\rc\td\be\ff"), R"("a\nb\rc\td\be\ff")");
  EXPECT_EQ(json_quote(std::string("nul\0x", 5)), R"("nul\u0000x")");
  EXPECT_EQ(json_quote("\x01\x1f\x7f"), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(json_quote("\x1b[31mred"), R"("\u001b[31mred")");
}

TEST(LoggingJsonQuote, KeepsValidUtf8) {
  // 2-, 3- and 4-byte sequences at the edges of their ranges.
  for (std::string s : {"caf\xc3\xa9", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf",
                        "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",
                        "\xe2\x80\xa8", "\xf0\x9f\x90\x9d bzzz"}) {
    EXPECT_EQ(json_quote(s), "\"" + s + "\"");
  }
}

TEST(LoggingJsonQuote, ReplacesInvalidUtf8) {
  constexpr char kR[] = "\\ufffd";
  auto quoted = [](const std::string& s) { return "\"" + s + "\""; };
  EXPECT_EQ(json_quote("a\xff" "b"), quoted(std::string("a") + kR + "b"));
  EXPECT_EQ(json_quote("\x80"), quoted(kR));                       // lone continuation
  EXPECT_EQ(json_quote("\xc0\xaf"), quoted(std::string(kR) + kR));  // overlong '/'
  EXPECT_EQ(json_quote("\xe0\x80\xaf"), quoted(std::string(kR) + kR + kR));
  EXPECT_EQ(json_quote("\xed\xa0\x80"), quoted(std::string(kR) + kR + kR));  // surrogate
  EXPECT_EQ(json_quote("\xf4\x90\x80\x80"), quoted(std::string(kR) + kR + kR + kR));
  EXPECT_EQ(json_quote("\xf5\x80"), quoted(std::string(kR) + kR));
  // A truncated sequence is one replacement and does not swallow what follows.
  EXPECT_EQ(json_quote("\xe2\x82" "x"), quoted(std::string(kR) + "x"));
  EXPECT_EQ(json_quote("\xf0\x9f\x90" "\""), quoted(std::string(kR) + "\\\""));
  EXPECT_EQ(json_quote("end\xe2"), quoted(std::string("end") + kR));
}

TEST(LoggingJsonQuote, EveryByteStringParsesBack) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (int i = 0; i < 256; ++i) all += {'\xe2', static_cast<char>(i), '\x80'};
  auto quoted = json_quote(all);
  auto parsed = nlohmann::json::parse(quoted);  // throws on invalid JSON or UTF-8
  ASSERT_TRUE(parsed.is_string());
  // Printable ASCII survives unchanged.
  EXPECT_THAT(parsed.get<std::string>(), HasSubstr("0123456789:;<=>?@ABC"));
}

TEST(LoggingLevel, AcceptsTheChoices) {
  EXPECT_EQ(parse_level("trace").value(), spdlog::level::trace);
  EXPECT_EQ(parse_level("debug").value(), spdlog::level::debug);
  EXPECT_EQ(parse_level("info").value(), spdlog::level::info);
  EXPECT_EQ(parse_level("warn").value(), spdlog::level::warn);
  EXPECT_EQ(parse_level("error").value(), spdlog::level::err);
  EXPECT_EQ(parse_level("off").value(), spdlog::level::off);
}

TEST(LoggingLevel, RejectsOthersNamingValueAndChoices) {
  for (std::string bad : {"verbose", "", "INFO ", "warning"}) {
    auto level = parse_level(bad);
    ASSERT_FALSE(level) << bad;
    EXPECT_EQ(level.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(level.error().message(), HasSubstr("\"" + bad + "\""));
    EXPECT_THAT(level.error().message(), HasSubstr("trace, debug, info, warn, error, off"));
  }
}

TEST(LoggingFormat, RejectsUnknownNamingValueAndChoices) {
  auto formatter = make_formatter("xml");
  ASSERT_FALSE(formatter);
  EXPECT_EQ(formatter.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(formatter.error().message(), HasSubstr("\"xml\""));
  EXPECT_THAT(formatter.error().message(), HasSubstr("text, json"));
}

TEST(LoggingFormat, TextLineIsUtcWithMilliseconds) {
  EXPECT_EQ(format_one("text", spdlog::level::info, "store open"),
            "2026-11-27T13:00:00.123Z info  store open\n");
  EXPECT_EQ(format_one("text", spdlog::level::warn, "w"), "2026-11-27T13:00:00.123Z warn  w\n");
  EXPECT_EQ(format_one("text", spdlog::level::err, "e"), "2026-11-27T13:00:00.123Z error e\n");
  EXPECT_EQ(format_one("text", spdlog::level::debug, "d"), "2026-11-27T13:00:00.123Z debug d\n");
}

TEST(LoggingFormat, JsonLineHasTheFields) {
  EXPECT_EQ(format_one("json", spdlog::level::info, "store open"),
            R"({"ts":"2026-11-27T13:00:00.123Z","level":"info","logger":"bzzz",)"
            R"("msg":"store open"})"
            "\n");
}

TEST(LoggingFormat, JsonLineSurvivesHostileMessages) {
  std::string nasty = "quote\" back\\ nl\n cr\r tab\t nul" + std::string(1, '\0') +
                      " bad\xff\xfe utf8 caf\xc3\xa9 }{\"";
  std::string line = format_one("json", spdlog::level::err, nasty, "p2p \"x\"");
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one message, one line";
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["logger"], "p2p \"x\"");
  EXPECT_EQ(j["msg"], "quote\" back\\ nl\n cr\r tab\t nul" + std::string(1, '\0') +
                          " bad\xef\xbf\xbd\xef\xbf\xbd utf8 caf\xc3\xa9 }{\"");
}

TEST(LoggingFormat, WorksBehindAnOstreamSink) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_formatter(std::move(make_formatter("json").value()));
  spdlog::logger logger("bzzz", sink);
  logger.info("hello {}", 42);
  logger.warn("second");
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 2u);
  auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["msg"], "hello 42");
  EXPECT_TRUE(std::regex_match(first["ts"].get<std::string>(), std::regex(kTsPattern)));
  EXPECT_EQ(nlohmann::json::parse(lines[1])["level"], "warn");
}

TEST_F(LoggingSetupTest, BadOptionsChangeNothing) {
  std::string path = dir_.sub("kept.log");
  ASSERT_TRUE(setup({"info", "json", path}));
  auto before = spdlog::default_logger();

  auto bad_level = setup({"loud", "json", dir_.sub("other.log")});
  ASSERT_FALSE(bad_level);
  EXPECT_THAT(bad_level.error().message(), HasSubstr("\"loud\""));
  auto bad_format = setup({"info", "yaml", dir_.sub("other.log")});
  ASSERT_FALSE(bad_format);
  EXPECT_THAT(bad_format.error().message(), HasSubstr("\"yaml\""));
  EXPECT_THAT(bad_format.error().message(), HasSubstr("text, json"));

  EXPECT_EQ(spdlog::default_logger(), before);
  EXPECT_FALSE(std::ifstream(dir_.sub("other.log")).good());
}

TEST_F(LoggingSetupTest, FileThatCannotBeOpenedIsAnIoError) {
  std::ofstream(dir_.sub("plain")) << "a file, not a directory";
  std::string path = dir_.sub("plain/bzzz.log");
  auto status = setup({"info", "text", path});
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kIo);
  EXPECT_THAT(status.error().message(), HasSubstr(path));
}

TEST_F(LoggingSetupTest, JsonFileRespectsLevel) {
  std::string path = dir_.sub("logs/bzzz.log");  // the parent is created
  ASSERT_TRUE(setup({"debug", "json", path}));
  spdlog::trace("not shown");
  spdlog::debug("debug {}", 1);
  spdlog::info("info \"quoted\"");
  spdlog::error("error\nwith newline");
  flush();
  auto lines = lines_of(read_file(path));
  ASSERT_EQ(lines.size(), 3u) << read_file(path);
  std::vector<std::string> levels, msgs;
  for (const auto& line : lines) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j.size(), 4u);
    EXPECT_EQ(j["logger"], "bzzz");
    EXPECT_TRUE(std::regex_match(j["ts"].get<std::string>(), std::regex(kTsPattern)));
    levels.push_back(j["level"].get<std::string>());
    msgs.push_back(j["msg"].get<std::string>());
  }
  EXPECT_EQ(levels, (std::vector<std::string>{"debug", "info", "error"}));
  EXPECT_EQ(msgs, (std::vector<std::string>{"debug 1", "info \"quoted\"", "error\nwith newline"}));
}

TEST_F(LoggingSetupTest, TextFileAppendsAndInfoIsFlushedAtOnce) {
  std::string path = dir_.sub("bzzz.log");
  std::ofstream(path) << "earlier line\n";
  ASSERT_TRUE(setup({"info", "text", path}));
  spdlog::debug("hidden");
  spdlog::info("ready");
  // No flush(): info lines reach the file as they are logged.
  auto lines = lines_of(read_file(path));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "earlier line");
  EXPECT_TRUE(std::regex_match(lines[1], std::regex(std::string(kTsPattern) + " info  ready")))
      << lines[1];
}

TEST_F(LoggingSetupTest, OffWritesNothing) {
  std::string path = dir_.sub("off.log");
  ASSERT_TRUE(setup({"off", "text", path}));
  spdlog::error("nope");
  spdlog::critical("nope");
  flush();
  EXPECT_EQ(read_file(path), "");
}

TEST_F(LoggingSetupTest, ConcurrentWritersNeverInterleaveLines) {
  std::string path = dir_.sub("threads.log");
  ASSERT_TRUE(setup({"info", "json", path}));
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kPerThread; ++i) spdlog::info("thread {} message {} \"\\\n", t, i);
    });
  }
  for (auto& th : threads) th.join();
  flush();
  auto lines = lines_of(read_file(path));
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kPerThread));
  std::vector<int> next(kThreads, 0);
  for (const auto& line : lines) {
    auto msg = nlohmann::json::parse(line)["msg"].get<std::string>();
    int t = -1, i = -1;
    ASSERT_EQ(std::sscanf(msg.c_str(), "thread %d message %d", &t, &i), 2) << msg;
    ASSERT_TRUE(t >= 0 && t < kThreads);
    EXPECT_EQ(i, next[t]++) << "each thread's lines stay in order";
    EXPECT_EQ(msg.substr(msg.size() - 3), "\"\\\n");
  }
}

}  // namespace
}  // namespace bzzz::logging
