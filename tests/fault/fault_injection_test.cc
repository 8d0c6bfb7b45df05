// Fail-closed fault injection (security catalogue row B9, rule 7: "every other outcome fails
// closed, including OpenSSL errors and allocation failures").
//
// The binary links libjwtgate (a static library) with `-Wl,--wrap=<symbol>` for every OpenSSL
// and libsodium entry point that the key-import and verify paths call and that has a failure
// return (see FAULT_ENTRY_POINTS; tests/CMakeLists.txt reads the list from this file). Each
// wrapper counts the calls made while a scenario is armed and fails the k-th one with the
// failure value its manual page documents, without calling the real function: a NULL
// pointer, 0, or the negative "error" value where the page allows one (the value a careless
// `if (!r)` would mistake for success).
//
// A scenario imports one key (a JWKS, or an SPKI PEM) and then runs five verifications in a
// row on one VerifyContext: the valid token, the valid token again (cached EVP_PKEY_CTX and
// header memo), one signature bit flipped, the payload replaced under the original signature,
// and the valid token once more. A dry run counts the wrapped calls N; then for every k in
// 1..N a forked child runs the scenario with call k failing. Per child, the test requires:
//  - it exits normally (no crash, no sanitizer report; under ASan also no leak);
//  - the forged tokens are never accepted;
//  - the operation that the fault lands in does not succeed: the import returns an error, or
//    the verification returns a rejection (never kOk);
//  - a failure during a verification leaves no trace: later verifications of the valid token
//    return kOk again.
// Outcomes that break the rules for a reason traced to a line of core are listed in kKnownGaps
// with that reason; they are printed on every run, and everything else fails the test.
#define OPENSSL_SUPPRESS_DEPRECATED  // the library calls the low-level SHA-2 functions

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "jose/base64url.h"
#include "jwtgate/alg.h"
#include "jwtgate/keys.h"
#include "jwtgate/signer.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define JWTGATE_FAULT_LEAK_CHECK 1
#else
#define JWTGATE_FAULT_LEAK_CHECK 0
#endif

// X(name, return type, failure value, parameters, arguments). One entry per line: CMake reads
// the names with a regular expression to build the --wrap list.
#define FAULT_ENTRY_POINTS(X)                                                                     \
  X(BN_bin2bn, BIGNUM*, nullptr, (const unsigned char* s, int len, BIGNUM* ret), (s, len, ret))   \
  X(BN_mod_word, BN_ULONG, static_cast<BN_ULONG>(-1), (const BIGNUM* a, BN_ULONG w), (a, w))      \
  X(OSSL_PARAM_BLD_new, OSSL_PARAM_BLD*, nullptr, (void), ())                                     \
  X(OSSL_PARAM_BLD_push_BN, int, 0, (OSSL_PARAM_BLD* b, const char* k, const BIGNUM* bn),         \
    (b, k, bn))                                                                                   \
  X(OSSL_PARAM_BLD_push_utf8_string, int, 0,                                                      \
    (OSSL_PARAM_BLD* b, const char* k, const char* s, size_t n), (b, k, s, n))                    \
  X(OSSL_PARAM_BLD_push_octet_string, int, 0,                                                     \
    (OSSL_PARAM_BLD* b, const char* k, const void* s, size_t n), (b, k, s, n))                    \
  X(OSSL_PARAM_BLD_to_param, OSSL_PARAM*, nullptr, (OSSL_PARAM_BLD* b), (b))                     \
  X(EVP_PKEY_CTX_new_from_name, EVP_PKEY_CTX*, nullptr,                                           \
    (OSSL_LIB_CTX* l, const char* n, const char* p), (l, n, p))                                   \
  X(EVP_PKEY_fromdata_init, int, -1, (EVP_PKEY_CTX* c), (c))                                      \
  X(EVP_PKEY_fromdata, int, -1, (EVP_PKEY_CTX* c, EVP_PKEY** pk, int sel, OSSL_PARAM* p),         \
    (c, pk, sel, p))                                                                              \
  X(EVP_PKEY_get_bits, int, 0, (const EVP_PKEY* pk), (pk))                                        \
  X(EVP_PKEY_get_size, int, 0, (const EVP_PKEY* pk), (pk))                                        \
  X(EVP_PKEY_get_bn_param, int, 0, (const EVP_PKEY* pk, const char* n, BIGNUM** bn),              \
    (pk, n, bn))                                                                                  \
  X(EVP_PKEY_get_utf8_string_param, int, 0,                                                       \
    (const EVP_PKEY* pk, const char* n, char* s, size_t m, size_t* l), (pk, n, s, m, l))          \
  X(EVP_PKEY_get_raw_public_key, int, 0, (const EVP_PKEY* pk, unsigned char* b, size_t* l),       \
    (pk, b, l))                                                                                   \
  X(EVP_PKEY_CTX_new_from_pkey, EVP_PKEY_CTX*, nullptr,                                           \
    (OSSL_LIB_CTX* l, EVP_PKEY* pk, const char* p), (l, pk, p))                                   \
  X(EVP_PKEY_public_check, int, -2, (EVP_PKEY_CTX* c), (c))                                       \
  X(EVP_MD_fetch, EVP_MD*, nullptr, (OSSL_LIB_CTX* l, const char* a, const char* p), (l, a, p))   \
  X(OSSL_DECODER_CTX_new_for_pkey, OSSL_DECODER_CTX*, nullptr,                                    \
    (EVP_PKEY** pk, const char* it, const char* is, const char* kt, int sel, OSSL_LIB_CTX* l,     \
     const char* p),                                                                              \
    (pk, it, is, kt, sel, l, p))                                                                  \
  X(OSSL_DECODER_from_data, int, 0, (OSSL_DECODER_CTX* c, const unsigned char** d, size_t* n),    \
    (c, d, n))                                                                                    \
  X(EVP_PKEY_verify_init, int, -1, (EVP_PKEY_CTX* c), (c))                                        \
  X(EVP_PKEY_CTX_set_signature_md, int, -1, (EVP_PKEY_CTX* c, const EVP_MD* md), (c, md))         \
  X(EVP_PKEY_CTX_set_rsa_padding, int, -1, (EVP_PKEY_CTX* c, int pad), (c, pad))                  \
  X(EVP_PKEY_CTX_set_rsa_mgf1_md, int, -1, (EVP_PKEY_CTX* c, const EVP_MD* md), (c, md))          \
  X(EVP_PKEY_CTX_set_rsa_pss_saltlen, int, -1, (EVP_PKEY_CTX* c, int len), (c, len))              \
  X(EVP_PKEY_verify, int, -1,                                                                     \
    (EVP_PKEY_CTX* c, const unsigned char* s, size_t sl, const unsigned char* t, size_t tl),      \
    (c, s, sl, t, tl))                                                                            \
  X(SHA256_Init, int, 0, (SHA256_CTX* c), (c))                                                    \
  X(SHA256_Update, int, 0, (SHA256_CTX* c, const void* d, size_t n), (c, d, n))                  \
  X(SHA256_Final, int, 0, (unsigned char* md, SHA256_CTX* c), (md, c))                            \
  X(SHA384_Init, int, 0, (SHA512_CTX* c), (c))                                                    \
  X(SHA384_Update, int, 0, (SHA512_CTX* c, const void* d, size_t n), (c, d, n))                  \
  X(SHA384_Final, int, 0, (unsigned char* md, SHA512_CTX* c), (md, c))                            \
  X(SHA512_Init, int, 0, (SHA512_CTX* c), (c))                                                    \
  X(SHA512_Update, int, 0, (SHA512_CTX* c, const void* d, size_t n), (c, d, n))                  \
  X(SHA512_Final, int, 0, (unsigned char* md, SHA512_CTX* c), (md, c))                            \
  X(SHA256, unsigned char*, nullptr, (const unsigned char* d, size_t n, unsigned char* md),       \
    (d, n, md))                                                                                   \
  X(SHA384, unsigned char*, nullptr, (const unsigned char* d, size_t n, unsigned char* md),       \
    (d, n, md))                                                                                   \
  X(SHA512, unsigned char*, nullptr, (const unsigned char* d, size_t n, unsigned char* md),       \
    (d, n, md))                                                                                   \
  X(sodium_init, int, -1, (void), ())                                                             \
  X(crypto_core_ed25519_is_valid_point, int, 0, (const unsigned char* p), (p))                    \
  X(crypto_sign_verify_detached, int, -1,                                                         \
    (const unsigned char* s, const unsigned char* m, unsigned long long n,                        \
     const unsigned char* pk),                                                                    \
    (s, m, n, pk))
// Not wrapped, because they have no failure return: BN_free, BN_is_odd, BN_num_bits, BN_cmp,
// BN_value_one, EVP_PKEY_get_base_id, the *_free functions, OPENSSL_cleanse, and
// CRYPTO_memcmp (a comparison: forcing "equal" would be an attack, not a failure).

namespace fault {

enum Entry : int {
#define FAULT_ENUM(name, ...) k_##name,
  FAULT_ENTRY_POINTS(FAULT_ENUM)
#undef FAULT_ENUM
      kEntryCount
};

constexpr const char* kEntryNames[] = {
#define FAULT_NAME(name, ...) #name,
    FAULT_ENTRY_POINTS(FAULT_NAME)
#undef FAULT_NAME
};

// The steps of a scenario, in order. The flipped signature comes right before the forged
// payload on purpose: it leaves the tag (or digest) of the valid token's signing input in the
// verifier's stack buffers, which is what a verification whose hash output is lost would
// compare against.
enum Phase : int {
  kImport,
  kValid1,
  kValid2,
  kFlippedSig,
  kForgedPayload,
  kValid3,
  kPhaseCount
};
constexpr const char* kPhaseNames[] = {"import",
                                       "verify valid",
                                       "verify valid again",
                                       "verify flipped signature",
                                       "verify forged payload",
                                       "verify valid after"};

// RSA imports divide the modulus by every odd prime below 2^16 (about 6,500 BN_mod_word calls).
constexpr int kMaxCalls = 16384;

// Process-wide state of the injector; each child process has its own copy.
struct State {
  bool armed = false;
  Phase phase = kImport;
  long calls = 0;
  long fail_at = 0;  // 0: never
  int failed_entry = -1;
  Phase failed_phase = kImport;
  long per_entry[kEntryCount] = {};
  int16_t entry_of_call[kMaxCalls] = {};  // call k is entry_of_call[k - 1]
  int8_t phase_of_call[kMaxCalls] = {};
};
State g;

bool ShouldFail(Entry e) noexcept {
  if (!g.armed) return false;
  ++g.per_entry[e];
  if (g.calls < kMaxCalls) {
    g.entry_of_call[g.calls] = static_cast<int16_t>(e);
    g.phase_of_call[g.calls] = static_cast<int8_t>(g.phase);
  }
  if (++g.calls != g.fail_at) return false;
  g.failed_entry = e;
  g.failed_phase = g.phase;
  return true;
}

}  // namespace fault

extern "C" {
#define FAULT_WRAP(name, ret, fail_value, params, args)        \
  ret __real_##name params;                                    \
  ret __wrap_##name params {                                   \
    if (fault::ShouldFail(fault::k_##name)) return fail_value; \
    return __real_##name args;                                 \
  }
FAULT_ENTRY_POINTS(FAULT_WRAP)
#undef FAULT_WRAP
}

namespace jwtgate {
namespace {

constexpr int64_t kNow = 1700000000;

// What can go wrong in one run.
enum Violation : unsigned {
  kCrash = 1,         // the child died (signal, sanitizer report) before reporting
  kLeak = 2,          // LeakSanitizer found unreachable memory after the scenario
  kFaultedOk = 4,     // the operation the fault landed in returned kOk
  kForgedOk = 8,      // the forged payload or the flipped signature was accepted
  kNotRecovered = 16  // a later verification of the valid token was rejected
};

std::string ViolationNames(unsigned v) {
  std::string s;
  const std::pair<unsigned, const char*> names[] = {
      {kCrash, "crash"},
      {kLeak, "leak"},
      {kFaultedOk, "faulted operation succeeded"},
      {kForgedOk, "forged token accepted"},
      {kNotRecovered, "valid token rejected afterwards"}};
  for (const auto& [bit, name] : names) {
    if ((v & bit) != 0) s += std::string(s.empty() ? "" : ", ") + name;
  }
  return s;
}

constexpr unsigned PhaseBit(fault::Phase p) { return 1u << p; }
constexpr unsigned kVerifyPhases =
    PhaseBit(fault::kValid1) | PhaseBit(fault::kValid2) | PhaseBit(fault::kFlippedSig) |
    PhaseBit(fault::kForgedPayload) | PhaseBit(fault::kValid3);
constexpr unsigned kImportPhase = PhaseBit(fault::kImport);

// Outcomes that break the rules above for a reason traced to a specific place in core. They
// are reported on every run; any other violation, or another kind of violation at the same
// place, fails the test. Each row is a core bug (see tests/CATALOGUE.md, row B9): delete the
// row when core is fixed, and the sweep enforces the rule there too.
struct KnownGap {
  fault::Entry entry;
  unsigned phases;
  unsigned allowed;
  const char* reason;
};

// Empty: every injected failure must reject. A future exception needs a row here with the
// place in core and the reason.
const std::vector<KnownGap> kKnownGaps = {};

const KnownGap* FindGap(int entry, fault::Phase phase) {
  for (const KnownGap& gap : kKnownGaps) {
    if (gap.entry == entry && (gap.phases & PhaseBit(phase)) != 0) return &gap;
  }
  return nullptr;
}

struct Scenario {
  std::string name;
  Alg alg;
  std::string jwks;               // imported with AddJwks when `pem` is empty
  std::string pem;                // SPKI PEM, imported with AddPem
  std::string valid;              // signed with the key
  std::string flipped_signature;  // valid with one signature bit flipped
  std::string forged_payload;     // valid's signature over another payload
};

// What a child sends back through its pipe.
struct Report {
  Status import = Status::kInternalError;
  Status verify[fault::kPhaseCount] = {};
  bool verified = false;  // the import succeeded and the verifications ran
  long calls = 0;
  int failed_entry = -1;
  fault::Phase failed_phase = fault::kImport;
  long per_entry[fault::kEntryCount] = {};
  int16_t entry_of_call[fault::kMaxCalls] = {};
  int8_t phase_of_call[fault::kMaxCalls] = {};
  bool leak = false;
  // Filled in by the parent.
  bool exited_normally = false;
  int wait_status = 0;
};

Report Execute(const Scenario& sc, long fail_at) {
  Report r;
  fault::g = fault::State{};
  fault::g.fail_at = fail_at;
  fault::g.armed = true;
  {
    KeySet::Builder builder;
    fault::g.phase = fault::kImport;
    if (sc.pem.empty()) {
      r.import = builder.AddJwks(sc.jwks);
    } else {
      r.import = builder.AddPem(sc.pem, sc.alg, std::string("fault-kid"));
    }
    if (r.import == Status::kOk) {
      Verifier verifier(builder.Build(), VerifierOptions{});
      VerifyContext ctx;
      const std::string* tokens[fault::kPhaseCount] = {
          nullptr, &sc.valid, &sc.valid, &sc.flipped_signature, &sc.forged_payload, &sc.valid};
      for (int p = fault::kValid1; p < fault::kPhaseCount; ++p) {
        fault::g.phase = static_cast<fault::Phase>(p);
        r.verify[p] = verifier.Verify(*tokens[p], kNow, ctx, nullptr);
      }
      r.verified = true;
    }
  }
  fault::g.armed = false;
  r.calls = fault::g.calls;
  r.failed_entry = fault::g.failed_entry;
  r.failed_phase = fault::g.failed_phase;
  std::copy(std::begin(fault::g.per_entry), std::end(fault::g.per_entry), r.per_entry);
  std::copy(std::begin(fault::g.entry_of_call), std::end(fault::g.entry_of_call),
            r.entry_of_call);
  std::copy(std::begin(fault::g.phase_of_call), std::end(fault::g.phase_of_call),
            r.phase_of_call);
#if JWTGATE_FAULT_LEAK_CHECK
  r.leak = __lsan_do_recoverable_leak_check() != 0;
#endif
  return r;
}

// Runs the scenario in a child process, so that process-wide caches (digests fetched once,
// libsodium initialisation) start cold in every run and a crash is an observable outcome.
Report RunInChild(const Scenario& sc, long fail_at) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  std::fflush(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // A crash is an outcome to report from the parent, not a failure of this process: the
    // test framework's handlers stay out of the child.
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) std::signal(sig, SIG_DFL);
    close(fds[0]);
    const auto r = std::make_unique<Report>(Execute(sc, fail_at));
    const char* p = reinterpret_cast<const char*>(r.get());
    size_t left = sizeof(Report);
    while (left > 0) {
      const ssize_t n = write(fds[1], p, left);
      if (n <= 0) _exit(3);
      p += n;
      left -= static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  auto r = std::make_unique<Report>();
  char* p = reinterpret_cast<char*>(r.get());
  size_t got = 0;
  while (got < sizeof(Report)) {
    const ssize_t n = read(fds[0], p + got, sizeof(Report) - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  const bool complete = got == sizeof(Report);
  if (!complete) *r = Report{};
  r->wait_status = status;
  r->exited_normally = complete && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return *r;
}

// ---------------------------------------------------------------------------------------------
// Keys and tokens (made in the parent, with the injector disarmed)

std::string PublicPemOf(const std::string& private_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> in(
      BIO_new_mem_buf(private_pem.data(), static_cast<int>(private_pem.size())), BIO_free);
  REQUIRE(in);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  REQUIRE(pkey);
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  REQUIRE(PEM_write_bio_PUBKEY(out.get(), pkey.get()) == 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string FlipBit(const std::string& token) {
  // A bit in the middle of the signature's decoded bytes, re-encoded canonically.
  const size_t dot = token.rfind('.');
  std::string sig;
  REQUIRE(jose::Base64UrlDecode(std::string_view(token).substr(dot + 1), &sig));
  sig[sig.size() / 2] = static_cast<char>(sig[sig.size() / 2] ^ 0x10);
  return token.substr(0, dot + 1) + jose::Base64UrlEncode(sig);
}

std::string ForgePayload(const std::string& token, const std::string& payload_json) {
  const size_t dot1 = token.find('.');
  const size_t dot2 = token.rfind('.');
  return token.substr(0, dot1 + 1) + jose::Base64UrlEncode(payload_json) + token.substr(dot2);
}

// Header {"alg":..,"typ":"JWT","kid":"fault-kid"}; payload below (valid at kNow).
constexpr std::string_view kClaims =
    R"({"iss":"https://issuer.example","sub":"user-1","iat":1700000000,"exp":1700000600})";
constexpr std::string_view kForgedClaims =
    R"({"iss":"https://issuer.example","sub":"admin","iat":1700000000,"exp":1800000000})";

Scenario MakeScenario(Alg alg, bool pem, std::string_view name_suffix = "",
                      std::optional<std::string> hmac_secret_jwk = std::nullopt) {
  Scenario sc;
  sc.alg = alg;
  sc.name = std::string(AlgName(alg)) + (pem ? " (SPKI PEM)" : " (JWKS)") +
            std::string(name_suffix);
  std::string private_key, public_jwk;
  if (hmac_secret_jwk) {
    private_key = public_jwk = *hmac_secret_jwk;
  } else {
    REQUIRE(GenerateKey(alg, std::string("fault-kid"), &private_key, &public_jwk) ==
            Status::kOk);
  }
  auto signer = FamilyOf(alg) == AlgFamily::kHmac ? Signer::FromJwk(private_key, alg)
                                                  : Signer::FromPem(private_key, alg);
  REQUIRE(signer.ok());
  auto token = signer.value().Sign(kClaims, std::string_view("fault-kid"));
  REQUIRE(token.ok());
  sc.valid = token.value();
  if (pem) {
    sc.pem = PublicPemOf(private_key);
  } else {
    sc.jwks = R"({"keys":[)" + public_jwk + "]}";
  }
  sc.flipped_signature = FlipBit(sc.valid);
  sc.forged_payload = ForgePayload(sc.valid, std::string(kForgedClaims));
  return sc;
}

std::vector<Scenario> AllScenarios() {
  std::vector<Scenario> out;
  for (Alg a : kAllAlgs) out.push_back(MakeScenario(a, false));
  for (Alg a : {Alg::kRS256, Alg::kPS384, Alg::kES256, Alg::kES512, Alg::kEdDSA}) {
    out.push_back(MakeScenario(a, true));
  }
  // Secrets longer than the hash block: the HMAC key schedule hashes them first (one-shot
  // SHA256/SHA384/SHA512).
  std::string secret(200, 'k');
  for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<char>('A' + i % 26);
  for (Alg a : {Alg::kHS256, Alg::kHS384, Alg::kHS512}) {
    const std::string jwk = R"({"kty":"oct","alg":")" + std::string(AlgName(a)) +
                            R"(","kid":"fault-kid","k":")" + jose::Base64UrlEncode(secret) +
                            R"("})";
    out.push_back(MakeScenario(a, false, ", 200-byte secret", jwk));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The sweep

struct Figures {
  long injections = 0;
  long failures = 0;
  long known_gap_runs = 0;
  std::map<std::string, long> per_entry_injections;
  std::map<std::string, std::set<std::string>> per_entry_statuses;
  std::set<std::string> statuses;
  struct GapHits {
    const KnownGap* gap;
    unsigned kinds = 0;
    long runs = 0;
    std::set<std::string> scenarios;
    std::string example;
  };
  std::map<std::string, GapHits> gaps;  // "entry during phase"
};

std::string Describe(const Scenario& sc, long k, int entry, fault::Phase phase,
                     const Report& r) {
  std::string s = sc.name + ", k=" + std::to_string(k);
  if (entry >= 0) {
    s += " (" + std::string(fault::kEntryNames[entry]) + " fails during " +
         fault::kPhaseNames[phase] + ")";
  }
  if (!r.exited_normally) {
    return s + ": the child died, wait status " + std::to_string(r.wait_status);
  }
  s += ": import=" + std::string(ToString(r.import));
  if (r.verified) {
    for (int p = fault::kValid1; p < fault::kPhaseCount; ++p) {
      s += std::string(", ") + fault::kPhaseNames[p] + "=" + std::string(ToString(r.verify[p]));
    }
  }
  return s;
}

bool IsValidPhase(int p) {
  return p == fault::kValid1 || p == fault::kValid2 || p == fault::kValid3;
}

void Sweep(const Scenario& sc, Figures* fig, long* seen) {
  const Report dry = RunInChild(sc, 0);
  INFO(Describe(sc, 0, -1, fault::kImport, dry));
  REQUIRE(dry.exited_normally);
  REQUIRE(dry.import == Status::kOk);
  REQUIRE(dry.verified);
  // Without a fault: the valid token verifies every time, the forged ones are rejected.
  CHECK(ToString(dry.verify[fault::kValid1]) == ToString(Status::kOk));
  CHECK(ToString(dry.verify[fault::kValid2]) == ToString(Status::kOk));
  CHECK(ToString(dry.verify[fault::kValid3]) == ToString(Status::kOk));
  CHECK(ToString(dry.verify[fault::kFlippedSig]) == ToString(Status::kSignatureInvalid));
  CHECK(ToString(dry.verify[fault::kForgedPayload]) == ToString(Status::kSignatureInvalid));
  CHECK_FALSE(dry.leak);
  REQUIRE(dry.calls > 0);  // the wrappers see the library's calls
  REQUIRE(dry.calls <= fault::kMaxCalls);
  for (int e = 0; e < fault::kEntryCount; ++e) seen[e] += dry.per_entry[e];

  long run = 0;  // position of call k in a run of consecutive calls to the same entry and phase
  for (long k = 1; k <= dry.calls; ++k) {
    const int entry = dry.entry_of_call[k - 1];
    const auto phase = static_cast<fault::Phase>(dry.phase_of_call[k - 1]);
    const bool same_as_previous = k > 1 && dry.entry_of_call[k - 2] == entry &&
                                  dry.phase_of_call[k - 2] == dry.phase_of_call[k - 1];
    run = same_as_previous ? run + 1 : 0;
    const bool last_of_run = k == dry.calls || dry.entry_of_call[k] != entry ||
                             dry.phase_of_call[k] != dry.phase_of_call[k - 1];
    // A long run of one call in a loop (trial division) is injected at its first calls and
    // its last: the loop's handling of a failure does not depend on the iteration.
    if (run >= 4 && !last_of_run) continue;
    const Report r = RunInChild(sc, k);
    const std::string what = Describe(sc, k, entry, phase, r);
    INFO(what);
    ++fig->injections;
    const std::string entry_name = fault::kEntryNames[entry];
    ++fig->per_entry_injections[entry_name];

    unsigned v = 0;
    if (!r.exited_normally) {
      v |= kCrash;
    } else {
      // Runs are deterministic: the k-th call is the one the dry run saw.
      REQUIRE(r.failed_entry == entry);
      REQUIRE(r.failed_phase == phase);
      if (r.leak) v |= kLeak;
      const Status faulted = phase == fault::kImport ? r.import : r.verify[phase];
      if (faulted == Status::kOk) {
        v |= kFaultedOk;
      } else {
        fig->statuses.insert(std::string(ToString(faulted)));
        fig->per_entry_statuses[entry_name].insert(std::string(ToString(faulted)));
      }
      if (r.verified) {
        if (r.verify[fault::kForgedPayload] == Status::kOk ||
            r.verify[fault::kFlippedSig] == Status::kOk) {
          v |= kForgedOk;
        }
        for (int p = phase + 1; p < fault::kPhaseCount; ++p) {
          if (IsValidPhase(p) && r.verify[p] != Status::kOk) v |= kNotRecovered;
        }
      }
    }
    if (v == 0) continue;
    const KnownGap* gap = FindGap(entry, phase);
    if (gap != nullptr && (v & ~gap->allowed) == 0) {
      ++fig->known_gap_runs;
      auto& hits = fig->gaps[entry_name + " during " + fault::kPhaseNames[phase]];
      hits.gap = gap;
      hits.kinds |= v;
      hits.scenarios.insert(sc.name);
      // Keep the most telling example: one where a forged token got through, if any.
      if (hits.runs++ == 0 ||
          ((v & kForgedOk) != 0 && hits.example.find("forged token") == std::string::npos)) {
        hits.example = what + " [" + ViolationNames(v) + "]";
      }
      continue;
    }
    ++fig->failures;
    FAIL_CHECK("fail-closed rule broken (" << ViolationNames(v) << "): " << what);
  }
}

TEST_CASE("B9: a failing OpenSSL or libsodium call never lets a token through",
          "[fault][security]") {
  const std::vector<Scenario> scenarios = AllScenarios();
  Figures fig;
  long seen[fault::kEntryCount] = {};
  for (const Scenario& sc : scenarios) Sweep(sc, &fig, seen);

  std::printf("fault injection: %d entry points wrapped, %zu scenarios, %ld injections, "
              "%ld rule violations, %ld runs in known gaps\n",
              static_cast<int>(fault::kEntryCount), scenarios.size(), fig.injections,
              fig.failures, fig.known_gap_runs);
  std::printf("statuses returned by the operation the fault landed in:");
  for (const auto& s : fig.statuses) std::printf(" %s", s.c_str());
  std::printf("\n");
  for (int e = 0; e < fault::kEntryCount; ++e) {
    const std::string name = fault::kEntryNames[e];
    std::printf("  %-34s calls %4ld  injections %4ld  ->", name.c_str(), seen[e],
                fig.per_entry_injections[name]);
    for (const auto& s : fig.per_entry_statuses[name]) std::printf(" %s", s.c_str());
    std::printf("\n");
  }
  for (const auto& [where, hits] : fig.gaps) {
    std::string names;
    for (const auto& n : hits.scenarios) names += (names.empty() ? "" : "; ") + n;
    std::printf("KNOWN GAP %s: %ld runs (%s)\n    %s\n    in: %s\n    e.g. %s\n",
                where.c_str(), hits.runs, ViolationNames(hits.kinds).c_str(),
                hits.gap->reason, names.c_str(), hits.example.c_str());
  }
  std::fflush(stdout);

  // Every wrapped entry point is reached by at least one scenario: a wrapper that never runs
  // would make its part of the sweep vacuous.
  for (int e = 0; e < fault::kEntryCount; ++e) {
    INFO(fault::kEntryNames[e]);
    CHECK(seen[e] > 0);
  }
  CHECK(fig.failures == 0);
}

}  // namespace
}  // namespace jwtgate
