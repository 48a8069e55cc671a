// services/http: maps a method and a path to a handler. Patterns are literal segments,
// `{name}` captures ("/v1/blobs/{hash}") and, last, `{name...}` capturing the rest of
// the path, '/' included ("/v1/pubsub/{topic...}"); each route has a name, the template
// itself, which metrics use as a label (never the raw path). A path that matches with
// another method is told which methods it allows (405).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>

namespace bzzz::http {

class Exchange;
using Handler = std::function<boost::asio::awaitable<void>(Exchange&)>;
using Params = std::map<std::string, std::string, std::less<>>;

class Router {
 public:
  void add(boost::beast::http::verb method, std::string pattern, Handler handler);

  struct Match {
    const Handler* handler = nullptr;  // null: no route for this method
    std::string route;                 // the pattern matched, or "other"
    Params params;
    std::string allow;                 // for 405: "GET, HEAD"
  };
  // path is already percent-decoded and without the query.
  Match match(boost::beast::http::verb method, std::string_view path) const;

 private:
  struct Route {
    boost::beast::http::verb method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  static bool match_segments(const Route& route, const std::vector<std::string_view>& path,
                             Params& params);
  std::vector<Route> routes_;
};

// Splits "/a/b/" into {"a","b"}; an empty path is "/".
std::vector<std::string_view> split_path(std::string_view path);
// Percent-decodes a path; nullopt on a malformed escape or a decoded NUL or '/'.
std::optional<std::string> decode_path(std::string_view raw);

}  // namespace bzzz::http
