// The CLI's node client against the node's real HTTP API (services/http + services/api
// over a store in a temp dir, in this process), and against handlers that misbehave on
// purpose: wrong bytes, early refusals, silence, foreign error pages, chunked answers.
#include "cli/remote_backend.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/crypto/blake3.h"
#include "services/api/json.h"
#include "services/api/store_api.h"
#include "services/http/exchange.h"
#include "services/http/router.h"
#include "services/http/server.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace bzzz::cli {
namespace {

namespace asio = boost::asio;
using boost::beast::http::verb;
using http::Exchange;
using http::Status_;
using namespace std::chrono_literals;

struct NodeOptions {
  bool store_api = true;
  std::function<void(http::Router&)> extra_routes;
  http::ServerOptions server;
};

// A node's API in this process: a store, its routes (and any extra ones), a listener.
class TestNode {
 public:
  TestNode() : TestNode(NodeOptions()) {}
  explicit TestNode(NodeOptions options) {
    options.server.host = "127.0.0.1";
    options.server.port = 0;
    http::Router router;
    if (options.store_api) {
      store_ = testing::open_store(dir_.path());
      api_ = std::make_unique<api::StoreApi>(*store_, workers_, nullptr);
      api_->add_routes(router);
    }
    if (options.extra_routes) options.extra_routes(router);
    server_ = std::make_unique<http::Server>(io_, options.server, std::move(router), nullptr, nullptr);
    auto started = server_->start();
    EXPECT_TRUE(started) << started.error().message();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~TestNode() {
    server_->close_all();
    for (int i = 0; i < 200 && server_->connections() > 0; ++i) std::this_thread::sleep_for(5ms);
    work_.reset();
    io_.stop();
    thread_.join();
    workers_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  uint16_t port() const { return server_->port(); }
  store::Store& store() { return *store_; }
  const std::string& dir() const { return dir_.path(); }

 private:
  testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  asio::thread_pool workers_{2};
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<api::StoreApi> api_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

class VectorSink final : public store::ByteSink {
 public:
  Status write(std::span<const uint8_t> data) override {
    ++writes;
    if (fail_after && writes > *fail_after) return make_error(ErrorCode::kIo, "stdout: broken pipe");
    bytes.insert(bytes.end(), data.begin(), data.end());
    return ok();
  }
  std::vector<uint8_t> bytes;
  int writes = 0;
  std::optional<int> fail_after;
};

// Gives `good` bytes, then fails, as a file on a failing disk would.
class FailingSource final : public store::ByteSource {
 public:
  explicit FailingSource(size_t good) : left_(good) {}
  Result<size_t> read(std::span<uint8_t> buf) override {
    if (left_ == 0) return make_error(ErrorCode::kIo, "input.bin: Input/output error");
    size_t n = std::min(left_, buf.size());
    std::fill_n(buf.begin(), n, uint8_t{7});
    left_ -= n;
    return n;
  }

 private:
  size_t left_;
};

RemoteOptions options_for(const TestNode& node) {
  RemoteOptions o;
  o.url = node.url();
  return o;
}

std::unique_ptr<Backend> connect_to(const RemoteOptions& o) {
  auto backend = connect_remote(o);
  EXPECT_TRUE(backend) << backend.error().message();
  return backend ? std::move(*backend) : nullptr;
}

uint16_t closed_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  uint16_t port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

TEST(RemoteBackend, PutGetRoundTripsEverySize) {
  TestNode node;
  auto backend = connect_to(options_for(node));
  ASSERT_TRUE(backend);
  // empty, packed, raw file (sent with sendfile), compressed file (sent from the reader)
  std::vector<std::vector<uint8_t>> blobs = {{}, testing::random_bytes(100, 1),
                                             testing::random_bytes(3 << 20, 2),
                                             testing::text_bytes(3 << 20, 3)};
  for (const auto& data : blobs) {
    store::SpanSource source(data);
    auto put = backend->put(source);
    ASSERT_TRUE(put) << put.error().message();
    EXPECT_EQ(put->hash, blake3(data));
    EXPECT_EQ(put->meta.size, data.size());
    EXPECT_FALSE(put->deduplicated);

    VectorSink sink;
    auto got = backend->get(put->hash, sink);
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_TRUE(sink.bytes == data) << data.size() << " bytes";

    auto meta = backend->stat(put->hash);
    ASSERT_TRUE(meta) << meta.error().message();
    EXPECT_EQ(meta->size, data.size());
    EXPECT_EQ(meta->codec, put->meta.codec);
    EXPECT_EQ(meta->location, put->meta.location);
  }
  store::SpanSource again(blobs[1]);
  auto dup = backend->put(again);
  ASSERT_TRUE(dup) << dup.error().message();
  EXPECT_TRUE(dup->deduplicated);
}

TEST(RemoteBackend, UnknownBlobIsNotFound) {
  TestNode node;
  auto backend = connect_to(options_for(node));
  ASSERT_TRUE(backend);
  Hash unknown = blake3(testing::random_bytes(10, 9));
  VectorSink sink;
  auto got = backend->get(unknown, sink);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(got.error().message().find(unknown.hex()), std::string::npos) << got.error().message();
  EXPECT_TRUE(sink.bytes.empty());
  auto meta = backend->stat(unknown);
  ASSERT_FALSE(meta);
  EXPECT_EQ(meta.error().code(), ErrorCode::kNotFound);
  auto pin = backend->pin(unknown);
  ASSERT_FALSE(pin);
  EXPECT_EQ(pin.error().code(), ErrorCode::kNotFound);
  // The connection survives error answers.
  auto stats = backend->stats();
  ASSERT_TRUE(stats) << stats.error().message();
}

TEST(RemoteBackend, ListPagesThroughEveryBlobInOrder) {
  TestNode node;
  // More than two pages of the client's 1000; put straight into the store, from
  // several threads so the group commit batches them.
  constexpr int kBlobs = 2100;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kBlobs; i += 8) {
        auto data = testing::random_bytes(40, 1000 + static_cast<uint64_t>(i));
        ASSERT_TRUE(node.store().put(std::span<const uint8_t>(data)));
      }
    });
  }
  for (auto& t : threads) t.join();
  auto backend = connect_to(options_for(node));
  ASSERT_TRUE(backend);

  std::vector<Hash> seen;
  auto listed = backend->list([&](const Hash& h, const store::BlobMeta& m) {
    EXPECT_EQ(m.size, 40u);
    seen.push_back(h);
    return true;
  });
  ASSERT_TRUE(listed) << listed.error().message();
  EXPECT_EQ(seen.size(), size_t{kBlobs});
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::set<Hash>(seen.begin(), seen.end()).size(), size_t{kBlobs});

  int visited = 0;
  ASSERT_TRUE(backend->list([&](const Hash&, const store::BlobMeta&) { return ++visited < 5; }));
  EXPECT_EQ(visited, 5);
}

TEST(RemoteBackend, PinsGcVerifyStatsOptimize) {
  TestNode node;
  auto backend = connect_to(options_for(node));
  ASSERT_TRUE(backend);
  std::vector<Hash> hashes;
  for (int i = 0; i < 5; ++i) {
    auto data = testing::random_bytes(1000 + static_cast<size_t>(i) * 30000, 50 + static_cast<uint64_t>(i));
    store::SpanSource source(data);
    auto put = backend->put(source);
    ASSERT_TRUE(put) << put.error().message();
    hashes.push_back(put->hash);
  }
  int count = 0;
  ASSERT_TRUE(backend->list([&](const Hash&, const store::BlobMeta&) { return ++count, true; }));
  EXPECT_EQ(count, 5);

  auto p1 = backend->pin(hashes[0]);
  ASSERT_TRUE(p1) << p1.error().message();
  EXPECT_EQ(*p1, 1u);
  auto p2 = backend->pin(hashes[0]);
  ASSERT_TRUE(p2);
  EXPECT_EQ(*p2, 2u);
  ASSERT_TRUE(backend->pin(hashes[1]));
  auto pins = backend->pins();
  ASSERT_TRUE(pins) << pins.error().message();
  ASSERT_EQ(pins->size(), 2u);
  auto u = backend->unpin(hashes[1]);
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(*u, 0u);
  auto not_pinned = backend->unpin(hashes[1]);
  ASSERT_FALSE(not_pinned);
  EXPECT_EQ(not_pinned.error().code(), ErrorCode::kInvalidArgument) << not_pinned.error().message();
  pins = backend->pins();
  ASSERT_TRUE(pins);
  ASSERT_EQ(pins->size(), 1u);
  EXPECT_EQ((*pins)[0].hash, hashes[0]);
  EXPECT_EQ((*pins)[0].pins, 2u);

  store::GcOptions dry = testing::no_grace();
  dry.dry_run = true;
  auto planned = backend->gc(dry);
  ASSERT_TRUE(planned) << planned.error().message();
  EXPECT_EQ(planned->examined, 5u);
  EXPECT_EQ(planned->removed, 4u);
  EXPECT_EQ(planned->kept_pinned, 1u);

  store::GcOptions graceful;
  graceful.grace = std::chrono::hours(1);
  auto kept = backend->gc(graceful);
  ASSERT_TRUE(kept) << kept.error().message();
  EXPECT_EQ(kept->removed, 0u);
  EXPECT_EQ(kept->kept_recent, 4u);

  auto gc = backend->gc(testing::no_grace());
  ASSERT_TRUE(gc) << gc.error().message();
  EXPECT_EQ(gc->removed, 4u);
  VectorSink sink;
  auto gone = backend->get(hashes[2], sink);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound);

  auto verify = backend->verify();
  ASSERT_TRUE(verify) << verify.error().message();
  EXPECT_TRUE(verify->clean());
  EXPECT_EQ(verify->checked, 1u);

  auto stats = backend->stats();
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->counters.blobs, 1u);
  EXPECT_GT(stats->disk_total_bytes, 0u);

  auto optimized = backend->optimize();
  ASSERT_TRUE(optimized) << optimized.error().message();
  EXPECT_EQ(optimized->examined, 1u);

  auto rebuild = backend->rebuild_index();
  ASSERT_FALSE(rebuild);
  EXPECT_EQ(rebuild.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(rebuild.error().message().find("stop the node"), std::string::npos);
}

TEST(RemoteBackend, NoNodeIsUnavailable) {
  RemoteOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(closed_port());
  auto backend = connect_remote(o);
  ASSERT_FALSE(backend);
  EXPECT_EQ(backend.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(backend.error().message().find("no bzzz node answers at " + o.url), std::string::npos)
      << backend.error().message();
  auto status = node_status(o);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kUnavailable);
}

TEST(RemoteBackend, UrlForms) {
  TestNode node;
  for (std::string url : {node.url(), node.url() + "/", "127.0.0.1:" + std::to_string(node.port()),
                          "localhost:" + std::to_string(node.port())}) {
    RemoteOptions o;
    o.url = url;
    auto backend = connect_remote(o);
    ASSERT_TRUE(backend) << url << ": " << backend.error().message();
    EXPECT_TRUE((*backend)->stats()) << url;
  }
  for (std::string url : {"https://127.0.0.1:8080", "ftp://x:1", "http://[::1", "http://:80",
                          "http://host:0", "http://host:99999", "http://host:80x", "::1:80",
                          "http://user:pw@host:80"}) {
    RemoteOptions o;
    o.url = url;
    auto backend = connect_remote(o);
    ASSERT_FALSE(backend) << url;
    EXPECT_EQ(backend.error().code(), ErrorCode::kInvalidArgument) << url;
  }
}

TEST(RemoteBackend, NodeStatus) {
  NodeOptions options;
  options.extra_routes = [](http::Router& router) {
    router.add(verb::get, "/v1/status", [](Exchange& ex) -> asio::awaitable<void> {
      nlohmann::json doc = {{"version", "9.9.9"}, {"data_dir", "/srv/bzzz"}};
      co_await ex.send_json(Status_::ok, doc);
    });
  };
  TestNode node(options);
  auto status = node_status(options_for(node));
  ASSERT_TRUE(status) << status.error().message();
  EXPECT_EQ((*status)["version"], "9.9.9");
  EXPECT_EQ((*status)["data_dir"], "/srv/bzzz");

  TestNode plain;  // a node without the route
  auto missing = node_status(options_for(plain));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST(RemoteBackend, BearerToken) {
  NodeOptions options;
  options.server.bearer_token = "s3cret";
  TestNode node(options);
  auto o = options_for(node);
  auto anonymous = connect_to(o);
  ASSERT_TRUE(anonymous);
  auto refused = anonymous->stats();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermission);
  EXPECT_NE(refused.error().message().find("Bearer"), std::string::npos) << refused.error().message();

  o.token = "wrong";
  auto wrong = connect_to(o)->stats();
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kPermission);
  EXPECT_NE(wrong.error().message().find("refused the API token"), std::string::npos);

  o.token = "s3cret";
  auto backend = connect_to(o);
  EXPECT_TRUE(backend->stats());
  auto data = testing::random_bytes(200000, 5);
  store::SpanSource source(data);
  auto put = backend->put(source);
  ASSERT_TRUE(put) << put.error().message();
  VectorSink sink;
  ASSERT_TRUE(backend->get(put->hash, sink));
  EXPECT_TRUE(sink.bytes == data);
}

TEST(RemoteBackend, ReconnectsAfterTheNodeClosedAnIdleConnection) {
  NodeOptions options;
  options.server.limits.idle_timeout = 100ms;
  TestNode node(options);
  auto backend = connect_to(options_for(node));
  ASSERT_TRUE(backend);
  ASSERT_TRUE(backend->stats());
  std::this_thread::sleep_for(400ms);
  auto stats = backend->stats();
  EXPECT_TRUE(stats) << stats.error().message();
  std::this_thread::sleep_for(400ms);
  auto data = testing::random_bytes(2 << 20, 6);
  store::SpanSource source(data);
  auto put = backend->put(source);
  ASSERT_TRUE(put) << put.error().message();
  std::this_thread::sleep_for(400ms);
  VectorSink sink;
  auto got = backend->get(put->hash, sink);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_TRUE(sink.bytes == data);
  std::this_thread::sleep_for(400ms);
  EXPECT_TRUE(backend->pin(put->hash));  // not retried, but found closed before sending
}

TEST(RemoteBackend, FailingSourceOrSinkLeavesTheBackendUsable) {
  TestNode node;
  auto backend = connect_to(options_for(node));
  ASSERT_TRUE(backend);
  FailingSource bad(2 << 20);
  auto put = backend->put(bad);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code(), ErrorCode::kIo);
  EXPECT_EQ(put.error().message(), "input.bin: Input/output error");

  auto data = testing::random_bytes(3 << 20, 7);
  store::SpanSource source(data);
  auto good = backend->put(source);
  ASSERT_TRUE(good) << good.error().message();
  VectorSink failing;
  failing.fail_after = 1;
  auto got = backend->get(good->hash, failing);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().message(), "stdout: broken pipe");

  VectorSink sink;
  ASSERT_TRUE(backend->get(good->hash, sink));
  EXPECT_TRUE(sink.bytes == data);
  // Only the good blob was stored; the cut upload was discarded.
  auto stats = backend->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->counters.blobs, 1u);
}

// --- a node that misbehaves ------------------------------------------------------------

TEST(RemoteBackend, BytesThatDoNotMatchTheHashAreCorrupt) {
  auto wrong = testing::random_bytes((2 << 20) + 5, 8);
  NodeOptions options;
  options.store_api = false;
  options.extra_routes = [&wrong](http::Router& router) {
    router.add(verb::get, "/v1/blobs/{hash}", [&wrong](Exchange& ex) -> asio::awaitable<void> {
      co_await ex.send(Status_::ok, std::string(wrong.begin(), wrong.end()), "application/octet-stream");
    });
  };
  TestNode node(options);
  auto backend = connect_to(options_for(node));
  ASSERT_TRUE(backend);
  Hash asked = blake3(testing::random_bytes(10, 9));
  VectorSink sink;
  auto got = backend->get(asked, sink);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), ErrorCode::kCorrupt);
  EXPECT_NE(got.error().message().find("do not hash to " + asked.hex()), std::string::npos)
      << got.error().message();
  // Whole pieces before the last went out; the last one (5 bytes) was held back.
  EXPECT_EQ(sink.bytes.size(), size_t{2 << 20});

  sink.bytes.clear();
  ASSERT_TRUE(backend->get(blake3(wrong), sink));
  EXPECT_TRUE(sink.bytes == wrong);
}

// A proxy may answer chunked, or with a body that ends when the connection does.
TEST(RemoteBackend, ChunkedAndCloseDelimitedBodies) {
  auto data = testing::random_bytes((3 << 20) / 2 + 77, 11);
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  std::thread proxy([&] {
    for (int i = 0; i < 2; ++i) {
      asio::ip::tcp::socket socket(io);
      acceptor.accept(socket);
      std::string request;
      char c;
      while (request.find("\r\n\r\n") == std::string::npos && asio::read(socket, asio::buffer(&c, 1))) {
        request += c;
      }
      std::string answer;
      if (i == 0) {
        answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (size_t at = 0; at < data.size(); at += 300000) {
          size_t n = std::min<size_t>(300000, data.size() - at);
          answer += fmt::format("{:x}\r\n", n);
          answer.append(reinterpret_cast<const char*>(data.data()) + at, n);
          answer += "\r\n";
        }
        answer += "0\r\n\r\n";
      } else {
        answer = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        answer.append(reinterpret_cast<const char*>(data.data()), data.size());
      }
      asio::write(socket, asio::buffer(answer));
      socket.shutdown(asio::ip::tcp::socket::shutdown_both);
    }
  });
  RemoteOptions o;
  o.url = "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  auto backend = connect_remote(o);  // the check connection is the first one served
  ASSERT_TRUE(backend) << backend.error().message();
  for (int i = 0; i < 2; ++i) {
    VectorSink sink;
    auto got = (*backend)->get(blake3(data), sink);
    ASSERT_TRUE(got) << i << ": " << got.error().message();
    EXPECT_TRUE(sink.bytes == data) << i;
  }
  proxy.join();
}

TEST(RemoteBackend, EarlyRefusalOfAnUploadIsHeard) {
  NodeOptions options;
  options.store_api = false;
  options.extra_routes = [](http::Router& router) {
    // Refuses at once, without reading the body, as a node with a full disk does.
    router.add(verb::post, "/v1/blobs", [](Exchange& ex) -> asio::awaitable<void> {
      ex.close_after();
      co_await ex.send_error(Status_::insufficient_storage, "disk_full",
                             "/data: no space left on device (disk full)");
    });
    router.add(verb::get, "/v1/pins", [](Exchange& ex) -> asio::awaitable<void> {
      nlohmann::json doc = {{"pins", nlohmann::json::array()}};
      co_await ex.send_json(Status_::ok, doc);
    });
  };
  TestNode node(options);
  auto backend = connect_to(options_for(node));
  ASSERT_TRUE(backend);
  for (size_t size : {size_t{100}, size_t{64} << 20}) {
    auto data = testing::random_bytes(size, 10);
    store::SpanSource source(data);
    auto put = backend->put(source);
    ASSERT_FALSE(put) << size;
    EXPECT_EQ(put.error().code(), ErrorCode::kNoSpace) << put.error().message();
    EXPECT_EQ(put.error().message(), "/data: no space left on device (disk full)");
    auto pins = backend->pins();
    EXPECT_TRUE(pins) << pins.error().message();
  }
}

TEST(RemoteBackend, ForeignErrorPagesAndTimeouts) {
  NodeOptions options;
  options.store_api = false;
  options.extra_routes = [](http::Router& router) {
    router.add(verb::get, "/v1/stats", [](Exchange& ex) -> asio::awaitable<void> {
      // (Arguments built before the co_await: g++ 12 cannot keep array temporaries across it.)
      std::string body = "<html>upstream is down</html>";
      co_await ex.send(Status_::bad_gateway, std::move(body), "text/html");
    });
    router.add(verb::get, "/v1/pins", [](Exchange& ex) -> asio::awaitable<void> {
      asio::steady_timer timer(co_await asio::this_coro::executor, 1500ms);
      co_await timer.async_wait(asio::use_awaitable);
      nlohmann::json doc = {{"pins", nlohmann::json::array()}};
      co_await ex.send_json(Status_::ok, doc);
    });
    // Reads no body and says nothing for a while.
    router.add(verb::post, "/v1/blobs", [](Exchange& ex) -> asio::awaitable<void> {
      asio::steady_timer timer(co_await asio::this_coro::executor, 1500ms);
      co_await timer.async_wait(asio::use_awaitable);
      ex.close_after();
      co_await ex.send_error(Status_::service_unavailable, "draining", "too late");
    });
    // Slower than the I/O timeout: long operations wait for their answer anyway.
    router.add(verb::post, "/v1/verify", [](Exchange& ex) -> asio::awaitable<void> {
      asio::steady_timer timer(co_await asio::this_coro::executor, 1s);
      co_await timer.async_wait(asio::use_awaitable);
      nlohmann::json doc = api::verify_json(store::VerifyReport{});
      co_await ex.send_json(Status_::ok, doc);
    });
  };
  TestNode node(options);
  auto o = options_for(node);
  o.io_timeout = 400ms;
  auto backend = connect_to(o);
  ASSERT_TRUE(backend);

  auto stats = backend->stats();
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(stats.error().message().find("HTTP 502 Bad Gateway: <html>upstream is down</html>"),
            std::string::npos)
      << stats.error().message();

  auto pins = backend->pins();
  ASSERT_FALSE(pins);
  EXPECT_EQ(pins.error().code(), ErrorCode::kTimeout) << pins.error().message();

  auto data = testing::random_bytes(64 << 20, 12);
  store::SpanSource source(data);
  auto put = backend->put(source);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code(), ErrorCode::kTimeout) << put.error().message();

  auto verify = backend->verify();
  ASSERT_TRUE(verify) << verify.error().message();
  EXPECT_TRUE(verify->clean());

  auto optimize = backend->optimize();  // no such route here
  ASSERT_FALSE(optimize);
  EXPECT_EQ(optimize.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(optimize.error().message().find("no such endpoint"), std::string::npos);
}

}  // namespace
}  // namespace bzzz::cli
