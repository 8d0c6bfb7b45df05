#include "crypto/signature.h"

#define OPENSSL_SUPPRESS_DEPRECATED  // low-level SHA contexts: see HashMessage

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <atomic>
#include <cstring>

#include "base/thread_slot.h"
#include "crypto/ec_curves.h"

namespace jwtgate::crypto {
namespace {

// Message digests are fetched once per process; EVP_MD_fetch takes a lock and does a by-name
// lookup, which must not happen per token. Only a successful fetch is kept: a failure is
// reported to the caller (the key import fails) and the next import tries again.
const EVP_MD* DigestFor(Alg alg) noexcept {
  static std::atomic<const EVP_MD*> cache[3] = {nullptr, nullptr, nullptr};
  static constexpr const char* kNames[3] = {"SHA256", "SHA384", "SHA512"};
  const size_t i = DigestSize(alg) == 32 ? 0 : DigestSize(alg) == 48 ? 1 : 2;
  // acquire: pairs with the release CAS below, so the EVP_MD the pointer names is complete.
  const EVP_MD* md = cache[i].load(std::memory_order_acquire);
  if (md != nullptr) return md;
  EVP_MD* fetched = EVP_MD_fetch(nullptr, kNames[i], nullptr);
  if (fetched == nullptr) return nullptr;
  const EVP_MD* expected = nullptr;
  if (!cache[i].compare_exchange_strong(expected, fetched, std::memory_order_acq_rel)) {
    EVP_MD_free(fetched);  // another thread won; keep one reference for the process
    return expected;
  }
  return fetched;
}

// One low-level SHA-2 computation: Init, Update and Final on a context on the stack, with the
// functions as template arguments so that the calls stay direct. True when all three
// succeeded.
template <typename Ctx, int (*Init)(Ctx*), int (*Update)(Ctx*, const void*, size_t),
          int (*Final)(unsigned char*, Ctx*)>
bool Sha2(std::string_view m, uint8_t* out) noexcept {
  Ctx c;
  return Init(&c) == 1 && Update(&c, m.data(), m.size()) == 1 && Final(out, &c) == 1;
}

// SHA-2 over the signing input with the low-level contexts on the stack. Not the one-shot
// SHA256(): in OpenSSL 3 it is EVP_Q_digest, which fetches the digest by name and allocates
// an EVP_MD_CTX on every call (about 300 ns on a 280-byte input, measured). The low-level
// functions are deprecated in 3.0 but supported through 3.x (see crypto/hmac.h). Returns the
// digest length, or 0 (with `out` zeroed) when any call failed: the caller must reject.
size_t HashMessage(Alg alg, std::string_view m, uint8_t* out) noexcept {
  bool ok;
  const size_t n = DigestSize(alg);
  switch (n) {
    case 32:
      ok = Sha2<SHA256_CTX, SHA256_Init, SHA256_Update, SHA256_Final>(m, out);
      break;
    case 48:
      ok = Sha2<SHA512_CTX, SHA384_Init, SHA384_Update, SHA384_Final>(m, out);
      break;
    default:
      ok = Sha2<SHA512_CTX, SHA512_Init, SHA512_Update, SHA512_Final>(m, out);
      break;
  }
  if (ok) return n;
  std::memset(out, 0, 64);
  return 0;
}

}  // namespace

std::unique_ptr<EvpVerifier> EvpVerifier::Create(EVP_PKEY* pkey, Alg alg) {
  const EVP_MD* md = DigestFor(alg);
  size_t sig_size = 0;
  if (FamilyOf(alg) == AlgFamily::kEcdsa) {
    sig_size = EcdsaSignatureSize(alg);
  } else {
    // RFC 7518 §3.3: an RSA signature is exactly the modulus length. Anything but a positive
    // size equal to ceil(bits / 8) means OpenSSL could not tell: refuse the key.
    const int size = EVP_PKEY_get_size(pkey);
    const int bits = EVP_PKEY_get_bits(pkey);
    if (size > 0 && bits > 0 && size == (bits + 7) / 8) sig_size = static_cast<size_t>(size);
  }
  if (md == nullptr || sig_size == 0) {
    EVP_PKEY_free(pkey);
    return nullptr;
  }
  return std::unique_ptr<EvpVerifier>(new EvpVerifier(pkey, alg, md, sig_size));
}

EvpVerifier::EvpVerifier(EVP_PKEY* pkey, Alg alg, const EVP_MD* md, size_t sig_size)
    : pkey_(pkey),
      alg_(alg),
      md_(md),
      sig_size_(sig_size),
      ctx_(new std::atomic<EVP_PKEY_CTX*>[kContextSlots]) {
  for (size_t i = 0; i < kContextSlots; ++i) ctx_[i].store(nullptr, std::memory_order_relaxed);
}

EvpVerifier::~EvpVerifier() {
  for (size_t i = 0; i < kContextSlots; ++i) {
    EVP_PKEY_CTX_free(ctx_[i].load(std::memory_order_acquire));
  }
  EVP_PKEY_free(pkey_);
}

EVP_PKEY_CTX* EvpVerifier::NewCtx() const noexcept {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_, nullptr);
  if (ctx == nullptr) return nullptr;
  bool ok = EVP_PKEY_verify_init(ctx) == 1 && EVP_PKEY_CTX_set_signature_md(ctx, md_) == 1;
  switch (FamilyOf(alg_)) {
    case AlgFamily::kRsaPkcs1:
      ok = ok && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
      break;
    case AlgFamily::kRsaPss:
      // RFC 7518 §3.5: MGF1 with the same hash, salt length = hash length. Set explicitly:
      // OpenSSL's default verify salt length is "auto", which accepts any salt length.
      ok = ok && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md_) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1;
      break;
    default:
      break;
  }
  if (!ok) {
    EVP_PKEY_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

bool EvpVerifier::VerifyDigest(EVP_PKEY_CTX* ctx, const uint8_t* sig, size_t sig_len,
                               const uint8_t* dgst, size_t dgst_len) const noexcept {
  if (FamilyOf(alg_) == AlgFamily::kEcdsa) {
    uint8_t der[2 * kMaxEcCoordSize + 16];
    const size_t der_len = EcdsaRawToDer(sig, sig_len / 2, der);
    return EVP_PKEY_verify(ctx, der, der_len, dgst, dgst_len) == 1;
  }
  return EVP_PKEY_verify(ctx, sig, sig_len, dgst, dgst_len) == 1;
}

bool EvpVerifier::Verify(std::string_view message, const uint8_t* sig,
                         size_t sig_len) const noexcept {
  if (sig_len != sig_size_) return false;
  uint8_t dgst[64];
  const size_t dgst_len = HashMessage(alg_, message, dgst);
  if (dgst_len == 0) return false;
  const size_t slot = base::ThisThreadSlot();
  if (slot >= kContextSlots) {
    EVP_PKEY_CTX* ctx = NewCtx();
    if (ctx == nullptr) return false;
    const bool ok = VerifyDigest(ctx, sig, sig_len, dgst, dgst_len);
    EVP_PKEY_CTX_free(ctx);
    return ok;
  }
  // Only this thread reads or writes its slot while it holds it; acquire/release pair with the
  // destructor, which runs after every user is gone, and with a later holder of the slot
  // (slot hand-over is also ordered by base/thread_slot.h).
  EVP_PKEY_CTX* ctx = ctx_[slot].load(std::memory_order_acquire);
  if (ctx == nullptr) {
    ctx = NewCtx();
    if (ctx == nullptr) return false;
    ctx_[slot].store(ctx, std::memory_order_release);
  }
  return VerifyDigest(ctx, sig, sig_len, dgst, dgst_len);
}

Ed25519Verifier::Ed25519Verifier(const uint8_t pk[32]) noexcept { std::memcpy(pk_.data(), pk, 32); }

bool Ed25519Verifier::Verify(std::string_view message, const uint8_t* sig) const noexcept {
  return crypto_sign_verify_detached(sig, reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(), pk_.data()) == 0;
}

bool Ed25519PublicKeyIsValid(const uint8_t pk[32]) noexcept {
  if (sodium_init() < 0) return false;
  return crypto_core_ed25519_is_valid_point(pk) == 1;
}

namespace {

// DER INTEGER of a non-negative big-endian number: strip leading zeros, prepend 0x00 when the
// top bit is set. `n` <= kMaxEcCoordSize (66), so lengths fit in one byte.
size_t EncodeDerInteger(const uint8_t* v, size_t n, uint8_t* out) noexcept {
  size_t i = 0;
  while (i + 1 < n && v[i] == 0) ++i;
  const bool pad = (v[i] & 0x80) != 0;
  const size_t len = n - i + (pad ? 1 : 0);
  size_t o = 0;
  out[o++] = 0x02;
  out[o++] = static_cast<uint8_t>(len);
  if (pad) out[o++] = 0;
  std::memcpy(out + o, v + i, n - i);
  return o + n - i;
}

}  // namespace

// Hand-written instead of ECDSA_SIG_new + BN_bin2bn + i2d_ECDSA_SIG (three allocations per
// token): Ecdsa-Sig-Value is SEQUENCE { r INTEGER, s INTEGER }, a fixed shape.
size_t EcdsaRawToDer(const uint8_t* rs, size_t n, uint8_t* der) noexcept {
  uint8_t body[2 * kMaxEcCoordSize + 6];
  size_t len = EncodeDerInteger(rs, n, body);
  len += EncodeDerInteger(rs + n, n, body + len);
  size_t o = 0;
  der[o++] = 0x30;
  if (len >= 0x80) {
    der[o++] = 0x81;  // P-521: body up to 138 bytes
  }
  der[o++] = static_cast<uint8_t>(len);
  std::memcpy(der + o, body, len);
  return o + len;
}

}  // namespace jwtgate::crypto
