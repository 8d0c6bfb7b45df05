#include "revoke/log_scan.h"

#include <cstring>

#include "revoke/crc32c.h"

namespace jwtgate::revoke {
namespace {

uint64_t Get64(const uint8_t* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

bool IsHeaderOf(const uint8_t* p, uint64_t number) noexcept {
  LogRecord r;
  return DecodeRecord(p, &r) == DecodeResult::kOk && r.type == RecordType::kLogHeader &&
         r.value == static_cast<int64_t>(number) && r.fp.lo == kLogMagic && r.fp.hi == 0;
}

}  // namespace

LogScan ScanLog(const uint8_t* data, size_t size, uint64_t number, bool last) {
  LogScan s;
  const uint64_t full = size / kRecordBytes;
  // Classify every record after the header.
  std::vector<uint64_t> bad;
  std::vector<DecodeResult> why;
  uint64_t last_valid = 0;  // index; 0 is the header
  for (uint64_t i = 1; i < full; ++i) {
    LogRecord r;
    DecodeResult d = DecodeRecord(data + i * kRecordBytes, &r);
    if (d == DecodeResult::kOk && r.type == RecordType::kLogHeader) d = DecodeResult::kBadType;
    if (d == DecodeResult::kOk) {
      last_valid = i;
      ++s.records;
    } else {
      bad.push_back(i);
      why.push_back(d);
    }
  }
  const bool header_ok = full > 0 && IsHeaderOf(data, number);
  if (!header_ok) {
    if (last && s.records == 0) {  // the log died before its header was durable
      s.valid_end = 0;
      s.torn_bytes = size;
      s.records = 0;
      return s;
    }
    s.error = full == 0 ? "shorter than its header record" : "bad log header record";
    return s;
  }
  if (last) {
    s.valid_end = (last_valid + 1) * kRecordBytes;
    s.torn_bytes = size - s.valid_end;
  } else {
    s.valid_end = full * kRecordBytes;
  }
  for (size_t k = 0; k < bad.size(); ++k) {
    if (bad[k] * kRecordBytes >= s.valid_end) break;
    if (s.corrupt.empty()) {
      s.first_corrupt_reason = why[k];
      // Valid records after it: the indices up to last_valid that are not bad.
      uint64_t bad_after = 0;
      for (size_t j = k + 1; j < bad.size() && bad[j] <= last_valid; ++j) ++bad_after;
      s.valid_after_first_corrupt = last_valid > bad[k] ? (last_valid - bad[k]) - bad_after : 0;
    }
    s.corrupt.push_back(bad[k] * kRecordBytes);
  }
  if (!last && size % kRecordBytes != 0) {
    // An older log was synced whole before the next one started: a partial record is damage.
    if (s.corrupt.empty()) {
      s.first_corrupt_reason = DecodeResult::kZero;
      s.valid_after_first_corrupt = 0;
    }
    s.corrupt.push_back(full * kRecordBytes);
  }
  return s;
}

std::string DescribeCorruption(const LogScan& scan) {
  if (scan.corrupt.empty()) return "no corruption";
  std::string m = "corrupt record at offset " + std::to_string(scan.corrupt.front()) + " (" +
                  DescribeDecodeResult(scan.first_corrupt_reason) + "); " +
                  std::to_string(scan.valid_after_first_corrupt) + " valid records follow it";
  if (scan.corrupt.size() > 1) {
    m += "; " + std::to_string(scan.corrupt.size()) + " damaged records in all";
  }
  return m;
}

Fingerprint SnapshotSection::Entry(uint64_t i) const noexcept {
  const uint8_t* p = entries + i * header.entry_bytes;
  return {Get64(p + 8), Get64(p)};
}

int64_t SnapshotSection::Value(uint64_t i) const noexcept {
  return static_cast<int64_t>(Get64(entries + i * header.entry_bytes + 16));
}

bool ParseSnapshot(const uint8_t* data, size_t size, SnapshotImage* out, std::string* error) {
  if (size < kSnapshotHeaderBytes + kSnapshotTrailerBytes) {
    *error = "truncated snapshot (" + std::to_string(size) + " bytes)";
    return false;
  }
  if (!DecodeSnapshotHeader(data, &out->header)) {
    *error = "bad snapshot header";
    return false;
  }
  uint64_t off = kSnapshotHeaderBytes;
  const uint64_t end = size - kSnapshotTrailerBytes;
  out->sections.clear();
  for (uint64_t k = 0; k < out->header.section_count; ++k) {
    SnapshotSection s;
    if (end - off < kSectionHeaderBytes || !DecodeSectionHeader(data + off, &s.header)) {
      *error = "bad section header at offset " + std::to_string(off);
      return false;
    }
    off += kSectionHeaderBytes;
    const uint64_t entry_bytes = s.header.entry_bytes;
    if (s.header.count > (end - off) / entry_bytes) {
      *error = "section at offset " + std::to_string(off - kSectionHeaderBytes) +
               " runs past the end of the file";
      return false;
    }
    const uint64_t bytes = s.header.count * entry_bytes;
    s.entries = data + off;
    if (Crc32c(s.entries, bytes) != s.header.entries_crc) {
      *error = "checksum mismatch in the entries of the section at offset " +
               std::to_string(off - kSectionHeaderBytes);
      return false;
    }
    // Every entry starts with its fingerprint's hi word, never 0 for a stored id (0 marks an
    // empty table slot): an entry with hi == 0 was not written by the store.
    for (uint64_t e = 0; e < s.header.count; ++e) {
      uint64_t hi;
      std::memcpy(&hi, s.entries + e * entry_bytes, sizeof hi);
      if (hi == 0) {
        *error = "zero fingerprint in entry " + std::to_string(e) + " of the section at offset " +
                 std::to_string(off - kSectionHeaderBytes);
        return false;
      }
    }
    off += bytes;
    out->sections.push_back(s);
  }
  uint32_t sections = 0;
  if (off != end || !DecodeSnapshotTrailer(data + off, &sections) ||
      sections != out->header.section_count) {
    *error = "bad snapshot trailer";
    return false;
  }
  return true;
}

}  // namespace jwtgate::revoke
