#include "content/exchange/wire.h"

#include <cstring>

#include <fmt/format.h>

#include "p2p/proto/blob.pb.h"

namespace bzzz::exchange {

namespace pb = p2p::pb;

namespace {

constexpr uint64_t kChunkBytes = 1024;
constexpr uint64_t kPieceChunks = kPieceBytes / kChunkBytes;

Error bad(std::string message) { return Error(ErrorCode::kInvalidArgument, "blob request: " + std::move(message)); }
Error broken(std::string message) { return Error(ErrorCode::kProtocol, "blob response: " + std::move(message)); }

std::string to_string(const Hash& h) { return std::string(reinterpret_cast<const char*>(h.data()), kHashSize); }

Result<Hash> hash_from(const std::string& bytes, std::string_view field) {
  if (bytes.size() != kHashSize) {
    return fail(bad(fmt::format("{} is {} bytes, not a 32-byte BLAKE3 hash", field, bytes.size())));
  }
  return Hash(std::span<const uint8_t, kHashSize>(reinterpret_cast<const uint8_t*>(bytes.data()), kHashSize));
}

template <class Repeated>
Result<std::vector<Hash>> hashes_from(const Repeated& list) {
  if (static_cast<size_t>(list.size()) > kMaxHashesPerRequest) {
    return fail(bad(fmt::format("{} hashes in one request (at most {})", list.size(), kMaxHashesPerRequest)));
  }
  std::vector<Hash> out;
  out.reserve(static_cast<size_t>(list.size()));
  for (int i = 0; i < list.size(); ++i) {
    BZZZ_ASSIGN_OR_RETURN(Hash h, hash_from(list.Get(i), fmt::format("hash #{}", i)));
    out.push_back(h);
  }
  return out;
}

}  // namespace

uint64_t full_pieces(uint64_t size) {
  uint64_t chunks = size == 0 ? 1 : (size + kChunkBytes - 1) / kChunkBytes;
  return (chunks - 1) / kPieceChunks;
}

bool range_inside(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

std::string_view code_name(Code c) {
  switch (c) {
    case Code::kOk: return "ok";
    case Code::kNotFound: return "not_found";
    case Code::kBadRequest: return "bad_request";
    case Code::kBusy: return "busy";
    case Code::kFull: return "full";
    case Code::kError: return "error";
  }
  return "unknown";
}

std::vector<uint8_t> encode_request(const Request& request) {
  pb::BlobRequest m;
  if (const auto* have = std::get_if<HaveRequest>(&request)) {
    m.set_type(pb::BlobRequest::HAVE);
    for (const auto& h : have->hashes) m.add_hashes(to_string(h));
  } else if (const auto* get = std::get_if<GetRequest>(&request)) {
    m.set_type(pb::BlobRequest::GET);
    m.set_hash(to_string(get->hash));
    m.set_offset(get->offset);
    m.set_length(get->length);
    m.set_want_tree(get->want_tree);
  } else {
    const auto& store = std::get<StoreRequest>(request);
    m.set_type(pb::BlobRequest::STORE);
    for (const auto& h : store.hashes) m.add_hashes(to_string(h));
    for (uint64_t s : store.sizes) m.add_sizes(s);
    m.set_wait(store.wait);
    m.set_pin(store.pin);
  }
  std::string out = m.SerializeAsString();
  return {out.begin(), out.end()};
}

Result<Request> decode_request(std::span<const uint8_t> bytes) {
  if (bytes.size() > kMaxRequestBytes) {
    return fail(bad(fmt::format("{} bytes (at most {})", bytes.size(), kMaxRequestBytes)));
  }
  pb::BlobRequest m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return fail(bad("not a BlobRequest protobuf"));
  switch (m.type()) {
    case pb::BlobRequest::HAVE: {
      BZZZ_ASSIGN_OR_RETURN(auto hashes, hashes_from(m.hashes()));
      return Request(HaveRequest{std::move(hashes)});
    }
    case pb::BlobRequest::GET: {
      BZZZ_ASSIGN_OR_RETURN(Hash h, hash_from(m.hash(), "hash"));
      if (m.length() > kMaxBlobBytes || m.offset() > kMaxBlobBytes) {
        return fail(bad(fmt::format("range {}+{} is beyond the largest blob ({} bytes)", m.offset(), m.length(),
                                    kMaxBlobBytes)));
      }
      return Request(GetRequest{h, m.offset(), m.length(), m.want_tree()});
    }
    case pb::BlobRequest::STORE: {
      BZZZ_ASSIGN_OR_RETURN(auto hashes, hashes_from(m.hashes()));
      if (m.sizes_size() != m.hashes_size()) {
        return fail(bad(fmt::format("STORE with {} hashes but {} sizes", m.hashes_size(), m.sizes_size())));
      }
      std::vector<uint64_t> sizes(m.sizes().begin(), m.sizes().end());
      for (size_t i = 0; i < sizes.size(); ++i) {
        if (sizes[i] > kMaxBlobBytes) return fail(bad(fmt::format("STORE size #{} is {} bytes (at most {})", i, sizes[i], kMaxBlobBytes)));
      }
      return Request(StoreRequest{std::move(hashes), std::move(sizes), m.wait(), m.pin()});
    }
    default:
      return fail(bad(fmt::format("unknown request type {}", static_cast<int>(m.type()))));
  }
}

std::vector<uint8_t> encode_response(const Response& r) {
  pb::BlobResponse m;
  m.set_status(static_cast<pb::BlobResponse::Status>(r.code));
  m.set_message(r.message);
  for (uint64_t h : r.have) m.add_have(h);
  for (bool p : r.pinned) m.add_pinned(p);
  m.set_full(r.full);
  m.set_size(r.size);
  if (r.tree) {
    std::string cvs;
    cvs.reserve(r.tree->cvs.size() * 32);
    for (const auto& cv : r.tree->cvs) cvs.append(reinterpret_cast<const char*>(cv.data()), cv.size());
    m.set_cvs(std::move(cvs));
    m.set_tail(std::string(r.tail.begin(), r.tail.end()));
  }
  m.set_offset(r.offset);
  m.set_length(r.length);
  for (bool s : r.stored) m.add_stored(s);
  std::string out = m.SerializeAsString();
  return {out.begin(), out.end()};
}

Result<Response> decode_response(std::span<const uint8_t> bytes, const Request& asked) {
  if (bytes.size() > kMaxResponseBytes) {
    return fail(broken(fmt::format("{} bytes (at most {})", bytes.size(), kMaxResponseBytes)));
  }
  pb::BlobResponse m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return fail(broken("not a BlobResponse protobuf"));
  if (m.status() < pb::BlobResponse::OK || m.status() > pb::BlobResponse::ERROR) {
    return fail(broken(fmt::format("unknown status {}", static_cast<int>(m.status()))));
  }
  Response r;
  r.code = static_cast<Code>(m.status());
  r.message = m.message();
  if (r.code != Code::kOk) return r;  // nothing else is meaningful

  if (const auto* have = std::get_if<HaveRequest>(&asked)) {
    if (static_cast<size_t>(m.have_size()) != have->hashes.size()) {
      return fail(broken(fmt::format("HAVE answered {} entries for {} hashes", m.have_size(), have->hashes.size())));
    }
    r.have.assign(m.have().begin(), m.have().end());
    if (m.pinned_size() != 0 && m.pinned_size() != m.have_size()) {
      return fail(broken(fmt::format("HAVE answered {} pinned flags for {} hashes", m.pinned_size(), m.have_size())));
    }
    r.pinned.assign(m.pinned().begin(), m.pinned().end());
    r.full = m.full();
    return r;
  }
  if (const auto* store = std::get_if<StoreRequest>(&asked)) {
    if (static_cast<size_t>(m.stored_size()) != store->hashes.size()) {
      return fail(broken(fmt::format("STORE answered {} entries for {} hashes", m.stored_size(), store->hashes.size())));
    }
    r.stored.assign(m.stored().begin(), m.stored().end());
    return r;
  }
  const auto& get = std::get<GetRequest>(asked);
  r.size = m.size();
  r.offset = m.offset();
  r.length = m.length();
  if (r.size > kMaxBlobBytes) return fail(broken(fmt::format("a blob of {} bytes (at most {})", r.size, kMaxBlobBytes)));
  if (!range_inside(r.offset, r.length, r.size)) {
    return fail(broken(fmt::format("range {}+{} is outside the blob's {} bytes", r.offset, r.length, r.size)));
  }
  if (r.length > 0 && (r.offset != get.offset || r.length > get.length)) {
    return fail(broken(fmt::format("range {}+{} is not within the {}+{} asked", r.offset, r.length, get.offset,
                                   get.length)));
  }
  if (get.want_tree) {
    uint64_t pieces = full_pieces(r.size);
    if (m.cvs().size() != pieces * 32) {
      return fail(broken(fmt::format("{} bytes of chaining values for a blob of {} bytes ({} pieces)", m.cvs().size(),
                                     r.size, pieces)));
    }
    uint64_t tail_len = r.size - pieces * kPieceBytes;
    if (m.tail().size() != tail_len) {
      return fail(broken(fmt::format("a tail of {} bytes for a blob of {} bytes (expected {})", m.tail().size(),
                                     r.size, tail_len)));
    }
    PieceTree tree;
    tree.size = r.size;
    tree.cvs.resize(pieces);
    for (uint64_t i = 0; i < pieces; ++i) std::memcpy(tree.cvs[i].data(), m.cvs().data() + i * 32, 32);
    r.tree = std::move(tree);
    r.tail.assign(m.tail().begin(), m.tail().end());
  }
  return r;
}

}  // namespace bzzz::exchange
