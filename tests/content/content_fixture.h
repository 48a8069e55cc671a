// tests/content: the parts the exchange, routing and replication tests build their
// nodes from: a store on raw files (so tests can reach and damage a blob's file) and
// exchange options with short timeouts.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>

#include <gtest/gtest.h>

#include "content/exchange/exchange.h"
#include "content/store/store.h"

namespace bzzz::testing {

inline store::StoreOptions raw_store_options() {
  store::StoreOptions o;
  o.codec = store::Codec::kRaw;
  o.threads = 1;
  return o;
}

inline std::unique_ptr<store::Store> open_store(const std::filesystem::path& dir,
                                                store::StoreOptions options = raw_store_options()) {
  auto st = store::Store::open(dir.string(), options);
  EXPECT_TRUE(st) << st.error().message();
  return st ? std::move(*st) : nullptr;
}

inline exchange::ExchangeOptions quick_exchange_options() {
  exchange::ExchangeOptions o;
  o.request_timeout = std::chrono::seconds(3);
  o.stall_timeout = std::chrono::seconds(1);
  return o;
}

}  // namespace bzzz::testing
