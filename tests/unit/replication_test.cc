// Revocation replication (core/replicate/): the stream entry and snapshot codec, the node's
// journal (outbox, torn tail, compaction), and two Replicators sharing revocations through a
// real redis-server (Debian's, started here on a loopback port). The fleet through jwtgated is
// tested in tests/integration/fleet_revocation_test.py.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "jwtgate/revocation.h"
#include "replicate/entry.h"
#include "replicate/journal.h"
#include "replicate/redis_client.h"
#include "replicate/replicator.h"
#include "loopback.h"
#include "temp_dir.h"

namespace jwtgate::replicate {
namespace {

using jwtgate::test::TempDir;
using namespace std::chrono_literals;

FieldViews Views(const Fields& f) { return FieldViews(f.begin(), f.end()); }

Entry SampleJti(std::string id, int64_t keep_until = RevocationStore::kNoExp) {
  return Entry{Revocation::Kind::kJti, std::move(id), "https://i.example", keep_until, "node-a", 3};
}

}  // namespace

TEST_CASE("Stream entries round-trip and malformed ones are refused with a reason",
          "[replication]") {
  const Entry jti = SampleJti("j1");
  Entry back;
  REQUIRE(ParseEntry(Views(EncodeEntry(jti)), &back) == EntryError::kOk);
  CHECK(back == jti);
  const Entry sub{Revocation::Kind::kSubject, "alice", "", 1700000000, "b", 0};
  REQUIRE(ParseEntry(Views(EncodeEntry(sub)), &back) == EntryError::kOk);
  CHECK(back == sub);

  struct Row {
    const char* what;
    FieldViews fields;
    EntryError error;
  };
  const Fields good = EncodeEntry(jti);
  auto with = [&](std::string_view name, std::string_view value) {
    FieldViews f = Views(good);
    for (auto& [n, v] : f) {
      if (n == name) v = value;
    }
    return f;
  };
  FieldViews missing = Views(good);
  missing.pop_back();
  FieldViews duplicate = Views(good);
  duplicate.emplace_back("q", "9");
  FieldViews many(kMaxFields + 1, {"x", "y"});
  const std::string long_id(kMaxIdBytes + 1, 'a');
  const std::string huge(kMaxFieldBytes + 1, 'a');
  const Row rows[] = {
      {"a field missing", missing, EntryError::kMissingField},
      {"a field twice", duplicate, EntryError::kDuplicateField},
      {"too many fields", many, EntryError::kTooManyFields},
      {"version 2", with("v", "2"), EntryError::kBadVersion},
      {"unknown kind", with("k", "nope"), EntryError::kBadKind},
      {"keep-until not a number", with("t", "12x"), EntryError::kBadNumber},
      {"negative time", with("t", "-5"), EntryError::kBadNumber},
      // A subject watermark with t "forever" (the jti's keep-until): a watermark is a time.
      {"a watermark for ever", with("k", "sub"), EntryError::kBadNumber},
      {"seq not a number", with("q", "-1"), EntryError::kBadNumber},
      {"empty jti", with("id", ""), EntryError::kBadId},
      {"jti over the cap", with("id", long_id), EntryError::kFieldTooLong},
      {"a value over the field cap", with("iss", huge), EntryError::kFieldTooLong},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    Entry e;
    CHECK(ParseEntry(r.fields, &e) == r.error);
  }
}

TEST_CASE("Snapshots round-trip any bytes in ids and refuse what does not add up",
          "[replication]") {
  std::vector<Entry> in = {SampleJti(std::string("a b\nc:d\0e", 9), 1800000000),
                           {Revocation::Kind::kSubject, "bob", "https://i.example", 1700000000, "", 0},
                           {Revocation::Kind::kIssuer, "https://old.example", "", 1600000000, "", 0},
                           {Revocation::Kind::kAll, "", "", 1500000000, "", 0}};
  std::string text = SnapshotHeader("1700000000000-7", in.size());
  for (Entry& e : in) {
    e.node.clear();
    e.seq = 0;
    AppendSnapshotLine(e, &text);
  }
  std::vector<Entry> out;
  std::string covers;
  REQUIRE(ParseSnapshot(text, &covers, [&](const Entry& e) { out.push_back(e); }) ==
          EntryError::kOk);
  CHECK(covers == "1700000000000-7");
  CHECK(out == in);

  const char* bad[] = {
      "",
      "jwtgate-snapshot 2 1-0 0\n",
      "jwtgate-snapshot 1 notanid 0\n",
      "jwtgate-snapshot 1 1-0 1\n",                                   // count says 1, none follow
      "jwtgate-snapshot 1 1-0 1\njti forever 3:abc 2:j1",             // no final newline
      "jwtgate-snapshot 1 1-0 1\njti forever 9:abc 2:j1\n",           // length past the end
      "jwtgate-snapshot 1 1-0 1\nsub forever 0: 3:bob\n",             // a watermark for ever
      "jwtgate-snapshot 1 1-0 1\njti 5 0: 0:\n",                      // an empty jti
  };
  for (const char* b : bad) {
    INFO(b);
    CHECK(ParseSnapshot(b, &covers, [](const Entry&) {}) == EntryError::kBadSnapshot);
  }
  StreamId a, b2;
  REQUIRE(StreamId::Parse("1700000000000-2", &a));
  REQUIRE(StreamId::Parse("1700000000000-10", &b2));
  CHECK(a < b2);
  CHECK(b2.ToString() == "1700000000000-10");
  CHECK_FALSE(StreamId::Parse("17-", &a));
  CHECK_FALSE(StreamId::Parse("abc", &a));
}

TEST_CASE("The journal keeps the outbox across a restart, drops a torn tail and compacts",
          "[replication]") {
  TempDir dir;
  const std::string path = dir.path() + "/replication.journal";
  const int64_t now = 1'700'000'000;
  std::string error;
  {
    Journal::State s;
    auto j = Journal::Open(path, now, 60, &s, &error);
    REQUIRE(j != nullptr);
    CHECK(s.outbox.empty());
    CHECK(s.next_seq == 1);
    Entry a = SampleJti("a");
    a.seq = 1;
    Entry b = SampleJti("b", now - 3600);  // expired: not live
    b.seq = 2;
    j->AppendOwn(a);
    j->AppendOwn(b);
    j->AppendPublished(2);
    j->AppendApplied(Entry{Revocation::Kind::kSubject, "carol", "", now, "node-b", 5});
    j->AppendCursor("1700000000000-1", "epoch-1");
    REQUIRE(j->Flush(true, &error));
  }
  // A torn write after the last record.
  {
    std::ofstream(path, std::ios::app | std::ios::binary) << std::string("\x20\x00\x00\x00xx", 6);
  }
  {
    Journal::State s;
    auto j = Journal::Open(path, now, 60, &s, &error);
    REQUIRE(j != nullptr);
    CHECK(s.torn_tail_bytes == 6);
    REQUIRE(s.outbox.size() == 1);  // b was published
    CHECK(s.outbox[0].id == "a");
    CHECK(s.next_seq == 3);
    CHECK(s.cursor == "1700000000000-1");
    CHECK(s.epoch == "epoch-1");
    CHECK(s.live_entries == 2);  // a and carol; b has expired
    std::vector<std::string> live;
    REQUIRE(j->ForEachLive(now, [&](const Entry& e) { live.push_back(e.id); }, &error));
    CHECK(live == std::vector<std::string>{"a", "carol"});
    // Compaction keeps the outbox, the live entries and the cursor, nothing else.
    const uint64_t before = j->bytes();
    REQUIRE(j->Compact(now, &error));
    CHECK(j->bytes() < before);
  }
  Journal::State s;
  auto j = Journal::Open(path, now, 60, &s, &error);
  REQUIRE(j != nullptr);
  REQUIRE(s.outbox.size() == 1);
  CHECK(s.outbox[0].id == "a");
  CHECK(s.cursor == "1700000000000-1");
  CHECK(s.live_entries == 3);  // a (compacted as applied and as outbox) and carol
}

namespace {

// Debian's redis-server on a free loopback port, without persistence, for one test.
class RedisServer {
 public:
  // port 0: a free one. `password`: requirepass.
  explicit RedisServer(const std::string& dir, int port = 0, const std::string& password = "") {
    REQUIRE(::access("/usr/bin/redis-server", X_OK) == 0);  // package redis-server
    port_ = port != 0 ? port : FreePort();
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const std::string port_text = std::to_string(port_);
      const std::string log = dir + "/redis.log";
      std::vector<const char*> argv = {"redis-server", "--port", port_text.c_str(), "--bind",
                                       "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                                       dir.c_str(), "--logfile", log.c_str()};
      if (!password.empty()) {
        argv.push_back("--requirepass");
        argv.push_back(password.c_str());
      }
      argv.push_back(nullptr);
      ::execv("/usr/bin/redis-server", const_cast<char* const*>(argv.data()));
      ::_exit(127);
    }
    std::string error;
    for (int i = 0; i < 200; ++i) {
      RedisClient c(RedisOptions{address(), "", password, 200ms, 1000ms});
      if (c.Connect(&error)) return;
      std::this_thread::sleep_for(25ms);
    }
    Stop();  // the destructor does not run for a constructor that fails
    FAIL("redis-server did not start: " << error);
  }
  ~RedisServer() { Stop(); }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

  static int FreePort() { return jwtgate::test::FreeLoopbackPort(); }

 private:
  int port_ = 0;
  pid_t pid_ = -1;
};

struct Node {
  std::unique_ptr<RevocationStore> store;
  std::unique_ptr<Replicator> replicator;
};

Node MakeNode(const TempDir& dir, const std::string& name, const std::string& redis,
              size_t snapshot_every = 10000, const std::string& password = "") {
  RevocationOptions ro;
  ro.dir = dir.path() + "/" + name;
  ro.create_if_missing = true;
  ::mkdir(ro.dir.c_str(), 0700);
  std::string error;
  auto store = RevocationStore::Open(ro, &error);
  REQUIRE(store.ok());
  Node n;
  n.store = std::move(store).value();
  ReplicationOptions o;
  o.redis.address = redis;
  o.redis.password = password;
  o.node_id = name;
  o.journal_path = ro.dir + "/replication.journal";
  o.snapshot_every = snapshot_every;
  o.snapshot_min_age = std::chrono::seconds(0);  // snapshots at once, for the test
  n.replicator = Replicator::Open(std::move(o), n.store.get(), &error);
  REQUIRE(n.replicator != nullptr);
  n.replicator->Start();
  return n;
}

// Revokes on `node` and waits for the answer: (status, replicated).
std::pair<Status, bool> RevokeOn(Node& node, const Revocation& r) {
  std::promise<std::pair<Status, bool>> p;
  auto f = p.get_future();
  node.replicator->Revoke(r, [&p](Status s, bool replicated) { p.set_value({s, replicated}); });
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  return f.get();
}

bool JtiRevoked(const RevocationStore& store, std::string_view jti) {
  Claims c;
  c.iss = "https://i.example";
  c.jti = jti;
  c.sub = "u";
  return store.IsRevoked(c);
}

template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds within = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

}  // namespace

TEST_CASE("Two replicators share revocations through a real Redis, and a late one resyncs",
          "[replication][concurrency]") {
  TempDir dir;
  RedisServer redis(dir.path());
  Node a = MakeNode(dir, "node-a", redis.address(), /*snapshot_every=*/10);
  Node b = MakeNode(dir, "node-b", redis.address(), 10);
  REQUIRE(Eventually([&] { return a.replicator->ready() && b.replicator->ready(); }));

  const auto [s, replicated] = RevokeOn(a, Revocation::Jti("j0", "https://i.example",
                                                           RevocationStore::kNoExp));
  CHECK(s == Status::kOk);
  CHECK(replicated);
  CHECK(JtiRevoked(*a.store, "j0"));  // in effect on A when answered
  CHECK(Eventually([&] { return JtiRevoked(*b.store, "j0"); }));

  // 30 more, so that snapshots are written and the stream trimmed; then a third node that
  // starts afterwards has to load the snapshot to know the first ones.
  std::vector<std::string> ids;
  for (int i = 1; i <= 30; ++i) {
    ids.push_back("j" + std::to_string(i));
    const auto [st, rep] = RevokeOn(b, Revocation::Jti(ids.back(), "https://i.example",
                                                       RevocationStore::kNoExp));
    REQUIRE(st == Status::kOk);
    REQUIRE(rep);
  }
  CHECK(Eventually([&] { return a.replicator->stats().applied >= 30; }));
  CHECK(Eventually([&] {
    return a.replicator->stats().snapshots_written + b.replicator->stats().snapshots_written > 0;
  }));
  Node c = MakeNode(dir, "node-c", redis.address(), 10);
  REQUIRE(Eventually([&] { return c.replicator->ready(); }));
  CHECK(c.replicator->stats().resyncs >= 1);
  CHECK(JtiRevoked(*c.store, "j0"));
  for (const std::string& id : ids) {
    INFO(id);
    CHECK(JtiRevoked(*c.store, id));
  }
  CHECK_FALSE(JtiRevoked(*c.store, "never-revoked"));
  // Nothing was taken from a node's own entries twice, nothing malformed was seen.
  CHECK(a.replicator->stats().skipped == 0);
  CHECK(a.replicator->stats().outbox == 0);
}

TEST_CASE("Without Redis a revocation is in effect locally, kept, and published later",
          "[replication]") {
  TempDir dir;
  const int port = RedisServer::FreePort();  // nothing listens there yet
  const std::string address = "127.0.0.1:" + std::to_string(port);
  Node a = MakeNode(dir, "node-a", address);
  const auto [s, replicated] =
      RevokeOn(a, Revocation::Jti("offline", "https://i.example", RevocationStore::kNoExp));
  CHECK(s == Status::kOk);
  CHECK_FALSE(replicated);
  CHECK(JtiRevoked(*a.store, "offline"));
  CHECK(a.replicator->stats().outbox == 1);
  CHECK_FALSE(a.replicator->ready());  // no initial sync yet

  // Redis comes up: the outbox is sent, and a node that joins then has it.
  RedisServer redis(dir.path(), port);
  CHECK(Eventually([&] { return a.replicator->stats().outbox == 0; }, 10000ms));
  CHECK(a.replicator->stats().published == 1);
  Node b = MakeNode(dir, "node-b", address);
  REQUIRE(Eventually([&] { return b.replicator->ready(); }));
  CHECK(Eventually([&] { return JtiRevoked(*b.store, "offline"); }));
}

TEST_CASE("AUTH: a wrong password is refused, and named without echoing it", "[replication]") {
  TempDir dir;
  RedisServer redis(dir.path(), 0, "s3cret-pass");
  std::string error;
  RedisClient wrong(RedisOptions{redis.address(), "", "not-it", 500ms, 1000ms});
  CHECK_FALSE(wrong.Connect(&error));
  CHECK_THAT(error, Catch::Matchers::Contains("AUTH refused"));
  CHECK_THAT(error, !Catch::Matchers::Contains("not-it"));
  RedisClient none(RedisOptions{redis.address(), "", "", 500ms, 1000ms});
  REQUIRE(none.Connect(&error));  // connects; commands are refused (NOAUTH)
  RedisClient::Reply r = none.Command({"XLEN", "jwtgate:stream"}, &error);
  REQUIRE(r != nullptr);
  CHECK(r->type == REDIS_REPLY_ERROR);

  Node a = MakeNode(dir, "node-a", redis.address(), 10000, "s3cret-pass");
  Node b = MakeNode(dir, "node-b", redis.address(), 10000, "s3cret-pass");
  REQUIRE(Eventually([&] { return a.replicator->ready() && b.replicator->ready(); }));
  const auto [s, replicated] =
      RevokeOn(a, Revocation::Jti("authed", "https://i.example", RevocationStore::kNoExp));
  CHECK(s == Status::kOk);
  CHECK(replicated);
  CHECK(Eventually([&] { return JtiRevoked(*b.store, "authed"); }));
}

}  // namespace jwtgate::replicate
