#include "keys/http_fetch.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>
#include <mutex>

#include "base/c_handle.h"
#include "jwtgate/version.h"

namespace jwtgate::keys {
namespace {

constexpr int kMaxRedirects = 3;

using UrlPtr = base::CHandle<CURLU, curl_url_cleanup>;
using EasyPtr = base::CHandle<CURL, curl_easy_cleanup>;
using SlistPtr = base::CHandle<curl_slist, curl_slist_free_all>;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

struct UrlParts {
  std::string scheme, host, port;
};

bool ParseUrl(std::string_view url, UrlParts* out) {
  UrlPtr u(curl_url());
  if (!u) return false;
  const std::string text(url);
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) return false;
  auto get = [&](CURLUPart part, std::string* v, unsigned flags) {
    char* p = nullptr;
    if (curl_url_get(u.get(), part, &p, flags) != CURLUE_OK) return false;
    v->assign(p);
    curl_free(p);
    return true;
  };
  return get(CURLUPART_SCHEME, &out->scheme, 0) && get(CURLUPART_HOST, &out->host, 0) &&
         get(CURLUPART_PORT, &out->port, CURLU_DEFAULT_PORT);
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "[::1]" || host == "::1") return true;
  // 127.0.0.0/8 in dotted decimal.
  if (host.substr(0, 4) != "127.") return false;
  int parts = 0;
  for (size_t i = 0; i <= host.size(); ++parts) {
    const size_t dot = std::min(host.find('.', i), host.size());
    unsigned v = 0;
    const auto r = std::from_chars(host.data() + i, host.data() + dot, v);
    if (r.ec != std::errc() || r.ptr != host.data() + dot || dot == i || v > 255) return false;
    i = dot + 1;
  }
  return parts == 4;
}

struct Exchange {
  std::string body;
  size_t max_bytes = 0;
  bool too_large = false;
  std::string etag;
  std::optional<int64_t> max_age_s;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t len = size * n;
  if (x->body.size() + len > x->max_bytes) {
    x->too_large = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  x->body.append(data, len);
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t len = size * n;
  const std::string_view line(data, len);
  if (line.substr(0, 5) == "HTTP/") {
    // A new response (after a redirect or a 100): forget the previous one's fields.
    x->etag.clear();
    x->max_age_s.reset();
    return len;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  const std::string name = Lower(Trim(line.substr(0, colon)));
  const std::string_view value = Trim(line.substr(colon + 1));
  if (name == "etag") {
    x->etag.assign(value);
  } else if (name == "cache-control") {
    x->max_age_s = ParseCacheControlMaxAge(value);
  }
  return len;
}

}  // namespace

std::optional<int64_t> ParseCacheControlMaxAge(std::string_view value) {
  std::optional<int64_t> max_age;
  bool no_cache = false;
  while (!value.empty()) {
    const size_t comma = std::min(value.find(','), value.size());
    const std::string directive = Lower(Trim(value.substr(0, comma)));
    value.remove_prefix(std::min(comma + 1, value.size()));
    if (directive == "no-cache" || directive == "no-store") {
      no_cache = true;
    } else if (directive.rfind("max-age=", 0) == 0) {
      std::string_view v = std::string_view(directive).substr(8);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      int64_t s = 0;
      const auto r = std::from_chars(v.data(), v.data() + v.size(), s);
      if (r.ec == std::errc() && r.ptr == v.data() + v.size() && s >= 0) {
        max_age = s;
      } else if (r.ec == std::errc::result_out_of_range) {
        max_age = INT64_MAX;
      }
    }
  }
  if (no_cache) return 0;
  return max_age;
}

bool CheckUrl(std::string_view url, bool allow_http, std::string* error) {
  GlobalInit();
  UrlParts p;
  if (!ParseUrl(url, &p)) {
    *error = "not a valid URL: " + std::string(url);
    return false;
  }
  const std::string scheme = Lower(p.scheme);
  if (scheme == "https") return true;
  if (scheme == "http") {
    if (!allow_http) {
      *error = std::string(url) +
               ": http:// is refused (keys must come over https; allow_http "
               "permits http:// to a loopback host only)";
      return false;
    }
    if (!IsLoopbackHost(p.host)) {
      *error = std::string(url) + ": http:// is allowed only to a loopback host, not " + p.host;
      return false;
    }
    return true;
  }
  *error = std::string(url) + ": scheme " + p.scheme + " is not https";
  return false;
}

std::string OriginOf(std::string_view url) {
  GlobalInit();
  UrlParts p;
  if (!ParseUrl(url, &p)) return {};
  return Lower(p.scheme) + "://" + Lower(p.host) + ":" + p.port;
}

FetchResponse HttpFetch(const FetchRequest& request) {
  GlobalInit();
  FetchResponse out;
  std::string url = request.url;
  const std::string origin = OriginOf(url);
  auto fail = [&](FetchOutcome o, std::string why) {
    out.outcome = o;
    out.error = request.url + ": " + std::move(why);
    out.body.clear();
    return out;
  };
  if (std::string e; !CheckUrl(url, request.allow_http, &e)) return fail(FetchOutcome::kInvalid, e);

  const auto deadline = std::chrono::steady_clock::now() + request.timeout;
  for (int hop = 0;; ++hop) {
    EasyPtr curl(curl_easy_init());
    if (!curl) return fail(FetchOutcome::kNetworkError, "cannot create a libcurl handle");
    CURL* c = curl.get();
    Exchange x;
    x.max_bytes = request.max_bytes;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail(FetchOutcome::kTimeout, "timed out");
    SlistPtr headers;
    auto add_header = [&](const std::string& h) {
      headers.reset(curl_slist_append(headers.release(), h.c_str()));
    };
    add_header("Accept: application/json");
    if (!request.if_none_match.empty()) add_header("If-None-Match: " + request.if_none_match);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, request.allow_http ? "https,http" : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // redirects are checked below
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()));
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!request.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, request.ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(request.max_bytes));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_USERAGENT, "jwtgate/" JWTGATE_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

    const CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    out.http_status = status;
    if (x.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return fail(FetchOutcome::kTooLarge,
                  "response larger than " + std::to_string(request.max_bytes) + " bytes");
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return fail(FetchOutcome::kTimeout,
                  "no complete response within " + std::to_string(request.timeout.count()) + " ms");
    }
    if (rc != CURLE_OK) {
      return fail(FetchOutcome::kNetworkError,
                  std::string(errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc)));
    }
    if (status >= 300 && status < 400 && status != 304) {
      char* location = nullptr;
      curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location);
      if (location == nullptr) {
        return fail(FetchOutcome::kRedirect,
                    "HTTP " + std::to_string(status) + " without Location");
      }
      const std::string next(location);
      if (OriginOf(next) != origin) {
        return fail(FetchOutcome::kRedirect, "redirected to another host (" + next + "), refused");
      }
      if (hop + 1 >= kMaxRedirects) {
        return fail(FetchOutcome::kRedirect,
                    "more than " + std::to_string(kMaxRedirects) + " redirects");
      }
      url = next;
      continue;
    }
    if (status == 304) {
      out.outcome = FetchOutcome::kNotModified;
      out.etag = request.if_none_match;
      if (!x.etag.empty()) out.etag = x.etag;
      out.max_age_s = x.max_age_s;
      return out;
    }
    if (status != 200) return fail(FetchOutcome::kHttpError, "HTTP " + std::to_string(status));
    out.outcome = FetchOutcome::kUpdated;
    out.body = std::move(x.body);
    out.etag = std::move(x.etag);
    out.max_age_s = x.max_age_s;
    return out;
  }
}

}  // namespace jwtgate::keys
