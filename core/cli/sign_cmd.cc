// jwtgate sign --key FILE --alg ALG [--kid KID] --claims JSON
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/io.h"
#include "cli/subcommand.h"
#include "jose/padded_buffer.h"
#include "jose/strict_json.h"
#include "jwtgate/signer.h"

namespace jwtgate::cli {
namespace {

// What `jwtgate sign --help` says the command does.
constexpr char kHelp[] = "Sign a claims set and print the compact token (JWS) on standard output.";

struct SignArgs {
  std::string key_path;
  std::string alg;
  std::string kid;
  std::string claims;
  std::string typ = "JWT";
  bool no_typ = false;
};

int RunSign(const SignArgs& a) {
  Alg alg;
  if (!AlgFromName(a.alg, &alg)) {
    fmt::print(stderr, "error: unknown --alg '{}'\n", a.alg);
    return kExitUsage;
  }
  std::string claims = a.claims;
  std::string error;
  if (claims == "-" && !ReadFile("-", 1 << 20, &claims, &error)) {
    fmt::print(stderr, "error: {}\n", error);
    return kExitUsage;
  }
  // Sign only what the verifier would accept as a claims set.
  {
    jose::PaddedBuffer buf(claims.size());
    std::copy(claims.begin(), claims.end(), buf.data());
    jose::StrictJsonParser parser(claims.size() + 1, 16);
    simdjson::dom::object root;
    if (parser.Parse(buf.data(), claims.size(), &root) != jose::JsonError::kOk) {
      fmt::print(stderr, "error: --claims must be a JSON object (UTF-8, no duplicate names)\n");
      return kExitUsage;
    }
  }
  std::string key_text;
  if (!ReadFile(a.key_path, 1 << 20, &key_text, &error)) {
    fmt::print(stderr, "error: {}\n", error);
    return kExitUsage;
  }
  const std::string_view trimmed = Trim(key_text);
  const bool is_jwk = !trimmed.empty() && trimmed.front() == '{';
  Result<Signer> signer = is_jwk ? Signer::FromJwk(trimmed, alg) : Signer::FromPem(key_text, alg);
  if (!signer.ok()) {
    fmt::print(stderr, "error: {}: cannot use as a {} signing key: {}\n", a.key_path, a.alg,
               ToString(signer.status()));
    return kExitUsage;
  }
  if (const std::string w =
          ReadableByOthersWarning(a.key_path, is_jwk ? "a secret key" : "a private key");
      !w.empty()) {
    fmt::print(stderr, "{}\n", w);
  }
  std::optional<std::string_view> kid;
  if (!a.kid.empty()) kid = a.kid;
  std::optional<std::string_view> typ;
  if (!a.no_typ) typ = a.typ;
  Result<std::string> token = signer->Sign(claims, kid, typ);
  if (!token.ok()) {
    fmt::print(stderr, "error: signing failed: {}\n", ToString(token.status()));
    return kExitRejected;
  }
  fmt::print("{}\n", *token);
  return kExitOk;
}

}  // namespace

void RegisterSign(CLI::App& app, int* exit_code) {
  auto [cmd, args] = AddSubcommand(app, exit_code, RunSign, "sign", kHelp);
  cmd->add_option("--key", args->key_path,
                  "Private key file: PEM for RS/PS/ES/EdDSA, oct JWK for HS* (from keygen)")
      ->required();
  cmd->add_option("--alg", args->alg, "Algorithm (must fit the key)")->required();
  cmd->add_option("--kid", args->kid, "Key id to put in the header");
  cmd->add_option("--claims", args->claims, "Claims set as a JSON object, or - for stdin")
      ->required();
  cmd->add_option("--typ", args->typ, "Header typ")->capture_default_str();
  cmd->add_flag("--no-typ", args->no_typ, "Omit the typ header");
}

}  // namespace jwtgate::cli
