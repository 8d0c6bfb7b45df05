#include "store/redis_store.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <array>
#include <charconv>
#include <cstring>
#include <utility>
#include <vector>

#include "base/c_handle.h"

namespace jwtgate::store {
namespace {

using ReplyPtr = base::CHandle<redisReply, freeReplyObject>;

timeval Timeval(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

constexpr std::string_view kGetUnexpected = "redis GET: unexpected reply type";

int ParseProcessId(std::string_view info) {
  constexpr std::string_view kField = "process_id:";
  const size_t at = info.find(kField);
  if (at == std::string_view::npos) return 0;
  int pid = 0;
  const char* begin = info.data() + at + kField.size();
  std::from_chars(begin, info.data() + info.size(), pid);
  return pid;
}

}  // namespace

StoreStatus RedisStore::Connect(const RedisOptions& options, std::unique_ptr<RedisStore>* out,
                                std::string* error) {
  const timeval tv = Timeval(options.timeout_ms);
  std::unique_ptr<redisContext, FreeContext> ctx(
      options.unix_socket.empty() ? redisConnectWithTimeout(options.host.c_str(), options.port, tv)
                                  : redisConnectUnixWithTimeout(options.unix_socket.c_str(), tv));
  auto where = options.unix_socket.empty() ? options.host + ":" + std::to_string(options.port)
                                           : "unix:" + options.unix_socket;
  if (ctx == nullptr || ctx->err != 0) {
    if (error != nullptr) {
      *error = "redis " + where + ": " + (ctx != nullptr ? ctx->errstr : "out of memory");
    }
    return StoreStatus::kConnectFailed;
  }
  if (redisSetTimeout(ctx.get(), tv) != REDIS_OK) {
    if (error != nullptr) *error = "redis " + where + ": cannot set the timeout";
    return StoreStatus::kConnectFailed;
  }
  std::unique_ptr<RedisStore> store(new RedisStore(ctx.release(), options));
  std::array<std::string_view, 2> argv = {"INFO", "server"};
  std::string info;
  if (store->Command(argv, &info) != StoreStatus::kOk) {
    if (error != nullptr) *error = "redis " + where + ": INFO: " + store->last_error();
    return StoreStatus::kConnectFailed;
  }
  store->set_server_pid(ParseProcessId(info));  // INFO server: process_id
  *out = std::move(store);
  return StoreStatus::kOk;
}

RedisStore::RedisStore(redisContext* ctx, RedisOptions options)
    : SessionStore("redis"), ctx_(ctx), options_(std::move(options)) {
  key_buf_.reserve(options_.key_prefix.size() + 64);
}

void RedisStore::FreeContext::operator()(redisContext* ctx) const noexcept { redisFree(ctx); }

StoreStatus RedisStore::Fail(StoreStatus s, std::string_view what) noexcept {
  if (s != StoreStatus::kIoError) return SetError(s, what);
  broken_ = true;
  return SetError(s, what, ctx_->err != 0 ? std::string_view(ctx_->errstr) : std::string_view());
}

bool RedisStore::AppendKeyed(std::string_view cmd, std::string_view key, std::string_view arg1,
                             std::string_view arg2, std::string_view arg3) noexcept {
  key_buf_.assign(options_.key_prefix);
  key_buf_.append(key);
  std::array<const char*, 5> argv = {cmd.data(), key_buf_.data(), arg1.data(), arg2.data(),
                                     arg3.data()};
  std::array<size_t, 5> lens = {cmd.size(), key_buf_.size(), arg1.size(), arg2.size(), arg3.size()};
  int argc = 2;
  if (arg1.data() != nullptr) argc = 3;
  if (arg2.data() != nullptr) argc = 4;
  if (arg3.data() != nullptr) argc = 5;
  return redisAppendCommandArgv(ctx_.get(), argc, argv.data(), lens.data()) == REDIS_OK;
}

namespace {

// Reads the next reply. nullptr: I/O error (ctx->errstr says why).
ReplyPtr NextReply(redisContext* ctx) noexcept {
  void* raw = nullptr;
  if (redisGetReply(ctx, &raw) != REDIS_OK) return nullptr;
  return ReplyPtr(static_cast<redisReply*>(raw));
}

}  // namespace

size_t RedisStore::AppendEach(std::string_view cmd, std::span<const std::string_view> keys,
                              std::string_view append_error) noexcept {
  if (broken_) return 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!AppendKeyed(cmd, keys[i])) {
      (void)Fail(StoreStatus::kIoError, append_error);
      return i;
    }
  }
  return keys.size();
}

StoreStatus RedisStore::ReadValueReply(std::string* value, ValueReply accept,
                                       std::string_view io_error,
                                       std::string_view unexpected) noexcept {
  ReplyPtr r = NextReply(ctx_.get());
  if (r == nullptr) return Fail(StoreStatus::kIoError, io_error);
  const bool scalar = accept == ValueReply::kScalar;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      value->assign(r->str, r->len);
      return StoreStatus::kOk;
    case REDIS_REPLY_STATUS:
      if (!scalar) break;
      value->assign(r->str, r->len);
      return StoreStatus::kOk;
    case REDIS_REPLY_INTEGER:
      if (!scalar) break;
      value->assign(std::to_string(r->integer));
      return StoreStatus::kOk;
    case REDIS_REPLY_NIL:
      return StoreStatus::kNotFound;
    case REDIS_REPLY_ERROR:
      return Fail(StoreStatus::kServerError, std::string_view(r->str, r->len));
    default:
      break;
  }
  return Fail(StoreStatus::kProtocolError, unexpected);
}

StoreStatus RedisStore::ReadExistsReply(std::string_view io_error) noexcept {
  ReplyPtr r = NextReply(ctx_.get());
  if (r == nullptr) return Fail(StoreStatus::kIoError, io_error);
  if (r->type == REDIS_REPLY_INTEGER) {
    return r->integer > 0 ? StoreStatus::kOk : StoreStatus::kNotFound;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    return Fail(StoreStatus::kServerError, std::string_view(r->str, r->len));
  }
  return Fail(StoreStatus::kProtocolError, "redis EXISTS: unexpected reply type");
}

StoreStatus RedisStore::Get(std::string_view id, std::string* value) noexcept {
  value->clear();
  if (broken_) return StoreStatus::kIoError;
  if (!AppendKeyed("GET", id)) return Fail(StoreStatus::kIoError, "redis GET: append");
  return ReadValueReply(value, ValueReply::kString, "redis GET", kGetUnexpected);
}

void RedisStore::GetBatch(std::span<const std::string_view> ids, std::span<std::string> values,
                          std::span<StoreStatus> statuses) noexcept {
  const size_t appended = AppendEach("GET", ids, "redis GET: append");
  for (size_t i = 0; i < ids.size(); ++i) {
    values[i].clear();
    statuses[i] = broken_ || i >= appended
                      ? StoreStatus::kIoError
                      : ReadValueReply(&values[i], ValueReply::kString, "redis GET (pipelined)",
                                       kGetUnexpected);
  }
}

StoreStatus RedisStore::Exists(std::string_view key) noexcept {
  if (broken_) return StoreStatus::kIoError;
  if (!AppendKeyed("EXISTS", key)) return Fail(StoreStatus::kIoError, "redis EXISTS: append");
  return ReadExistsReply("redis EXISTS");
}

void RedisStore::ExistsBatch(std::span<const std::string_view> keys,
                             std::span<StoreStatus> statuses) noexcept {
  const size_t appended = AppendEach("EXISTS", keys, "redis EXISTS: append");
  for (size_t i = 0; i < keys.size(); ++i) {
    statuses[i] = broken_ || i >= appended ? StoreStatus::kIoError
                                           : ReadExistsReply("redis EXISTS (pipelined)");
  }
}

bool RedisStore::ReadWriteReply(std::string_view io_error, StoreStatus* first) noexcept {
  ReplyPtr r = NextReply(ctx_.get());
  if (r == nullptr) {
    (void)Fail(StoreStatus::kIoError, io_error);
    return false;
  }
  if (r->type == REDIS_REPLY_ERROR && *first == StoreStatus::kOk) {
    *first = Fail(StoreStatus::kServerError, std::string_view(r->str, r->len));
  }
  return true;
}

StoreStatus RedisStore::SetMany(std::span<const SessionRecord> records, int64_t ttl_s,
                                size_t chunk) noexcept {
  if (broken_) return StoreStatus::kIoError;
  if (chunk == 0) chunk = 1;
  StoreStatus first = StoreStatus::kOk;
  if (ttl_s <= 0) {
    // One MSET per chunk: a single command to parse and one reply per chunk, several times
    // faster to load than pipelined SETs.
    std::vector<std::string> keys(std::min(chunk, records.size()));
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (size_t begin = 0; begin < records.size(); begin += chunk) {
      const size_t end = std::min(records.size(), begin + chunk);
      argv.assign(1, "MSET");
      lens.assign(1, 4);
      for (size_t i = begin; i < end; ++i) {
        std::string& k = keys[i - begin];
        k.assign(options_.key_prefix);
        k.append(records[i].id);
        argv.push_back(k.data());
        lens.push_back(k.size());
        argv.push_back(records[i].value.data());
        lens.push_back(records[i].value.size());
      }
      if (redisAppendCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(),
                                 lens.data()) != REDIS_OK) {
        return Fail(StoreStatus::kIoError, "redis MSET: append");
      }
      if (!ReadWriteReply("redis MSET", &first)) return StoreStatus::kIoError;
    }
    return first;
  }
  const std::string ttl = std::to_string(ttl_s);
  for (size_t begin = 0; begin < records.size(); begin += chunk) {
    const size_t end = std::min(records.size(), begin + chunk);
    for (size_t i = begin; i < end; ++i) {
      if (!AppendKeyed("SET", records[i].id, records[i].value, "EX", ttl)) {
        return Fail(StoreStatus::kIoError, "redis SET: append");
      }
    }
    for (size_t i = begin; i < end; ++i) {
      if (!ReadWriteReply("redis SET (pipelined)", &first)) return StoreStatus::kIoError;
    }
  }
  return first;
}

StoreStatus RedisStore::Command(std::span<const std::string_view> argv,
                                std::string* reply) noexcept {
  reply->clear();
  if (broken_) return StoreStatus::kIoError;
  if (argv.empty() || argv.size() > 64) {
    return Fail(StoreStatus::kInvalidArgument, "redis: 1 to 64 arguments");
  }
  std::array<const char*, 64> ptrs{};
  std::array<size_t, 64> lens{};
  for (size_t i = 0; i < argv.size(); ++i) {
    ptrs[i] = argv[i].data();
    lens[i] = argv[i].size();
  }
  if (redisAppendCommandArgv(ctx_.get(), static_cast<int>(argv.size()), ptrs.data(), lens.data()) !=
      REDIS_OK) {
    return Fail(StoreStatus::kIoError, "redis: append");
  }
  return ReadValueReply(reply, ValueReply::kScalar, "redis", "redis: array reply not supported");
}

}  // namespace jwtgate::store
