#!/usr/bin/env bash
# End-to-end speed of `tessera run` (issues 6 and 7), run on demand:
#   bench/system_bench.sh [path/to/tessera]      (REPEAT=N: each case N times)
# Prints, for each run of each case, the wall and CPU seconds and the simulated time,
# so simulated-time-per-wall-second can be read off; with REPEAT > 1 also the median
# and the fastest wall time. On a shared machine compare runs made back to back (the
# same binary's time moved by 30 % within an hour on this project's hosts).
set -euo pipefail
bin=${1:-$(dirname "$0")/../build/apps/tessera}
repeat=${REPEAT:-1}
[[ $repeat =~ ^[1-9][0-9]*$ ]] || { echo "system_bench: REPEAT must be a positive integer" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT  # also when a run fails
run() {
  local name=$1; shift
  local t0 t1 i
  rm -f "$out/walls"
  for ((i = 1; i <= repeat; i++)); do
    rm -rf "$out/r"
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
open(out + "/walls", "a").write(f"{wall!r}\n")
PY
  done
  if ((repeat > 1)); then
    python3 -c 'import statistics, sys; w = [float(x) for x in open(sys.argv[2])]
print(f"{sys.argv[1]}: {len(w)} runs, median wall {statistics.median(w):.2f} s, fastest {min(w):.2f} s")' "$name" "$out/walls"
  fi
}
run "chiplet4, every tile on GEMMs streaming from HBM (gemm example)" --config chiplet4 --trace gemm
run "chiplet4, Llama-2-7B decode, batch 1, context 2048" --config chiplet4 \
  --trace gen:llama2-7b,phase=decode,batch=1,context=2048
