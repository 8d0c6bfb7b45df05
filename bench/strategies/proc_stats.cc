#include "proc_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace jwtgate::bench {
namespace {

// The fields after "(comm)" of /proc/<pid>/stat (comm may contain spaces and parentheses).
bool StatFields(int pid, std::vector<std::string>* fields) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return false;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 1));
  fields->clear();
  for (std::string f; rest >> f;) fields->push_back(f);
  return true;
}

long FieldKib(const std::string& path, const char* name) {
  std::ifstream in(path);
  const size_t len = std::strlen(name);
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, len, name) == 0) return std::strtol(line.c_str() + len, nullptr, 10);
  }
  return 0;
}

std::vector<int> Members(const ProcessGroup& g) {
  std::vector<int> pids = g.pids;
  if (g.children_of > 0) {
    for (int child : ChildrenOf(g.children_of)) {
      if (std::find(g.exclude.begin(), g.exclude.end(), child) == g.exclude.end() &&
          std::find(pids.begin(), pids.end(), child) == pids.end()) {
        pids.push_back(child);
      }
    }
  }
  return pids;
}

}  // namespace

double ProcessCpuSeconds(int pid) {
  std::vector<std::string> f;
  // After "(comm)": state(0) ppid(1) ... utime(11) stime(12).
  if (!StatFields(pid, &f) || f.size() < 13) return -1;
  static const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(std::strtoull(f[11].c_str(), nullptr, 10) +
                             std::strtoull(f[12].c_str(), nullptr, 10)) /
         tick;
}

ProcessMemory ReadProcessMemory(int pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  return {FieldKib(base + "/status", "VmRSS:"), FieldKib(base + "/smaps_rollup", "Pss:")};
}

int ParentPid(int pid) {
  std::vector<std::string> f;
  if (!StatFields(pid, &f) || f.size() < 2) return 0;
  return std::atoi(f[1].c_str());
}

std::vector<int> ChildrenOf(int ppid) {
  std::vector<int> out;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    if (ParentPid(static_cast<int>(pid)) == ppid) out.push_back(static_cast<int>(pid));
  }
  closedir(dir);
  return out;
}

std::map<std::string, double> SampleCpu(const std::vector<ProcessGroup>& groups) {
  std::map<std::string, double> out;
  for (const ProcessGroup& g : groups) {
    double sum = 0;
    for (int pid : Members(g)) sum += std::max(0.0, ProcessCpuSeconds(pid));
    out[g.name] = sum;
  }
  return out;
}

std::map<std::string, ProcessMemory> SampleMemory(const std::vector<ProcessGroup>& groups) {
  std::map<std::string, ProcessMemory> out;
  for (const ProcessGroup& g : groups) {
    ProcessMemory sum;
    for (int pid : Members(g)) {
      const ProcessMemory m = ReadProcessMemory(pid);
      sum.rss_kib += m.rss_kib;
      sum.pss_kib += m.pss_kib;
    }
    out[g.name] = sum;
  }
  return out;
}

}  // namespace jwtgate::bench
