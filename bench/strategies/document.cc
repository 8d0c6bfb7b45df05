#include "document.h"

#include "strategies.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "progress.h"

namespace jwtgate::bench {

std::string DateUtc() {
  char buf[32];
  const std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string Hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

Json UnitsJson(const char* throughput) {
  return Json{{"throughput", throughput},
              {"latency", "microseconds"},
              {"cpu", "CPU seconds per million requests (= CPU microseconds per request)"},
              {"memory", "KiB"},
              {"time", "seconds"}};
}

int WriteDocument(const Json& doc, const std::string& out,
                  std::chrono::steady_clock::time_point run_start) {
  const std::string text = doc.dump(2) + "\n";
  if (out == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  const std::string tmp = out + ".tmp";
  std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) {
    std::fprintf(stderr, "jwtgate-bench strategies: cannot write %s\n", tmp.c_str());
    return 1;
  }
  std::filesystem::rename(tmp, out);
  Progress("wrote %s (%.0f s)\n", out.c_str(), SecondsSince(run_start));
  return 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

Json RowIdentityJson(const RowSpec& row) {
  Json j;
  j["key"] = row.key;
  j["id"] = row.id;
  j["name"] = row.name;
  j["variant"] = row.variant;
  j["alg"] = row.alg.empty() ? Json(nullptr) : Json(row.alg);
  j["backend"] = row.backend.empty() ? Json(nullptr) : Json(row.backend);
  return j;
}

}  // namespace jwtgate::bench
