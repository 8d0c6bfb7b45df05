// A temporary directory for one test, removed with everything in it when the test ends.
#ifndef JWTGATE_TESTS_UNIT_TEMP_DIR_H_
#define JWTGATE_TESTS_UNIT_TEMP_DIR_H_

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace jwtgate::test {

class TempDir {
 public:
  // Under the system's temporary directory, named "<prefix>-XXXXXX". mode: the directory's
  // permissions (mkdtemp makes it 0700).
  explicit TempDir(const std::string& prefix = "jwtgate-test", mode_t mode = 0700) {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
    if (mode != 0700) REQUIRE(chmod(path_.c_str(), mode) == 0);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `text` to the file `name` directly inside; returns its path.
  std::string Write(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
    REQUIRE(out.good());
    return p;
  }
  // A state directory inside (not created).
  std::string state() const { return path_ + "/state"; }
  std::string file(const std::string& name) const { return state() + "/" + name; }

 private:
  std::string path_;
};

}  // namespace jwtgate::test

#endif  // JWTGATE_TESTS_UNIT_TEMP_DIR_H_
