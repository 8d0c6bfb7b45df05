// RemoteKeys (jwtgate/key_source.h): option checks, URL rules, Cache-Control, the cache
// directory, and, against a real nginx on loopback, key rotation while threads verify.
// The HTTPS behaviour (discovery, ETag, failures, the refetch storm) is tested end to end
// through jwtgated in tests/integration/remote_keys_test.py.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "jwtgate/key_source.h"
#include "jwtgate/signer.h"
#include "jwtgate/verifier.h"
#include "jwtgate/verifier_cell.h"
#include "keys/http_fetch.h"
#include "loopback.h"
#include "temp_dir.h"

namespace {

using jwtgate::Alg;
using jwtgate::FetchOutcome;
using jwtgate::RemoteKeys;
using jwtgate::RemoteKeysOptions;
using jwtgate::Status;
using jwtgate::test::TempDir;
using namespace std::chrono_literals;

constexpr const char* kIssuer = "https://issuer.test";

struct KeyPair {
  std::string kid, private_pem, public_jwk;
};

KeyPair MakeKey(const std::string& kid) {
  KeyPair k{kid, {}, {}};
  REQUIRE(jwtgate::GenerateKey(Alg::kES256, kid, &k.private_pem, &k.public_jwk) == Status::kOk);
  return k;
}

std::string JwksOf(const std::vector<const KeyPair*>& keys) {
  std::string out = "{\"keys\":[";
  for (size_t i = 0; i < keys.size(); ++i) out += (i ? "," : "") + keys[i]->public_jwk;
  return out + "]}";
}

std::string TokenFor(const KeyPair& k, const std::string& iss = kIssuer) {
  auto signer = jwtgate::Signer::FromPem(k.private_pem, Alg::kES256);
  REQUIRE(signer.ok());
  auto t = signer->Sign("{\"iss\":\"" + iss + "\",\"sub\":\"u\",\"exp\":4102444800}", k.kid);
  REQUIRE(t.ok());
  return *t;
}

// A cache file as RemoteKeys writes it (format 1).
std::string CacheFile(const std::string& issuer, const std::string& source, int64_t confirmed_at,
                      const std::string& jwks) {
  std::string escaped;
  for (char c : jwks) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return "{\"format\":1,\"issuer\":\"" + issuer + "\",\"source\":\"" + source +
         "\",\"confirmed_at\":" + std::to_string(confirmed_at) + ",\"etag\":\"\",\"jwks\":\"" +
         escaped + "\"}";
}

RemoteKeysOptions Uri(const std::string& uri) {
  RemoteKeysOptions o;
  o.issuer = kIssuer;
  o.jwks_uri = uri;
  return o;
}

}  // namespace

TEST_CASE("RemoteKeys::Create refuses options it cannot honour, naming the option",
          "[remote_keys]") {
  struct Row {
    const char* what;
    RemoteKeysOptions options;
    const char* message;
  };
  RemoteKeysOptions no_issuer = Uri("https://idp.test/jwks");
  no_issuer.issuer.clear();
  RemoteKeysOptions both = Uri("https://idp.test/jwks");
  both.discovery = true;
  RemoteKeysOptions neither = Uri("");
  RemoteKeysOptions http_remote = Uri("http://idp.test/jwks");
  http_remote.allow_http = true;
  RemoteKeysOptions stale = Uri("https://idp.test/jwks");
  stale.max_stale = stale.refresh_max;
  RemoteKeysOptions bounds = Uri("https://idp.test/jwks");
  bounds.refresh_max = bounds.refresh_min - 1s;
  RemoteKeysOptions ca = Uri("https://idp.test/jwks");
  ca.ca_file = "/nonexistent/ca.pem";
  const Row rows[] = {
      {"no issuer", no_issuer, "issuer: required"},
      {"two sources", both, "either jwks_uri or discovery"},
      {"no source", neither, "either jwks_uri or discovery"},
      {"http", Uri("http://127.0.0.1/jwks"), "http:// is refused"},
      {"http off loopback", http_remote, "only to a loopback host, not idp.test"},
      {"ftp", Uri("ftp://idp.test/jwks"), "is not https"},
      {"not a URL", Uri("::"), "not a valid URL"},
      {"max_stale", stale, "max_stale: must exceed refresh_max"},
      {"refresh bounds", bounds, "refresh_max: less than refresh_min"},
      {"ca file", ca, "ca_file: /nonexistent/ca.pem"},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    std::string error;
    CHECK(RemoteKeys::Create(r.options, &error) == nullptr);
    CHECK_THAT(error, Catch::Matchers::Contains(r.message));
  }
  std::string error;
  RemoteKeysOptions loopback = Uri("http://127.0.0.1:1/jwks");
  loopback.allow_http = true;
  CHECK(RemoteKeys::Create(loopback, &error) != nullptr);
  RemoteKeysOptions discovery;
  discovery.issuer = "https://idp.test/realms/a/";
  discovery.discovery = true;
  CHECK(RemoteKeys::Create(discovery, &error) != nullptr);
}

TEST_CASE("Cache-Control max-age is read as the freshness of a key set", "[remote_keys]") {
  using jwtgate::keys::ParseCacheControlMaxAge;
  CHECK(ParseCacheControlMaxAge("max-age=300") == 300);
  CHECK(ParseCacheControlMaxAge("public, Max-Age=60, must-revalidate") == 60);
  CHECK(ParseCacheControlMaxAge("max-age=\"15\"") == 15);
  CHECK(ParseCacheControlMaxAge("no-cache") == 0);
  CHECK(ParseCacheControlMaxAge("max-age=600, no-store") == 0);
  CHECK(ParseCacheControlMaxAge("max-age=99999999999999999999999") == INT64_MAX);
  CHECK_FALSE(ParseCacheControlMaxAge("public").has_value());
  CHECK_FALSE(ParseCacheControlMaxAge("max-age=-5").has_value());
  CHECK_FALSE(ParseCacheControlMaxAge("max-age=5s").has_value());
}

TEST_CASE("A cached key set serves after a restart, with the staleness of its fetch",
          "[remote_keys]") {
  TempDir dir;
  const KeyPair k1 = MakeKey("k1");
  const std::string uri = "https://idp.test/jwks";
  RemoteKeysOptions o = Uri(uri);
  o.cache_dir = dir.path() + "/keys";
  std::string error;
  REQUIRE(RemoteKeys::Create(o, &error) != nullptr);  // creates the directory
  struct stat st;
  REQUIRE(::stat(o.cache_dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0755);

  // No file yet: no keys, nothing from the cache.
  {
    auto keys = RemoteKeys::Create(o, &error);
    REQUIRE(keys != nullptr);
    CHECK(keys->Current()->keys == nullptr);
    CHECK_FALSE(keys->stats().from_cache);
  }
  // The file name is the SHA-256 of "issuer\nsource" (32 hex digits): write the candidates.
  auto write_cache = [&](const std::string& text) {
    // One file per (issuer, source); RemoteKeys ignores files of other configurations, so
    // writing the same content under the expected name is what a previous run would have done.
    unsigned char md[32];
    unsigned int len = 0;
    const std::string key = std::string(kIssuer) + "\n" + uri;
    EVP_Digest(key.data(), key.size(), md, &len, EVP_sha256(), nullptr);
    char hex[65];
    for (int i = 0; i < 32; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
    std::ofstream(o.cache_dir + "/" + std::string(hex, 32) + ".json") << text;
  };
  const int64_t now = static_cast<int64_t>(std::time(nullptr));

  write_cache(CacheFile(kIssuer, uri, now - 10, JwksOf({&k1})));
  {
    auto keys = RemoteKeys::Create(o, &error);
    REQUIRE(keys != nullptr);
    auto snap = keys->Current();
    REQUIRE(snap->keys != nullptr);
    CHECK(snap->keys->size() == 1);
    CHECK(snap->from_cache);
    CHECK_FALSE(snap->stale);
    CHECK(keys->stats().confirmed_at == now - 10);
    // The keys are bound to the issuer.
    jwtgate::Verifier v(snap->keys, {});
    CHECK(v.Verify(TokenFor(k1), now, nullptr) == Status::kOk);
    CHECK(v.Verify(TokenFor(k1, "https://other.test"), now, nullptr) == Status::kIssNotAllowed);
  }
  // Older than max_stale: loaded, but failing closed.
  write_cache(CacheFile(kIssuer, uri, now - o.max_stale.count() - 10, JwksOf({&k1})));
  {
    auto keys = RemoteKeys::Create(o, &error);
    REQUIRE(keys != nullptr);
    auto snap = keys->Current();
    REQUIRE(snap->keys != nullptr);
    CHECK(snap->stale);
    jwtgate::JwksOptions jo;
    jo.fail_closed = snap->stale;
    jwtgate::KeySet::Builder b;
    REQUIRE(b.AddJwks(snap->jwks, jo) == Status::kOk);
    jwtgate::Verifier v(b.Build(), {});
    CHECK(v.Verify(TokenFor(k1), now, nullptr) == Status::kIssuerKeysStale);
  }
  // Another source's file, garbage, and a set the importer refuses are all ignored.
  const char* ignored[] = {"not json", "{\"format\":1}", ""};
  for (const char* text : ignored) {
    write_cache(text);
    auto keys = RemoteKeys::Create(o, &error);
    REQUIRE(keys != nullptr);
    CHECK(keys->Current()->keys == nullptr);
  }
  write_cache(CacheFile(kIssuer, "https://elsewhere.test/jwks", now, JwksOf({&k1})));
  CHECK(RemoteKeys::Create(o, &error)->Current()->keys == nullptr);
  write_cache(CacheFile(kIssuer, uri, now,
                        R"({"keys":[{"kty":"oct","alg":"HS256","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]})"));
  CHECK(RemoteKeys::Create(o, &error)->Current()->keys == nullptr);  // a secret: never remote

  // A directory every user may write to is refused.
  TempDir open_dir("jwtgate-open", 0777);
  o.cache_dir = open_dir.path();
  CHECK(RemoteKeys::Create(o, &error) == nullptr);
  CHECK_THAT(error, Catch::Matchers::Contains("writable by every user"));
}

namespace {

// Debian's nginx serving `root` over plain HTTP on a loopback port, in the foreground, one
// process (master_process off: the test's user reads the temporary directory).
class Nginx {
 public:
  explicit Nginx(const std::string& dir) : dir_(dir) {
    REQUIRE(::access("/usr/sbin/nginx", X_OK) == 0);  // package nginx-light (scripts/setup)
    port_ = jwtgate::test::FreeLoopbackPort();
    ::mkdir((dir_ + "/www").c_str(), 0755);
    std::ofstream(dir_ + "/nginx.conf")
        << "daemon off; master_process off; pid " << dir_ << "/nginx.pid;\n"
        << "error_log " << dir_ << "/error.log;\nevents {}\nhttp {\n"
        << "  access_log " << dir_ << "/access.log;\n"
        << "  client_body_temp_path " << dir_ << "/tmp;\n  proxy_temp_path " << dir_ << "/tmp;\n"
        << "  fastcgi_temp_path " << dir_ << "/tmp;\n  uwsgi_temp_path " << dir_ << "/tmp;\n"
        << "  scgi_temp_path " << dir_ << "/tmp;\n"
        << "  server { listen 127.0.0.1:" << port_ << "; root " << dir_ << "/www;\n"
        << "    add_header Cache-Control \"max-age=1\"; }\n}\n";
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::execl("/usr/sbin/nginx", "nginx", "-p", dir_.c_str(), "-c",
              (dir_ + "/nginx.conf").c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200 && !Listening(); ++i) std::this_thread::sleep_for(25ms);
    if (!Listening()) {
      Stop();  // the destructor does not run for a constructor that fails
      FAIL("nginx did not start (" << dir_ << "/error.log)");
    }
  }
  ~Nginx() { Stop(); }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // Replaces a served file atomically (as an IdP's deployment would).
  void Serve(const std::string& name, const std::string& text) const {
    const std::string tmp = dir_ + "/www/." + name + ".tmp";
    std::ofstream(tmp) << text;
    REQUIRE(::rename(tmp.c_str(), (dir_ + "/www/" + name).c_str()) == 0);
  }

 private:
  bool Listening() const { return jwtgate::test::LoopbackListening(port_); }
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("Key rotation while threads verify: never an empty set, new keys without a restart",
          "[remote_keys][concurrency]") {
  TempDir dir;
  Nginx nginx(dir.path());
  const KeyPair k0 = MakeKey("k0");  // in every published set
  std::vector<KeyPair> rotating;
  for (int i = 1; i <= 4; ++i) rotating.push_back(MakeKey("k" + std::to_string(i)));
  nginx.Serve("jwks.json", JwksOf({&k0}));

  std::atomic<jwtgate::VerifierCell*> cell_ptr{nullptr};
  RemoteKeysOptions o = Uri(nginx.Url("/jwks.json"));
  o.allow_http = true;
  o.refresh_min = 1s;
  o.refresh_max = 1s;
  o.unknown_kid_cooldown = 1s;
  RemoteKeys* source = nullptr;
  o.on_change = [&] {
    // A new set: a new verifier over it, swapped in while the readers run.
    if (jwtgate::VerifierCell* c = cell_ptr.load(std::memory_order_acquire)) {
      c->Store(std::make_shared<jwtgate::Verifier>(source->Current()->keys,
                                                   jwtgate::VerifierOptions{}));
    }
  };
  std::string error;
  std::unique_ptr<RemoteKeys> keys = RemoteKeys::Create(o, &error);
  REQUIRE(keys != nullptr);
  source = keys.get();
  REQUIRE(keys->FetchNow(&error) == FetchOutcome::kUpdated);
  jwtgate::VerifierCell cell(
      std::make_shared<jwtgate::Verifier>(keys->Current()->keys, jwtgate::VerifierOptions{}));
  cell_ptr.store(&cell, std::memory_order_release);
  keys->Start();

  const std::string token_k0 = TokenFor(k0);
  std::vector<std::string> rotated_tokens;
  for (const KeyPair& k : rotating) rotated_tokens.push_back(TokenFor(k));
  std::atomic<int> newest{-1};  // index into `rotating` of the newest published key
  std::atomic<bool> stop{false};
  std::atomic<int> empty_seen{0}, k0_failures{0}, rotated_ok{0}, refetch_waits{0};
  auto reader = [&] {
    jwtgate::VerifyContext ctx;
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    while (!stop.load(std::memory_order_relaxed)) {
      const auto snap = keys->Current();
      if (!snap->keys || snap->keys->size() == 0) empty_seen.fetch_add(1);
      if (cell.Verify(token_k0, now, ctx, nullptr) != Status::kOk) k0_failures.fetch_add(1);
      const int n = newest.load(std::memory_order_acquire);
      if (n < 0) continue;
      Status s = cell.Verify(rotated_tokens[static_cast<size_t>(n)], now, ctx, nullptr);
      if (s == Status::kUnknownKid) {
        // The IdP rotated: one shared refetch, then again.
        refetch_waits.fetch_add(1);
        keys->WaitForUnknownKid(5000ms);
        s = cell.Verify(rotated_tokens[static_cast<size_t>(n)], now, ctx, nullptr);
      }
      if (s == Status::kOk) rotated_ok.fetch_add(1);
    }
  };
  std::thread r1(reader), r2(reader);
  for (int i = 0; i < static_cast<int>(rotating.size()); ++i) {
    nginx.Serve("jwks.json", JwksOf({&k0, &rotating[static_cast<size_t>(i)]}));
    newest.store(i, std::memory_order_release);
    std::this_thread::sleep_for(1200ms);
  }
  stop.store(true);
  r1.join();
  r2.join();
  cell_ptr.store(nullptr, std::memory_order_release);
  keys.reset();  // stops the fetch thread before `cell` goes

  CHECK(empty_seen.load() == 0);
  CHECK(k0_failures.load() == 0);
  CHECK(rotated_ok.load() > 0);
  CHECK(refetch_waits.load() > 0);
  // The last rotated key is in force.
  jwtgate::VerifyContext ctx;
  CHECK(cell.Verify(rotated_tokens.back(), static_cast<int64_t>(std::time(nullptr)), ctx,
                    nullptr) == Status::kOk);
}
