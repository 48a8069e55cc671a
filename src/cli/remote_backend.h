// cli: the Backend of a running node, reached over its HTTP API (/v1/...). The store
// commands run unchanged against it, so `bzzz put` works whether the data dir is free
// (LocalBackend) or held by a node.
//
// One keep-alive HTTP/1.1 connection (Boost.Beast, driven synchronously on a private
// io_context so every connect, read and write has a timeout), reopened when the node
// closed it. Bodies stream both ways in 1 MiB pieces: a put sends the source as a
// chunked body and a get hands pieces to the sink as they arrive, so neither holds a
// blob in memory. Nothing the node says is taken on trust: a get hashes what arrived
// and reports the last piece only once it matches the requested hash; a put hashes
// what it sent and checks the hash the node answers with. Error answers become Errors
// with the node's own message and a code from the HTTP status.
//
// Not thread-safe: one backend serves one command. Depends on services/api for the
// JSON documents (never on a node or a store being in this process).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/status/result.h"
#include "cli/backend.h"

namespace bzzz::cli {

struct RemoteOptions {
  // "http://127.0.0.1:8080", "127.0.0.1:8080", "[::1]:8080", "http://node:8080/prefix".
  std::string url;
  std::string token;  // sent as `Authorization: Bearer <token>` when not empty
  // A get asks for the node's own copy only (?local=1): a blob it does not hold is not
  // fetched from the mesh but answered 404.
  bool local_only = false;
  // Appended to a put's path: "?pin=1" or "?replicas=N" (the node pins and replicates).
  std::string put_query;
  std::chrono::milliseconds connect_timeout{2000};
  // A read or write that makes no progress for this long fails (kTimeout). gc, verify
  // and optimize may run for hours on a large store before answering, so their wait
  // for the answer is not bounded by it.
  std::chrono::milliseconds io_timeout{300000};
};

// Parses the URL and connects once, to check that something listens. kUnavailable
// ("no bzzz node answers at URL: ...") when the connection is refused or times out;
// kInvalidArgument for a URL that is not http://host[:port][/path] or host:port.
Result<std::unique_ptr<Backend>> connect_remote(const RemoteOptions& options);

// What a running node reports at GET /v1/status (at least "version" and "data_dir"):
// lets the CLI decide between a data dir of its own and the node that holds it.
Result<nlohmann::json> node_status(const RemoteOptions& options);

// One request to the node's API with an optional JSON body; the answer's JSON document.
// Errors as for the store calls (the node's message, a code from the HTTP status).
Result<nlohmann::json> node_call(const RemoteOptions& options, std::string_view method, std::string_view path,
                                 const nlohmann::json* body = nullptr);
// The same with a body of any type (`bzzz pub` sends the message as it is).
Result<nlohmann::json> node_send(const RemoteOptions& options, std::string_view method, std::string_view path,
                                 const std::string& body, std::string_view content_type);
// A GET whose body is open-ended (Server-Sent Events): each line goes to `on_line`
// until the node ends it or on_line returns false. A quiet stream may last as long as
// the node sends its keep-alive comments within io_timeout.
Status node_lines(const RemoteOptions& options, std::string_view path,
                  const std::function<bool(std::string_view)>& on_line);

// `prefix` + `name` with each of name's '/'-separated segments percent-encoded (all but
// unreserved characters), for names the API takes in its path (topics, DHT keys). A
// name with an empty segment (a leading, trailing or doubled '/') cannot be carried:
// kInvalidArgument, naming it as `what` ("topic \"a//b\" has an empty segment ...").
Result<std::string> api_path(std::string_view prefix, std::string_view name, std::string_view what);

}  // namespace bzzz::cli
