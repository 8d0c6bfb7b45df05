#!/bin/bash
# The revocation store's negative check against the bare filter at 10 M ids, one binary, on
# one core (taskset -c ${CORE:-1}), in ${ROUNDS:-5} rounds; each round runs the filter set and
# the store set as two processes, in alternating order. Summary: summarize.py.
#   BENCH=build-release/bench/revocation_bench results/2026-12-07-vm/revocation_store/run.sh
set -euo pipefail
BENCH=${BENCH:?the revocation_bench binary}
OUT=$(cd "$(dirname "$0")" && pwd)
FILTERS='BM_FilterNegative(Jti)?(Latency|Batch)?/10000000$|BM_StoreInput'
STORE='BM_StoreNegative(Latency|Batch)?/10000000$'
for r in $(seq 1 "${ROUNDS:-5}"); do
  if (( r % 2 )); then order="filter store"; else order="store filter"; fi
  for side in $order; do
    re=$FILTERS; [ "$side" = store ] && re=$STORE
    taskset -c "${CORE:-1}" "$BENCH" --benchmark_filter="$re" --benchmark_min_time=0.5 \
      --benchmark_format=json > "$OUT/$side.$r.json"
  done
  echo "round $r of ${ROUNDS:-5} done"
done
python3 "$OUT/summarize.py" "$OUT"
