// On-disk formats of a revocation state directory. All integers are little-endian; every
// checksum is CRC-32C (crc32c.h). revocation_log_test.cc pins these bytes.
//
// Directory:
//   STATE        parameters and the hashing secret (72 bytes, written once, mode 0600)
//   LOCK         held with flock(LOCK_EX) by the one writable store
//   NNNNNN.log   append-only logs of 32-byte records, numbered from 1
//   NNNNNN.snap  snapshot of the state as of the end of log NNNNNN; logs up to NNNNNN are
//                then obsolete. Written to NNNNNN.snap.tmp, fsynced, renamed, dir fsynced.
//
// STATE (72 bytes):
//    0  "JWGSTATE"            8  u32 version (1)     12  u32 generation shift (log2 seconds)
//   16  u64 x4 FastHash secret                        48  16-byte SipHash key
//   64  u32 reserved (0)     68  u32 crc32c of [0, 68)
//
// Log record (32 bytes):
//    0  u32 crc32c of [4, 32)
//    4  u8  type (RecordType)  5  u8 version (1)  6  u16 reserved (0)
//    8  i64 value: the keep-until time (jti), the watermark (subject, issuer, global), or the
//           log number (header)
//   16  u64 fingerprint lo    24  u64 fingerprint hi     (header: lo = "JWGLOG01", hi = 0)
// Every log starts with a header record. Records are appended in batches (group commit), each
// batch written with one write(2) and made durable with one fdatasync(2) before any of its
// revocations is acknowledged. Fixed-size records keep a torn write aligned: a crash can leave
// a partial record or garbage only after the last durable batch.
//
// Snapshot: a 64-byte header, sections, and a 16-byte trailer.
//   header:  0 "JWGSNAP1"  8 u32 version (1)  12 u32 generation shift  16 u64 log number
//           24 i64 global watermark (INT64_MIN: none)  32 u64 section count
//           40 i64 first keep-until window still kept  48..59 reserved (0)
//           60 u32 crc32c of [0, 60)
//   section: 0 u32 type (SectionType)  4 u32 entry bytes (16 or 24)  8 i64 bucket (generation
//           sections; else 0)  16 u64 entry count  24 u32 crc32c of the entries
//           28 u32 crc32c of [0, 28); then count entries of (u64 hi, u64 lo[, i64 value])
//   trailer: 0 "JWGSEND1"  8 u32 section count  12 u32 crc32c of [0, 12)
//
// Formats. jti revocations were first keyed by (jti, exp): kJti records and kGeneration /
// kLongLived sections. Since they are keyed by (iss, jti) with a keep-until time instead
// (kIssuerJti, kAnyIssuerJti), a store still reads the older records and sections, keeps each
// entry as a (jti, exp) key until its exp (the legacy table), and writes it back only as a
// kLongLived section (value: exp) when it compacts. It never writes a kJti record or a
// kGeneration section. A version that predates kIssuerJti refuses the new records
// ("unknown record type"): downgrading needs the older state directory.
#ifndef JWTGATE_REVOKE_LOG_FORMAT_H_
#define JWTGATE_REVOKE_LOG_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "revoke/hash.h"

namespace jwtgate::revoke {

inline constexpr uint8_t kFormatVersion = 1;

enum class RecordType : uint8_t {
  kLogHeader = 1,
  kJti = 2,            // read only (older states): value: exp; fingerprint of (jti, exp)
  kSubject = 3,        // value: watermark; fingerprint of sub (any issuer)
  kIssuerSubject = 4,  // value: watermark; fingerprint of (iss, sub)
  kIssuer = 5,         // value: watermark; fingerprint of iss
  kGlobal = 6,         // value: watermark; no fingerprint (0, 0)
  kIssuerJti = 7,      // value: keep-until; fingerprint of (iss, jti)
  kAnyIssuerJti = 8,   // value: keep-until; fingerprint of jti (every issuer)
};

struct LogRecord {
  RecordType type = RecordType::kJti;
  int64_t value = 0;
  Fingerprint fp;
};

inline constexpr size_t kRecordBytes = 32;
inline constexpr uint64_t kLogMagic = 0x3130474f4c47574aull;  // "JWGLOG01" read as LE u64

void EncodeRecord(const LogRecord& r, uint8_t out[kRecordBytes]) noexcept;

enum class DecodeResult : uint8_t {
  kOk,
  kZero,
  kBadChecksum,
  kBadVersion,
  kBadType,
  kZeroFingerprint,
};
// Decodes one record. kZero: all 32 bytes are zero (space a crash left unwritten).
// kZeroFingerprint: a jti/subject/issuer record whose fingerprint has hi == 0, which KeyHasher
// never produces and the tables use as "empty slot": the record cannot have been written by
// the store, so it is corruption even with a valid checksum.
DecodeResult DecodeRecord(const uint8_t in[kRecordBytes], LogRecord* r) noexcept;

// Decodes a record already validated by DecodeRecord (recovery reads each log twice and checks
// the CRC once).
LogRecord DecodeValidRecord(const uint8_t in[kRecordBytes]) noexcept;

// A short description of a DecodeResult ("checksum mismatch").
const char* DescribeDecodeResult(DecodeResult r) noexcept;

LogRecord LogHeaderRecord(uint64_t log_number) noexcept;

// STATE file.
inline constexpr size_t kStateBytes = 72;
struct StateFile {
  uint32_t generation_shift = 0;
  HashSecret secret;
};
void EncodeState(const StateFile& s, uint8_t out[kStateBytes]) noexcept;
// False (with a reason) when the bytes are not a valid STATE file.
bool DecodeState(const uint8_t* in, size_t n, StateFile* s, std::string* why);

// Snapshot pieces.
enum class SectionType : uint32_t {
  kGeneration = 1,     // read only (older states): (jti, exp) set; bucket = exp >> shift;
                       // 16-byte entries
  kLongLived = 2,      // (jti, exp) entries of older states; 24-byte entries, value = exp
  kIssuer = 3,         // issuer watermarks; 24-byte entries
  kSubject = 4,        // subject watermarks (any issuer); 24-byte entries
  kIssuerSubject = 5,  // subject watermarks within one issuer; 24-byte entries
  kIssuerJti = 6,      // (iss, jti) revocations; 24-byte entries, value = keep-until
  kAnyIssuerJti = 7,   // jti revocations under every issuer; 24-byte entries, value = keep-until
};

inline constexpr size_t kSnapshotHeaderBytes = 64;
inline constexpr size_t kSectionHeaderBytes = 32;
inline constexpr size_t kSnapshotTrailerBytes = 16;

// Encoded little-endian at the byte offsets given: magic [0, 8), format version [8, 12), the
// fields below, zeros, CRC-32C of bytes [0, 60) at [60, 64).
struct SnapshotHeader {
  uint32_t generation_shift = 0;  // [12, 16)
  uint64_t log_number = 0;        // [16, 24)
  int64_t global_watermark = 0;   // [24, 32): the every-token watermark (revoke --all)
  uint64_t section_count = 0;     // [32, 40)
  int64_t base_bucket = 0;        // [40, 48)
};
void EncodeSnapshotHeader(const SnapshotHeader& h, uint8_t out[kSnapshotHeaderBytes]) noexcept;
bool DecodeSnapshotHeader(const uint8_t* in, SnapshotHeader* h) noexcept;

// Encoded little-endian: the fields at the offsets given, CRC-32C of bytes [0, 28) at [28, 32).
struct SectionHeader {
  SectionType type = SectionType::kGeneration;  // [0, 4)
  uint32_t entry_bytes = 0;                     // [4, 8): bytes of one entry
  int64_t bucket = 0;                           // [8, 16): kGeneration's exp >> shift
  uint64_t count = 0;                           // [16, 24): entries that follow
  uint32_t entries_crc = 0;                     // [24, 28): CRC-32C of the entries
};
void EncodeSectionHeader(const SectionHeader& h, uint8_t out[kSectionHeaderBytes]) noexcept;
bool DecodeSectionHeader(const uint8_t* in, SectionHeader* h) noexcept;

void EncodeSnapshotTrailer(uint32_t section_count, uint8_t out[kSnapshotTrailerBytes]) noexcept;
bool DecodeSnapshotTrailer(const uint8_t* in, uint32_t* section_count) noexcept;

// File names.
std::string LogFileName(uint64_t number);       // "000007.log"
std::string SnapshotFileName(uint64_t number);  // "000007.snap"
// Parses "NNNNNN.log" / "NNNNNN.snap"; false for any other name.
bool ParseFileName(const std::string& name, uint64_t* number, bool* is_log);

inline constexpr char kStateFileName[] = "STATE";
inline constexpr char kLockFileName[] = "LOCK";

}  // namespace jwtgate::revoke

#endif  // JWTGATE_REVOKE_LOG_FORMAT_H_
