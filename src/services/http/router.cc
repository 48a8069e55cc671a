#include "services/http/router.h"

#include <boost/beast/http/verb.hpp>

namespace bzzz::http {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

std::optional<std::string> decode_path(std::string_view raw) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') {
      out.push_back(raw[i]);
      continue;
    }
    if (i + 2 >= raw.size()) return std::nullopt;
    int hi = hex(raw[i + 1]), lo = hex(raw[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    char c = static_cast<char>(hi * 16 + lo);
    // An encoded slash or NUL would let one segment pose as two, or end a C string.
    if (c == '/' || c == '\0') return std::nullopt;
    out.push_back(c);
    i += 2;
  }
  return out;
}

void Router::add(boost::beast::http::verb method, std::string pattern, Handler handler) {
  Route r{method, pattern, {}, std::move(handler)};
  for (auto s : split_path(pattern)) r.segments.emplace_back(s);
  routes_.push_back(std::move(r));
}

bool Router::match_segments(const Route& route, const std::vector<std::string_view>& path,
                            Params& params) {
  // A last segment "{name...}" takes one or more segments, joined by '/'.
  bool tail = !route.segments.empty() && route.segments.back().size() > 5 &&
              route.segments.back().ends_with("...}");
  if (tail ? path.size() < route.segments.size() : route.segments.size() != path.size()) return false;
  Params captured;
  for (size_t i = 0; i < route.segments.size(); ++i) {
    const std::string& seg = route.segments[i];
    if (tail && i + 1 == route.segments.size()) {
      std::string rest(path[i]);
      for (size_t j = i + 1; j < path.size(); ++j) rest.append("/").append(path[j]);
      captured.emplace(seg.substr(1, seg.size() - 5), std::move(rest));
    } else if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}') {
      captured.emplace(seg.substr(1, seg.size() - 2), std::string(path[i]));
    } else if (seg != path[i]) {
      return false;
    }
  }
  params = std::move(captured);
  return true;
}

Router::Match Router::match(boost::beast::http::verb method, std::string_view path) const {
  Match m;
  m.route = "other";
  auto segments = split_path(path);
  for (const auto& r : routes_) {
    Params params;
    if (!match_segments(r, segments, params)) continue;
    // HEAD is served by the GET handler when no HEAD route exists.
    bool same = r.method == method ||
                (method == boost::beast::http::verb::head && r.method == boost::beast::http::verb::get);
    if (same && m.handler == nullptr) {
      m.handler = &r.handler;
      m.route = r.pattern;
      m.params = std::move(params);
    }
    if (m.allow.find(std::string(boost::beast::http::to_string(r.method))) == std::string::npos) {
      if (!m.allow.empty()) m.allow += ", ";
      m.allow += std::string(boost::beast::http::to_string(r.method));
      if (r.method == boost::beast::http::verb::get) m.allow += ", HEAD";
    }
    if (m.handler == nullptr) m.route = r.pattern;
  }
  // An exact HEAD route wins over GET's.
  if (method == boost::beast::http::verb::head) {
    for (const auto& r : routes_) {
      Params params;
      if (r.method == method && match_segments(r, segments, params)) {
        m.handler = &r.handler;
        m.route = r.pattern;
        m.params = std::move(params);
      }
    }
  }
  return m;
}

}  // namespace bzzz::http
