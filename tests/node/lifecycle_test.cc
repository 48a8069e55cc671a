// The order components start and stop in, and what happens when one will not stop.
#include "node/lifecycle.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "node/node_config.h"

namespace bzzz::node {
namespace {

using namespace std::chrono_literals;

// Records every call, in order, into a shared journal.
class Recorder final : public Component {
 public:
  Recorder(std::string name, std::vector<std::string>& journal, std::mutex& mu)
      : name_(std::move(name)), journal_(journal), mu_(mu) {}
  std::string name() const override { return name_; }
  Status start() override {
    note("start");
    if (fail_start) return make_error(ErrorCode::kIo, "disk on fire");
    return ok();
  }
  void drain() override { note("drain"); }
  void stop_accepting() override { note("stop_accepting"); }
  bool idle() const override { return busy_until <= std::chrono::steady_clock::now(); }
  void force_close() override { note("force_close"); }
  Status persist() override {
    note("persist");
    if (hang_persist) {
      std::this_thread::sleep_for(2s);
      hang_over = true;
    }
    return ok();
  }
  void close() override { note("close"); }

  bool fail_start = false;
  bool hang_persist = false;
  std::atomic<bool> hang_over{false};
  std::chrono::steady_clock::time_point busy_until{};

 private:
  void note(const std::string& what) const {
    std::lock_guard lock(mu_);
    journal_.push_back(name_ + "." + what);
  }
  std::string name_;
  std::vector<std::string>& journal_;
  std::mutex& mu_;
};

struct Fixture {
  std::vector<std::string> journal;
  std::mutex mu;
  std::vector<std::string> log;
  Lifecycle lifecycle{[this](const std::string& line) { log.push_back(line); }};
  std::shared_ptr<Recorder> add(std::string name, int start, int priority, std::chrono::milliseconds timeout = 1s) {
    auto r = std::make_shared<Recorder>(std::move(name), journal, mu);
    lifecycle.add(r, start, priority, timeout);
    return r;
  }
  std::vector<std::string> steps(const std::string& suffix) {
    std::vector<std::string> out;
    for (const auto& j : journal) {
      if (j.ends_with("." + suffix)) out.push_back(j.substr(0, j.find('.')));
    }
    return out;
  }
};

TEST(LifecycleTest, StartsInOrderAndStopsByPriorityThenReverseStartOrder) {
  Fixture f;
  f.add("store", 1, 30);
  f.add("api", 3, 10);
  f.add("workers", 0, 20);
  f.add("mcp", 4, 10);
  ASSERT_TRUE(f.lifecycle.start());
  EXPECT_EQ(f.steps("start"), (std::vector<std::string>{"workers", "store", "api", "mcp"}));
  std::atomic<bool> force{false};
  EXPECT_TRUE(f.lifecycle.shutdown({}, force));
  // Priority first (api and mcp share 10: the later started stops first), then workers, then store.
  std::vector<std::string> order{"mcp", "api", "workers", "store"};
  for (const char* phase : {"drain", "stop_accepting", "persist", "close"}) {
    EXPECT_EQ(f.steps(phase), order) << phase;
  }
  // Phases never interleave: every drain comes before any stop_accepting, and so on.
  auto first = [&](const std::string& phase) {
    for (size_t i = 0; i < f.journal.size(); ++i) if (f.journal[i].ends_with(phase)) return i;
    return f.journal.size();
  };
  auto last = [&](const std::string& phase) {
    size_t at = 0;
    for (size_t i = 0; i < f.journal.size(); ++i) if (f.journal[i].ends_with(phase)) at = i;
    return at;
  };
  EXPECT_LT(last(".drain"), first(".stop_accepting"));
  EXPECT_LT(last(".stop_accepting"), first(".persist"));
  EXPECT_LT(last(".persist"), first(".close"));
  for (const auto& s : f.lifecycle.states()) EXPECT_EQ(s.state, "stopped") << s.name;
}

TEST(LifecycleTest, AFailedStartNamesTheComponentAndOnlyStartedOnesStop) {
  Fixture f;
  f.add("store", 1, 30);
  f.add("api", 2, 10)->fail_start = true;
  f.add("mcp", 3, 10);
  auto started = f.lifecycle.start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message().find("cannot start api"), std::string::npos) << started.error().message();
  EXPECT_NE(started.error().message().find("disk on fire"), std::string::npos);
  std::atomic<bool> force{false};
  f.lifecycle.shutdown({}, force);
  EXPECT_EQ(f.steps("close"), std::vector<std::string>{"store"});
  EXPECT_TRUE(f.steps("start").size() == 2);  // mcp never started
}

TEST(LifecycleTest, WaitsForWorkInFlightButNotPastTheDeadline) {
  Fixture f;
  auto api = f.add("api", 1, 10);
  ASSERT_TRUE(f.lifecycle.start());
  api->busy_until = std::chrono::steady_clock::now() + 200ms;
  std::atomic<bool> force{false};
  EXPECT_TRUE(f.lifecycle.shutdown({.drain_delay = 0ms, .deadline = 10s, .poll = 5ms}, force));
  EXPECT_TRUE(f.steps("force_close").empty());

  Fixture g;
  auto stuck = g.add("api", 1, 10);
  ASSERT_TRUE(g.lifecycle.start());
  stuck->busy_until = std::chrono::steady_clock::now() + 1h;
  EXPECT_FALSE(g.lifecycle.shutdown({.drain_delay = 0ms, .deadline = 100ms, .poll = 5ms}, force));
  EXPECT_EQ(g.steps("force_close"), std::vector<std::string>{"api"});
  bool named = false;
  for (const auto& line : g.log) named |= line.find("work in flight in api") != std::string::npos;
  EXPECT_TRUE(named);
}

TEST(LifecycleTest, AStepThatOverrunsItsTimeoutIsAbandonedAndTheRestGoOn) {
  Fixture f;
  auto store = f.add("store", 1, 30, 100ms);
  store->hang_persist = true;
  f.add("api", 2, 10);
  ASSERT_TRUE(f.lifecycle.start());
  std::atomic<bool> force{false};
  EXPECT_FALSE(f.lifecycle.shutdown({}, force));
  EXPECT_FALSE(store->hang_over);  // shutdown did not wait out the hang
  EXPECT_EQ(f.steps("close"), std::vector<std::string>{"api"});  // store's close skipped
  for (const auto& s : f.lifecycle.states()) {
    EXPECT_EQ(s.state, s.name == "store" ? "abandoned" : "stopped") << s.name;
  }
  while (!store->hang_over) std::this_thread::sleep_for(10ms);  // let it finish before the fixture goes
}

TEST(LifecycleTest, ForceCutsTheDrainDelayShort) {
  Fixture f;
  f.add("api", 1, 10);
  ASSERT_TRUE(f.lifecycle.start());
  std::atomic<bool> force{true};
  auto began = std::chrono::steady_clock::now();
  EXPECT_TRUE(f.lifecycle.shutdown({.drain_delay = 30s, .deadline = 60s, .poll = 5ms}, force));
  EXPECT_LT(std::chrono::steady_clock::now() - began, 10s);
}

TEST(NodeConfigTest, DefaultsMakeARunnableNodeAndListenKeysFollowTheDesign) {
  config::Inputs inputs;
  auto loaded = config::load(node_schema(), inputs);
  ASSERT_TRUE(loaded) << loaded.error().message();
  auto s = settings_from(*loaded);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->api.host, "127.0.0.1");
  EXPECT_EQ(s->api.port, 8080);
  EXPECT_EQ(s->data_dir, "./bzzz-data");
  EXPECT_EQ(api_url(*loaded), "http://127.0.0.1:8080");
  EXPECT_EQ(node_schema().find("api.listen")->env_name(), "BZZZ_API_LISTEN");

  inputs.env = {{"BZZZ_API_LISTEN", "0.0.0.0:9999"}, {"BZZZ_STORE_COMPRESSION", "gzip"}};
  inputs.flags = {{"store.level", "12", "--level"}};
  auto bad = config::load(node_schema(), inputs);
  ASSERT_TRUE(bad);
  auto refused = settings_from(*bad);  // gzip has levels 1-9
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("--level"), std::string::npos) << refused.error().message();
  inputs.flags.clear();
  auto good = config::load(node_schema(), inputs);
  ASSERT_TRUE(good);
  EXPECT_EQ(api_url(*good), "http://127.0.0.1:9999");  // a wildcard listen is reached on loopback
}

}  // namespace
}  // namespace bzzz::node
