// Fuzz target: the bytes of a revocation state directory's snapshot and log, recovered by
// RevocationStore::Open (core/revoke/log_format.h describes the formats).
//
// Input: a flags byte (Flags below), then (with kHasSnapshot) a 16-bit little-endian length and
// that many snapshot bytes, then the log bytes. The directory gets a fixed, valid STATE file; the
// snapshot becomes 000001.snap and the log 000002.log (000001.log without snapshot). With
// kFixChecksums the target recomputes every CRC-32C it can locate, so that mutations reach the
// meaning of records and sections, not only the checksum test.
//
// Oracles: Open either fails with a reason or yields a store that answers checks and takes a
// new revocation; with kCompact it also compacts and reopens from its own snapshot with the
// same content (revocation and watermark counts, global watermark) and the new revocation in
// effect. Never a crash, leak, hang or sanitizer report.
//
// The state directory lives in a NewMemoryFileEnv() passed in the store's options: the store's
// recovery, append, snapshot and compaction code runs unchanged over it, without the dozens
// of system calls per input that real files cost (which held this target to about a thousand
// inputs per second).
// The real-file path of the same code is covered by the unit and crash tests.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "jwtgate/file_env.h"
#include "jwtgate/revocation.h"
#include "revoke/crc32c.h"
#include "revoke/log_format.h"

namespace jwtgate::fuzz {
namespace {

enum Flags : uint8_t {
  kFixChecksums = 1 << 0,
  kReadOnly = 1 << 1,
  kSkipCorrupt = 1 << 2,
  kHasSnapshot = 1 << 3,
  kCompact = 1 << 4,
};

uint64_t Get(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void Put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

void FixLogChecksums(std::vector<uint8_t>* log) {
  for (size_t off = 0; off + revoke::kRecordBytes <= log->size(); off += revoke::kRecordBytes) {
    uint8_t* r = log->data() + off;
    bool zero = true;
    for (size_t i = 0; i < revoke::kRecordBytes; ++i) zero = zero && r[i] == 0;
    if (!zero) Put32(r, revoke::Crc32c(r + 4, revoke::kRecordBytes - 4));
  }
}

void FixSnapshotChecksums(std::vector<uint8_t>* snap) {
  uint8_t* d = snap->data();
  const size_t size = snap->size();
  if (size < revoke::kSnapshotHeaderBytes) return;
  Put32(d + 60, revoke::Crc32c(d, 60));
  const uint64_t sections = Get(d + 32, 8);
  size_t off = revoke::kSnapshotHeaderBytes;
  for (uint64_t i = 0; i < sections && off + revoke::kSectionHeaderBytes <= size; ++i) {
    const uint64_t entry_bytes = Get(d + off + 4, 4);
    const uint64_t count = Get(d + off + 16, 8);
    const size_t room = size - off - revoke::kSectionHeaderBytes;
    if (entry_bytes != 0 && count > room / entry_bytes) return;
    const size_t n = static_cast<size_t>(count * entry_bytes);
    Put32(d + off + 24, revoke::Crc32c(d + off + revoke::kSectionHeaderBytes, n));
    Put32(d + off + 28, revoke::Crc32c(d + off, 28));
    off += revoke::kSectionHeaderBytes + n;
  }
  if (off + revoke::kSnapshotTrailerBytes <= size) Put32(d + off + 12, revoke::Crc32c(d + off, 12));
}

constexpr char kStateDir[] = "fuzz-state";

// The file system of the current input: a new one for each input.
std::unique_ptr<FileEnv>& Files() {
  static std::unique_ptr<FileEnv>* const files = new std::unique_ptr<FileEnv>();  // never freed
  return *files;
}

void WriteFile(const std::string& path, const uint8_t* data, size_t n) {
  std::unique_ptr<WritableFile> f;
  std::string error;
  if (!Files()->CreateWritable(path, &f, &error) || !f->Write(data, n, &error)) {
    Fail("writing the input's files", error);
  }
}

// A fresh directory holding the fixed STATE (generation shift 12, as the store's default).
void ResetDir() {
  const std::string dir = kStateDir;
  Files() = NewMemoryFileEnv();
  std::string error;
  if (!Files()->EnsureDir(dir, /*create=*/true, &error)) Fail("making the state directory", error);
  revoke::StateFile state;
  state.generation_shift = 12;
  state.secret.fast = {0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull, 0x94d049bb133111ebull,
                       0x2545f4914f6cdd1dull};
  for (size_t i = 0; i < state.secret.sip.size(); ++i) {
    state.secret.sip[i] = static_cast<uint8_t>(i * 7 + 1);
  }
  uint8_t bytes[revoke::kStateBytes];
  revoke::EncodeState(state, bytes);
  WriteFile(dir + "/" + revoke::kStateFileName, bytes, sizeof(bytes));
}

RevocationOptions Options(uint8_t flags) {
  RevocationOptions o;
  o.dir = kStateDir;
  o.env = Files().get();
  o.create_if_missing = false;
  o.read_only = (flags & kReadOnly) != 0;
  o.skip_corrupt_records = (flags & kSkipCorrupt) != 0;
  o.now = kNow;
  o.sync = false;
  o.group_commit_max_delay_us = 0;
  o.initial_capacity = 16;
  return o;
}

struct Content {
  uint64_t jti, subjects, issuers;
  bool has_global;
  int64_t global;
  bool operator==(const Content&) const = default;
};

std::string Describe(const Content& c) {
  return "jti " + std::to_string(c.jti) + ", subjects " + std::to_string(c.subjects) +
         ", issuers " + std::to_string(c.issuers) + ", global " +
         (c.has_global ? std::to_string(c.global) : std::string("none"));
}

Content ContentOf(const RevocationStats& s) {
  return {s.jti_revocations, s.subject_watermarks, s.issuer_watermarks, s.has_global_watermark,
          s.has_global_watermark ? s.global_watermark : 0};
}

Claims TokenClaims(std::string_view jti, int64_t exp) {
  Claims c;
  c.jti = jti;
  c.sub = "subject";
  c.iss = "https://issuer.example";
  c.has_exp = true;
  c.exp = exp;
  c.has_iat = true;
  c.iat = kNow - 10;
  return c;
}

// JWTGATE_FUZZ_VERBOSE=1 prints what Open made of each input (for checking seeds).
bool Verbose() {
  static const bool verbose = std::getenv("JWTGATE_FUZZ_VERBOSE") != nullptr;
  return verbose;
}

void Run(uint8_t flags) {
  std::string error;
  auto opened = RevocationStore::Open(Options(flags), &error);
  if (Verbose()) {
    std::fprintf(stderr, "open: %s\n",
                 opened.ok() ? ("ok, " + std::to_string((*opened)->Stats().jti_revocations) +
                                " jti revocations")
                                   .c_str()
                             : error.c_str());
  }
  if (!opened.ok()) {
    if (error.empty()) Fail("Open failed without a reason");
    return;
  }
  std::unique_ptr<RevocationStore> store = std::move(opened).value();
  const Claims probe = TokenClaims("probe", kNow + 600);
  bool batch = false;
  store->IsRevokedBatch(&probe, 1, &batch);
  if (batch != store->IsRevoked(probe)) Fail("batch and single checks disagree");
  if ((flags & kReadOnly) != 0) {
    if (store->RevokeJti("x", "", kNow + 600) == Status::kOk) {
      Fail("a read-only store took a write");
    }
    return;
  }
  const Claims added = TokenClaims("added-by-fuzz", kNow + 600);
  if (store->RevokeJti(added.jti, added.iss, added.exp) != Status::kOk) {
    Fail("a recovered store refused a revocation", store->last_error());
  }
  if (!store->IsRevoked(added)) Fail("a fresh revocation is not in effect");
  if ((flags & kCompact) == 0) return;
  store->DropExpired(kNow);
  const Content before = ContentOf(store->Stats());
  if (store->Compact() != Status::kOk) Fail("Compact failed", store->last_error());
  store.reset();

  RevocationOptions again = Options(flags);
  again.skip_corrupt_records = false;  // a compacted state has nothing to skip
  auto reopened = RevocationStore::Open(again, &error);
  if (!reopened.ok()) Fail("the compacted state does not reopen", error);
  store = std::move(reopened).value();
  store->DropExpired(kNow);
  const Content after = ContentOf(store->Stats());
  if (!(after == before)) {
    Fail("the compacted state differs",
         "before " + Describe(before) + ", after " + Describe(after));
  }
  if (!store->IsRevoked(added)) Fail("a compacted revocation is lost");
}

}  // namespace
}  // namespace jwtgate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace jwtgate::fuzz;
  if (size < 1 || size > 1 << 16) return -1;
  const uint8_t flags = data[0];
  size_t off = 1;
  std::vector<uint8_t> snap;
  if ((flags & kHasSnapshot) != 0) {
    if (size < 3) return -1;
    const size_t n = data[1] | static_cast<size_t>(data[2]) << 8;
    off = 3 + (n < size - 3 ? n : size - 3);
    snap.assign(data + 3, data + off);
  }
  std::vector<uint8_t> log(data + off, data + size);
  if ((flags & kFixChecksums) != 0) {
    FixLogChecksums(&log);
    FixSnapshotChecksums(&snap);
  }
  ResetDir();
  const std::string dir = kStateDir;
  if ((flags & kHasSnapshot) != 0) {
    WriteFile(dir + "/" + jwtgate::revoke::SnapshotFileName(1), snap.data(), snap.size());
    WriteFile(dir + "/" + jwtgate::revoke::LogFileName(2), log.data(), log.size());
  } else {
    WriteFile(dir + "/" + jwtgate::revoke::LogFileName(1), log.data(), log.size());
  }
  Run(flags);
  return 0;
}
