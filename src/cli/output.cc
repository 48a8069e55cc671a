#include "cli/output.h"

#include <cstdio>
#include <ctime>

#include <fmt/format.h>

namespace bzzz::cli {

void Output::text(const std::string& line) const {
  if (!json_) std::fputs((line + "\n").c_str(), stdout);
}

void Output::document(const nlohmann::json& doc) const {
  if (json_) std::fputs((doc.dump(2) + "\n").c_str(), stdout);
}

int Output::error(const Error& error, int exit_code) const {
  std::fflush(stdout);
  std::fputs(fmt::format("bzzz: {}\n", error.message()).c_str(), stderr);
  if (json_) {
    nlohmann::json doc = {{"error",
                           {{"code", std::string(error_code_name(error.code()))},
                            {"message", error.message()}}}};
    std::fputs((doc.dump(2) + "\n").c_str(), stdout);
  }
  return exit_code;
}

std::string human_bytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 5) {
    v /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, kUnits[unit]);
}


}  // namespace bzzz::cli
