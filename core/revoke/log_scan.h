// Reading a state directory back: classifying the damage in a log, and validating a snapshot.
//
// What a crash can do to a log. Records are appended in batches, and a batch is acknowledged
// only after fdatasync returned; the next batch is written only after that. So a crash
// (kill -9, power loss) can damage only the batch being written when it happened, at the end
// of the newest log: a partial record, zero-filled or garbage blocks. That is a torn tail.
// The rule that follows:
//   - In the newest log, everything after the last valid record is a torn tail: it was never
//     acknowledged, recovery drops it (and a writable store truncates it).
//   - Any invalid record *before* a valid one, or anywhere in an older log (which was synced
//     whole before the next log started), is corruption of acknowledged data: media damage or
//     tampering. Recovery reports it (file, offset, reason, how many valid records follow) and
//     refuses to open, unless told to skip damaged records.
// Limitation: damage that reaches the very end of the newest log is indistinguishable from a
// torn tail and is dropped as one; only an extra fsync per batch (a commit marker) could tell
// them apart, at twice the cost of every acknowledgement.
#ifndef JWTGATE_REVOKE_LOG_SCAN_H_
#define JWTGATE_REVOKE_LOG_SCAN_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "revoke/log_format.h"

namespace jwtgate::revoke {

struct LogScan {
  uint64_t valid_end = 0;   // bytes of the file to keep (a multiple of kRecordBytes)
  uint64_t torn_bytes = 0;  // after valid_end, newest log only
  // Offsets of damaged records before valid_end, ascending (a partial record at the end of an
  // older log included), with the reason of the first and the count of valid records after it.
  std::vector<uint64_t> corrupt;
  DecodeResult first_corrupt_reason = DecodeResult::kOk;
  uint64_t valid_after_first_corrupt = 0;
  uint64_t records = 0;  // valid records after the header
  std::string error;     // the file cannot be used at all (bad header)

  // Calls fn(const LogRecord&) for every valid record after the header, in file order.
  template <typename Fn>
  void ForEachRecord(const uint8_t* data, Fn&& fn) const {
    size_t next_bad = 0;
    for (uint64_t off = kRecordBytes; off + kRecordBytes <= valid_end; off += kRecordBytes) {
      if (next_bad < corrupt.size() && corrupt[next_bad] == off) {
        ++next_bad;
        continue;
      }
      fn(DecodeValidRecord(data + off));
    }
  }
};

// Scans the image of log `number` (`last`: the newest one).
LogScan ScanLog(const uint8_t* data, size_t size, uint64_t number, bool last);

// "corrupt record at offset 4128 (checksum mismatch); 17 valid records follow it".
std::string DescribeCorruption(const LogScan& scan);

struct SnapshotSection {
  SectionHeader header;
  const uint8_t* entries = nullptr;

  Fingerprint Entry(uint64_t i) const noexcept;  // (lo, hi) of entry i
  int64_t Value(uint64_t i) const noexcept;      // REQUIRES: 24-byte entries
};

struct SnapshotImage {
  SnapshotHeader header;
  std::vector<SnapshotSection> sections;
};

// Validates a whole snapshot image (header, every section and its entries' CRC, trailer).
bool ParseSnapshot(const uint8_t* data, size_t size, SnapshotImage* out, std::string* error);

}  // namespace jwtgate::revoke

#endif  // JWTGATE_REVOKE_LOG_SCAN_H_
