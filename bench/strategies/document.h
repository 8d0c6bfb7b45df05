// What both modes of the strategies harness write: the JSON document (ordered members, the
// shared "units", date and host), written atomically, and the text files the end-to-end rows
// hand to their servers and read back.
#ifndef JWTGATE_BENCH_STRATEGIES_DOCUMENT_H_
#define JWTGATE_BENCH_STRATEGIES_DOCUMENT_H_

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace jwtgate::bench {

using Json = nlohmann::ordered_json;

struct RowSpec;  // strategies.h

// What names a row in either mode's document: key, id, name, variant, alg, backend.
Json RowIdentityJson(const RowSpec& row);

// Now, as "2026-11-29T12:58:20Z".
std::string DateUtc();
std::string Hostname();

// The document's "units" member; `throughput` says what a throughput figure counts.
Json UnitsJson(const char* throughput);

// Writes `doc` to `out` ("-": stdout) through a temporary file renamed into place, so that an
// interrupted run never leaves a truncated document; reports the run's seconds on the progress
// stream. Returns the exit status: 0, or 1 when the file cannot be written.
int WriteDocument(const Json& doc, const std::string& out,
                  std::chrono::steady_clock::time_point run_start);

// The whole file, or empty when it cannot be read.
std::string ReadFile(const std::string& path);
// Replaces the file's contents. Throws std::runtime_error when it cannot be written.
void WriteFile(const std::string& path, const std::string& text);

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_DOCUMENT_H_
