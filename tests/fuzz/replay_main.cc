// A main() for the fuzz targets without libFuzzer: runs LLVMFuzzerTestOneInput once over every
// file given, or every file of every directory given (not recursive), in name order. The corpus
// replay tests (ctest fuzz_replay_<target>) run it over tests/fuzz/corpus/<target>, so a
// regular build checks that every seed still runs clean. Exit status 0 when every input ran,
// 1 when no input was found or a file could not be read; a finding aborts.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg(argv[i]);
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      for (const fs::directory_entry& e : fs::directory_iterator(arg)) {
        if (e.is_regular_file()) inputs.push_back(e.path());
      }
    } else {
      inputs.push_back(arg);
    }
  }
  std::sort(inputs.begin(), inputs.end());
  if (inputs.empty()) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIR...  (no input found)\n", argv[0]);
    return 1;
  }
  for (const fs::path& p : inputs) {
    // A buffer of exactly the input's size, so that a read past the end is caught by ASan.
    std::error_code ec;
    const auto size = static_cast<size_t>(fs::file_size(p, ec));
    std::vector<uint8_t> data(ec ? 0 : size);
    std::ifstream in(p, std::ios::binary);
    if (ec || !in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(size))) {
      std::fprintf(stderr, "cannot read %s\n", p.c_str());
      return 1;
    }
    LLVMFuzzerTestOneInput(data.data(), data.size());
  }
  std::printf("ran %zu inputs\n", inputs.size());
  return 0;
}
