// infra/health: the node's health checks and their application/health+json reports.
//
// Owns the check registry, the background checker that runs every check on its own
// interval with a timeout and caches the result, the rule that combines results into
// pass/warn/fail, and the rendering of the four endpoints' bodies
// (draft-inadarei-api-health-check-06): ready (send traffic?), live (wedged?), summary
// (/health) and checks (/health/checks, full detail).
//
// HTTP handlers only read the cache: every report is a cheap snapshot under one mutex,
// so a slow disk or a hung datastore can never make a probe slow. A check that overruns
// its timeout is reported as failed and abandoned, not waited for.
//
// Thread-safe. Knows nothing of HTTP servers, metrics or the things it checks (checks
// arrive as functions); depends only on base/.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace bzzz::health {

namespace internal {
struct Core;   // the state shared with the worker threads, which may outlive a Registry
struct Entry;  // one registered check: its spec, schedule and last result
}  // namespace internal

enum class Status { kPass, kWarn, kFail };
std::string_view status_name(Status status);  // "pass" "warn" "fail"

enum class ComponentType { kComponent, kDatastore, kSystem };
std::string_view component_type_name(ComponentType type);  // "component" "datastore" "system"

// What one run of a check returns.
struct Observation {
  Status status = Status::kPass;
  nlohmann::json observed_value;  // number, string or object; null = omitted
  std::string observed_unit;      // "ms", "bytes", "ratio"; empty = omitted
  std::string output;             // for a person; omitted from reports on pass
};

struct CheckSpec {
  std::string name;          // "component:measurement", e.g. "store:writable"
  std::string component_id;  // optional: tells apart several checks of one name (two disks)
  ComponentType type = ComponentType::kComponent;
  bool critical = false;  // a failure makes the node not ready
  std::chrono::milliseconds interval{5000};
  std::chrono::milliseconds timeout{2000};
  // A critical check failing for longer than this triggers on_critical_failure.
  std::chrono::milliseconds grace{30000};
  // Also counts for /health/live. Only for in-process checks: a liveness failure means
  // "restart me", which never cures an outside dependency.
  bool liveness = false;
  std::vector<std::string> affected_endpoints;
  // May block (disk I/O); runs on a worker thread of its own. A run abandoned at stop()
  // may outlive the Registry, so it must keep alive what it uses (capture shared_ptrs).
  std::function<Observation()> run;
};

// A rendered report: the overall status and the application/health+json document.
struct Report {
  Status status = Status::kFail;
  nlohmann::json body;
};

class Registry {
 public:
  struct Options {
    std::string version = "1";
    std::string release_id;
    std::string service_id;
    std::string description = "bzzz node";
    // The checker's heartbeat fails when its loop has not completed for longer than
    // max(3 x the smallest check interval, heartbeat_floor). Smaller only in tests.
    std::chrono::milliseconds heartbeat_floor{10000};
  };
  using CriticalFailureFn =
      std::function<void(const std::string& check, const std::string& output)>;

  explicit Registry(Options options);
  ~Registry();  // stop()s
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a check. Meant for before start(); one added later runs at once.
  void add(CheckSpec spec);
  // Starts the checker, which runs every check immediately. Once per Registry.
  void start();
  // Stops the checker and joins its threads, except those of checks still running:
  // those are abandoned (they finish on their own), so stop() never hangs on a stuck
  // check. Reports still work afterwards; the cached results go stale.
  void stop();

  // "starting" (not ready) until the node says otherwise; "running" (ready); "draining"
  // (not ready, still serving). Shown as the check "lifecycle:phase".
  void set_phase(std::string phase, bool ready);
  void set_service_id(std::string service_id);
  // Called from the checker thread, once per failing episode of a critical check that
  // has failed for longer than its grace; again only after it has passed in between.
  void on_critical_failure(CriticalFailureFn fn);

  // The combining rule: fail if the phase is not ready or any critical check fails;
  // otherwise warn if anything warns or a non-critical check fails; otherwise pass.
  // A check with no result yet fails ("not yet run"), as does a result older than 3x
  // its interval ("stale").
  Report ready() const;    // /health/ready: phase, critical checks, non-critical non-passes
  Report live() const;     // /health/live: liveness checks + "checker:heartbeat"; any fail fails
  Report summary() const;  // /health: ready's status, version info, every check's status only
  Report checks() const;   // /health/checks: every check with value, unit, output, time

  static int http_status(Status status);  // 200 for pass and warn, 503 for fail
  static constexpr const char* kContentType = "application/health+json";

  // For metrics: each registered check's effective status (as ready() sees it) and the
  // duration of its last run (for one that timed out, how long it had run by then).
  void visit(const std::function<void(const CheckSpec&, Status, std::chrono::nanoseconds latency)>&
                 fn) const;
  // One line per check, for the SIGQUIT dump.
  std::string dump() const;

 private:
  void checker_loop();

  std::shared_ptr<internal::Core> core_;
  std::thread checker_;
};

}  // namespace bzzz::health
