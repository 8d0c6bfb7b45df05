// Trust: what a configuration says to trust, built into the objects the request path uses
// (a Verifier over the keys of every issuer, and with several issuers, which issuer each key
// may speak for).
//
// Why the binding: the library's Verifier selects a key by (kid, alg) and checks `iss` against
// the list of accepted issuers, but it does not tie a key to an issuer. With one issuer that
// is the same thing; with several, a key of issuer A must not vouch for a token that claims
// `iss: B`. So with several issuers every key needs a kid, kids are unique across issuers, and
// after a token verifies the daemon checks that its kid belongs to its iss (IssuerBinding).
//
// Built at start-up and on reload, off the request path; immutable and shared afterwards.
#ifndef JWTGATE_DAEMON_TRUST_H_
#define JWTGATE_DAEMON_TRUST_H_

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/config.h"
#include "jwtgate/verifier.h"

namespace jwtgate::daemon {

class IssuerBinding {
 public:
  void Add(std::string kid, std::string issuer);
  // True when a token with this header kid may carry this `iss`. A token without a kid is
  // never bound (it cannot be attributed to one issuer's key).
  bool Allows(bool has_kid, std::string_view kid, std::string_view iss) const;
  // Every pair of either (used while a reload swaps the verifier: tokens verified under the
  // old keys and under the new ones are both attributed correctly).
  static std::shared_ptr<const IssuerBinding> Union(const IssuerBinding& a, const IssuerBinding& b);

 private:
  std::unordered_map<std::string, std::vector<std::string>> kid_issuers_;
};

struct Trust {
  std::shared_ptr<const Verifier> verifier;
  std::shared_ptr<const IssuerBinding> binding;  // null with a single issuer
  size_t keys = 0;
  std::string summary;  // for log lines: issuers, keys and their algorithms
};

// Reads every issuer's JWKS file and builds the verifier. `revocation` may be null and must
// outlive the result. On failure returns false and a message naming the file and the key.
bool BuildTrust(const Config& config, const RevocationCheck* revocation, Trust* out,
                std::string* error);

// The kid of a compact token's protected header. Returns false when the token has no readable
// header or the header has no string kid.
bool ReadHeaderKid(std::string_view token, std::string* kid);

}  // namespace jwtgate::daemon

#endif  // JWTGATE_DAEMON_TRUST_H_
