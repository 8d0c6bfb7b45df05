#include "jwtgate/verifier.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>
#include <utility>

#include "crypto/key.h"
#include "crypto/key_set_access.h"
#include "jose/base64url.h"
#include "jose/compact.h"
#include "jose/padded_buffer.h"
#include "jose/strict_json.h"
#include "verify/claims_policy.h"
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace jwtgate {

namespace {

struct Header {
  bool has_alg = false;
  bool has_kid = false;
  bool has_typ = false;
  Alg alg = Alg::kHS256;
  std::string_view kid;
  std::string_view typ;
};

// The protected headers this context accepted last, by their exact base64url bytes. Tokens of
// one issuer and key carry byte-identical headers, so a hit skips the header's decode, parse,
// checks and key lookup. A deployment sees a few dozen distinct headers at most (a kid per key
// and algorithm, a few issuers, a rotation in progress), and requests arrive in any order, so
// the memo holds 64 of them: 16 sets of 4, the set chosen by a hash of the segment, round-robin
// replacement within a set. An entry is valid only for the Verifier (by unique id) that filled
// it: its key set is immutable and outlives it, so `key` stays valid.
//
// Measured (bench/verify_bench.cc, BM_HeaderMix): 16 kids over HS256/HS384/HS512 in random
// order cost the same as one header repeated, where a one-entry memo missed on nearly every
// token (results/2026-12-07-vm/header_mix).
struct HeaderMemo {
  static constexpr size_t kMaxSegment = 192;  // longer headers are not memoized
  static constexpr size_t kMaxName = 64;      // nor are longer (decoded) kid and typ values
  static constexpr size_t kSets = 16;
  static constexpr size_t kWays = 4;
  struct Entry {
    uint64_t verifier_id = 0;  // 0: empty
    const Key* key = nullptr;
    uint16_t segment_len = 0;
    uint8_t kid_len = 0, typ_len = 0;
    Alg alg = Alg::kHS256;
    bool has_kid = false;
    bool has_typ = false;
    char segment[kMaxSegment];
    char kid[kMaxName];
    char typ[kMaxName];
  };

  static size_t SetOf(std::string_view segment) noexcept {
    return static_cast<size_t>(XXH3_64bits(segment.data(), segment.size())) & (kSets - 1);
  }
  const Entry* Find(uint64_t verifier_id, std::string_view segment, size_t set) const noexcept {
    for (const Entry& e : entries[set]) {
      if (e.verifier_id == verifier_id && e.segment_len == segment.size() &&
          std::memcmp(e.segment, segment.data(), segment.size()) == 0) {
        return &e;
      }
    }
    return nullptr;
  }
  // The entry to fill for a header of `set`; the caller sets verifier_id last.
  Entry& Victim(size_t set) noexcept {
    Entry& e = entries[set][next[set]];
    next[set] = static_cast<uint8_t>((next[set] + 1) % kWays);
    return e;
  }

  Entry entries[kSets][kWays];
  uint8_t next[kSets] = {};
};

}  // namespace

std::atomic<uint64_t> g_next_verifier_id{1};

struct VerifyContext::Impl {
  explicit Impl(const Limits& l)
      : limits(l),
        header_buf(l.max_header_bytes),
        payload_buf(l.max_payload_bytes),
        header_parser(l.max_header_bytes, l.max_json_depth),
        payload_parser(l.max_payload_bytes, l.max_json_depth) {}

  // Rebuilds the buffers only when a verifier with larger limits uses this context.
  void Fit(const Limits& l) {
    if (l.max_header_bytes > limits.max_header_bytes ||
        l.max_payload_bytes > limits.max_payload_bytes ||
        l.max_json_depth != limits.max_json_depth) {
      Limits grown = limits;
      grown.max_header_bytes = std::max(grown.max_header_bytes, l.max_header_bytes);
      grown.max_payload_bytes = std::max(grown.max_payload_bytes, l.max_payload_bytes);
      grown.max_json_depth = l.max_json_depth;
      this->~Impl();
      new (this) Impl(grown);
    }
  }

  Limits limits;
  jose::PaddedBuffer header_buf;
  jose::PaddedBuffer payload_buf;
  jose::StrictJsonParser header_parser;
  jose::StrictJsonParser payload_parser;
  simdjson::dom::object payload;  // valid after a successful Verify
  bool payload_valid = false;
  uint8_t sig_buf[1024 + 4];  // RSA-8192 signatures are 1024 bytes
  HeaderMemo memo;
  char number_text[32];
};

VerifyContext::VerifyContext() : impl_(std::make_unique<Impl>(Limits{})) {}
VerifyContext::~VerifyContext() = default;

namespace {

// The text of a scalar JSON value: strings as they decode, numbers and booleans in their JSON
// text (written into `buf`, 32 bytes). False for null, objects and arrays.
bool ScalarText(simdjson::dom::element e, char (&buf)[32], std::string_view* out) noexcept {
  switch (e.type()) {
    case simdjson::dom::element_type::STRING:
      return e.get_string().get(*out) == simdjson::SUCCESS;
    case simdjson::dom::element_type::INT64: {
      auto r = std::to_chars(buf, buf + sizeof buf, int64_t(e));
      *out = std::string_view(buf, static_cast<size_t>(r.ptr - buf));
      return true;
    }
    case simdjson::dom::element_type::UINT64: {
      auto r = std::to_chars(buf, buf + sizeof buf, uint64_t(e));
      *out = std::string_view(buf, static_cast<size_t>(r.ptr - buf));
      return true;
    }
    case simdjson::dom::element_type::DOUBLE: {
      auto r = std::to_chars(buf, buf + sizeof buf, double(e));
      *out = std::string_view(buf, static_cast<size_t>(r.ptr - buf));
      return true;
    }
    case simdjson::dom::element_type::BOOL:
      *out = bool(e) ? "true" : "false";
      return true;
    default:
      return false;
  }
}

}  // namespace

bool IsValidClaimPath(std::string_view path, std::string* why) {
  auto fail = [why](const char* what) {
    if (why != nullptr) *why = what;
    return false;
  };
  if (path.empty()) return fail("empty claim name");
  if (path[0] != '/') return true;  // a top-level member name: any string
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '~') continue;
    if (i + 1 == path.size() || (path[i + 1] != '0' && path[i + 1] != '1')) {
      return fail("JSON pointer: '~' must be followed by '0' or '1' (RFC 6901)");
    }
  }
  return true;
}

bool VerifyContext::ClaimAsString(std::string_view name, std::string_view* out) const noexcept {
  if (!impl_->payload_valid) return false;
  simdjson::dom::element e;
  if (impl_->payload[name].get(e) != simdjson::SUCCESS) return false;
  return ScalarText(e, impl_->number_text, out);
}

void VerifyContext::Capture(std::string_view path, ClaimValue* out) const {
  out->kind = ClaimValue::Kind::kAbsent;
  out->items.clear();
  if (!impl_->payload_valid || !IsValidClaimPath(path)) return;
  simdjson::dom::element e;
  // at_pointer, not operator[]: a name is matched whole, '/' and '~' included.
  const auto found = path[0] == '/' ? impl_->payload.at_pointer(path) : impl_->payload[path];
  if (found.get(e) != simdjson::SUCCESS) return;
  std::string_view text;
  if (simdjson::dom::array array; e.get_array().get(array) == simdjson::SUCCESS) {
    out->kind = ClaimValue::Kind::kArray;
    for (simdjson::dom::element item : array) {
      if (ScalarText(item, impl_->number_text, &text)) out->items.emplace_back(text);
    }
  } else if (ScalarText(e, impl_->number_text, &text)) {
    out->kind = ClaimValue::Kind::kScalar;
    out->items.emplace_back(text);
  } else {
    out->kind = ClaimValue::Kind::kOther;
  }
}

Verifier::Verifier(std::shared_ptr<const KeySet> keys, VerifierOptions options,
                   const RevocationCheck* revocation)
    : keys_(std::move(keys)),
      options_(std::move(options)),
      revocation_(revocation),
      // relaxed: only uniqueness matters.
      id_(g_next_verifier_id.fetch_add(1, std::memory_order_relaxed)) {
  for (Alg a : kAllAlgs) {
    if (options_.algorithms.Contains(a) && keys_->algs().Contains(a)) allowed_.Add(a);
  }
}

Verifier::~Verifier() = default;

namespace {

bool IsNestedJwtCty(std::string_view cty) {
  // RFC 7519 §5.2: "JWT", compared as a media type.
  return verify::TypMatches("JWT", cty);
}

// One pass over the protected header. Members this verifier does not know are ignored, as
// RFC 7515 §4 requires, unless listed in `crit` (which is rejected outright: no extension is
// understood). jwk, jku, x5u, x5c, x5t are never read: keys come from configuration only.
Status ParseHeader(simdjson::dom::object h, const VerifierOptions& opt, AlgSet allowed,
                   Header* out) noexcept {
  for (auto field : h) {
    const std::string_view k = field.key;
    const simdjson::dom::element v = field.value;
    if (k == "alg") {
      std::string_view name;
      if (v.get_string().get(name) != simdjson::SUCCESS) return Status::kAlgInvalid;
      if (!AlgFromName(name, &out->alg)) return Status::kAlgNotAllowed;  // none, None, RS1, ...
      out->has_alg = true;
    } else if (k == "kid") {
      if (v.get_string().get(out->kid) != simdjson::SUCCESS) return Status::kKidInvalid;
      if (out->kid.size() > opt.limits.max_kid_bytes) return Status::kKidInvalid;
      out->has_kid = true;
    } else if (k == "typ") {
      if (v.get_string().get(out->typ) != simdjson::SUCCESS) return Status::kTypInvalid;
      out->has_typ = true;
    } else if (k == "crit") {
      return Status::kCritUnsupported;
    } else if (k == "b64") {
      return Status::kB64Unsupported;
    } else if (k == "zip") {
      return Status::kZipUnsupported;
    } else if (k == "cty") {
      std::string_view cty;
      if (v.get_string().get(cty) == simdjson::SUCCESS && IsNestedJwtCty(cty)) {
        return Status::kNestedJwtUnsupported;
      }
    } else if (k == "enc" || k == "epk" || k == "p2c" || k == "p2s" || k == "iv" || k == "tag" ||
               k == "apu" || k == "apv") {
      return Status::kJweHeaderParameter;
    }
  }
  if (!out->has_alg) return Status::kAlgMissing;
  if (!allowed.Contains(out->alg)) return Status::kAlgNotAllowed;
  return Status::kOk;
}

// How a JSON segment (the header or the payload) fails, in its own statuses.
struct SegmentStatuses {
  Status too_large;
  Status bad_base64;
  Status not_object;
  Status duplicate_member;
  Status bad_json;
};
constexpr SegmentStatuses kHeaderStatuses = {
    Status::kHeaderTooLarge, Status::kHeaderBadBase64, Status::kHeaderNotObject,
    Status::kHeaderDuplicateMember, Status::kHeaderBadJson};
constexpr SegmentStatuses kPayloadStatuses = {
    Status::kPayloadTooLarge, Status::kPayloadBadBase64, Status::kPayloadNotObject,
    Status::kPayloadDuplicateMember, Status::kPayloadBadJson};

Status DecodeSegment(std::string_view b64, size_t max_decoded, jose::PaddedBuffer& buf,
                     const SegmentStatuses& st, size_t* len) noexcept {
  if (b64.size() % 4 == 1) return st.bad_base64;
  if (jose::Base64UrlDecodedSize(b64.size()) > max_decoded) return st.too_large;
  if (!jose::Base64UrlDecode(b64, buf.data(), len)) return st.bad_base64;
  return Status::kOk;
}

Status ParseStatus(jose::JsonError e, const SegmentStatuses& st) noexcept {
  switch (e) {
    case jose::JsonError::kOk:
      return Status::kOk;
    case jose::JsonError::kNotObject:
      return st.not_object;
    case jose::JsonError::kDuplicateMember:
      return st.duplicate_member;
    case jose::JsonError::kTooLarge:
      return st.too_large;
    default:
      return st.bad_json;
  }
}

thread_local VerifyContext* tls_context = nullptr;

}  // namespace

Status Verifier::Verify(std::string_view token, int64_t now, VerifyContext& ctx,
                        Claims* out) const noexcept {
  if (out == nullptr) {
    // A Claims on the stack only when the caller wants none: zeroing one cost about 10 ns of
    // every BM_Verify/HS256 call (perf: the rep stos of Verify), where the caller passes one.
    Claims local;
    return Verify(token, now, ctx, &local);
  }
  Claims* c = out;
  if (Status s = VerifyBeforeRevocation(token, now, ctx, c); s != Status::kOk) return s;
  if (revocation_ != nullptr && revocation_->IsRevoked(*c)) {
    ctx.impl().payload_valid = false;
    return Status::kRevoked;
  }
  return Status::kOk;
}

Status Verifier::VerifyBeforeRevocation(std::string_view token, int64_t now, VerifyContext& ctx,
                                        Claims* c) const noexcept {
  VerifyContext::Impl& cx = ctx.impl();
  cx.payload_valid = false;
  const Limits& lim = options_.limits;
  cx.Fit(lim);

  jose::CompactParts parts;
  if (Status s = jose::SplitCompact(token, lim.max_token_bytes, &parts); s != Status::kOk) return s;

  Header h;
  const Key* key = nullptr;
  HeaderMemo& memo = cx.memo;
  const size_t memo_set = HeaderMemo::SetOf(parts.header);
  if (const HeaderMemo::Entry* m = memo.Find(id_, parts.header, memo_set); m != nullptr) {
    h.has_alg = true;
    h.alg = m->alg;
    h.has_kid = m->has_kid;
    h.has_typ = m->has_typ;
    h.kid = std::string_view(m->kid, m->kid_len);
    h.typ = std::string_view(m->typ, m->typ_len);
    key = m->key;
  } else {
    size_t header_len = 0;
    if (Status s = DecodeSegment(parts.header, lim.max_header_bytes, cx.header_buf, kHeaderStatuses,
                                 &header_len);
        s != Status::kOk) {
      return s;
    }
    simdjson::dom::object header_obj;
    if (Status s = ParseStatus(
            cx.header_parser.Parse(cx.header_buf.data(), header_len, &header_obj), kHeaderStatuses);
        s != Status::kOk) {
      return s;
    }
    if (Status s = ParseHeader(header_obj, options_, allowed_, &h); s != Status::kOk) return s;
    // Key by (kid, alg): the algorithm is the key's; the header only has to name it exactly.
    if (Status s = crypto::KeySetAccess::Find(*keys_, h.has_kid, h.kid, h.alg, &key);
        s != Status::kOk) {
      return s;
    }
    if (parts.header.size() <= HeaderMemo::kMaxSegment && h.kid.size() <= HeaderMemo::kMaxName &&
        h.typ.size() <= HeaderMemo::kMaxName) {
      HeaderMemo::Entry& e = memo.Victim(memo_set);
      e.verifier_id = 0;
      e.segment_len = static_cast<uint16_t>(parts.header.size());
      std::memcpy(e.segment, parts.header.data(), parts.header.size());
      e.alg = h.alg;
      e.has_kid = h.has_kid;
      e.has_typ = h.has_typ;
      e.kid_len = static_cast<uint8_t>(h.kid.size());
      if (!h.kid.empty()) std::memcpy(e.kid, h.kid.data(), h.kid.size());
      e.typ_len = static_cast<uint8_t>(h.typ.size());
      if (!h.typ.empty()) std::memcpy(e.typ, h.typ.data(), h.typ.size());
      e.key = key;
      e.verifier_id = id_;
      // Views into the memo: the header parser's buffers are reused by the next parse.
      h.kid = std::string_view(e.kid, e.kid_len);
      h.typ = std::string_view(e.typ, e.typ_len);
    }
  }

  // Signature: exact length, strict base64url, then the check.
  const size_t sig_size = key->signature_size();
  if (parts.signature.size() != jose::Base64UrlEncodedSize(sig_size)) {
    return parts.signature.size() % 4 == 1 ? Status::kSignatureBadBase64
                                           : Status::kSignatureBadLength;
  }
  size_t sig_len = 0;
  if (!jose::Base64UrlDecode(parts.signature, cx.sig_buf, &sig_len)) {
    return Status::kSignatureBadBase64;
  }
  if (!key->VerifySignature(parts.signing_input, cx.sig_buf, sig_len)) {
    return Status::kSignatureInvalid;
  }

  // Claims, on authenticated bytes only.
  size_t payload_len = 0;
  if (Status s = DecodeSegment(parts.payload, lim.max_payload_bytes, cx.payload_buf,
                               kPayloadStatuses, &payload_len);
      s != Status::kOk) {
    return s;
  }
  if (Status s =
          ParseStatus(cx.payload_parser.Parse(cx.payload_buf.data(), payload_len, &cx.payload),
                      kPayloadStatuses);
      s != Status::kOk) {
    return s;
  }
  c->alg = h.alg;
  c->has_kid = h.has_kid;
  c->kid = h.kid;
  c->typ = h.typ;
  c->has_typ = h.has_typ;
  c->payload_json =
      std::string_view(reinterpret_cast<const char*>(cx.payload_buf.data()), payload_len);
  if (Status s = verify::ExtractAndCheckClaims(cx.payload, options_.policy, now, c);
      s != Status::kOk) {
    return s;
  }
  // Issuer binding: a key that speaks for one issuer vouches only for tokens of that issuer.
  if (const std::string& bound = key->issuer(); !bound.empty() && c->iss != bound) {
    return c->iss.empty() ? Status::kIssMissing : Status::kIssNotAllowed;
  }
  cx.payload_valid = true;
  return Status::kOk;
}

Status Verifier::Verify(std::string_view token, int64_t now, Claims* out) const noexcept {
  if (tls_context == nullptr) {
    // Owned by the thread; released at thread exit.
    thread_local std::unique_ptr<VerifyContext> owned;
    try {
      owned = std::make_unique<VerifyContext>();
    } catch (...) {
      return Status::kInternalError;
    }
    tls_context = owned.get();
  }
  return Verify(token, now, *tls_context, out);
}

Status Verifier::Recheck(const Claims& claims, int64_t now) const noexcept {
  if (Status s = verify::CheckExpiry(claims, options_.policy, now); s != Status::kOk) return s;
  if (revocation_ != nullptr && revocation_->IsRevoked(claims)) return Status::kRevoked;
  return Status::kOk;
}

void Verifier::RecheckBatch(const Claims* claims, size_t n, int64_t now,
                            Status* out) const noexcept {
  constexpr size_t kChunk = 64;
  bool revoked[kChunk];
  for (size_t begin = 0; begin < n; begin += kChunk) {
    const size_t m = std::min(kChunk, n - begin);
    // Revocation for every token of the chunk, expired or not: one batch call, and an
    // expired token's verdict is kExpired whatever it says.
    if (revocation_ != nullptr) revocation_->IsRevokedBatch(claims + begin, m, revoked);
    for (size_t i = 0; i < m; ++i) {
      const Status s = verify::CheckExpiry(claims[begin + i], options_.policy, now);
      out[begin + i] = s != Status::kOk                       ? s
                       : revocation_ != nullptr && revoked[i] ? Status::kRevoked
                                                              : Status::kOk;
    }
  }
}

}  // namespace jwtgate
