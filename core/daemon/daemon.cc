#include "daemon/daemon.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <future>
#include <initializer_list>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <variant>
#include <vector>

#include "base/constant_time.h"
#include "base/eventfd.h"
#include "base/thread_annotations.h"
#include "daemon/admin_handler.h"
#include "daemon/auth_handler.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/startup.h"
#include "daemon/trust.h"
#include "jwtgate/cache.h"
#include "jwtgate/key_source.h"
#include "jwtgate/pipeline.h"
#include "jwtgate/revocation.h"
#include "jwtgate/verifier_cell.h"
#include "jwtgate/version.h"
#include "net/http_server.h"
#include "net/listener.h"
#include "net/uring_support.h"
#include "replicate/replicator.h"

namespace jwtgate::daemon {
namespace {

double WallSeconds() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void Notify(const std::string& state) { sd_notify(0, state.c_str()); }

void NotifyReloading() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const unsigned long long usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ull +
                                  static_cast<unsigned long long>(ts.tv_nsec) / 1000ull;
  // MONOTONIC_USEC is ignored by systemd 252 and required by Type=notify-reload (253+).
  Notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void RaiseFdLimit() {
  rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

size_t NextPowerOfTwo(size_t v) {
  size_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

net::ServerOptions AuthServerOptions(const Config& c) {
  net::ServerOptions o;
  o.name = "auth";
  o.limits.max_request_line = c.max_request_line_bytes;
  o.limits.max_head_bytes = c.max_header_bytes;
  o.limits.max_headers = c.max_headers;
  o.limits.max_body_bytes = c.max_body_bytes;
  o.discard_body = true;
  o.header_timeout = std::chrono::milliseconds(c.header_timeout_ms);
  o.idle_timeout = std::chrono::milliseconds(c.idle_timeout_ms);
  o.max_connections = (c.max_connections + c.io_threads - 1) / c.io_threads;
  // Past the limit, idle keep-alive and slow connections make room for new ones (as nginx
  // reuses its keep-alive connections), so that a flood of idle connections cannot lock the
  // proxy out.
  o.evict_when_full = true;
  o.max_pipelined = c.max_pipelined;
  o.buffer_count = 1024;
  o.buffer_size = 4096;
  o.ring_entries = 2048;
  return o;
}

net::ServerOptions AdminServerOptions(const Config& c) {
  net::ServerOptions o;
  o.name = "admin";
  o.limits.max_request_line = 4096;
  o.limits.max_head_bytes = 16384;
  o.limits.max_headers = 64;
  o.limits.max_body_bytes = 4096;
  o.discard_body = false;
  // Under a connection flood the operator must still get through (POST /revoke, probes): a
  // short header timeout, and beyond max_connections the oldest idle or slow connection is
  // evicted for the new one (ServerOptions::evict_when_full).
  o.header_timeout = std::chrono::milliseconds(c.admin_header_timeout_ms);
  o.idle_timeout = std::chrono::milliseconds(c.admin_idle_timeout_ms);
  o.max_connections = c.admin_max_connections;
  o.evict_when_full = true;
  o.max_pipelined = 4;
  o.buffer_count = 64;
  o.buffer_size = 4096;
  o.ring_entries = 256;
  return o;
}

}  // namespace

struct Daemon::Rep : public AdminApi, public UnknownKidRouter {
  // Outcomes of admin revocations, queued by the store's commit thread and answered on the
  // admin thread (woken through `fd`). Shared with the store's callbacks, so it outlives
  // the store whatever the order of destruction.
  struct RevokeOutcomes {
    struct Outcome {
      RevokeReply reply;
      RevokeDone done;
    };
    base::Mutex mu;
    std::vector<Outcome> ready JWTGATE_GUARDED_BY(mu);
    int fd = -1;  // eventfd
    ~RevokeOutcomes() {
      if (fd >= 0) ::close(fd);
    }
  };

  struct IoThread {
    std::unique_ptr<AuthHandler> handler;
    std::unique_ptr<net::HttpServer> server;
    std::thread thread;
    std::promise<std::string> init;  // the thread's Init result ("" when ready)
    std::atomic<bool> done{false};
  };

  Config config;
  ConfigOverrides overrides;
  std::string config_path;

  std::unique_ptr<RevocationStore> store;
  // revocation.replication: shares this node's revocations with the fleet (destroyed before
  // the store it writes to).
  std::unique_ptr<replicate::Replicator> replicator;
  std::unique_ptr<VerifiedTokenCache> cache;
  std::unique_ptr<Pipeline> pipeline;
  // decision_log: written by the I/O threads' handlers (destroyed after them).
  std::unique_ptr<DecisionLog> decision_log;
  AuthSettings auth;
  // The verifier in force (AuthSettings::verifier points here). A swap waits for the I/O
  // threads' readers of the old one, then releases it.
  std::unique_ptr<VerifierCell> cell;

  // A remote issuer's key source, with the configuration it was made from (a reload keeps a
  // source whose configuration did not change, and its keys).
  struct Source {
    IssuerConfig config;
    std::string cache_dir;
    std::shared_ptr<RemoteKeys> keys;
  };
  // Trust rebuilds (a reload on the admin thread, a key update on a fetch thread) one at a
  // time; `config`'s trust settings are read by fetch threads under it.
  base::Mutex trust_mu;
  std::vector<Source> sources JWTGATE_GUARDED_BY(trust_mu);  // one per issuer; keys null: a file
  // Each issuer's keys in force, for a fetched set's kid check (RemoteKeysOptions::validate,
  // which runs on a fetch thread, and during RemoteKeys::Create under trust_mu: so it takes
  // only keys_mu, never trust_mu).
  base::Mutex keys_mu;
  std::map<std::string, std::shared_ptr<const KeySet>> issuer_keys JWTGATE_GUARDED_BY(keys_mu);
  size_t issuer_count JWTGATE_GUARDED_BY(keys_mu) = 0;
  void SetIssuerKeys(const Trust& trust, size_t issuers) {
    base::MutexLock lock(&keys_mu);
    issuer_keys = trust.per_issuer;
    issuer_count = issuers;
  }
  // What the I/O threads route unknown kids by: issuer -> source. Replaced whole.
  base::Mutex routes_mu;
  std::shared_ptr<const std::map<std::string, std::shared_ptr<RemoteKeys>>> routes
      JWTGATE_GUARDED_BY(routes_mu);
  std::atomic<size_t> keys{0};
  std::string trust_summary;  // admin thread
  std::string admin_token;

  std::vector<std::unique_ptr<IoThread>> io;
  std::unique_ptr<AdminHandler> admin_handler;
  std::unique_ptr<net::HttpServer> admin;
  net::SocketAddress auth_bound, admin_bound;
  // The listeners' socket files when they are Unix sockets, removed at shutdown.
  net::UnixSocketFile auth_file, admin_file;
  int signal_fd = -1;

  std::atomic<bool> ready{false};
  bool draining = false;
  bool force_stop = false;
  double start_time = WallSeconds();
  bool last_reload_ok = true;
  double last_reload_success = WallSeconds();
  uint64_t reloads_ok = 0, reloads_failed = 0;
  uint64_t revoked_jti = 0, revoked_subject = 0, revoke_failures = 0;
  std::shared_ptr<RevokeOutcomes> revoke_outcomes = std::make_shared<RevokeOutcomes>();

  ~Rep() override {
    StopSources();
    if (signal_fd >= 0) ::close(signal_fd);
  }

  // Stops every key source (their pending unknown-kid waiters are answered). Their threads may
  // be in OnKeysChanged: they are joined outside trust_mu.
  void StopSources() {
    std::vector<Source> stopping;
    {
      base::MutexLock lock(&trust_mu);
      stopping.swap(sources);
    }
    {
      base::MutexLock lock(&routes_mu);
      routes.reset();
    }
    stopping.clear();
  }

  // Makes `v` the verifier of the inline path and of the pipeline.
  void PublishVerifier(const std::shared_ptr<const Verifier>& v) {
    bool hmac_only = false;
    const AlgSet algs = v->keys().algs();
    for (Alg a : kAllAlgs) {
      if (!algs.Contains(a) || !v->options().algorithms.Contains(a)) continue;
      if (FamilyOf(a) != AlgFamily::kHmac) {
        hmac_only = false;
        break;
      }
      hmac_only = true;
    }
    auth.hmac_only.store(hmac_only, std::memory_order_relaxed);
    cell->Store(v);
    if (pipeline) pipeline->SetVerifier(v);
    // release: a submit that sees the new generation is verified with `v` (or newer).
    auth.generation.fetch_add(1, std::memory_order_release);
  }

  // Start, step by step; a step that fails says why and returns the exit code.
  int Start();
  CheckResult OpenRevocationState();
  CheckResult OpenReplication();
  CheckResult LoadTrust(Trust* trust);
  void StartPipeline(const Trust& trust);
  // Remote key sources: made for `issuers` (reusing those of `sources` whose configuration is
  // unchanged), their snapshots, started, and rebuilt into the trust when their keys change.
  bool MakeSources(const Config& next, std::vector<Source>* out, std::string* error)
      JWTGATE_REQUIRES(trust_mu);
  RemoteSnapshots Snapshots(const std::vector<Source>& list) const;
  RemoteKeysOptions SourceOptions(const IssuerConfig& ic, const std::string& cache_dir);
  void PublishRoutes(const std::vector<Source>& list);
  void OnKeysChanged(const std::string& issuer);
  // Publishes a new trust: the verifier swap and a cache clear; ClearCacheAfterSwap (without
  // trust_mu) the second clear.
  void SwapTrust(const Trust& trust) JWTGATE_REQUIRES(trust_mu);
  void ClearCacheAfterSwap();
  // UnknownKidRouter
  bool Refetch(std::string_view token, std::function<void(bool changed)> done) override;
  CheckResult OpenListenerSockets(std::vector<int>* auth_fds, std::vector<int>* admin_fds);
  CheckResult StartIoThreads();
  CheckResult StartAdmin();
  void Shutdown();
  void OnSignals();
  void BeginShutdown(const char* why);

  // AdminApi
  bool Ready(std::string* detail) override;
  std::string RenderMetrics() override;
  void RenderAuthMetrics(MetricsText& m);
  void RenderEngineMetrics(MetricsText& m);
  void RenderListenerMetrics(MetricsText& m);
  void RenderKeySourceMetrics(MetricsText& m);
  void RenderReplicationMetrics(MetricsText& m);
  bool Reload(std::string* message) override;
  void Revoke(const RevokeRequest& r, RevokeDone done) override;
  void CountRevocation(RevokeReply* reply);
  // How long a jti revocation without the token's exp is kept: revocation.jti_retention_seconds,
  // else the longest lifetime the policy accepts plus its leeway, else for ever.
  int64_t JtiKeepUntil(int64_t now) const;
  void OnRevokeOutcomes();
  bool AdminTokenAccepts(bool present, std::string_view presented) override {
    if (admin_token.empty()) return true;
    return present && base::ConstantTimeEquals(presented, admin_token);
  }
  bool MetricsNeedToken() override { return config.admin_protect_metrics; }
};

int Daemon::Rep::Start() {
  auto refuse = [](const CheckResult& r) {
    Log(LogLevel::kError, "{}", r.error);
    return static_cast<int>(r.code);
  };
  std::string err;
  if (!net::CheckIoUringSupport(&err)) return refuse({kExitSystem, err});
  RaiseFdLimit();
  for (const std::string& w : ConfigWarnings(config)) Log(LogLevel::kWarning, "{}", w);
  {
    std::vector<std::string> warnings;
    if (CheckResult r = CheckListenerPaths(config, &warnings); !r.ok()) return refuse(r);
    for (const std::string& w : warnings) Log(LogLevel::kWarning, "{}", w);
  }
  if (CheckResult r = OpenRevocationState(); !r.ok()) return refuse(r);
  Trust trust;
  if (CheckResult r = LoadTrust(&trust); !r.ok()) return refuse(r);
  if (config.decision_log) {
    decision_log = DecisionLog::Open(*config.decision_log, config.io_threads, &err);
    if (!decision_log) return refuse({kExitConfig, err});
  }
  StartPipeline(trust);
  std::vector<int> auth_fds, admin_fds;
  if (CheckResult r = OpenListenerSockets(&auth_fds, &admin_fds); !r.ok()) return refuse(r);
  // The servers own the sockets from here on.
  const net::ServerOptions so = AuthServerOptions(config);
  const size_t completion_capacity =
      std::clamp<size_t>(NextPowerOfTwo(so.max_connections * so.max_pipelined), 1024, 65536);
  for (unsigned i = 0; i < config.io_threads; ++i) {
    auto t = std::make_unique<IoThread>();
    t->handler = std::make_unique<AuthHandler>(&auth, completion_capacity, i);
    net::ServerOptions o = so;
    o.name = "auth/" + std::to_string(i);
    t->server = std::make_unique<net::HttpServer>(o, auth_fds[i], t->handler.get());
    io.push_back(std::move(t));
  }
  admin_handler = std::make_unique<AdminHandler>(this);
  admin = std::make_unique<net::HttpServer>(AdminServerOptions(config), admin_fds[0],
                                            admin_handler.get());
  CheckResult r = StartIoThreads();
  if (r.ok()) r = StartAdmin();
  if (!r.ok()) {
    Shutdown();
    return refuse(r);
  }

  if (replicator) {
    replicator->Start();
    auth.replicator.store(replicator.get(), std::memory_order_release);
  }
  {
    // The key sources start fetching once the daemon can publish what they fetch.
    base::MutexLock lock(&trust_mu);
    for (Source& src : sources) {
      if (src.keys) src.keys->Start();
    }
    PublishRoutes(sources);
  }
  ready.store(true, std::memory_order_release);
  const std::string status = "auth " + net::FormatSocketAddress(auth_bound) + ", admin " +
                             net::FormatSocketAddress(admin_bound) + ", " + trust_summary;
  Log(LogLevel::kInfo, "ready: {}; {} I/O thread(s), {} worker(s), cache {}", status,
      config.io_threads, pipeline->stats().workers,
      cache ? std::to_string(config.cache_entries) + " entries" : std::string("off"));
  Notify("READY=1\nSTATUS=serving: " + status);
  admin->Run();
  Shutdown();
  return kExitOk;
}

CheckResult Daemon::Rep::OpenRevocationState() {
  if (config.revocation_dir.empty()) return {};
  RevocationOptions ro;
  ro.dir = config.revocation_dir;
  ro.create_if_missing = true;
  ro.leeway_s = config.revocation_leeway_s;
  ro.target_fpr = config.revocation_target_fpr;
  ro.initial_capacity = config.revocation_initial_capacity;
  std::string err;
  Result<std::unique_ptr<RevocationStore>> r = RevocationStore::Open(ro, &err);
  if (!r.ok()) {
    return {kExitState, "revocation.dir " + config.revocation_dir + ": " +
                            (err.empty() ? std::string(ToString(r.status())) : err)};
  }
  store = std::move(r).value();
  const RevocationStats st = store->Stats();
  Log(LogLevel::kInfo,
      "revocation state {}: {} jti revocations ({} of them from the older (jti, exp) format), "
      "{} subject watermarks, recovered in {:.3f} s",
      config.revocation_dir, st.jti_revocations, st.legacy_revocations, st.subject_watermarks,
      st.recovery.seconds);
  if (config.replication) {
    if (CheckResult rr = OpenReplication(); !rr.ok()) return rr;
  }
  return {};
}

CheckResult Daemon::Rep::OpenReplication() {
  const ReplicationConfig& rc = *config.replication;
  replicate::ReplicationOptions o;
  o.redis.address = rc.redis;
  o.redis.username = rc.username;
  o.redis.connect_timeout = std::chrono::milliseconds(rc.connect_timeout_ms);
  o.redis.command_timeout = std::chrono::milliseconds(rc.command_timeout_ms);
  std::vector<std::string> warnings;
  if (CheckResult r = ReadSecretFile("revocation.replication.password_file", rc.password_file,
                                     "who could then rewrite every node's revocations",
                                     &o.redis.password, &warnings);
      !r.ok()) {
    return r;
  }
  for (const std::string& w : warnings) Log(LogLevel::kWarning, "{}", w);
  o.key_prefix = rc.key_prefix;
  o.node_id = rc.node_id;
  if (o.node_id.empty()) {
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    o.node_id = host;
  }
  o.journal_path = config.revocation_dir + "/replication.journal";
  o.snapshot_every = rc.snapshot_every_entries;
  o.snapshot_min_age = std::chrono::seconds(rc.snapshot_min_age_s);
  o.wait_replicas = rc.wait_replicas;
  o.max_disconnected = std::chrono::seconds(rc.max_disconnected_s);
  o.fail_closed = rc.fail_closed;
  o.leeway_s = config.revocation_leeway_s;
  // Test hook (tests/integration/fleet_revocation_test.py): die between the local write and
  // the XADD, as a crash would.
  const char* crash = std::getenv("JWTGATE_TEST_CRASH_BEFORE_PUBLISH");
  o.crash_before_publish = crash != nullptr && std::string_view(crash) == "1";
  o.log = [](bool warning, const std::string& line) {
    Log(warning ? LogLevel::kWarning : LogLevel::kInfo, "{}", line);
  };
  std::string err;
  replicator = replicate::Replicator::Open(std::move(o), store.get(), &err);
  if (!replicator) return {kExitState, "revocation.replication: " + err};
  Log(LogLevel::kInfo, "revocation replication: node {} through Redis {} (key prefix {})",
      rc.node_id.empty() ? std::string("(host name)") : rc.node_id, rc.redis, rc.key_prefix);
  return {};
}

CheckResult Daemon::Rep::LoadTrust(Trust* trust) {
  std::string err;
  {
    base::MutexLock lock(&trust_mu);
    std::vector<Source> made;
    if (!MakeSources(config, &made, &err)) return {kExitConfig, err};
    if (!BuildTrust(config, store.get(), trust, &err, Snapshots(made))) return {kExitKeys, err};
    sources = std::move(made);
    SetIssuerKeys(*trust, config.issuers.size());
  }
  std::vector<std::string> warnings;
  if (CheckResult r = ReadAdminToken(config.admin_token_file, &admin_token, &warnings); !r.ok()) {
    return r;
  }
  for (const std::string& w : warnings) Log(LogLevel::kWarning, "{}", w);
  keys.store(trust->keys, std::memory_order_relaxed);
  trust_summary = trust->summary;
  return {};
}

RemoteKeysOptions Daemon::Rep::SourceOptions(const IssuerConfig& ic, const std::string& cache_dir) {
  RemoteKeysOptions o = RemoteOptionsFor(ic, cache_dir);
  const std::string issuer = ic.issuer;
  // A fetched set must not share a kid with another issuer (a token's kid then names one
  // issuer's key), and with several issuers every key needs one.
  o.validate = [this, issuer](const KeySet& set, std::string* why) {
    base::MutexLock lock(&keys_mu);
    if (issuer_count > 1) {
      for (const KeySet::Info& k : set.Describe()) {
        if (!k.has_kid) {
          *why = "a key without kid (every key needs one when several issuers are configured)";
          return false;
        }
      }
    }
    for (const auto& [other, other_set] : issuer_keys) {
      if (other == issuer || !other_set) continue;
      if (std::string shared = SharedKids(set, *other_set); !shared.empty()) {
        *why = "kid " + shared + " is also used by issuer " + other;
        return false;
      }
    }
    return true;
  };
  o.on_change = [this, issuer] { OnKeysChanged(issuer); };
  o.log = [](bool warning, const std::string& line) {
    Log(warning ? LogLevel::kWarning : LogLevel::kInfo, "{}", line);
  };
  return o;
}

bool Daemon::Rep::MakeSources(const Config& next, std::vector<Source>* out, std::string* error) {
  out->clear();
  for (size_t i = 0; i < next.issuers.size(); ++i) {
    const IssuerConfig& ic = next.issuers[i];
    Source src{ic, next.key_cache_dir, nullptr};
    if (ic.remote()) {
      for (const Source& old : sources) {
        if (old.keys && old.config == ic && old.cache_dir == next.key_cache_dir)
          src.keys = old.keys;
      }
      if (!src.keys) {
        std::unique_ptr<RemoteKeys> k =
            RemoteKeys::Create(SourceOptions(ic, next.key_cache_dir), error);
        if (!k) {
          *error = "issuers[" + std::to_string(i) + "]: " + *error;
          return false;
        }
        src.keys = std::move(k);
      }
    }
    out->push_back(std::move(src));
  }
  return true;
}

RemoteSnapshots Daemon::Rep::Snapshots(const std::vector<Source>& list) const {
  RemoteSnapshots out(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].keys) out[i] = list[i].keys->Current();
  }
  return out;
}

void Daemon::Rep::PublishRoutes(const std::vector<Source>& list) {
  auto next = std::make_shared<std::map<std::string, std::shared_ptr<RemoteKeys>>>();
  for (const Source& src : list) {
    if (src.keys) (*next)[src.config.issuer] = src.keys;
  }
  base::MutexLock lock(&routes_mu);
  routes = std::move(next);
}

void Daemon::Rep::OnKeysChanged(const std::string& issuer) {
  {
    base::MutexLock lock(&trust_mu);
    if (!cell) return;  // not serving yet: the start builds the trust itself
    bool ours = false;
    for (const Source& src : sources) ours = ours || (src.keys && src.config.issuer == issuer);
    if (!ours) return;  // a source being replaced or stopped
    Trust trust;
    std::string err;
    if (!BuildTrust(config, store.get(), &trust, &err, Snapshots(sources))) {
      Log(LogLevel::kError, "keys of {} changed but cannot be used; keeping the previous: {}",
          issuer, err);
      return;
    }
    SwapTrust(trust);
    // After the swap: readiness counts an issuer's keys once they verify.
    SetIssuerKeys(trust, config.issuers.size());
    keys.store(trust.keys, std::memory_order_relaxed);
    Log(LogLevel::kInfo, "keys of {} changed: now {}", issuer, trust.summary);
  }
  ClearCacheAfterSwap();
}

void Daemon::Rep::SwapTrust(const Trust& trust) {
  PublishVerifier(trust.verifier);
  if (cache) cache->Clear();
}

void Daemon::Rep::ClearCacheAfterSwap() {
  // The cache was cleared at the swap; a pipeline verdict reached under the old keys may still
  // be inserted by an I/O thread that checked the generation just before it changed. Those
  // complete within microseconds to milliseconds: wait generously, then clear once more.
  // Called without trust_mu (a second swap meanwhile clears for itself).
  if (!cache) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  cache->Clear();
}

bool Daemon::Rep::Refetch(std::string_view token, std::function<void(bool changed)> done) {
  thread_local std::string iss;
  if (!PeekUnverifiedIssuer(token, &iss)) return false;
  std::shared_ptr<const std::map<std::string, std::shared_ptr<RemoteKeys>>> r;
  {
    base::MutexLock lock(&routes_mu);
    r = routes;
  }
  if (!r) return false;
  const auto it = r->find(iss);
  if (it == r->end()) return false;
  return it->second->OnUnknownKid(std::move(done)) == RemoteKeys::KidRefetch::kWaiting;
}

void Daemon::Rep::StartPipeline(const Trust& trust) {
  if (config.cache_entries > 0) {
    CacheOptions co;
    co.capacity = config.cache_entries;
    cache = std::make_unique<VerifiedTokenCache>(co);
  }
  // The I/O threads consult the cache themselves (a hit never leaves the thread) and insert
  // what the pipeline verified; the pipeline itself runs without it.
  PipelineOptions po;
  po.workers = config.workers;
  po.ring_capacity = config.queue_capacity;
  po.max_batch = config.max_batch;
  po.batch_budget = std::chrono::microseconds(config.batch_budget_us);
  po.cache = nullptr;
  po.capture_identity = true;
  // Every claim the answers need, captured once per verified token (and kept in the cache).
  ClaimCaptures captures;
  for (const auto& ch : config.claim_headers) {
    auth.header_claims.push_back(captures.Add(ch.claim));
    auth.claim_headers.push_back(ch.header);
  }
  auth.routes = RouteTable(config.routes, config.routes_default_deny, &captures);
  auth.claims = captures.paths();
  po.extra_claims = captures.paths();
  auth.route_source = config.route_source;
  auth.header_separator = config.claim_header_separator;
  auth.max_header_value = config.claim_header_max_bytes;
  auth.decision_log = decision_log.get();
  pipeline = std::make_unique<Pipeline>(trust.verifier, po);
  cell = std::make_unique<VerifierCell>(trust.verifier);
  auth.verifier = cell.get();
  auth.unknown_kid = this;
  auth.path_prefix = config.path_prefix;
  auth.realm = config.realm;
  auth.pipeline = pipeline.get();
  auth.cache = cache.get();
  auth.inline_verify = config.inline_verify;
  PublishVerifier(trust.verifier);
}

CheckResult Daemon::Rep::OpenListenerSockets(std::vector<int>* auth_fds,
                                             std::vector<int>* admin_fds) {
  constexpr int kAuthBacklog = 4096;
  constexpr int kAdminBacklog = 128;
  // Unix socket files: any local process may ask the auth listener about a token, as it may
  // connect to a loopback port; the admin listener is the daemon user's and its group's.
  constexpr unsigned kAuthSocketMode = 0666;
  constexpr unsigned kAdminSocketMode = 0660;
  net::SocketAddress auth_addr, admin_addr;
  std::string err;
  if (!net::ParseSocketAddress(config.auth_listen, &auth_addr, &err) ||
      !net::OpenListeners(auth_addr, static_cast<int>(config.io_threads), kAuthBacklog, auth_fds,
                          &auth_bound, &err, kAuthSocketMode)) {
    return {kExitSystem, "auth.listen " + config.auth_listen + ": " + err};
  }
  auth_file = net::StatUnixSocketFile(auth_bound);
  if (!net::ParseSocketAddress(config.admin_listen, &admin_addr, &err) ||
      !net::OpenListeners(admin_addr, 1, kAdminBacklog, admin_fds, &admin_bound, &err,
                          kAdminSocketMode)) {
    for (int fd : *auth_fds) ::close(fd);
    net::RemoveUnixSocketFile(auth_file);
    return {kExitSystem, "admin.listen " + config.admin_listen + ": " + err};
  }
  admin_file = net::StatUnixSocketFile(admin_bound);
  return {};
}

// Each I/O thread creates its ring on its own thread (single issuer).
CheckResult Daemon::Rep::StartIoThreads() {
  for (auto& t : io) {
    std::future<std::string> result = t->init.get_future();
    IoThread* raw = t.get();
    t->thread = std::thread([raw] {
      std::string e;
      if (!raw->server->Init(&e)) {
        raw->done.store(true, std::memory_order_release);
        raw->init.set_value(e.empty() ? "init failed" : e);
        return;
      }
      raw->handler->Attach(raw->server.get());
      raw->init.set_value("");
      raw->server->Run();
      raw->done.store(true, std::memory_order_release);
    });
    const std::string e = result.get();
    if (!e.empty()) return {kExitSystem, "auth listener: " + e};
  }
  return {};
}

CheckResult Daemon::Rep::StartAdmin() {
  std::string err;
  if (!admin->Init(&err)) return {kExitSystem, "admin listener: " + err};
  admin->WatchFd(signal_fd, [this] { OnSignals(); });
  if (store) {
    revoke_outcomes->fd = base::OpenEventFd();
    if (revoke_outcomes->fd < 0) {
      return {kExitSystem, std::string("eventfd: ") + std::strerror(errno)};
    }
    admin->WatchFd(revoke_outcomes->fd, [this] { OnRevokeOutcomes(); });
  }
  return {};
}

void Daemon::Rep::BeginShutdown(const char* why) {
  if (draining) {
    force_stop = true;
    Log(LogLevel::kWarning, "{} again: dropping the remaining connections", why);
    for (auto& t : io) t->server->Stop();
    admin->Stop();
    return;
  }
  draining = true;
  ready.store(false, std::memory_order_release);
  Notify("STOPPING=1\nSTATUS=draining");
  Log(LogLevel::kInfo, "{}: draining (up to {} ms)", why, config.drain_timeout_ms);
  for (auto& t : io) t->server->BeginDrain();
  admin->BeginDrain();
}

void Daemon::Rep::OnSignals() {
  signalfd_siginfo si;
  while (::read(signal_fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    switch (si.ssi_signo) {
      case SIGHUP: {
        std::string message;
        Reload(&message);
        break;
      }
      case SIGTERM:
        BeginShutdown("SIGTERM");
        break;
      case SIGINT:
        BeginShutdown("SIGINT");
        break;
      default:
        break;
    }
  }
}

void Daemon::Rep::Shutdown() {
  // Requests waiting for a refetch are answered now, and no new one waits.
  StopSources();
  if (!draining) {
    draining = true;
    ready.store(false, std::memory_order_release);
    for (auto& t : io) t->server->BeginDrain();
  }
  // Wait for the I/O threads to answer what they accepted, up to the drain timeout; a second
  // signal cuts it short.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(config.drain_timeout_ms);
  for (;;) {
    bool all_done = true;
    for (auto& t : io) {
      all_done = all_done && (!t->thread.joinable() || t->done.load(std::memory_order_acquire));
    }
    if (all_done || force_stop) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      Log(LogLevel::kWarning, "drain timeout: dropping the remaining connections");
      break;
    }
    signalfd_siginfo si;
    if (signal_fd >= 0 && ::read(signal_fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si) &&
        (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)) {
      Log(LogLevel::kWarning, "signal {} again: dropping the remaining connections", si.ssi_signo);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& t : io) t->server->Stop();
  for (auto& t : io) {
    if (t->thread.joinable()) t->thread.join();
  }
  // Tokens still in the pipeline point into the servers' buffers: drain it before they go.
  if (pipeline) pipeline->Shutdown();
  // Revocations in its queue are answered (not acknowledged); its journal keeps the outbox.
  auth.replicator.store(nullptr, std::memory_order_release);
  replicator.reset();
  net::RemoveUnixSocketFile(auth_file);
  net::RemoveUnixSocketFile(admin_file);
  Log(LogLevel::kInfo, "stopped");
}

bool Daemon::Rep::Ready(std::string* detail) {
  bool r = ready.load(std::memory_order_acquire);
  std::string issuers;
  std::shared_ptr<const std::map<std::string, std::shared_ptr<RemoteKeys>>> rs;
  {
    base::MutexLock lock(&routes_mu);
    rs = routes;
  }
  // Not ready until every issuer has keys (from its server or the cache directory): a node
  // that would answer unknown_kid to every token of an issuer must not get traffic. One line
  // per issuer: those whose keys come from a file first.
  {
    base::MutexLock lock(&keys_mu);
    for (const auto& [issuer, set] : issuer_keys) {
      if (rs && rs->count(issuer) != 0) continue;
      const size_t n = set ? set->size() : 0;
      r = r && n > 0;
      issuers += std::string(n > 0 ? "[+]" : "[-]") + "keys of " +
                 (issuer.empty() ? std::string("the key file") : issuer) + ": " +
                 std::to_string(n) + " (jwks_file)\n";
    }
  }
  if (rs) {
    base::MutexLock lock(&keys_mu);
    for (const auto& [issuer, src] : *rs) {
      // The keys the verifier in force holds for the issuer (a fetched set counts once the
      // trust has been rebuilt with it).
      const auto it = issuer_keys.find(issuer);
      const size_t n = it == issuer_keys.end() || !it->second ? 0 : it->second->size();
      const RemoteKeys::Stats st = src->stats();
      r = r && n > 0;
      issuers += std::string(n > 0 ? "[+]" : "[-]") + "keys of " + issuer + ": " +
                 (n > 0 ? std::to_string(n) + (st.stale        ? " (stale: failing closed)"
                                               : st.from_cache ? " (from the cache dir)"
                                                               : "")
                        : std::string("none yet")) +
                 "\n";
    }
  }
  if (replicator) {
    // Not ready before this node has caught up with the fleet's revocations, nor while it
    // fails closed (cut off past revocation.replication.max_disconnected_seconds).
    const replicate::Replicator::Stats st = replicator->stats();
    const bool ok = st.ready && !st.stale;
    r = r && ok;
    issuers += std::string(ok ? "[+]" : "[-]") + "replication: " +
               (!st.ready       ? "initial sync"
                : st.stale      ? "cut off past max_disconnected_seconds (failing closed)"
                : !st.connected ? "synced, reconnecting (serving what it has)"
                                : "synced") +
               "\n";
  }
  *detail = std::string(ready.load(std::memory_order_acquire) ? "[+]" : "[-]") + "serving\n" +
            "[+]keys: " + std::to_string(keys.load(std::memory_order_relaxed)) + "\n" + issuers +
            (last_reload_ok ? "[+]" : "[-]") + "last reload\n" +
            (draining ? "[-]draining\n" : "[+]not draining\n") + (r ? "ok\n" : "not ready\n");
  return r;
}

bool Daemon::Rep::Reload(std::string* message) {
  NotifyReloading();
  auto fail = [&](const std::string& why) {
    *message = why;
    last_reload_ok = false;
    ++reloads_failed;
    Log(LogLevel::kError, "reload failed, keeping the running configuration: {}", why);
    Notify("READY=1\nSTATUS=reload failed: " + why);
    return false;
  };
  if (config_path.empty()) return fail("no configuration file (started without --config)");
  Config next;
  std::string err;
  if (!LoadConfigFile(config_path, &next, &err)) return fail(err);
  ApplyOverrides(overrides, &next);
  if (!ValidateConfig(next, &err)) return fail(err);
  const std::string restart_only = RestartOnlyChanges(config, next);
  // What a reload applies: trust (issuers, keys, claims policy) and the admin token.
  Config merged = config;
  merged.issuers = next.issuers;
  merged.audiences = next.audiences;
  merged.algorithms = next.algorithms;
  merged.leeway_s = next.leeway_s;
  merged.require_exp = next.require_exp;
  merged.max_lifetime_s = next.max_lifetime_s;
  merged.typ = next.typ;
  merged.required_claims = next.required_claims;
  merged.max_token_bytes = next.max_token_bytes;
  merged.admin_token_file = next.admin_token_file;
  merged.revocation_jti_retention_s = next.revocation_jti_retention_s;
  merged.admin_protect_metrics = next.admin_protect_metrics;
  if (!ValidateConfig(merged, &err)) return fail(err);
  std::string token;
  std::vector<std::string> warnings;
  if (CheckResult r = ReadAdminToken(merged.admin_token_file, &token, &warnings); !r.ok()) {
    return fail(r.error);
  }
  for (const std::string& w : warnings) Log(LogLevel::kWarning, "reload: {}", w);

  Trust trust;
  std::vector<Source> made, retired;
  {
    base::MutexLock lock(&trust_mu);
    // Sources whose configuration did not change are kept, with their keys and schedule.
    if (!MakeSources(merged, &made, &err)) return fail(err);
    if (!BuildTrust(merged, store.get(), &trust, &err, Snapshots(made))) return fail(err);
    SwapTrust(trust);
    for (Source& old : sources) {
      bool kept = false;
      for (const Source& n : made) kept = kept || (old.keys && n.keys == old.keys);
      if (old.keys && !kept) retired.push_back(std::move(old));
    }
    sources = made;
    SetIssuerKeys(trust, merged.issuers.size());
    config = std::move(merged);
    for (Source& src : sources) {
      if (src.keys) src.keys->Start();
    }
    PublishRoutes(sources);
  }
  // Outside trust_mu: a retired source's thread may be waiting for it.
  retired.clear();
  ClearCacheAfterSwap();
  admin_token = std::move(token);
  keys.store(trust.keys, std::memory_order_relaxed);
  trust_summary = trust.summary;
  last_reload_ok = true;
  last_reload_success = WallSeconds();
  ++reloads_ok;
  *message = "reloaded: " + trust.summary;
  // Log rotation: the file the decision log writes to may have been moved away.
  if (decision_log && !decision_log->Reopen(&err)) {
    *message += "; the decision log keeps its old file: " + err;
    Log(LogLevel::kWarning, "reload: the decision log keeps its old file: {}", err);
  }
  if (!restart_only.empty()) {
    *message += "; changes to " + restart_only + " need a restart and were not applied";
    Log(LogLevel::kWarning, "reload: changes to {} need a restart and were not applied",
        restart_only);
  }
  Log(LogLevel::kInfo, "{}", *message);
  Notify("READY=1\nSTATUS=serving: " + trust.summary);
  return true;
}

int64_t Daemon::Rep::JtiKeepUntil(int64_t now) const {
  int64_t retention = 0;  // for ever
  if (config.revocation_jti_retention_s) {
    retention = *config.revocation_jti_retention_s;
  } else if (config.max_lifetime_s > 0) {
    // A token valid now has exp <= iat + max_lifetime <= now + leeway + max_lifetime.
    retention = config.max_lifetime_s + config.leeway_s;
  }
  int64_t until = 0;
  if (retention == 0 || __builtin_add_overflow(now, retention, &until)) {
    return RevocationStore::kNoExp;
  }
  return until;
}

void Daemon::Rep::Revoke(const RevokeRequest& r, RevokeDone done) {
  RevokeReply reply;
  reply.jti = r.kind == RevokeRequest::Kind::kJti;
  if (!store) {
    reply.status = Status::kInternalError;
    reply.message = kRevocationNotConfigured;
    done(reply);
    return;
  }
  // The precise clock: time() reads the coarse one, which may still be in the previous second
  // a few ms after it ended (the reply's kept_until would then be a second early).
  const int64_t now = static_cast<int64_t>(WallSeconds());
  Revocation rev;
  if (reply.jti) {
    if (r.has_value && r.value < now - config.leeway_s) {
      // A token with this exp is rejected as expired: revoking it would change nothing, and
      // an operator who typed the wrong exp must not be told the token is revoked.
      reply.status = Status::kExpired;
      reply.message = "exp " + std::to_string(r.value) + " has passed (now " + std::to_string(now) +
                      "); omit exp to revoke the jti whatever its exp";
      done(reply);
      return;
    }
    reply.kept_until = r.has_value ? r.value : JtiKeepUntil(now);
    rev = Revocation::Jti(r.id, r.iss, reply.kept_until);
  } else {
    rev = Revocation::Subject(r.id, r.value, r.iss);
  }
  std::shared_ptr<RevokeOutcomes> outcomes = revoke_outcomes;
  if (replicator) {
    // Journal, store, stream (replicate/replicator.h); the outcome comes on the publisher
    // thread and is handed to the admin thread.
    reply.replication = true;
    replicator->Revoke(rev, [outcomes, reply, done](Status s, bool replicated) {
      {
        base::MutexLock l(&outcomes->mu);
        outcomes->ready.push_back({reply, done});
        outcomes->ready.back().reply.status = s;
        outcomes->ready.back().reply.replicated = replicated;
      }
      base::SignalEventFd(outcomes->fd);
    });
    return;
  }
  // The commit thread calls this once the revocation is durable (or the store failed): hand
  // the outcome to the admin thread.
  auto on_durable = [outcomes, reply, done](Status s) {
    {
      base::MutexLock l(&outcomes->mu);
      outcomes->ready.push_back({reply, done});
      outcomes->ready.back().reply.status = s;
    }
    base::SignalEventFd(outcomes->fd);
  };
  reply.status = store->RevokeAsync({&rev, 1}, std::move(on_durable));
  if (reply.status == Status::kOk) return;  // answered by OnRevokeOutcomes
  CountRevocation(&reply);
  done(reply);
}

void Daemon::Rep::CountRevocation(RevokeReply* reply) {
  if (reply->status == Status::kOk) {
    ++(reply->jti ? revoked_jti : revoked_subject);
    return;
  }
  ++revoke_failures;
  if (reply->status == Status::kInternalError) {
    reply->message = store->last_error();
    if (reply->message.empty()) reply->message = "revocation store failure";
  }
  Log(LogLevel::kError, "revoke failed: {}{}{}", ToString(reply->status),
      reply->message.empty() ? "" : ": ", reply->message);
}

void Daemon::Rep::OnRevokeOutcomes() {
  // Drained before taking the queue: a later push signals again.
  base::DrainEventFd(revoke_outcomes->fd);
  std::vector<RevokeOutcomes::Outcome> outcomes;
  {
    base::MutexLock l(&revoke_outcomes->mu);
    outcomes.swap(revoke_outcomes->ready);
  }
  for (RevokeOutcomes::Outcome& o : outcomes) {
    CountRevocation(&o.reply);
    o.done(o.reply);
  }
}

namespace {

// A metric family with one sample without labels.
struct Scalar {
  const char* name;
  const char* type;  // gauge or counter
  const char* help;
  std::variant<uint64_t, double> value;
};

void EmitScalars(MetricsText& m, std::initializer_list<Scalar> scalars) {
  for (const Scalar& s : scalars) {
    m.Family(s.name, s.type, s.help);
    std::visit([&m, &s](auto v) { m.Sample(s.name, {}, v); }, s.value);
  }
}

// The per-listener counters of net::ServerStats, one family each. The type follows from the
// name, as Prometheus names them: a counter ends in _total, anything else is a gauge.
struct ListenerCounter {
  const char* name;
  const char* help;
  std::atomic<uint64_t> net::ServerStats::*field;

  const char* type() const {
    return std::string_view(name).ends_with("_total") ? "counter" : "gauge";
  }
};

constexpr ListenerCounter kListenerCounters[] = {
    {"jwtgate_connections_active", "Open client connections.",
     &net::ServerStats::connections_active},
    {"jwtgate_connections_accepted_total", "Client connections accepted.",
     &net::ServerStats::connections_accepted},
    {"jwtgate_connections_rejected_total",
     "Connections closed at once because the connection limit was reached.",
     &net::ServerStats::connections_rejected},
    {"jwtgate_connections_evicted_total",
     "Idle or slow connections closed to make room for a new one at the connection limit.",
     &net::ServerStats::connections_evicted},
    {"jwtgate_http_requests_total", "HTTP requests parsed.", &net::ServerStats::requests},
    {"jwtgate_recv_buffers_exhausted_total",
     "Receives that found every provided buffer in use (the connection waits for one).",
     &net::ServerStats::recv_buffers_exhausted},
};

}  // namespace

std::string Daemon::Rep::RenderMetrics() {
  MetricsText m;
  m.Family("jwtgate_build_info", "gauge", "Build information; the value is always 1.");
  m.Sample("jwtgate_build_info", {{"version", JWTGATE_VERSION_STRING}}, uint64_t{1});
  RenderAuthMetrics(m);
  RenderEngineMetrics(m);
  RenderListenerMetrics(m);
  const ProcessStats p = ReadProcessStats();
  EmitScalars(
      m, {
             {"process_cpu_seconds_total", "counter",
              "Total user and system CPU time spent in seconds.", p.cpu_seconds},
             {"process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
              p.resident_bytes},
             {"process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
              p.virtual_bytes},
             {"process_open_fds", "gauge", "Number of open file descriptors.", p.open_fds},
             {"process_max_fds", "gauge", "Maximum number of open file descriptors.", p.max_fds},
             {"process_start_time_seconds", "gauge",
              "Start time of the process since unix epoch in seconds.", start_time},
         });
  return m.text();
}

// Auth requests by decision and reason, the verdict latency, tokens in flight.
void Daemon::Rep::RenderAuthMetrics(MetricsText& m) {
  m.Family("jwtgate_auth_requests_total", "counter",
           "Auth requests answered, by decision (allow, deny, error) and reason (a stable status "
           "name).");
  for (size_t r = 0; r < kReasonCount; ++r) {
    uint64_t total = 0;
    for (auto& t : io) total += t->handler->counters().Read(r);
    // Always show the main outcomes; others once they happened (bounded set either way).
    if (total == 0 && r != ReasonOf(Status::kOk) && r != kReasonMissing &&
        r != ReasonOf(Status::kSignatureInvalid) && r != ReasonOf(Status::kExpired) &&
        r != ReasonOf(Status::kRevoked) && r != ReasonOf(Status::kOverloaded)) {
      continue;
    }
    m.Sample("jwtgate_auth_requests_total",
             {{"decision", DecisionOf(r)}, {"reason", ReasonName(r)}}, total);
  }
  LatencyHistogram::Snapshot h;
  for (auto& t : io) h.Add(t->handler->latency().Read());
  m.Histogram("jwtgate_verify_duration_seconds",
              "Time from a request's token to its verdict: a cache hit, an inline check on the "
              "I/O thread, or queueing and verification in the pipeline.",
              h);
  uint64_t in_flight = 0;
  for (auto& t : io) in_flight += t->handler->in_flight();
  EmitScalars(m, {{"jwtgate_verify_in_flight", "gauge",
                   "Tokens submitted for verification and not yet answered.", in_flight}});
  if (decision_log) {
    EmitScalars(m, {{"jwtgate_decision_log_lines_total", "counter",
                     "Decisions written to the decision log.", decision_log->lines()}});
    m.Family("jwtgate_decision_log_dropped_total", "counter",
             "Decisions not written: over decision_log.max_denies_per_second (deny_rate), or "
             "lost to a failed write (write_error). Sampled-out allows are not counted.");
    m.Sample("jwtgate_decision_log_dropped_total", {{"why", "deny_rate"}},
             decision_log->dropped_rate());
    m.Sample("jwtgate_decision_log_dropped_total", {{"why", "write_error"}},
             decision_log->dropped_write());
  }
}

// The pipeline, the cache, the revocation state, keys and configuration.
void Daemon::Rep::RenderEngineMetrics(MetricsText& m) {
  const Pipeline::Stats ps = pipeline->stats();
  const VerifiedTokenCache::Stats cs = cache ? cache->stats() : VerifiedTokenCache::Stats{};
  EmitScalars(
      m, {
             {"jwtgate_pipeline_queue_depth", "gauge", "Tokens waiting in the pipeline's queue.",
              uint64_t{ps.queue_depth}},
             {"jwtgate_pipeline_workers", "gauge", "Verification worker threads.",
              uint64_t{ps.workers}},
             {"jwtgate_pipeline_batches_total", "counter", "Batches verified by the workers.",
              ps.batches},
             {"jwtgate_pipeline_completed_total", "counter",
              "Tokens the pipeline gave a verdict for.", ps.completed},
             {"jwtgate_pipeline_deduplicated_total", "counter",
              "Tokens answered by an identical token verified in the same batch.", ps.deduplicated},
             {"jwtgate_overload_rejections_total", "counter",
              "Tokens refused with 503 because the pipeline or a completion queue was full.",
              ps.overloaded},
             {"jwtgate_cache_hits_total", "counter", "Verified-token cache hits.", cs.hits},
             {"jwtgate_cache_misses_total", "counter", "Verified-token cache misses.", cs.misses},
             {"jwtgate_cache_evictions_total", "counter", "Verified-token cache evictions.",
              cs.evictions},
             {"jwtgate_cache_entries", "gauge", "Entries in the verified-token cache.",
              uint64_t{cs.entries}},
             {"jwtgate_cache_capacity_entries", "gauge", "Capacity of the verified-token cache.",
              uint64_t{cs.capacity}},
         });
  if (store) {
    const RevocationStats rs = store->Stats();
    EmitScalars(
        m,
        {
            {"jwtgate_revocation_jti_entries", "gauge", "Live jti revocations.",
             rs.jti_revocations},
            {"jwtgate_revocation_subject_watermarks", "gauge", "Live subject watermarks.",
             rs.subject_watermarks},
            {"jwtgate_revocation_filter_bytes", "gauge", "Memory of the jti Bloom filters.",
             rs.filter_bytes},
            {"jwtgate_revocation_exact_bytes", "gauge", "Memory of the exact jti tables.",
             rs.exact_bytes},
            {"jwtgate_revocation_filter_fill_ratio", "gauge", "Fraction of filter bits set.",
             rs.filter_fill},
            {"jwtgate_revocation_filter_false_positive_ratio", "gauge",
             "Modelled false-positive rate of the filters at their current load.", rs.expected_fpr},
            {"jwtgate_revocation_log_bytes", "gauge",
             "Size of the revocation log being appended to.", rs.log_bytes},
            {"jwtgate_revocation_syncs_total", "counter",
             "fdatasync calls of the revocation log since start (revocations share them).",
             rs.syncs},
        });
  }
  m.Family("jwtgate_revocations_total", "counter",
           "Revocations acknowledged by the admin API, by kind.");
  m.Sample("jwtgate_revocations_total", {{"kind", "jti"}}, revoked_jti);
  m.Sample("jwtgate_revocations_total", {{"kind", "subject"}}, revoked_subject);
  EmitScalars(m,
              {
                  {"jwtgate_revocation_failures_total", "counter",
                   "Revocations the store could not make durable.", revoke_failures},
                  {"jwtgate_keys", "gauge", "Verification keys loaded.",
                   uint64_t{keys.load(std::memory_order_relaxed)}},
                  {"jwtgate_config_last_reload_successful", "gauge",
                   "Whether the last configuration reload succeeded (1) or kept the old one (0).",
                   uint64_t{last_reload_ok ? 1u : 0u}},
                  {"jwtgate_config_last_reload_success_timestamp_seconds", "gauge",
                   "When the configuration was last loaded successfully.", last_reload_success},
              });
  m.Family("jwtgate_config_reloads_total", "counter", "Configuration reloads, by result.");
  m.Sample("jwtgate_config_reloads_total", {{"result", "success"}}, reloads_ok);
  m.Sample("jwtgate_config_reloads_total", {{"result", "failure"}}, reloads_failed);
  EmitScalars(m, {{"jwtgate_ready", "gauge", "1 while serving and not draining.",
                   uint64_t{ready.load() ? 1u : 0u}}});
  RenderKeySourceMetrics(m);
  RenderReplicationMetrics(m);
}

namespace {

// Gauges and counters of a remote issuer's key source, one family each.
struct KeySourceMetric {
  const char* name;
  const char* type;
  const char* help;
  double (*value)(const RemoteKeys::Stats& s, double now);
};

constexpr KeySourceMetric kKeySourceMetrics[] = {
    {"jwtgate_jwks_keys", "gauge", "Keys held for the issuer.",
     [](const RemoteKeys::Stats& s, double) { return static_cast<double>(s.keys); }},
    {"jwtgate_jwks_age_seconds", "gauge",
     "Seconds since a fetch last confirmed the issuer's keys (or since the cached set was).",
     [](const RemoteKeys::Stats& s, double now) {
       return s.confirmed_at == 0 ? 0.0 : now - static_cast<double>(s.confirmed_at);
     }},
    {"jwtgate_jwks_stale", "gauge",
     "1 when no fetch has succeeded for max_stale_seconds: the issuer's tokens are refused.",
     [](const RemoteKeys::Stats& s, double) { return s.stale ? 1.0 : 0.0; }},
    {"jwtgate_jwks_from_cache", "gauge",
     "1 when the keys held came from key_cache_dir and no fetch has confirmed them since.",
     [](const RemoteKeys::Stats& s, double) { return s.from_cache ? 1.0 : 0.0; }},
    {"jwtgate_jwks_unknown_kid_refetches_total", "counter",
     "Fetches started because a token named a kid the issuer's keys lack.",
     [](const RemoteKeys::Stats& s, double) {
       return static_cast<double>(s.unknown_kid_refetches);
     }},
    {"jwtgate_jwks_cooldown_rejections_total", "counter",
     "Tokens with an unknown kid refused at once during the refetch cooldown.",
     [](const RemoteKeys::Stats& s, double) { return static_cast<double>(s.cooldown_rejections); }},
};

}  // namespace

// Revocation replication (revocation.replication), one family each.
void Daemon::Rep::RenderReplicationMetrics(MetricsText& m) {
  if (!replicator) return;
  const replicate::Replicator::Stats st = replicator->stats();
  EmitScalars(
      m,
      {
          {"jwtgate_replication_connected", "gauge", "1 while Redis answers.",
           uint64_t{st.connected ? 1u : 0u}},
          {"jwtgate_replication_ready", "gauge",
           "1 once this node has caught up with the stream after starting.",
           uint64_t{st.ready ? 1u : 0u}},
          {"jwtgate_replication_stale", "gauge",
           "1 while cut off from Redis for longer than max_disconnected_seconds with "
           "on_disconnected: fail_closed (tokens get 503).",
           uint64_t{st.stale ? 1u : 0u}},
          {"jwtgate_replication_lag_seconds", "gauge",
           "Seconds since this node last saw the head of the stream (0 while caught up).",
           st.lag_seconds},
          {"jwtgate_replication_entries_behind", "gauge",
           "Stream entries not yet applied (0 when caught up; an upper bound otherwise).",
           st.entries_behind},
          {"jwtgate_replication_applied_total", "counter",
           "Revocations of other nodes applied from the stream or a snapshot.", st.applied},
          {"jwtgate_replication_published_total", "counter",
           "Revocations of this node appended to the stream.", st.published},
          {"jwtgate_replication_outbox_entries", "gauge",
           "Revocations of this node in effect here and not yet in the stream.", st.outbox},
          {"jwtgate_replication_skipped_total", "counter",
           "Malformed stream entries or snapshots skipped.", st.skipped},
          {"jwtgate_replication_resyncs_total", "counter",
           "Snapshot loads (a new node, or one whose cursor the stream no longer holds).",
           st.resyncs},
          {"jwtgate_replication_reseeds_total", "counter",
           "Re-seeds of Redis from this node's revocations after Redis lost its data.", st.reseeds},
          {"jwtgate_replication_snapshots_written_total", "counter",
           "Snapshots this node wrote (and trimmed the stream to).", st.snapshots_written},
          {"jwtgate_replication_disconnects_total", "counter", "Connections to Redis lost.",
           st.disconnects},
      });
}

// Per remote issuer: fetches by outcome, key-set age, keys held, refetches and refusals.
void Daemon::Rep::RenderKeySourceMetrics(MetricsText& m) {
  std::shared_ptr<const std::map<std::string, std::shared_ptr<RemoteKeys>>> rs;
  {
    base::MutexLock lock(&routes_mu);
    rs = routes;
  }
  if (!rs || rs->empty()) return;
  std::vector<std::pair<std::string, RemoteKeys::Stats>> stats;
  for (const auto& [issuer, src] : *rs) stats.emplace_back(issuer, src->stats());
  m.Family("jwtgate_jwks_fetches_total", "counter",
           "Fetches of the issuer's keys (discovery included), by outcome.");
  for (const auto& [issuer, st] : stats) {
    for (size_t o = 0; o < kFetchOutcomeCount; ++o) {
      m.Sample("jwtgate_jwks_fetches_total",
               {{"issuer", issuer}, {"outcome", ToString(static_cast<FetchOutcome>(o))}},
               st.fetches[o]);
    }
  }
  const double now = WallSeconds();
  for (const KeySourceMetric& k : kKeySourceMetrics) {
    m.Family(k.name, k.type, k.help);
    for (const auto& [issuer, st] : stats) m.Sample(k.name, {{"issuer", issuer}}, k.value(st, now));
  }
}

// The auth listeners (summed over the I/O threads) and the admin listener.
void Daemon::Rep::RenderListenerMetrics(MetricsText& m) {
  struct Listener {
    const char* name;
    std::vector<const net::ServerStats*> stats;
  };
  Listener listeners[2] = {{"auth", {}}, {"admin", {&admin->stats()}}};
  for (auto& t : io) listeners[0].stats.push_back(&t->server->stats());
  for (const ListenerCounter& c : kListenerCounters) {
    m.Family(c.name, c.type(), c.help);
    for (const Listener& l : listeners) {
      uint64_t v = 0;
      for (const net::ServerStats* s : l.stats) v += (s->*c.field).load(std::memory_order_relaxed);
      m.Sample(c.name, {{"listener", l.name}}, v);
    }
  }
  m.Family("jwtgate_http_timeouts_total", "counter",
           "Connections closed by a timeout: a request head too slow to arrive (header) or idle "
           "keep-alive (idle).");
  for (const Listener& l : listeners) {
    uint64_t header = 0, idle = 0;
    for (const net::ServerStats* s : l.stats) {
      header += s->header_timeouts.load(std::memory_order_relaxed);
      idle += s->idle_timeouts.load(std::memory_order_relaxed);
    }
    m.Sample("jwtgate_http_timeouts_total", {{"listener", l.name}, {"kind", "header"}}, header);
    m.Sample("jwtgate_http_timeouts_total", {{"listener", l.name}, {"kind", "idle"}}, idle);
  }
  m.Family("jwtgate_http_request_errors_total", "counter",
           "Requests refused before routing (malformed or over a limit), by kind.");
  for (const Listener& l : listeners) {
    for (int e = 1; e < net::kHttpErrorCount; ++e) {
      uint64_t v = 0;
      for (const net::ServerStats* s : l.stats) {
        v += s->http_errors[e].load(std::memory_order_relaxed);
      }
      m.Sample(
          "jwtgate_http_request_errors_total",
          {{"listener", l.name}, {"error", net::HttpErrorName(static_cast<net::HttpError>(e))}}, v);
    }
  }
}

Daemon::Daemon(Config config, ConfigOverrides overrides, std::string config_path)
    : rep_(std::make_unique<Rep>()) {
  rep_->config = std::move(config);
  rep_->overrides = std::move(overrides);
  rep_->config_path = std::move(config_path);
}

Daemon::~Daemon() = default;

namespace {

// What Run's signalfd takes: SIGHUP (reload), SIGTERM and SIGINT (shut down).
sigset_t DaemonSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void Daemon::BlockSignals() {
  const sigset_t set = DaemonSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int Daemon::Run() {
  const sigset_t set = DaemonSignals();
  rep_->signal_fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (rep_->signal_fd < 0) {
    Log(LogLevel::kError, "signalfd: {}", std::strerror(errno));
    return kExitSystem;
  }
  return rep_->Start();
}

}  // namespace jwtgate::daemon
