#!/usr/bin/env bash
# Verify against its floor, the build before this round (old) and after (new), in alternating
# rounds on one core. Usage: run.sh OLD_BINARY NEW_BINARY OUT_DIR [ROUNDS]
set -euo pipefail
old=$1 new=$2 out=$3 rounds=${4:-3}
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)
filter='BM_(Paired|Verify|Floor)/|BM_HeaderMix'
for r in $(seq 1 "$rounds"); do
  # Alternate which build goes first, so that a drift of the machine falls on both.
  if (( r % 2 )); then order="old new"; else order="new old"; fi
  for side in $order; do
    bin=$old; [[ $side == new ]] && bin=$new
    echo "round $r/$rounds: $side" >&2
    taskset -c 1 "$bin" --benchmark_filter="$filter" --benchmark_repetitions=3 \
      --benchmark_report_aggregates_only=true --benchmark_min_time=0.3 \
      --benchmark_out="$out/$side-$r.json" --benchmark_out_format=json >/dev/null
    python3 "$here/../../../scripts/verify_ratios.py" "$out/$side-$r.json" "$out/$side-${r}_ratios" >/dev/null
  done
done
