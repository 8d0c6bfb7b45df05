// BuildTrust (daemon/trust.h): the messages for a jwks_file that cannot be used name the
// issuer entry, the file, and what is wrong with the file or with which of its keys.
#include "daemon/trust.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <optional>
#include <string>

#include "daemon/config.h"
#include "jwtgate/signer.h"
#include "temp_dir.h"

namespace jwtgate::daemon {
namespace {

using test::TempDir;

std::string Write(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
  return path;
}

std::string PublicJwk(Alg alg, const std::string& kid) {
  std::string priv, pub;
  REQUIRE(GenerateKey(alg, std::optional<std::string_view>(kid), &priv, &pub) == Status::kOk);
  return pub;
}

// BuildTrust's message for one issuer whose keys are in `jwks_file`; fails the test when it
// builds.
std::string TrustError(const std::string& jwks_file) {
  Config c;
  std::string error;
  REQUIRE(
      ParseConfig("issuers: [{issuer: https://a, jwks_file: " + jwks_file + "}]\n", &c, &error));
  Trust t;
  CHECK_FALSE(BuildTrust(c, nullptr, &t, &error));
  return error;
}

TEST_CASE("daemon trust: a jwks_file that is a directory says it is a directory", "[trust]") {
  TempDir dir;
  CHECK(TrustError(dir.path()) == "issuers[0].jwks_file: " + dir.path() + ": is a directory");
}

TEST_CASE("daemon trust: a jwks_file that is not JSON says so, without a key #", "[trust]") {
  TempDir dir;
  const std::string file = Write(dir, "a.jwks", "{\"keys\": [");
  CHECK(TrustError(file) ==
        "issuers[0].jwks_file: " + file + ": not a JSON document (jwks_bad_json)");
}

TEST_CASE("daemon trust: file-level problems of a jwks_file carry no key #", "[trust]") {
  TempDir dir;
  struct Row {
    const char* what;
    std::string json;
    std::string message;  // after "issuers[0].jwks_file: FILE: "
  };
  const Row rows[] = {
      {"a JSON array", "[]", "not a JSON object: a key set is {\"keys\":[...]} (jwks_bad_json)"},
      {"keys not an array", R"({"keys":"x"})", "\"keys\" is not an array (jwks_bad_json)"},
      {"neither a JWKS nor a JWK", R"({"key":[]})",
       "no \"keys\" array, and not a single JWK either (no \"kty\") (jwk_invalid)"},
      {"a member twice", R"({"keys":[],"keys":[]})",
       "an object has the same member twice (jwks_bad_json)"},
      {"no keys", R"({"keys":[]})", "no keys (\"keys\" is empty)"},
      {"larger than 1 MiB", "{\"keys\":[]}" + std::string(1 << 20, ' '),
       "larger than 1048576 bytes"},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    const std::string file = Write(dir, "a.jwks", r.json);
    CHECK(TrustError(file) == "issuers[0].jwks_file: " + file + ": " + r.message);
  }
}

TEST_CASE("daemon trust: an invalid key is named by its position and its kid", "[trust]") {
  TempDir dir;
  const std::string good = PublicJwk(Alg::kES256, "k1");
  const std::string short_secret = R"({"kty":"oct","alg":"HS256","kid":"abc","k":"c2hvcnQ"})";
  const std::string file = Write(dir, "a.jwks", "{\"keys\":[" + good + "," + short_secret + "]}");
  CHECK(TrustError(file) ==
        "issuers[0].jwks_file: " + file + ": key #1 (kid \"abc\"): key_too_small");

  const std::string dup = Write(dir, "dup.jwks", "{\"keys\":[" + good + "," + good + "]}");
  CHECK(TrustError(dup) == "issuers[0].jwks_file: " + dup + ": key #1 (kid \"k1\"): key_duplicate");
}

}  // namespace
}  // namespace jwtgate::daemon
