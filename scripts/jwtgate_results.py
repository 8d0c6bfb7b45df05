"""Reading jwtgate's benchmark results: the one place the scripts parse them.

Used by scripts/verify_ratios.py, scripts/pipeline_ratios.py, scripts/strategies_summary.py,
scripts/daemon_summary.py, scripts/report, scripts/bench-strategies and scripts/machine-info.

- Google Benchmark JSON (the *_bench suites): `load_benchmark` reads a file, `group_runs`
  gathers its entries by run name (median and cv aggregates, repetitions, errors), and a
  `BenchmarkRuns` gives the median and the spread of any figure of one benchmark, from the
  aggregates when the run wrote them, else from the repetitions.
- strategies.json (scripts/bench-strategies, schema "jwtgate.strategies/1"): row look-up,
  CPU per request, closed-loop throughput and open-loop points of a row.
- The machine description every results directory carries (machine.json): `machine_info`.
- /proc: CPU time, parent and resident memory of a process, for the scripts that account for
  the servers they start (the C++ benchmarks have bench/common/proc_stats.h).

Standard library only: the scripts run under Debian's /usr/bin/python3.
"""

import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import threading

STRATEGIES_SCHEMA = "jwtgate.strategies/1"

TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


class ResultsError(Exception):
    """A results file that cannot be read, or is not what it should be."""


class NotBenchmarkError(ResultsError):
    """A JSON file that is not Google Benchmark output (no 'benchmarks' list)."""


def load_json(path):
    """The JSON document in `path`; ResultsError when it cannot be read or parsed."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ResultsError(f"cannot read {path}: {e}") from e


# ------------------------------------------------------------------------------------------
# Google Benchmark JSON


def is_benchmark_doc(doc):
    return isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list)


def load_benchmark(path):
    """A Google Benchmark JSON document. ResultsError when the file cannot be read,
    NotBenchmarkError when it holds no 'benchmarks' list."""
    doc = load_json(path)
    if not is_benchmark_doc(doc):
        raise NotBenchmarkError(f"{path} is not Google Benchmark JSON (no 'benchmarks' list)")
    return doc


def run_name(entry):
    """The benchmark an entry belongs to: 'BM_Verify/HS256' for its repetitions and its
    aggregates alike."""
    return entry.get("run_name") or entry.get("name", "")


def split_run_name(name):
    """'BM_CacheHit/alg:2/rounds:31' -> ('BM_CacheHit', ['alg:2', 'rounds:31'])."""
    base, *args = name.split("/")
    return base, args


def name_arg(name, key):
    """The integer value of a named benchmark argument ('alg' in 'BM_X/alg:2'), or None."""
    for part in name.split("/"):
        if part.startswith(key + ":"):
            return int(part.split(":", 1)[1])
    return None


def time_ns(entry, field="cpu_time"):
    """An entry's cpu_time or real_time in nanoseconds, whatever its time_unit; None when the
    entry lacks the field or has an unknown unit."""
    scale = TO_NS.get(entry.get("time_unit", "ns"))
    if scale is None or field not in entry:
        return None
    return float(entry[field]) * scale


class BenchmarkRuns:
    """Every entry of one benchmark (one run name) in a results file."""

    def __init__(self, name):
        self.name = name
        self.median = None       # the "median" aggregate entry, if the run wrote aggregates
        self.cv = None           # the "cv" aggregate entry (stddev / mean of every figure)
        self.repetitions = []    # the individual runs (run_type "iteration")
        self.error = None        # error_message of an entry that reported an error

    def median_entry(self, order=None):
        """The median aggregate; without one, the middle repetition after sorting them by
        `order` (default: items_per_second, else real_time)."""
        if self.median is not None:
            return self.median
        if not self.repetitions:
            return None
        order = order or (lambda b: b.get("items_per_second", b.get("real_time", 0)))
        runs = sorted(self.repetitions, key=order)
        return runs[len(runs) // 2]

    def median_value(self, value):
        """The median of `value(entry)` (a number, or a dict of numbers taken per key): from
        the median aggregate when the run has one and it holds the figure, else over the
        repetitions. None when no entry holds it."""
        if self.median is not None:
            v = value(self.median)
            if v is not None:
                return v
        return median_of(self.sample(value))

    def spread(self, value, cv_value=None):
        """The coefficient of variation (stddev / mean) of a figure over the repetitions: the
        cv aggregate's (`cv_value(cv_entry)`, default `value`) when present, else computed
        from `value` over the repetitions (at least two, positive mean). None otherwise."""
        if self.cv is not None:
            c = (cv_value or value)(self.cv)
            if c is not None:
                return float(c)
        values = self.sample(value)
        if len(values) > 1 and statistics.mean(values) > 0:
            return statistics.stdev(values) / statistics.mean(values)
        return None

    def sample(self, value):
        """`value(entry)` of every repetition that holds the figure."""
        return [v for v in (value(b) for b in self.repetitions) if v is not None]


def median_of(values):
    """statistics.median of numbers, or per key of dicts of numbers; None for no values."""
    if not values:
        return None
    if isinstance(values[0], dict):
        return {k: statistics.median(v[k] for v in values) for k in values[0]}
    return statistics.median(values)


def group_runs(doc, include_errors=True):
    """run name -> BenchmarkRuns, in the order the names first appear. An entry that reported
    an error only sets its benchmark's `error` (and only when include_errors)."""
    out = {}
    for b in doc.get("benchmarks", []):
        name = run_name(b)
        if b.get("error_occurred"):
            if include_errors:
                out.setdefault(name, BenchmarkRuns(name)).error = b.get("error_message", "error")
            continue
        runs = out.setdefault(name, BenchmarkRuns(name))
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                runs.median = b
            elif b.get("aggregate_name") == "cv":
                runs.cv = b
        else:
            runs.repetitions.append(b)
    return out


def median_entries(doc):
    """run name -> its median entry (the aggregate, else the middle repetition)."""
    out = {}
    for name, runs in group_runs(doc, include_errors=False).items():
        entry = runs.median_entry()
        if entry is not None:
            out[name] = entry
    return out


def repetitions(doc):
    """How many repetitions the run made: the most repetitions of one benchmark in the file,
    or the `repetitions` the entries declare (aggregates-only output), at least 1."""
    counts = [len(r.repetitions) for r in group_runs(doc).values()]
    declared = [int(b.get("repetitions", 1)) for b in doc.get("benchmarks", [])]
    return max(counts + declared + [1])


def context_line(ctx):
    """A Google Benchmark context as one line: host, CPUs, MHz, load, library versions."""
    parts = []
    if ctx.get("host_name"):
        parts.append(ctx["host_name"])
    if ctx.get("num_cpus"):
        parts.append(f"{ctx['num_cpus']} CPUs")
    if ctx.get("mhz_per_cpu"):
        parts.append(f"{ctx['mhz_per_cpu']} MHz")
    if ctx.get("load_avg"):
        parts.append("load average " + " ".join(f"{x:.1f}" for x in ctx["load_avg"]))
    for lib in ("openssl", "libsodium", "libjwt", "cpp-jwt"):
        if ctx.get(lib):
            parts.append(f"{lib} {ctx[lib]}")
    if ctx.get("library_build_type"):
        parts.append(f"libbenchmark built as {ctx['library_build_type']}")
    return ", ".join(parts)


# ------------------------------------------------------------------------------------------
# strategies.json


def load_strategies(path):
    """A strategies document (schema jwtgate.strategies/1); ResultsError when it is not one or
    records a failed run."""
    doc = load_json(path)
    if not isinstance(doc, dict) or doc.get("schema") != STRATEGIES_SCHEMA:
        schema = doc.get("schema") if isinstance(doc, dict) else None
        raise ResultsError(f"schema is {schema!r}, expected {STRATEGIES_SCHEMA!r}")
    if "error" in doc:
        raise ResultsError("the benchmark run failed: " + str(doc["error"]))
    return doc


def find_row(doc_or_rows, key):
    """The row with this key (whatever its status), or None. Takes a document (its
    "strategies") or a list of rows."""
    rows = doc_or_rows.get("strategies", []) if isinstance(doc_or_rows, dict) else doc_or_rows
    for r in rows or []:
        if r.get("key") == key:
            return r
    return None


def measured(row):
    """True for a row that ran ("ok", or "errors" with some requests answered)."""
    return bool(row) and row.get("status") in ("ok", "errors")


def cpu_us(row, group="total"):
    """CPU microseconds per request of one process group ("total": every process) in the
    row's closed-loop run; None when the row did not run or has no such group."""
    if not measured(row):
        return None
    return ((row.get("closed_loop") or {}).get("cpu_s_per_million") or {}).get(group)


def closed_rps(row):
    """Closed-loop (maximum) throughput of a row that ran, else None."""
    if not measured(row) or "closed_loop" not in row:
        return None
    return row["closed_loop"].get("throughput_rps")


def open_loop_near(row, fraction=0.5):
    """The open-loop run whose offered load is closest to `fraction` of the maximum."""
    runs = row.get("open_loop") or []
    if not runs:
        return None
    return min(runs, key=lambda o: abs(o.get("fraction_of_max", 0) - fraction))


def open_loop_points(row):
    """The row's open-loop runs as flat dicts (fraction, offered, achieved, p50, p99, p999,
    mean in us, saturated, errors, and the load generator's noise record or None), sorted by
    fraction of the maximum. A run without fraction_of_max gets offered / closed-loop
    throughput."""
    closed = (row.get("closed_loop") or {}).get("throughput_rps") or 0.0
    pts = []
    for p in row.get("open_loop") or []:
        lat = p.get("latency_us") or {}
        frac = p.get("fraction_of_max")
        if frac is None:
            frac = p.get("offered_rps", 0) / closed if closed else 0
        pts.append(dict(fraction=frac, offered=p.get("offered_rps", 0),
                        achieved=p.get("achieved_rps", 0), p50=lat.get("p50", 0),
                        p99=lat.get("p99", 0), p999=lat.get("p999", 0), mean=lat.get("mean", 0),
                        saturated=bool(p.get("saturated")), errors=p.get("errors") or 0,
                        noise=p.get("noise")))
    return sorted(pts, key=lambda p: p["fraction"])


# ------------------------------------------------------------------------------------------
# The machine description (machine.json)


def first_line(cmd, timeout=20):
    """The first line a command prints (stdout, else stderr), or None."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def mem_total_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def pkg_version(name):
    return first_line(["dpkg-query", "-W", "-f=${Version}", name])


def machine_info(command=None, repo=None):
    """The machine and the software versions a benchmark ran against (machine.json)."""
    repo = repo or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    info = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": mem_total_gib(),
        "kernel": platform.release(),
        "os": first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "compiler": first_line(["c++", "--version"]),
        "git_commit": first_line(["git", "-C", repo, "rev-parse", "HEAD"]),
        "git_dirty": bool(first_line(["git", "-C", repo, "status", "--porcelain",
                                      "--untracked-files=no"])),
        "versions": {
            "openssl": first_line(["openssl", "version"]),
            "libssl-dev": pkg_version("libssl-dev"),
            "libsodium": pkg_version("libsodium-dev"),
            "simdjson": pkg_version("libsimdjson-dev"),
            "tbb": pkg_version("libtbb-dev"),
            "liburing": pkg_version("liburing-dev"),
            "libjwt": pkg_version("libjwt-dev"),
            "cpp-jwt": pkg_version("libcpp-jwt-dev"),
            "redis": (first_line(["redis-server", "--version"])
                      if shutil.which("redis-server") else None),
            "postgresql": pkg_version("postgresql"),
            "sqlite": pkg_version("libsqlite3-dev"),
            "nginx": first_line(["nginx", "-v"]) if shutil.which("nginx") else None,
        },
    }
    if command:
        info["command"] = command
    return info


# ------------------------------------------------------------------------------------------
# /proc


def _stat_fields(pid):
    """The fields of /proc/<pid>/stat after "(comm)" (comm may hold spaces and parentheses):
    state is [0], ppid [1], utime [11], stime [12]. None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid):
    """utime + stime of a process (all its threads) in seconds, or None when it is gone.
    Resolution: one clock tick (1/SC_CLK_TCK s)."""
    f = _stat_fields(pid)
    try:
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (TypeError, IndexError, ValueError):
        return None


def parent_pid(pid):
    f = _stat_fields(pid)
    try:
        return int(f[1])
    except (TypeError, IndexError, ValueError):
        return None


def children_of(ppid):
    """Every process whose parent is `ppid`."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and parent_pid(int(d)) == ppid:
            out.append(int(d))
    return out


def group_cpu(pids):
    """CPU seconds of several processes together (those that are gone count 0)."""
    return sum(c for c in (cpu_seconds(p) for p in pids) if c is not None)


def rss_kib(pid):
    """VmRSS of a process in KiB, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class ChildrenCpuSampler:
    """CPU time of the children of `ppid` (a server's worker processes) over an interval,
    including children that start and exit within it (pgbench's backends): polls every
    `period` s and keeps each process's last reading, so at most `period` s of a process's
    CPU time before it exits is missed."""

    def __init__(self, ppid, period=0.05):
        self.ppid, self.period = ppid, period
        self.first, self.last = {}, {}
        self.started = False
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def sample(self):
        for pid in children_of(self.ppid):
            c = cpu_seconds(pid)
            if c is not None:
                self.first.setdefault(pid, 0.0 if self.started else c)
                self.last[pid] = c

    def run(self):
        while not self.stop_event.wait(self.period):
            self.sample()

    def __enter__(self):
        self.started = False
        self.sample()  # processes that exist already count from now
        self.started = True
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join()
        self.sample()

    def seconds(self):
        return sum(self.last[p] - self.first.get(p, 0.0) for p in self.last)
