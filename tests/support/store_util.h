// tests: opening a store for a test, and damaging its files on purpose.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "content/store/store.h"

namespace bzzz::testing {

inline std::unique_ptr<store::Store> open_store(const std::string& dir,
                                                store::StoreOptions options = {}) {
  auto opened = store::Store::open(dir, options);
  EXPECT_TRUE(opened) << opened.error().message();
  return opened ? std::move(*opened) : nullptr;
}

// Keeps whatever a read delivers.
class CollectSink final : public store::ByteSink {
 public:
  Status write(std::span<const uint8_t> d) override {
    data.insert(data.end(), d.begin(), d.end());
    return ok();
  }
  std::vector<uint8_t> data;
};

inline store::GcOptions no_grace() {
  store::GcOptions o;
  o.grace = std::chrono::nanoseconds(0);
  return o;
}

// Flips the lowest bit of the byte at `offset`, as a bad disk sector would.
inline void flip_byte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x01);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

}  // namespace bzzz::testing
