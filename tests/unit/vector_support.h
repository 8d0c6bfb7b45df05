// What the vector tests (Wycheproof, CCTV) share: reading the copied vector files under
// tests/vectors, and the expectations ledger (tests/vectors/expectations.json), which lists
// every case whose outcome deviates from its label, with the status jwtgate returns and the
// reason, one by one or counted by rule.
#ifndef JWTGATE_TESTS_UNIT_VECTOR_SUPPORT_H_
#define JWTGATE_TESTS_UNIT_VECTOR_SUPPORT_H_

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <simdjson.h>

#include "jwtgate/status.h"

namespace jwtgate::vectors {

inline std::string VectorPath(std::string_view relative) {
  return std::string(JWTGATE_TEST_DATA_DIR) + "/vectors/" + std::string(relative);
}

// Reads a vector file; a missing file fails the test (vectors are part of the repository).
inline std::string ReadVectorFile(std::string_view relative) {
  const std::string path = VectorPath(relative);
  std::ifstream in(path, std::ios::binary);
  if (!in) FAIL("missing vector file " << path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline simdjson::dom::element ParseOrFail(simdjson::dom::parser& parser, const std::string& text,
                                          std::string_view what) {
  simdjson::dom::element root;
  if (parser.parse(text).get(root) != simdjson::SUCCESS) FAIL("cannot parse " << what);
  return root;
}

inline std::string_view StringField(simdjson::dom::element e, std::string_view name) {
  std::string_view s;
  if (e[name].get_string().get(s) != simdjson::SUCCESS) FAIL("no string field " << name);
  return s;
}

inline int64_t IntField(simdjson::dom::element e, std::string_view name) {
  int64_t v = 0;
  if (e[name].get_int64().get(v) != simdjson::SUCCESS) FAIL("no integer field " << name);
  return v;
}

inline std::string HexDecode(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    FAIL("bad hex digit " << c);
    return 0;
  };
  REQUIRE(hex.size() % 2 == 0);
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<char>(nibble(hex[2 * i]) * 16 + nibble(hex[2 * i + 1]));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The expectations ledger: every deviation from a label, from tests/vectors/expectations.json.

class Ledger {
 public:
  struct Counts {
    int cases = 0;
    int valid_accepted = 0;
    int invalid_rejected = 0;
    int acceptable_accepted = 0;
    int acceptable_rejected = 0;
    int deviations = 0;
    std::map<std::string, int> deviations_by_reason;
    std::map<std::string, int> statuses;
    int agree() const {
      return valid_accepted + invalid_rejected + acceptable_accepted + acceptable_rejected;
    }
  };

  // Keeps the entries of `files` only: the other files belong to other tests.
  explicit Ledger(std::vector<std::string> files) : files_(std::move(files)) {
    const std::string text = ReadVectorFile("expectations.json");
    simdjson::dom::parser parser;
    const simdjson::dom::element root = ParseOrFail(parser, text, "expectations.json");
    simdjson::dom::array cases;
    simdjson::dom::array rules;
    REQUIRE(root["cases"].get_array().get(cases) == simdjson::SUCCESS);
    REQUIRE(root["rules"].get_array().get(rules) == simdjson::SUCCESS);
    for (simdjson::dom::element e : cases) {
      CaseEntry c{std::string(StringField(e, "file")), IntField(e, "tcId"),
                  std::string(StringField(e, "label")), ParseStatus(StringField(e, "status"))};
      REQUIRE_FALSE(StringField(e, "reason").empty());
      if (Handles(c.file)) case_entries_.push_back(std::move(c));
    }
    for (simdjson::dom::element e : rules) {
      RuleEntry r{std::string(StringField(e, "file")), std::string(StringField(e, "rule")),
                  std::string(StringField(e, "label")), ParseStatus(StringField(e, "status")),
                  IntField(e, "count")};
      REQUIRE_FALSE(StringField(e, "reason").empty());
      if (Handles(r.file)) rule_entries_.push_back(std::move(r));
    }
  }

  // Records one case: its outcome `status`, and whether that outcome counts as accepting the
  // input (the caller's mapping). `rule` names the policy rule its group falls under ("" for
  // none).
  void Record(std::string_view file, int64_t tc_id, std::string_view label, std::string_view rule,
              Status status, bool accepted) {
    REQUIRE(Handles(file));
    Counts& c = counts_[std::string(file)];
    ++c.cases;
    ++c.statuses[std::string(ToString(status))];
    if (label == "acceptable") {
      ++(accepted ? c.acceptable_accepted : c.acceptable_rejected);
      return;
    }
    REQUIRE((label == "valid" || label == "invalid"));
    if ((label == "valid") == accepted) {
      ++(label == "valid" ? c.valid_accepted : c.invalid_rejected);
      return;
    }
    ++c.deviations;
    for (CaseEntry& e : case_entries_) {
      if (e.file == file && e.tc_id == tc_id) {
        CHECK(e.label == label);
        if (e.status != status) {
          FAIL_CHECK(file << " tc " << tc_id << " is listed with status " << ToString(e.status)
                          << " but returned " << ToString(status));
        }
        ++e.seen;
        ++c.deviations_by_reason["tc " + std::to_string(tc_id) + " (" +
                                 std::string(ToString(status)) + ")"];
        return;
      }
    }
    for (RuleEntry& e : rule_entries_) {
      if (!rule.empty() && e.file == file && e.rule == rule && e.label == label &&
          e.status == status) {
        ++e.seen;
        ++c.deviations_by_reason["rule " + e.rule + " (" + std::string(ToString(status)) + ")"];
        return;
      }
    }
    FAIL_CHECK("unlisted deviation: " << file << " tc " << tc_id << " labelled " << label
                                      << (accepted ? " was accepted" : " was rejected")
                                      << " with status " << ToString(status)
                                      << (rule.empty() ? "" : ", rule ") << rule);
  }

  // Fails on every listed deviation that did not occur (or not as often as listed).
  void CheckNoStaleEntries() const {
    for (const CaseEntry& e : case_entries_) {
      if (e.seen != 1) {
        FAIL_CHECK("stale expectation: " << e.file << " tc " << e.tc_id
                                         << " no longer deviates from its label");
      }
    }
    for (const RuleEntry& e : rule_entries_) {
      if (e.seen != e.count) {
        FAIL_CHECK("expectation " << e.file << " rule " << e.rule << " (" << ToString(e.status)
                                  << ") lists " << e.count << " cases, " << e.seen
                                  << " deviated");
      }
    }
  }

  const Counts& counts(std::string_view file) const { return counts_.at(std::string(file)); }

  std::string Report(std::string_view file) const {
    const Counts& c = counts(file);
    std::ostringstream s;
    s << file << ": " << c.cases << " cases, " << c.agree() << " agree with the label ("
      << c.valid_accepted << " valid accepted, " << c.invalid_rejected << " invalid rejected, "
      << c.acceptable_accepted + c.acceptable_rejected << " acceptable: "
      << c.acceptable_accepted << " accepted, " << c.acceptable_rejected << " rejected), "
      << c.deviations << " listed deviations";
    for (const auto& [reason, n] : c.deviations_by_reason) s << "\n    " << n << " x " << reason;
    s << "\n  statuses:";
    for (const auto& [status, n] : c.statuses) s << " " << status << "=" << n;
    return s.str();
  }

 private:
  struct CaseEntry {
    std::string file;
    int64_t tc_id;
    std::string label;
    Status status;
    int seen = 0;
  };
  struct RuleEntry {
    std::string file;
    std::string rule;
    std::string label;
    Status status;
    int64_t count;
    int64_t seen = 0;
  };

  static Status ParseStatus(std::string_view name) {
    Status s = Status::kOk;
    if (!StatusFromString(name, &s)) FAIL("expectations.json: unknown status " << name);
    return s;
  }

  bool Handles(std::string_view file) const {
    for (const std::string& f : files_) {
      if (f == file) return true;
    }
    return false;
  }

  std::vector<std::string> files_;
  std::vector<CaseEntry> case_entries_;
  std::vector<RuleEntry> rule_entries_;
  std::map<std::string, Counts> counts_;
};

}  // namespace jwtgate::vectors

#endif  // JWTGATE_TESTS_UNIT_VECTOR_SUPPORT_H_
