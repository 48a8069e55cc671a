#include "content/store/pack.h"

#include <fcntl.h>

#include <gtest/gtest.h>

#include "base/crypto/blake3.h"
#include "support/temp_dir.h"

namespace bzzz::store {
namespace {

Record blob_record(const std::vector<uint8_t>& payload) {
  Record r;
  r.type = RecordType::kBlob;
  r.codec = Codec::kRaw;
  r.size = payload.size();
  r.stored_size = payload.size();
  r.created_ns = 1234567;
  r.hash = blake3(payload);
  r.payload = payload;
  return r;
}

TEST(PackRecord, RoundTripsHeaderAndPayload) {
  std::vector<uint8_t> payload = {'h', 'e', 'l', 'l', 'o'};
  std::vector<uint8_t> buf;
  size_t payload_at = encode_record(blob_record(payload), buf);
  ASSERT_EQ(payload_at, kRecordHeaderSize);
  ASSERT_EQ(buf.size(), kRecordHeaderSize + payload.size());
  auto h = parse_record_header(buf);
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->type, RecordType::kBlob);
  EXPECT_EQ(h->payload_len, 5u);
  EXPECT_EQ(h->size, 5u);
  EXPECT_EQ(h->created_ns, 1234567);
  EXPECT_EQ(h->hash, blake3(payload));
  EXPECT_TRUE(record_crc_ok(buf, std::span<const uint8_t>(buf).subspan(kRecordHeaderSize)));
}

TEST(PackRecord, AnyFlippedByteFailsTheChecksum) {
  std::vector<uint8_t> payload(100, 7);
  std::vector<uint8_t> buf;
  encode_record(blob_record(payload), buf);
  for (size_t i = 0; i < buf.size(); ++i) {
    auto copy = buf;
    copy[i] ^= 0x10;
    auto h = parse_record_header(copy);
    bool intact = h && h->payload_len == payload.size() &&
                  record_crc_ok(copy, std::span<const uint8_t>(copy).subspan(kRecordHeaderSize));
    EXPECT_FALSE(intact) << "flip at byte " << i << " went unnoticed";
  }
}

TEST(PackRecord, RejectsMalformedHeaders) {
  std::vector<uint8_t> buf;
  encode_record(blob_record({1, 2, 3}), buf);
  EXPECT_EQ(parse_record_header(std::span<const uint8_t>(buf).first(10)).error().code(),
            ErrorCode::kCorrupt);
  auto bad_type = buf;
  bad_type[4] = 9;
  EXPECT_NE(parse_record_header(bad_type).error().message().find("type 9"), std::string::npos);
  auto bad_len = buf;
  bad_len[11] = 0x7f;  // payload length ~2 GiB
  EXPECT_NE(parse_record_header(bad_len).error().message().find("payload length"), std::string::npos);
}

TEST(PackFile, NamesAndHeaders) {
  EXPECT_EQ(pack_file_name(42), "pack-00000042.pack");
  EXPECT_EQ(parse_pack_file_name("pack-00000042.pack"), 42u);
  EXPECT_EQ(parse_pack_file_name("pack-0000004x.pack"), 0u);
  EXPECT_EQ(parse_pack_file_name("other"), 0u);
  auto header = encode_pack_file_header(7);
  EXPECT_TRUE(check_pack_file_header(header, 7));
  EXPECT_FALSE(check_pack_file_header(header, 8));
  header[0] = 'X';
  EXPECT_FALSE(check_pack_file_header(header, 7));
}

TEST(PackFile, ScanStopsAtATornTail) {
  testing::TempDir dir;
  std::vector<uint8_t> file = encode_pack_file_header(1);
  std::vector<std::vector<uint8_t>> payloads;
  for (int i = 0; i < 50; ++i) {
    payloads.push_back(testing::random_bytes(100 + i * 300, i));
    encode_record(blob_record(payloads.back()), file);
  }
  size_t intact = file.size();
  encode_record(blob_record(testing::random_bytes(5000, 99)), file);
  file.resize(file.size() - 100);  // the last record is cut short, as by a crash
  auto f = fs::File::open(dir.sub("p"), O_RDWR | O_CREAT);
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->write_all(file));
  int seen = 0;
  auto end = scan_pack(*f, kPackFileHeaderSize, [&](const ScannedRecord& rec) -> Status {
    EXPECT_EQ(rec.header.hash, blake3(payloads[seen]));
    EXPECT_TRUE(std::equal(rec.payload.begin(), rec.payload.end(), payloads[seen].begin()));
    ++seen;
    return ok();
  });
  ASSERT_TRUE(end) << end.error().message();
  EXPECT_EQ(seen, 50);
  EXPECT_TRUE(end->torn);
  EXPECT_EQ(end->valid_end, intact);
}

}  // namespace
}  // namespace bzzz::store
