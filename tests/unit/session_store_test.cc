// Session stores (core/store): SqliteStore, RedisStore and PostgresStore against real engines.
//
// SQLite is embedded. For Redis and PostgreSQL the test starts private servers itself, in a
// temporary directory, never the system services: redis-server on a Unix socket, PostgreSQL
// (initdb + pg_ctl, run as the `postgres` user when the test runs as root) on a Unix socket with
// no TCP listener. Waits are bounded (30 s to start); the servers are stopped and the directory
// removed when a test case ends. The binaries come with scripts/setup (redis-server,
// postgresql); a missing one is a failure, not a skip.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/postgres_store.h"
#include "store/redis_store.h"
#include "store/sqlite_store.h"
#include "temp_dir.h"

extern char** environ;

namespace jwtgate::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A private temporary directory, removed at scope exit.
// A server running as another user must reach its subdirectory: 0755.
struct TempDir : test::TempDir {
  TempDir() : test::TempDir("jwtgate-store-test", 0755) {}
};

// Three sessions with binary ids (NUL and 0xff bytes included) and JSON values.
struct Fixture {
  std::vector<std::string> ids = {std::string("\x00\x01\x02id-one", 9), std::string(32, '\xff'),
                                  std::string("plain-id")};
  std::vector<std::string> values = {R"({"uid":1})", R"({"uid":2,"roles":["admin"]})",
                                     std::string(300, 'v')};
  std::vector<SessionRecord> Records() const {
    std::vector<SessionRecord> r;
    for (size_t i = 0; i < ids.size(); ++i) r.push_back({ids[i], values[i]});
    return r;
  }
};

// Runs argv (absolute path or PATH lookup) and returns its exit status; -1 when it could not
// start.
// Its standard output is discarded (initdb and pg_ctl are chatty); errors stay visible.
int Run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

pid_t Spawn(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  return pid;
}

bool Executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string p = path != nullptr ? path : "/usr/bin:/bin";
  for (size_t begin = 0; begin <= p.size();) {
    const size_t end = std::min(p.find(':', begin), p.size());
    const std::string candidate = p.substr(begin, end - begin) + "/" + name;
    if (Executable(candidate)) return candidate;
    begin = end + 1;
  }
  return {};
}

// "setpriv --reuid=U --regid=U --init-groups --" when root, so that a server does not run as
// root (PostgreSQL refuses to).
std::vector<std::string> AsUser(const std::string& user) {
  if (geteuid() != 0) return {};
  return {"setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups", "--"};
}

void ChownTo(const std::string& path, const std::string& user) {
  if (geteuid() != 0) return;
  const passwd* pw = getpwnam(user.c_str());
  REQUIRE(pw != nullptr);
  REQUIRE(chown(path.c_str(), pw->pw_uid, pw->pw_gid) == 0);
}

class PrivateRedis {
 public:
  explicit PrivateRedis(const std::string& dir) : socket_(dir + "/redis.sock") {
    signal(SIGPIPE, SIG_IGN);  // RedisStore's documented requirement
    const std::string exe = FindInPath("redis-server");
    INFO("redis-server is not installed (scripts/setup installs it)");
    REQUIRE(!exe.empty());
    std::vector<std::string> argv;
    if (geteuid() == 0 && getpwnam("redis") != nullptr) {
      argv = AsUser("redis");
      ChownTo(dir, "redis");
    }
    for (const std::string& a :
         {exe, std::string("--port"), std::string("0"), std::string("--unixsocket"), socket_,
          std::string("--unixsocketperm"), std::string("777"), std::string("--save"),
          std::string(""), std::string("--appendonly"), std::string("no"), std::string("--dir"),
          dir, std::string("--logfile"), dir + "/redis.log"}) {
      argv.push_back(a);
    }
    pid_ = Spawn(argv);
    REQUIRE(pid_ > 0);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      RedisOptions o;
      o.unix_socket = socket_;
      std::unique_ptr<RedisStore> probe;
      if (RedisStore::Connect(o, &probe) == StoreStatus::kOk) return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL("redis-server did not start within 30 s");
  }
  ~PrivateRedis() { Stop(); }
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  RedisOptions Options(const std::string& prefix) const {
    RedisOptions o;
    o.unix_socket = socket_;
    o.key_prefix = prefix;
    o.timeout_ms = 2000;
    return o;
  }
  pid_t pid() const { return pid_; }

 private:
  std::string socket_;
  pid_t pid_ = -1;
};

std::string PostgresBin() {
  std::string best;
  int best_version = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string name = e.path().filename().string();
    const int v = std::atoi(name.c_str());
    if (v > best_version && Executable(e.path().string() + "/bin/pg_ctl")) {
      best_version = v;
      best = e.path().string() + "/bin";
    }
  }
  return best;
}

class PrivatePostgres {
 public:
  explicit PrivatePostgres(const std::string& dir) : dir_(dir), data_(dir + "/data") {
    bin_ = PostgresBin();
    INFO("PostgreSQL is not installed (scripts/setup installs it)");
    REQUIRE(!bin_.empty());
    if (geteuid() == 0) ChownTo(dir_, "postgres");
    std::vector<std::string> init = AsUser("postgres");
    for (const std::string& a :
         {bin_ + "/initdb", std::string("-D"), data_, std::string("-U"), std::string("postgres"),
          std::string("-A"), std::string("trust"), std::string("--no-sync"), std::string("-E"),
          std::string("UTF8"), std::string("--locale=C")}) {
      init.push_back(a);
    }
    init.push_back("--no-instructions");
    REQUIRE(Run(init) == 0);
    std::vector<std::string> start = AsUser("postgres");
    for (const std::string& a :
         {bin_ + "/pg_ctl", std::string("-D"), data_, std::string("-l"), dir_ + "/pg.log",
          std::string("-w"), std::string("-t"), std::string("30"), std::string("-o"),
          "-c listen_addresses='' -c unix_socket_directories='" + dir_ +
              "' -c fsync=off -c shared_buffers=16MB -c max_connections=20",
          std::string("start")}) {
      start.push_back(a);
    }
    started_ = Run(start) == 0;
    INFO("pg_ctl start failed; see " << dir_ << "/pg.log");
    REQUIRE(started_);
  }
  ~PrivatePostgres() {
    if (!started_) return;
    std::vector<std::string> stop = AsUser("postgres");
    for (const std::string& a :
         {bin_ + "/pg_ctl", std::string("-D"), data_, std::string("-m"), std::string("immediate"),
          std::string("-w"), std::string("stop")}) {
      stop.push_back(a);
    }
    Run(stop);
  }
  std::string conninfo() const {
    return "host=" + dir_ + " port=5432 dbname=postgres user=postgres connect_timeout=10";
  }

 private:
  std::string dir_, data_, bin_;
  bool started_ = false;
};

// --------------------------------------------------------------------------------------------
// SQLite

TEST_CASE("sqlite: load, then Get finds every session and only those", "[session_store]") {
  TempDir tmp;
  Fixture f;
  SqliteOptions o;
  o.path = tmp.path() + "/sessions.db";
  std::string error;
  REQUIRE(SqliteStore::CreateAndLoad(o, f.Records(), &error) == StoreStatus::kOk);
  std::unique_ptr<SqliteStore> s;
  REQUIRE(SqliteStore::Open(o, &s, &error) == StoreStatus::kOk);
  CHECK(s->backend() == "sqlite");
  CHECK(s->server_pid() == 0);
  int64_t rows = 0;
  REQUIRE(s->WarmConnection(&rows) == StoreStatus::kOk);
  CHECK(rows == static_cast<int64_t>(f.ids.size()));
  std::string value;
  for (size_t i = 0; i < f.ids.size(); ++i) {
    REQUIRE(s->Get(f.ids[i], &value) == StoreStatus::kOk);
    CHECK(value == f.values[i]);
  }
  value = "stale";
  CHECK(s->Get("no-such-id", &value) == StoreStatus::kNotFound);
  CHECK(value.empty());
  // A prefix of a stored id is another id.
  CHECK(s->Get(std::string_view(f.ids[0]).substr(0, 3), &value) == StoreStatus::kNotFound);
}

TEST_CASE("sqlite: GetBatch answers each id in place", "[session_store]") {
  TempDir tmp;
  Fixture f;
  SqliteOptions o;
  o.path = tmp.path() + "/sessions.db";
  REQUIRE(SqliteStore::CreateAndLoad(o, f.Records()) == StoreStatus::kOk);
  std::unique_ptr<SqliteStore> s;
  REQUIRE(SqliteStore::Open(o, &s) == StoreStatus::kOk);
  const std::array<std::string_view, 4> ids = {f.ids[2], "missing", f.ids[0], f.ids[1]};
  std::array<std::string, 4> values;
  std::array<StoreStatus, 4> st{};
  s->GetBatch(ids, values, st);
  CHECK(st[0] == StoreStatus::kOk);
  CHECK(values[0] == f.values[2]);
  CHECK(st[1] == StoreStatus::kNotFound);
  CHECK(st[2] == StoreStatus::kOk);
  CHECK(values[2] == f.values[0]);
  CHECK(st[3] == StoreStatus::kOk);
  CHECK(values[3] == f.values[1]);
}

TEST_CASE("sqlite: one connection per thread reads concurrently in WAL mode", "[session_store]") {
  TempDir tmp;
  SqliteOptions o;
  o.path = tmp.path() + "/sessions.db";
  std::vector<std::string> ids, values;
  for (int i = 0; i < 2000; ++i) {
    ids.push_back("id-" + std::to_string(i));
    values.push_back("{\"uid\":" + std::to_string(i) + "}");
  }
  std::vector<SessionRecord> records;
  for (size_t i = 0; i < ids.size(); ++i) records.push_back({ids[i], values[i]});
  REQUIRE(SqliteStore::CreateAndLoad(o, records) == StoreStatus::kOk);
  std::array<int, 4> mismatches{};
  std::array<std::string, 4> open_errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::unique_ptr<SqliteStore> s;
      // All four open at once: the busy timeout lets them wait out each other's WAL set-up.
      if (SqliteStore::Open(o, &s, &open_errors[static_cast<size_t>(t)]) != StoreStatus::kOk) {
        mismatches[static_cast<size_t>(t)] = -1;
        return;
      }
      std::string v;
      for (size_t i = static_cast<size_t>(t); i < ids.size(); i += 3) {
        if (s->Get(ids[i], &v) != StoreStatus::kOk || v != values[i]) {
          ++mismatches[static_cast<size_t>(t)];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  std::string errors;
  for (const std::string& e : open_errors) errors += e.empty() ? "" : e + "; ";
  INFO("open errors: " << errors);
  CHECK(mismatches == std::array<int, 4>{});
}

TEST_CASE("sqlite: errors name their cause", "[session_store]") {
  TempDir tmp;
  std::string error;
  std::unique_ptr<SqliteStore> s;
  SqliteOptions missing;
  missing.path = tmp.path() + "/no/such/dir/x.db";
  CHECK(SqliteStore::Open(missing, &s, &error) == StoreStatus::kConnectFailed);
  CHECK(error.find("x.db") != std::string::npos);

  SqliteOptions no_table;
  no_table.path = tmp.path() + "/empty.db";
  SqliteOptions other = no_table;
  other.table = "other";
  REQUIRE(SqliteStore::CreateAndLoad(other, {}) == StoreStatus::kOk);
  CHECK(SqliteStore::Open(no_table, &s, &error) == StoreStatus::kServerError);
  CHECK(error.find("sessions") != std::string::npos);

  SqliteOptions bad = no_table;
  bad.table = "sessions; DROP TABLE other";
  CHECK(SqliteStore::Open(bad, &s, &error) == StoreStatus::kInvalidArgument);
  CHECK(SqliteStore::CreateAndLoad(bad, {}, &error) == StoreStatus::kInvalidArgument);
}

// --------------------------------------------------------------------------------------------
// Redis

TEST_CASE("redis: connecting to nothing fails with a reason", "[session_store][redis]") {
  TempDir tmp;
  RedisOptions o;
  o.unix_socket = tmp.path() + "/absent.sock";
  std::unique_ptr<RedisStore> r;
  std::string error;
  CHECK(RedisStore::Connect(o, &r, &error) == StoreStatus::kConnectFailed);
  CHECK(error.find("absent.sock") != std::string::npos);
  CHECK(r == nullptr);
}

TEST_CASE("redis: GET, EXISTS and their pipelined forms against a private server",
          "[session_store][redis]") {
  TempDir tmp;
  PrivateRedis server(tmp.path());
  Fixture f;
  std::unique_ptr<RedisStore> r;
  std::string error;
  REQUIRE(RedisStore::Connect(server.Options("sess:"), &r, &error) == StoreStatus::kOk);
  CHECK(r->server_pid() == server.pid());
  REQUIRE(r->SetMany(f.Records(), 0, 2) == StoreStatus::kOk);  // MSET chunks of 2: 2 + 1

  std::string value;
  for (size_t i = 0; i < f.ids.size(); ++i) {
    REQUIRE(r->Get(f.ids[i], &value) == StoreStatus::kOk);
    CHECK(value == f.values[i]);
    CHECK(r->Exists(f.ids[i]) == StoreStatus::kOk);
  }
  CHECK(r->Get("missing", &value) == StoreStatus::kNotFound);
  CHECK(value.empty());
  CHECK(r->Exists("missing") == StoreStatus::kNotFound);

  const std::array<std::string_view, 4> ids = {f.ids[1], "missing", f.ids[2], f.ids[0]};
  std::array<std::string, 4> values;
  std::array<StoreStatus, 4> st{};
  r->GetBatch(ids, values, st);
  CHECK(st == std::array<StoreStatus, 4>{StoreStatus::kOk, StoreStatus::kNotFound, StoreStatus::kOk,
                                         StoreStatus::kOk});
  CHECK(values[0] == f.values[1]);
  CHECK(values[2] == f.values[2]);
  CHECK(values[3] == f.values[0]);
  std::array<StoreStatus, 4> ex{};
  r->ExistsBatch(ids, ex);
  CHECK(ex == st);

  // The prefix is the keyspace: the same ids under another prefix do not exist.
  std::unique_ptr<RedisStore> other;
  REQUIRE(RedisStore::Connect(server.Options("deny:"), &other) == StoreStatus::kOk);
  CHECK(other->Get(f.ids[0], &value) == StoreStatus::kNotFound);
  // ... and the key really is prefix + id, byte for byte.
  std::unique_ptr<RedisStore> raw;
  REQUIRE(RedisStore::Connect(server.Options(""), &raw) == StoreStatus::kOk);
  CHECK(raw->Get("sess:" + f.ids[0], &value) == StoreStatus::kOk);
  CHECK(value == f.values[0]);
}

TEST_CASE("redis: SET with a TTL expires keys", "[session_store][redis]") {
  TempDir tmp;
  PrivateRedis server(tmp.path());
  std::unique_ptr<RedisStore> r;
  REQUIRE(RedisStore::Connect(server.Options("deny:"), &r) == StoreStatus::kOk);
  const std::array<SessionRecord, 3> rec = {
      SessionRecord{"jti-1", "1"}, SessionRecord{"jti-2", "1"}, SessionRecord{"jti-3", "1"}};
  REQUIRE(r->SetMany(rec, 100, 2) == StoreStatus::kOk);  // pipelined SET EX, chunks of 2
  CHECK(r->Exists("jti-3") == StoreStatus::kOk);
  std::string ttl;
  std::unique_ptr<RedisStore> raw;
  REQUIRE(RedisStore::Connect(server.Options(""), &raw) == StoreStatus::kOk);
  const std::array<std::string_view, 2> argv = {"TTL", "deny:jti-1"};
  REQUIRE(raw->Command(argv, &ttl) == StoreStatus::kOk);
  CHECK(std::stoi(ttl) > 90);
  CHECK(std::stoi(ttl) <= 100);
}

TEST_CASE("redis: server errors and a lost server are reported, not hidden",
          "[session_store][redis]") {
  TempDir tmp;
  PrivateRedis server(tmp.path());
  std::unique_ptr<RedisStore> r;
  REQUIRE(RedisStore::Connect(server.Options(""), &r) == StoreStatus::kOk);
  std::string reply;
  const std::array<std::string_view, 3> push = {"LPUSH", "a-list", "x"};
  REQUIRE(r->Command(push, &reply) == StoreStatus::kOk);
  CHECK(reply == "1");
  // GET of a list: -WRONGTYPE.
  CHECK(r->Get("a-list", &reply) == StoreStatus::kServerError);
  CHECK(r->last_error().find("WRONGTYPE") != std::string::npos);
  const std::array<std::string_view, 1> bogus = {"NO-SUCH-COMMAND"};
  CHECK(r->Command(bogus, &reply) == StoreStatus::kServerError);
  // The connection survives server errors.
  CHECK(r->Get("absent", &reply) == StoreStatus::kNotFound);
  const std::array<std::string_view, 1> none = {};
  CHECK(r->Command(std::span<const std::string_view>(none.data(), 0), &reply) ==
        StoreStatus::kInvalidArgument);

  server.Stop();
  CHECK(r->Get("absent", &reply) == StoreStatus::kIoError);
  CHECK(!r->last_error().empty());
  // Unusable afterwards, batch forms included.
  const std::array<std::string_view, 2> ids = {"a", "b"};
  std::array<std::string, 2> values;
  std::array<StoreStatus, 2> st{};
  r->GetBatch(ids, values, st);
  CHECK(st == std::array<StoreStatus, 2>{StoreStatus::kIoError, StoreStatus::kIoError});
}

// --------------------------------------------------------------------------------------------
// PostgreSQL

TEST_CASE("postgresql: connecting to nothing fails with a reason", "[session_store][postgresql]") {
  TempDir tmp;
  PostgresOptions o{.conninfo = "host=" + tmp.path() +
                                " port=5432 dbname=postgres "
                                "user=postgres connect_timeout=2"};
  std::unique_ptr<PostgresStore> p;
  std::string error;
  CHECK(PostgresStore::Connect(o, &p, &error) == StoreStatus::kConnectFailed);
  CHECK(error.find(tmp.path()) != std::string::npos);
  o.table = "Robert'); DROP TABLE students;--";
  CHECK(PostgresStore::Connect(o, &p, &error) == StoreStatus::kInvalidArgument);
}

TEST_CASE("postgresql: COPY load, prepared Get and pipelined GetBatch against a private server",
          "[session_store][postgresql]") {
  TempDir tmp;
  PrivatePostgres server(tmp.path());
  Fixture f;
  PostgresOptions o{.conninfo = server.conninfo()};
  std::string error;
  std::unique_ptr<PostgresStore> p;
  // No table yet: the statement cannot be prepared.
  CHECK(PostgresStore::Connect(o, &p, &error) == StoreStatus::kServerError);
  CHECK(error.find("sessions") != std::string::npos);

  REQUIRE(PostgresStore::CreateAndLoad(o, f.Records(), &error) == StoreStatus::kOk);
  REQUIRE(PostgresStore::Connect(o, &p, &error) == StoreStatus::kOk);
  int64_t pages = 0;
  REQUIRE(PostgresStore::Prewarm(o, &pages, &error) == StoreStatus::kOk);
  CHECK(pages >= 2);  // at least one heap page and one index page
  int64_t rows = 0;
  REQUIRE(p->WarmConnection(&rows) == StoreStatus::kOk);
  CHECK(rows == static_cast<int64_t>(f.ids.size()));
  CHECK(p->backend() == "postgresql");
  CHECK(p->server_pid() > 0);
  CHECK(!p->server_version().empty());

  std::string value;
  for (size_t i = 0; i < f.ids.size(); ++i) {
    REQUIRE(p->Get(f.ids[i], &value) == StoreStatus::kOk);
    CHECK(value == f.values[i]);
  }
  CHECK(p->Get("missing", &value) == StoreStatus::kNotFound);
  CHECK(value.empty());

  // Twice: the connection leaves pipeline mode cleanly after a batch.
  for (int round = 0; round < 2; ++round) {
    const std::array<std::string_view, 5> ids = {f.ids[2], "missing", f.ids[0], f.ids[1], f.ids[2]};
    std::array<std::string, 5> values;
    std::array<StoreStatus, 5> st{};
    p->GetBatch(ids, values, st);
    CHECK(st == std::array<StoreStatus, 5>{StoreStatus::kOk, StoreStatus::kNotFound,
                                           StoreStatus::kOk, StoreStatus::kOk, StoreStatus::kOk});
    CHECK(values[0] == f.values[2]);
    CHECK(values[2] == f.values[0]);
    CHECK(values[3] == f.values[1]);
    CHECK(values[4] == f.values[2]);
  }
  REQUIRE(p->Get(f.ids[1], &value) == StoreStatus::kOk);
  CHECK(value == f.values[1]);

  // Reloading replaces the table.
  const std::array<SessionRecord, 1> one = {SessionRecord{"only", "{}"}};
  REQUIRE(PostgresStore::CreateAndLoad(o, one, &error) == StoreStatus::kOk);
  std::unique_ptr<PostgresStore> q;
  REQUIRE(PostgresStore::Connect(o, &q, &error) == StoreStatus::kOk);
  CHECK(q->Get("only", &value) == StoreStatus::kOk);
  CHECK(q->Get(f.ids[0], &value) == StoreStatus::kNotFound);

  // A backend that goes away: kIoError, and the store stays unusable.
  const int victim = q->server_pid();
  REQUIRE(kill(victim, SIGTERM) == 0);
  StoreStatus s = StoreStatus::kOk;
  for (int i = 0; i < 50 && s != StoreStatus::kIoError; ++i) {
    s = q->Get("only", &value);
    std::this_thread::sleep_for(20ms);
  }
  CHECK(s == StoreStatus::kIoError);
  CHECK(!q->last_error().empty());
}

}  // namespace
}  // namespace jwtgate::store
