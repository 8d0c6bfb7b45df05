// Trust: what a configuration says to trust, built into the object the request path uses: a
// Verifier over the keys of every issuer, each key bound to its issuer (JwksOptions::issuer),
// so that a key of issuer A never vouches for a token that claims `iss: B`.
//
// An issuer's keys come from its jwks_file (read here) or from its RemoteKeys (the daemon
// passes their snapshots; an issuer whose keys have gone stale contributes them fail-closed,
// one without keys yet contributes none). With several issuers every key needs a kid and kids
// are unique across issuers (a token's kid then names one issuer's key).
//
// Built at start-up, on reload and when a remote issuer's keys change, off the request path;
// immutable and shared afterwards.
#ifndef JWTGATE_DAEMON_TRUST_H_
#define JWTGATE_DAEMON_TRUST_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config.h"
#include "jwtgate/key_source.h"
#include "jwtgate/keys.h"
#include "jwtgate/verifier.h"

namespace jwtgate::daemon {

struct Trust {
  std::shared_ptr<const Verifier> verifier;
  // Each issuer's own keys (by issuer), for checking a remote issuer's next set against the
  // others (SharedKids).
  std::map<std::string, std::shared_ptr<const KeySet>> per_issuer;
  size_t keys = 0;
  std::string summary;  // for log lines: issuers, keys and their algorithms
};

// Builds the verifier. `remote[i]` is the snapshot of issuers[i] when it is a remote issuer
// (null or without keys: none yet), ignored otherwise; `remote` may be shorter than the
// issuer list when there are no remote issuers. `revocation` may be null and must outlive the
// result. On failure returns false and a message naming the issuer, the file and the key.
using RemoteSnapshots = std::vector<std::shared_ptr<const RemoteKeys::Snapshot>>;
bool BuildTrust(const Config& config, const RevocationCheck* revocation, Trust* out,
                std::string* error, const RemoteSnapshots& remote = {});

// The RemoteKeys options of a remote issuer (hooks left empty).
RemoteKeysOptions RemoteOptionsFor(const IssuerConfig& ic, const std::string& key_cache_dir);

// The keys of one issuer as BuildTrust imports them (for RemoteKeysOptions::validate too).
JwksOptions IssuerJwksOptions(const IssuerConfig& ic);

// The kids of `keys` that `other` also has, for a refusal message ("" when none).
std::string SharedKids(const KeySet& keys, const KeySet& other);

// The `iss` claim of a compact token, read WITHOUT verifying it: only to route an unknown kid
// to the issuer whose keys may have rotated. Returns false when the token has no readable
// payload or no string iss.
bool PeekUnverifiedIssuer(std::string_view token, std::string* iss);

}  // namespace jwtgate::daemon

#endif  // JWTGATE_DAEMON_TRUST_H_
