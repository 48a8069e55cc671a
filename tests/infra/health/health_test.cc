#include "infra/health/health.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "infra/health/checks.h"

namespace bzzz::health {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Polls instead of sleeping a fixed time: fast when things are fast, patient on a
// loaded CI machine.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 4000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

// A check whose result the test sets.
struct Switch {
  std::atomic<Status> status{Status::kPass};
  std::atomic<int> runs{0};
};

CheckSpec switch_check(std::string name, const std::shared_ptr<Switch>& sw, bool critical,
                       std::chrono::milliseconds interval = 1h) {
  CheckSpec spec;
  spec.name = std::move(name);
  spec.critical = critical;
  spec.interval = interval;
  spec.timeout = std::max<std::chrono::milliseconds>(interval, 200ms);
  spec.run = [sw] {
    ++sw->runs;
    Observation obs;
    obs.status = sw->status.load();
    if (obs.status != Status::kPass) obs.output = "boom";
    return obs;
  };
  return spec;
}

CheckSpec fixed_check(std::string name, Status status, bool critical) {
  auto sw = std::make_shared<Switch>();
  sw->status = status;
  return switch_check(std::move(name), sw, critical);
}

// A check blocked here stays blocked until release(), or for at most 5 s.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void wait() {
    std::unique_lock lock(mu);
    cv.wait_for(lock, 5s, [&] { return open; });
  }
  void release() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
};

// Releases a gate when the test ends, even on a failed ASSERT, so that a Registry
// destroyed after it never waits on it.
struct ReleaseOnExit {
  std::shared_ptr<Gate> gate;
  ~ReleaseOnExit() { gate->release(); }
};

bool all_ran(const Registry& registry) {
  json body = registry.checks().body;
  for (const auto& [name, results] : body["checks"].items()) {
    for (const auto& r : results) {
      if (r.value("output", "") == "not yet run") return false;
    }
  }
  return true;
}

json first(const Report& report, const std::string& check) {
  const json& checks = report.body.at("checks");
  if (!checks.contains(check) || checks[check].empty()) return json();
  return checks[check][0];
}

std::string output_of(const Report& report, const std::string& check) {
  return first(report, check).value("output", "");
}

TEST(HealthStatus, NamesAndHttpCodes) {
  EXPECT_EQ(status_name(Status::kPass), "pass");
  EXPECT_EQ(status_name(Status::kWarn), "warn");
  EXPECT_EQ(status_name(Status::kFail), "fail");
  EXPECT_EQ(Registry::http_status(Status::kPass), 200);
  EXPECT_EQ(Registry::http_status(Status::kWarn), 200);
  EXPECT_EQ(Registry::http_status(Status::kFail), 503);
  EXPECT_STREQ(Registry::kContentType, "application/health+json");
}

TEST(HealthRegistry, CombiningRule) {
  struct Case {
    bool phase_ready;
    Status critical;
    Status optional;
    Status expected;
  };
  const Case cases[] = {
      {true, Status::kPass, Status::kPass, Status::kPass},
      {true, Status::kWarn, Status::kPass, Status::kWarn},
      {true, Status::kPass, Status::kWarn, Status::kWarn},
      {true, Status::kPass, Status::kFail, Status::kWarn},  // non-critical fail only warns
      {true, Status::kWarn, Status::kFail, Status::kWarn},
      {true, Status::kFail, Status::kPass, Status::kFail},
      {true, Status::kFail, Status::kWarn, Status::kFail},
      {false, Status::kPass, Status::kPass, Status::kFail},  // not ready whatever the checks say
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(fmt::format("phase ready {}, critical {}, non-critical {}", c.phase_ready,
                             status_name(c.critical), status_name(c.optional)));
    Registry registry({});
    registry.add(fixed_check("crit:check", c.critical, true));
    registry.add(fixed_check("opt:check", c.optional, false));
    registry.set_phase(c.phase_ready ? "running" : "starting", c.phase_ready);
    registry.start();
    ASSERT_TRUE(eventually([&] { return all_ran(registry); }));
    EXPECT_EQ(registry.ready().status, c.expected);
    EXPECT_EQ(registry.summary().status, c.expected);
    EXPECT_EQ(registry.checks().status, c.expected);
    EXPECT_EQ(registry.ready().body["status"], status_name(c.expected));
  }
}

TEST(HealthRegistry, NotReadyUntilChecksHaveRun) {
  Registry registry({});
  registry.add(fixed_check("store:writable", Status::kPass, true));
  registry.set_phase("running", true);
  Report before = registry.ready();
  EXPECT_EQ(before.status, Status::kFail);
  EXPECT_EQ(output_of(before, "store:writable"), "not yet run");
  registry.start();
  EXPECT_TRUE(eventually([&] { return registry.ready().status == Status::kPass; }));
}

TEST(HealthRegistry, HungCheckTimesOutAndStopDoesNotWait) {
  auto gate = std::make_shared<Gate>();
  ReleaseOnExit release{gate};
  auto starts = std::make_shared<std::atomic<int>>(0);
  Registry registry({});
  CheckSpec spec;
  spec.name = "slow:check";
  spec.critical = true;
  spec.interval = 50ms;
  spec.timeout = 100ms;
  spec.run = [gate, starts] {
    ++*starts;
    gate->wait();
    return Observation{};
  };
  registry.add(spec);
  registry.set_phase("running", true);
  registry.start();

  ASSERT_TRUE(eventually([&] {
    return output_of(registry.ready(), "slow:check").find("timed out after 100ms") !=
           std::string::npos;
  }));
  EXPECT_EQ(registry.ready().status, Status::kFail);
  // Several intervals later it is reported as still running, and never started twice.
  EXPECT_TRUE(eventually([&] {
    return output_of(registry.checks(), "slow:check").find("still running") != std::string::npos;
  }));
  EXPECT_EQ(starts->load(), 1);

  auto t0 = std::chrono::steady_clock::now();
  registry.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "stop() waited for the hung check";
}

TEST(HealthRegistry, ThrowingCheckFails) {
  Registry registry({});
  CheckSpec spec;
  spec.name = "bad:check";
  spec.critical = true;
  spec.run = []() -> Observation { throw std::runtime_error("kaput"); };
  registry.add(spec);
  registry.start();
  ASSERT_TRUE(eventually([&] { return all_ran(registry); }));
  EXPECT_EQ(output_of(registry.checks(), "bad:check"), "check threw: kaput");
}

TEST(HealthRegistry, CriticalFailureCallbackOncePerEpisodeAfterGrace) {
  auto sw = std::make_shared<Switch>();
  Registry registry({});
  CheckSpec spec = switch_check("store:writable", sw, true, 20ms);
  spec.grace = 200ms;
  registry.add(spec);
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> calls;
  std::chrono::steady_clock::time_point last_call;
  registry.on_critical_failure([&](const std::string& check, const std::string& output) {
    std::lock_guard lock(mu);
    calls.emplace_back(check, output);
    last_call = std::chrono::steady_clock::now();
  });
  auto call_count = [&] {
    std::lock_guard lock(mu);
    return calls.size();
  };
  registry.set_phase("running", true);
  registry.start();
  ASSERT_TRUE(eventually([&] { return registry.ready().status == Status::kPass; }));

  auto failed_at = std::chrono::steady_clock::now();
  sw->status = Status::kFail;
  ASSERT_TRUE(eventually([&] { return call_count() == 1; }));
  {
    std::lock_guard lock(mu);
    EXPECT_GE(last_call - failed_at, 200ms) << "called before the grace period ended";
    EXPECT_EQ(calls[0].first, "store:writable");
    EXPECT_EQ(calls[0].second, "boom");
  }
  // The episode goes on (the check keeps failing every 20 ms) without another call.
  int runs = sw->runs;
  ASSERT_TRUE(eventually([&] { return sw->runs >= runs + 5; }));
  EXPECT_EQ(call_count(), 1u);

  // Recovery ends the episode; the next failure is a new one.
  sw->status = Status::kPass;
  ASSERT_TRUE(eventually([&] { return registry.ready().status == Status::kPass; }));
  sw->status = Status::kFail;
  ASSERT_TRUE(eventually([&] { return call_count() == 2; }));
}

TEST(HealthRegistry, PhaseDrivesReadiness) {
  Registry registry({});
  registry.start();

  Report starting = registry.ready();
  EXPECT_EQ(starting.status, Status::kFail);
  EXPECT_EQ(starting.body["notes"], json::array({"starting"}));

  registry.set_phase("running", true);
  Report running = registry.ready();
  EXPECT_EQ(running.status, Status::kPass);
  EXPECT_FALSE(running.body.contains("notes"));
  EXPECT_EQ(first(running, "lifecycle:phase")["observedValue"], "running");

  registry.set_phase("draining", false);
  Report draining = registry.ready();
  EXPECT_EQ(draining.status, Status::kFail);
  EXPECT_EQ(Registry::http_status(draining.status), 503);
  EXPECT_EQ(draining.body["notes"], json::array({"draining"}));
  json phase = first(draining, "lifecycle:phase");
  EXPECT_EQ(phase["observedValue"], "draining");
  EXPECT_EQ(phase["status"], "fail");
  EXPECT_EQ(registry.summary().status, Status::kFail);
  // Draining is not wedged: the process must not be restarted for it.
  EXPECT_EQ(registry.live().status, Status::kPass);
}

TEST(HealthRegistry, LiveIgnoresNonLivenessChecks) {
  auto loop = std::make_shared<Switch>();
  Registry registry({});
  registry.add(fixed_check("postgres:responseTime", Status::kFail, true));
  CheckSpec eventloop = switch_check("eventloop:lag", loop, false, 20ms);
  eventloop.liveness = true;
  registry.add(eventloop);
  registry.set_phase("running", true);
  registry.start();
  ASSERT_TRUE(eventually([&] { return all_ran(registry); }));

  Report live = registry.live();
  EXPECT_EQ(live.status, Status::kPass);
  EXPECT_FALSE(live.body["checks"].contains("postgres:responseTime"));
  EXPECT_FALSE(live.body["checks"].contains("lifecycle:phase"));
  EXPECT_TRUE(live.body["checks"].contains("eventloop:lag"));
  EXPECT_EQ(first(live, "checker:heartbeat")["status"], "pass");
  EXPECT_EQ(registry.ready().status, Status::kFail);

  // A failing liveness check fails live even though it is not critical for readiness.
  loop->status = Status::kFail;
  EXPECT_TRUE(eventually([&] { return registry.live().status == Status::kFail; }));
}

TEST(HealthRegistry, HeartbeatFailsWhenCheckerIsWedged) {
  auto gate = std::make_shared<Gate>();
  Registry::Options options;
  options.heartbeat_floor = 200ms;
  Registry registry(options);
  ReleaseOnExit release{gate};  // destroyed before the registry: unblocks its checker
  CheckSpec spec = fixed_check("store:writable", Status::kFail, true);
  spec.interval = 20ms;
  spec.grace = 0ms;
  registry.add(spec);
  // A callback that never returns wedges the checker thread: the one thing live reports.
  registry.on_critical_failure([gate](const std::string&, const std::string&) { gate->wait(); });
  registry.start();

  ASSERT_TRUE(eventually([&] { return registry.live().status == Status::kFail; }));
  json heartbeat = first(registry.live(), "checker:heartbeat");
  EXPECT_EQ(heartbeat["status"], "fail");
  EXPECT_EQ(heartbeat["observedUnit"], "ms");
  EXPECT_NE(heartbeat.value("output", "").find("has not completed a loop"), std::string::npos);

  gate->release();
  EXPECT_TRUE(eventually([&] { return registry.live().status == Status::kPass; }));
}

TEST(HealthRegistry, ResultsGoStaleWhenNotRefreshed) {
  auto sw = std::make_shared<Switch>();
  Registry registry({});
  CheckSpec spec = switch_check("store:writable", sw, true, 50ms);
  spec.timeout = 50ms;  // stale after max(3 x 50, 50 + 50) ms
  registry.add(spec);
  registry.set_phase("running", true);
  registry.start();
  ASSERT_TRUE(eventually([&] { return registry.ready().status == Status::kPass; }));

  registry.stop();  // nothing refreshes the cache any more
  ASSERT_TRUE(eventually([&] { return registry.ready().status == Status::kFail; }));
  EXPECT_EQ(output_of(registry.ready(), "store:writable").rfind("stale", 0), 0u);
  EXPECT_EQ(first(registry.live(), "checker:heartbeat")["status"], "warn");
}

TEST(HealthRegistry, CheckAddedAfterStartRuns) {
  auto sw = std::make_shared<Switch>();
  Registry registry({});
  registry.start();
  registry.add(switch_check("late:check", sw, true));
  EXPECT_TRUE(eventually([&] { return sw->runs == 1; }));
}

TEST(HealthRegistry, BodyShape) {
  Registry::Options options;
  options.release_id = "0.1.0+gabc";
  Registry registry(options);
  registry.set_service_id("12D3KooWtest");

  CheckSpec store;
  store.name = "store:writable";
  store.type = ComponentType::kDatastore;
  store.critical = true;
  store.affected_endpoints = {"/v1/blobs"};
  store.run = [] {
    Observation obs;
    obs.observed_value = 4.1;
    obs.observed_unit = "ms";
    obs.output = "said on pass, never shown";
    return obs;
  };
  CheckSpec peers;
  peers.name = "peers:connections";
  peers.run = [] {
    Observation obs;
    obs.status = Status::kWarn;
    obs.observed_value = 0;
    obs.output = "no peers";
    return obs;
  };
  CheckSpec disk;
  disk.name = "disk:utilization";
  disk.component_id = "/data";
  disk.type = ComponentType::kSystem;
  disk.run = [] { return Observation{}; };
  registry.add(store);
  registry.add(peers);
  registry.add(disk);
  registry.set_phase("running", true);
  registry.start();
  ASSERT_TRUE(eventually([&] { return all_ran(registry); }));

  Report full = registry.checks();
  const json& body = full.body;
  EXPECT_EQ(full.status, Status::kWarn);
  EXPECT_EQ(body["status"], "warn");
  EXPECT_EQ(body["version"], "1");
  EXPECT_EQ(body["releaseId"], "0.1.0+gabc");
  EXPECT_EQ(body["serviceId"], "12D3KooWtest");
  EXPECT_EQ(body["description"], "bzzz node");
  EXPECT_FALSE(body.contains("notes"));
  for (const char* name : {"lifecycle:phase", "store:writable", "peers:connections",
                           "disk:utilization", "checker:heartbeat"}) {
    ASSERT_TRUE(body["checks"].contains(name)) << name;
    EXPECT_TRUE(body["checks"][name].is_array()) << name;
  }

  json s = first(full, "store:writable");
  EXPECT_EQ(s["componentType"], "datastore");
  EXPECT_EQ(s["observedValue"], 4.1);
  EXPECT_EQ(s["observedUnit"], "ms");
  EXPECT_EQ(s["status"], "pass");
  EXPECT_EQ(s["critical"], true);
  EXPECT_EQ(s["affectedEndpoints"], json::array({"/v1/blobs"}));
  EXPECT_FALSE(s.contains("output"));
  const std::regex rfc3339(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$)");
  EXPECT_TRUE(std::regex_match(s["time"].get<std::string>(), rfc3339)) << s["time"];

  json p = first(full, "peers:connections");
  EXPECT_EQ(p["componentType"], "component");
  EXPECT_EQ(p["status"], "warn");
  EXPECT_EQ(p["output"], "no peers");
  EXPECT_EQ(p["observedValue"], 0);
  EXPECT_EQ(p["critical"], false);
  EXPECT_FALSE(p.contains("observedUnit"));
  EXPECT_FALSE(p.contains("affectedEndpoints"));

  json d = first(full, "disk:utilization");
  EXPECT_EQ(d["componentId"], "/data");
  EXPECT_EQ(d["componentType"], "system");
  EXPECT_FALSE(d.contains("observedValue"));

  // /health: the same status, each check's status only.
  Report summary = registry.summary();
  EXPECT_EQ(summary.status, Status::kWarn);
  EXPECT_EQ(first(summary, "store:writable"),
            (json{{"componentType", "datastore"}, {"status", "pass"}}));
  EXPECT_EQ(first(summary, "peers:connections"),
            (json{{"componentType", "component"}, {"status", "warn"}}));

  // /health/ready: the phase, critical checks, and the non-critical ones explaining a warn.
  Report ready = registry.ready();
  EXPECT_EQ(ready.status, Status::kWarn);
  EXPECT_TRUE(ready.body["checks"].contains("lifecycle:phase"));
  EXPECT_TRUE(ready.body["checks"].contains("store:writable"));
  EXPECT_TRUE(ready.body["checks"].contains("peers:connections"));
  EXPECT_FALSE(ready.body["checks"].contains("disk:utilization"));
}

TEST(HealthRegistry, VisitAndDump) {
  Registry registry({});
  registry.add(fixed_check("store:writable", Status::kPass, true));
  registry.add(fixed_check("peers:connections", Status::kWarn, false));
  registry.start();
  ASSERT_TRUE(eventually([&] { return all_ran(registry); }));

  std::vector<std::pair<std::string, Status>> seen;
  registry.visit([&](const CheckSpec& spec, Status status, std::chrono::nanoseconds latency) {
    EXPECT_GE(latency.count(), 0);
    seen.emplace_back(spec.name, status);
  });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_pair(std::string("store:writable"), Status::kPass));
  EXPECT_EQ(seen[1], std::make_pair(std::string("peers:connections"), Status::kWarn));

  std::string dump = registry.dump();
  EXPECT_NE(dump.find("store:writable pass critical"), std::string::npos) << dump;
  EXPECT_NE(dump.find("peers:connections warn"), std::string::npos) << dump;
  EXPECT_NE(dump.find("phase starting, not ready"), std::string::npos) << dump;
}

// --- checks ----------------------------------------------------------------

TEST(HealthChecks, DiskSpaceOfTmp) {
  Observation ok = disk_space("/tmp", 0.0, 0.0, 0)();
  EXPECT_EQ(ok.status, Status::kPass) << ok.output;
  EXPECT_EQ(ok.observed_unit, "ratio");
  ASSERT_TRUE(ok.observed_value.is_number());
  EXPECT_GE(ok.observed_value.get<double>(), 0.0);
  EXPECT_LE(ok.observed_value.get<double>(), 1.0);

  // Nothing has more than 2^64-1 bytes free.
  Observation full = disk_space("/tmp", 0.0, 0.0, std::numeric_limits<uint64_t>::max())();
  EXPECT_EQ(full.status, Status::kFail);
  EXPECT_NE(full.output.find("/tmp: "), std::string::npos) << full.output;
  EXPECT_NE(full.output.find("bytes free"), std::string::npos) << full.output;

  // Nothing is more than 100% free.
  Observation tight = disk_space("/tmp", 1.01, 0.0, 0)();
  EXPECT_EQ(tight.status, Status::kWarn) << tight.output;

  Observation missing = disk_space("/nonexistent/bzzz-health", 0.1, 0.05, 0)();
  EXPECT_EQ(missing.status, Status::kFail);
  EXPECT_NE(missing.output.find("/nonexistent/bzzz-health"), std::string::npos) << missing.output;
}

TEST(HealthChecks, DiskThresholds) {
  auto status = [](uint64_t free, uint64_t fail_bytes) {
    fs::DiskSpace space{1000, free};
    return disk_observation("/data", space, 0.10, 0.05, fail_bytes).status;
  };
  EXPECT_EQ(status(500, 0), Status::kPass);
  EXPECT_EQ(status(100, 0), Status::kPass);  // exactly at the warn ratio
  EXPECT_EQ(status(99, 0), Status::kWarn);
  EXPECT_EQ(status(50, 0), Status::kWarn);  // exactly at the fail ratio
  EXPECT_EQ(status(49, 0), Status::kFail);
  EXPECT_EQ(status(500, 501), Status::kFail);  // the byte floor alone fails it

  Observation obs = disk_observation("/data", {1000, 250}, 0.10, 0.05, 0);
  EXPECT_DOUBLE_EQ(obs.observed_value.get<double>(), 0.75);
  EXPECT_EQ(disk_observation("/proc", {0, 0}, 0.10, 0.05, 0).status, Status::kWarn);
}

TEST(HealthChecks, Memory) {
  Observation report = memory(0, 0.9)();
  EXPECT_EQ(report.status, Status::kPass);
  EXPECT_EQ(report.observed_unit, "bytes");
  ASSERT_TRUE(report.observed_value.is_number_unsigned());
  EXPECT_GT(report.observed_value.get<uint64_t>(), 0u);

  EXPECT_EQ(memory(1, 0.9)().status, Status::kFail);
  EXPECT_EQ(memory(uint64_t{1} << 50, 1e-9)().status, Status::kWarn);  // warns above ~1 MiB

  EXPECT_EQ(memory_observation(900, 1000, 0.9).status, Status::kPass);
  EXPECT_EQ(memory_observation(901, 1000, 0.9).status, Status::kWarn);
  EXPECT_EQ(memory_observation(1001, 1000, 0.9).status, Status::kFail);
}

TEST(HealthChecks, ParseStatm) {
  auto rss = parse_statm_rss("12345 678 90 1 0 200 0\n", 4096);
  ASSERT_TRUE(rss.has_value()) << rss.error().message();
  EXPECT_EQ(*rss, 678u * 4096u);
  EXPECT_FALSE(parse_statm_rss("", 4096).has_value());
  EXPECT_FALSE(parse_statm_rss("12345", 4096).has_value());
  EXPECT_FALSE(parse_statm_rss("abc def", 4096).has_value());
  auto live = resident_bytes();
  ASSERT_TRUE(live.has_value()) << live.error().message();
  EXPECT_GT(*live, 0u);
}

}  // namespace
}  // namespace bzzz::health
