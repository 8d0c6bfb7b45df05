#!/usr/bin/python3
"""scripts/jwtgate_results.py, the module every results script reads through: medians and
spreads of Google Benchmark runs (aggregates, or repetitions without them), errors, benchmark
names, units; strategies.json rows; the /proc readings. Usage:
jwtgate_results_test.py SCRIPTS_DIR
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, sys.argv.pop(1) if len(sys.argv) > 1 else
                os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import jwtgate_results as jr  # noqa: E402


def rep(name, cpu, unit="ns", **counters):
    return dict(name=name, run_name=name, run_type="iteration", repetitions=3, cpu_time=cpu,
                real_time=cpu * 2, time_unit=unit, **counters)


def agg(name, which, cpu, unit="ns", **counters):
    return dict(name=f"{name}_{which}", run_name=name, run_type="aggregate", aggregate_name=which,
                repetitions=5, cpu_time=cpu, real_time=cpu * 2, time_unit=unit, **counters)


class BenchmarkJson(unittest.TestCase):
    def test_aggregates_win_over_repetitions(self):
        doc = {"benchmarks": [rep("BM_A/1", 10.0), rep("BM_A/1", 30.0), agg("BM_A/1", "median", 12.0),
                              agg("BM_A/1", "cv", 0.05)]}
        runs = jr.group_runs(doc)["BM_A/1"]
        self.assertEqual(runs.median_value(lambda b: jr.time_ns(b)), 12.0)
        self.assertEqual(runs.spread(lambda b: jr.time_ns(b)), 0.05)
        self.assertEqual(runs.median_entry()["cpu_time"], 12.0)

    def test_repetitions_without_aggregates(self):
        doc = {"benchmarks": [rep("BM_A/1", 10.0), rep("BM_A/1", 30.0), rep("BM_A/1", 20.0)]}
        runs = jr.group_runs(doc)["BM_A/1"]
        value = lambda b: jr.time_ns(b)  # noqa: E731
        self.assertEqual(runs.median_value(value), 20.0)
        self.assertAlmostEqual(runs.spread(value), 10.0 / 20.0)
        # The middle repetition by real_time (no items_per_second).
        self.assertEqual(runs.median_entry()["cpu_time"], 20.0)
        self.assertEqual(jr.median_entries(doc)["BM_A/1"]["cpu_time"], 20.0)
        self.assertEqual(jr.repetitions(doc), 3)

    def test_dict_figures_take_the_median_per_key(self):
        doc = {"benchmarks": [rep("BM_P", 1.0, ratio=1.0, v=5.0), rep("BM_P", 1.0, ratio=3.0, v=1.0),
                              rep("BM_P", 1.0, ratio=2.0, v=9.0)]}
        runs = jr.group_runs(doc)["BM_P"]
        self.assertEqual(runs.median_value(lambda b: {"ratio": b["ratio"], "v": b["v"]}),
                         {"ratio": 2.0, "v": 5.0})

    def test_one_repetition_has_no_spread(self):
        runs = jr.group_runs({"benchmarks": [rep("BM_A", 10.0)]})["BM_A"]
        self.assertIsNone(runs.spread(lambda b: jr.time_ns(b)))
        self.assertIsNone(runs.median_value(lambda b: b.get("missing")))

    def test_errors_are_kept_apart(self):
        doc = {"benchmarks": [dict(name="BM_E", run_name="BM_E", error_occurred=True,
                                   error_message="no key"), rep("BM_A", 1.0)]}
        self.assertEqual(jr.group_runs(doc)["BM_E"].error, "no key")
        self.assertNotIn("BM_E", jr.group_runs(doc, include_errors=False))
        self.assertEqual(list(jr.median_entries(doc)), ["BM_A"])

    def test_declared_repetitions_count_for_aggregates_only_output(self):
        doc = {"benchmarks": [agg("BM_A", "median", 1.0), agg("BM_A", "cv", 0.0)]}
        self.assertEqual(jr.repetitions(doc), 5)
        self.assertEqual(jr.repetitions({"benchmarks": []}), 1)

    def test_units_and_names(self):
        self.assertEqual(jr.time_ns(rep("x", 2.5, unit="us")), 2500.0)
        self.assertEqual(jr.time_ns(rep("x", 2.0, unit="s"), "real_time"), 4e9)
        self.assertIsNone(jr.time_ns(rep("x", 1.0, unit="fortnight")))
        self.assertIsNone(jr.time_ns({"time_unit": "ns"}))
        self.assertEqual(jr.split_run_name("BM_X/alg:2/rounds:31"), ("BM_X", ["alg:2", "rounds:31"]))
        self.assertEqual(jr.split_run_name("BM_X"), ("BM_X", []))
        self.assertEqual(jr.name_arg("BM_X/alg:2/rounds:31", "rounds"), 31)
        self.assertIsNone(jr.name_arg("BM_X/alg:2", "max_batch"))
        self.assertEqual(jr.run_name({"name": "BM_X/1_median", "run_name": "BM_X/1"}), "BM_X/1")
        self.assertEqual(jr.run_name({"name": "BM_X/1"}), "BM_X/1")

    def test_context_line(self):
        ctx = {"host_name": "vm", "num_cpus": 2, "mhz_per_cpu": 2000, "load_avg": [1.0, 0.5, 0.25],
               "openssl": "3.0", "library_build_type": "release"}
        self.assertEqual(jr.context_line(ctx), "vm, 2 CPUs, 2000 MHz, load average 1.0 0.5 0.2, "
                                               "openssl 3.0, libbenchmark built as release")

    def test_loading_refuses_what_is_not_benchmark_output(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.json")
            with self.assertRaisesRegex(jr.ResultsError, "cannot read"):
                jr.load_benchmark(path)
            for text in ("{not json", '{"context": {}}', '{"benchmarks": {}}', "[]"):
                with open(path, "w") as f:
                    f.write(text)
                with self.assertRaises(jr.ResultsError):
                    jr.load_benchmark(path)
            with open(path, "w") as f:
                f.write('{"benchmarks": {}}')
            with self.assertRaises(jr.NotBenchmarkError):
                jr.load_benchmark(path)
            with open(path, "w") as f:
                json.dump({"benchmarks": [rep("BM_A", 1.0)]}, f)
            self.assertEqual(len(jr.load_benchmark(path)["benchmarks"]), 1)


def strategies_row(key, status="ok", total=2.0, rps=1000.0, open_loop=None):
    return dict(key=key, status=status,
                closed_loop=dict(throughput_rps=rps, cpu_s_per_million=dict(bench=1.5, total=total)),
                open_loop=open_loop or [])


class StrategiesJson(unittest.TestCase):
    def test_rows(self):
        ol = [dict(offered_rps=750, fraction_of_max=0.75, latency_us=dict(p50=3, p99=9, mean=4)),
              dict(offered_rps=250, latency_us=dict(p50=1, p99=2, mean=1), saturated=True),
              dict(offered_rps=500, fraction_of_max=0.5, latency_us=dict(p50=2, p99=5, mean=2))]
        doc = {"strategies": [strategies_row("S1.HS256", open_loop=ol),
                              strategies_row("S5.postgresql.sync", status="skipped")]}
        s1 = jr.find_row(doc, "S1.HS256")
        self.assertIs(jr.find_row(doc["strategies"], "S1.HS256"), s1)
        self.assertIsNone(jr.find_row(doc, "S9"))
        self.assertTrue(jr.measured(s1))
        self.assertEqual(jr.cpu_us(s1), 2.0)
        self.assertEqual(jr.cpu_us(s1, "bench"), 1.5)
        self.assertIsNone(jr.cpu_us(s1, "redis-server"))
        self.assertEqual(jr.closed_rps(s1), 1000.0)
        skipped = jr.find_row(doc, "S5.postgresql.sync")
        self.assertFalse(jr.measured(skipped))
        self.assertIsNone(jr.cpu_us(skipped))
        self.assertIsNone(jr.closed_rps(skipped))
        self.assertEqual(jr.open_loop_near(s1)["offered_rps"], 500)
        pts = jr.open_loop_points(s1)
        # Sorted by fraction; the run without fraction_of_max gets offered / closed-loop rps.
        self.assertEqual([p["fraction"] for p in pts], [0.25, 0.5, 0.75])
        self.assertEqual((pts[0]["p99"], pts[0]["saturated"], pts[0]["errors"]), (2, True, 0))
        self.assertIsNone(jr.open_loop_near(strategies_row("S0")))

    def test_load_checks_schema_and_failed_runs(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "strategies.json")
            for doc, want in (({"schema": "other"}, "expected 'jwtgate.strategies/1'"),
                              ({"schema": jr.STRATEGIES_SCHEMA, "error": "exit 3"},
                               "the benchmark run failed: exit 3")):
                with open(path, "w") as f:
                    json.dump(doc, f)
                with self.assertRaisesRegex(jr.ResultsError, want):
                    jr.load_strategies(path)
            with open(path, "w") as f:
                json.dump({"schema": jr.STRATEGIES_SCHEMA, "strategies": []}, f)
            self.assertEqual(jr.load_strategies(path)["strategies"], [])


class Proc(unittest.TestCase):
    def test_this_process(self):
        me = os.getpid()
        t0 = time.process_time()
        while time.process_time() - t0 < 0.05:
            pass
        self.assertGreater(jr.cpu_seconds(me), 0)
        self.assertEqual(jr.parent_pid(me), os.getppid())
        self.assertGreater(jr.rss_kib(me), 0)
        self.assertGreaterEqual(jr.group_cpu([me, 2 ** 22 + 7]), jr.cpu_seconds(me) - 0.02)

    def test_children_and_gone_processes(self):
        child = subprocess.Popen(["sleep", "30"])
        try:
            self.assertIn(child.pid, jr.children_of(os.getpid()))
            with jr.ChildrenCpuSampler(os.getpid(), period=0.01) as sampler:
                time.sleep(0.05)
            self.assertIn(child.pid, sampler.last)
            self.assertGreaterEqual(sampler.seconds(), 0.0)
        finally:
            child.kill()
            child.wait()
        self.assertIsNone(jr.cpu_seconds(child.pid))
        self.assertIsNone(jr.parent_pid(child.pid))
        self.assertIsNone(jr.rss_kib(child.pid))
        self.assertNotIn(child.pid, jr.children_of(os.getpid()))


class Machine(unittest.TestCase):
    def test_description(self):
        info = jr.machine_info("scripts/bench --quick")
        self.assertEqual(info["command"], "scripts/bench --quick")
        self.assertEqual(info["cores"], os.cpu_count())
        for key in ("date_utc", "host", "cpu_model", "memory_gib", "kernel", "os", "compiler",
                    "git_commit", "git_dirty", "versions"):
            self.assertIn(key, info)
        self.assertIn("openssl", info["versions"])
        self.assertNotIn("command", jr.machine_info())


if __name__ == "__main__":
    unittest.main(verbosity=1)
