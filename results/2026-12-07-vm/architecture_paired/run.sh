#!/bin/bash
# Interleaved rounds: before (1280e29) and after (arch HEAD), same build type (RelWithDebInfo).
set -e
B=${BEFORE:?the before build's bench folder}; A=${AFTER:?the after build's bench folder}
VF='BM_(Verify|VerifyReject|Floor)/(HS256|RS256|ES256|EdDSA)$'
RF='BM_(StoreNegative|StoreNegativeBatch|FilterNegativeBatch)/10000000'
for r in 1 2 3 4 5; do
  if (( r % 2 )); then order="before after"; else order="after before"; fi
  for side in $order; do
    d=$B; [ $side = after ] && d=$A
    $d/verify_bench --benchmark_filter="$VF" --benchmark_min_time=0.3 --benchmark_format=json > verify.$side.$r.json 2>/dev/null
    $d/revocation_bench --benchmark_filter="$RF" --benchmark_min_time=0.3 --benchmark_format=json > revocation.$side.$r.json 2>/dev/null
  done
  echo round $r done
done
