#include "infra/health/health.h"

#include <algorithm>
#include <cassert>
#include <condition_variable>
#include <ctime>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace bzzz::health {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

namespace internal {

struct CachedResult {
  Observation observation;
  WallTime time;  // shown in reports
  SteadyTime at;  // for staleness: immune to wall-clock jumps
};

enum class CheckerState { kIdle, kRunning, kStopped };

struct Entry {
  explicit Entry(CheckSpec s) : spec(std::move(s)) {}

  const CheckSpec spec;
  // Everything below is guarded by Core::mu.
  std::optional<CachedResult> last;
  nanoseconds latency{0};
  bool go = false;         // the checker asked the worker for a run
  bool running = false;    // a run is in progress (possibly abandoned by its timeout)
  bool timed_out = false;  // the run in progress overran its timeout; its result is dropped
  SteadyTime started{};
  SteadyTime next_due{};
  std::optional<SteadyTime> failing_since;  // start of the current failing episode
  bool failure_reported = false;            // on_critical_failure called for this episode
  std::condition_variable wake;             // wakes the worker
  std::thread worker;
};

struct Core {
  explicit Core(Registry::Options o) : options(std::move(o)) {}

  std::mutex mu;
  std::condition_variable cv;  // wakes the checker
  Registry::Options options;
  std::vector<std::shared_ptr<Entry>> entries;
  std::string phase = "starting";
  bool phase_ready = false;
  WallTime phase_time = std::chrono::system_clock::now();
  Registry::CriticalFailureFn on_critical_failure;
  CheckerState state = CheckerState::kIdle;
  bool kicked = false;   // a worker finished a run: the checker should look again
  SteadyTime heartbeat;  // when the checker last completed a loop
};

}  // namespace internal

namespace {

using internal::CheckerState;
using internal::Core;
using internal::Entry;

constexpr std::string_view kPhaseCheck = "lifecycle:phase";
constexpr std::string_view kHeartbeatCheck = "checker:heartbeat";
// The checker loops at least this often even with nothing due, so its heartbeat stays fresh.
constexpr milliseconds kMaxCheckerSleep{1000};

std::string format_duration(nanoseconds d) {
  auto ms = duration_cast<milliseconds>(d).count();
  if (ms < 10000) return fmt::format("{}ms", ms);
  return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
}

std::string rfc3339(WallTime t) {
  auto ms = std::chrono::floor<milliseconds>(t.time_since_epoch()).count();
  auto secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ms - static_cast<int64_t>(secs) * 1000);
}

Observation failed(std::string output) {
  Observation obs;
  obs.status = Status::kFail;
  obs.output = std::move(output);
  return obs;
}

// A result older than this was not refreshed by the checker: the checker is stopped or
// wedged. Three intervals, as the spec says, unless a long timeout lets an honest run
// take longer than that.
nanoseconds stale_after(const CheckSpec& spec) {
  return std::max<nanoseconds>(3 * spec.interval, spec.interval + spec.timeout);
}

// Library exceptions end at this edge: a check that throws has failed.
Observation run_guarded(const CheckSpec& spec) {
  try {
    return spec.run();
  } catch (const std::exception& e) {
    return failed(fmt::format("check threw: {}", e.what()));
  } catch (...) {
    return failed("check threw an unknown exception");
  }
}

// Caches a result and tracks failing episodes. Returns a line to log (outside the
// lock) when the status changed. Caller holds the lock.
std::optional<std::string> record(Entry& e, Observation obs, SteadyTime at, nanoseconds latency) {
  std::optional<Status> before;
  if (e.last) before = e.last->observation.status;
  Status now_status = obs.status;
  std::string output = obs.output;
  e.last = internal::CachedResult{std::move(obs), std::chrono::system_clock::now(), at};
  e.latency = latency;
  if (now_status == Status::kFail) {
    if (!e.failing_since) e.failing_since = at;
  } else {
    e.failing_since.reset();
    e.failure_reported = false;
  }
  if (before == now_status || (!before && now_status == Status::kPass)) return std::nullopt;
  return fmt::format("health check {}: {}{}{}", e.spec.name, status_name(now_status),
                     output.empty() ? "" : ": ", output);
}

void log_transition(const std::string& line, bool worse) {
  if (worse) {
    spdlog::warn("{}", line);
  } else {
    spdlog::info("{}", line);
  }
}

void worker_loop(std::shared_ptr<Core> core, std::shared_ptr<Entry> e) {
  std::unique_lock lock(core->mu);
  for (;;) {
    e->wake.wait(lock, [&] { return e->go || core->state == CheckerState::kStopped; });
    if (core->state == CheckerState::kStopped) return;
    e->go = false;
    lock.unlock();
    auto t0 = std::chrono::steady_clock::now();
    Observation obs = run_guarded(e->spec);
    auto t1 = std::chrono::steady_clock::now();
    lock.lock();
    e->running = false;
    // Stopped meanwhile: this worker was left behind (its check hung). Its answer is of
    // no use now, and logging it could race with the process's exit (static loggers
    // being destroyed), so it ends without a word.
    if (core->state == CheckerState::kStopped) return;
    std::optional<std::string> line;
    bool worse = obs.status != Status::kPass;
    if (e->timed_out) {
      // The timeout already stands as this run's result; a late answer does not undo it.
      e->latency = t1 - t0;
      line = fmt::format("health check {} finished after {}, past its {}ms timeout", e->spec.name,
                         format_duration(t1 - t0), e->spec.timeout.count());
      worse = false;
    } else {
      line = record(*e, std::move(obs), t1, t1 - t0);
    }
    core->kicked = true;
    core->cv.notify_all();
    if (line) {
      lock.unlock();
      log_transition(*line, worse);
      lock.lock();
    }
  }
}

void spawn_worker(const std::shared_ptr<Core>& core, const std::shared_ptr<Entry>& e) {
  e->worker = std::thread(worker_loop, core, e);
}

// One row of a report: a registered check or one of the two built in.
struct Row {
  std::string name;
  std::string component_id;
  ComponentType type = ComponentType::kComponent;
  bool critical = false;
  bool liveness = false;
  std::vector<std::string> affected_endpoints;
  Observation observation;
  std::optional<WallTime> time;
  std::optional<nanoseconds> latency;  // registered checks only
};

// What a report needs, copied under the lock so rendering happens outside it.
struct Snapshot {
  Registry::Options options;
  std::string phase;
  bool phase_ready = false;
  std::vector<Row> rows;
};

Observation effective(const Entry& e, SteadyTime now, std::optional<WallTime>* time) {
  if (!e.last) return failed("not yet run");
  *time = e.last->time;
  auto age = now - e.last->at;
  if (age > stale_after(e.spec)) {
    Observation obs = e.last->observation;
    obs.status = Status::kFail;
    obs.output = fmt::format(
        "stale: last result is {} old (interval {}ms){}{}", format_duration(age),
        e.spec.interval.count(),
        e.last->observation.output.empty() ? "" : "; it said: ", e.last->observation.output);
    return obs;
  }
  return e.last->observation;
}

// Caller holds the lock.
Row heartbeat_row(const Core& core, SteadyTime now) {
  Row row;
  row.name = kHeartbeatCheck;
  row.type = ComponentType::kComponent;
  row.liveness = true;
  row.time = std::chrono::system_clock::now();
  Observation& obs = row.observation;
  if (core.state == CheckerState::kIdle) {
    obs = failed("checker not started");
    return row;
  }
  if (core.state == CheckerState::kStopped) {
    // Stopped on purpose during shutdown: not a reason for a restart.
    obs.status = Status::kWarn;
    obs.output = "checker stopped";
    return row;
  }
  // The checker wakes for the most frequent check, so three of its intervals without a
  // completed loop mean it is stuck (in a callback, or on the lock).
  nanoseconds smallest = nanoseconds::max();
  for (const auto& e : core.entries) smallest = std::min<nanoseconds>(smallest, e->spec.interval);
  nanoseconds limit = core.options.heartbeat_floor;
  if (!core.entries.empty()) limit = std::max<nanoseconds>(limit, 3 * smallest);
  auto age = now - core.heartbeat;
  obs.observed_value = duration_cast<milliseconds>(age).count();
  obs.observed_unit = "ms";
  if (age > limit) {
    obs.status = Status::kFail;
    obs.output = fmt::format("the checker has not completed a loop for {} (limit {})",
                             format_duration(age), format_duration(limit));
  }
  return row;
}

Snapshot take_snapshot(Core& core) {
  std::lock_guard lock(core.mu);
  auto now = std::chrono::steady_clock::now();
  Snapshot snap;
  snap.options = core.options;
  snap.phase = core.phase;
  snap.phase_ready = core.phase_ready;

  Row phase;
  phase.name = kPhaseCheck;
  phase.critical = true;
  phase.observation.status = core.phase_ready ? Status::kPass : Status::kFail;
  phase.observation.observed_value = core.phase;
  if (!core.phase_ready) {
    phase.observation.output = fmt::format("phase {} is not ready", core.phase);
  }
  phase.time = core.phase_time;
  snap.rows.push_back(std::move(phase));

  for (const auto& e : core.entries) {
    Row row;
    row.name = e->spec.name;
    row.component_id = e->spec.component_id;
    row.type = e->spec.type;
    row.critical = e->spec.critical;
    row.liveness = e->spec.liveness;
    row.affected_endpoints = e->spec.affected_endpoints;
    row.observation = effective(*e, now, &row.time);
    if (e->last) row.latency = e->latency;
    snap.rows.push_back(std::move(row));
  }
  snap.rows.push_back(heartbeat_row(core, now));
  return snap;
}

// The combining rule. For liveness every included check counts as critical: a live
// check exists only to say "restart me".
Status combine(const std::vector<Row>& rows, bool live) {
  bool fail = false;
  bool warn = false;
  for (const auto& row : rows) {
    if (live && !row.liveness) continue;
    switch (row.observation.status) {
      case Status::kPass: break;
      case Status::kWarn: warn = true; break;
      case Status::kFail:
        if (live || row.critical) {
          fail = true;
        } else {
          warn = true;  // a non-critical failure degrades, it does not take the node out
        }
        break;
    }
  }
  return fail ? Status::kFail : warn ? Status::kWarn : Status::kPass;
}

nlohmann::json render_row(const Row& row, bool detail) {
  nlohmann::json out = nlohmann::json::object();
  if (!row.component_id.empty()) out["componentId"] = row.component_id;
  out["componentType"] = component_type_name(row.type);
  out["status"] = status_name(row.observation.status);
  if (!detail) return out;
  const Observation& obs = row.observation;
  if (!obs.observed_value.is_null()) out["observedValue"] = obs.observed_value;
  if (!obs.observed_unit.empty()) out["observedUnit"] = obs.observed_unit;
  if (row.time) out["time"] = rfc3339(*row.time);
  if (obs.status != Status::kPass && !obs.output.empty()) out["output"] = obs.output;
  out["critical"] = row.critical;
  if (!row.affected_endpoints.empty()) out["affectedEndpoints"] = row.affected_endpoints;
  return out;
}

enum class View { kReady, kLive, kSummary, kChecks };

Report render(const Snapshot& snap, View view) {
  bool live = view == View::kLive;
  Report report;
  report.status = combine(snap.rows, live);
  nlohmann::json& body = report.body;
  body = nlohmann::json::object();
  body["status"] = status_name(report.status);
  const auto& o = snap.options;
  if (!o.version.empty()) body["version"] = o.version;
  if (!o.release_id.empty()) body["releaseId"] = o.release_id;
  if (!o.service_id.empty()) body["serviceId"] = o.service_id;
  if (!o.description.empty()) body["description"] = o.description;
  if (!live && !snap.phase_ready) body["notes"] = nlohmann::json::array({snap.phase});
  nlohmann::json checks = nlohmann::json::object();
  for (const auto& row : snap.rows) {
    bool include = true;
    switch (view) {
      case View::kLive: include = row.liveness; break;
      // Non-critical checks appear only when they explain a warn.
      case View::kReady: include = row.critical || row.observation.status != Status::kPass; break;
      case View::kSummary:
      case View::kChecks: break;
    }
    if (!include) continue;
    checks[row.name].push_back(render_row(row, view != View::kSummary));
  }
  body["checks"] = std::move(checks);
  return report;
}

}  // namespace

std::string_view status_name(Status status) {
  switch (status) {
    case Status::kPass: return "pass";
    case Status::kWarn: return "warn";
    case Status::kFail: return "fail";
  }
  return "fail";
}

std::string_view component_type_name(ComponentType type) {
  switch (type) {
    case ComponentType::kComponent: return "component";
    case ComponentType::kDatastore: return "datastore";
    case ComponentType::kSystem: return "system";
  }
  return "component";
}

Registry::Registry(Options options) : core_(std::make_shared<Core>(std::move(options))) {}

Registry::~Registry() { stop(); }

void Registry::add(CheckSpec spec) {
  assert(!spec.name.empty() && spec.run);
  assert(spec.interval.count() > 0 && spec.timeout.count() > 0);
  auto entry = std::make_shared<Entry>(std::move(spec));
  std::lock_guard lock(core_->mu);
  core_->entries.push_back(entry);
  if (core_->state == CheckerState::kRunning) {
    spawn_worker(core_, entry);
    core_->kicked = true;
    core_->cv.notify_all();
  }
}

void Registry::start() {
  std::lock_guard lock(core_->mu);
  assert(core_->state == CheckerState::kIdle);
  if (core_->state != CheckerState::kIdle) return;
  core_->state = CheckerState::kRunning;
  core_->heartbeat = std::chrono::steady_clock::now();
  // next_due is the epoch for every entry, so the first loop runs them all at once.
  for (const auto& e : core_->entries) spawn_worker(core_, e);
  checker_ = std::thread([this] { checker_loop(); });
}

void Registry::stop() {
  {
    std::lock_guard lock(core_->mu);
    if (core_->state != CheckerState::kRunning) return;
    core_->state = CheckerState::kStopped;
  }
  core_->cv.notify_all();
  checker_.join();
  std::vector<std::thread> idle;
  {
    std::lock_guard lock(core_->mu);
    for (const auto& e : core_->entries) {
      e->wake.notify_all();
      if (!e->worker.joinable()) continue;
      // A worker inside its check may never come back: leave it behind. It holds the
      // Core and its Entry, and exits when the check returns.
      if (e->running && !e->go) {
        e->worker.detach();
      } else {
        idle.push_back(std::move(e->worker));
      }
    }
  }
  for (auto& t : idle) t.join();
}

void Registry::set_phase(std::string phase, bool ready) {
  {
    std::lock_guard lock(core_->mu);
    if (core_->phase == phase && core_->phase_ready == ready) return;
    core_->phase = phase;
    core_->phase_ready = ready;
    core_->phase_time = std::chrono::system_clock::now();
  }
  spdlog::info("health: phase {} ({})", phase, ready ? "ready" : "not ready");
}

void Registry::set_service_id(std::string service_id) {
  std::lock_guard lock(core_->mu);
  core_->options.service_id = std::move(service_id);
}

void Registry::on_critical_failure(CriticalFailureFn fn) {
  std::lock_guard lock(core_->mu);
  core_->on_critical_failure = std::move(fn);
}

void Registry::checker_loop() {
  Core& core = *core_;
  std::unique_lock lock(core.mu);
  while (core.state == CheckerState::kRunning) {
    auto now = std::chrono::steady_clock::now();
    auto sleep = std::min<nanoseconds>(kMaxCheckerSleep, core.options.heartbeat_floor / 4);
    SteadyTime wake_at = now + sleep;
    std::vector<std::pair<std::string, std::string>> failures;  // check, output
    std::vector<std::pair<std::string, bool>> lines;            // text, worse
    for (const auto& ep : core.entries) {
      Entry& e = *ep;
      if (!e.running && now >= e.next_due) {
        e.running = true;
        e.go = true;
        e.timed_out = false;
        e.started = now;
        e.next_due = now + e.spec.interval;
        e.wake.notify_one();
      } else if (e.running && !e.timed_out && now >= e.started + e.spec.timeout) {
        e.timed_out = true;
        auto line = record(e, failed(fmt::format("timed out after {}ms", e.spec.timeout.count())),
                           now, now - e.started);
        if (line) lines.emplace_back(std::move(*line), true);
      } else if (e.running && e.timed_out && now >= e.next_due) {
        // Still stuck a whole interval later: refresh the failure (so it is not called
        // stale) but do not start a second copy of the check beside the stuck one.
        e.next_due = now + e.spec.interval;
        record(e,
               failed(fmt::format("timed out after {}ms; still running after {}",
                                  e.spec.timeout.count(), format_duration(now - e.started))),
               now, now - e.started);
      }
      wake_at = std::min(wake_at, e.next_due);
      if (e.running && !e.timed_out) wake_at = std::min(wake_at, e.started + e.spec.timeout);
      if (e.spec.critical && e.failing_since && !e.failure_reported) {
        auto fire_at = *e.failing_since + e.spec.grace;
        if (now >= fire_at) {
          e.failure_reported = true;
          failures.emplace_back(e.spec.name, e.last ? e.last->observation.output : std::string());
        } else {
          wake_at = std::min(wake_at, fire_at);
        }
      }
    }
    if (!failures.empty() || !lines.empty()) {
      auto callback = core.on_critical_failure;
      lock.unlock();
      for (const auto& [text, worse] : lines) log_transition(text, worse);
      for (const auto& [check, output] : failures) {
        spdlog::error("health check {} (critical) has failed past its grace period: {}", check,
                      output);
        if (callback) callback(check, output);
      }
      lock.lock();
      continue;  // time has passed: look again before sleeping
    }
    core.heartbeat = std::chrono::steady_clock::now();
    core.cv.wait_until(lock, wake_at,
                       [&] { return core.kicked || core.state != CheckerState::kRunning; });
    core.kicked = false;
  }
}

Report Registry::ready() const { return render(take_snapshot(*core_), View::kReady); }
Report Registry::live() const { return render(take_snapshot(*core_), View::kLive); }
Report Registry::summary() const { return render(take_snapshot(*core_), View::kSummary); }
Report Registry::checks() const { return render(take_snapshot(*core_), View::kChecks); }

int Registry::http_status(Status status) { return status == Status::kFail ? 503 : 200; }

void Registry::visit(const std::function<void(const CheckSpec&, Status, nanoseconds)>& fn) const {
  struct Item {
    std::shared_ptr<Entry> entry;
    Status status;
    nanoseconds latency;
  };
  std::vector<Item> items;
  {
    std::lock_guard lock(core_->mu);
    auto now = std::chrono::steady_clock::now();
    for (const auto& e : core_->entries) {
      std::optional<WallTime> time;
      items.push_back({e, effective(*e, now, &time).status, e->latency});
    }
  }
  for (const auto& item : items) fn(item.entry->spec, item.status, item.latency);
}

std::string Registry::dump() const {
  Snapshot snap = take_snapshot(*core_);
  Status overall = combine(snap.rows, false);
  std::string out = fmt::format("health: {} (phase {}, {})", status_name(overall), snap.phase,
                                snap.phase_ready ? "ready" : "not ready");
  auto now = std::chrono::system_clock::now();
  for (const Row& row : snap.rows) {
    if (row.name == kPhaseCheck) continue;
    out += fmt::format("\n  {}{}{} {}", row.name, row.component_id.empty() ? "" : "/",
                       row.component_id, status_name(row.observation.status));
    if (row.critical) out += " critical";
    if (row.latency) out += fmt::format(" took {}", format_duration(*row.latency));
    if (row.time) out += fmt::format(" age {}", format_duration(now - *row.time));
    if (!row.observation.observed_value.is_null()) {
      out += fmt::format(
          " value {}{}", row.observation.observed_value.dump(),
          row.observation.observed_unit.empty() ? "" : " " + row.observation.observed_unit);
    }
    if (!row.observation.output.empty()) out += ": " + row.observation.output;
  }
  return out;
}

}  // namespace bzzz::health
