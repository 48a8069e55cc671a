// base/async: running blocking work (disk, the store) off the I/O threads.
//
// A coroutine on an I/O thread awaits run_blocking(pool, fn): fn runs on the worker
// pool and the coroutine resumes on its own executor with fn's result. The coroutine
// frame outlives fn, so fn may refer to the caller's locals.
// Header-only; depends on Boost.Asio alone.
#pragma once

#include <optional>
#include <type_traits>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace bzzz {

template <class F>
boost::asio::awaitable<std::invoke_result_t<F>> run_blocking(boost::asio::thread_pool& pool, F fn) {
  using R = std::invoke_result_t<F>;
  namespace asio = boost::asio;
  // Handlers take std::optional<R> so R need not be default-constructible.
  auto result = co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::optional<R>)>(
      [&pool](auto handler, F f) {
        auto work = asio::make_work_guard(asio::get_associated_executor(handler));
        asio::post(pool, [handler = std::move(handler), f = std::move(f),
                          work = std::move(work)]() mutable {
          std::optional<R> r(f());
          auto ex = asio::get_associated_executor(handler);
          asio::dispatch(ex, [handler = std::move(handler), r = std::move(r)]() mutable {
            std::move(handler)(std::move(r));
          });
        });
      },
      asio::use_awaitable, std::move(fn));
  co_return std::move(*result);
}

}  // namespace bzzz
