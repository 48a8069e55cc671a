#include "p2p/mdns/dns_message.h"

#include <map>

#include <fmt/format.h>

namespace bzzz::p2p::mdns::dns {

namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxNameWire = 255;  // RFC 1035 §2.3.4, counting length bytes and the root
constexpr size_t kMaxLabel = 63;
constexpr int kMaxPointerHops = 64;  // unreachable with backwards-only pointers; a second guard

tl::unexpected<Error> bad(std::string message) {
  return make_error(ErrorCode::kProtocol, "dns: " + std::move(message));
}

uint16_t get16(std::span<const uint8_t> b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
uint32_t get32(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint32_t>(b[at]) << 24 | static_cast<uint32_t>(b[at + 1]) << 16 |
         static_cast<uint32_t>(b[at + 2]) << 8 | b[at + 3];
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Reads the name at `pos` (bounded by `end` until the first pointer, which may go
// anywhere earlier in the message); `pos` ends after the name's bytes at its place.
// Pointers must point before the start of the run of labels they end: the starts only
// ever decrease, so no sequence of pointers can loop.
Result<std::string> read_name(std::span<const uint8_t> msg, size_t& pos, size_t end) {
  std::string out;
  const size_t start = pos;
  size_t cur = pos;
  size_t run_start = pos;
  size_t limit = end;
  size_t wire = 1;  // the root label
  bool jumped = false;
  int hops = 0;
  for (;;) {
    if (cur >= limit) return bad(fmt::format("name starting at offset {} runs past the end of its data ({})", start, limit));
    uint8_t len = msg[cur];
    if ((len & 0xC0) == 0xC0) {
      if (cur + 1 >= limit) return bad(fmt::format("compression pointer at offset {} is cut off", cur));
      size_t target = static_cast<size_t>(len & 0x3F) << 8 | msg[cur + 1];
      if (target >= run_start) {
        return bad(fmt::format("compression pointer at offset {} points to {}, not before its name's labels (at {})",
                               cur, target, run_start));
      }
      if (++hops > kMaxPointerHops) return bad(fmt::format("name at offset {} follows too many pointers", start));
      if (!jumped) {
        pos = cur + 2;
        jumped = true;
      }
      cur = run_start = target;
      limit = msg.size();
      continue;
    }
    if ((len & 0xC0) != 0) {
      return bad(fmt::format("label at offset {} has the unsupported type bits 0x{:02x}", cur, len & 0xC0));
    }
    if (len == 0) {
      if (!jumped) pos = cur + 1;
      return out;
    }
    if (cur + 1 + len > limit) {
      return bad(fmt::format("label at offset {} ({} bytes) runs past the end of its data ({})", cur, len, limit));
    }
    wire += 1 + len;
    if (wire > kMaxNameWire) return bad(fmt::format("name at offset {} is longer than 255 bytes", start));
    if (!out.empty()) out += '.';
    for (size_t i = cur + 1; i <= cur + len; ++i) {
      char c = static_cast<char>(msg[i]);
      if (c == '.' || c == '\\') out += '\\';
      out += c;
    }
    cur += 1 + len;
  }
}

const char* section_name(int section) {
  static const char* names[] = {"answer", "authority", "additional"};
  return names[section];
}

// Reads one resource record; `known` is false for a type this codec skips.
Result<Record> read_record(std::span<const uint8_t> msg, size_t& pos, bool& known, const std::string& where) {
  Record r;
  auto name = read_name(msg, pos, msg.size());
  if (!name) return fail(name.error().wrap(where));
  r.name = std::move(*name);
  if (pos + 10 > msg.size()) return bad(fmt::format("{} ({}): fixed fields cut off at offset {}", where, quoted(r.name), pos));
  r.type = static_cast<Type>(get16(msg, pos));
  uint16_t klass = get16(msg, pos + 2);
  r.klass = klass & 0x7FFF;
  r.cache_flush = (klass & 0x8000) != 0;
  r.ttl = get32(msg, pos + 4);
  size_t rdlen = get16(msg, pos + 8);
  pos += 10;
  size_t rd_end = pos + rdlen;
  if (rd_end > msg.size()) {
    return bad(fmt::format("{} ({}): data of {} bytes at offset {} runs past the end of the message ({} bytes)", where,
                           quoted(r.name), rdlen, pos, msg.size()));
  }
  auto data_error = [&](std::string_view what) {
    return bad(fmt::format("{} ({} {}): {}", where, quoted(r.name), type_name(r.type), what));
  };
  size_t p = pos;
  known = true;
  switch (r.type) {
    case Type::kA:
    case Type::kAaaa: {
      size_t want = r.type == Type::kA ? 4 : 16;
      if (rdlen != want) return data_error(fmt::format("address of {} bytes, expected {}", rdlen, want));
      r.address.assign(msg.begin() + static_cast<ptrdiff_t>(p), msg.begin() + static_cast<ptrdiff_t>(rd_end));
      p = rd_end;
      break;
    }
    case Type::kPtr: {
      auto target = read_name(msg, p, rd_end);
      if (!target) return fail(target.error().wrap(fmt::format("{} ({} PTR)", where, quoted(r.name))));
      r.ptr = std::move(*target);
      break;
    }
    case Type::kTxt:
      while (p < rd_end) {
        size_t len = msg[p];
        if (p + 1 + len > rd_end) {
          return data_error(fmt::format("string of {} bytes at offset {} runs past the record's data", len, p));
        }
        r.txt.emplace_back(reinterpret_cast<const char*>(msg.data() + p + 1), len);
        p += 1 + len;
      }
      break;
    case Type::kSrv: {
      if (rdlen < 7) return data_error(fmt::format("data of {} bytes, expected at least 7", rdlen));
      r.srv.priority = get16(msg, p);
      r.srv.weight = get16(msg, p + 2);
      r.srv.port = get16(msg, p + 4);
      p += 6;
      auto target = read_name(msg, p, rd_end);
      if (!target) return fail(target.error().wrap(fmt::format("{} ({} SRV)", where, quoted(r.name))));
      r.srv.target = std::move(*target);
      break;
    }
    default:
      known = false;
      p = rd_end;
      break;
  }
  if (p != rd_end) return data_error(fmt::format("{} bytes left over in its data", rd_end - p));
  pos = rd_end;
  return r;
}

// --- encoding ---------------------------------------------------------------------------

class Writer {
 public:
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) {
    out_.push_back(static_cast<uint8_t>(v >> 8));
    out_.push_back(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void bytes(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  void patch16(size_t at, uint16_t v) {
    out_[at] = static_cast<uint8_t>(v >> 8);
    out_[at + 1] = static_cast<uint8_t>(v);
  }
  size_t size() const { return out_.size(); }
  std::vector<uint8_t> take() { return std::move(out_); }

  // Writes `name`, ending with a pointer to a suffix written before when there is one.
  Status name(std::string_view text, bool compress) {
    std::vector<std::string> labels;
    BZZZ_TRY(split(text, labels));
    size_t wire = 1;
    for (const auto& l : labels) wire += 1 + l.size();
    if (wire > kMaxNameWire) {
      return make_error(ErrorCode::kInvalidArgument, fmt::format("dns: name {} is longer than 255 bytes", quoted(text)));
    }
    for (size_t i = 0; i < labels.size(); ++i) {
      std::string key;
      for (size_t j = i; j < labels.size(); ++j) {
        for (char c : labels[j]) key += lower(c);
        key += '\0';  // a separator no label text can fake
      }
      if (compress) {
        if (auto it = suffixes_.find(key); it != suffixes_.end()) {
          u16(static_cast<uint16_t>(0xC000 | it->second));
          return ok();
        }
        if (out_.size() < 0x4000) suffixes_.emplace(key, static_cast<uint16_t>(out_.size()));
      }
      u8(static_cast<uint8_t>(labels[i].size()));
      bytes(labels[i].data(), labels[i].size());
    }
    u8(0);
    return ok();
  }

 private:
  static Status split(std::string_view text, std::vector<std::string>& labels) {
    if (text.size() > 1 && text.back() == '.' && text[text.size() - 2] != '\\') text.remove_suffix(1);
    if (text.empty() || text == ".") return ok();  // the root
    std::string label;
    auto finish = [&]() -> Status {
      if (label.empty()) {
        return make_error(ErrorCode::kInvalidArgument, fmt::format("dns: name {} has an empty label", quoted(text)));
      }
      if (label.size() > kMaxLabel) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("dns: name {} has a label of {} bytes (at most 63)", quoted(text), label.size()));
      }
      labels.push_back(std::move(label));
      label.clear();
      return ok();
    };
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\\' && i + 1 < text.size()) {
        label += text[++i];
      } else if (text[i] == '.') {
        BZZZ_TRY(finish());
      } else {
        label += text[i];
      }
    }
    return finish();
  }

  std::vector<uint8_t> out_;
  std::map<std::string, uint16_t> suffixes_;
};

Status write_record(Writer& w, const Record& r) {
  BZZZ_TRY(w.name(r.name, true));
  w.u16(static_cast<uint16_t>(r.type));
  w.u16(static_cast<uint16_t>((r.klass & 0x7FFF) | (r.cache_flush ? 0x8000 : 0)));
  w.u32(r.ttl);
  size_t len_at = w.size();
  w.u16(0);
  size_t start = w.size();
  switch (r.type) {
    case Type::kA:
    case Type::kAaaa: {
      size_t want = r.type == Type::kA ? 4 : 16;
      if (r.address.size() != want) {
        return make_error(ErrorCode::kInvalidArgument, fmt::format("dns: {} record {} has an address of {} bytes",
                                                                   type_name(r.type), quoted(r.name), r.address.size()));
      }
      w.bytes(r.address.data(), r.address.size());
      break;
    }
    case Type::kPtr:
      BZZZ_TRY(w.name(r.ptr, true));
      break;
    case Type::kTxt: {
      if (r.txt.empty()) w.u8(0);  // RFC 6763 §6.1: an empty TXT record holds one empty string
      for (const auto& s : r.txt) {
        if (s.size() > 255) {
          return make_error(ErrorCode::kInvalidArgument, fmt::format("dns: TXT record {} has a string of {} bytes (at most 255)",
                                                                     quoted(r.name), s.size()));
        }
        w.u8(static_cast<uint8_t>(s.size()));
        w.bytes(s.data(), s.size());
      }
      break;
    }
    case Type::kSrv:
      w.u16(r.srv.priority);
      w.u16(r.srv.weight);
      w.u16(r.srv.port);
      BZZZ_TRY(w.name(r.srv.target, false));  // RFC 2782: the SRV target is not compressed
      break;
    default:
      w.bytes(r.rdata.data(), r.rdata.size());
      break;
  }
  size_t rdlen = w.size() - start;
  if (rdlen > 0xFFFF) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("dns: record {} has {} bytes of data", quoted(r.name), rdlen));
  }
  w.patch16(len_at, static_cast<uint16_t>(rdlen));
  return ok();
}

}  // namespace

Result<Message> parse(std::span<const uint8_t> msg) {
  if (msg.size() < kHeaderSize) {
    return bad(fmt::format("message of {} bytes is shorter than the 12-byte header", msg.size()));
  }
  if (msg.size() > kMaxMessageSize) {
    return bad(fmt::format("message of {} bytes is over the {}-byte limit", msg.size(), kMaxMessageSize));
  }
  Message m;
  m.id = get16(msg, 0);
  m.flags = get16(msg, 2);
  size_t counts[4] = {get16(msg, 4), get16(msg, 6), get16(msg, 8), get16(msg, 10)};
  size_t pos = kHeaderSize;
  for (size_t i = 0; i < counts[0]; ++i) {
    std::string where = fmt::format("question {}", i);
    auto name = read_name(msg, pos, msg.size());
    if (!name) return fail(name.error().wrap(where));
    if (pos + 4 > msg.size()) return bad(fmt::format("{} ({}): type and class cut off at offset {}", where, quoted(*name), pos));
    Question q;
    q.name = std::move(*name);
    q.type = static_cast<Type>(get16(msg, pos));
    uint16_t klass = get16(msg, pos + 2);
    q.klass = klass & 0x7FFF;
    q.unicast_response = (klass & 0x8000) != 0;
    pos += 4;
    m.questions.push_back(std::move(q));
  }
  std::vector<Record>* sections[3] = {&m.answers, &m.authorities, &m.additionals};
  for (int s = 0; s < 3; ++s) {
    for (size_t i = 0; i < counts[s + 1]; ++i) {
      bool known = false;
      auto r = read_record(msg, pos, known, fmt::format("{} {}", section_name(s), i));
      if (!r) return fail(std::move(r).error());
      if (known) sections[s]->push_back(std::move(*r));
    }
  }
  return m;  // trailing bytes are tolerated, as most resolvers do
}

Result<std::vector<uint8_t>> encode(const Message& m) {
  for (size_t n : {m.questions.size(), m.answers.size(), m.authorities.size(), m.additionals.size()}) {
    if (n > 0xFFFF) return make_error(ErrorCode::kInvalidArgument, fmt::format("dns: a section of {} entries", n));
  }
  Writer w;
  w.u16(m.id);
  w.u16(m.flags);
  w.u16(static_cast<uint16_t>(m.questions.size()));
  w.u16(static_cast<uint16_t>(m.answers.size()));
  w.u16(static_cast<uint16_t>(m.authorities.size()));
  w.u16(static_cast<uint16_t>(m.additionals.size()));
  for (const auto& q : m.questions) {
    BZZZ_TRY(w.name(q.name, true));
    w.u16(static_cast<uint16_t>(q.type));
    w.u16(static_cast<uint16_t>((q.klass & 0x7FFF) | (q.unicast_response ? 0x8000 : 0)));
  }
  for (const auto* section : {&m.answers, &m.authorities, &m.additionals}) {
    for (const auto& r : *section) BZZZ_TRY(write_record(w, r));
  }
  if (w.size() > kMaxMessageSize) {
    return make_error(ErrorCode::kTooLarge,
                      fmt::format("dns: message of {} bytes is over the {}-byte limit", w.size(), kMaxMessageSize));
  }
  return w.take();
}

bool same_name(std::string_view a, std::string_view b) {
  auto trim = [](std::string_view s) {
    if (s.size() > 1 && s.back() == '.' && s[s.size() - 2] != '\\') s.remove_suffix(1);
    return s;
  };
  a = trim(a);
  b = trim(b);
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string type_name(Type type) {
  switch (type) {
    case Type::kA: return "A";
    case Type::kPtr: return "PTR";
    case Type::kTxt: return "TXT";
    case Type::kAaaa: return "AAAA";
    case Type::kSrv: return "SRV";
    case Type::kAny: return "ANY";
  }
  return fmt::format("TYPE{}", static_cast<uint16_t>(type));  // RFC 3597's spelling
}

}  // namespace bzzz::p2p::mdns::dns
