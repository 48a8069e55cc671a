#include "node/lifecycle.h"

#include <algorithm>
#include <future>
#include <thread>

#include <fmt/format.h>

namespace bzzz::node {

Lifecycle::Lifecycle(Log log) : log_(std::move(log)) {}

void Lifecycle::say(const std::string& line) {
  if (log_) log_(line);
}

void Lifecycle::add(std::shared_ptr<Component> component, int start_order, int shutdown_priority,
                    std::chrono::milliseconds timeout) {
  std::lock_guard lock(mu_);
  auto e = std::make_unique<Entry>();
  e->component = std::move(component);
  e->start_order = start_order;
  e->shutdown_priority = shutdown_priority;
  e->timeout = timeout;
  e->added = entries_.size();
  entries_.push_back(std::move(e));
}

Status Lifecycle::start() {
  std::vector<Entry*> order;
  for (auto& e : entries_) order.push_back(e.get());
  std::stable_sort(order.begin(), order.end(),
                   [](Entry* a, Entry* b) { return a->start_order < b->start_order; });
  for (Entry* e : order) {
    say(fmt::format("starting {}", e->component->name()));
    auto status = e->component->start();
    std::lock_guard lock(mu_);
    if (!status) {
      e->state = "failed";
      return fail(status.error().wrap(fmt::format("cannot start {}", e->component->name())));
    }
    e->state = "running";
  }
  started_ = true;
  return ok();
}

std::vector<Lifecycle::Entry*> Lifecycle::shutdown_order() {
  std::vector<Entry*> order;
  for (auto& e : entries_) {
    if (e->state == "running") order.push_back(e.get());
  }
  std::stable_sort(order.begin(), order.end(), [](Entry* a, Entry* b) {
    if (a->shutdown_priority != b->shutdown_priority) return a->shutdown_priority < b->shutdown_priority;
    if (a->start_order != b->start_order) return a->start_order > b->start_order;
    return a->added > b->added;
  });
  return order;
}

bool Lifecycle::bounded(Entry& e, const char* step, const std::function<Status()>& fn) {
  auto done = std::make_shared<std::promise<Status>>();
  auto result = done->get_future();
  // Detached if it overruns: the component is kept alive by the shared_ptr it holds.
  std::thread([done, fn, keep = e.component] { done->set_value(fn()); }).detach();
  if (result.wait_for(e.timeout) != std::future_status::ready) {
    say(fmt::format("{}: {} did not finish within {} ms; abandoned", e.component->name(), step,
                    e.timeout.count()));
    std::lock_guard lock(mu_);
    e.state = "abandoned";
    return false;
  }
  auto status = result.get();
  if (!status) {
    say(fmt::format("{}: {} failed: {}", e.component->name(), step, status.error().message()));
    return false;
  }
  return true;
}

bool Lifecycle::shutdown(const ShutdownOptions& options, const std::atomic<bool>& force) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + options.deadline;
  auto order = shutdown_order();
  bool clean = true;

  say("shutdown phase 0: draining (not ready)");
  for (Entry* e : order) e->component->drain();

  if (options.drain_delay.count() > 0) {
    say(fmt::format("shutdown phase 1: drain delay {} ms", options.drain_delay.count()));
    auto until = std::min(deadline, Clock::now() + options.drain_delay);
    while (Clock::now() < until && !force) std::this_thread::sleep_for(options.poll);
  }

  say("shutdown phase 2: stop accepting");
  for (Entry* e : order) e->component->stop_accepting();

  say("shutdown phase 3: waiting for work in flight");
  for (;;) {
    std::vector<std::string> busy;
    for (Entry* e : order) {
      if (!e->component->idle()) busy.push_back(e->component->name());
    }
    if (busy.empty()) break;
    if (Clock::now() >= deadline || force) {
      std::string names;
      for (const auto& n : busy) names += (names.empty() ? "" : ", ") + n;
      say(fmt::format("deadline reached with work in flight in {}; closing it", names));
      for (Entry* e : order) e->component->force_close();
      clean = false;
      break;
    }
    std::this_thread::sleep_for(options.poll);
  }

  say("shutdown phase 4: persist");
  for (Entry* e : order) {
    if (!bounded(*e, "persist", [c = e->component] { return c->persist(); })) clean = false;
  }
  say("shutdown phase 5: close");
  for (Entry* e : order) {
    {
      std::lock_guard lock(mu_);
      if (e->state == "abandoned") continue;  // its persist step is still running
    }
    bool closed = bounded(*e, "close", [c = e->component] {
      c->close();
      return ok();
    });
    if (!closed) clean = false;
    std::lock_guard lock(mu_);
    if (e->state != "abandoned") e->state = "stopped";
  }
  say(clean ? "shutdown complete" : "shutdown finished with steps abandoned or failed");
  return clean;
}

std::vector<Lifecycle::State> Lifecycle::states() const {
  std::lock_guard lock(mu_);
  std::vector<State> out;
  for (const auto& e : entries_) out.push_back({e->component->name(), e->state, e->component->describe()});
  return out;
}

}  // namespace bzzz::node
