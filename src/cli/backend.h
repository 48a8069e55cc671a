// cli: what the store commands need from "a store", whether it is a data dir opened in
// this process (LocalBackend) or, once the node daemon has an API, a running node
// reached over HTTP. Commands are written against this interface only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "content/store/store.h"

namespace bzzz::cli {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Result<store::PutResult> put(store::ByteSource& source) = 0;
  virtual Status get(const Hash& hash, store::ByteSink& sink) = 0;
  virtual Result<store::BlobMeta> stat(const Hash& hash) = 0;
  virtual Status list(const std::function<bool(const Hash&, const store::BlobMeta&)>& fn) = 0;
  virtual Result<uint32_t> pin(const Hash& hash) = 0;
  virtual Result<uint32_t> unpin(const Hash& hash) = 0;
  virtual Result<std::vector<store::PinEntry>> pins() = 0;
  virtual Result<store::GcReport> gc(const store::GcOptions& options) = 0;
  virtual Result<store::VerifyReport> verify() = 0;
  virtual Result<store::Stats> stats() = 0;
  virtual Result<store::OptimizeReport> optimize() = 0;
  virtual Status rebuild_index() = 0;
};

// A store opened directly on a data dir.
Result<std::unique_ptr<Backend>> open_local(const std::string& data_dir,
                                            const store::StoreOptions& options);

}  // namespace bzzz::cli
