#include "daemon/admin_handler.h"

#include <simdjson.h>

#include "base/json_string.h"
#include "jwtgate/revocation.h"
#include "net/http_fields.h"

namespace jwtgate::daemon {
namespace {

constexpr size_t kMaxRevokeBody = 4096;

void Respond(net::HttpServer& server, net::RequestId id, int status, std::string_view reason,
             std::string_view content_type, std::string_view body,
             std::string_view extra_headers = {}) {
  std::string* head = server.ResponseHead(id);
  head->assign("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(reason);
  head->append("\r\nCache-Control: no-store\r\nContent-Type: ").append(content_type).append("\r\n");
  head->append(extra_headers);
  server.ResponseBody(id)->assign(body);
  server.Finish(id);
}

void Text(net::HttpServer& server, net::RequestId id, int status, std::string_view reason,
          std::string_view body, std::string_view extra_headers = {}) {
  Respond(server, id, status, reason, "text/plain; charset=utf-8", body, extra_headers);
}

void Json(net::HttpServer& server, net::RequestId id, int status, std::string_view reason,
          std::string_view body) {
  Respond(server, id, status, reason, "application/json", body);
}

}  // namespace

bool ParseRevokeRequest(std::string_view body, RevokeRequest* out, std::string* error) {
  if (body.size() > kMaxRevokeBody) {
    *error = "body larger than 4096 bytes";
    return false;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const simdjson::padded_string padded(body);
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS) {
    *error = "body is not valid JSON";
    return false;
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) {
    *error = "body must be a JSON object";
    return false;
  }
  bool has_jti = false, has_exp = false, has_sub = false, has_nb = false, has_iss = false;
  RevokeRequest r;
  for (auto field : obj) {
    const std::string_view k = field.key;
    bool* seen = nullptr;
    if (k == "jti")
      seen = &has_jti;
    else if (k == "exp")
      seen = &has_exp;
    else if (k == "sub")
      seen = &has_sub;
    else if (k == "not_before")
      seen = &has_nb;
    else if (k == "iss")
      seen = &has_iss;
    if (seen == nullptr) {
      *error = "unknown member '" + std::string(k) + "'";
      return false;
    }
    if (*seen) {
      *error = "duplicate member '" + std::string(k) + "'";
      return false;
    }
    *seen = true;
    if (k == "jti" || k == "sub" || k == "iss") {
      std::string_view v;
      if (field.value.get_string().get(v) != simdjson::SUCCESS || v.empty()) {
        *error = "'" + std::string(k) + "' must be a non-empty string";
        return false;
      }
      if (k == "iss") {
        r.iss = std::string(v);
      } else {
        r.id = std::string(v);
      }
    } else {
      int64_t v = 0;
      if (field.value.get_int64().get(v) != simdjson::SUCCESS || v < 0) {
        *error =
            "'" + std::string(k) + "' must be a non-negative integer (seconds since the epoch)";
        return false;
      }
      r.value = v;
      r.has_value = true;
    }
  }
  if (has_jti && !has_sub && !has_nb) {
    r.kind = RevokeRequest::Kind::kJti;
  } else if (has_sub && has_nb && !has_jti && !has_exp) {
    r.kind = RevokeRequest::Kind::kSubject;
  } else {
    *error =
        "expected {\"jti\": ...[, \"iss\": ...][, \"exp\": ...]} or "
        "{\"sub\": ..., \"not_before\": ...[, \"iss\": ...]}";
    return false;
  }
  *out = std::move(r);
  return true;
}

void AdminHandler::OnRequest(net::HttpServer& server, net::RequestId id,
                             const net::HttpRequest& req, std::string_view body) {
  const std::string_view path = req.path;
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  if (path == "/livez") {
    if (!get) return Text(server, id, 405, "Method Not Allowed", "", "Allow: GET, HEAD\r\n");
    return Text(server, id, 200, "OK", "ok\n");
  }
  if (path == "/readyz") {
    if (!get) return Text(server, id, 405, "Method Not Allowed", "", "Allow: GET, HEAD\r\n");
    std::string detail;
    const bool ready = api_->Ready(&detail);
    const bool verbose = req.query == "verbose" || req.query.substr(0, 8) == "verbose=";
    std::string text = ready ? "ok\n" : "not ready\n";
    if (verbose) text = detail;
    return ready ? Text(server, id, 200, "OK", text)
                 : Text(server, id, 503, "Service Unavailable", text);
  }
  if (path == "/metrics") {
    if (!get) return Text(server, id, 405, "Method Not Allowed", "", "Allow: GET, HEAD\r\n");
    if (api_->MetricsNeedToken()) {
      std::string_view presented;
      const net::BearerResult b = net::ExtractBearer(req, &presented);
      if (!api_->AdminTokenAccepts(b == net::BearerResult::kOk, presented)) {
        return Text(server, id, 401, "Unauthorized", "admin token required\n",
                    "WWW-Authenticate: Bearer realm=\"jwtgate-admin\"\r\n");
      }
    }
    return Respond(server, id, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                   api_->RenderMetrics());
  }
  if (path == "/revoke" || path == "/reload") {
    if (!post) return Text(server, id, 405, "Method Not Allowed", "", "Allow: POST\r\n");
    std::string_view presented;
    const net::BearerResult b = net::ExtractBearer(req, &presented);
    if (!api_->AdminTokenAccepts(b == net::BearerResult::kOk, presented)) {
      return Text(server, id, 401, "Unauthorized", "admin token required\n",
                  "WWW-Authenticate: Bearer realm=\"jwtgate-admin\"\r\n");
    }
    if (path == "/reload") {
      std::string message;
      const bool ok = api_->Reload(&message);
      const std::string json = std::string("{\"reloaded\":") + (ok ? "true" : "false") +
                               ",\"message\":" + base::JsonString(message) + "}\n";
      return ok ? Json(server, id, 200, "OK", json)
                : Json(server, id, 500, "Internal Server Error", json);
    }
    RevokeRequest r;
    std::string error;
    if (!ParseRevokeRequest(body, &r, &error)) {
      return Json(server, id, 400, "Bad Request", "{\"error\":" + base::JsonString(error) + "}\n");
    }
    // The answer may come later, on this thread; a connection closed meanwhile makes `id`
    // stale, and the server then drops the response.
    net::HttpServer* srv = &server;
    api_->Revoke(r, [srv, id](const RevokeReply& reply) {
      if (reply.status == Status::kOk) {
        std::string json = "{\"revoked\":true";
        if (reply.jti) {
          json += ",\"kept_until\":";
          json += reply.kept_until == RevocationStore::kNoExp ? std::string("null")
                                                              : std::to_string(reply.kept_until);
        }
        if (reply.replication) {
          json += reply.replicated ? ",\"replicated\":true" : ",\"replicated\":false";
          // In effect here and durable, not yet shared with the fleet: 202.
          if (!reply.replicated) return Json(*srv, id, 202, "Accepted", json + "}\n");
        }
        return Json(*srv, id, 200, "OK", json + "}\n");
      }
      if (reply.status == Status::kInternalError) {
        const bool unconfigured = reply.message == kRevocationNotConfigured;
        return Json(*srv, id, unconfigured ? 501 : 503,
                    unconfigured ? "Not Implemented" : "Service Unavailable",
                    "{\"error\":" + base::JsonString(reply.message) + "}\n");
      }
      std::string why(ToString(reply.status));
      if (!reply.message.empty()) why += ": " + reply.message;
      return Json(*srv, id, 400, "Bad Request", "{\"error\":" + base::JsonString(why) + "}\n");
    });
    return;
  }
  Text(server, id, 404, "Not Found", "not found\n");
}

}  // namespace jwtgate::daemon
