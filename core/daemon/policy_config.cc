// Parsing of the per-route policy (`routes`, `routes_default`) and the decision log
// (`decision_log`). Every check that can name a line does it here, while the YAML nodes exist.
#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "daemon/config.h"
#include "daemon/config_reader.h"
#include "daemon/routes.h"
#include "jwtgate/claims.h"

namespace jwtgate::daemon {
namespace {

// A list that must hold something when it is given at all: an empty one would silently mean
// "nothing required" (scopes_all) or "nothing accepted" (claims values, methods).
bool NonEmptyList(Reader& r, const YAML::Node& n, const std::string& path,
                  std::vector<std::string>* out) {
  if (!r.StringList(n, path, out)) return false;
  if (out->empty()) return r.Fail(path, n, "empty list (leave the key out instead)");
  for (size_t i = 0; i < out->size(); ++i) {
    if ((*out)[i].empty()) {
      return r.Fail(path + "[" + std::to_string(i) + "]", n[i], "empty value");
    }
  }
  return true;
}

bool IsMethodToken(const std::string& m) {
  if (m.empty() || m.size() > 32) return false;
  for (char ch : m) {
    if (!(ch >= 'A' && ch <= 'Z') && ch != '-' && ch != '_') return false;
  }
  return true;
}

bool ParseRequireClaims(Reader& r, const YAML::Node& n, const std::string& path,
                        RouteRequireConfig* req) {
  if (!n.IsMap()) return r.Fail(path, n, "expected a mapping of claim -> [accepted values]");
  if (n.size() == 0) return r.Fail(path, n, "empty mapping (leave the key out instead)");
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) return r.Fail(path, kv.first, "claim names must be strings");
    const std::string claim = kv.first.Scalar();
    const std::string sub = path + "." + claim;
    std::string why;
    if (!IsValidClaimPath(claim, &why)) return r.Fail(sub, kv.first, why);
    for (const auto& [seen, values] : req->claims) {
      if (seen == claim) return r.Fail(sub, kv.first, "duplicate key");
    }
    std::vector<std::string> accepted;
    if (!NonEmptyList(r, kv.second, sub, &accepted)) return false;
    req->claims.emplace_back(claim, std::move(accepted));
  }
  return true;
}

bool ParseRequire(Reader& r, const YAML::Node& n, const std::string& path,
                  RouteRequireConfig* req) {
  if (!r.Map(n, path, {"issuers", "audiences", "scopes_all", "scopes_any", "claims"})) {
    return false;
  }
  // A table beats five copies of the same three lines.
  const std::pair<const char*, std::vector<std::string>*> lists[] = {
      {"issuers", &req->issuers},
      {"audiences", &req->audiences},
      {"scopes_all", &req->scopes_all},
      {"scopes_any", &req->scopes_any},
  };
  for (const auto& [key, out] : lists) {
    if (n[key] && !NonEmptyList(r, n[key], path + "." + key, out)) return false;
  }
  for (const std::string& scope : req->scopes_all) {
    if (scope.find(' ') != std::string::npos) {
      return r.Fail(path + ".scopes_all", n["scopes_all"],
                    "'" + scope + "': a scope holds no spaces (list them one by one)");
    }
  }
  for (const std::string& scope : req->scopes_any) {
    if (scope.find(' ') != std::string::npos) {
      return r.Fail(path + ".scopes_any", n["scopes_any"],
                    "'" + scope + "': a scope holds no spaces (list them one by one)");
    }
  }
  if (n["claims"] && !ParseRequireClaims(r, n["claims"], path + ".claims", req)) return false;
  return true;
}

bool ParseRoute(Reader& r, const YAML::Node& e, const std::string& path, RouteConfig* route) {
  if (!r.Map(e, path, {"name", "path_prefix", "methods", "deny", "require"})) return false;
  if (e["name"] && !r.String(e["name"], path + ".name", &route->name)) return false;
  if (!e["path_prefix"]) return r.Fail(path, e, "missing key 'path_prefix'");
  if (!r.String(e["path_prefix"], path + ".path_prefix", &route->path_prefix)) return false;
  std::string normal;
  if (!NormalizeRoutePath(route->path_prefix, &normal) || normal != route->path_prefix) {
    return r.Fail(path + ".path_prefix", e["path_prefix"],
                  "'" + route->path_prefix +
                      "' is not a normalised path: it must start with '/' and hold no query, "
                      "'%' escape, '//', '.' or '..' segment" +
                      (normal.empty() ? std::string() : " (did you mean '" + normal + "'?)"));
  }
  if (e["methods"]) {
    if (!NonEmptyList(r, e["methods"], path + ".methods", &route->methods)) return false;
    for (const std::string& m : route->methods) {
      if (!IsMethodToken(m)) {
        return r.Fail(path + ".methods", e["methods"],
                      "'" + m + "' is not an upper-case method name such as GET or POST");
      }
    }
  }
  if (e["deny"] && !r.Bool(e["deny"], path + ".deny", &route->deny)) return false;
  if (e["require"]) {
    if (route->deny) {
      return r.Fail(path + ".require", e["require"],
                    "a route with deny: true refuses every request; it takes no require");
    }
    if (!ParseRequire(r, e["require"], path + ".require", &route->require)) return false;
  }
  for (char ch : route->name) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      return r.Fail(path + ".name", e["name"], "control characters are not allowed");
    }
  }
  if (route->name.empty()) route->name = route->path_prefix;
  return true;
}

bool ParseDecisionLog(Reader& r, const YAML::Node& n, Config* c) {
  if (!r.Map(n, "decision_log", {"path", "sample_allows", "max_denies_per_second"})) return false;
  DecisionLogConfig d;
  if (!n["path"]) return r.Fail("decision_log", n, "missing key 'path' (stderr or a file)");
  if (!r.String(n["path"], "decision_log.path", &d.path)) return false;
  if (d.path.empty()) return r.Fail("decision_log.path", n["path"], "empty");
  if (n["sample_allows"] &&
      !r.Double(n["sample_allows"], "decision_log.sample_allows", 0.0, 1.0, &d.sample_allows)) {
    return false;
  }
  if (n["max_denies_per_second"] &&
      !r.Integer(n["max_denies_per_second"], "decision_log.max_denies_per_second", 0, 100000000,
                 &d.max_denies_per_second)) {
    return false;
  }
  c->decision_log = std::move(d);
  return true;
}

}  // namespace

bool ParsePolicy(Reader& r, const YAML::Node& root, Config* c) {
  if (const YAML::Node n = root["routes"]) {
    if (!n.IsSequence()) return r.Fail("routes", n, "expected a list");
    c->routes.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      RouteConfig route;
      if (!ParseRoute(r, n[i], "routes[" + std::to_string(i) + "]", &route)) return false;
      c->routes.push_back(std::move(route));
    }
    if (c->routes.size() > kMaxRoutes) {
      return r.Fail("routes", n, "more than " + std::to_string(kMaxRoutes) + " routes");
    }
  }
  if (const YAML::Node n = root["routes_default"]) {
    std::string v;
    if (!r.String(n, "routes_default", &v)) return false;
    if (v != "policy" && v != "deny") {
      return r.Fail("routes_default", n, "expected policy or deny, got '" + v + "'");
    }
    c->routes_default_deny = v == "deny";
  }
  if (const YAML::Node n = root["decision_log"]) {
    if (!ParseDecisionLog(r, n, c)) return false;
  }
  return true;
}

}  // namespace jwtgate::daemon
