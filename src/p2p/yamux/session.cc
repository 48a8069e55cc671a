#include "p2p/yamux/session.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include <fmt/format.h>

namespace bzzz::p2p::yamux {
namespace {

constexpr uint64_t kMaxWindow = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kMaxStreamId = std::numeric_limits<uint32_t>::max();
// read() compacts the receive buffer once this much (and at least half of it) is consumed.
constexpr size_t kCompactAt = 64 * 1024;

void put_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

void put_u32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

uint16_t get_u16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

uint32_t get_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string_view type_name(Type type) {
  switch (type) {
    case Type::kData: return "Data";
    case Type::kWindowUpdate: return "WindowUpdate";
    case Type::kPing: return "Ping";
    case Type::kGoAway: return "GoAway";
  }
  return "?";
}

}  // namespace

void append_header(std::vector<uint8_t>& out, const Header& header) {
  uint8_t b[kHeaderSize];
  b[0] = header.version;
  b[1] = static_cast<uint8_t>(header.type);
  put_u16(b + 2, header.flags);
  put_u32(b + 4, header.stream_id);
  put_u32(b + 8, header.length);
  out.insert(out.end(), b, b + kHeaderSize);
}

Result<Header> decode_header(std::span<const uint8_t> bytes) {
  if (bytes.size() != kHeaderSize) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("yamux: a frame header is {} bytes, got {}", kHeaderSize,
                                  bytes.size()));
  }
  Header h;
  h.version = bytes[0];
  h.flags = get_u16(&bytes[2]);
  h.stream_id = get_u32(&bytes[4]);
  h.length = get_u32(&bytes[8]);
  if (h.version != 0) {
    return make_error(ErrorCode::kProtocol,
                      fmt::format("yamux: frame version {} on stream {} (only 0 is defined)",
                                  h.version, h.stream_id));
  }
  if (bytes[1] > static_cast<uint8_t>(Type::kGoAway)) {
    return make_error(ErrorCode::kProtocol,
                      fmt::format("yamux: unknown frame type {} on stream {}", bytes[1],
                                  h.stream_id));
  }
  h.type = static_cast<Type>(bytes[1]);
  return h;
}

// --- the stream -------------------------------------------------------------------

struct Session::Stream {
  uint32_t id = 0;
  bool outbound = false;
  bool accepted = false;  // outbound: always; inbound: accept() took it and sent its ACK
  bool acked = false;
  bool local_closed = false;
  bool remote_closed = false;
  bool reset = false;
  bool event_pending = false;  // the id is in events_
  uint32_t send_window = kInitialWindow;
  uint32_t recv_window = kInitialWindow;  // bytes the remote may still send
  // Received bytes not read yet are buf[head, buf.size()).
  std::vector<uint8_t> buf;
  size_t head = 0;

  size_t readable() const { return buf.size() - head; }

  void append(const uint8_t* p, size_t n) {
    if (head > 0 && buf.size() + n > buf.capacity()) {  // make room before growing
      buf.erase(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(head));
      head = 0;
    }
    buf.insert(buf.end(), p, p + n);
  }

  size_t take(uint8_t* out, size_t max) {
    size_t n = std::min(max, readable());
    if (n > 0) std::memcpy(out, buf.data() + head, n);
    head += n;
    if (head == buf.size()) {
      buf.clear();
      head = 0;
    } else if (head >= kCompactAt && head * 2 >= buf.size()) {
      buf.erase(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(head));
      head = 0;
    }
    return n;
  }

  void drop_buffer() {
    std::vector<uint8_t>().swap(buf);
    head = 0;
  }
};

// --- the session ------------------------------------------------------------------

Session::Session(bool client, Options options)
    : client_(client), options_(options), next_id_(client ? 1 : 2) {
  options_.receive_window = std::max(options_.receive_window, kInitialWindow);
  options_.max_data_frame = std::max<uint32_t>(options_.max_data_frame, 1);
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

Session::Stream* Session::find(uint32_t id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void Session::queue(Type type, uint16_t flags, uint32_t id, uint32_t length) {
  append_header(output_, Header{0, type, flags, id, length});
}

void Session::mark(Stream& stream) {
  if (stream.event_pending || !stream.accepted) return;
  stream.event_pending = true;
  events_.push_back(stream.id);
}

void Session::mark_session() {
  if (session_event_) return;
  session_event_ = true;
  events_.push_back(0);
}

tl::unexpected<Error> Session::fail_protocol(std::string message) {
  failed_ = true;
  failure_ = message;
  queue(Type::kGoAway, 0, 0, static_cast<uint32_t>(GoAwayCode::kProtocolError));
  local_go_away_ = true;
  header_have_ = 0;
  payload_left_ = 0;
  payload_target_ = nullptr;
  mark_session();
  return make_error(ErrorCode::kProtocol, std::move(message));
}

void Session::erase(uint32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  if (payload_target_ == it->second.get()) payload_target_ = nullptr;
  if (!it->second->accepted) {
    auto b = std::find(backlog_.begin(), backlog_.end(), id);
    if (b != backlog_.end()) backlog_.erase(b);
  }
  streams_.erase(it);
}

// --- input ------------------------------------------------------------------------

Status Session::receive(std::span<const uint8_t> bytes) {
  if (failed_) return make_error(ErrorCode::kProtocol, failure_);
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  while (n > 0) {
    if (payload_left_ > 0) {
      size_t take = std::min<size_t>(n, payload_left_);
      if (payload_target_ != nullptr) {
        payload_target_->append(p, take);
        mark(*payload_target_);
      }
      p += take;
      n -= take;
      payload_left_ -= static_cast<uint32_t>(take);
      if (payload_left_ == 0) finish_payload();
      continue;
    }
    const uint8_t* header_bytes = p;
    if (header_have_ == 0 && n >= kHeaderSize) {
      p += kHeaderSize;
      n -= kHeaderSize;
    } else {
      size_t take = std::min(n, kHeaderSize - header_have_);
      std::memcpy(header_buf_.data() + header_have_, p, take);
      header_have_ += take;
      p += take;
      n -= take;
      if (header_have_ < kHeaderSize) break;
      header_have_ = 0;
      header_bytes = header_buf_.data();
    }
    auto header = decode_header(std::span<const uint8_t>(header_bytes, kHeaderSize));
    if (!header) return fail_protocol(header.error().message());
    Status s = handle_frame(*header);
    if (!s) return s;
  }
  return ok();
}

Status Session::handle_frame(const Header& h) {
  switch (h.type) {
    case Type::kPing:
      if (h.flags & kSyn) {
        queue(Type::kPing, kAck, 0, h.length);
      } else if (h.flags & kAck) {
        pongs_.push_back(h.length);
        mark_session();
      }
      return ok();
    case Type::kGoAway:
      if (!remote_go_away_) {
        remote_go_away_ = true;
        remote_go_away_code_ = h.length;
        mark_session();
      }
      return ok();
    case Type::kData:
    case Type::kWindowUpdate:
      break;
  }
  return handle_stream_frame(h);
}

Status Session::handle_stream_frame(const Header& h) {
  const bool data = h.type == Type::kData;
  if (h.stream_id == 0) {
    return fail_protocol(fmt::format("yamux: {} frame on stream 0 (flags {:#x}, length {})",
                                     type_name(h.type), h.flags, h.length));
  }
  Stream* s = nullptr;
  if (h.flags & kSyn) {
    BZZZ_ASSIGN_OR_RETURN(s, open_inbound(h));
  } else {
    s = find(h.stream_id);
  }
  if (s == nullptr) {  // gone, never known or refused: skip it
    if (data) {
      payload_left_ = h.length;
      payload_target_ = nullptr;
    }
    return ok();
  }
  if (s->outbound && !s->acked && ((h.flags & kAck) || data)) {
    s->acked = true;
    mark(*s);
  }
  if (!data && h.length > 0) {
    if (h.length > kMaxWindow - s->send_window) {
      return fail_protocol(fmt::format(
          "yamux: WindowUpdate of {} on stream {} overflows its send window of {} (max 2^32-1)",
          h.length, s->id, s->send_window));
    }
    s->send_window += h.length;
    if (!s->reset && !s->local_closed) mark(*s);
  }
  if (h.flags & kRst) {
    if (data) {
      payload_left_ = h.length;
      payload_target_ = nullptr;
    }
    remote_reset(*s);  // may erase s
    return ok();
  }
  if (data) {
    if (h.length > s->recv_window) {
      return fail_protocol(fmt::format(
          "yamux: Data frame of {} bytes on stream {} exceeds the {} bytes of receive window "
          "granted",
          h.length, s->id, s->recv_window));
    }
    s->recv_window -= h.length;
    payload_left_ = h.length;
    payload_target_ = (s->reset || s->remote_closed) ? nullptr : s;
    payload_fin_ = (h.flags & kFin) != 0;
    if (h.length == 0) finish_payload();
    return ok();
  }
  if ((h.flags & kFin) && !s->remote_closed) {
    s->remote_closed = true;
    mark(*s);
  }
  return ok();
}

Result<Session::Stream*> Session::open_inbound(const Header& h) {
  const uint32_t id = h.stream_id;
  const bool remote_id = (id & 1) == (client_ ? 0u : 1u);
  if (!remote_id) {
    return fail_protocol(fmt::format(
        "yamux: the remote opened stream {} in our id space (the {} uses {} ids)", id,
        client_ ? "client" : "server", client_ ? "odd" : "even"));
  }
  if (streams_.contains(id)) {
    return fail_protocol(fmt::format("yamux: SYN ({} frame) for stream {}, which is already open",
                                     type_name(h.type), id));
  }
  if (local_go_away_ || backlog_.size() >= options_.max_ack_backlog ||
      streams_.size() >= options_.max_streams) {
    queue(Type::kWindowUpdate, kRst, id, 0);
    return nullptr;
  }
  auto stream = std::make_unique<Stream>();
  stream->id = id;
  Stream* s = stream.get();
  streams_.emplace(id, std::move(stream));
  backlog_.push_back(id);
  mark_session();
  return s;
}

void Session::finish_payload() {
  Stream* s = payload_target_;
  payload_target_ = nullptr;
  if (s != nullptr && payload_fin_ && !s->remote_closed) {
    s->remote_closed = true;
    mark(*s);
  }
  payload_fin_ = false;
}

void Session::remote_reset(Stream& stream) {
  if (!stream.accepted) {  // nobody holds it yet: forget it
    erase(stream.id);
    return;
  }
  if (stream.reset) return;
  stream.reset = true;
  stream.drop_buffer();
  mark(stream);
}

// --- output -----------------------------------------------------------------------

void Session::drain_output(std::vector<uint8_t>& out) {
  if (out.empty()) {
    out.swap(output_);
  } else {
    out.insert(out.end(), output_.begin(), output_.end());
  }
  output_.clear();
}

// --- streams ----------------------------------------------------------------------

Result<uint32_t> Session::open() {
  if (failed_) {
    return make_error(ErrorCode::kUnavailable, fmt::format("yamux: session failed: {}", failure_));
  }
  if (local_go_away_) {
    return make_error(ErrorCode::kUnavailable, "yamux: we sent GoAway, no new streams");
  }
  if (remote_go_away_) {
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("yamux: the remote sent GoAway (code {}), no new streams",
                                  remote_go_away_code_));
  }
  if (streams_.size() >= options_.max_streams) {
    return make_error(ErrorCode::kBusy, fmt::format("yamux: {} streams open (max_streams {})",
                                                    streams_.size(), options_.max_streams));
  }
  if (next_id_ > kMaxStreamId) {
    return make_error(ErrorCode::kUnavailable, "yamux: stream ids exhausted");
  }
  const auto id = static_cast<uint32_t>(next_id_);
  next_id_ += 2;
  auto stream = std::make_unique<Stream>();
  stream->id = id;
  stream->outbound = true;
  stream->accepted = true;
  stream->recv_window = options_.receive_window;
  streams_.emplace(id, std::move(stream));
  queue(Type::kWindowUpdate, kSyn, id, options_.receive_window - kInitialWindow);
  return id;
}

std::optional<uint32_t> Session::accept() {
  if (failed_ || backlog_.empty()) return std::nullopt;
  const uint32_t id = backlog_.front();
  backlog_.pop_front();
  Stream& s = *find(id);  // the backlog holds only live streams (erase() keeps it so)
  s.accepted = true;
  s.acked = true;
  uint32_t delta = 0;
  if (!s.remote_closed) {
    delta = static_cast<uint32_t>(options_.receive_window - s.recv_window - s.readable());
  }
  s.recv_window += delta;
  queue(Type::kWindowUpdate, kAck, id, delta);
  return id;
}

void Session::return_window(Stream& s) {
  if (s.reset || s.remote_closed || !s.accepted) return;
  const uint64_t held = uint64_t{s.recv_window} + s.readable();
  if (held >= options_.receive_window) return;
  const uint64_t delta = options_.receive_window - held;
  if (delta < options_.receive_window / 2) return;
  s.recv_window += static_cast<uint32_t>(delta);
  queue(Type::kWindowUpdate, 0, s.id, static_cast<uint32_t>(delta));
}

size_t Session::read(uint32_t id, std::span<uint8_t> out) {
  Stream* s = find(id);
  if (failed_ || s == nullptr || out.empty()) return 0;
  size_t n = s->take(out.data(), out.size());
  if (n > 0) return_window(*s);
  return n;
}

size_t Session::write(uint32_t id, std::span<const uint8_t> data) {
  Stream* s = find(id);
  if (failed_ || s == nullptr || s->reset || s->local_closed) return 0;
  const size_t n = std::min<size_t>(data.size(), s->send_window);
  const size_t frame = options_.max_data_frame;
  const size_t need = output_.size() + n + (n / frame + 1) * kHeaderSize;
  if (need > output_.capacity()) output_.reserve(std::max(need, 2 * output_.capacity()));
  for (size_t off = 0; off < n;) {
    const size_t c = std::min(n - off, frame);
    queue(Type::kData, 0, id, static_cast<uint32_t>(c));
    output_.insert(output_.end(), data.data() + off, data.data() + off + c);
    off += c;
  }
  s->send_window -= static_cast<uint32_t>(n);
  return n;
}

void Session::close_write(uint32_t id) {
  Stream* s = find(id);
  if (failed_ || s == nullptr || s->local_closed || s->reset) return;
  s->local_closed = true;
  queue(Type::kWindowUpdate, kFin, id, 0);
  mark(*s);
}

void Session::reset(uint32_t id) {
  Stream* s = find(id);
  if (failed_ || s == nullptr || s->reset) return;
  s->reset = true;
  s->drop_buffer();
  if (payload_target_ == s) payload_target_ = nullptr;  // the rest of a Data frame is dropped
  queue(Type::kWindowUpdate, kRst, id, 0);
  mark(*s);
}

void Session::release(uint32_t id) {
  Stream* s = find(id);
  if (s == nullptr) return;
  if (!failed_ && !s->reset && !(s->local_closed && s->remote_closed)) {
    queue(Type::kWindowUpdate, kRst, id, 0);
  }
  if (s->accepted && !s->event_pending) events_.push_back(id);
  erase(id);
}

StreamState Session::state(uint32_t id) const {
  const Stream* s = find(id);
  if (s == nullptr) return StreamState{};
  StreamState st;
  st.exists = true;
  st.acked = s->acked;
  st.local_closed = s->local_closed;
  st.remote_closed = s->remote_closed;
  st.reset = s->reset;
  st.readable = s->readable();
  st.send_window = (s->reset || s->local_closed) ? 0 : s->send_window;
  return st;
}

void Session::take_events(std::vector<uint32_t>& ids) {
  for (uint32_t id : events_) {
    if (id != 0) {
      if (Stream* s = find(id)) s->event_pending = false;
    }
    ids.push_back(id);
  }
  events_.clear();
  session_event_ = false;
}

// --- session ----------------------------------------------------------------------

void Session::ping(uint32_t opaque) {
  if (failed_) return;
  queue(Type::kPing, kSyn, 0, opaque);
}

std::optional<uint32_t> Session::take_pong() {
  if (pongs_.empty()) return std::nullopt;
  uint32_t v = pongs_.front();
  pongs_.pop_front();
  return v;
}

void Session::go_away(GoAwayCode code) {
  if (local_go_away_ || failed_) return;
  local_go_away_ = true;
  queue(Type::kGoAway, 0, 0, static_cast<uint32_t>(code));
  mark_session();
}

std::optional<GoAwayCode> Session::remote_go_away_code() const {
  if (!remote_go_away_) return std::nullopt;
  return static_cast<GoAwayCode>(remote_go_away_code_);
}

}  // namespace bzzz::p2p::yamux
