// node: the order in which a node's components start and stop.
//
// Components start in ascending start order; a failure stops those already started.
// Shutdown runs in phases, each over all components (ascending shutdown priority,
// and, within one priority, the reverse of the start order):
//   0 drain           stop being ready (load balancers move away); keep serving
//   1 drain delay     wait while traffic moves away
//   2 stop accepting  close listeners; new requests on open connections get 503
//   3 in flight       wait until every component is idle, up to the deadline; then
//                     force-close what is left
//   4 persist         make state durable (each bounded by the component's timeout)
//   5 close           release clients and threads (each bounded likewise)
// A blocking step that overruns its timeout is abandoned with a log line; shutdown
// goes on and reports that it was not clean. Knows nothing of what components do.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/status/result.h"

namespace bzzz::node {

class Component {
 public:
  virtual ~Component() = default;
  virtual std::string name() const = 0;
  virtual Status start() { return ok(); }
  virtual void drain() {}
  virtual void stop_accepting() {}
  virtual bool idle() const { return true; }
  virtual void force_close() {}
  virtual Status persist() { return ok(); }
  virtual void close() {}
  // One line on what it is doing, for SIGQUIT dumps and /v1/status.
  virtual std::string describe() const { return {}; }
};

struct ShutdownOptions {
  std::chrono::milliseconds drain_delay{0};
  std::chrono::milliseconds deadline{25000};  // phases 0-3; 4 and 5 have per-component timeouts
  std::chrono::milliseconds poll{20};         // how often phase 3 looks at idle()
};

class Lifecycle {
 public:
  // Logs each step; tests capture it.
  using Log = std::function<void(const std::string& line)>;
  explicit Lifecycle(Log log = {});

  void add(std::shared_ptr<Component> component, int start_order, int shutdown_priority,
           std::chrono::milliseconds timeout);
  Status start();
  // Returns true when every step finished in time and without error. `force` cuts the
  // waiting phases short (a second signal). Blocking: call it off the event loop.
  bool shutdown(const ShutdownOptions& options, const std::atomic<bool>& force);

  struct State {
    std::string name;
    std::string state;  // "new", "running", "failed", "stopped", "abandoned"
    std::string detail;
  };
  std::vector<State> states() const;

 private:
  struct Entry {
    std::shared_ptr<Component> component;
    int start_order;
    int shutdown_priority;
    std::chrono::milliseconds timeout;
    size_t added;
    std::string state = "new";
  };
  // Runs fn on its own thread, waiting at most `timeout`; false if abandoned or failed.
  bool bounded(Entry& e, const char* step, const std::function<Status()>& fn);
  std::vector<Entry*> shutdown_order();
  void say(const std::string& line);

  Log log_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
  bool started_ = false;
};

}  // namespace bzzz::node
