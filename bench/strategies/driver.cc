#include "driver.h"

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

namespace jwtgate::bench {
namespace {

int64_t NowNs() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void SleepUntilNs(int64_t t) noexcept {
  timespec ts;
  ts.tv_sec = t / 1'000'000'000;
  ts.tv_nsec = t % 1'000'000'000;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) != 0) {
  }
}

// splitmix64: a fast, well-mixed stream of request keys per thread.
struct KeyStream {
  uint64_t state;
  uint64_t Next() noexcept {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

struct ThreadOut {
  LatencyHistogram histogram;
  uint64_t requests = 0;
  uint64_t errors = 0;
  uint64_t unsent = 0;
};

std::map<std::string, double> CpuDelta(const std::map<std::string, double>& a,
                                       const std::map<std::string, double>& b) {
  std::map<std::string, double> d;
  for (const auto& [name, v] : b) {
    auto it = a.find(name);
    // A process of a group can exit between the samples; never report negative time.
    d[name] = std::max(0.0, v - (it != a.end() ? it->second : 0.0));
  }
  return d;
}

LoadResult Merge(std::vector<ThreadOut>& outs) {
  LoadResult r;
  for (ThreadOut& o : outs) {
    r.histogram.Merge(o.histogram);
    r.requests += o.requests;
    r.errors += o.errors;
    r.unsent += o.unsent;
  }
  return r;
}

enum Phase : int { kWait, kWarmup, kMeasure, kStop };

}  // namespace

LoadResult RunClosedLoop(std::vector<std::unique_ptr<Worker>>& workers, size_t batch,
                         const DriverOptions& options, const std::vector<ProcessGroup>& groups) {
  const size_t n = workers.size();
  std::vector<ThreadOut> outs(n);
  std::atomic<int> phase{kWait};
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t t = 0; t < n; ++t) {
    threads.emplace_back([&, t] {
      Worker& w = *workers[t];
      ThreadOut& out = outs[t];
      KeyStream keys{options.seed * 0x100000001b3ULL + t};
      std::vector<uint64_t> batch_keys(batch);
      while (phase.load(std::memory_order_acquire) == kWait) std::this_thread::yield();
      for (;;) {
        // Relaxed: the phase only decides whether a request is counted; the main thread's
        // samples are taken around the stores, not synchronised with each request.
        const int p = phase.load(std::memory_order_relaxed);
        if (p == kStop) break;
        for (uint64_t& k : batch_keys) k = keys.Next();
        const int64_t t0 = NowNs();
        const size_t ok = w.Handle(batch_keys.data(), batch);
        const int64_t t1 = NowNs();
        if (p == kMeasure && phase.load(std::memory_order_relaxed) == kMeasure) {
          out.histogram.RecordN(static_cast<uint64_t>(t1 - t0), batch);
          out.requests += batch;
          out.errors += batch - ok;
        }
      }
    });
  }
  phase.store(kWarmup, std::memory_order_release);
  const int64_t start = NowNs();
  SleepUntilNs(start + static_cast<int64_t>(options.warmup_s * 1e9));
  if (options.on_measure_start) options.on_measure_start();
  const NoiseSample noise0 = SampleNoise(groups);
  const int64_t m0 = NowNs();
  phase.store(kMeasure, std::memory_order_release);
  SleepUntilNs(m0 + static_cast<int64_t>(options.duration_s * 1e9));
  phase.store(kStop, std::memory_order_release);
  const int64_t m1 = NowNs();
  const NoiseSample noise1 = SampleNoise(groups);
  for (std::thread& th : threads) th.join();

  LoadResult r = Merge(outs);
  r.open_loop = false;
  r.window_s = static_cast<double>(m1 - m0) / 1e9;
  r.achieved_rps = r.window_s > 0 ? static_cast<double>(r.requests) / r.window_s : 0;
  r.cpu_s = CpuDelta(noise0.cpu_s, noise1.cpu_s);
  r.noise = NoiseBetween(noise0, noise1, r.window_s);
  return r;
}

LoadResult RunOpenLoop(std::vector<std::unique_ptr<Worker>>& workers, size_t batch, double rate_rps,
                       const DriverOptions& options, const std::vector<ProcessGroup>& groups) {
  const size_t n = workers.size();
  std::vector<ThreadOut> outs(n);
  // Per thread: one request every `interval` ns, thread t shifted by t/n of an interval, so
  // the merged schedule is evenly spaced at `rate_rps`.
  const double interval = 1e9 * static_cast<double>(n) / rate_rps;
  const int64_t begin = NowNs() + 20'000'000;  // time for the threads to start
  const int64_t measure_begin = begin + static_cast<int64_t>(options.warmup_s * 1e9);
  const int64_t end = measure_begin + static_cast<int64_t>(options.duration_s * 1e9);
  const int64_t give_up = end + static_cast<int64_t>(options.drain_limit_s * 1e9);

  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t t = 0; t < n; ++t) {
    threads.emplace_back([&, t] {
      prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
      Worker& w = *workers[t];
      ThreadOut& out = outs[t];
      KeyStream keys{options.seed * 0x100000001b3ULL + 0x5bd1e995ULL * (t + 1)};
      std::vector<uint64_t> batch_keys(batch);
      const double offset = interval * static_cast<double>(t) / static_cast<double>(n);
      auto intended = [&](uint64_t k) {
        return begin + static_cast<int64_t>(offset + interval * static_cast<double>(k));
      };
      uint64_t k = 0;
      for (;;) {
        const int64_t due = intended(k);
        if (due >= end) break;
        int64_t now = NowNs();
        if (now >= give_up) {
          // Behind by more than the drain limit: record what is left as unsent, with the
          // time it has waited so far.
          for (; intended(k) < end; ++k) {
            const int64_t tk = intended(k);
            if (tk >= measure_begin) {
              out.histogram.Record(static_cast<uint64_t>(now - tk));
              ++out.unsent;
            }
          }
          break;
        }
        if (due > now) {
          SleepUntilNs(due);
          now = NowNs();
        }
        size_t b = 1;
        while (b < batch && intended(k + b) <= now && intended(k + b) < end) ++b;
        for (size_t i = 0; i < b; ++i) batch_keys[i] = keys.Next();
        const size_t ok = w.Handle(batch_keys.data(), b);
        const int64_t done = NowNs();
        size_t failed = b - ok;
        for (size_t i = 0; i < b; ++i) {
          const int64_t tk = intended(k + i);
          if (tk < measure_begin) continue;
          out.histogram.Record(static_cast<uint64_t>(std::max<int64_t>(0, done - tk)));
          ++out.requests;
          // Failures are not attributed to a position in the batch; count them once.
          if (failed > 0) {
            ++out.errors;
            --failed;
          }
        }
        k += b;
      }
    });
  }
  SleepUntilNs(measure_begin);
  const NoiseSample noise0 = SampleNoise(groups);
  SleepUntilNs(end);
  const NoiseSample noise1 = SampleNoise(groups);
  for (std::thread& th : threads) th.join();

  LoadResult r = Merge(outs);
  r.open_loop = true;
  r.offered_rps = rate_rps;
  r.window_s = static_cast<double>(end - measure_begin) / 1e9;
  r.achieved_rps = static_cast<double>(r.requests) / r.window_s;
  r.cpu_s = CpuDelta(noise0.cpu_s, noise1.cpu_s);
  r.noise = NoiseBetween(noise0, noise1, r.window_s);
  return r;
}

}  // namespace jwtgate::bench
