// A small HTTP/1.1 load client for bench/http.sh: keep-alive connections, one thread
// each, TCP_NODELAY. Each mode prints one JSON line on stdout.
//   get URL --conns N --seconds S          N connections GET the URL over and over
//   put URL --conns N --seconds S [--size B] [--save-hashes FILE]
//                                          POST bodies of B distinct random bytes (unique
//                                          per request and per run, so a content-addressed
//                                          store cannot deduplicate); FILE gets the "hash"
//                                          of each JSON answer, one per line
//   getlist BASEURL --list FILE --conns N --seconds S
//                                          GET BASEURL/<hash>, cycling over FILE's hashes
//   download URL [--repeat K]              one connection downloads the body K times into a
//                                          reused 1 MiB buffer; reports the best
// A request counts when its answer is 2xx; anything else (or a broken connection) is an
// error. Latencies (p50/p99) are of the counted requests, from write to full answer.
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <latch>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <fmt/format.h>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "http_bench: %s\n"
               "usage: http_bench get URL --conns N --seconds S\n"
               "       http_bench put URL --conns N --seconds S [--size BYTES] [--save-hashes FILE]\n"
               "       http_bench getlist BASEURL --list FILE --conns N --seconds S\n"
               "       http_bench download URL [--repeat K]\n"
               "URL is http://HOST:PORT/PATH; each mode prints one JSON line.\n",
               why);
  std::exit(2);
}

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "http_bench: %s\n", why.c_str());
  std::exit(1);
}

struct Url {
  std::string host;
  std::string port;
  std::string target;
};

std::optional<Url> parse_url(std::string_view s) {
  constexpr std::string_view kScheme = "http://";
  if (!s.starts_with(kScheme)) return std::nullopt;
  s.remove_prefix(kScheme.size());
  auto slash = s.find('/');
  std::string_view hostport = s.substr(0, slash);
  Url url;
  url.target = slash == std::string_view::npos ? "/" : std::string(s.substr(slash));
  auto colon = hostport.rfind(':');
  if (colon == std::string_view::npos) {
    url.host = std::string(hostport);
    url.port = "80";
  } else {
    url.host = std::string(hostport.substr(0, colon));
    url.port = std::string(hostport.substr(colon + 1));
  }
  if (url.host.empty() || url.port.empty()) return std::nullopt;
  return url;
}

std::string get_request(const std::string& target, const std::string& host) {
  return fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", target, host);
}

// One keep-alive connection, used by one thread.
class Conn {
 public:
  explicit Conn(tcp::resolver::results_type endpoints)
      : endpoints_(std::move(endpoints)), socket_(ioc_) {}

  bool is_open() const { return socket_.is_open(); }

  void connect() {
    boost::system::error_code ignored;
    socket_.close(ignored);
    buffer_.clear();
    asio::connect(socket_, endpoints_);
    socket_.set_option(tcp::no_delay(true));
  }

  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  tcp::socket& socket() { return socket_; }
  beast::flat_buffer& buffer() { return buffer_; }

  // Writes a request and reads the whole answer; returns its status. Throws
  // boost::system::system_error when the connection breaks.
  template <class Buffers>
  unsigned roundtrip(const Buffers& request, std::string* body) {
    asio::write(socket_, request);
    http::response_parser<http::string_body> parser;
    parser.body_limit(kNoLimit);
    http::read(socket_, buffer_, parser);
    unsigned status = parser.get().result_int();
    if (!parser.keep_alive()) close();
    if (body) *body = std::move(parser.get().body());
    return status;
  }

 private:
  asio::io_context ioc_;
  tcp::resolver::results_type endpoints_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

tcp::resolver::results_type resolve(const Url& url) {
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(url.host, url.port, ec);
  if (ec) fail(fmt::format("cannot resolve {}:{}: {}", url.host, url.port, ec.message()));
  return results;
}

// What one connection thread does per request: fill in the request (buffers that stay
// valid until the next call) and take the body of a 2xx answer.
struct Worker {
  std::function<std::vector<asio::const_buffer>(std::uint64_t n)> request;
  std::function<void(const std::string& body)> on_ok;  // may be empty
};

struct Totals {
  std::uint64_t ok = 0;
  std::uint64_t errors = 0;
  double seconds = 0;
  std::vector<std::uint32_t> latencies_us;
  std::string first_error;
};

// Runs `conns` connections for `seconds`; make_worker(i) builds thread i's worker.
Totals run_load(const Url& url, unsigned conns, double seconds,
                const std::function<Worker(unsigned)>& make_worker) {
  auto endpoints = resolve(url);
  struct PerThread {
    std::uint64_t ok = 0, errors = 0;
    std::vector<std::uint32_t> lat;
    std::string first_error;
  };
  std::vector<PerThread> per(conns);
  std::latch ready(conns);
  std::latch go(1);
  Clock::time_point deadline;
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < conns; ++t) {
    threads.emplace_back([&, t] {
      PerThread& me = per[t];
      me.lat.reserve(1 << 16);
      Worker worker = make_worker(t);
      Conn conn(endpoints);
      auto note = [&me](const std::string& what) {
        ++me.errors;
        if (me.first_error.empty()) me.first_error = what;
      };
      try {
        conn.connect();
      } catch (const boost::system::system_error& e) {
        note(fmt::format("connect: {}", e.what()));
      }
      ready.count_down();
      go.wait();
      std::string body;
      std::string* body_out = worker.on_ok ? &body : nullptr;
      for (std::uint64_t n = 0; Clock::now() < deadline; ++n) {
        if (!conn.is_open()) {
          try {
            conn.connect();
          } catch (const boost::system::system_error& e) {
            note(fmt::format("connect: {}", e.what()));
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            continue;
          }
        }
        auto request = worker.request(n);
        auto t0 = Clock::now();
        unsigned status;
        try {
          status = conn.roundtrip(request, body_out);
        } catch (const boost::system::system_error& e) {
          note(fmt::format("request: {}", e.what()));
          conn.close();
          continue;
        }
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
        if (status >= 200 && status < 300) {
          ++me.ok;
          me.lat.push_back(static_cast<std::uint32_t>(us));
          if (worker.on_ok) worker.on_ok(body);
        } else {
          note(fmt::format("HTTP status {}", status));
        }
      }
    });
  }
  ready.wait();
  auto start = Clock::now();
  deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  go.count_down();
  for (auto& th : threads) th.join();
  Totals totals;
  totals.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& p : per) {
    totals.ok += p.ok;
    totals.errors += p.errors;
    totals.latencies_us.insert(totals.latencies_us.end(), p.lat.begin(), p.lat.end());
    if (totals.first_error.empty()) totals.first_error = p.first_error;
  }
  return totals;
}

std::uint32_t percentile(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  auto k = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

void print_totals(const char* mode, unsigned conns, Totals& t) {
  double rate = t.seconds > 0 ? static_cast<double>(t.ok) / t.seconds : 0;
  std::uint32_t p50 = percentile(t.latencies_us, 0.50);
  std::uint32_t p99 = percentile(t.latencies_us, 0.99);
  fmt::print("{{\"mode\":\"{}\",\"conns\":{},\"requests\":{},\"errors\":{},\"seconds\":{:.3f},"
             "\"rate\":{:.1f},\"p50_us\":{},\"p99_us\":{}}}\n",
             mode, conns, t.ok, t.errors, t.seconds, rate, p50, p99);
  std::fflush(stdout);
  if (t.errors > 0) {
    std::fprintf(stderr, "http_bench: %llu errors; first: %s\n",
                 static_cast<unsigned long long>(t.errors), t.first_error.c_str());
  }
}

// The value of "hash" in a JSON answer, or empty.
std::string_view hash_field(std::string_view body) {
  auto key = body.find("\"hash\"");
  if (key == std::string_view::npos) return {};
  auto colon = body.find(':', key + 6);
  if (colon == std::string_view::npos) return {};
  auto open = body.find('"', colon + 1);
  if (open == std::string_view::npos) return {};
  auto close = body.find('"', open + 1);
  if (close == std::string_view::npos) return {};
  return body.substr(open + 1, close - open - 1);
}

void mode_get(const Url& url, unsigned conns, double seconds) {
  std::string host = url.host + ":" + url.port;
  auto totals = run_load(url, conns, seconds, [&](unsigned) {
    auto request = std::make_shared<std::string>(get_request(url.target, host));
    Worker w;
    w.request = [request](std::uint64_t) {
      return std::vector<asio::const_buffer>{asio::buffer(*request)};
    };
    return w;
  });
  print_totals("get", conns, totals);
}

void mode_getlist(const Url& base, const std::string& list, unsigned conns, double seconds) {
  std::vector<std::string> hashes;
  {
    std::ifstream in(list);
    if (!in) fail(fmt::format("cannot read {}", list));
    for (std::string line; std::getline(in, line);) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty()) hashes.push_back(line);
    }
  }
  if (hashes.empty()) fail(fmt::format("{} holds no hashes", list));
  std::string host = base.host + ":" + base.port;
  std::string prefix = base.target;
  if (prefix.back() != '/') prefix += '/';
  auto totals = run_load(base, conns, seconds, [&](unsigned t) {
    // Each connection starts at its own place in the list.
    size_t offset = hashes.size() * t / conns;
    auto request = std::make_shared<std::string>();
    Worker w;
    w.request = [&hashes, request, offset, host, prefix](std::uint64_t n) {
      const std::string& h = hashes[(offset + n) % hashes.size()];
      request->clear();
      request->append("GET ").append(prefix).append(h).append(" HTTP/1.1\r\nHost: ");
      request->append(host).append("\r\n\r\n");
      return std::vector<asio::const_buffer>{asio::buffer(*request)};
    };
    return w;
  });
  print_totals("getlist", conns, totals);
}

void mode_put(const Url& url, unsigned conns, double seconds, size_t size, const std::string& save) {
  std::string host = url.host + ":" + url.port;
  std::string head = fmt::format(
      "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: {}\r\n\r\n",
      url.target, host, size);
  // A nonce per run, so that repeated runs against the same store do not deduplicate.
  std::random_device rd;
  const std::uint64_t nonce = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
                              static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  std::vector<std::vector<std::string>> saved(conns);
  const bool saving = !save.empty();
  auto totals = run_load(url, conns, seconds, [&](unsigned t) {
    auto body = std::make_shared<std::vector<unsigned char>>(size);
    std::mt19937_64 rng(nonce ^ (0x9e3779b97f4a7c15ULL * (t + 1)));
    for (size_t k = 0; k < size; k += 8) {
      std::uint64_t v = rng();
      std::memcpy(body->data() + k, &v, std::min<size_t>(8, size - k));
    }
    Worker w;
    w.request = [body, &head, nonce, t](std::uint64_t n) {
      // nonce, thread, counter: distinct for every request of every run.
      const std::uint64_t stamp[3] = {nonce, t, n};
      std::memcpy(body->data(), stamp, std::min(sizeof stamp, body->size()));
      return std::vector<asio::const_buffer>{asio::buffer(head), asio::buffer(*body)};
    };
    if (saving) {
      w.on_ok = [&saved, t](const std::string& answer) {
        auto h = hash_field(answer);
        if (!h.empty()) saved[t].emplace_back(h);
      };
    } else {
      w.on_ok = [](const std::string&) {};
    }
    return w;
  });
  print_totals("put", conns, totals);
  if (saving) {
    std::ofstream out(save, std::ios::trunc);
    size_t count = 0;
    for (auto& v : saved) {
      for (auto& h : v) out << h << '\n';
      count += v.size();
    }
    if (!out.flush()) fail(fmt::format("cannot write {}", save));
    if (count < totals.ok) {
      std::fprintf(stderr, "http_bench: %llu of %llu answers had no \"hash\"\n",
                   static_cast<unsigned long long>(totals.ok - count),
                   static_cast<unsigned long long>(totals.ok));
    }
  }
}

// One download of the whole body into `sink` (overwritten, discarded); returns the body
// size. Fails unless the answer is 2xx and complete.
std::uint64_t download_once(Conn& conn, const std::string& request, std::vector<char>& sink) {
  if (!conn.is_open()) conn.connect();
  asio::write(conn.socket(), asio::buffer(request));
  auto& buffer = conn.buffer();
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(kNoLimit);
  http::read_header(conn.socket(), buffer, parser);
  unsigned status = parser.get().result_int();
  if (status < 200 || status >= 300) fail(fmt::format("download: HTTP status {}", status));
  std::uint64_t got = 0;
  auto length = parser.content_length();
  if (length && !parser.chunked()) {
    // The common case: read the rest straight from the socket into the sink.
    std::uint64_t want = *length;
    std::uint64_t buffered = std::min<std::uint64_t>(buffer.size(), want);
    got += buffered;
    buffer.consume(buffered);
    while (got < want) {
      boost::system::error_code ec;
      size_t chunk = static_cast<size_t>(std::min<std::uint64_t>(sink.size(), want - got));
      size_t n = conn.socket().read_some(asio::buffer(sink.data(), chunk), ec);
      got += n;
      if (ec) {
        fail(fmt::format("download: connection ended after {} of {} bytes: {}", got, want,
                         ec.message()));
      }
    }
  } else {
    // Chunked (or delimited by close): let the parser decode into the sink.
    while (!parser.is_done()) {
      parser.get().body().data = sink.data();
      parser.get().body().size = sink.size();
      boost::system::error_code ec;
      http::read(conn.socket(), buffer, parser, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) fail(fmt::format("download: body broken after {} bytes: {}", got, ec.message()));
      got += sink.size() - parser.get().body().size;
    }
  }
  if (!parser.keep_alive()) conn.close();
  return got;
}

void mode_download(const Url& url, unsigned repeat) {
  Conn conn(resolve(url));
  std::string request = get_request(url.target, url.host + ":" + url.port);
  std::vector<char> sink(1 << 20);
  std::vector<double> times;
  std::uint64_t bytes = 0;
  try {
    for (unsigned i = 0; i < repeat; ++i) {
      auto t0 = Clock::now();
      std::uint64_t got = download_once(conn, request, sink);
      times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      if (i > 0 && got != bytes) fail(fmt::format("download: size changed from {} to {}", bytes, got));
      bytes = got;
    }
  } catch (const boost::system::system_error& e) {
    fail(fmt::format("download: {}", e.what()));
  }
  std::sort(times.begin(), times.end());
  double best = times.front();
  double median = times[times.size() / 2];
  fmt::print("{{\"mode\":\"download\",\"bytes\":{},\"repeat\":{},\"seconds\":{:.6f},"
             "\"median_seconds\":{:.6f},\"mib_per_s\":{:.1f}}}\n",
             bytes, repeat, best, median, static_cast<double>(bytes) / best / (1 << 20));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) usage("missing mode or URL");
  std::string mode = argv[1];
  auto url = parse_url(argv[2]);
  if (!url) usage("URL must look like http://HOST:PORT/PATH");
  unsigned conns = 0, repeat = 1;
  double seconds = 0;
  size_t size = 4096;
  std::string list, save;
  for (int i = 3; i < argc; ++i) {
    std::string opt = argv[i];
    if (i + 1 >= argc) usage(fmt::format("{} needs a value", opt).c_str());
    std::string value = argv[++i];
    try {
      if (opt == "--conns") {
        conns = static_cast<unsigned>(std::stoul(value));
      } else if (opt == "--seconds") {
        seconds = std::stod(value);
      } else if (opt == "--size") {
        size = std::stoul(value);
      } else if (opt == "--repeat") {
        repeat = static_cast<unsigned>(std::stoul(value));
      } else if (opt == "--list") {
        list = value;
      } else if (opt == "--save-hashes") {
        save = value;
      } else {
        usage(fmt::format("unknown option {}", opt).c_str());
      }
    } catch (const std::logic_error&) {
      usage(fmt::format("bad value for {}: {}", opt, value).c_str());
    }
  }
  bool load = mode == "get" || mode == "put" || mode == "getlist";
  if (load && (conns == 0 || seconds <= 0)) usage("--conns and --seconds must be positive");
  if (mode == "get") {
    mode_get(*url, conns, seconds);
  } else if (mode == "put") {
    if (size == 0) usage("--size must be positive");
    mode_put(*url, conns, seconds, size, save);
  } else if (mode == "getlist") {
    if (list.empty()) usage("getlist needs --list FILE");
    mode_getlist(*url, list, conns, seconds);
  } else if (mode == "download") {
    if (repeat == 0) usage("--repeat must be positive");
    mode_download(*url, repeat);
  } else {
    usage(fmt::format("unknown mode {}", mode).c_str());
  }
  return 0;
}
