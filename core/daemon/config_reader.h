// The YAML reading steps shared by the configuration's parsers (config.cc, policy_config.cc):
// typed reads that report the first problem with the key's path and line, as in
// "routes[1].require.scopes_all (line 12): empty list". Private to core/daemon.
#ifndef JWTGATE_DAEMON_CONFIG_READER_H_
#define JWTGATE_DAEMON_CONFIG_READER_H_

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <locale>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config.h"
#include "jwtgate/alg.h"

namespace jwtgate::daemon {

// Reads YAML nodes into typed fields; the first problem stops it and is kept in `error`.
class Reader {
 public:
  explicit Reader(std::string* error) : error_(error) {}

  bool Fail(const std::string& path, const YAML::Node& n, const std::string& msg) {
    std::string where = path;
    if (n.IsDefined() && n.Mark().line >= 0)
      where += " (line " + std::to_string(n.Mark().line + 1) + ")";
    *error_ = where + ": " + msg;
    return false;
  }

  bool Map(const YAML::Node& n, const std::string& path,
           std::initializer_list<std::string_view> allowed) {
    if (!n.IsMap()) return Fail(path, n, "expected a mapping");
    std::set<std::string> seen;
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) return Fail(path, kv.first, "keys must be plain names");
      const std::string key = kv.first.Scalar();
      const std::string sub = path.empty() ? key : path + "." + key;
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        return Fail(sub, kv.first, "unknown key");
      }
      if (!seen.insert(key).second) return Fail(sub, kv.first, "duplicate key");
    }
    return true;
  }

  bool String(const YAML::Node& n, const std::string& path, std::string* out) {
    if (!n.IsScalar()) return Fail(path, n, "expected a string");
    *out = n.Scalar();
    return true;
  }

  bool Bool(const YAML::Node& n, const std::string& path, bool* out) {
    if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false")) {
      *out = n.Scalar() == "true";
      return true;
    }
    return Fail(path, n, "expected true or false");
  }

  template <typename T>
  bool Integer(const YAML::Node& n, const std::string& path, int64_t min, int64_t max, T* out) {
    if (!n.IsScalar()) return Fail(path, n, "expected an integer");
    const std::string& s = n.Scalar();
    int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) {
      return Fail(path, n, "expected an integer, got '" + s + "'");
    }
    if (v < min || v > max) {
      return Fail(
          path, n,
          "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
    }
    *out = static_cast<T>(v);
    return true;
  }

  bool Double(const YAML::Node& n, const std::string& path, double min, double max, double* out) {
    if (!n.IsScalar()) return Fail(path, n, "expected a number");
    std::istringstream in(n.Scalar());
    in.imbue(std::locale::classic());
    double v = 0;
    if (!(in >> v) || !in.eof() || !std::isfinite(v)) {
      return Fail(path, n, "expected a number, got '" + n.Scalar() + "'");
    }
    if (v < min || v > max) return Fail(path, n, "out of range");
    *out = v;
    return true;
  }

  bool StringList(const YAML::Node& n, const std::string& path, std::vector<std::string>* out) {
    if (!n.IsSequence()) return Fail(path, n, "expected a list");
    out->clear();
    size_t i = 0;
    for (const auto& e : n) {
      std::string s;
      if (!String(e, path + "[" + std::to_string(i++) + "]", &s)) return false;
      out->push_back(std::move(s));
    }
    return true;
  }

  bool AlgValue(const YAML::Node& n, const std::string& path, Alg* out) {
    std::string s;
    if (!String(n, path, &s)) return false;
    if (!AlgFromName(s, out)) {
      return Fail(path, n,
                  "unknown algorithm '" + s +
                      "' (HS256..HS512, RS256..RS512, PS256..PS512, ES256..ES512, EdDSA)");
    }
    return true;
  }

 private:
  std::string* error_;
};

// routes, routes_default and decision_log of the root mapping `root` (policy_config.cc).
bool ParsePolicy(Reader& r, const YAML::Node& root, Config* c);

}  // namespace jwtgate::daemon

#endif  // JWTGATE_DAEMON_CONFIG_READER_H_
