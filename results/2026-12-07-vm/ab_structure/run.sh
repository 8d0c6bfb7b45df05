#!/usr/bin/env bash
# Interleaved A/B of verify_bench and revocation_bench: OLD_DIR and NEW_DIR hold the two
# builds' bench/ folders (Release, -DJWTGATE_BUILD_BENCH=ON). Every round runs old, then new,
# pinned to CPU 1. Writes v_<side>_<round>.json and r_<side>_<round>.json here.
set -euo pipefail
OLD_DIR=${1:?old bench dir}; NEW_DIR=${2:?new bench dir}
for round in 1 2 3 4 5; do
  for side in old new; do
    dir=$OLD_DIR; [ "$side" = new ] && dir=$NEW_DIR
    taskset -c 1 "$dir/verify_bench" --benchmark_filter='^BM_Verify/(HS256|RS256|ES256|EdDSA)$' \
      --benchmark_min_time=0.3 --benchmark_format=json >"v_${side}_${round}.json"
  done
done
for round in 1 2 3 4 5 6 7; do
  for side in old new; do
    dir=$OLD_DIR; [ "$side" = new ] && dir=$NEW_DIR
    taskset -c 1 "$dir/revocation_bench" \
      --benchmark_filter='^BM_(FilterNegative|StoreNegative)/10000000$' \
      --benchmark_min_time=1 --benchmark_format=json >"r_${side}_${round}.json"
  done
done
