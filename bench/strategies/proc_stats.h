// Per-process CPU time and memory from /proc, for "CPU seconds per million requests for every
// process involved" (the benchmark process, redis-server, PostgreSQL backends and the rest of
// the PostgreSQL server).
//
// CPU time is utime + stime of /proc/<pid>/stat (all threads of the process), in clock ticks of
// 1/sysconf(_SC_CLK_TCK) s (10 ms on Linux): over a measurement of a few seconds the error is
// below 1 %. Memory is VmRSS from /proc/<pid>/status and Pss from /proc/<pid>/smaps_rollup
// (resident memory with shared pages divided among their sharers: PostgreSQL's shared buffers
// appear in every backend's RSS but only once in the sum of Pss).
#ifndef JWTGATE_BENCH_STRATEGIES_PROC_STATS_H_
#define JWTGATE_BENCH_STRATEGIES_PROC_STATS_H_

#include <map>
#include <string>
#include <vector>

namespace jwtgate::bench {

// CPU seconds (user + system) consumed so far by `pid`; a negative value when it is gone.
double ProcessCpuSeconds(int pid);

struct ProcessMemory {
  long rss_kib = 0;
  long pss_kib = 0;  // 0 when smaps_rollup is unreadable
};
ProcessMemory ReadProcessMemory(int pid);

// The parent of `pid` (field 4 of /proc/<pid>/stat), or 0.
int ParentPid(int pid);
// Every process whose parent is `ppid`.
std::vector<int> ChildrenOf(int ppid);

// A named group of processes whose CPU time is measured together, e.g. "redis-server" or
// "postgres backends". `children_of` > 0 adds, at each sample, every child of that process
// not listed in `exclude` (the PostgreSQL server's other processes: checkpointer, WAL writer,
// autovacuum ...).
struct ProcessGroup {
  std::string name;
  std::vector<int> pids;
  int children_of = 0;
  std::vector<int> exclude;
};

// CPU seconds per group at one instant.
std::map<std::string, double> SampleCpu(const std::vector<ProcessGroup>& groups);
// Memory per group (sums over the group's processes).
std::map<std::string, ProcessMemory> SampleMemory(const std::vector<ProcessGroup>& groups);

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_PROC_STATS_H_
