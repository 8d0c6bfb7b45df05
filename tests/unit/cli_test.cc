// The `jwtgate` command (core/cli): the modes of the files keygen writes, warnings about
// secrets other users can read, tokens too large on standard input, and messages about key
// files. Each case runs the built binary (JWTGATE_CLI_PATH) under an explicit umask.
#include <sys/stat.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "jwtgate/version.h"
#include "temp_dir.h"

namespace jwtgate {
namespace {

using test::TempDir;

struct Run {
  int exit_code;
  std::string out;
  std::string err;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

// Runs `jwtgate ARGS` with the umask `mask`, standard input from `stdin_path` (or /dev/null),
// stdout and stderr captured apart. Paths in `args` come from TempDir: no spaces or quotes.
Run Cli(const TempDir& tmp, const std::string& args, const char* mask = "022",
        const std::string& stdin_path = "/dev/null") {
  const std::string err_path = tmp.path() + "/cli.stderr";
  const std::string cmd = std::string("umask ") + mask + "; exec " + JWTGATE_CLI_PATH + " " + args +
                          " <" + stdin_path + " 2>" + err_path;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  Run r{-1, {}, {}};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = Slurp(err_path);
  return r;
}

// The permission bits of `path` (07777), or -1 when it does not exist.
int ModeOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

Run Keygen(const TempDir& tmp, const std::string& alg, const std::string& kid,
           const std::string& private_path, const std::string& jwks_path,
           const char* mask = "022") {
  return Cli(tmp,
             "keygen --alg " + alg + " --kid " + kid + " --private " + private_path + " --jwks " +
                 jwks_path,
             mask);
}

TEST_CASE("keygen HS256 writes the key set 0600 and keeps it 0600 on the next keygen", "[cli]") {
  TempDir tmp;
  const std::string set = tmp.path() + "/set.jwks";
  const std::string h1 = tmp.path() + "/h1.key";
  const std::string h2 = tmp.path() + "/h2.key";

  const Run first = Keygen(tmp, "HS256", "h1", h1, set);
  CHECK(first.exit_code == 0);
  CHECK(first.err == "wrote HS256 secret key to " + h1 +
                         " and the same secret (JWK, kty oct) to the key set " + set +
                         " (mode 0600: it holds a secret)\n");
  CHECK(ModeOf(h1) == 0600);
  CHECK(ModeOf(set) == 0600);

  const Run second = Keygen(tmp, "HS384", "h2", h2, set);
  CHECK(second.exit_code == 0);
  CHECK(second.err == "wrote HS384 secret key to " + h2 +
                          " and the same secret (JWK, kty oct) to the key set " + set +
                          " (mode 0600: it holds a secret)\n");
  CHECK(ModeOf(h2) == 0600);
  CHECK(ModeOf(set) == 0600);
}

TEST_CASE("keygen ES256 after HS256 keeps the set 0600", "[cli]") {
  TempDir tmp;
  const std::string set = tmp.path() + "/set.jwks";
  const std::string h1 = tmp.path() + "/h1.key";
  const std::string e1 = tmp.path() + "/e1.pem";
  const std::string e2 = tmp.path() + "/e2.pem";
  REQUIRE(Keygen(tmp, "HS256", "h1", h1, set).exit_code == 0);

  // What the review did: chmod 600 by hand, then one more keygen into the same set.
  REQUIRE(::chmod(set.c_str(), 0600) == 0);
  const Run es = Keygen(tmp, "ES256", "e1", e1, set);
  CHECK(es.exit_code == 0);
  CHECK(es.err == "wrote ES256 private key to " + e1 + " and its public JWK to " + set +
                      " (mode 0600: the key set holds a secret)\n");
  CHECK(ModeOf(e1) == 0600);
  CHECK(ModeOf(set) == 0600);

  // A set holding a secret that someone left readable is narrowed on the next rewrite.
  REQUIRE(::chmod(set.c_str(), 0644) == 0);
  const Run ed = Keygen(tmp, "EdDSA", "e2", e2, set, "000");
  CHECK(ed.exit_code == 0);
  CHECK(ModeOf(set) == 0600);
}

TEST_CASE("keygen of a public key never widens an existing key set's mode", "[cli]") {
  TempDir tmp;
  const std::string set = tmp.path() + "/set.jwks";
  const std::string e1 = tmp.path() + "/e1.pem";

  // A new set of public keys follows the umask (0644 under 022).
  const Run first = Keygen(tmp, "ES256", "e1", e1, set);
  CHECK(first.exit_code == 0);
  CHECK(first.err == "wrote ES256 private key to " + e1 + " and its public JWK to " + set + "\n");
  CHECK(ModeOf(e1) == 0600);
  CHECK(ModeOf(set) == 0644);

  struct Row {
    int before;
    const char* mask;
    int after;
  };
  const Row rows[] = {
      {0640, "022", 0640},  // stricter than 0644: kept
      {0600, "000", 0600},  // kept whatever the umask
      {0664, "000", 0644},  // group write is not granted by a rewrite
      {0644, "077", 0644},  // the file's own mode, not the umask, decides on a rewrite
  };
  int n = 2;
  for (const Row& r : rows) {
    INFO("mode before " << r.before << ", umask " << r.mask);
    REQUIRE(::chmod(set.c_str(), static_cast<mode_t>(r.before)) == 0);
    const std::string kid = "e" + std::to_string(n++);
    const Run run = Keygen(tmp, "EdDSA", kid, tmp.path() + "/" + kid + ".pem", set, r.mask);
    CHECK(run.exit_code == 0);
    CHECK(ModeOf(set) == r.after);
  }
}

TEST_CASE("sign and verify warn when a file holding a secret is readable by other users", "[cli]") {
  TempDir tmp;
  const std::string set = tmp.path() + "/set.jwks";
  const std::string key = tmp.path() + "/h1.key";
  REQUIRE(Keygen(tmp, "HS256", "h1", key, set).exit_code == 0);
  const std::string sign = "sign --key " + key + " --alg HS256 --kid h1 --claims '{\"sub\":\"a\"}'";

  REQUIRE(::chmod(key.c_str(), 0644) == 0);
  REQUIRE(::chmod(set.c_str(), 0640) == 0);
  const Run signed_run = Cli(tmp, sign);
  CHECK(signed_run.exit_code == 0);
  CHECK(signed_run.err == "warning: " + key +
                              " holds a secret key and is readable by other users (mode 0644); "
                              "chmod 600 " +
                              key + "\n");
  std::string token = signed_run.out;
  while (!token.empty() && token.back() == '\n') token.pop_back();
  REQUIRE(!token.empty());
  const std::string verify = "verify --keys " + set + " --no-exp-required " + token;
  const Run verified = Cli(tmp, verify);
  CHECK(verified.exit_code == 0);
  CHECK(verified.err == "warning: " + set +
                            " holds a secret key and is readable by other users (mode 0640); "
                            "chmod 600 " +
                            set + "\n");

  REQUIRE(::chmod(key.c_str(), 0600) == 0);
  REQUIRE(::chmod(set.c_str(), 0600) == 0);
  const Run quiet_sign = Cli(tmp, sign);
  CHECK(quiet_sign.exit_code == 0);
  CHECK(quiet_sign.err.empty());
  const Run quiet_verify = Cli(tmp, verify);
  CHECK(quiet_verify.exit_code == 0);
  CHECK(quiet_verify.err.empty());

  // A set of public keys may be world-readable: no warning.
  const std::string pub = tmp.path() + "/pub.jwks";
  REQUIRE(Keygen(tmp, "ES256", "e1", tmp.path() + "/e1.pem", pub).exit_code == 0);
  REQUIRE(ModeOf(pub) == 0644);
  const Run public_set = Cli(tmp, "verify --keys " + pub + " --no-exp-required " + token);
  CHECK(public_set.exit_code == 1);
  CHECK(public_set.err == "rejected: alg_not_allowed\n");
}

TEST_CASE("verify - with a token over 64 KiB on stdin is rejected as token_too_large (exit 1)",
          "[cli]") {
  TempDir tmp;
  const std::string set = tmp.path() + "/set.jwks";
  REQUIRE(Keygen(tmp, "ES256", "e1", tmp.path() + "/e1.pem", set).exit_code == 0);
  const std::string input = tmp.path() + "/token.txt";
  for (size_t size : {size_t{8193}, size_t{65536}, size_t{65537}, size_t{70000}, size_t{1} << 20,
                      size_t{8} << 20}) {
    INFO("token of " << size << " bytes");
    const std::string token = std::string(size - 1, 'a') + ".";
    WriteText(input, token + "\n");
    const Run from_stdin = Cli(tmp, "verify --keys " + set + " -", "022", input);
    CHECK(from_stdin.exit_code == 1);
    CHECK(from_stdin.err == "rejected: token_too_large\n");
    CHECK(from_stdin.out.empty());
    if (size <= 70000) {  // within the kernel's limit on one argument (128 KiB)
      const Run as_argument = Cli(tmp, "verify --keys " + set + " " + token);
      CHECK(as_argument.exit_code == from_stdin.exit_code);
      CHECK(as_argument.err == from_stdin.err);
    }
  }
}

TEST_CASE("verify --keys DIR says it is a directory", "[cli]") {
  TempDir tmp;
  const Run run = Cli(tmp, "verify --keys " + tmp.path() + " x.y.z");
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: keys: " + tmp.path() + ": is a directory\n");

  const Run sign = Cli(tmp, "sign --key " + tmp.path() + " --alg HS256 --claims '{}'");
  CHECK(sign.exit_code == 2);
  CHECK(sign.err == "error: " + tmp.path() + ": is a directory\n");

  const std::string dir = tmp.path() + "/set.jwks";
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  const Run keygen = Keygen(tmp, "ES256", "e1", tmp.path() + "/e1.pem", dir);
  CHECK(keygen.exit_code == 2);
  CHECK(keygen.err == "error: " + dir + ": is a directory\n");
}

TEST_CASE("verify --keys names the file and what is wrong with it, without a key # for the file",
          "[cli]") {
  TempDir tmp;
  const std::string oct_ok =
      R"({"kty":"oct","alg":"HS256","kid":"good","k":"MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"})";
  const std::string oct_short = R"({"kty":"oct","alg":"HS256","kid":"short","k":"c2hvcnQ"})";
  struct Row {
    const char* what;
    std::string json;
    std::string message;  // after "error: keys: FILE: "
  };
  const Row rows[] = {
      {"not JSON", "{\"keys\": [", "not a JSON document (jwks_bad_json)"},
      {"a JSON array", "[" + oct_ok + "]",
       "not a JSON object: a key set is {\"keys\":[...]} (jwks_bad_json)"},
      {"keys not an array", R"({"keys":{}})", "\"keys\" is not an array (jwks_bad_json)"},
      {"neither a JWKS nor a JWK", R"({"foo":1})",
       "no \"keys\" array, and not a single JWK either (no \"kty\") (jwk_invalid)"},
      {"no keys", R"({"keys":[]})", "no keys (\"keys\" is empty)"},
      {"a key with a kid", "{\"keys\":[" + oct_ok + "," + oct_short + "]}",
       "key #1 (kid \"short\"): key_too_small"},
      {"a key without a kid", R"({"keys":[{"kty":"oct","alg":"HS256","k":"c2hvcnQ"}]})",
       "key #0: key_too_small"},
      {"a key that is not an object", "{\"keys\":[" + oct_ok + ",7]}",
       "key #1: jwk_invalid (not a JSON object)"},
      {"a kid with a control character",
       R"({"keys":[{"kty":"oct","alg":"HS999","kid":"a\u001bb","k":"c2hvcnQ"}]})",
       "key #0 (kid \"a\\x1bb\"): key_alg_mismatch"},
  };
  const std::string file = tmp.path() + "/set.jwks";
  for (const Row& r : rows) {
    INFO(r.what);
    WriteText(file, r.json);
    const Run run = Cli(tmp, "verify --keys " + file + " x.y.z");
    CHECK(run.exit_code == 2);
    CHECK(run.err == "error: keys: " + file + ": " + r.message + "\n");
  }
}

TEST_CASE("jwtgate --version names the program, the version and the commit", "[cli]") {
  TempDir tmp;
  const Run r = Cli(tmp, "--version");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Matchers::StartsWith("jwtgate " JWTGATE_VERSION_STRING));
  // Built from a git checkout: the commit follows (a release tarball has none).
  struct stat st;
  if (::stat(JWTGATE_TEST_DATA_DIR "/../.git", &st) == 0) {
    CHECK_THAT(r.out, Catch::Matchers::Contains(" (git "));
  }
}

}  // namespace
}  // namespace jwtgate
