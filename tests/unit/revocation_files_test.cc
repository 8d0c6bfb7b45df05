// The revocation store over NewMemoryFileEnv() (what the recovery fuzz target runs on): the
// same files, byte for byte, as on the real file system, and the same recovery, locking and
// error behaviour.
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

#include "jwtgate/file_env.h"
#include "jwtgate/revocation.h"
#include "revoke/log_format.h"
#include "revocation_support.h"
#include "temp_dir.h"

namespace jwtgate::revoke {
namespace {

constexpr int64_t kNow = test::kStoreNow;
using test::MustOpen;

RevocationOptions Options(const std::string& dir) { return test::StoreOptions(dir); }

// A file system in memory, and the options of a store in it.
class MemoryFiles {
 public:
  RevocationOptions Options(const std::string& dir) {
    RevocationOptions o = test::StoreOptions(dir);
    o.env = env_.get();
    return o;
  }
  FileEnv& env() { return *env_; }
  void Write(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::unique_ptr<WritableFile> f;
    std::string error;
    REQUIRE(env_->CreateWritable(path, &f, &error));
    REQUIRE(f->Write(bytes.data(), bytes.size(), &error));
  }
  std::vector<uint8_t> Read(const std::string& path) {
    std::unique_ptr<FileImage> f;
    std::string error;
    INFO(error);
    REQUIRE(env_->ReadFile(path, &f, &error));
    return {f->data(), f->data() + f->size()};
  }

 private:
  const std::unique_ptr<FileEnv> env_ = NewMemoryFileEnv();
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
  std::string error;
  REQUIRE(mem.env().EnsureDir("mem", /*create=*/true, &error));
  mem.Write(std::string("mem/") + kStateFileName, ReadDisk(disk_dir + "/" + kStateFileName));
  {
    auto m = MustOpen(mem.Options("mem"));
    Exercise(*m);
  }
  std::vector<std::string> mem_names;
  REQUIRE(mem.env().ListDir("mem", &mem_names, &error));
  std::sort(mem_names.begin(), mem_names.end());
  CHECK(mem_names == disk_names);
  for (const std::string& n : disk_names) {
    INFO(n);
    CHECK(mem.Read("mem/" + n) == ReadDisk(disk_dir + "/" + n));
  }
}

TEST_CASE("A store on memory files recovers what it acknowledged", "[revocation_files]") {
  MemoryFiles mem;
  {
    auto s = MustOpen(mem.Options("state"));
    Exercise(*s);
  }
  auto s = MustOpen(mem.Options("state"));
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
    auto s = MustOpen(mem.Options("state"));
    REQUIRE(s->RevokeJti("kept", "", kNow + 600) == Status::kOk);
  }
  std::vector<std::string> names;
  std::string error;
  REQUIRE(mem.env().ListDir("state", &names, &error));
  std::string log;
  for (const std::string& n : names) {
    if (n.size() > 4 && n.substr(n.size() - 4) == ".log") log = "state/" + n;
  }
  REQUIRE_FALSE(log.empty());
  std::vector<uint8_t> bytes = mem.Read(log);
  const size_t intact = bytes.size();
  bytes.resize(intact + kRecordBytes / 2, 0x41);  // half a record: a crash mid-append
  mem.Write(log, bytes);

  auto s = MustOpen(mem.Options("state"));
  CHECK(s->Stats().recovery.torn_tail_bytes == kRecordBytes / 2);
  CHECK(s->IsRevoked(Token("kept", kNow + 600)));
  CHECK(mem.Read(log).size() == intact);

  auto second = RevocationStore::Open(mem.Options("state"), &error);
  CHECK(second.status() == Status::kInternalError);
  CHECK(error.find("held by another process") != std::string::npos);
}

TEST_CASE("Memory files: a missing directory is reported like on disk", "[revocation_files]") {
  MemoryFiles mem;
  RevocationOptions o = mem.Options("absent");
  o.create_if_missing = false;
  std::string error;
  auto s = RevocationStore::Open(o, &error);
  CHECK(s.status() == Status::kInternalError);
  CHECK(error == "stat(absent): No such file or directory");
}

TEST_CASE("Two memory file systems share nothing, and no process-wide state is left",
          "[revocation_files]") {
  // The store takes its FileEnv from its options: stores on different file systems, and on
  // the real one, coexist in one process.
  MemoryFiles a;
  MemoryFiles b;
  const test::TempDir tmp("jwtgate-revocation-files");
  auto on_a = MustOpen(a.Options("state"));
  auto on_b = MustOpen(b.Options("state"));  // the same path, another file system: no lock clash
  auto on_disk = MustOpen(Options(tmp.state()));
  REQUIRE(on_a->RevokeJti("only-on-a", "", kNow + 600) == Status::kOk);
  CHECK(on_a->IsRevoked(Token("only-on-a", kNow + 600)));
  CHECK_FALSE(on_b->IsRevoked(Token("only-on-a", kNow + 600)));
  CHECK_FALSE(on_disk->IsRevoked(Token("only-on-a", kNow + 600)));
  CHECK_FALSE(std::filesystem::exists("state"));
}

}  // namespace
}  // namespace jwtgate::revoke
