// jwtgate verify (--keys JWKS_FILE | --jwks-uri URL --iss ISS | --discovery ISSUER_URL)
//                [--ca-file PEM] [--allow-http] [--iss ISS]... [--aud AUD]... [--typ T]
//                [--leeway S] [--now UNIX] [TOKEN|-]
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/io.h"
#include "cli/subcommand.h"
#include "jwtgate/key_source.h"
#include "jwtgate/keys.h"
#include "jwtgate/revocation.h"
#include "jwtgate/verifier.h"

namespace jwtgate::cli {
namespace {

// What `jwtgate verify --help` says the command does.
constexpr char kHelp[] =
    "Verify a token. Valid: exit 0, the claims JSON on stdout. Rejected: exit 1,\n"
    "'rejected: <status>' on stderr. Usage or configuration error: exit 2.\n"
    "Keys that could not be fetched (--jwks-uri, --discovery): exit 3.";

struct VerifyArgs {
  std::string keys_path;
  std::string jwks_uri;
  std::string discovery;
  std::string ca_file;
  bool allow_http = false;
  std::vector<std::string> issuers;
  std::vector<std::string> audiences;
  std::vector<std::string> required;
  std::vector<std::string> algs;
  std::string typ;
  std::string default_alg;
  int64_t leeway = 30;
  int64_t max_lifetime = 0;
  int64_t now = -1;
  bool no_exp = false;
  std::string token;
  std::string state_dir;
  // The --now and token options: given when their count() > 0.
  const CLI::Option* now_option = nullptr;
  const CLI::Option* token_option = nullptr;
};

// The keys of --keys: a JWKS file. Returns an exit status (kExitOk on success).
int ReadKeys(const VerifyArgs& a, const JwksOptions& jwks_options,
             std::shared_ptr<const KeySet>* out) {
  std::string keys_text, error;
  if (!ReadFile(a.keys_path, 1 << 20, &keys_text, &error)) {
    fmt::print(stderr, "error: keys: {}\n", error);
    return kExitUsage;
  }
  KeySet::Builder builder;
  if (Status s = builder.AddJwks(keys_text, jwks_options); s != Status::kOk) {
    fmt::print(stderr, "error: keys: {}: {}\n", a.keys_path, builder.DescribeFailure());
    return kExitUsage;
  }
  std::shared_ptr<const KeySet> keys = builder.Build();
  if (keys->size() == 0) {
    fmt::print(stderr, "error: keys: {}: no keys (\"keys\" is empty)\n", a.keys_path);
    return kExitUsage;
  }
  // HS* keys are secrets: anyone who can read this file can forge tokens.
  const AlgSet key_algs = keys->algs();
  if (key_algs.Contains(Alg::kHS256) || key_algs.Contains(Alg::kHS384) ||
      key_algs.Contains(Alg::kHS512)) {
    if (const std::string w = ReadableByOthersWarning(a.keys_path, "a secret key"); !w.empty()) {
      fmt::print(stderr, "{}\n", w);
    }
  }
  *out = std::move(keys);
  return kExitOk;
}

// The keys of --jwks-uri or --discovery: one fetch, under the rules of jwtgate/key_source.h
// (https, the certificate checked, 5 s, 1 MiB, the discovery issuer matched byte for byte, no
// oct key). The keys are bound to the issuer, which is also required of the token.
int FetchKeys(const VerifyArgs& a, const JwksOptions& jwks_options,
              std::shared_ptr<const KeySet>* out, std::vector<std::string>* issuers) {
  RemoteKeysOptions o;
  if (!a.discovery.empty()) {
    o.issuer = a.discovery;
    o.discovery = true;
  } else {
    if (a.issuers.size() != 1) {
      fmt::print(stderr,
                 "error: --jwks-uri needs exactly one --iss (the fetched keys are bound to "
                 "their issuer)\n");
      return kExitUsage;
    }
    o.issuer = a.issuers[0];
    o.jwks_uri = a.jwks_uri;
  }
  o.ca_file = a.ca_file;
  o.allow_http = a.allow_http;
  o.default_alg = jwks_options.default_alg;
  std::string error;
  std::unique_ptr<RemoteKeys> source = RemoteKeys::Create(o, &error);
  if (!source) {
    fmt::print(stderr, "error: keys: {}\n", error);
    return kExitUsage;
  }
  if (const FetchOutcome r = source->FetchNow(&error); !IsSuccess(r)) {
    fmt::print(stderr, "error: keys: {} ({})\n", error, ToString(r));
    return kExitKeysUnavailable;
  }
  *out = source->Current()->keys;
  if (issuers->empty()) issuers->push_back(o.issuer);
  return kExitOk;
}

int RunVerify(const VerifyArgs& a) {
  const bool now_given = a.now_option->count() > 0;
  if (a.keys_path.empty() && a.jwks_uri.empty() && a.discovery.empty()) {
    fmt::print(stderr, "error: no keys given (--keys FILE, --jwks-uri URL or --discovery URL)\n");
    return kExitUsage;
  }
  if (a.token_option->count() == 0) {
    fmt::print(stderr, "error: no token given (pass it as an argument, or - to read stdin)\n");
    return kExitUsage;
  }
  if (now_given && a.now < 0) {
    fmt::print(stderr, "error: --now must be seconds since the epoch (>= 0)\n");
    return kExitUsage;
  }
  if (a.leeway < 0 || a.max_lifetime < 0) {
    fmt::print(stderr, "error: --leeway and --max-lifetime must be >= 0\n");
    return kExitUsage;
  }
  JwksOptions jwks_options;
  if (!a.default_alg.empty()) {
    Alg d;
    if (!AlgFromName(a.default_alg, &d)) {
      fmt::print(stderr, "error: unknown --default-alg '{}'\n", a.default_alg);
      return kExitUsage;
    }
    jwks_options.default_alg = d;
  }
  std::shared_ptr<const KeySet> keys;
  std::vector<std::string> issuers = a.issuers;
  const int loaded = a.keys_path.empty() ? FetchKeys(a, jwks_options, &keys, &issuers)
                                         : ReadKeys(a, jwks_options, &keys);
  if (loaded != kExitOk) return loaded;
  std::string error;
  VerifierOptions options;
  options.policy.issuers = issuers;
  options.policy.audiences = a.audiences;
  options.policy.typ = a.typ;
  options.policy.leeway_s = a.leeway;
  options.policy.require_exp = !a.no_exp;
  options.policy.max_lifetime_s = a.max_lifetime;
  options.policy.required_claims = a.required;
  if (!a.algs.empty()) {
    options.algorithms = AlgSet();
    for (const auto& name : a.algs) {
      Alg alg;
      if (!AlgFromName(name, &alg)) {
        fmt::print(stderr, "error: unknown --alg '{}'\n", name);
        return kExitUsage;
      }
      options.algorithms.Add(alg);
    }
  }
  // A token on stdin is read up to kMaxStdinBytes, 8 times the largest token the verifier
  // takes by default (Limits::max_token_bytes, 8 KiB), which leaves room for surrounding
  // whitespace. What goes past is not read: the token is rejected as token_too_large, exit 1,
  // as the same token given as an argument is.
  constexpr size_t kMaxStdinBytes = size_t{64} * 1024;
  std::string token = a.token;
  bool too_large = false;
  if (token == "-") {
    switch (ReadFileUpTo("-", kMaxStdinBytes, &token, &error)) {
      case ReadResult::kOk:
        token = std::string(Trim(token));
        break;
      case ReadResult::kTooLarge:
        too_large = true;
        token.clear();
        break;
      case ReadResult::kError:
        fmt::print(stderr, "error: {}\n", error);
        return kExitUsage;
    }
  }
  const int64_t now = now_given ? a.now : static_cast<int64_t>(std::time(nullptr));
  std::unique_ptr<RevocationStore> store;
  if (!a.state_dir.empty()) {
    RevocationOptions ro;
    ro.dir = a.state_dir;
    ro.create_if_missing = false;
    ro.read_only = true;  // a daemon may own the directory; verify only reads it
    ro.now = now;
    ro.leeway_s = std::max<int64_t>(ro.leeway_s, a.leeway);
    std::string why;
    auto opened = RevocationStore::Open(ro, &why);
    if (!opened.ok()) {
      fmt::print(stderr, "error: revocation state {}: {}\n", a.state_dir,
                 why.empty() ? std::string(ToString(opened.status())) : why);
      return kExitUsage;
    }
    store = std::move(*opened);
  }
  Verifier verifier(keys, options, store.get());
  VerifyContext ctx;
  Claims claims;
  const Status s = too_large ? Status::kTokenTooLarge : verifier.Verify(token, now, ctx, &claims);
  if (s != Status::kOk) {
    fmt::print(stderr, "rejected: {}\n", ToString(s));
    return kExitRejected;
  }
  fmt::print("{}\n", claims.payload_json);
  return kExitOk;
}

}  // namespace

void RegisterVerify(CLI::App& app, int* exit_code) {
  auto [cmd, args] = AddSubcommand(app, exit_code, RunVerify, "verify", kHelp);
  CLI::Option* keys =
      cmd->add_option("--keys", args->keys_path, "JWKS file with the trusted public keys");
  CLI::Option* uri = cmd->add_option("--jwks-uri", args->jwks_uri,
                                     "Fetch the keys from this https URL (needs one --iss)");
  CLI::Option* discovery =
      cmd->add_option("--discovery", args->discovery,
                      "Fetch the keys of this issuer through OpenID Connect discovery "
                      "(ISSUER/.well-known/openid-configuration; its issuer must match)");
  keys->excludes(uri)->excludes(discovery);
  uri->excludes(discovery);
  cmd->add_option("--ca-file", args->ca_file,
                  "PEM CA certificates to trust for --jwks-uri/--discovery (default: system)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--allow-http", args->allow_http,
                "Allow http:// for --jwks-uri/--discovery to a loopback host");

  cmd->add_option("--iss", args->issuers, "Accepted issuer (repeatable; exact match)")
      ->allow_extra_args(false);
  cmd->add_option("--aud", args->audiences, "Accepted audience (repeatable; aud required if set)")
      ->allow_extra_args(false);
  cmd->add_option("--typ", args->typ, "Required header typ, as a media type (e.g. at+jwt)");
  cmd->add_option("--leeway", args->leeway, "Clock skew allowed on exp/nbf/iat, seconds")
      ->capture_default_str();
  args->now_option = cmd->add_option("--now", args->now,
                                     "Verification time, seconds since the epoch (default: now)");
  cmd->add_option("--max-lifetime", args->max_lifetime,
                  "Largest accepted exp - iat in seconds (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--require", args->required, "Claim that must be present (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--alg", args->algs, "Accepted algorithm (repeatable; default: all)")
      ->allow_extra_args(false);
  cmd->add_option("--default-alg", args->default_alg,
                  "Algorithm for RSA/oct keys in the JWKS that carry no alg");
  cmd->add_flag("--no-exp-required", args->no_exp, "Accept tokens without exp");
  cmd->add_option("--state", args->state_dir,
                  "Revocation state directory (from jwtgate revoke): revoked tokens are rejected");
  args->token_option =
      cmd->add_option("token", args->token, "The token, or - to read it from stdin");
}

}  // namespace jwtgate::cli
