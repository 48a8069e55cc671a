// p2p/yamux: the yamux stream multiplexer (/yamux/1.0.0, libp2p/specs yamux/README.md)
// as a sans-I/O state machine: bytes in through receive(), frames out through
// drain_output(), streams driven by calls. No sockets, no clocks, no threads: the
// caller (p2p/net's Connection) runs it on one strand, wakes the stream waiters
// take_events() names, and writes what drain_output() gives it.
//
// Owns: the 12-byte frame header, stream ids (the dialer is the client and uses odd
// ids, the listener even ones), SYN/ACK/FIN/RST on Data or WindowUpdate frames, the
// per-stream receive and send windows (256 KiB initially, Data payload bytes only, no
// session window), half-close, reset, ping, GoAway, and the limits: open streams and
// inbound streams not yet accepted (the ACK backlog). Frames for streams that are gone
// are ignored (js sends a WindowUpdate after FIN); a Data frame past the window we gave,
// a frame of an unknown type or version, a SYN that reuses an id or takes one from our
// id space, a Data or WindowUpdate frame on stream 0, or a send window pushed past
// 2^32-1 is a protocol error that ends the session.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status/result.h"

namespace bzzz::p2p::yamux {

inline constexpr std::string_view kProtocolId = "/yamux/1.0.0";
inline constexpr size_t kHeaderSize = 12;
inline constexpr uint32_t kInitialWindow = 256 * 1024;

enum class Type : uint8_t { kData = 0, kWindowUpdate = 1, kPing = 2, kGoAway = 3 };
enum Flag : uint16_t { kSyn = 1, kAck = 2, kFin = 4, kRst = 8 };
enum class GoAwayCode : uint32_t { kNormal = 0, kProtocolError = 1, kInternalError = 2 };

struct Header {
  uint8_t version = 0;
  Type type = Type::kData;
  uint16_t flags = 0;
  uint32_t stream_id = 0;
  uint32_t length = 0;  // Data: payload bytes; WindowUpdate: delta; Ping: opaque; GoAway: code
  bool operator==(const Header&) const = default;
};

void append_header(std::vector<uint8_t>& out, const Header& header);
// Exactly kHeaderSize bytes. Errors (kProtocol) name a version other than 0 or an
// unknown type.
Result<Header> decode_header(std::span<const uint8_t> bytes);

struct Options {
  // What we grant each stream to receive. Above 256 KiB it is announced with a
  // WindowUpdate alongside the SYN or ACK (the spec's initial window stays 256 KiB, so
  // a smaller value counts as 256 KiB).
  // 1 MiB by default: a single stream on loopback runs ~1.5x faster than with 256 KiB
  // (bench/p2p.sh); js grows its own windows up to 16 MiB.
  uint32_t receive_window = 1024 * 1024;
  uint32_t max_data_frame = 64 * 1024;  // largest Data payload we send in one frame
  size_t max_streams = 1000;            // open streams at once, both directions
  size_t max_ack_backlog = 256;         // inbound streams the app has not accepted yet
};

struct StreamState {
  bool exists = false;         // false once released, or never opened
  bool acked = false;          // outbound: the remote ACKed (or sent data)
  bool local_closed = false;   // we sent FIN
  bool remote_closed = false;  // FIN received: EOF once readable() is 0
  bool reset = false;          // RST received (or sent): the stream is dead
  size_t readable = 0;         // bytes buffered for read()
  uint32_t send_window = 0;    // bytes write() may take now
};

class Session {
 public:
  explicit Session(bool client, Options options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // --- bytes from the connection. Processes every whole frame and keeps the rest
  // (Data payloads are taken as they arrive). On a protocol violation it returns an
  // error naming it (kProtocol), queues GoAway(protocol error) and the session is
  // failed: every later call is refused and the caller flushes output and closes.
  Status receive(std::span<const uint8_t> bytes);

  // --- frames to write, in order: appends them to `out` and forgets them.
  void drain_output(std::vector<uint8_t>& out);
  bool has_output() const { return !output_.empty(); }

  // --- streams
  // A new outbound stream (SYN goes out on a WindowUpdate). Errors: GoAway sent or
  // received (kUnavailable), too many streams (kBusy), ids exhausted, session failed.
  Result<uint32_t> open();
  // The oldest inbound stream not yet taken; taking it sends its ACK.
  std::optional<uint32_t> accept();
  // Copies up to out.size() buffered bytes; returns how many (0: nothing buffered, see
  // state() for EOF/reset). Returns window to the remote (a WindowUpdate) once at least
  // half of our receive window has been consumed.
  size_t read(uint32_t id, std::span<uint8_t> out);
  // Queues as much of `data` as the send window allows, in Data frames of at most
  // max_data_frame bytes; returns how many bytes were taken (0 when the window is
  // closed, the stream is reset or we already sent FIN).
  size_t write(uint32_t id, std::span<const uint8_t> data);
  void close_write(uint32_t id);  // FIN; idempotent
  void reset(uint32_t id);        // RST; the stream is dead both ways
  // The app is done with the stream: it is forgotten. A stream not yet closed both
  // ways is reset first.
  void release(uint32_t id);
  StreamState state(uint32_t id) const;

  // Stream ids whose state changed since the last call (data or EOF to read, window
  // to write, ACK, reset; also our own close_write(), reset() and release(), so other
  // waiters on that stream wake), plus 0 when a new inbound stream waits in accept(), a
  // pong arrived, or the session went away or failed. Appends to `ids`, each id once.
  // Inbound streams are named only once accepted.
  void take_events(std::vector<uint32_t>& ids);

  // --- session
  void ping(uint32_t opaque);             // Ping+SYN; the remote's ACK shows in take_pong
  std::optional<uint32_t> take_pong();    // opaque values of pongs received, oldest first
  void go_away(GoAwayCode code = GoAwayCode::kNormal);  // no new streams either way
  bool went_away() const { return local_go_away_ || remote_go_away_; }
  std::optional<GoAwayCode> remote_go_away_code() const;
  bool failed() const { return failed_; }
  size_t stream_count() const { return streams_.size(); }
  size_t pending_accept() const { return backlog_.size(); }
  bool is_client() const { return client_; }

 private:
  struct Stream;  // defined in session.cc
  // The implementation's private members follow (free to change with session.cc).
  Stream* find(uint32_t id) const;
  void queue(Type type, uint16_t flags, uint32_t id, uint32_t length);
  void mark(Stream& stream);
  void mark_session();
  tl::unexpected<Error> fail_protocol(std::string message);
  Status handle_frame(const Header& header);
  Status handle_stream_frame(const Header& header);
  Result<Stream*> open_inbound(const Header& header);
  void finish_payload();
  void remote_reset(Stream& stream);
  void return_window(Stream& stream);
  void erase(uint32_t id);

  bool client_;
  Options options_;
  std::unordered_map<uint32_t, std::unique_ptr<Stream>> streams_;
  std::deque<uint32_t> backlog_;  // inbound ids not accepted yet, oldest first
  std::deque<uint32_t> pongs_;
  std::vector<uint8_t> output_;
  std::vector<uint32_t> events_;
  bool session_event_ = false;  // 0 is in events_
  // Input: a partial header, or the rest of a Data payload (to payload_target_, or
  // dropped when it is null).
  std::array<uint8_t, kHeaderSize> header_buf_{};
  size_t header_have_ = 0;
  uint32_t payload_left_ = 0;
  Stream* payload_target_ = nullptr;
  bool payload_fin_ = false;
  bool failed_ = false;
  std::string failure_;  // the protocol error that failed the session
  bool local_go_away_ = false;
  bool remote_go_away_ = false;
  uint32_t remote_go_away_code_ = 0;
  uint64_t next_id_;
};

}  // namespace bzzz::p2p::yamux
