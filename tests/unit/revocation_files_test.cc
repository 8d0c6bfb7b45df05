// The revocation store over revoke::MemoryFileSystem (what the recovery fuzz target runs on):
// the same files, byte for byte, as on the real file system, and the same recovery, locking
// and error behaviour.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "jwtgate/revocation.h"
#include "revoke/file_io.h"
#include "revoke/log_format.h"
#include "revocation_support.h"
#include "temp_dir.h"

namespace jwtgate::revoke {
namespace {

constexpr int64_t kNow = test::kStoreNow;
using test::MustOpen;

RevocationOptions Options(const std::string& dir) { return test::StoreOptions(dir); }

// Installs a fresh MemoryFileSystem for the scope.
class MemoryFiles {
 public:
  MemoryFiles() { MemoryFileSystem::Install(&fs_); }
  ~MemoryFiles() { MemoryFileSystem::Install(nullptr); }
  MemoryFiles(const MemoryFiles&) = delete;
  MemoryFiles& operator=(const MemoryFiles&) = delete;
  MemoryFileSystem& fs() { return fs_; }

 private:
  MemoryFileSystem fs_;
};

// The same writes on any file system: two batches, a watermark, a compaction, one more.
void Exercise(RevocationStore& s) {
  REQUIRE(s.RevokeJti("jti-1", "", kNow + 600) == Status::kOk);
  const Revocation batch[] = {Revocation::Jti("jti-2", "", kNow + 7200),
                              Revocation::Jti("jti-3", "", RevocationStore::kNoExp),
                              Revocation::Subject("alice", kNow - 5, "https://issuer.example")};
  REQUIRE(s.Revoke(batch) == Status::kOk);
  REQUIRE(s.Compact() == Status::kOk);
  REQUIRE(s.RevokeAll(kNow - 3600) == Status::kOk);
}

std::vector<uint8_t> ReadDisk(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Claims Token(std::string_view jti, int64_t exp) {
  Claims c;
  c.jti = jti;
  c.has_exp = exp != RevocationStore::kNoExp;
  c.exp = exp;
  c.has_iat = true;
  c.iat = kNow - 10;
  return c;
}

TEST_CASE("A store on memory files writes the same bytes as on disk", "[revocation_files]") {
  const test::TempDir tmp("jwtgate-revocation-files");
  const std::string disk_dir = tmp.state();
  {
    auto disk = MustOpen(Options(disk_dir));
    Exercise(*disk);
  }
  std::vector<std::string> disk_names;
  for (const auto& e : std::filesystem::directory_iterator(disk_dir)) {
    disk_names.push_back(e.path().filename().string());
  }
  std::sort(disk_names.begin(), disk_names.end());

  MemoryFiles mem;
  // The same secret (STATE holds it), so that the fingerprints in the files agree.
  const std::vector<uint8_t> state = ReadDisk(disk_dir + "/" + kStateFileName);
  mem.fs().MakeDir("mem");
  mem.fs().WriteFile(std::string("mem/") + kStateFileName, state.data(), state.size());
  {
    auto m = MustOpen(Options("mem"));
    Exercise(*m);
  }
  std::vector<std::string> mem_names;
  std::string error;
  REQUIRE(ListDir("mem", &mem_names, &error));
  std::sort(mem_names.begin(), mem_names.end());
  CHECK(mem_names == disk_names);
  for (const std::string& n : disk_names) {
    INFO(n);
    std::vector<uint8_t> bytes;
    REQUIRE(mem.fs().ReadFile("mem/" + n, &bytes));
    CHECK(bytes == ReadDisk(disk_dir + "/" + n));
  }
}

TEST_CASE("A store on memory files recovers what it acknowledged", "[revocation_files]") {
  MemoryFiles mem;
  {
    auto s = MustOpen(Options("state"));
    Exercise(*s);
  }
  auto s = MustOpen(Options("state"));
  const RevocationStats st = s->Stats();
  CHECK(st.recovery.snapshot_number == 1);
  CHECK(st.recovery.records_replayed == 1);  // the global watermark after the snapshot
  CHECK(st.jti_revocations == 3);
  CHECK(st.subject_watermarks == 1);
  CHECK(st.global_watermark == kNow - 3600);
  CHECK(s->IsRevoked(Token("jti-1", kNow + 600)));
  CHECK(s->IsRevoked(Token("jti-3", RevocationStore::kNoExp)));
  CHECK_FALSE(s->IsRevoked(Token("jti-9", kNow + 600)));
}

TEST_CASE("Memory files: a torn tail is truncated, a second writer is refused",
          "[revocation_files]") {
  MemoryFiles mem;
  {
    auto s = MustOpen(Options("state"));
    REQUIRE(s->RevokeJti("kept", "", kNow + 600) == Status::kOk);
  }
  std::vector<std::string> names;
  std::string error;
  REQUIRE(ListDir("state", &names, &error));
  std::string log;
  for (const std::string& n : names) {
    if (n.size() > 4 && n.substr(n.size() - 4) == ".log") log = "state/" + n;
  }
  REQUIRE_FALSE(log.empty());
  std::vector<uint8_t> bytes;
  REQUIRE(mem.fs().ReadFile(log, &bytes));
  const size_t intact = bytes.size();
  bytes.resize(intact + kRecordBytes / 2, 0x41);  // half a record: a crash mid-append
  mem.fs().WriteFile(log, bytes.data(), bytes.size());

  auto s = MustOpen(Options("state"));
  CHECK(s->Stats().recovery.torn_tail_bytes == kRecordBytes / 2);
  CHECK(s->IsRevoked(Token("kept", kNow + 600)));
  REQUIRE(mem.fs().ReadFile(log, &bytes));
  CHECK(bytes.size() == intact);

  auto second = RevocationStore::Open(Options("state"), &error);
  CHECK(second.status() == Status::kInternalError);
  CHECK(error.find("held by another process") != std::string::npos);
}

TEST_CASE("Memory files: a missing directory is reported like on disk", "[revocation_files]") {
  MemoryFiles mem;
  RevocationOptions o = Options("absent");
  o.create_if_missing = false;
  std::string error;
  auto s = RevocationStore::Open(o, &error);
  CHECK(s.status() == Status::kInternalError);
  CHECK(error == "stat(absent): No such file or directory");
}

}  // namespace
}  // namespace jwtgate::revoke
