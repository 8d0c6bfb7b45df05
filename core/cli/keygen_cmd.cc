// jwtgate keygen --alg ALG [--kid KID] --private FILE --jwks FILE
#include <fmt/core.h>
#include <simdjson.h>

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/io.h"
#include "cli/subcommand.h"
#include "jwtgate/alg.h"
#include "jwtgate/keys.h"
#include "jwtgate/signer.h"

namespace jwtgate::cli {
namespace {

// What `jwtgate keygen --help` says the command does.
constexpr char kHelp[] =
    "Generate a signing key: the private key goes to --private (PEM PKCS#8, or a JWK of kty\n"
    "oct for HS*), the public JWK is added to the --jwks key set (created if missing).\n"
    "An HS* key is a secret and the set gets the secret itself: a set holding one is written\n"
    "mode 0600. A rewrite never widens the mode an existing file has.";

struct KeygenArgs {
  std::string alg;
  std::string kid;
  std::string private_path;
  std::string jwks_path;
  bool force = false;
};

// The mode a file is rewritten with: `wanted` for a new file; for an existing one, never a
// permission bit it does not already have (a stricter mode chosen by its owner is kept).
unsigned ModeFor(unsigned wanted, std::optional<unsigned> existing) {
  return existing ? (*existing & wanted & 0777u) : wanted;
}

int RunKeygen(const KeygenArgs& a) {
  Alg alg;
  if (!AlgFromName(a.alg, &alg)) {
    fmt::print(stderr,
               "error: unknown --alg '{}' (HS256..HS512, RS256..RS512, PS256..PS512, "
               "ES256..ES512, EdDSA)\n",
               a.alg);
    return kExitUsage;
  }
  const std::optional<unsigned> private_mode = PermissionBits(a.private_path);
  if (!a.force && private_mode) {
    fmt::print(stderr, "error: {} exists; refusing to overwrite a private key (use --force)\n",
               a.private_path);
    return kExitUsage;
  }
  // The existing key set, if any, must be valid: we rewrite it whole.
  std::string keys_json = "{\"keys\":[";
  bool first = true;
  std::string existing, error;
  const std::optional<unsigned> jwks_mode = PermissionBits(a.jwks_path);
  if (jwks_mode) {
    if (!ReadFile(a.jwks_path, 1 << 20, &existing, &error)) {
      fmt::print(stderr, "error: {}\n", error);
      return kExitUsage;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    simdjson::dom::array arr;
    if (parser.parse(existing).get(doc) != simdjson::SUCCESS ||
        doc["keys"].get_array().get(arr) != simdjson::SUCCESS) {
      fmt::print(stderr, "error: {}: not a JWKS document ({{\"keys\":[...]}})\n", a.jwks_path);
      return kExitUsage;
    }
    for (auto k : arr) {
      keys_json += (first ? "" : ",") + simdjson::minify(k);
      first = false;
    }
  }
  std::optional<std::string_view> kid;
  if (!a.kid.empty()) kid = a.kid;
  std::string private_text, public_jwk;
  if (Status s = GenerateKey(alg, kid, &private_text, &public_jwk); s != Status::kOk) {
    fmt::print(stderr, "error: key generation failed: {}\n", ToString(s));
    return kExitRejected;
  }
  keys_json += (first ? "" : ",") + public_jwk + "]}\n";
  // The new set must import cleanly (catches a duplicate (kid, alg)).
  KeySet::Builder builder;
  if (Status s = builder.AddJwks(keys_json); s != Status::kOk) {
    fmt::print(stderr, "error: {}: the key set with the new key is invalid: {}\n", a.jwks_path,
               builder.DescribeFailure());
    return kExitUsage;
  }
  // An HS* key is a secret, and the JWK that goes into the set is that same secret: a set
  // holding one (this key or an older one) is as sensitive as a private key.
  bool holds_secret = false;
  for (const KeySet::Info& k : builder.Build()->Describe()) {
    holds_secret = holds_secret || FamilyOf(k.alg) == AlgFamily::kHmac;
  }
  const unsigned set_mode = ModeFor(holds_secret ? 0600u : 0644u, jwks_mode);
  // A new set of public keys follows the umask like any file; every other mode is exact.
  const ModeRule set_rule = holds_secret || jwks_mode ? ModeRule::kExact : ModeRule::kLessUmask;
  if (!WriteFileAtomic(a.private_path, private_text, ModeFor(0600u, private_mode), ModeRule::kExact,
                       &error) ||
      !WriteFileAtomic(a.jwks_path, keys_json, set_mode, set_rule, &error)) {
    fmt::print(stderr, "error: {}\n", error);
    return kExitRejected;
  }
  if (FamilyOf(alg) == AlgFamily::kHmac) {
    fmt::print(stderr,
               "wrote {} secret key to {} and the same secret (JWK, kty oct) to the key set {} "
               "(mode {:04o}: it holds a secret)\n",
               AlgName(alg), a.private_path, a.jwks_path, set_mode);
  } else if (holds_secret) {
    fmt::print(stderr,
               "wrote {} private key to {} and its public JWK to {} (mode {:04o}: the key set "
               "holds a secret)\n",
               AlgName(alg), a.private_path, a.jwks_path, set_mode);
  } else {
    fmt::print(stderr, "wrote {} private key to {} and its public JWK to {}\n", AlgName(alg),
               a.private_path, a.jwks_path);
  }
  return kExitOk;
}

}  // namespace

void RegisterKeygen(CLI::App& app, int* exit_code) {
  auto [cmd, args] = AddSubcommand(app, exit_code, RunKeygen, "keygen", kHelp);
  cmd->add_option("--alg", args->alg, "Algorithm the key is bound to (e.g. ES256, EdDSA, HS256)")
      ->required();
  cmd->add_option("--kid", args->kid, "Key id recorded in the JWK");
  cmd->add_option("--private", args->private_path, "Output file for the private key (mode 0600)")
      ->required();
  cmd->add_option("--jwks", args->jwks_path, "JWKS file to add the public key (HS*: the secret) to")
      ->required();
  cmd->add_flag("--force", args->force, "Overwrite an existing private key file");
}

}  // namespace jwtgate::cli
