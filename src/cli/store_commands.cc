#include "cli/store_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "base/crypto/blake3.h"
#include "base/fs/file.h"
#include "cli/backend.h"
#include "cli/peer_commands.h"
#include "cli/remote_backend.h"
#include "cli/replication_commands.h"
#include "services/api/json.h"

namespace bzzz::cli {

namespace {

// --- LocalBackend: a data dir opened in this process --------------------------------

class LocalBackend final : public Backend {
 public:
  explicit LocalBackend(std::unique_ptr<store::Store> store) : store_(std::move(store)) {}
  Result<store::PutResult> put(store::ByteSource& s) override { return store_->put(s); }
  Status get(const Hash& h, store::ByteSink& sink) override { return store_->read_to(h, sink); }
  Result<store::BlobMeta> stat(const Hash& h) override { return store_->stat(h); }
  Status list(const std::function<bool(const Hash&, const store::BlobMeta&)>& fn) override {
    return store_->list(fn);
  }
  Result<uint32_t> pin(const Hash& h) override { return store_->pin(h); }
  Result<uint32_t> unpin(const Hash& h) override { return store_->unpin(h); }
  Result<std::vector<store::PinEntry>> pins() override { return store_->pins(); }
  Result<store::GcReport> gc(const store::GcOptions& o) override { return store_->gc(o); }
  Result<store::VerifyReport> verify() override { return store_->verify(); }
  Result<store::Stats> stats() override { return store_->stats(); }
  Result<store::OptimizeReport> optimize() override { return store_->optimize(); }
  Status rebuild_index() override { return store_->rebuild_index(); }

 private:
  std::unique_ptr<store::Store> store_;
};

bool same_dir(const std::string& a, const std::string& b) {
  std::error_code ec1, ec2;
  auto ca = std::filesystem::weakly_canonical(a, ec1), cb = std::filesystem::weakly_canonical(b, ec2);
  return !ec1 && !ec2 && ca == cb;
}

// A running node on the configured address serves the commands (it owns the data dir
// while it runs); without one, or with --offline, the data dir is opened here. A data
// dir named explicitly that is not the node's is opened here too. `get` asks a running
// node even with --offline (the node holds the data dir's lock), for its own copy only:
// --offline refuses the mesh, and a node fetches what it lacks from it.
// `via_node` (if given) says which it was; `put_query` goes on a node's puts.
Result<std::unique_ptr<Backend>> connect(const GlobalOptions& g, bool node_when_offline = false,
                                         bool* via_node = nullptr, const std::string& put_query = "") {
  if (via_node) *via_node = false;
  if (!g.offline || node_when_offline) {
    RemoteOptions remote;
    remote.url = g.api_url;
    remote.token = g.api_token;
    remote.connect_timeout = std::chrono::milliseconds(1000);
    remote.local_only = g.offline;
    remote.put_query = put_query;
    auto status = node_status(remote);
    if (status) {
      std::string node_dir = status->value("data_dir", "");
      if (!g.data_explicit || same_dir(node_dir, g.data_dir)) {
        if (via_node) *via_node = true;
        return connect_remote(remote);
      }
    } else if (status.error().code() != ErrorCode::kUnavailable && !g.offline) {
      // (With --offline, whatever answers there is no reason not to use the data dir.)
      return fail(status.error().wrap(fmt::format("node at {}", g.api_url)));
    }
  }
  return open_local(g.data_dir, g.settings->store);
}

// Parses a hash argument; a malformed one is a usage error (exit 2).
struct ParsedHash {
  std::optional<Hash> hash;
  int exit_code = kExitOk;
};
ParsedHash parse_hash_arg(const std::string& text, const Output& out) {
  auto h = Hash::parse(text);
  if (!h) return {std::nullopt, out.error(h.error(), kExitUsage)};
  return {*h, kExitOk};
}

using api::meta_json;

// Parses "90s", "15m", "1h", "2d", "0" into nanoseconds.
Result<std::chrono::nanoseconds> parse_duration(const std::string& text) {
  size_t idx = 0;
  double value = 0;
  try {
    value = std::stod(text, &idx);
  } catch (const std::exception&) {
    idx = 0;
  }
  std::string unit = text.substr(idx);
  double scale = 0;
  if (unit == "ms") scale = 1e6;
  else if (unit == "s" || (unit.empty() && value == 0)) scale = 1e9;
  else if (unit == "m") scale = 60e9;
  else if (unit == "h") scale = 3600e9;
  else if (unit == "d") scale = 86400e9;
  if (idx == 0 || scale == 0 || value < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("bad duration '{}': use a number with ms, s, m, h or d (e.g. 30m)", text));
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(value * scale));
}

// --- commands --------------------------------------------------------------------------

// --pin pins the blob (through a node: a replica, pushed to the nodes responsible for
// it); --replicas N also waits for N durable copies, which needs a running node.
int run_put(const GlobalOptions& g, const Output& out, const std::string& path, bool pin, size_t replicas) {
  int fd = STDIN_FILENO;
  fs::File file;
  if (path != "-") {
    auto opened = fs::File::open_read(path);
    if (!opened) return out.error(opened.error());
    file = std::move(*opened);
    fd = file.fd();
  }
  std::string query = replicas > 0 ? fmt::format("?replicas={}", replicas) : pin ? "?pin=1" : "";
  bool via_node = false;
  auto backend = connect(g, false, &via_node, query);
  if (!backend) return out.error(backend.error());
  if (replicas > 0 && !via_node) {
    return out.error(Error(ErrorCode::kUnavailable,
                           fmt::format("put --replicas needs a running node (none answers at {}{})", g.api_url,
                                       g.offline ? ", and --offline was given" : "")));
  }
  store::FdSource source(fd, path == "-" ? "standard input" : path);
  auto put = (*backend)->put(source);
  if (!put) return out.error(put.error().wrap(fmt::format("put {}", path)));
  auto doc = api::put_json(*put);
  if (pin && !via_node) {
    auto pins = (*backend)->pin(put->hash);  // no node: a local pin, replicated once a node runs
    if (!pins) return out.error(pins.error());
    doc["pins"] = *pins;
  }
  out.text(put->hash.hex());
  out.document(doc);
  return kExitOk;
}

int run_get(const GlobalOptions& g, const Output& out, const std::string& hash_text,
            const std::string& output) {
  auto parsed = parse_hash_arg(hash_text, out);
  if (!parsed.hash) return parsed.exit_code;
  auto backend = connect(g, true);
  if (!backend) return out.error(backend.error());
  if (output.empty() || output == "-") {
    if (out.json()) {
      return out.error(Error(ErrorCode::kInvalidArgument, "get --json needs -o FILE: stdout carries the JSON"),
                       kExitUsage);
    }
    store::FdSink sink(STDOUT_FILENO, "standard output");
    auto status = (*backend)->get(*parsed.hash, sink);
    if (!status) return out.error(status.error());
    return kExitOk;
  }
  // Written beside the target and renamed, so a failed get never leaves a partial file.
  std::string temp = fmt::format("{}.bzzz-partial-{}", output, ::getpid());
  auto file = fs::File::open(temp, O_WRONLY | O_CREAT | O_TRUNC);
  if (!file) return out.error(file.error());
  store::FdSink sink(file->fd(), output);
  auto status = (*backend)->get(*parsed.hash, sink);
  if (status) status = file->close();
  if (status) status = fs::rename(temp, output);
  if (!status) {
    (void)fs::remove_file(temp);
    return out.error(status.error());
  }
  auto meta = (*backend)->stat(*parsed.hash);
  if (meta) out.document(meta_json(*parsed.hash, *meta));
  return kExitOk;
}

// Through the running node only: its store, its peers.
int run_fetch(const GlobalOptions& g, const Output& out, const std::string& hash_text, bool pin) {
  auto parsed = parse_hash_arg(hash_text, out);
  if (!parsed.hash) return parsed.exit_code;
  auto remote = node_remote(g);
  remote.io_timeout = std::chrono::hours(1);  // the answer comes once the blob is durable here
  auto doc = node_call(remote, "POST", fmt::format("/v1/blobs/{}/fetch{}", parsed.hash->hex(), pin ? "?pin=1" : ""));
  if (!doc) return out.error(doc.error());
  out.document(*doc);
  uint64_t size = doc->value("size", uint64_t{0});
  if (!doc->value("fetched", false)) {
    out.text(fmt::format("{} is held here already ({}); nothing fetched; pins {}", doc->value("hash", ""),
                         human_bytes(size), doc->value("pins", 0)));
    return kExitOk;
  }
  const auto& served = (*doc)["served_by"];
  out.text(fmt::format("fetched {} ({}) in {:.2f} s from {} peer{}; pins {}", doc->value("hash", ""), human_bytes(size),
                       doc->value("seconds", 0.0), served.size(), served.size() == 1 ? "" : "s",
                       doc->value("pins", 0)));
  for (const auto& p : served) out.text(fmt::format("  served by {}", p.get<std::string>()));
  for (const auto& d : (*doc)["dropped"]) out.text(fmt::format("  dropped {}", d.get<std::string>()));
  return kExitOk;
}

int run_stat(const GlobalOptions& g, const Output& out, const std::string& hash_text) {
  auto parsed = parse_hash_arg(hash_text, out);
  if (!parsed.hash) return parsed.exit_code;
  bool via_node = false;
  auto backend = connect(g, false, &via_node);
  if (!backend) return out.error(backend.error());
  auto meta = (*backend)->stat(*parsed.hash);
  if (!meta) return out.error(meta.error());
  auto doc = meta_json(*parsed.hash, *meta);
  // Through a node: the replicas the live nodes hold (a node without replication: none).
  std::optional<nlohmann::json> replicas;
  if (via_node) {
    auto r = node_call(node_remote(g), "GET", "/v1/replication/blobs/" + parsed.hash->hex());
    if (r) {
      replicas = *r;
      doc["replication"] = *r;
    }
  }
  out.document(doc);
  out.text(fmt::format("hash:        {}\ncid:         {}\nsize:        {} ({})\nstored size: {}\n"
                       "codec:       {}\nlocation:    {}\npins:        {}\ncreated:     {}\n"
                       "accessed:    {}{}",
                       parsed.hash->hex(), parsed.hash->cid(), meta->size, human_bytes(meta->size),
                       meta->stored_size, store::codec_name(meta->codec),
                       meta->location == store::Location::kPack ? "pack" : "file", meta->pins,
                       api::iso_time(meta->created_ns), api::iso_time(meta->accessed_ns),
                       meta->corrupt ? "\ncorrupt:     yes (its stored bytes failed verification; "
                                       "putting the same content again repairs it)"
                                     : ""));
  if (replicas) {
    for (const auto& line : replicas_text(*replicas)) out.text(line);
  }
  return kExitOk;
}

int run_ls(const GlobalOptions& g, const Output& out) {
  auto backend = connect(g);
  if (!backend) return out.error(backend.error());
  nlohmann::json list = nlohmann::json::array();
  auto status = (*backend)->list([&](const Hash& h, const store::BlobMeta& m) {
    if (out.json()) {
      list.push_back(meta_json(h, m));
    } else {
      out.text(fmt::format("{}  {:>12}  {:<4}  {}", h.hex(), m.size, store::codec_name(m.codec),
                           m.pins > 0 ? fmt::format("pinned({})", m.pins) : ""));
    }
    return true;
  });
  if (!status) return out.error(status.error());
  out.document(list);
  return kExitOk;
}

int run_pin(const GlobalOptions& g, const Output& out, const std::string& verb,
            const std::vector<std::string>& hashes) {
  std::vector<Hash> parsed;
  for (const auto& text : hashes) {
    auto p = parse_hash_arg(text, out);
    if (!p.hash) return p.exit_code;
    parsed.push_back(*p.hash);
  }
  auto backend = connect(g);
  if (!backend) return out.error(backend.error());
  nlohmann::json doc = nlohmann::json::array();
  if (verb == "ls") {
    auto pins = (*backend)->pins();
    if (!pins) return out.error(pins.error());
    for (const auto& p : *pins) {
      out.text(fmt::format("{}  {}", p.hash.hex(), p.pins));
      doc.push_back({{"hash", p.hash.hex()}, {"pins", p.pins}});
    }
    out.document(doc);
    return kExitOk;
  }
  for (const Hash& h : parsed) {
    auto count = verb == "add" ? (*backend)->pin(h) : (*backend)->unpin(h);
    if (!count) return out.error(count.error());
    out.text(fmt::format("{}  {}", h.hex(), *count));
    doc.push_back({{"hash", h.hex()}, {"pins", *count}});
  }
  out.document(doc);
  return kExitOk;
}

int run_gc(const GlobalOptions& g, const Output& out, const std::string& grace, bool dry_run) {
  auto duration = parse_duration(grace);
  if (!duration) return out.error(duration.error(), kExitUsage);
  auto backend = connect(g);
  if (!backend) return out.error(backend.error());
  auto r = (*backend)->gc({*duration, dry_run});
  if (!r) return out.error(r.error());
  out.document(api::gc_json(*r, dry_run));
  out.text(fmt::format("{} {} of {} blobs ({}); kept {} pinned, {} recent, {} in use; "
                       "compacted {} packs ({} reclaimed)",
                       dry_run ? "would remove" : "removed", r->removed, r->examined,
                       human_bytes(r->removed_bytes), r->kept_pinned, r->kept_recent,
                       r->kept_in_use, r->packs_compacted, human_bytes(r->pack_bytes_reclaimed)));
  return kExitOk;
}

int run_verify(const GlobalOptions& g, const Output& out) {
  auto backend = connect(g);
  if (!backend) return out.error(backend.error());
  auto r = (*backend)->verify();
  if (!r) return out.error(r.error());
  out.document(api::verify_json(*r));
  for (const auto& p : r->bad) out.text(fmt::format("bad       {}  {}", p.object, p.reason));
  for (const auto& p : r->missing) out.text(fmt::format("missing   {}  {}", p.object, p.reason));
  for (const auto& p : r->orphaned) out.text(fmt::format("orphaned  {}  {}", p.object, p.reason));
  out.text(fmt::format("verified {} blobs ({}): {} ok, {} bad, {} missing, {} orphaned{}", r->checked,
                       human_bytes(r->bytes), r->ok, r->bad.size(), r->missing.size(),
                       r->orphaned.size(), r->clean() ? " — store is clean" : ""));
  return r->clean() ? kExitOk : kExitFailure;
}

int run_stats(const GlobalOptions& g, const Output& out) {
  auto backend = connect(g);
  if (!backend) return out.error(backend.error());
  auto s = (*backend)->stats();
  if (!s) return out.error(s.error());
  const auto& c = s->counters;
  out.document(api::stats_json(*s));
  out.text(fmt::format("blobs:             {} ({} in packs, {} files)\nlogical bytes:     {} ({})\n"
                       "stored bytes:      {} ({})\ncompression ratio: {:.3f}\n"
                       "codecs:            raw {}, zstd {}, gzip {}\npacks:             {} ({})\n"
                       "disk free:         {} of {}",
                       c.blobs, c.packed, c.files, c.logical_bytes, human_bytes(c.logical_bytes),
                       c.stored_bytes, human_bytes(c.stored_bytes), s->compression_ratio,
                       c.by_codec[0], c.by_codec[1], c.by_codec[2], s->packs, human_bytes(s->pack_bytes),
                       human_bytes(s->disk_free_bytes), human_bytes(s->disk_total_bytes)));
  return kExitOk;
}

int run_optimize(const GlobalOptions& g, const Output& out) {
  auto backend = connect(g);
  if (!backend) return out.error(backend.error());
  auto r = (*backend)->optimize();
  if (!r) return out.error(r.error());
  out.document(api::optimize_json(*r));
  out.text(fmt::format("examined {} blobs, rewrote {} ({} -> {})", r->examined, r->rewritten,
                       human_bytes(r->stored_before), human_bytes(r->stored_after)));
  return kExitOk;
}

int run_hash(const GlobalOptions& g, const Output& out, const std::vector<std::string>& paths) {
  nlohmann::json doc = nlohmann::json::array();
  for (const auto& path : paths) {
    auto h = blake3_file(path == "-" ? "/dev/stdin" : path, g.threads);
    if (!h) return out.error(h.error());
    // The same line b3sum prints, so the two can be compared directly: a name with a
    // backslash or newline is escaped, and the line then starts with a backslash.
    std::string name;
    for (char c : path) {
      if (c == '\\') name += "\\\\";
      else if (c == '\n') name += "\\n";
      else name += c;
    }
    out.text(fmt::format("{}{}  {}", name.size() != path.size() ? "\\" : "", h->hex(), name));
    doc.push_back({{"path", path}, {"hash", h->hex()}, {"cid", h->cid()}});
  }
  out.document(doc);
  return kExitOk;
}

int run_rebuild(const GlobalOptions& g, const Output& out) {
  auto backend = connect(g);
  if (!backend) return out.error(backend.error());
  auto status = (*backend)->rebuild_index();
  if (!status) return out.error(status.error());
  auto s = (*backend)->stats();
  if (!s) return out.error(s.error());
  out.text(fmt::format("index rebuilt: {} blobs", s->counters.blobs));
  out.document({{"blobs", s->counters.blobs}});
  return kExitOk;
}

}  // namespace

Result<std::unique_ptr<Backend>> open_local(const std::string& data_dir,
                                            const store::StoreOptions& options) {
  BZZZ_ASSIGN_OR_RETURN(auto store, store::Store::open(data_dir, options));
  return std::unique_ptr<Backend>(new LocalBackend(std::move(store)));
}


void add_store_commands(CLI::App& app, Action& action) {
  auto* put = app.add_subcommand("put", "Store a file (or - for standard input); prints its hash");
  auto put_path = std::make_shared<std::string>();
  put->add_option("FILE", *put_path, "file to store, or - for standard input")->required();
  auto put_pin = std::make_shared<bool>(false);
  auto put_replicas = std::make_shared<size_t>(0);
  put->add_flag("--pin", *put_pin, "pin it: a replica the node keeps on replication.factor nodes");
  put->add_option("--replicas", *put_replicas,
                  "pin it and return once N copies (this node's included) are durable (needs a running node)")
      ->check(CLI::Range(1, 16));
  put->callback([&action, put_path, put_pin, put_replicas] {
    action = [=](const GlobalOptions& g, const Output& o) { return run_put(g, o, *put_path, *put_pin, *put_replicas); };
  });

  auto* get = app.add_subcommand("get", "Write a blob's verified bytes to stdout or -o FILE (a running node fetches "
                                        "one it lacks from its peers; --offline: never)");
  auto get_hash = std::make_shared<std::string>();
  auto get_out = std::make_shared<std::string>();
  get->add_option("HASH", *get_hash, "hex BLAKE3 hash or CIDv1")->required();
  get->add_option("-o,--output", *get_out, "write to FILE (atomically) instead of stdout");
  get->callback([&action, get_hash, get_out] {
    action = [=](const GlobalOptions& g, const Output& o) { return run_get(g, o, *get_hash, *get_out); };
  });

  auto* fetch = app.add_subcommand("fetch", "Have the running node fetch a blob from its peers into its store");
  auto fetch_hash = std::make_shared<std::string>();
  auto fetch_pin = std::make_shared<bool>(false);
  fetch->add_option("HASH", *fetch_hash, "hex BLAKE3 hash or CIDv1")->required();
  fetch->add_flag("--pin", *fetch_pin, "pin it (held already: pinned, nothing fetched)");
  fetch->callback([&action, fetch_hash, fetch_pin] {
    action = [=](const GlobalOptions& g, const Output& o) { return run_fetch(g, o, *fetch_hash, *fetch_pin); };
  });

  auto* stat = app.add_subcommand("stat", "Show what the store knows about a blob");
  auto stat_hash = std::make_shared<std::string>();
  stat->add_option("HASH", *stat_hash, "hex BLAKE3 hash or CIDv1")->required();
  stat->callback([&action, stat_hash] {
    action = [=](const GlobalOptions& g, const Output& o) { return run_stat(g, o, *stat_hash); };
  });

  app.add_subcommand("ls", "List stored blobs")->callback([&action] { action = run_ls; });

  auto* pin = app.add_subcommand("pin", "Pin blobs so gc keeps them");
  pin->require_subcommand(1);
  for (const char* verb : {"add", "rm", "ls"}) {
    auto* sub = pin->add_subcommand(verb, verb == std::string("add")  ? "Pin blobs"
                                          : verb == std::string("rm") ? "Unpin blobs"
                                                                      : "List pinned blobs");
    auto hashes = std::make_shared<std::vector<std::string>>();
    if (std::string(verb) != "ls") sub->add_option("HASH", *hashes, "hashes")->required();
    std::string v = verb;
    sub->callback([&action, hashes, v] {
      action = [=](const GlobalOptions& g, const Output& o) { return run_pin(g, o, v, *hashes); };
    });
  }

  auto* gc = app.add_subcommand("gc", "Remove unpinned blobs unused for longer than the grace period");
  auto grace = std::make_shared<std::string>("1h");
  auto dry = std::make_shared<bool>(false);
  gc->add_option("--grace", *grace, "keep blobs used more recently than this (e.g. 30m, 1h, 0)")
      ->capture_default_str();
  gc->add_flag("--dry-run", *dry, "only report what would be removed");
  gc->callback([&action, grace, dry] {
    action = [=](const GlobalOptions& g, const Output& o) { return run_gc(g, o, *grace, *dry); };
  });

  app.add_subcommand("verify", "Check every blob against its hash; report bad, missing and orphaned data")
      ->callback([&action] { action = run_verify; });
  app.add_subcommand("stats", "Show store statistics")->callback([&action] { action = run_stats; });
  app.add_subcommand("optimize", "Recompress stored blobs with the current settings")
      ->callback([&action] { action = run_optimize; });

  auto* hash = app.add_subcommand("hash", "Print BLAKE3 hashes of files without storing them");
  auto hash_paths = std::make_shared<std::vector<std::string>>();
  hash->add_option("FILE", *hash_paths, "files, or - for standard input")->required();
  hash->callback([&action, hash_paths] {
    action = [=](const GlobalOptions& g, const Output& o) { return run_hash(g, o, *hash_paths); };
  });

  auto* index = app.add_subcommand("index", "Index maintenance");
  index->require_subcommand(1);
  index->add_subcommand("rebuild", "Rebuild the index from packs, blob files and the pins journal")
      ->callback([&action] { action = run_rebuild; });
}

}  // namespace bzzz::cli
