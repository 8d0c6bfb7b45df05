// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the per-record and per-section
// checksum of the revocation log and snapshot.
//
// Why CRC-32C: it is the checksum of iSCSI, ext4 metadata, LevelDB and RocksDB logs; it
// detects every burst error up to 32 bits and every error of up to 3 bits (Hamming distance 4)
// in messages far longer than our 32-byte records, and x86-64 computes it in hardware
// (SSE 4.2 `crc32`) at several GB/s, so recovery is bound by the disk, not the checksum.
// OpenSSL and zlib offer only CRC-32 (IEEE) or cryptographic digests, hence this file: a
// portable slicing-by-8 implementation and a hardware one, selected at run time, checked
// against each other and against RFC 3720 test vectors in revocation_log_test.cc.
#ifndef JWTGATE_REVOKE_CRC32C_H_
#define JWTGATE_REVOKE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace jwtgate::revoke {

// CRC-32C of `n` bytes at `data`, continuing from `crc` (the CRC of the preceding bytes; 0
// for none).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n) noexcept;

inline uint32_t Crc32c(const void* data, size_t n) noexcept { return Crc32cExtend(0, data, n); }

// The portable implementation, always available (tests compare it with the dispatched one).
uint32_t Crc32cPortable(uint32_t crc, const void* data, size_t n) noexcept;

// True when Crc32cExtend uses the SSE 4.2 instruction.
bool Crc32cIsHardware() noexcept;

}  // namespace jwtgate::revoke

#endif  // JWTGATE_REVOKE_CRC32C_H_
