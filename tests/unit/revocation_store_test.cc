// RevocationStore: what is revoked ((iss, jti) whatever the token's exp, watermarks and their
// max, the iat tie rule, fail-closed tokens without iat), keep-until windows, recovery,
// compaction, states of the older (jti, exp) format, concurrency.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "jwtgate/revocation.h"
#include "revocation_support.h"
#include "temp_dir.h"

namespace jwtgate {
namespace {

constexpr int64_t kNow = test::kStoreNow;
constexpr char kIss[] = "https://issuer.example";
using test::MustOpen;
using test::TempDir;

RevocationOptions Options(const std::string& dir) { return test::StoreOptions(dir); }


struct Token {
  std::string jti;
  int64_t exp = 0;  // 0: no exp
  std::string sub;
  std::string iss;
  bool has_iat = true;
  int64_t iat = kNow - 10;

  Claims claims() const {
    return Claims{.iss = iss,
                  .sub = sub,
                  .jti = jti,
                  .has_exp = exp != 0,
                  .has_iat = has_iat,
                  .exp = exp,
                  .iat = iat};
  }
};

// Claims viewing `jti` (which must outlive them) for a token of kIss with this exp and an iat.
Claims JtiClaims(std::string_view jti, int64_t exp) {
  return Claims{
      .iss = kIss, .jti = jti, .has_exp = true, .has_iat = true, .exp = exp, .iat = kNow - 10};
}

bool Revoked(const RevocationStore& s, const Token& t) {
  const Claims c = t.claims();
  bool batch = false;
  s.IsRevokedBatch(&c, 1, &batch);
  const bool single = s.IsRevoked(c);
  CHECK(single == batch);
  return single;
}

std::string Jti(uint64_t i) { return "jti-" + std::to_string(i) + "-7f3c2a9e"; }

TEST_CASE("A jti revocation matches its (iss, jti) whatever the token's exp",
          "[revocation_store]") {
  // Regression: revocations were keyed by (jti, exp), so revoking with an exp other than the
  // token's own answered kOk and revoked nothing. exp now only says how long to keep it.
  TempDir tmp;
  auto s = MustOpen(Options(tmp.state()));
  const int64_t exp = kNow + 3600;
  REQUIRE(s->RevokeJti("abc", kIss, exp) == Status::kOk);
  REQUIRE(s->RevokeJti("kept-for-ever", kIss, RevocationStore::kNoExp) == Status::kOk);
  REQUIRE(s->RevokeJti("any-issuer", "", kNow + 60) == Status::kOk);
  REQUIRE(s->RevokeJti("c", "https://ab", exp) == Status::kOk);
  struct Row {
    const char* name;
    Token token;
    bool revoked;
  };
  const Row rows[] = {
      {"same iss, jti and exp", {"abc", exp, "u", kIss}, true},
      {"an earlier exp than the one revoked with", {"abc", exp - 3000, "u", kIss}, true},
      {"a later exp than the one revoked with", {"abc", exp + 86400, "u", kIss}, true},
      {"a token without exp", {"abc", 0, "u", kIss}, true},
      {"the same jti from another issuer", {"abc", exp, "u", "https://other.example"}, false},
      {"the same jti without iss", {"abc", exp, "u", ""}, false},
      {"other jti", {"abd", exp, "u", kIss}, false},
      {"prefix of the jti", {"ab", exp, "u", kIss}, false},
      {"jti is case-sensitive", {"ABC", exp, "u", kIss}, false},
      {"iss is case-sensitive", {"abc", exp, "u", "https://ISSUER.example"}, false},
      {"the iss/jti boundary is part of the key", {"bc", exp, "u", "https://a"}, false},
      {"(https://ab, c) itself", {"c", exp, "u", "https://ab"}, true},
      {"kept for ever, any exp", {"kept-for-ever", kNow + 10, "u", kIss}, true},
      {"an empty issuer revokes under every issuer", {"any-issuer", exp, "u", kIss}, true},
      {"... and another one", {"any-issuer", exp, "u", "https://other.example"}, true},
      {"... and tokens without iss", {"any-issuer", 0, "u", ""}, true},
      {"no jti", {"", exp, "u", kIss}, false},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(Revoked(*s, r.token) == r.revoked);
  }
  const RevocationStats st = s->Stats();
  CHECK(st.jti_revocations == 4);
  CHECK(st.any_issuer_revocations == 1);
  CHECK(st.long_lived_revocations == 1);
  // Batches mixing every case agree with single checks (Revoked checks both).
  std::vector<Claims> claims;
  for (const Row& r : rows) claims.push_back(r.token.claims());
  std::vector<char> out(claims.size());
  s->IsRevokedBatch(claims.data(), claims.size(), reinterpret_cast<bool*>(out.data()));
  for (size_t i = 0; i < claims.size(); ++i) {
    INFO(rows[i].name);
    CHECK(static_cast<bool>(out[i]) == rows[i].revoked);
  }
}

TEST_CASE("Revoking a jti again keeps the later keep_until", "[revocation_store]") {
  TempDir tmp;
  RevocationOptions o = Options(tmp.state());
  o.generation_shift = 10;
  o.leeway_s = 0;
  auto s = MustOpen(o);
  const int64_t start = (kNow >> 10) << 10;
  REQUIRE(s->RevokeJti("j", kIss, start + 10) == Status::kOk);
  REQUIRE(s->RevokeJti("j", kIss, start + 5 * 1024) == Status::kOk);
  REQUIRE(s->RevokeJti("j", kIss, start + 20) == Status::kOk);  // lower: no effect
  CHECK(s->Stats().jti_revocations == 1);
  CHECK(s->Stats().generations == 1);
  CHECK(s->DropExpired(start + 2 * 1024) == 0);
  CHECK(Revoked(*s, Token{"j", start + 10, "u", kIss}));
  s.reset();
  o.now = start + 2 * 1024;
  s = MustOpen(o);  // the log holds all three: recovery keeps the maximum as well
  CHECK(Revoked(*s, Token{"j", start + 10, "u", kIss}));
  CHECK(s->DropExpired(start + 6 * 1024) == 1);
  CHECK_FALSE(Revoked(*s, Token{"j", start + 10, "u", kIss}));
}

TEST_CASE("The effective watermark is the max of every scope that applies", "[revocation_store]") {
  TempDir tmp;
  auto s = MustOpen(Options(tmp.state()));
  REQUIRE(s->RevokeSubject("alice", 1000) == Status::kOk);
  REQUIRE(s->RevokeIssuer("https://a.example", 1500) == Status::kOk);
  REQUIRE(s->RevokeSubject("bob", 2000, "https://b.example") == Status::kOk);
  struct Row {
    const char* name;
    Token token;
    bool revoked;
  };
  auto tok = [](const char* sub, const char* iss, int64_t iat) {
    return Token{"", 0, sub, iss, true, iat};
  };
  auto no_iat = [](const char* sub, const char* iss) { return Token{"", 0, sub, iss, false, 0}; };
  const Row rows[] = {
      {"subject, before", tok("alice", "https://x.example", 999), true},
      {"subject, at the watermark (tie revokes)", tok("alice", "https://x.example", 1000), true},
      {"subject, after", tok("alice", "https://x.example", 1001), false},
      {"subject after its own mark but the issuer's is higher",
       tok("alice", "https://a.example", 1400), true},
      {"issuer, at the watermark", tok("carol", "https://a.example", 1500), true},
      {"issuer, after", tok("carol", "https://a.example", 1501), false},
      {"subject within issuer", tok("bob", "https://b.example", 1999), true},
      {"same subject, other issuer", tok("bob", "https://c.example", 1999), false},
      {"same subject, no issuer", tok("bob", "", 1999), false},
      {"no watermark applies", tok("carol", "https://x.example", 1), false},
      {"no iat, a watermark applies: fail closed", no_iat("alice", "https://x.example"), true},
      {"no iat, issuer watermark applies", no_iat("dave", "https://a.example"), true},
      {"no iat, no watermark applies", no_iat("carol", "https://x.example"), false},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(Revoked(*s, r.token) == r.revoked);
  }
  // A global watermark joins the max and applies to everyone.
  REQUIRE(s->RevokeAll(1200) == Status::kOk);
  CHECK(Revoked(*s, tok("carol", "https://x.example", 1200)));
  CHECK_FALSE(Revoked(*s, tok("carol", "https://x.example", 1201)));
  CHECK(Revoked(*s, tok("alice", "https://x.example", 1100)));  // global 1200 > subject 1000
  CHECK(Revoked(*s, no_iat("carol", "https://x.example")));
  CHECK(Revoked(*s, tok("bob", "https://b.example", 1999)));  // subject-in-issuer 2000 wins
}

TEST_CASE("Watermarks only rise", "[revocation_store]") {
  TempDir tmp;
  auto s = MustOpen(Options(tmp.state()));
  REQUIRE(s->RevokeSubject("alice", 1000) == Status::kOk);
  REQUIRE(s->RevokeSubject("alice", 900) == Status::kOk);
  REQUIRE(s->RevokeAll(500) == Status::kOk);
  REQUIRE(s->RevokeAll(100) == Status::kOk);
  CHECK(Revoked(*s, Token{"", 0, "alice", "", true, 950}));
  CHECK(Revoked(*s, Token{"", 0, "zed", "", true, 400}));
  s.reset();
  // The same after recovery (replay order does not matter: a max).
  s = MustOpen(Options(tmp.state()));
  CHECK(Revoked(*s, Token{"", 0, "alice", "", true, 950}));
  CHECK(Revoked(*s, Token{"", 0, "zed", "", true, 400}));
  CHECK_FALSE(Revoked(*s, Token{"", 0, "zed", "", true, 501}));
}

TEST_CASE("Invalid revocations return their status and write nothing", "[revocation_store]") {
  TempDir tmp;
  auto s = MustOpen(Options(tmp.state()));
  CHECK(s->RevokeJti("", "", kNow + 10) == Status::kJtiInvalid);
  CHECK(s->RevokeSubject("", 10) == Status::kSubInvalid);
  CHECK(s->RevokeIssuer("", 10) == Status::kIssInvalid);
  const Revocation batch[] = {Revocation::Jti("fine", "", kNow + 10), Revocation::Subject("", 5)};
  CHECK(s->Revoke(batch) == Status::kSubInvalid);
  CHECK_FALSE(Revoked(*s, Token{"fine", kNow + 10}));
  CHECK(s->Stats().records_written == 0);
}

TEST_CASE("A jti revocation whose window has passed is a no-op", "[revocation_store]") {
  TempDir tmp;
  RevocationOptions o = Options(tmp.state());
  auto s = MustOpen(o);
  // exp + leeway long past by the store's clock: the token is rejected as expired anyway.
  CHECK(s->RevokeJti("old", "", kNow - 100'000) == Status::kOk);
  CHECK(s->Stats().records_written == 0);
  CHECK(s->Stats().jti_revocations == 0);
  // Within the leeway it is kept.
  CHECK(s->RevokeJti("recent", "", kNow - 10) == Status::kOk);
  CHECK(s->Stats().records_written == 1);
  CHECK(Revoked(*s, Token{"recent", kNow - 10}));
}

TEST_CASE("Recovery restores every kind of revocation from the log", "[revocation_store]") {
  TempDir tmp;
  {
    auto s = MustOpen(Options(tmp.state()));
    REQUIRE(s->RevokeJti("j1", kIss, kNow + 100) == Status::kOk);
    REQUIRE(s->RevokeJti("j2", "", kNow + 86400 * 365) == Status::kOk);
    REQUIRE(s->RevokeJti("j3", kIss, RevocationStore::kNoExp) == Status::kOk);
    REQUIRE(s->RevokeSubject("alice", 1000) == Status::kOk);
    REQUIRE(s->RevokeSubject("bob", 2000, "https://b.example") == Status::kOk);
    REQUIRE(s->RevokeIssuer("https://a.example", 1500) == Status::kOk);
    REQUIRE(s->RevokeAll(300) == Status::kOk);
    CHECK(s->Stats().records_written == 7);
  }
  auto s = MustOpen(Options(tmp.state()));
  const RevocationStats st = s->Stats();
  CHECK(st.recovery.records_replayed == 7);
  CHECK(st.recovery.logs_replayed == 1);
  CHECK(st.recovery.torn_tail_bytes == 0);
  CHECK(st.jti_revocations == 3);
  CHECK(st.any_issuer_revocations == 1);
  CHECK(st.long_lived_revocations == 1);
  CHECK(st.subject_watermarks == 2);
  CHECK(st.issuer_watermarks == 1);
  CHECK(st.has_global_watermark);
  CHECK(st.global_watermark == 300);
  CHECK(Revoked(*s, Token{"j1", kNow + 100, "u", kIss}));
  CHECK_FALSE(Revoked(*s, Token{"j1", kNow + 100, "u", "https://other.example"}));
  CHECK(Revoked(*s, Token{"j2", kNow + 100, "u", "https://other.example"}));
  CHECK(Revoked(*s, Token{"j3", 0, "u", kIss}));
  CHECK(Revoked(*s, Token{"", 0, "alice", "", true, 1000}));
  CHECK(Revoked(*s, Token{"", 0, "bob", "https://b.example", true, 2000}));
  CHECK(Revoked(*s, Token{"", 0, "x", "https://a.example", true, 1500}));
  CHECK(Revoked(*s, Token{"", 0, "x", "", true, 300}));
  CHECK_FALSE(Revoked(*s, Token{"", 0, "x", "", true, 301}));
}

TEST_CASE("Compact writes a snapshot, starts a new log and removes what it covers",
          "[revocation_store]") {
  TempDir tmp;
  RevocationOptions o = Options(tmp.state());
  o.initial_capacity = 16;  // force growth, then refit
  {
    auto s = MustOpen(o);
    for (uint64_t i = 0; i < 1000; ++i) {
      REQUIRE(s->RevokeJti(Jti(i), kIss, kNow + static_cast<int64_t>(i) * 60) == Status::kOk);
    }
    REQUIRE(s->RevokeSubject("alice", 1000) == Status::kOk);
    const RevocationStats before = s->Stats();
    REQUIRE(s->Compact() == Status::kOk);
    const RevocationStats after = s->Stats();
    CHECK(after.log_number == before.log_number + 1);
    CHECK(after.exact_bytes <= before.exact_bytes);
    CHECK(after.jti_revocations == 1000);
    // Revocations after the snapshot go to the new log.
    REQUIRE(s->RevokeJti("after-snapshot", "", kNow + 50) == Status::kOk);
    REQUIRE(s->RevokeSubject("alice", 1100) == Status::kOk);
  }
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(tmp.state())) {
    files.push_back(e.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  CHECK(files == std::vector<std::string>{"000001.snap", "000002.log", "LOCK", "STATE"});
  auto s = MustOpen(o);
  const RevocationStats st = s->Stats();
  CHECK(st.recovery.snapshot_number == 1);
  CHECK(st.recovery.snapshot_entries == 1001);
  CHECK(st.recovery.records_replayed == 2);
  CHECK(st.jti_revocations == 1001);
  for (uint64_t i = 0; i < 1000; ++i) {
    REQUIRE(Revoked(*s, Token{Jti(i), kNow + static_cast<int64_t>(i) * 60, "u", kIss}));
  }
  CHECK(Revoked(*s, Token{"after-snapshot", kNow + 50}));
  CHECK(Revoked(*s, Token{"", 0, "alice", "", true, 1100}));
  // A second compaction replaces the first snapshot.
  REQUIRE(s->Compact() == Status::kOk);
  s.reset();
  s = MustOpen(o);
  CHECK(s->Stats().recovery.snapshot_number == 2);
  CHECK(s->Stats().jti_revocations == 1001);
}

// RSS in bytes, from /proc/self/statm.
size_t ResidentBytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0;
  size_t resident = 0;
  f >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

TEST_CASE("Dropping a keep-until window frees its memory and keeps every live revocation",
          "[revocation_store]") {
  TempDir tmp;
  RevocationOptions o = Options(tmp.state());
  o.generation_shift = 10;  // 1024-second windows
  o.leeway_s = 60;
  auto s = MustOpen(o);
  const int64_t start = (kNow >> 10) << 10;  // the first second of the current window
  // 300 k revocations kept until the current window, 300 k the next, 1000 in each of 8 later.
  constexpr size_t kBig = 300'000;
  std::vector<Revocation> batch;
  std::vector<std::string> ids;
  ids.reserve(2 * kBig + 8000);
  std::vector<int64_t> exps;
  for (size_t i = 0; i < 2 * kBig + 8000; ++i) {
    const size_t gen = i < kBig ? 0 : i < 2 * kBig ? 1 : 2 + (i - 2 * kBig) / 1000;
    ids.push_back(Jti(i));
    exps.push_back(start + static_cast<int64_t>(gen) * 1024 + static_cast<int64_t>(i % 1000));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    batch.push_back(Revocation::Jti(ids[i], kIss, exps[i]));
    if (batch.size() == 4096 || i + 1 == ids.size()) {
      REQUIRE(s->Revoke(batch) == Status::kOk);
      batch.clear();
    }
  }
  REQUIRE(s->Compact() == Status::kOk);  // fitted tables: the drop below is measurable
  const RevocationStats before = s->Stats();
  CHECK(before.generations == 10);
  CHECK(before.jti_revocations == ids.size());
  const size_t rss_before = ResidentBytes();

  // The first window ends at start + 1024; with the leeway it is dropped at + 1084.
  CHECK(s->DropExpired(start + 1024 + 60 - 1) == 0);
  CHECK(s->DropExpired(start + 1024 + 60) == kBig);
  const RevocationStats after = s->Stats();
  CHECK(after.generations == 9);
  CHECK(after.jti_revocations == ids.size() - kBig);
  CHECK(after.exact_bytes < before.exact_bytes - kBig * 16);
  CHECK(after.filter_bytes < before.filter_bytes - kBig * 15 / 8);
  // Big tables and filters are mmap'ed: the rebuilt ones replace them and the pages go back.
  CHECK(ResidentBytes() + kBig * 16 < rss_before);
  for (size_t i = 0; i < ids.size(); ++i) {
    const bool live = i >= kBig;
    if (Revoked(*s, Token{ids[i], exps[i], "u", kIss}) != live) {
      FAIL("revocation " << i << " expected live=" << live);
    }
  }
  // Recovery at the later clock skips the dropped window too.
  s.reset();
  o.now = start + 1024 + 60;
  s = MustOpen(o);
  CHECK(s->Stats().jti_revocations == ids.size() - kBig);
  CHECK(s->Stats().recovery.records_expired == kBig);
  CHECK(Revoked(*s, Token{ids[kBig], exps[kBig], "u", kIss}));
}

TEST_CASE("Revocations kept for ever survive drops; others go with their window",
          "[revocation_store]") {
  TempDir tmp;
  RevocationOptions o = Options(tmp.state());
  o.generation_shift = 6;  // 64-second windows
  o.leeway_s = 0;
  auto s = MustOpen(o);
  const int64_t far = kNow + 64 * 10;
  REQUIRE(s->RevokeJti("far", kIss, far) == Status::kOk);
  REQUIRE(s->RevokeJti("near", kIss, kNow + 1) == Status::kOk);
  REQUIRE(s->RevokeJti("ever", "", RevocationStore::kNoExp) == Status::kOk);
  CHECK(s->Stats().long_lived_revocations == 1);
  CHECK(s->Stats().generations == 2);
  CHECK(s->DropExpired(kNow + 64 * 8) == 1);
  CHECK(s->Stats().generations == 1);
  CHECK(Revoked(*s, Token{"far", far, "u", kIss}));
  CHECK_FALSE(Revoked(*s, Token{"near", kNow + 1, "u", kIss}));
  CHECK(Revoked(*s, Token{"ever", 0, "u", kIss}));
  s.reset();
  o.now = kNow + 64 * 12;
  s = MustOpen(o);
  CHECK(s->Stats().recovery.records_expired == 2);
  CHECK_FALSE(Revoked(*s, Token{"far", far, "u", kIss}));
  CHECK(Revoked(*s, Token{"ever", 0, "u", kIss}));
  CHECK(s->Stats().long_lived_revocations == 1);
}

TEST_CASE("A revocation after recovering only expired ones is in effect", "[revocation_store]") {
  // Regression (fuzz_revocation_recovery): recovery sized a table for records that had all
  // expired; it stayed empty, was published as "nothing of this kind", and the first new
  // revocation went into it without republishing: acknowledged, and not in effect.
  TempDir tmp;
  RevocationOptions o = Options(tmp.state());
  {
    auto s = MustOpen(o);
    REQUIRE(s->RevokeJti("old", kIss, kNow + 10) == Status::kOk);
    REQUIRE(s->RevokeJti("old-any", "", kNow + 10) == Status::kOk);
  }
  o.now = kNow + 86400;
  auto s = MustOpen(o);
  CHECK(s->Stats().recovery.records_expired == 2);
  CHECK(s->Stats().jti_revocations == 0);
  REQUIRE(s->RevokeJti("new", kIss, o.now + 600) == Status::kOk);
  REQUIRE(s->RevokeJti("new-any", "", o.now + 600) == Status::kOk);
  CHECK(Revoked(*s, Token{"new", o.now + 600, "u", kIss}));
  CHECK(Revoked(*s, Token{"new-any", o.now + 600, "u", "https://other.example"}));
}

TEST_CASE("Watermark retention drops old subject watermarks", "[revocation_store]") {
  TempDir tmp;
  RevocationOptions o = Options(tmp.state());
  o.watermark_retention_s = 86400;
  auto s = MustOpen(o);
  REQUIRE(s->RevokeSubject("old", kNow - 2 * 86400) == Status::kOk);
  REQUIRE(s->RevokeSubject("new", kNow - 10) == Status::kOk);
  s->DropExpired(kNow);
  CHECK(s->Stats().subject_watermarks == 1);
  CHECK_FALSE(Revoked(*s, Token{"", 0, "old", "", false, 0}));
  CHECK(Revoked(*s, Token{"", 0, "new", "", true, kNow - 20}));
}

TEST_CASE("Zero false negatives over 1 M revoked ids, live and after recovery",
          "[revocation_store]") {
  TempDir tmp;
  RevocationOptions o = Options(tmp.state());
  constexpr size_t kIds = 1'000'192;  // a multiple of 256, over 1 M
  auto exp_of = [](size_t i) { return kNow + 60 + static_cast<int64_t>(i % 20000); };
  auto check_all = [&](const RevocationStore& s) {
    size_t missing = 0;
    std::vector<std::string> ids(256);
    std::vector<Claims> claims(256);
    bool out[256];
    static_assert(kIds % 256 == 0);
    for (size_t start = 0; start < kIds; start += 256) {
      for (size_t k = 0; k < 256; ++k) {
        ids[k] = Jti(start + k);
        claims[k] = JtiClaims(ids[k], exp_of(start + k));
        missing += static_cast<size_t>(!s.IsRevoked(claims[k]));
      }
      s.IsRevokedBatch(claims.data(), claims.size(), out);
      for (bool b : out) missing += static_cast<size_t>(!b);
    }
    return missing;
  };
  {
    auto s = MustOpen(o);
    std::vector<std::string> ids;
    std::vector<Revocation> batch;
    for (size_t start = 0; start < kIds; start += 8192) {
      ids.clear();
      batch.clear();
      for (size_t i = start; i < std::min(kIds, start + 8192); ++i) ids.push_back(Jti(i));
      for (size_t k = 0; k < ids.size(); ++k) {
        batch.push_back(Revocation::Jti(ids[k], kIss, exp_of(start + k)));
      }
      REQUIRE(s->Revoke(batch) == Status::kOk);
    }
    CHECK(s->Stats().jti_revocations == kIds);
    CHECK(check_all(*s) == 0);
    // Absent ids: the exact confirm makes every filter false positive harmless.
    size_t wrong = 0;
    for (size_t i = 0; i < 200'000; ++i) {
      const std::string id = "absent-" + std::to_string(i);
      wrong += static_cast<size_t>(s->IsRevoked(JtiClaims(id, exp_of(i))));
    }
    CHECK(wrong == 0);
  }
  auto s = MustOpen(o);
  const RevocationStats st = s->Stats();
  CHECK(st.jti_revocations == kIds);
  CHECK(st.recovery.records_replayed == kIds);
  CHECK(check_all(*s) == 0);
  // Recovery fits every filter to its content: at most 2 bytes per id, at most 0.15 %.
  CHECK(st.filter_bits_per_key <= 16.5);
  CHECK(st.expected_fpr <= 0.0015);
  CHECK(static_cast<double>(st.exact_bytes) / kIds <= 32);
}

TEST_CASE("Read-only open sees the state, refuses writes and needs no lock", "[revocation_store]") {
  TempDir tmp;
  auto writer = MustOpen(Options(tmp.state()));
  REQUIRE(writer->RevokeJti("x", "", kNow + 100) == Status::kOk);
  // A second writable open is refused while the first holds the directory.
  std::string error;
  auto second = RevocationStore::Open(Options(tmp.state()), &error);
  CHECK(second.status() == Status::kInternalError);
  CHECK(error.find("held by another process") != std::string::npos);
  RevocationOptions ro = Options(tmp.state());
  ro.read_only = true;
  auto reader = MustOpen(ro);
  CHECK(Revoked(*reader, Token{"x", kNow + 100}));
  CHECK(reader->RevokeJti("y", "", kNow + 100) == Status::kInternalError);
  CHECK(reader->Compact() == Status::kInternalError);
  CHECK(reader->last_error().find("read-only") != std::string::npos);
  // Read-only never creates a state.
  ro.dir = tmp.path() + "/missing";
  CHECK(RevocationStore::Open(ro, &error).status() == Status::kInternalError);
  CHECK_FALSE(std::filesystem::exists(ro.dir));
}

TEST_CASE("Concurrent writers share fdatasync calls (group commit)",
          "[revocation_store][concurrency]") {
  TempDir tmp;
  RevocationOptions o = Options(tmp.state());
  o.sync = true;
  auto s = MustOpen(o);
  constexpr int kThreads = 16;
  constexpr int kEach = 8;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};  // Catch2 assertions are not thread-safe: count, check after
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string id = "g" + std::to_string(t) + "-" + std::to_string(i);
        if (s->RevokeJti(id, "", kNow + 100) != Status::kOk) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures.load() == 0);
  const RevocationStats st = s->Stats();
  CHECK(st.records_written == kThreads * kEach);
  CHECK(st.syncs < st.records_written);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEach; ++i) {
      CHECK(Revoked(*s, Token{"g" + std::to_string(t) + "-" + std::to_string(i), kNow + 100}));
    }
  }
}

TEST_CASE("RevokeAsync completes each batch once, after it is durable, sharing fdatasyncs",
          "[revocation_store][concurrency]") {
  TempDir tmp;
  RevocationOptions o = Options(tmp.state());
  o.sync = true;
  constexpr int kBatches = 200;
  std::atomic<int> completed{0};
  std::atomic<int> not_ok{0};
  std::atomic<int> not_durable{0};  // completed while the store had not synced that many records
  std::vector<std::atomic<int>> calls(kBatches);
  std::vector<std::string> ids;
  for (int i = 0; i < kBatches; ++i) ids.push_back("async-" + std::to_string(i));
  {
    auto s = MustOpen(o);
    RevocationStore* store = s.get();
    std::thread::id submitter = std::this_thread::get_id();
    std::atomic<int> on_submitter{0};
    for (int i = 0; i < kBatches; ++i) {
      const std::string sub = "async-sub-" + std::to_string(i % 7);
      const Revocation r[2] = {Revocation::Jti(ids[static_cast<size_t>(i)], "", kNow + 100),
                               Revocation::Subject(sub, kNow - 100 + i)};
      const Status st = store->RevokeAsync(r, [&, i](Status done_status) {
        if (done_status != Status::kOk) ++not_ok;
        if (std::this_thread::get_id() == submitter) ++on_submitter;
        // Acknowledged only once fdatasync covered it: at least its own records are written.
        if (store->Stats().records_written < 2) ++not_durable;
        ++calls[static_cast<size_t>(i)];
        ++completed;
      });
      REQUIRE(st == Status::kOk);
      // In effect as soon as RevokeAsync returns, as with Revoke.
      CHECK(Revoked(*store, Token{ids[static_cast<size_t>(i)], kNow + 100}));
    }
    while (completed.load() < kBatches) std::this_thread::yield();
    CHECK(on_submitter.load() == 0);
    const RevocationStats st = s->Stats();
    CHECK(st.records_written == 2 * kBatches);
    CHECK(st.syncs < kBatches);  // batches shared fdatasyncs
  }
  CHECK(not_ok.load() == 0);
  CHECK(not_durable.load() == 0);
  for (const auto& c : calls) CHECK(c.load() == 1);
  auto reopened = MustOpen(Options(tmp.state()));
  for (const std::string& id : ids) CHECK(Revoked(*reopened, Token{id, kNow + 100}));
}

TEST_CASE("RevokeAsync rejects what Revoke rejects, without calling done", "[revocation_store]") {
  TempDir tmp;
  auto s = MustOpen(Options(tmp.state()));
  int called = 0;
  auto done = [&](Status) { ++called; };
  const Revocation no_jti = Revocation::Jti("", "", kNow + 100);
  const Revocation no_sub = Revocation::Subject("", kNow);
  const Revocation no_iss = Revocation::Issuer("", kNow);
  CHECK(s->RevokeAsync({&no_jti, 1}, done) == Status::kJtiInvalid);
  CHECK(s->RevokeAsync({&no_sub, 1}, done) == Status::kSubInvalid);
  CHECK(s->RevokeAsync({&no_iss, 1}, done) == Status::kIssInvalid);
  s.reset();
  CHECK(called == 0);

  RevocationOptions ro = Options(tmp.state());
  ro.read_only = true;
  auto reader = MustOpen(ro);
  const Revocation r = Revocation::Jti("a", "", kNow + 100);
  CHECK(reader->RevokeAsync({&r, 1}, done) == Status::kInternalError);
  CHECK(reader->last_error().find("read-only") != std::string::npos);
  reader.reset();
  CHECK(called == 0);
}

TEST_CASE("Destroying the store completes every accepted RevokeAsync durably",
          "[revocation_store][concurrency]") {
  TempDir tmp;
  RevocationOptions o = Options(tmp.state());
  o.sync = true;
  constexpr int kCount = 500;
  std::atomic<int> ok{0};
  std::atomic<int> resubmitted{0};
  {
    auto s = MustOpen(o);
    RevocationStore* store = s.get();
    for (int i = 0; i < kCount; ++i) {
      const std::string id = "drain-" + std::to_string(i);
      const Revocation r = Revocation::Jti(id, "", kNow + 100);
      REQUIRE(store->RevokeAsync({&r, 1}, [&, i](Status st) {
        if (st != Status::kOk) return;
        ++ok;
        // A completion may submit again (from the commit thread).
        if (i == 0) {
          const Revocation again = Revocation::Jti("from-done", "", kNow + 100);
          if (store->RevokeAsync({&again, 1}, [&](Status st2) {
                if (st2 == Status::kOk) ++resubmitted;
              }) != Status::kOk) {
            ++resubmitted;  // counted twice below: fails the check
            ++resubmitted;
          }
        }
      }) == Status::kOk);
    }
    // An expired jti writes nothing and still completes, in order.
    const Revocation expired = Revocation::Jti("expired", "", kNow - 100'000);
    REQUIRE(store->RevokeAsync({&expired, 1}, [&](Status st) {
      if (st == Status::kOk) ++ok;
    }) == Status::kOk);
  }
  CHECK(ok.load() == kCount + 1);
  CHECK(resubmitted.load() == 1);
  auto reopened = MustOpen(Options(tmp.state()));
  for (int i = 0; i < kCount; ++i) {
    CHECK(Revoked(*reopened, Token{"drain-" + std::to_string(i), kNow + 100}));
  }
  CHECK(Revoked(*reopened, Token{"from-done", kNow + 100}));
  CHECK(reopened->Stats().jti_revocations == kCount + 1);
}

TEST_CASE("Readers never miss an acknowledged revocation while writers grow, drop and compact",
          "[revocation_store][concurrency]") {
  TempDir tmp;
  RevocationOptions o = Options(tmp.state());
  o.generation_shift = 6;  // 64-second windows: many of them, filled and dropped
  o.leeway_s = 0;
  o.initial_capacity = 8;  // tables and filters grow (and get retired) often
  auto s = MustOpen(o);
  constexpr int kWriters = 2;
  constexpr size_t kPerWriter = 3000;
  auto live_exp = [](int w, size_t i) {
    return kNow + 4000 + static_cast<int64_t>((i * 7 + static_cast<size_t>(w)) % 64) * 64;
  };
  auto live_id = [](int w, size_t i) {
    return "live-" + std::to_string(w) + "-" + std::to_string(i);
  };
  std::atomic<size_t> acked[kWriters] = {};
  std::atomic<bool> stop{false};
  std::atomic<size_t> misses{0};
  std::atomic<size_t> false_hits{0};
  std::atomic<int> failures{0};  // Catch2 assertions are not thread-safe: count, check after
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (size_t i = 0; i < kPerWriter; ++i) {
        if (s->RevokeJti(live_id(w, i), kIss, live_exp(w, i)) != Status::kOk) ++failures;
        if (i % 500 == 0 && s->RevokeSubject("sub-" + std::to_string(i), 1000) != Status::kOk) {
          ++failures;
        }
        acked[w].store(i + 1, std::memory_order_release);
      }
    });
  }
  // Churn: short-lived windows filled, then dropped (the tables rebuilt); compactions.
  threads.emplace_back([&] {
    for (int k = 1; k <= 20; ++k) {
      const int64_t exp = kNow + k * 64;
      for (int j = 0; j < 50; ++j) {
        if (s->RevokeJti("short-" + std::to_string(k) + "-" + std::to_string(j), "", exp) !=
            Status::kOk) {
          ++failures;
        }
      }
      s->DropExpired(exp + 64);
      if (k % 5 == 0 && s->Compact() != Status::kOk) ++failures;
    }
  });
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      uint64_t x = uint64_t{0x9E3779B97F4A7C15} ^ static_cast<uint64_t>(r + 1);
      std::vector<std::string> ids(8);
      std::vector<Claims> claims(8);
      bool out[8];
      while (!stop.load(std::memory_order_relaxed)) {
        for (int w = 0; w < kWriters; ++w) {
          const size_t n = acked[w].load(std::memory_order_acquire);
          if (n == 0) continue;
          for (size_t k = 0; k < 8; ++k) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            const size_t i = x % n;
            ids[k] = live_id(w, i);
            claims[k] = JtiClaims(ids[k], live_exp(w, i));
          }
          for (const Claims& c : claims) misses += static_cast<size_t>(!s->IsRevoked(c));
          s->IsRevokedBatch(claims.data(), claims.size(), out);
          for (bool b : out) misses += static_cast<size_t>(!b);
          const std::string never = "never-" + std::to_string(x % 1000);
          false_hits += static_cast<size_t>(s->IsRevoked(JtiClaims(never, live_exp(w, 0))));
        }
      }
    });
  }
  for (size_t t = 0; t <= kWriters; ++t) threads[t].join();
  stop = true;
  for (size_t t = kWriters + 1; t < threads.size(); ++t) threads[t].join();
  CHECK(failures.load() == 0);
  CHECK(misses.load() == 0);
  CHECK(false_hits.load() == 0);
  for (int w = 0; w < kWriters; ++w) {
    for (size_t i = 0; i < kPerWriter; ++i) {
      REQUIRE(Revoked(*s, Token{live_id(w, i), live_exp(w, i), "u", kIss}));
    }
  }
}

}  // namespace
}  // namespace jwtgate
