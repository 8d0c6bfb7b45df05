// The revocation log and snapshot on disk: byte-exact pins of the formats (and of the hashes
// they store), CRC-32C, the torn-tail / corruption rules, and what Open does with each.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/hex.h"
#include "jwtgate/revocation.h"
#include "revocation_support.h"
#include "revoke/crc32c.h"
#include "revoke/hash.h"
#include "revoke/log_format.h"
#include "revoke/log_scan.h"
#include "temp_dir.h"

namespace jwtgate::revoke {
namespace {

constexpr int64_t kNow = test::kStoreNow;
using test::TempDir;

RevocationOptions Options(const std::string& dir) { return test::StoreOptions(dir); }

std::string Hex(const uint8_t* p, size_t n) { return base::HexEncode(p, n); }

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void WriteBytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// The fixed secret of the pinned examples.
HashSecret PinnedSecret() {
  HashSecret s;
  s.fast = {0x0123456789abcdefull, 0x1111111111111111ull, 0x2222222222222223ull,
            0x3333333333333333ull};
  for (uint8_t i = 0; i < 16; ++i) s.sip[i] = i;
  return s;
}

// A state directory whose STATE holds PinnedSecret().
void CreatePinnedState(const std::string& dir) {
  std::filesystem::create_directories(dir);
  uint8_t buf[kStateBytes];
  EncodeState({12, PinnedSecret()}, buf);
  WriteBytes(dir + "/STATE", std::vector<uint8_t>(buf, buf + sizeof(buf)));
}

Claims JtiClaims(std::string_view jti, int64_t exp) {
  Claims c;
  c.jti = jti;
  c.has_exp = true;
  c.exp = exp;
  return c;
}

std::string Id(int i) { return "id-" + std::to_string(i); }

// A state with one log holding `n` jti revocations (Id(0) .. Id(n-1), exp kNow + 100).
void WriteRevocations(const std::string& dir, int n) {
  std::string error;
  auto s = RevocationStore::Open(Options(dir), &error);
  INFO(error);
  REQUIRE(s.ok());
  for (int i = 0; i < n; ++i) REQUIRE((*s)->RevokeJti(Id(i), "", kNow + 100) == Status::kOk);
}

TEST_CASE("CRC-32C matches RFC 3720 and the classic check value", "[revocation_log]") {
  std::vector<uint8_t> zeros(32, 0);
  std::vector<uint8_t> ones(32, 0xff);
  std::vector<uint8_t> up(32);
  std::vector<uint8_t> down(32);
  for (uint8_t i = 0; i < 32; ++i) {
    up[i] = i;
    down[i] = static_cast<uint8_t>(31 - i);
  }
  struct Row {
    const std::vector<uint8_t>* data;
    uint32_t crc;
  };
  const Row rows[] = {
      {&zeros, 0x8A9136AAu}, {&ones, 0x62A8AB43u}, {&up, 0x46DD794Eu}, {&down, 0x113FDB5Cu}};
  for (const Row& r : rows) {
    CHECK(Crc32c(r.data->data(), 32) == r.crc);
    CHECK(Crc32cPortable(0, r.data->data(), 32) == r.crc);
  }
  CHECK(Crc32c("123456789", 9) == 0xE3069283u);
  // Hardware and portable agree at every length and alignment, incrementally too.
  std::vector<uint8_t> buf(300);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 7 + 3);
  for (size_t off = 0; off < 8; ++off) {
    for (size_t n = 0; n + off <= buf.size(); n += 13) {
      const uint32_t whole = Crc32cPortable(0, buf.data() + off, n);
      REQUIRE(Crc32c(buf.data() + off, n) == whole);
      REQUIRE(Crc32cExtend(Crc32c(buf.data() + off, n / 2), buf.data() + off + n / 2, n - n / 2) ==
              whole);
    }
  }
}

TEST_CASE("FastHash64 reproduces the published wyhash test vectors", "[revocation_log]") {
  struct Row {
    const char* input;
    uint64_t seed;
    uint64_t hash;
  };
  const Row rows[] = {
      {"", 0, 0x0409638ee2bde459ull},
      {"a", 1, 0xa8412d091b5fe0a9ull},
      {"abc", 2, 0x32dd92e4b2915153ull},
      {"message digest", 3, 0x8619124089a3a16bull},
      {"abcdefghijklmnopqrstuvwxyz", 4, 0x7a43afb61d7f5f40ull},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 5, 0xff42329b90e50d58ull},
      {"1234567890123456789012345678901234567890123456789012345678901234567890123456789"
       "0",
       6, 0xc39cab13b115aad3ull},
  };
  for (const Row& r : rows) {
    INFO(r.input);
    CHECK(Hash64(r.input, r.seed) == r.hash);
  }
}

TEST_CASE("KeyHasher fingerprints are pinned (they are stored on disk)", "[revocation_log]") {
  const KeyHasher h(PinnedSecret());
  struct Row {
    const char* name;
    Fingerprint fp;
    uint64_t lo;
    uint64_t hi;
  };
  const Row rows[] = {
      {"legacy jti tok-1, exp 2000000000", h.LegacyJti("tok-1", 2000000000), 0x0ba137a05f20f171ull,
       0x92c53dc1e3637d01ull},
      {"jti tok-1 of https://a.example", h.IssuerJti("https://a.example", "tok-1"),
       0x3a70b41cab171235ull, 0x970896351732b497ull},
      {"jti tok-1 under every issuer", h.AnyIssuerJti("tok-1"), 0x1ccc1a4e10fc4955ull,
       0x35f6bb3d0f3fd6abull},
      {"subject alice", h.Of(KeyKind::kSubject, 0, "alice"), 0xd2709329dc26e4b6ull,
       0xca5144f10b8a4e05ull},
      {"subject alice in https://a.example",
       h.Of(KeyKind::kIssuerSubject, 17, "https://a.example", "alice"), 0x9c806a4b7eedc223ull,
       0xf3eecdd0391cf283ull},
      {"600-byte legacy jti (BLAKE2b path)", h.LegacyJti(std::string(600, 'x'), 5),
       0xa0f2f66ca4b6fe84ull, 0x1b9922e983250dbbull},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(r.fp.lo == r.lo);
    CHECK(r.fp.hi == r.hi);
  }
  // Every part of the key matters.
  CHECK(h.LegacyJti("tok-1", 2000000001) != h.LegacyJti("tok-1", 2000000000));
  CHECK(h.IssuerJti("https://ab", "c") != h.IssuerJti("https://a", "bc"));
  CHECK(h.IssuerJti("", "tok-1") != h.AnyIssuerJti("tok-1"));
  // The two-step form the batch check uses is the same hash.
  CHECK(h.LoContinue(h.LoPrefix(KeyKind::kIssuerJti, 17, "https://a.example"), "tok-1") ==
        h.IssuerJti("https://a.example", "tok-1").lo);
  CHECK(h.AnyIssuerJti("tok-1") != h.Of(KeyKind::kSubject, 0, "tok-1"));
  CHECK(h.Of(KeyKind::kSubject, 0, "alice") != h.Of(KeyKind::kIssuer, 0, "alice"));
  CHECK(h.Of(KeyKind::kIssuerSubject, 2, "ab", "c") != h.Of(KeyKind::kIssuerSubject, 1, "a", "bc"));
  HashSecret other = PinnedSecret();
  other.sip[0] ^= 1;
  CHECK(KeyHasher(other).IssuerJti("i", "tok-1").hi != h.IssuerJti("i", "tok-1").hi);
}

TEST_CASE("Log records, the log header and STATE are pinned byte for byte", "[revocation_log]") {
  struct Row {
    const char* name;
    LogRecord record;
    const char* hex;
  };
  const Row rows[] = {
      {"header of log 1", LogHeaderRecord(1),
       "db3580f4010100000100000000000000"
       "4a57474c4f4730310000000000000000"},
      {"legacy jti, exp 1767225600",
       {RecordType::kJti, 1767225600, {0x0123456789abcdefull, 0xfedcba9876543210ull}},
       "377a702e0201000000b9556900000000"
       "efcdab89674523011032547698badcfe"},
      {"jti of an issuer, kept until 1767225600",
       {RecordType::kIssuerJti, 1767225600, {0x0123456789abcdefull, 0xfedcba9876543210ull}},
       "3130eb0f0701000000b9556900000000"
       "efcdab89674523011032547698badcfe"},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    uint8_t buf[kRecordBytes];
    EncodeRecord(r.record, buf);
    CHECK(Hex(buf, sizeof(buf)) == r.hex);
    LogRecord back;
    REQUIRE(DecodeRecord(buf, &back) == DecodeResult::kOk);
    CHECK(back.type == r.record.type);
    CHECK(back.value == r.record.value);
    CHECK(back.fp == r.record.fp);
  }
  uint8_t state[kStateBytes];
  EncodeState({12, PinnedSecret()}, state);
  CHECK(Hex(state, sizeof(state)) ==
        "4a57475354415445010000000c000000"
        "efcdab89674523011111111111111111"
        "23222222222222223333333333333333"
        "000102030405060708090a0b0c0d0e0f"
        "00000000fbd1f9bd");
  StateFile decoded;
  std::string why;
  REQUIRE(DecodeState(state, sizeof(state), &decoded, &why));
  CHECK(decoded.generation_shift == 12);
  CHECK(decoded.secret.fast == PinnedSecret().fast);
  state[20] ^= 1;
  CHECK_FALSE(DecodeState(state, sizeof(state), &decoded, &why));
  CHECK(why == "STATE: checksum mismatch");
}

TEST_CASE("DecodeRecord names what is wrong with a record", "[revocation_log]") {
  uint8_t good[kRecordBytes];
  EncodeRecord({RecordType::kSubject, 5, {1, 2}}, good);
  struct Row {
    const char* name;
    size_t byte;  // flipped byte, or kRecordBytes for "all zero"
    DecodeResult result;
  };
  const Row rows[] = {{"intact", kRecordBytes + 1, DecodeResult::kOk},
                      {"all zero", kRecordBytes, DecodeResult::kZero},
                      {"flipped value byte", 12, DecodeResult::kBadChecksum},
                      {"flipped checksum byte", 0, DecodeResult::kBadChecksum}};
  for (const Row& r : rows) {
    INFO(r.name);
    uint8_t b[kRecordBytes];
    std::memcpy(b, good, sizeof(b));
    if (r.byte == kRecordBytes) std::memset(b, 0, sizeof(b));
    if (r.byte < kRecordBytes) b[r.byte] ^= 0x40;
    LogRecord out;
    CHECK(DecodeRecord(b, &out) == r.result);
  }
  // A valid checksum over an unknown type or version is still refused.
  uint8_t b[kRecordBytes];
  std::memcpy(b, good, sizeof(b));
  b[4] = 99;
  const uint32_t crc = Crc32c(b + 4, kRecordBytes - 4);
  std::memcpy(b, &crc, 4);
  LogRecord out;
  CHECK(DecodeRecord(b, &out) == DecodeResult::kBadType);

  // A valid checksum over a fingerprint the store never writes (hi == 0, the tables' empty
  // slot) is refused for every record type that carries a fingerprint.
  for (const RecordType t :
       {RecordType::kJti, RecordType::kSubject, RecordType::kIssuerSubject, RecordType::kIssuer,
        RecordType::kIssuerJti, RecordType::kAnyIssuerJti}) {
    INFO("type " << static_cast<int>(t));
    uint8_t z[kRecordBytes];
    EncodeRecord({t, 5, {7, 0}}, z);  // (lo, hi) = (7, 0)
    CHECK(DecodeRecord(z, &out) == DecodeResult::kZeroFingerprint);
    CHECK(std::string(DescribeDecodeResult(DecodeResult::kZeroFingerprint)) == "zero fingerprint");
  }
  uint8_t g[kRecordBytes];
  EncodeRecord({RecordType::kGlobal, 5, {0, 0}}, g);  // no fingerprint: valid
  CHECK(DecodeRecord(g, &out) == DecodeResult::kOk);
}

TEST_CASE("DescribeDecodeResult names every DecodeResult", "[revocation_log]") {
  // Recovery errors quote these ("corrupt record at offset 96 (checksum mismatch); ...").
  const std::pair<DecodeResult, std::string> rows[] = {
      {DecodeResult::kOk, "valid"},
      {DecodeResult::kZero, "all zero bytes"},
      {DecodeResult::kBadChecksum, "checksum mismatch"},
      {DecodeResult::kBadVersion, "unknown format version"},
      {DecodeResult::kBadType, "unknown record type"},
      {DecodeResult::kZeroFingerprint, "zero fingerprint"},
  };
  for (const auto& [result, description] : rows) {
    CHECK(DescribeDecodeResult(result) == description);
  }
  CHECK(DescribeDecodeResult(static_cast<DecodeResult>(200)) == std::string("invalid"));
}

TEST_CASE("A revocation lands in the log exactly as pinned", "[revocation_log]") {
  TempDir tmp;
  CreatePinnedState(tmp.state());
  {
    std::string error;
    auto s = RevocationStore::Open(Options(tmp.state()), &error);
    INFO(error);
    REQUIRE(s.ok());
    REQUIRE((*s)->RevokeJti("tok-1", "https://a.example", 2000000000) == Status::kOk);
    REQUIRE((*s)->RevokeJti("tok-1", "", 2000000000) == Status::kOk);
  }
  const std::vector<uint8_t> log = ReadBytes(tmp.file("000001.log"));
  CHECK(Hex(log.data(), log.size()) ==
        "db3580f4010100000100000000000000"
        "4a57474c4f4730310000000000000000"
        "717a8bab070100000094357700000000"
        "351217ab1cb4703a97b4321735960897"
        "8a719c15080100000094357700000000"
        "5549fc104e1acc1cabd63f0f3dbbf635");
}

// Builds a log image: header of log `number`, then `n` jti records.
std::vector<uint8_t> LogImage(uint64_t number, int n) {
  std::vector<uint8_t> img(kRecordBytes * static_cast<size_t>(n + 1));
  EncodeRecord(LogHeaderRecord(number), img.data());
  for (int i = 0; i < n; ++i) {
    EncodeRecord({RecordType::kJti, kNow, {static_cast<uint64_t>(i), static_cast<uint64_t>(i + 1)}},
                 img.data() + kRecordBytes * static_cast<size_t>(i + 1));
  }
  return img;
}

TEST_CASE("ScanLog tells a torn tail from corruption", "[revocation_log]") {
  struct Row {
    const char* name;
    std::vector<uint8_t> image;
    bool last;
    uint64_t valid_end;
    uint64_t torn;
    std::vector<uint64_t> corrupt;
    uint64_t records;
    bool error;
  };
  auto with = [](std::vector<uint8_t> img, auto&& edit) {
    edit(img);
    return img;
  };
  const std::vector<Row> rows = {
      {"header only", LogImage(1, 0), true, 32, 0, {}, 0, false},
      {"three records", LogImage(1, 3), true, 128, 0, {}, 3, false},
      {"partial record at the end of the newest log: torn",
       with(LogImage(1, 3), [](auto& b) { b.resize(b.size() + 10, 0xAB); }),
       true,
       128,
       10,
       {},
       3,
       false},
      {"zero-filled records at the end: torn",
       with(LogImage(1, 3), [](auto& b) { b.resize(b.size() + 64, 0); }),
       true,
       128,
       64,
       {},
       3,
       false},
      {"last record damaged: torn (indistinguishable)",
       with(LogImage(1, 3), [](auto& b) { b[3 * 32 + 9] ^= 1; }),
       true,
       96,
       32,
       {},
       2,
       false},
      {"damaged record followed by valid ones: corrupt",
       with(LogImage(1, 5), [](auto& b) { b[2 * 32 + 9] ^= 1; }),
       true,
       192,
       0,
       {64},
       4,
       false},
      {"zeroed record in the middle: corrupt",
       with(LogImage(1, 5), [](auto& b) { std::fill(b.begin() + 96, b.begin() + 128, 0); }),
       true,
       192,
       0,
       {96},
       4,
       false},
      {"damaged last record of an older log: corrupt",
       with(LogImage(1, 3), [](auto& b) { b[3 * 32 + 9] ^= 1; }),
       false,
       128,
       0,
       {96},
       2,
       false},
      {"partial record at the end of an older log: corrupt",
       with(LogImage(1, 3), [](auto& b) { b.resize(b.size() + 5, 1); }),
       false,
       128,
       0,
       {128},
       3,
       false},
      {"newest log that died before its header: torn whole",
       std::vector<uint8_t>(20, 0x55),
       true,
       0,
       20,
       {},
       0,
       false},
      {"empty newest log", {}, true, 0, 0, {}, 0, false},
      {"older log without a valid header",
       std::vector<uint8_t>(64, 0x55),
       false,
       0,
       0,
       {},
       0,
       true},
      {"header of another log number", LogImage(2, 1), false, 0, 0, {}, 0, true},
      {"a second header inside a log: corrupt",
       with(LogImage(1, 3), [](auto& b) { EncodeRecord(LogHeaderRecord(1), b.data() + 32); }),
       true,
       128,
       0,
       {32},
       2,
       false},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    const LogScan s = ScanLog(r.image.data(), r.image.size(), 1, r.last);
    CHECK(!s.error.empty() == r.error);
    if (r.error) continue;
    CHECK(s.valid_end == r.valid_end);
    CHECK(s.torn_bytes == r.torn);
    CHECK(s.corrupt == r.corrupt);
    CHECK(s.records == r.records);
  }
  const std::vector<uint8_t> img = with(LogImage(1, 10), [](auto& b) { b[4 * 32 + 20] ^= 0x80; });
  const LogScan s = ScanLog(img.data(), img.size(), 1, true);
  CHECK(DescribeCorruption(s) ==
        "corrupt record at offset 128 (checksum mismatch); 6 valid records follow it");
  size_t visited = 0;
  s.ForEachRecord(img.data(), [&](const LogRecord& r) {
    CHECK(r.fp.lo != 3);  // record 4 (lo = 3) is skipped
    ++visited;
  });
  CHECK(visited == 9);
}

TEST_CASE("Open truncates a torn tail and keeps everything acknowledged before it",
          "[revocation_log]") {
  struct Row {
    const char* name;
    std::vector<uint8_t> tail;
  };
  const Row rows[] = {{"13 bytes of garbage", std::vector<uint8_t>(13, 0xA5)},
                      {"two zero-filled records", std::vector<uint8_t>(64, 0)},
                      {"a record and a half of garbage", std::vector<uint8_t>(48, 0x3C)}};
  for (const Row& r : rows) {
    INFO(r.name);
    TempDir tmp;
    WriteRevocations(tmp.state(), 10);
    const std::string log = tmp.file("000001.log");
    std::vector<uint8_t> bytes = ReadBytes(log);
    REQUIRE(bytes.size() == 11 * 32);
    bytes.insert(bytes.end(), r.tail.begin(), r.tail.end());
    WriteBytes(log, bytes);

    // Read-only recovery ignores the tail and leaves the file alone.
    RevocationOptions ro = Options(tmp.state());
    ro.read_only = true;
    std::string error;
    auto reader = RevocationStore::Open(ro, &error);
    REQUIRE(reader.ok());
    CHECK((*reader)->Stats().recovery.torn_tail_bytes == r.tail.size());
    CHECK(ReadBytes(log).size() == bytes.size());

    {
      auto s = RevocationStore::Open(Options(tmp.state()), &error);
      INFO(error);
      REQUIRE(s.ok());
      const RevocationStats st = (*s)->Stats();
      CHECK(st.recovery.torn_tail_bytes == r.tail.size());
      CHECK(st.recovery.records_replayed == 10);
      CHECK(st.jti_revocations == 10);
      CHECK(ReadBytes(log).size() == 11 * 32);
      for (int i = 0; i < 10; ++i) {
        const std::string id = Id(i);
        CHECK((*s)->IsRevoked(JtiClaims(id, kNow + 100)));
      }
      // Appends continue on a clean record boundary.
      REQUIRE((*s)->RevokeJti("after", "", kNow + 100) == Status::kOk);
    }
    reader = Status::kInternalError;  // closes the read-only store too
    auto again = RevocationStore::Open(Options(tmp.state()), &error);
    REQUIRE(again.ok());
    CHECK((*again)->Stats().recovery.torn_tail_bytes == 0);
    CHECK((*again)->Stats().jti_revocations == 11);
  }
}

TEST_CASE("A flipped byte in the middle of the log is reported, not ignored", "[revocation_log]") {
  TempDir tmp;
  WriteRevocations(tmp.state(), 10);
  const std::string log = tmp.file("000001.log");
  std::vector<uint8_t> bytes = ReadBytes(log);
  bytes[4 * 32 + 20] ^= 0x80;  // record 4: the revocation of Id(3)
  WriteBytes(log, bytes);

  std::string error;
  auto s = RevocationStore::Open(Options(tmp.state()), &error);
  CHECK(s.status() == Status::kInternalError);
  CHECK(error == log +
                     ": corrupt record at offset 128 (checksum mismatch); 6 valid records "
                     "follow it; refusing to open (RevocationOptions::skip_corrupt_records "
                     "skips damaged records, losing them)");
  CHECK(ReadBytes(log) == bytes);  // nothing was modified

  RevocationOptions skip = Options(tmp.state());
  skip.skip_corrupt_records = true;
  auto t = RevocationStore::Open(skip, &error);
  INFO(error);
  REQUIRE(t.ok());
  CHECK((*t)->Stats().recovery.corrupt_records == 1);
  CHECK((*t)->Stats().jti_revocations == 9);
  for (int i = 0; i < 10; ++i) {
    const std::string id = Id(i);
    CHECK((*t)->IsRevoked(JtiClaims(id, kNow + 100)) == (i != 3));
  }
}

TEST_CASE("Damage in an older log is corruption even at its very end", "[revocation_log]") {
  TempDir tmp;
  WriteRevocations(tmp.state(), 4);
  // A newer log exists: log 1 was complete (synced) before it started.
  WriteBytes(tmp.file("000002.log"), LogImage(2, 0));
  std::vector<uint8_t> bytes = ReadBytes(tmp.file("000001.log"));
  bytes.resize(bytes.size() - 5);
  WriteBytes(tmp.file("000001.log"), bytes);
  std::string error;
  auto s = RevocationStore::Open(Options(tmp.state()), &error);
  CHECK(s.status() == Status::kInternalError);
  CHECK(error.find("000001.log: corrupt record at offset 128") != std::string::npos);
}

TEST_CASE("A newest log that died before its header was durable is replaced", "[revocation_log]") {
  TempDir tmp;
  WriteRevocations(tmp.state(), 3);
  WriteBytes(tmp.file("000002.log"), std::vector<uint8_t>(20, 0x55));
  std::string error;
  auto s = RevocationStore::Open(Options(tmp.state()), &error);
  INFO(error);
  REQUIRE(s.ok());
  CHECK((*s)->Stats().jti_revocations == 3);
  CHECK((*s)->Stats().log_number == 2);
  REQUIRE((*s)->RevokeJti("x", "", kNow + 100) == Status::kOk);
  CHECK(ReadBytes(tmp.file("000002.log")).size() == 64);  // a fresh header and the record
}

TEST_CASE("A damaged snapshot is reported", "[revocation_log]") {
  TempDir tmp;
  {
    std::string error;
    auto s = RevocationStore::Open(Options(tmp.state()), &error);
    REQUIRE(s.ok());
    for (int i = 0; i < 100; ++i) REQUIRE((*s)->RevokeJti(Id(i), "", kNow + 100) == Status::kOk);
    REQUIRE((*s)->RevokeSubject("alice", 1000) == Status::kOk);
    REQUIRE((*s)->Compact() == Status::kOk);
  }
  const std::string snap = tmp.file("000001.snap");
  std::vector<uint8_t> bytes = ReadBytes(snap);
  REQUIRE(bytes.size() == 64 + 32 + 100 * 24 + 32 + 24 + 16);
  struct Row {
    const char* name;
    size_t byte;
    const char* message;
  };
  const Row rows[] = {
      {"header", 20, "bad snapshot header"},
      {"section header", 64 + 10, "bad section header at offset 64"},
      {"entries", 64 + 32 + 700, "checksum mismatch in the entries of the section at offset 64"},
      {"trailer", bytes.size() - 3, "bad snapshot trailer"},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    std::vector<uint8_t> damaged = bytes;
    damaged[r.byte] ^= 0x01;
    WriteBytes(snap, damaged);
    std::string error;
    auto s = RevocationStore::Open(Options(tmp.state()), &error);
    CHECK(s.status() == Status::kInternalError);
    CHECK(error == snap + ": " + r.message);
  }
  {
    // Entry 5 of the first section with hi == 0 and every checksum made consistent again: a
    // fingerprint the store never writes is reported, not counted and later lost.
    std::vector<uint8_t> forged = bytes;
    std::memset(forged.data() + 64 + 32 + 5 * 24, 0, 8);
    const uint32_t entries_crc = Crc32c(forged.data() + 64 + 32, 100 * 24);
    std::memcpy(forged.data() + 64 + 24, &entries_crc, 4);
    const uint32_t header_crc = Crc32c(forged.data() + 64, 28);
    std::memcpy(forged.data() + 64 + 28, &header_crc, 4);
    WriteBytes(snap, forged);
    std::string error;
    auto s = RevocationStore::Open(Options(tmp.state()), &error);
    CHECK(s.status() == Status::kInternalError);
    CHECK(error == snap + ": zero fingerprint in entry 5 of the section at offset 64");
  }
  WriteBytes(snap, bytes);
  std::string error;
  auto s = RevocationStore::Open(Options(tmp.state()), &error);
  INFO(error);
  REQUIRE(s.ok());
  CHECK((*s)->Stats().jti_revocations == 100);
}

TEST_CASE("Open refuses a directory with logs but no STATE", "[revocation_log]") {
  TempDir tmp;
  WriteRevocations(tmp.state(), 1);
  std::filesystem::remove(tmp.file("STATE"));
  std::string error;
  auto s = RevocationStore::Open(Options(tmp.state()), &error);
  CHECK(s.status() == Status::kInternalError);
  CHECK(error.find("refusing to start a new state over old revocations") != std::string::npos);
}

TEST_CASE("A clock behind the snapshot's never turns a revocation into a no-op",
          "[revocation_log]") {
  TempDir tmp;
  constexpr int64_t kAhead = 30 * 86400;  // the snapshot was written 30 days "later"
  {
    RevocationOptions o = Options(tmp.state());
    o.now = kNow + kAhead;
    std::string error;
    auto s = RevocationStore::Open(o, &error);
    REQUIRE(s.ok());
    REQUIRE((*s)->RevokeJti("late", "", kNow + kAhead + 600) == Status::kOk);
    REQUIRE((*s)->Compact() == Status::kOk);
  }
  std::string error;
  auto s = RevocationStore::Open(Options(tmp.state()), &error);  // now = kNow
  INFO(error);
  REQUIRE(s.ok());
  CHECK((*s)->IsRevoked(JtiClaims("late", kNow + kAhead + 600)));
  // A token valid now, with an exp before the snapshot's window, is revoked for real.
  REQUIRE((*s)->RevokeJti("now", "", kNow + 600) == Status::kOk);
  CHECK((*s)->IsRevoked(JtiClaims("now", kNow + 600)));
  CHECK_FALSE((*s)->IsRevoked(JtiClaims("other", kNow + 600)));
}

// What a store of the older format left: (jti, exp) fingerprints in kJti records, kGeneration
// sections (no exp per entry, only its window) and kLongLived sections (with the exp).
struct LegacyEntry {
  std::string jti;
  int64_t exp;
};

void AppendSection(std::vector<uint8_t>* out, SectionType type, int64_t bucket, const KeyHasher& h,
                   const std::vector<LegacyEntry>& entries) {
  const bool with_value = type != SectionType::kGeneration;
  std::vector<uint8_t> body;
  for (const LegacyEntry& e : entries) {
    const Fingerprint f = h.LegacyJti(e.jti, e.exp);
    uint8_t b[24];
    std::memcpy(b, &f.hi, 8);
    std::memcpy(b + 8, &f.lo, 8);
    std::memcpy(b + 16, &e.exp, 8);
    body.insert(body.end(), b, b + (with_value ? 24 : 16));
  }
  SectionHeader sh;
  sh.type = type;
  sh.entry_bytes = with_value ? 24 : 16;
  sh.bucket = bucket;
  sh.count = entries.size();
  sh.entries_crc = Crc32c(body.data(), body.size());
  uint8_t hb[kSectionHeaderBytes];
  EncodeSectionHeader(sh, hb);
  out->insert(out->end(), hb, hb + sizeof(hb));
  out->insert(out->end(), body.begin(), body.end());
}

TEST_CASE("A state of the older (jti, exp) format keeps revoking until its exps pass",
          "[revocation_log]") {
  TempDir tmp;
  RevocationOptions o = Options(tmp.state());
  o.leeway_s = 0;
  WriteRevocations(tmp.state(), 0);  // STATE, with the default 4096-second windows
  StateFile state;
  {
    const std::vector<uint8_t> bytes = ReadBytes(tmp.file("STATE"));
    std::string why;
    REQUIRE(DecodeState(bytes.data(), bytes.size(), &state, &why));
  }
  const uint32_t shift = state.generation_shift;
  const KeyHasher h(state.secret);
  const int64_t w = int64_t{1} << shift;
  const int64_t start = (kNow >> shift) << shift;
  // 000001.snap: a generation section for the next window and a long-lived section.
  const LegacyEntry gen{"gen-a", start + w + 5};
  const LegacyEntry long_lived{"long-b", start + 100 * w};
  std::vector<uint8_t> snap(kSnapshotHeaderBytes);
  AppendSection(&snap, SectionType::kGeneration, gen.exp >> shift, h, {gen});
  AppendSection(&snap, SectionType::kLongLived, 0, h, {long_lived});
  SnapshotHeader header;
  header.generation_shift = shift;
  header.log_number = 1;
  header.global_watermark = std::numeric_limits<int64_t>::min();
  header.section_count = 2;
  header.base_bucket = start >> shift;
  EncodeSnapshotHeader(header, snap.data());
  uint8_t trailer[kSnapshotTrailerBytes];
  EncodeSnapshotTrailer(2, trailer);
  snap.insert(snap.end(), trailer, trailer + sizeof(trailer));
  WriteBytes(tmp.file("000001.snap"), snap);
  // 000002.log: a kJti record after it.
  const LegacyEntry logged{"log-c", start + 2 * w + 7};
  std::vector<uint8_t> log(2 * kRecordBytes);
  EncodeRecord(LogHeaderRecord(2), log.data());
  EncodeRecord({RecordType::kJti, logged.exp, h.LegacyJti(logged.jti, logged.exp)},
               log.data() + kRecordBytes);
  WriteBytes(tmp.file("000002.log"), log);

  auto check = [&](const RevocationStore& s) {
    for (const LegacyEntry& e : {gen, long_lived, logged}) {
      INFO(e.jti);
      Claims c = JtiClaims(e.jti, e.exp);
      CHECK(s.IsRevoked(c));  // without iss
      c.iss = "https://any.example";
      CHECK(s.IsRevoked(c));  // (jti, exp) entries hold under every issuer
      bool batch = false;
      s.IsRevokedBatch(&c, 1, &batch);
      CHECK(batch);
      CHECK_FALSE(s.IsRevoked(JtiClaims(e.jti, e.exp + 1)));  // the exp is part of the key
    }
  };
  {
    auto s = test::MustOpen(o);
    CHECK(s->Stats().legacy_revocations == 3);
    check(*s);
    // New revocations are keyed by issuer, next to the old entries.
    REQUIRE(s->RevokeJti("new", "https://a.example", start + 10 * w) == Status::kOk);
    REQUIRE(s->Compact() == Status::kOk);  // the old entries go out as kLongLived
  }
  auto s = test::MustOpen(o);
  CHECK(s->Stats().legacy_revocations == 3);
  CHECK(s->Stats().jti_revocations == 4);
  check(*s);
  Claims fresh = JtiClaims("new", 0);
  fresh.iss = "https://a.example";
  CHECK(s->IsRevoked(fresh));
  // Each old entry goes once its exp's window has passed: the generation entry first (kept to
  // the end of its window), then the logged one.
  CHECK(s->DropExpired(start + 2 * w) == 1);
  CHECK_FALSE(s->IsRevoked(JtiClaims(gen.jti, gen.exp)));
  CHECK(s->IsRevoked(JtiClaims(logged.jti, logged.exp)));
  CHECK(s->DropExpired(start + 3 * w) == 1);
  CHECK(s->Stats().legacy_revocations == 1);  // the long-lived one
}

}  // namespace
}  // namespace jwtgate::revoke
