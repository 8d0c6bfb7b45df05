#include <algorithm>
#include <array>
#include <tuple>
#include <utility>

#include "crypto/key.h"
#include "jose/jwk.h"
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

Status KeySet::Find(bool has_kid, std::string_view kid, Alg alg,
                    const Key** out) const noexcept {
  const Rep& r = *rep_;
  if (!has_kid) {
    const auto i = static_cast<size_t>(alg);
    if (r.per_alg_count[i] == 0) return Status::kKeyNotFound;
    if (r.per_alg_count[i] > 1) return Status::kKidRequired;
    *out = r.per_alg_single[i];
    return Status::kOk;
  }
  auto lo = std::lower_bound(r.index.begin(), r.index.end(), kid, [](const Rep::Entry& e, std::string_view k) {
    return std::tuple(e.has_kid, e.kid) < std::tuple(true, k);
  });
  if (lo == r.index.end() || !lo->has_kid || lo->kid != kid) return Status::kUnknownKid;
  for (auto it = lo; it != r.index.end() && it->has_kid && it->kid == kid; ++it) {
    if (it->alg == alg) {
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

Status KeySet::Builder::AddJwks(std::string_view json, const JwksOptions& options) {
  failed_index_ = 0;
  if (json.size() > options.max_bytes) return Status::kJwksTooLarge;
  simdjson::padded_string padded(json);
  jose::StrictJsonParser parser(json.size() + 1, 16);
  simdjson::dom::object root;
  switch (parser.Parse(reinterpret_cast<const uint8_t*>(padded.data()), padded.size(), &root)) {
    case jose::JsonError::kOk: break;
    default: return Status::kJwksBadJson;
  }
  std::vector<simdjson::dom::object> jwks;
  simdjson::dom::element keys;
  if (root["keys"].get(keys) == simdjson::SUCCESS) {
    simdjson::dom::array arr;
    if (keys.get_array().get(arr) != simdjson::SUCCESS) return Status::kJwksBadJson;
    for (auto e : arr) {
      simdjson::dom::object o;
      if (e.get_object().get(o) != simdjson::SUCCESS) return Status::kJwkInvalid;
      jwks.push_back(o);
    }
  } else {
    jwks.push_back(root);  // a single JWK
  }
  if (jwks.size() + keys_.size() > options.max_keys) return Status::kJwksTooLarge;
  std::vector<std::unique_ptr<Key>> imported;
  for (size_t i = 0; i < jwks.size(); ++i) {
    std::unique_ptr<Key> key;
    Status s = jose::ImportJwk(jwks[i], options, &key);
    if (s != Status::kOk) {
      failed_index_ = i;
      return s;
    }
    if (key) imported.push_back(std::move(key));
  }
  // All or nothing: a set with one bad key is rejected whole.
  const size_t before = keys_.size();
  for (size_t i = 0; i < imported.size(); ++i) {
    if (Status s = Insert(std::move(imported[i])); s != Status::kOk) {
      keys_.resize(before);
      failed_index_ = i;
      return s;
    }
  }
  return Status::kOk;
}

Status KeySet::Builder::AddPem(std::string_view pem, Alg alg, std::optional<std::string> kid) {
  std::unique_ptr<Key> key;
  if (Status s = jose::ImportPem(pem, alg, std::move(kid), &key); s != Status::kOk) return s;
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
  std::sort(rep->index.begin(), rep->index.end(),
            [](const Rep::Entry& a, const Rep::Entry& b) {
              return std::tuple(a.has_kid, a.kid, a.alg) < std::tuple(b.has_kid, b.kid, b.alg);
            });
  return std::shared_ptr<const KeySet>(new KeySet(std::move(rep)));
}

}  // namespace jwtgate
