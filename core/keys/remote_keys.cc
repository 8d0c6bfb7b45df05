#include <fcntl.h>
#include <openssl/evp.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <future>
#include <mutex>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "base/epoch.h"
#include "base/hex.h"
#include "base/json_string.h"
#include "base/thread_annotations.h"
#include "jwtgate/key_source.h"
#include "keys/http_fetch.h"

namespace jwtgate {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kCacheFormat = 1;
constexpr size_t kMaxDiscoveryBytes = 256 * 1024;

int64_t UnixNow() { return static_cast<int64_t>(std::time(nullptr)); }

int64_t UnixNowMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string HexSha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return base::HexEncode(md, len);
}

// Writes `data` to `path` so that a crash leaves the old file or the new one, never a torn one.
bool WriteAtomically(const std::string& path, std::string_view data, std::string* error) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = tmp + ": " + std::strerror(errno);
    return false;
  }
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = tmp + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    *error = tmp + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  const std::string dir =
      path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
  if (const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

bool ReadWhole(const std::string& path, size_t max, std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || text.size() + static_cast<size_t>(std::max<ssize_t>(n, 0)) > max) {
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  *out = std::move(text);
  return true;
}

// The cache directory must exist (created 0755 when missing) and must not be writable by
// others: whoever can write there chooses the keys after the next restart.
bool PrepareCacheDir(const std::string& dir, std::string* error) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT || ::mkdir(dir.c_str(), 0755) != 0 || ::stat(dir.c_str(), &st) != 0) {
      *error = dir + ": cannot create: " + std::strerror(errno);
      return false;
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    *error = dir + ": not a directory";
    return false;
  }
  if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    *error = dir + ": writable by every user (mode " + mode +
             "): anyone could plant keys there; chmod o-w it";
    return false;
  }
  return true;
}

}  // namespace

struct RemoteKeys::Rep {
  RemoteKeysOptions opt;
  std::string source;      // the configured source, for the cache file: jwks_uri or discovery URL
  std::string cache_path;  // "" without cache_dir

  // The published snapshot: `current` is read lock-free inside an epoch section; `holder`
  // owns it. Replaced under publish_mu, after which Synchronize lets the old one go.
  struct Holder {
    std::shared_ptr<const Snapshot> snapshot;
  };
  std::atomic<const Holder*> current{nullptr};
  std::unique_ptr<const Holder> owner;  // guarded by publish_mu
  std::mutex publish_mu;

  // Fetch state: used by the fetch thread (or FetchNow's caller) only, under fetch_mu.
  std::mutex fetch_mu;
  std::string jwks_uri;  // resolved
  Clock::time_point discovered_at{};
  bool last_failed = false;
  std::string etag;

  // Counters.
  std::atomic<uint64_t> outcomes[kFetchOutcomeCount] = {};
  std::atomic<uint64_t> kid_refetches{0}, cooldown_rejections{0};
  std::atomic<int64_t> confirmed_at_ms{0};  // unix milliseconds; 0: never

  // Scheduling, under mu.
  base::Mutex mu;
  std::condition_variable cv;
  bool stopping JWTGATE_GUARDED_BY(mu) = false;
  bool kid_requested JWTGATE_GUARDED_BY(mu) = false;
  // A fetch for an unknown kid is running: later unknown kids join it (single flight). A
  // periodic fetch that is running may have begun before the new key was published, so an
  // unknown kid then asks for the next fetch instead (kid_requested) and waits for that one.
  bool in_flight_for_kid JWTGATE_GUARDED_BY(mu) = false;
  Clock::time_point cooldown_until JWTGATE_GUARDED_BY(mu){};
  std::vector<std::function<void(bool)>> waiters JWTGATE_GUARDED_BY(mu);  // the next kid fetch
  std::vector<std::function<void(bool)>> serving JWTGATE_GUARDED_BY(mu);  // the one running
  std::thread thread;

  void Log(bool warning, const std::string& line) const {
    if (opt.log) opt.log(warning, line);
  }
  std::shared_ptr<const Snapshot> Load() const {
    base::EpochDomain::Guard g(base::EpochDomain::Global());
    // acquire: pairs with Publish's release; the snapshot is fully built.
    const Holder* h = current.load(std::memory_order_acquire);
    return h->snapshot;
  }
  void Publish(std::shared_ptr<const Snapshot> next) {
    auto holder = std::make_unique<const Holder>(Holder{std::move(next)});
    std::unique_ptr<const Holder> old;
    {
      std::lock_guard lock(publish_mu);
      current.store(holder.get(), std::memory_order_release);
      old = std::exchange(owner, std::move(holder));
    }
    // Readers that loaded the old holder copy its shared_ptr inside their section; once they
    // are done the holder can go (the snapshot lives on in their copies).
    base::EpochDomain::Global().Synchronize();
  }
  // Republishes the current set with other flags (stale, from_cache).
  void Remark(bool stale, bool from_cache) {
    const std::shared_ptr<const Snapshot> cur = Load();
    if (cur->stale == stale && cur->from_cache == from_cache) return;
    auto next = std::make_shared<Snapshot>(*cur);
    next->stale = stale;
    next->from_cache = from_cache;
    next->version = cur->version + 1;
    Publish(std::move(next));
    if (opt.on_change) opt.on_change();
  }

  JwksOptions ImportOptions() const {
    JwksOptions jo;
    jo.default_alg = opt.default_alg;
    jo.max_bytes = opt.max_bytes;
    jo.skip_unsupported = opt.skip_unsupported;
    jo.issuer = opt.issuer;
    jo.allow_symmetric = false;
    return jo;
  }
  // Builds a set from a fetched or cached document; on failure `*why` says what is wrong.
  std::shared_ptr<const KeySet> BuildSet(std::string_view jwks, std::string* why) const {
    KeySet::Builder b;
    if (b.AddJwks(jwks, ImportOptions()) != Status::kOk) {
      *why = b.DescribeFailure();
      return nullptr;
    }
    std::shared_ptr<const KeySet> set = b.Build();
    if (set->size() == 0) {
      *why = "no usable keys";
      return nullptr;
    }
    if (opt.validate && !opt.validate(*set, why)) return nullptr;
    return set;
  }

  void LoadCache();
  void SaveCache(const std::string& jwks);
  FetchOutcome Resolve(std::string* error);
  FetchOutcome FetchOnce(std::string* error, seconds* ttl);
  void Confirm();
  Clock::duration CheckStale();
  void Run();
  seconds Backoff(int failures);
};

void RemoteKeys::Rep::LoadCache() {
  if (cache_path.empty()) return;
  std::string text;
  if (!ReadWhole(cache_path, opt.max_bytes * 7 + 65536, &text)) return;  // none yet
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  std::string_view issuer, src, jwks, etag_v;
  int64_t format = 0, at = 0;
  if (parser.parse(text).get_object().get(o) != simdjson::SUCCESS ||
      o["format"].get_int64().get(format) != simdjson::SUCCESS || format != kCacheFormat ||
      o["issuer"].get_string().get(issuer) != simdjson::SUCCESS ||
      o["source"].get_string().get(src) != simdjson::SUCCESS ||
      o["confirmed_at"].get_int64().get(at) != simdjson::SUCCESS ||
      o["jwks"].get_string().get(jwks) != simdjson::SUCCESS) {
    Log(true, "key cache " + cache_path + ": unreadable, ignored (the keys will be fetched)");
    return;
  }
  if (issuer != opt.issuer || src != source) return;  // another configuration's file
  std::string why;
  std::shared_ptr<const KeySet> set = BuildSet(jwks, &why);
  if (!set) {
    Log(true, "key cache " + cache_path + ": refused: " + why);
    return;
  }
  if (o["etag"].get_string().get(etag_v) == simdjson::SUCCESS) etag.assign(etag_v);
  auto snap = std::make_shared<Snapshot>();
  snap->keys = std::move(set);
  snap->jwks.assign(jwks);
  snap->from_cache = true;
  snap->stale = UnixNow() - at >= opt.max_stale.count();
  snap->version = 1;
  confirmed_at_ms.store(at * 1000, std::memory_order_relaxed);
  Publish(std::move(snap));
  Log(false, "issuer " + opt.issuer + ": " + std::to_string(Load()->keys->size()) +
                 " key(s) loaded from " + cache_path + ", confirmed " +
                 std::to_string(UnixNow() - at) + " s ago" + (Load()->stale ? " (stale)" : ""));
}

void RemoteKeys::Rep::SaveCache(const std::string& jwks) {
  if (cache_path.empty()) return;
  std::string doc =
      "{\"format\":" + std::to_string(kCacheFormat) +
      ",\"issuer\":" + base::JsonString(opt.issuer) + ",\"source\":" + base::JsonString(source) +
      ",\"confirmed_at\":" + std::to_string(confirmed_at_ms.load() / 1000) +
      ",\"etag\":" + base::JsonString(etag) + ",\"jwks\":" + base::JsonString(jwks) + "}\n";
  std::string err;
  if (!WriteAtomically(cache_path, doc, &err)) Log(true, "key cache: cannot write " + err);
}

// Discovery: fetches the OpenID configuration and takes its jwks_uri, once at first and again
// after a failed JWKS fetch or when refresh_max has passed since.
FetchOutcome RemoteKeys::Rep::Resolve(std::string* error) {
  if (!opt.discovery) {
    jwks_uri = opt.jwks_uri;
    return FetchOutcome::kUpdated;
  }
  if (!jwks_uri.empty() && !last_failed && Clock::now() - discovered_at < opt.refresh_max) {
    return FetchOutcome::kUpdated;
  }
  keys::FetchRequest req;
  req.url = source;
  req.ca_file = opt.ca_file;
  req.allow_http = opt.allow_http;
  req.timeout = opt.fetch_timeout;
  req.max_bytes = kMaxDiscoveryBytes;
  keys::FetchResponse r = keys::HttpFetch(req);
  if (r.outcome != FetchOutcome::kUpdated) {
    *error = "discovery: " + r.error;
    return r.outcome == FetchOutcome::kNotModified ? FetchOutcome::kHttpError : r.outcome;
  }
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  std::string_view iss, uri;
  if (parser.parse(r.body).get_object().get(o) != simdjson::SUCCESS) {
    *error = "discovery: " + source + ": not a JSON object";
    return FetchOutcome::kInvalid;
  }
  if (o["issuer"].get_string().get(iss) != simdjson::SUCCESS) {
    *error = "discovery: " + source + ": no \"issuer\" string";
    return FetchOutcome::kInvalid;
  }
  if (iss != opt.issuer) {
    *error = "discovery: " + source + ": the document's issuer \"" +
             std::string(iss.substr(0, 200)) + "\" is not the configured \"" + opt.issuer +
             "\" (they must match byte for byte); refused";
    return FetchOutcome::kIssuerMismatch;
  }
  if (o["jwks_uri"].get_string().get(uri) != simdjson::SUCCESS) {
    *error = "discovery: " + source + ": no \"jwks_uri\" string";
    return FetchOutcome::kInvalid;
  }
  std::string e;
  if (!keys::CheckUrl(uri, opt.allow_http, &e)) {
    *error = "discovery: " + source + ": jwks_uri " + e;
    return FetchOutcome::kInvalid;
  }
  if (jwks_uri != uri) etag.clear();
  jwks_uri.assign(uri);
  discovered_at = Clock::now();
  return FetchOutcome::kUpdated;
}

void RemoteKeys::Rep::Confirm() {
  confirmed_at_ms.store(UnixNowMs(), std::memory_order_relaxed);
  Remark(/*stale=*/false, /*from_cache=*/false);
}

// One refresh: discovery when due, then the JWKS. `*ttl` is when the next one is due.
FetchOutcome RemoteKeys::Rep::FetchOnce(std::string* error, seconds* ttl) {
  std::lock_guard lock(fetch_mu);
  FetchOutcome o = Resolve(error);
  if (o != FetchOutcome::kUpdated) {
    last_failed = true;
    return o;
  }
  const std::shared_ptr<const Snapshot> cur = Load();
  keys::FetchRequest req;
  req.url = jwks_uri;
  req.ca_file = opt.ca_file;
  req.allow_http = opt.allow_http;
  req.timeout = opt.fetch_timeout;
  req.max_bytes = opt.max_bytes;
  if (cur->keys) req.if_none_match = etag;
  keys::FetchResponse r = keys::HttpFetch(req);
  const int64_t age = r.max_age_s.value_or(opt.refresh_max.count());
  *ttl = std::clamp(seconds(age), opt.refresh_min, opt.refresh_max);
  last_failed = !IsSuccess(r.outcome);
  if (r.outcome == FetchOutcome::kNotModified) {
    Confirm();
    if (cur->from_cache) SaveCache(cur->jwks);
    return r.outcome;
  }
  if (r.outcome != FetchOutcome::kUpdated) {
    *error = r.error;
    return r.outcome;
  }
  if (cur->keys && r.body == cur->jwks) {
    etag = r.etag;
    Confirm();
    SaveCache(cur->jwks);
    return FetchOutcome::kUnchanged;
  }
  std::string why;
  std::shared_ptr<const KeySet> set = BuildSet(r.body, &why);
  if (!set) {
    last_failed = true;
    *error = jwks_uri + ": key set refused, previous set kept: " + why;
    return FetchOutcome::kInvalid;
  }
  etag = r.etag;
  confirmed_at_ms.store(UnixNowMs(), std::memory_order_relaxed);
  auto snap = std::make_shared<Snapshot>();
  snap->keys = std::move(set);
  snap->jwks = std::move(r.body);
  snap->version = cur->version + 1;
  const size_t n = snap->keys->size();
  SaveCache(snap->jwks);
  Publish(std::move(snap));
  Log(false, "issuer " + opt.issuer + ": " + std::to_string(n) + " key(s) from " + jwks_uri);
  if (opt.on_change) opt.on_change();
  return FetchOutcome::kUpdated;
}

seconds RemoteKeys::Rep::Backoff(int failures) {
  thread_local std::minstd_rand rng(std::random_device{}());
  const int64_t cap = std::max<int64_t>(1, opt.refresh_min.count()) * 1000;
  int64_t ms = std::min<int64_t>(cap, int64_t{1000} << std::min(failures - 1, 20));
  ms = ms * std::uniform_int_distribution<int>(800, 1200)(rng) / 1000;
  return std::chrono::duration_cast<seconds>(milliseconds(std::max<int64_t>(ms, 1000)));
}

// Marks the set stale once no fetch has succeeded for max_stale. Returns how long until that
// happens (for the wait), or refresh_max when it cannot (no set, or already stale).
Clock::duration RemoteKeys::Rep::CheckStale() {
  const int64_t at = confirmed_at_ms.load(std::memory_order_relaxed);
  const std::shared_ptr<const Snapshot> cur = Load();
  if (at == 0 || cur->stale || !cur->keys) return opt.refresh_max;
  const int64_t left_ms = at + opt.max_stale.count() * 1000 - UnixNowMs();
  if (left_ms > 0) return milliseconds(left_ms);
  Remark(/*stale=*/true, cur->from_cache);
  Log(true, "issuer " + opt.issuer + ": keys not confirmed for " +
                std::to_string(opt.max_stale.count()) +
                " s (max_stale): failing closed until a fetch succeeds");
  return opt.refresh_max;
}

void RemoteKeys::Rep::Run() {
  Clock::time_point due = Clock::now();  // a first fetch at once
  int failures = 0;
  for (;;) {
    std::vector<std::function<void(bool)>> served;
    bool for_kid = false;
    const Clock::duration until_stale = CheckStale();
    {
      base::MutexLock lock(&mu);
      if (stopping) return;
      if (!kid_requested && Clock::now() < due) {
        mu.WaitUntil(cv, std::min(due, Clock::now() + until_stale));
        continue;
      }
      for_kid = kid_requested;
      kid_requested = false;
      in_flight_for_kid = for_kid;
      // The callers who asked for this fetch; others may join it while it runs.
      serving.swap(waiters);
    }
    std::string error;
    seconds ttl = opt.refresh_max;
    const uint64_t before = Load()->version;
    const FetchOutcome o = FetchOnce(&error, &ttl);
    outcomes[static_cast<size_t>(o)].fetch_add(1, std::memory_order_relaxed);
    const bool changed = Load()->version != before && o == FetchOutcome::kUpdated;
    if (IsSuccess(o)) {
      failures = 0;
      due = Clock::now() + std::max(opt.refresh_min, ttl - ttl / 10);
    } else {
      ++failures;
      const seconds wait = Backoff(failures);
      due = Clock::now() + wait;
      Log(true, "issuer " + opt.issuer + ": key fetch failed (" + std::string(ToString(o)) +
                    "): " + error + "; keeping the previous keys, retry in " +
                    std::to_string(wait.count()) + " s");
    }
    {
      base::MutexLock lock(&mu);
      in_flight_for_kid = false;
      if (for_kid) cooldown_until = Clock::now() + opt.unknown_kid_cooldown;
      served.swap(serving);
    }
    for (auto& done : served) done(changed);
  }
}

RemoteKeys::RemoteKeys(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}

std::unique_ptr<RemoteKeys> RemoteKeys::Create(RemoteKeysOptions o, std::string* error) {
  auto fail = [&](std::string why) {
    *error = std::move(why);
    return std::unique_ptr<RemoteKeys>();
  };
  if (o.issuer.empty()) return fail("issuer: required for remote keys");
  if (o.discovery == !o.jwks_uri.empty()) {
    return fail("give either jwks_uri or discovery, not both and not neither");
  }
  std::string source;
  if (o.discovery) {
    std::string base = o.issuer;
    if (!base.empty() && base.back() == '/') base.pop_back();
    source = base + "/.well-known/openid-configuration";
    if (std::string e; !keys::CheckUrl(source, o.allow_http, &e)) return fail("discovery: " + e);
  } else {
    source = o.jwks_uri;
    if (std::string e; !keys::CheckUrl(source, o.allow_http, &e)) return fail("jwks_uri: " + e);
  }
  if (o.refresh_min.count() < 1) return fail("refresh_min: at least 1 s");
  if (o.refresh_max < o.refresh_min) return fail("refresh_max: less than refresh_min");
  if (o.unknown_kid_cooldown.count() < 1) return fail("unknown_kid_cooldown: at least 1 s");
  if (o.max_stale <= o.refresh_max) {
    return fail("max_stale: must exceed refresh_max (else the keys go stale between refreshes)");
  }
  if (o.fetch_timeout.count() < 1) return fail("fetch_timeout: at least 1 ms");
  if (!o.ca_file.empty() && ::access(o.ca_file.c_str(), R_OK) != 0) {
    return fail("ca_file: " + o.ca_file + ": " + std::strerror(errno));
  }
  auto rep = std::make_unique<Rep>();
  rep->source = source;
  if (!o.cache_dir.empty()) {
    std::string e;
    if (!PrepareCacheDir(o.cache_dir, &e)) return fail("cache dir " + e);
    rep->cache_path =
        o.cache_dir + "/" + HexSha256(o.issuer + "\n" + source).substr(0, 32) + ".json";
  }
  rep->opt = std::move(o);
  rep->owner = std::make_unique<const Rep::Holder>(Rep::Holder{std::make_shared<const Snapshot>()});
  rep->current.store(rep->owner.get(), std::memory_order_release);
  rep->LoadCache();
  return std::unique_ptr<RemoteKeys>(new RemoteKeys(std::move(rep)));
}

RemoteKeys::~RemoteKeys() {
  std::vector<std::function<void(bool)>> pending;
  {
    base::MutexLock lock(&rep_->mu);
    rep_->stopping = true;
    pending.swap(rep_->waiters);
  }
  rep_->cv.notify_all();
  if (rep_->thread.joinable()) rep_->thread.join();
  {
    base::MutexLock lock(&rep_->mu);
    pending.insert(pending.end(), rep_->waiters.begin(), rep_->waiters.end());
    pending.insert(pending.end(), rep_->serving.begin(), rep_->serving.end());
    rep_->waiters.clear();
    rep_->serving.clear();
  }
  for (auto& done : pending) done(false);
}

void RemoteKeys::Start() {
  if (rep_->thread.joinable()) return;
  rep_->thread = std::thread([r = rep_.get()] { r->Run(); });
}

FetchOutcome RemoteKeys::FetchNow(std::string* error) {
  seconds ttl{};
  const FetchOutcome o = rep_->FetchOnce(error, &ttl);
  rep_->outcomes[static_cast<size_t>(o)].fetch_add(1, std::memory_order_relaxed);
  return o;
}

std::shared_ptr<const RemoteKeys::Snapshot> RemoteKeys::Current() const { return rep_->Load(); }

RemoteKeys::KidRefetch RemoteKeys::OnUnknownKid(std::function<void(bool changed)> done) {
  Rep& r = *rep_;
  {
    base::MutexLock lock(&r.mu);
    const size_t waiting = r.waiters.size() + r.serving.size();
    if (r.stopping || waiting >= r.opt.max_kid_waiters) {
      r.cooldown_rejections.fetch_add(1, std::memory_order_relaxed);
      return KidRefetch::kCoolingDown;
    }
    if (r.in_flight_for_kid) {  // join the refetch under way
      r.serving.push_back(std::move(done));
      return KidRefetch::kWaiting;
    }
    if (r.kid_requested) {  // join the refetch about to start
      r.waiters.push_back(std::move(done));
      return KidRefetch::kWaiting;
    }
    if (Clock::now() < r.cooldown_until) {
      r.cooldown_rejections.fetch_add(1, std::memory_order_relaxed);
      return KidRefetch::kCoolingDown;
    }
    r.waiters.push_back(std::move(done));
    r.kid_requested = true;
    r.kid_refetches.fetch_add(1, std::memory_order_relaxed);
  }
  r.cv.notify_all();
  return KidRefetch::kWaiting;
}

bool RemoteKeys::WaitForUnknownKid(std::chrono::milliseconds max_wait) {
  auto result = std::make_shared<std::promise<bool>>();
  std::future<bool> f = result->get_future();
  if (OnUnknownKid([result](bool changed) { result->set_value(changed); }) !=
      KidRefetch::kWaiting) {
    return false;
  }
  if (f.wait_for(max_wait) != std::future_status::ready) return false;
  return f.get();
}

RemoteKeys::Stats RemoteKeys::stats() const {
  const Rep& r = *rep_;
  Stats s;
  for (size_t i = 0; i < kFetchOutcomeCount; ++i) {
    s.fetches[i] = r.outcomes[i].load(std::memory_order_relaxed);
  }
  s.unknown_kid_refetches = r.kid_refetches.load(std::memory_order_relaxed);
  s.cooldown_rejections = r.cooldown_rejections.load(std::memory_order_relaxed);
  s.confirmed_at = r.confirmed_at_ms.load(std::memory_order_relaxed) / 1000;
  const std::shared_ptr<const Snapshot> cur = r.Load();
  s.keys = cur->keys ? cur->keys->size() : 0;
  s.stale = cur->stale;
  s.from_cache = cur->from_cache;
  return s;
}

const RemoteKeysOptions& RemoteKeys::options() const noexcept { return rep_->opt; }

}  // namespace jwtgate
