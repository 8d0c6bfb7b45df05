#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "base/hex.h"
#include "crypto/jwk_import.h"
#include "crypto/key.h"
#include "jose/strict_json.h"
#include "jwtgate/keys.h"

namespace jwtgate {

// Keys sorted by (has_kid, kid, alg): lookups are a binary search over string views, with no
// allocation and no hashing of attacker-chosen kids.
struct KeySet::Rep {
  struct Entry {
    bool has_kid;
    std::string_view kid;
    Alg alg;
    const Key* key;
  };
  std::vector<std::unique_ptr<Key>> keys;
  std::vector<Entry> index;
  std::array<uint16_t, kAlgCount> per_alg_count{};
  std::array<const Key*, kAlgCount> per_alg_single{};
  AlgSet algs;
};

KeySet::KeySet(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
KeySet::~KeySet() = default;

size_t KeySet::size() const noexcept { return rep_->keys.size(); }
AlgSet KeySet::algs() const noexcept { return rep_->algs; }

std::vector<KeySet::Info> KeySet::Describe() const {
  std::vector<Info> out;
  for (const auto& k : rep_->keys) out.push_back(Info{k->kid(), k->has_kid(), k->alg()});
  return out;
}

Status KeySet::Find(bool has_kid, std::string_view kid, Alg alg, const Key** out) const noexcept {
  const Rep& r = *rep_;
  if (!has_kid) {
    const auto i = static_cast<size_t>(alg);
    if (r.per_alg_count[i] == 0) return Status::kKeyNotFound;
    if (r.per_alg_count[i] > 1) return Status::kKidRequired;
    if (r.per_alg_single[i]->fail_closed()) return Status::kIssuerKeysStale;
    *out = r.per_alg_single[i];
    return Status::kOk;
  }
  auto lo = std::lower_bound(r.index.begin(), r.index.end(), kid,
                             [](const Rep::Entry& e, std::string_view k) {
                               return std::tuple(e.has_kid, e.kid) < std::tuple(true, k);
                             });
  if (lo == r.index.end() || !lo->has_kid || lo->kid != kid) return Status::kUnknownKid;
  for (auto it = lo; it != r.index.end() && it->has_kid && it->kid == kid; ++it) {
    if (it->alg == alg) {
      if (it->key->fail_closed()) return Status::kIssuerKeysStale;
      *out = it->key;
      return Status::kOk;
    }
  }
  return Status::kKeyNotFound;
}

KeySet::Builder::Builder() = default;
KeySet::Builder::~Builder() = default;
size_t KeySet::Builder::size() const noexcept { return keys_.size(); }

Status KeySet::Builder::Insert(std::unique_ptr<Key> key) {
  if (key == nullptr) return Status::kInternalError;  // OpenSSL failed while preparing it
  for (const auto& k : keys_) {
    if (k->alg() == key->alg() && k->has_kid() == key->has_kid() && k->kid() == key->kid()) {
      // The same (kid, alg) twice would make selection depend on order.
      if (key->has_kid()) return Status::kKeyDuplicate;
    }
  }
  keys_.push_back(std::move(key));
  return Status::kOk;
}

namespace {

// A kid for a message: printable ASCII as is, `"` and `\` escaped, other bytes as \xNN, at most
// 64 bytes of it (a kid comes from a file that may be hostile; it must not drive a terminal).
std::string PrintableKid(std::string_view kid) {
  constexpr size_t kMaxShown = 64;
  std::string out;
  for (size_t i = 0; i < kid.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(kid[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c > 0x7e) {
      out += "\\x";
      base::AppendHexByte(c, &out);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (kid.size() > kMaxShown) out += "...";
  return out;
}

std::optional<std::string> KidOf(simdjson::dom::object jwk) {
  std::string_view kid;
  if (jwk["kid"].get_string().get(kid) != simdjson::SUCCESS) return std::nullopt;
  return std::string(kid);
}

}  // namespace

Status KeySet::Builder::FailDocument(Status s, std::string reason) {
  failed_status_ = s;
  failed_reason_ = std::move(reason);
  return s;
}

std::string KeySet::Builder::DescribeFailure() const {
  if (failed_status_ == Status::kOk) return {};
  const std::string status(ToString(failed_status_));
  if (failed_index_ == kNoKey) return failed_reason_ + " (" + status + ")";
  std::string out = "key #" + std::to_string(failed_index_);
  if (failed_kid_) out += " (kid \"" + PrintableKid(*failed_kid_) + "\")";
  out += ": " + status;
  if (!failed_reason_.empty()) out += " (" + failed_reason_ + ")";
  return out;
}

Status KeySet::Builder::AddJwks(std::string_view json, const JwksOptions& options) {
  failed_index_ = kNoKey;
  failed_kid_.reset();
  failed_status_ = Status::kOk;
  failed_reason_.clear();
  if (json.size() > options.max_bytes) {
    return FailDocument(Status::kJwksTooLarge,
                        "larger than " + std::to_string(options.max_bytes) + " bytes");
  }
  simdjson::padded_string padded(json);
  jose::StrictJsonParser parser(json.size() + 1, 16);
  simdjson::dom::object root;
  switch (parser.Parse(reinterpret_cast<const uint8_t*>(padded.data()), padded.size(), &root)) {
    case jose::JsonError::kOk:
      break;
    case jose::JsonError::kNotObject:
      return FailDocument(Status::kJwksBadJson, "not a JSON object: a key set is {\"keys\":[...]}");
    case jose::JsonError::kDuplicateMember:
      return FailDocument(Status::kJwksBadJson, "an object has the same member twice");
    case jose::JsonError::kTooDeep:
      return FailDocument(Status::kJwksBadJson, "nested too deeply");
    case jose::JsonError::kSyntax:
    case jose::JsonError::kTooLarge:
    default:
      return FailDocument(Status::kJwksBadJson, "not a JSON document");
  }
  // Each JWK with its position in the document (a skipped JWK still counts).
  std::vector<simdjson::dom::object> jwks;
  simdjson::dom::element keys;
  if (root["keys"].get(keys) == simdjson::SUCCESS) {
    simdjson::dom::array arr;
    if (keys.get_array().get(arr) != simdjson::SUCCESS) {
      return FailDocument(Status::kJwksBadJson, "\"keys\" is not an array");
    }
    for (auto e : arr) {
      simdjson::dom::object o;
      if (e.get_object().get(o) != simdjson::SUCCESS) {
        failed_index_ = jwks.size();
        failed_status_ = Status::kJwkInvalid;
        failed_reason_ = "not a JSON object";
        return Status::kJwkInvalid;
      }
      jwks.push_back(o);
    }
  } else if (root["kty"].error() == simdjson::NO_SUCH_FIELD) {
    return FailDocument(Status::kJwkInvalid,
                        "no \"keys\" array, and not a single JWK either (no \"kty\")");
  } else {
    jwks.push_back(root);  // a single JWK
  }
  if (jwks.size() + keys_.size() > options.max_keys) {
    std::string reason = std::to_string(jwks.size()) + " keys";
    if (!keys_.empty()) reason += " with the " + std::to_string(keys_.size()) + " already added";
    return FailDocument(Status::kJwksTooLarge,
                        reason + ", more than the limit of " + std::to_string(options.max_keys));
  }
  struct Imported {
    size_t index;  // in `jwks`
    std::unique_ptr<Key> key;
  };
  std::vector<Imported> imported;
  for (size_t i = 0; i < jwks.size(); ++i) {
    std::unique_ptr<Key> key;
    if (Status s = crypto::ImportJwk(jwks[i], options, &key); s != Status::kOk) {
      failed_index_ = i;
      failed_kid_ = KidOf(jwks[i]);
      failed_status_ = s;
      return s;
    }
    if (key) {
      key->Bind(options.issuer, options.fail_closed);
      imported.push_back(Imported{i, std::move(key)});
    }
  }
  // All or nothing: a set with one bad key is rejected whole.
  const size_t before = keys_.size();
  for (Imported& k : imported) {
    if (Status s = Insert(std::move(k.key)); s != Status::kOk) {
      keys_.resize(before);
      failed_index_ = k.index;
      failed_kid_ = KidOf(jwks[k.index]);
      failed_status_ = s;
      return s;
    }
  }
  return Status::kOk;
}

Status KeySet::Builder::AddPem(std::string_view pem, Alg alg, std::optional<std::string> kid) {
  std::unique_ptr<Key> key;
  if (Status s = crypto::ImportPem(pem, alg, std::move(kid), &key); s != Status::kOk) return s;
  return Insert(std::move(key));
}

Status KeySet::Builder::AddHmacSecret(std::span<const uint8_t> secret, Alg alg,
                                      std::optional<std::string> kid) {
  if (FamilyOf(alg) != AlgFamily::kHmac) return Status::kKeyAlgMismatch;
  if (secret.size() < DigestSize(alg)) return Status::kKeyTooSmall;
  return Insert(Key::MakeHmac(alg, secret, std::move(kid)));
}

std::shared_ptr<const KeySet> KeySet::Builder::Build() {
  auto rep = std::make_unique<Rep>();
  rep->keys = std::move(keys_);
  keys_.clear();
  for (const auto& k : rep->keys) {
    rep->index.push_back(Rep::Entry{k->has_kid(), k->kid(), k->alg(), k.get()});
    const auto i = static_cast<size_t>(k->alg());
    if (rep->per_alg_count[i] < UINT16_MAX) ++rep->per_alg_count[i];
    rep->per_alg_single[i] = k.get();
    rep->algs.Add(k->alg());
  }
  std::sort(rep->index.begin(), rep->index.end(), [](const Rep::Entry& a, const Rep::Entry& b) {
    return std::tuple(a.has_kid, a.kid, a.alg) < std::tuple(b.has_kid, b.kid, b.alg);
  });
  return std::shared_ptr<const KeySet>(new KeySet(std::move(rep)));
}

}  // namespace jwtgate
