#include "revoke/log_format.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "revoke/crc32c.h"

namespace jwtgate::revoke {
namespace {

void Put32(uint8_t* p, uint32_t v) noexcept { std::memcpy(p, &v, 4); }
void Put64(uint8_t* p, uint64_t v) noexcept { std::memcpy(p, &v, 8); }
uint32_t Get32(const uint8_t* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t Get64(const uint8_t* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

constexpr char kStateMagic[8] = {'J', 'W', 'G', 'S', 'T', 'A', 'T', 'E'};
constexpr char kSnapshotMagic[8] = {'J', 'W', 'G', 'S', 'N', 'A', 'P', '1'};
constexpr char kTrailerMagic[8] = {'J', 'W', 'G', 'S', 'E', 'N', 'D', '1'};

bool ValidRecordType(uint8_t t) noexcept {
  return t >= static_cast<uint8_t>(RecordType::kLogHeader) &&
         t <= static_cast<uint8_t>(RecordType::kAnyIssuerJti);
}

}  // namespace

void EncodeRecord(const LogRecord& r, uint8_t out[kRecordBytes]) noexcept {
  out[4] = static_cast<uint8_t>(r.type);
  out[5] = kFormatVersion;
  out[6] = 0;
  out[7] = 0;
  Put64(out + 8, static_cast<uint64_t>(r.value));
  Put64(out + 16, r.fp.lo);
  Put64(out + 24, r.fp.hi);
  Put32(out, Crc32c(out + 4, kRecordBytes - 4));
}

DecodeResult DecodeRecord(const uint8_t in[kRecordBytes], LogRecord* r) noexcept {
  static constexpr uint8_t kZeroes[kRecordBytes] = {};
  if (std::memcmp(in, kZeroes, kRecordBytes) == 0) return DecodeResult::kZero;
  if (Get32(in) != Crc32c(in + 4, kRecordBytes - 4)) return DecodeResult::kBadChecksum;
  if (in[5] != kFormatVersion || in[6] != 0 || in[7] != 0) return DecodeResult::kBadVersion;
  if (!ValidRecordType(in[4])) return DecodeResult::kBadType;
  r->type = static_cast<RecordType>(in[4]);
  r->value = static_cast<int64_t>(Get64(in + 8));
  r->fp.lo = Get64(in + 16);
  r->fp.hi = Get64(in + 24);
  const bool has_fingerprint = r->type != RecordType::kLogHeader && r->type != RecordType::kGlobal;
  if (has_fingerprint && r->fp.hi == 0) return DecodeResult::kZeroFingerprint;
  return DecodeResult::kOk;
}

LogRecord DecodeValidRecord(const uint8_t in[kRecordBytes]) noexcept {
  return LogRecord{static_cast<RecordType>(in[4]),
                   static_cast<int64_t>(Get64(in + 8)),
                   {Get64(in + 16), Get64(in + 24)}};
}

const char* DescribeDecodeResult(DecodeResult r) noexcept {
  // Indexed by DecodeResult.
  static constexpr const char* kDescriptions[] = {
      "valid",                   // kOk
      "all zero bytes",          // kZero
      "checksum mismatch",       // kBadChecksum
      "unknown format version",  // kBadVersion
      "unknown record type",     // kBadType
      "zero fingerprint",        // kZeroFingerprint
  };
  static_assert(std::size(kDescriptions) ==
                static_cast<size_t>(DecodeResult::kZeroFingerprint) + 1);
  const auto i = static_cast<size_t>(r);
  return i < std::size(kDescriptions) ? kDescriptions[i] : "invalid";
}

LogRecord LogHeaderRecord(uint64_t log_number) noexcept {
  return LogRecord{RecordType::kLogHeader, static_cast<int64_t>(log_number), {kLogMagic, 0}};
}

void EncodeState(const StateFile& s, uint8_t out[kStateBytes]) noexcept {
  std::memset(out, 0, kStateBytes);
  std::memcpy(out, kStateMagic, 8);
  Put32(out + 8, kFormatVersion);
  Put32(out + 12, s.generation_shift);
  for (size_t i = 0; i < 4; ++i) Put64(out + 16 + 8 * i, s.secret.fast[i]);
  std::memcpy(out + 48, s.secret.sip.data(), 16);
  Put32(out + 68, Crc32c(out, 68));
}

bool DecodeState(const uint8_t* in, size_t n, StateFile* s, std::string* why) {
  if (n != kStateBytes) {
    *why = "STATE has " + std::to_string(n) + " bytes, expected " + std::to_string(kStateBytes);
    return false;
  }
  if (std::memcmp(in, kStateMagic, 8) != 0) {
    *why = "STATE: bad magic (not a jwtgate revocation state)";
    return false;
  }
  if (Get32(in + 68) != Crc32c(in, 68)) {
    *why = "STATE: checksum mismatch";
    return false;
  }
  if (Get32(in + 8) != kFormatVersion) {
    *why = "STATE: unsupported format version " + std::to_string(Get32(in + 8));
    return false;
  }
  s->generation_shift = Get32(in + 12);
  if (s->generation_shift < 1 || s->generation_shift > 40) {
    *why = "STATE: generation shift out of range";
    return false;
  }
  for (size_t i = 0; i < 4; ++i) s->secret.fast[i] = Get64(in + 16 + 8 * i);
  std::memcpy(s->secret.sip.data(), in + 48, 16);
  return true;
}

void EncodeSnapshotHeader(const SnapshotHeader& h, uint8_t out[kSnapshotHeaderBytes]) noexcept {
  std::memset(out, 0, kSnapshotHeaderBytes);
  std::memcpy(out, kSnapshotMagic, 8);
  Put32(out + 8, kFormatVersion);
  Put32(out + 12, h.generation_shift);
  Put64(out + 16, h.log_number);
  Put64(out + 24, static_cast<uint64_t>(h.global_watermark));
  Put64(out + 32, h.section_count);
  Put64(out + 40, static_cast<uint64_t>(h.base_bucket));
  Put32(out + 60, Crc32c(out, 60));
}

bool DecodeSnapshotHeader(const uint8_t* in, SnapshotHeader* h) noexcept {
  if (std::memcmp(in, kSnapshotMagic, 8) != 0 || Get32(in + 60) != Crc32c(in, 60) ||
      Get32(in + 8) != kFormatVersion) {
    return false;
  }
  h->generation_shift = Get32(in + 12);
  h->log_number = Get64(in + 16);
  h->global_watermark = static_cast<int64_t>(Get64(in + 24));
  h->section_count = Get64(in + 32);
  h->base_bucket = static_cast<int64_t>(Get64(in + 40));
  return true;
}

void EncodeSectionHeader(const SectionHeader& h, uint8_t out[kSectionHeaderBytes]) noexcept {
  Put32(out, static_cast<uint32_t>(h.type));
  Put32(out + 4, h.entry_bytes);
  Put64(out + 8, static_cast<uint64_t>(h.bucket));
  Put64(out + 16, h.count);
  Put32(out + 24, h.entries_crc);
  Put32(out + 28, Crc32c(out, 28));
}

bool DecodeSectionHeader(const uint8_t* in, SectionHeader* h) noexcept {
  if (Get32(in + 28) != Crc32c(in, 28)) return false;
  const uint32_t type = Get32(in);
  if (type < static_cast<uint32_t>(SectionType::kGeneration) ||
      type > static_cast<uint32_t>(SectionType::kAnyIssuerJti)) {
    return false;
  }
  h->type = static_cast<SectionType>(type);
  h->entry_bytes = Get32(in + 4);
  const uint32_t expected = h->type == SectionType::kGeneration ? 16 : 24;
  if (h->entry_bytes != expected) return false;
  h->bucket = static_cast<int64_t>(Get64(in + 8));
  h->count = Get64(in + 16);
  h->entries_crc = Get32(in + 24);
  return true;
}

void EncodeSnapshotTrailer(uint32_t section_count, uint8_t out[kSnapshotTrailerBytes]) noexcept {
  std::memcpy(out, kTrailerMagic, 8);
  Put32(out + 8, section_count);
  Put32(out + 12, Crc32c(out, 12));
}

bool DecodeSnapshotTrailer(const uint8_t* in, uint32_t* section_count) noexcept {
  if (std::memcmp(in, kTrailerMagic, 8) != 0 || Get32(in + 12) != Crc32c(in, 12)) return false;
  *section_count = Get32(in + 8);
  return true;
}

std::string LogFileName(uint64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%06" PRIu64 ".log", number);
  return buf;
}

std::string SnapshotFileName(uint64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%06" PRIu64 ".snap", number);
  return buf;
}

bool ParseFileName(const std::string& name, uint64_t* number, bool* is_log) {
  size_t digits = 0;
  uint64_t n = 0;
  while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9') {
    if (n > (UINT64_MAX - 9) / 10) return false;
    n = n * 10 + static_cast<uint64_t>(name[digits] - '0');
    ++digits;
  }
  if (digits == 0) return false;
  const std::string rest = name.substr(digits);
  if (rest == ".log") {
    *is_log = true;
  } else if (rest == ".snap") {
    *is_log = false;
  } else {
    return false;
  }
  *number = n;
  return true;
}

}  // namespace jwtgate::revoke
