// base/async: several coroutines at once, with a limit, awaited together.
//
// run_parallel(tasks, limit) runs the tasks, at most `limit` at a time, on a strand of
// the caller's executor, and returns when every one has ended. A task's exception is
// swallowed (tasks report through what they capture). Header-only; Boost.Asio alone.
#pragma once

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace bzzz {

using Task = std::function<boost::asio::awaitable<void>()>;

inline boost::asio::awaitable<void> run_parallel(std::vector<Task> tasks, size_t limit) {
  namespace asio = boost::asio;
  if (tasks.empty()) co_return;
  struct State {
    explicit State(asio::strand<asio::any_io_executor> s)
        : strand(s), done(strand, std::chrono::steady_clock::time_point::max()) {}
    asio::strand<asio::any_io_executor> strand;
    asio::steady_timer done;  // cancelled when the last runner ends
    std::vector<Task> tasks;
    size_t next = 0;          // the next task to start (touched on the strand only)
    size_t running = 0;
  };
  auto state = std::make_shared<State>(asio::make_strand(co_await asio::this_coro::executor));
  state->tasks = std::move(tasks);
  // Runners take the next task until none is left.
  auto runner = [](std::shared_ptr<State> s) -> asio::awaitable<void> {
    while (s->next < s->tasks.size()) {
      auto task = std::move(s->tasks[s->next++]);
      try {
        co_await task();
      } catch (...) {
      }
    }
  };
  auto all = [runner](std::shared_ptr<State> s, size_t n) -> asio::awaitable<void> {
    s->running = n;
    for (size_t i = 0; i < n; ++i) {
      asio::co_spawn(s->strand, runner(s), [s](std::exception_ptr) {
        if (--s->running == 0) s->done.cancel();
      });
    }
    auto [ec] = co_await s->done.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;
  };
  size_t n = std::max<size_t>(1, std::min(limit, state->tasks.size()));
  co_await asio::co_spawn(state->strand, all(state, n), asio::use_awaitable);
}

}  // namespace bzzz
