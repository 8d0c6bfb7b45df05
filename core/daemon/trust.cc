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

JwksOptions IssuerJwksOptions(const IssuerConfig& ic) {
  JwksOptions opts;
  opts.default_alg = ic.default_alg;
  opts.max_bytes = ic.remote() ? ic.max_jwks_bytes : kMaxJwksBytes;
  opts.issuer = ic.issuer;
  opts.allow_symmetric = !ic.remote();
  return opts;
}

RemoteKeysOptions RemoteOptionsFor(const IssuerConfig& ic, const std::string& key_cache_dir) {
  RemoteKeysOptions o;
  o.issuer = ic.issuer;
  o.jwks_uri = ic.jwks_uri;
  o.discovery = ic.discovery;
  o.ca_file = ic.ca_file;
  o.allow_http = ic.allow_http;
  o.refresh_min = std::chrono::seconds(ic.refresh_min_s);
  o.refresh_max = std::chrono::seconds(ic.refresh_max_s);
  o.unknown_kid_cooldown = std::chrono::seconds(ic.unknown_kid_cooldown_s);
  o.max_stale = std::chrono::seconds(ic.max_stale_s);
  o.fetch_timeout = std::chrono::milliseconds(ic.fetch_timeout_ms);
  o.max_bytes = ic.max_jwks_bytes;
  o.default_alg = ic.default_alg;
  o.cache_dir = key_cache_dir;
  return o;
}

std::string SharedKids(const KeySet& keys, const KeySet& other) {
  std::set<std::string> theirs;
  for (const KeySet::Info& k : other.Describe()) {
    if (k.has_kid) theirs.insert(k.kid);
  }
  std::string out;
  for (const KeySet::Info& k : keys.Describe()) {
    if (!k.has_kid || theirs.count(k.kid) == 0) continue;
    out += out.empty() ? "'" : ", '";
    out += k.kid.substr(0, 64) + "'";
  }
  return out;
}

namespace {

// One issuer's document, ready to import: where it came from (for messages) and how.
struct IssuerDocument {
  std::string where;
  std::string json;
  JwksOptions options;
  bool present = false;  // false: a remote issuer without keys yet
};

bool ReadIssuerDocument(const Config& config, size_t i, const RemoteSnapshots& remote,
                        IssuerDocument* doc, std::string* error) {
  const IssuerConfig& ic = config.issuers[i];
  const std::string at = "issuers[" + std::to_string(i) + "]";
  doc->options = IssuerJwksOptions(ic);
  if (ic.remote()) {
    doc->where = at + " (" + ic.issuer + ", fetched keys)";
    const RemoteKeys::Snapshot* snap = i < remote.size() ? remote[i].get() : nullptr;
    if (snap == nullptr || !snap->keys) return true;
    doc->json = snap->jwks;
    doc->options.fail_closed = snap->stale;
    doc->present = true;
    return true;
  }
  doc->where = at + ".jwks_file: " + ic.jwks_file;
  std::string e;
  if (!ReadSmallFile(ic.jwks_file, kMaxJwksBytes, &doc->json, &e)) {
    *error = at + ".jwks_file: " + e;
    return false;
  }
  doc->present = true;
  return true;
}

}  // namespace

bool BuildTrust(const Config& config, const RevocationCheck* revocation, Trust* out,
                std::string* error, const RemoteSnapshots& remote) {
  Trust t;
  KeySet::Builder all;
  std::set<std::string> kids_seen;
  const bool several = config.issuers.size() > 1;
  AlgSet key_algs;
  std::string algs_text;
  for (size_t i = 0; i < config.issuers.size(); ++i) {
    IssuerDocument doc;
    if (!ReadIssuerDocument(config, i, remote, &doc, error)) return false;
    if (!doc.present) continue;
    const std::string& where = doc.where;
    // One issuer's keys on their own first: their kids, and a message that names this file.
    KeySet::Builder own;
    if (own.AddJwks(doc.json, doc.options) != Status::kOk) {
      *error = where + ": " + own.DescribeFailure();
      return false;
    }
    const std::shared_ptr<const KeySet> own_set = own.Build();
    t.per_issuer[config.issuers[i].issuer] = own_set;
    if (own_set->size() == 0) {
      *error = where + ": no keys (\"keys\" is empty)";
      return false;
    }
    std::set<std::string> own_kids;
    for (const KeySet::Info& k : own_set->Describe()) {
      key_algs.Add(k.alg);
      if (!several) continue;
      if (!k.has_kid) {
        *error = where + ": every key needs a kid when several issuers are configured";
        return false;
      }
      own_kids.insert(k.kid);
    }
    for (const std::string& kid : own_kids) {
      if (!kids_seen.insert(kid).second) {
        *error = where + ": kid '" + kid + "' is also used by another issuer";
        return false;
      }
    }
    if (all.AddJwks(doc.json, doc.options) != Status::kOk) {
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
  const std::shared_ptr<const KeySet> keys = all.Build();
  t.keys = keys->size();
  t.verifier = std::make_shared<const Verifier>(keys, std::move(vo), revocation);
  t.summary = std::to_string(config.issuers.size()) + " issuer(s), " + std::to_string(t.keys) +
              " key(s) [" + algs_text + "]";
  *out = std::move(t);
  return true;
}

bool PeekUnverifiedIssuer(std::string_view token, std::string* iss) {
  const size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return false;
  const size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || dot2 - dot1 - 1 > 16384) return false;
  std::string payload;
  if (!jose::Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1), &payload)) return false;
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(payload).get(doc) != simdjson::SUCCESS) return false;
  std::string_view v;
  if (doc["iss"].get_string().get(v) != simdjson::SUCCESS) return false;
  iss->assign(v);
  return true;
}

}  // namespace jwtgate::daemon
