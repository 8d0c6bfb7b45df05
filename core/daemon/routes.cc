#include "daemon/routes.h"

#include <algorithm>

namespace jwtgate::daemon {
namespace {

int HexValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// The path part of a request target: absolute-form authority, query and fragment dropped.
std::string_view PathOf(std::string_view uri) noexcept {
  for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (StartsWithNoCase(uri, scheme)) {
      uri.remove_prefix(scheme.size());
      const size_t slash = uri.find('/');
      const size_t end = uri.find_first_of("?#");
      if (slash == std::string_view::npos || (end != std::string_view::npos && end < slash)) {
        return "/";
      }
      uri.remove_prefix(slash);
      break;
    }
  }
  return uri.substr(0, uri.find_first_of("?#"));
}

// Whether `scopes` (a space-separated list) holds `want` as a whole word.
bool HasWord(std::string_view scopes, std::string_view want) noexcept {
  size_t pos = 0;
  while (pos <= scopes.size()) {
    size_t end = scopes.find(' ', pos);
    if (end == std::string_view::npos) end = scopes.size();
    if (scopes.substr(pos, end - pos) == want) return true;
    pos = end + 1;
  }
  return false;
}

bool Contains(const std::vector<std::string>& set, std::string_view v) noexcept {
  return std::find(set.begin(), set.end(), v) != set.end();
}

// Whether any of the captured claim's items is in `accepted`.
bool AnyAccepted(const ClaimValue& claim, const std::vector<std::string>& accepted) noexcept {
  for (const std::string& item : claim.items) {
    if (Contains(accepted, item)) return true;
  }
  return false;
}

}  // namespace

bool NormalizeRoutePath(std::string_view uri, std::string* out) {
  // Decodes straight into `out` ("/seg/seg"), one segment at a time, and resolves a segment
  // that decoded to "." or ".." as soon as it ends: no allocation once `out` has grown.
  out->clear();
  const std::string_view path = PathOf(uri);
  if (path.empty() || path[0] != '/') return false;
  size_t seg = 0;  // where the current segment's '/' is in `out`
  auto end_segment = [out, &seg] {
    const std::string_view s = std::string_view(*out).substr(seg + 1);
    if (s.empty() || s == ".") {
      out->resize(seg);  // empty ("//") and "." segments vanish
    } else if (s == "..") {
      const size_t parent = std::string_view(*out).substr(0, seg).rfind('/');
      out->resize(parent == std::string_view::npos ? 0 : parent);
    }
  };
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '/') {
      if (i != 0) end_segment();
      seg = out->size();
      out->push_back('/');
      continue;
    }
    if (c == '%') {
      if (path.size() - i < 3) return false;
      const int h = HexValue(path[i + 1]), l = HexValue(path[i + 2]);
      if (h < 0 || l < 0) return false;
      c = static_cast<char>(h * 16 + l);
      if (c == '/') return false;  // one segment here, two for a backend that decodes first
      i += 2;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;  // NUL, CR, LF, other controls
    out->push_back(c);
  }
  end_segment();
  // A trailing '/' (or a final "." / "..") names the directory: keep it, as RFC 3986 §5.2.4 does.
  const bool dir = path.back() == '/' || path.ends_with("/.") || path.ends_with("/..");
  if (out->empty() || dir) out->push_back('/');
  return true;
}

size_t ClaimCaptures::Add(std::string_view path) {
  for (size_t i = 0; i < paths_.size(); ++i) {
    if (paths_[i] == path) return i;
  }
  paths_.emplace_back(path);
  return paths_.size() - 1;
}

RouteTable::RouteTable(const std::vector<RouteConfig>& routes, bool default_deny,
                       ClaimCaptures* captures)
    : default_deny_(default_deny) {
  bool need_aud = false, need_scopes = false;
  for (const RouteConfig& rc : routes) {
    Route r;
    r.name = rc.name.empty() ? rc.path_prefix : rc.name;
    r.prefix = rc.path_prefix;
    r.methods = rc.methods;
    r.deny = rc.deny;
    r.issuers = rc.require.issuers;
    r.audiences = rc.require.audiences;
    r.scopes_all = rc.require.scopes_all;
    r.scopes_any = rc.require.scopes_any;
    for (const auto& [path, accepted] : rc.require.claims) {
      r.claims.emplace_back(captures->Add(path), accepted);
    }
    for (const auto* list : {&r.scopes_all, &r.scopes_any}) {
      for (const std::string& s : *list) {
        if (!r.scope_hint.empty()) r.scope_hint.push_back(' ');
        r.scope_hint += s;
      }
    }
    need_aud = need_aud || !r.audiences.empty();
    need_scopes = need_scopes || !r.scopes_all.empty() || !r.scopes_any.empty();
    routes_.push_back(std::move(r));
  }
  if (need_aud) aud_ = captures->Add("aud");
  if (need_scopes) {
    scope_ = captures->Add("scope");
    scp_ = captures->Add("scp");
  }
}

int RouteTable::Match(std::string_view method, std::string_view path) const noexcept {
  for (size_t i = 0; i < routes_.size(); ++i) {
    const Route& r = routes_[i];
    if (!PrefixMatches(r.prefix, path)) continue;
    if (!r.methods.empty() && !Contains(r.methods, method)) continue;
    return static_cast<int>(i);
  }
  return kNoRoute;
}

bool RouteTable::DeniesOutright(int route) const noexcept {
  return route == kNoRoute ? default_deny_ : routes_[static_cast<size_t>(route)].deny;
}

bool RouteTable::Granted(const std::vector<ClaimValue>& claims,
                         std::string_view scope) const noexcept {
  for (const size_t index : {scope_, scp_}) {
    if (index >= claims.size()) continue;
    for (const std::string& item : claims[index].items) {
      if (HasWord(item, scope)) return true;
    }
  }
  return false;
}

Status RouteTable::Check(int route, std::string_view iss,
                         const std::vector<ClaimValue>& claims) const noexcept {
  if (route == kNoRoute) return Status::kOk;
  const Route& r = routes_[static_cast<size_t>(route)];
  if (!r.issuers.empty() && !Contains(r.issuers, iss)) return Status::kRouteIssuerNotAllowed;
  if (!r.audiences.empty() && (aud_ >= claims.size() || !AnyAccepted(claims[aud_], r.audiences))) {
    return Status::kRouteAudienceNotAllowed;
  }
  for (const std::string& s : r.scopes_all) {
    if (!Granted(claims, s)) return Status::kRouteScopeMissing;
  }
  if (!r.scopes_any.empty() &&
      std::none_of(r.scopes_any.begin(), r.scopes_any.end(),
                   [&](const std::string& s) { return Granted(claims, s); })) {
    return Status::kRouteScopeMissing;
  }
  for (const auto& [index, accepted] : r.claims) {
    if (index >= claims.size() || !AnyAccepted(claims[index], accepted)) {
      return Status::kRouteClaimNotAccepted;
    }
  }
  return Status::kOk;
}

std::string_view RouteTable::name(int route) const noexcept {
  return route == kNoRoute ? std::string_view() : routes_[static_cast<size_t>(route)].name;
}

std::string_view RouteTable::scope_hint(int route) const noexcept {
  return route == kNoRoute ? std::string_view() : routes_[static_cast<size_t>(route)].scope_hint;
}

}  // namespace jwtgate::daemon
