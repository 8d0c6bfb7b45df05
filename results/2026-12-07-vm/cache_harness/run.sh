#!/usr/bin/env bash
# The verified-token cache: the strategies harness's S7 rows against the micro benchmark at the
# same working set (10,000 HS256 tokens, 1 M revoked ids), in alternating rounds on one core.
# Usage: run.sh BUILD_DIR OUT_DIR [ROUNDS]
set -euo pipefail
build=$1 out=$2 rounds=${3:-5}
mkdir -p "$out"
micro() {
  taskset -c 1 "$build/bench/pipeline_bench" \
    --benchmark_filter='BM_CacheHitWorkingSet/tokens:10000/' --benchmark_min_time=0.5 \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_out="$out/micro-$1.json" --benchmark_out_format=json >/dev/null
}
harness() {  # $1 round, $2 subject watermarks
  taskset -c 1 "$build/bench/strategies/jwtgate-bench" strategies --rows S7 -t 1 --closed-only \
    --repetitions 3 -d 2 --revoked 1000000 --watermarks "$2" --quiet \
    --out "$out/harness-w$2-$1.json"
}
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds" >&2
  # Rotate the order, so that a drift of the machine falls on every side.
  case $((r % 3)) in
    1) micro "$r"; harness "$r" 0; harness "$r" 1000 ;;
    2) harness "$r" 0; harness "$r" 1000; micro "$r" ;;
    0) harness "$r" 1000; micro "$r"; harness "$r" 0 ;;
  esac
done
