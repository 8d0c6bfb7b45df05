#include "daemon/trust.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>

#include "jose/base64url.h"
#include "jwtgate/keys.h"

namespace jwtgate::daemon {
namespace {

constexpr size_t kMaxJwksBytes = 1 << 20;

// Reads `path` whole, at most `max` bytes of it. On failure, `*error` names the file and
// what is wrong with it ("P: is a directory", "P: larger than N bytes").
bool ReadSmallFile(const std::string& path, size_t max, std::string* out, std::string* error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  auto fail = [&](const std::string& why) {
    *error = path + ": " + why;
    ::close(fd);
    return false;
  };
  struct stat st;
  if (::fstat(fd, &st) != 0) return fail(std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return fail("is a directory");
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(std::strerror(errno));
    }
    if (n == 0) break;
    if (text.size() + static_cast<size_t>(n) > max) {
      return fail("larger than " + std::to_string(max) + " bytes");
    }
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  *out = std::move(text);
  return true;
}

}  // namespace

void IssuerBinding::Add(std::string kid, std::string issuer) {
  auto& v = kid_issuers_[std::move(kid)];
  if (std::find(v.begin(), v.end(), issuer) == v.end()) v.push_back(std::move(issuer));
}

bool IssuerBinding::Allows(bool has_kid, std::string_view kid, std::string_view iss) const {
  if (!has_kid) return false;
  const auto it = kid_issuers_.find(std::string(kid));
  if (it == kid_issuers_.end()) return false;
  return std::find(it->second.begin(), it->second.end(), iss) != it->second.end();
}

std::shared_ptr<const IssuerBinding> IssuerBinding::Union(const IssuerBinding& a,
                                                          const IssuerBinding& b) {
  auto u = std::make_shared<IssuerBinding>(a);
  for (const auto& [kid, issuers] : b.kid_issuers_) {
    for (const auto& iss : issuers) u->Add(kid, iss);
  }
  return u;
}

bool BuildTrust(const Config& config, const RevocationCheck* revocation, Trust* out,
                std::string* error) {
  KeySet::Builder all;
  auto binding = std::make_shared<IssuerBinding>();
  std::set<std::string> kids_seen;
  const bool several = config.issuers.size() > 1;
  AlgSet key_algs;
  std::string algs_text;
  for (size_t i = 0; i < config.issuers.size(); ++i) {
    const IssuerConfig& ic = config.issuers[i];
    const std::string where = "issuers[" + std::to_string(i) + "].jwks_file: " + ic.jwks_file;
    std::string json;
    std::string e;
    if (!ReadSmallFile(ic.jwks_file, kMaxJwksBytes, &json, &e)) {
      *error = "issuers[" + std::to_string(i) + "].jwks_file: " + e;
      return false;
    }
    JwksOptions opts;
    opts.default_alg = ic.default_alg;
    opts.max_bytes = kMaxJwksBytes;
    // One issuer's keys on their own first: their kids, and a message that names this file.
    KeySet::Builder own;
    if (own.AddJwks(json, opts) != Status::kOk) {
      *error = where + ": " + own.DescribeFailure();
      return false;
    }
    const std::shared_ptr<const KeySet> own_set = own.Build();
    if (own_set->size() == 0) {
      *error = where + ": no keys (\"keys\" is empty)";
      return false;
    }
    for (const KeySet::Info& k : own_set->Describe()) {
      key_algs.Add(k.alg);
      if (!several) continue;
      if (!k.has_kid) {
        *error = where + ": every key needs a kid when several issuers are configured";
        return false;
      }
      binding->Add(k.kid, ic.issuer);
    }
    if (several) {
      std::set<std::string> own_kids;
      for (const KeySet::Info& k : own_set->Describe()) own_kids.insert(k.kid);
      for (const std::string& kid : own_kids) {
        if (!kids_seen.insert(kid).second) {
          *error = where + ": kid '" + kid + "' is also used by another issuer";
          return false;
        }
      }
    }
    if (all.AddJwks(json, opts) != Status::kOk) {
      *error = where + ": " + all.DescribeFailure() + " (together with the other issuers' keys)";
      return false;
    }
  }
  VerifierOptions vo;
  for (const IssuerConfig& ic : config.issuers) {
    if (!ic.issuer.empty()) vo.policy.issuers.push_back(ic.issuer);
  }
  vo.policy.audiences = config.audiences;
  vo.policy.typ = config.typ;
  vo.policy.leeway_s = config.leeway_s;
  vo.policy.require_exp = config.require_exp;
  vo.policy.max_lifetime_s = config.max_lifetime_s;
  vo.policy.required_claims = config.required_claims;
  // The decoded caps follow the token cap: a correctly signed token within max_token_bytes
  // must not be refused as payload_too_large.
  vo.limits = Limits::ForTokenBytes(config.max_token_bytes);
  if (!config.algorithms.empty()) {
    AlgSet allowed;
    bool usable = false;
    for (Alg a : config.algorithms) {
      allowed.Add(a);
      usable = usable || key_algs.Contains(a);
    }
    if (!usable) {
      *error = "verify.algorithms: no configured key is bound to any of these algorithms";
      return false;
    }
    vo.algorithms = allowed;
  }
  for (Alg a : kAllAlgs) {
    if (key_algs.Contains(a) && vo.algorithms.Contains(a)) {
      algs_text += algs_text.empty() ? "" : " ";
      algs_text += AlgName(a);
    }
  }
  Trust t;
  const std::shared_ptr<const KeySet> keys = all.Build();
  t.keys = keys->size();
  t.verifier = std::make_shared<const Verifier>(keys, std::move(vo), revocation);
  if (several) t.binding = std::move(binding);
  t.summary = std::to_string(config.issuers.size()) + " issuer(s), " + std::to_string(t.keys) +
              " key(s) [" + algs_text + "]";
  *out = std::move(t);
  return true;
}

bool ReadHeaderKid(std::string_view token, std::string* kid) {
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 2048) return false;
  std::string header;
  if (!jose::Base64UrlDecode(token.substr(0, dot), &header)) return false;
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(header).get(doc) != simdjson::SUCCESS) return false;
  std::string_view v;
  if (doc["kid"].get_string().get(v) != simdjson::SUCCESS) return false;
  kid->assign(v);
  return true;
}

}  // namespace jwtgate::daemon
