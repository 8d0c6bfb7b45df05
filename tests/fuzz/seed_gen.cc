// Writes the generated part of the seed corpora: signed tokens (token_verify), header/payload
// pairs (token_resign) and revocation states written by the real store (revocation_recovery).
// The JWKS and HTTP seeds are plain text files in the corpus folders.
//
//   cmake --build BUILD --target fuzz_seed_gen && BUILD/tests/fuzz/fuzz_seed_gen tests/fuzz/corpus
//
// Output is deterministic except for ES256 and the store's files (random nonces and hashing
// secret); regenerate only to add seeds.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_keys.h"
#include "fuzz_support.h"
#include "jwtgate/revocation.h"
#include "jwtgate/signer.h"
#include "revoke/log_format.h"

namespace jwtgate::fuzz {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) Fail("cannot write", path.string());
}

std::string ReadAll(const fs::path& path) {
  std::string bytes(static_cast<size_t>(fs::file_size(path)), '\0');
  std::ifstream in(path, std::ios::binary);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) {
    Fail("cannot read", path.string());
  }
  return bytes;
}

Signer MustSigner(Result<Signer> r) {
  if (!r.ok()) Fail("signer", ToString(r.status()));
  return std::move(r).value();
}

std::string MustSign(Result<std::string> r) {
  if (!r.ok()) Fail("sign", ToString(r.status()));
  return std::move(r).value();
}

const std::string kGood =
    R"({"iss":"https://issuer.example","sub":"user-1","aud":"api","exp":1700000600,)"
    R"("iat":1699999900,"nbf":1699999900,"jti":"t-1","scope":"read write"})";

void Tokens(const fs::path& dir) {
  fs::create_directories(dir);
  const Signer hs = MustSigner(Signer::FromSecret(
      std::string_view(reinterpret_cast<const char*>(kHs256Secret), sizeof(kHs256Secret)),
      Alg::kHS256));
  const Signer rs = MustSigner(Signer::FromPem(kRs256PrivatePem, Alg::kRS256));
  const Signer es = MustSigner(Signer::FromPem(kEs256PrivatePem, Alg::kES256));
  const Signer ed = MustSigner(Signer::FromPem(kEd25519PrivatePem, Alg::kEdDSA));
  const Signer ed2 = MustSigner(Signer::FromPem(kEd25519NoKidPrivatePem, Alg::kEdDSA));
  Write(dir / "hs256_valid", MustSign(hs.Sign(kGood, "hs-1")));
  Write(dir / "hs256_valid_no_kid", MustSign(hs.Sign(kGood)));
  Write(dir / "rs256_valid", MustSign(rs.Sign(kGood, "rs-1")));
  Write(dir / "es256_valid", MustSign(es.Sign(kGood, "es-1")));
  Write(dir / "eddsa_valid", MustSign(ed.Sign(kGood, "ed-1")));
  Write(dir / "eddsa_no_kid_ambiguous", MustSign(ed2.Sign(kGood)));
  Write(dir / "hs256_aud_array",
        MustSign(hs.Sign(R"({"iss":"https://other.example","sub":"u","aud":["x","web"],)"
                         R"("exp":1700000100.5})", "hs-1")));
  Write(dir / "hs256_expired",
        MustSign(hs.Sign(R"({"iss":"https://issuer.example","sub":"u","aud":"api",)"
                         R"("exp":1699999000})", "hs-1")));
  Write(dir / "hs256_revoked_jti",
        MustSign(hs.Sign(R"({"iss":"https://issuer.example","sub":"u","aud":"api",)"
                         R"("exp":1700000600,"jti":"revoked"})", "hs-1")));
  Write(dir / "hs256_no_claims_lenient", MustSign(hs.Sign(R"({"sub":"u"})", "hs-1", "at+jwt")));
  Write(dir / "hs256_crit", MustSign(hs.SignRaw(R"({"alg":"HS256","crit":["exp"],"exp":1})",
                                                kGood)));
  Write(dir / "alg_none", Base64UrlEncode(R"({"alg":"none"})") + "." + Base64UrlEncode(kGood) +
                              ".");
  Write(dir / "jwe_five_segments", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d");
  // An RS256 token whose header claims HS256: the key-confusion attack.
  const std::string rs_token = MustSign(rs.Sign(kGood, "rs-1"));
  Write(dir / "alg_confusion_hs256_header",
        Base64UrlEncode(R"({"alg":"HS256","kid":"rs-1"})") + rs_token.substr(rs_token.find('.')));
}

void Resign(const fs::path& dir) {
  fs::create_directories(dir);
  const auto pair = [](char selector, std::string_view header, std::string_view payload) {
    std::string s(1, selector);
    s += header;
    s += '\xff';
    s += payload;
    return s;
  };
  Write(dir / "hs256_valid", pair(0, R"({"alg":"HS256","typ":"JWT","kid":"hs-1"})", kGood));
  Write(dir / "eddsa_valid", pair(2, R"({"alg":"EdDSA","kid":"ed-1"})", kGood));
  Write(dir / "es256_valid", pair(3, R"({"alg":"ES256","kid":"es-1"})", kGood));
  Write(dir / "signer_header", std::string(1, '\0') + kGood);
  Write(dir / "aud_array_fraction_dates",
        pair(0, R"({"alg":"HS256"})",
             R"({"iss":"https://other.example","sub":"s","aud":["a","api"],"exp":1700000029.9,)"
             R"("iat":1699999999.5,"nbf":1700000030})"));
  Write(dir / "escaped_strings",
        pair(0, R"({"alg":"HS256","kid":"hs-1","typ":"at+jwt"})",
             R"({"iss":"https:\/\/issuer.example","sub":"\u00e9\ud83d\ude00","aud":"api",)"
             R"("exp":1700000600,"extra":{"a":[1,2,{"b":null}],"c":true}})"));
  Write(dir / "lifetime_too_long",
        pair(0, R"({"alg":"HS256"})",
             R"({"iss":"https://issuer.example","sub":"s","aud":"web","exp":1800000000})"));
  Write(dir / "duplicate_member",
        pair(0, R"({"alg":"HS256"})", R"({"sub":"s","exp":1700000600,"exp":1})"));
  Write(dir / "header_b64_false", pair(0, R"({"alg":"HS256","b64":false,"crit":["b64"]})", kGood));
}

// Packs a state directory the way revocation_recovery_fuzz.cc reads its input.
std::string Pack(const fs::path& state, bool fix_checksums) {
  std::string snap, log;
  bool has_snapshot = false;
  for (const fs::directory_entry& e : fs::directory_iterator(state)) {
    uint64_t number = 0;
    bool is_log = false;
    if (!revoke::ParseFileName(e.path().filename().string(), &number, &is_log)) continue;
    if (is_log) {
      log = ReadAll(e.path());
    } else {
      snap = ReadAll(e.path());
      has_snapshot = true;
    }
  }
  // Flags of revocation_recovery_fuzz.cc: kFixChecksums 1, kHasSnapshot 8, kCompact 16.
  std::string out(1, static_cast<char>((fix_checksums ? 1 : 0) | (has_snapshot ? 8 : 0) | 16));
  if (has_snapshot) {
    if (snap.size() > 0xffff) Fail("snapshot too large for a seed");
    out += static_cast<char>(snap.size() & 0xff);
    out += static_cast<char>(snap.size() >> 8);
    out += snap;
  }
  return out + log;
}

std::unique_ptr<RevocationStore> OpenStore(const fs::path& state) {
  RevocationOptions o;
  o.dir = state.string();
  o.now = kNow;
  o.sync = false;
  std::string error;
  auto r = RevocationStore::Open(o, &error);
  if (!r.ok()) Fail("open", error);
  return std::move(r).value();
}

void Check(Status s) {
  if (s != Status::kOk) Fail("revoke", ToString(s));
}

void Revocations(const fs::path& dir) {
  fs::create_directories(dir);
  const fs::path state = fs::temp_directory_path() / "jwtgate-seed-gen-state";
  fs::remove_all(state);
  {
    auto store = OpenStore(state);
    Write(dir / "empty_log", Pack(state, false));
    Check(store->RevokeJti("t-1", "https://issuer.example", kNow + 600));
    Check(store->RevokeJti("t-2", "", kNow + 100'000));  // every issuer, a later window
    Check(store->RevokeJti("t-3", "https://issuer.example", RevocationStore::kNoExp));
    Check(store->RevokeSubject("user-1", kNow - 5));
    Check(store->RevokeSubject("user-2", kNow - 5, "https://issuer.example"));
    Check(store->RevokeIssuer("https://other.example", kNow - 60));
    Check(store->RevokeAll(kNow - 3600));
    Write(dir / "log_every_record_type", Pack(state, false));
    Write(dir / "log_every_record_type_fixcrc", Pack(state, true));
    Check(store->Compact());
    Check(store->RevokeJti("t-4", "https://issuer.example", kNow + 7200));
    Check(store->RevokeSubject("user-1", kNow));
    Write(dir / "snapshot_and_log", Pack(state, false));
    Write(dir / "snapshot_and_log_fixcrc", Pack(state, true));
  }
  fs::remove_all(state);
  // A torn tail: half a record after the last batch.
  std::string torn = ReadAll(dir / "log_every_record_type");
  torn += std::string(16, '\x5a');
  Write(dir / "log_torn_tail", torn);
}

}  // namespace
}  // namespace jwtgate::fuzz

int main(int argc, char** argv) {
  using namespace jwtgate::fuzz;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root(argv[1]);
  Tokens(root / "token_verify");
  Resign(root / "token_resign");
  Revocations(root / "revocation_recovery");
  return 0;
}
