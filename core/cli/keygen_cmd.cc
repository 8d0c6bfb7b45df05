// jwtgate keygen --alg ALG [--kid KID] --private FILE --jwks FILE
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <simdjson.h>
#include <sys/stat.h>

#include <string>

#include "cli/commands.h"
#include "cli/io.h"
#include "jwtgate/alg.h"
#include "jwtgate/keys.h"
#include "jwtgate/signer.h"

namespace jwtgate::cli {
namespace {

struct KeygenArgs {
  std::string alg;
  std::string kid;
  std::string private_path;
  std::string jwks_path;
  bool force = false;
};

int RunKeygen(const KeygenArgs& a) {
  Alg alg;
  if (!AlgFromName(a.alg, &alg)) {
    fmt::print(stderr, "error: unknown --alg '{}' (HS256..HS512, RS256..RS512, PS256..PS512, "
                       "ES256..ES512, EdDSA)\n", a.alg);
    return kExitUsage;
  }
  struct stat st;
  if (!a.force && ::stat(a.private_path.c_str(), &st) == 0) {
    fmt::print(stderr, "error: {} exists; refusing to overwrite a private key (use --force)\n",
               a.private_path);
    return kExitUsage;
  }
  // The existing key set, if any, must be valid: we rewrite it whole.
  std::string keys_json = "{\"keys\":[";
  bool first = true;
  std::string existing, error;
  if (::stat(a.jwks_path.c_str(), &st) == 0) {
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
    fmt::print(stderr, "error: {}: the key set with the new key is invalid: {} (key #{})\n",
               a.jwks_path, ToString(s), builder.failed_index());
    return kExitUsage;
  }
  if (!WriteFileAtomic(a.private_path, private_text, 0600, &error) ||
      !WriteFileAtomic(a.jwks_path, keys_json, 0644, &error)) {
    fmt::print(stderr, "error: {}\n", error);
    return kExitRejected;
  }
  fmt::print(stderr, "wrote {} private key to {} and its public JWK to {}\n", AlgName(alg),
             a.private_path, a.jwks_path);
  return kExitOk;
}

}  // namespace

void RegisterKeygen(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<KeygenArgs>();
  CLI::App* cmd = app.add_subcommand(
      "keygen",
      "Generate a signing key: the private key goes to --private (PEM PKCS#8, or a JWK of kty\n"
      "oct for HS*), the public JWK is added to the --jwks key set (created if missing).");
  cmd->add_option("--alg", args->alg, "Algorithm the key is bound to (e.g. ES256, EdDSA, HS256)")
      ->required();
  cmd->add_option("--kid", args->kid, "Key id recorded in the JWK");
  cmd->add_option("--private", args->private_path, "Output file for the private key (mode 0600)")
      ->required();
  cmd->add_option("--jwks", args->jwks_path, "JWKS file to add the public key to")->required();
  cmd->add_flag("--force", args->force, "Overwrite an existing private key file");
  cmd->callback([args, exit_code] { *exit_code = RunKeygen(*args); });
}

}  // namespace jwtgate::cli
