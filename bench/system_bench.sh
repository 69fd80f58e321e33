#!/usr/bin/env bash
# End-to-end speed of `tessera run` (issues 6 and 7), run on demand:
#   bench/system_bench.sh [path/to/tessera]
# Prints, for each case, the wall and CPU seconds and the simulated time, so
# simulated-time-per-wall-second can be read off. On a shared machine compare runs
# made back to back; CPU seconds are the steadier figure.
set -euo pipefail
bin=${1:-$(dirname "$0")/../build/apps/tessera}
run() {
  local name=$1; shift
  local out; out=$(mktemp -d)
  local t0 t1 c0 c1
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$out/cpu" "$bin" run -q --format json --out "$out/r" "$@" > "$out/report.json"
  t1=$(date +%s.%N)
  python3 - "$name" "$t0" "$t1" "$out" <<'PY'
import json, sys
name, t0, t1, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
r = json.load(open(out + "/report.json"))
u, s = map(float, open(out + "/cpu").read().split())
wall = t1 - t0
print(f"{name}: wall {wall:.2f} s, cpu {u+s:.2f} s, simulated {r['sim_time_s']*1e3:.3f} ms "
      f"({r['sim_time_s']/wall*1e6:.1f} simulated us per wall s), whole workload "
      f"{r['total_time_s']*1e3:.3f} ms{' (estimated)' if r['time_estimated'] else ''}")
PY
  rm -rf "$out"
}
run "chiplet4, every tile on GEMMs streaming from HBM (gemm example)" --config chiplet4 --trace gemm
run "chiplet4, Llama-2-7B decode, batch 1, context 2048" --config chiplet4 \
  --trace gen:llama2-7b,phase=decode,batch=1,context=2048
