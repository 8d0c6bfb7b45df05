// Fuzz target: what a client controls on the way to jwtgated's route policy: the URI a proxy
// forwards (X-Original-URI, X-Forwarded-Uri, the path below the prefix) and the W3C
// traceparent header (daemon/routes.h, daemon/decision_log.h).
//
// Input: the URI (the whole input), also read as a traceparent value.
// Oracles: never a crash, hang or sanitizer report; an accepted URI normalises to a path that
// starts with '/', holds no empty, "." or ".." segment and no control byte, and is a fixed
// point of normalisation when it holds no '%', '?' or '#' (a decoded "%25" may start a new
// escape and a decoded "%3F" a query, which a second pass would read: a backend decodes once,
// and so does jwtgated); a route
// prefix matches it only on a segment boundary; a trace id is empty or 32 lower-case hex digits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/config.h"
#include "daemon/decision_log.h"
#include "daemon/routes.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckPath(std::string_view p) {
  Check(!p.empty() && p[0] == '/');
  for (unsigned char c : p) Check(c >= 0x20 && c != 0x7f);
  const std::string_view body = p.back() == '/' ? p.substr(0, p.size() - 1) : p;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t next = body.find('/', pos + 1);
    const std::string_view seg = body.substr(pos + 1, next == std::string_view::npos
                                                          ? std::string_view::npos
                                                          : next - pos - 1);
    Check(!seg.empty() && seg != "." && seg != "..");
    if (next == std::string_view::npos) break;
    pos = next;
  }
}

const jwtgate::daemon::RouteTable& Table() {
  static const jwtgate::daemon::RouteTable* table = [] {
    std::vector<jwtgate::daemon::RouteConfig> routes(3);
    routes[0].path_prefix = "/admin";
    routes[0].methods = {"POST"};
    routes[1].path_prefix = "/static/";
    routes[2].path_prefix = "/admin";
    static jwtgate::daemon::ClaimCaptures captures;
    return new jwtgate::daemon::RouteTable(routes, false, &captures);
  }();
  return *table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string path;
  if (jwtgate::daemon::NormalizeRoutePath(in, &path)) {
    CheckPath(path);
    if (path.find_first_of("%?#") == std::string::npos) {
      std::string again;
      Check(jwtgate::daemon::NormalizeRoutePath(path, &again) && again == path);
    }
    const int route = Table().Match("GET", path);
    const bool admin = path == "/admin" || path.starts_with("/admin/");
    const bool statics = path.starts_with("/static/");
    Check(route == (statics ? 1 : admin ? 2 : jwtgate::daemon::kNoRoute));
  }
  const std::string_view trace = jwtgate::daemon::TraceIdOf(in);
  Check(trace.empty() || trace.size() == 32);
  for (char c : trace) Check((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  return 0;
}
