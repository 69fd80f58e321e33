#!/usr/bin/env python3
"""Stands in for `tessera run` in the sweep tests: takes the same arguments, writes the
same files, and derives made-up but deterministic metrics from the --set values, so the
sweep machinery (workers, store, resume, MPI) is tested without simulating anything.
A --set value containing 'boom' makes it fail with exit 1 and a one-line error.
FAKE_RUN_LOG: append one line per invocation (the point's --out); FAKE_RUN_ARGV_LOG: the
same with its whole argument list; FAKE_RUN_SLEEP: seconds.
"""
import json
import os
import sys
import time

args = sys.argv[1:]
assert args and args[0] == "run", args
sets, out, trace, config = [], None, "", ""
i = 1
while i < len(args):
    a = args[i]
    if a in ("--set", "--out", "--trace", "--config", "--format"):
        v = args[i + 1]
        if a == "--set":
            sets.append(v)
        elif a == "--out":
            out = v
        elif a == "--trace":
            trace = v
        elif a == "--config":
            config = v
        i += 2
    else:
        i += 1
if os.environ.get("FAKE_RUN_LOG"):
    with open(os.environ["FAKE_RUN_LOG"], "a") as f:
        f.write(os.path.basename(out) + "\n")
if os.environ.get("FAKE_RUN_ARGV_LOG"):
    with open(os.environ["FAKE_RUN_ARGV_LOG"], "a") as f:
        f.write(" ".join(args) + "\n")
time.sleep(float(os.environ.get("FAKE_RUN_SLEEP", "0")))
if any("boom" in s for s in sets):
    sys.stderr.write("fake run: exploded on purpose\n")
    sys.exit(1)
h = 0
for s in sets + [trace, config]:
    for c in s.encode():
        h = (h * 131 + c) % 1000003
report = {"machine": config, "workload": trace, "sim_time_s": (h % 997 + 1) * 1e-6,
          "tflops": (h % 89) / 7.0, "energy_j": (h % 113) * 1e-3, "avg_power_w": 12.5}
os.makedirs(out, exist_ok=True)
for name, text in (("config.resolved.yaml", "\n".join(sets) + "\n"),
                   ("stats.json", "{}\n"), ("stats.csv", "name,value\n"),
                   ("ops.csv", "op\n"), ("report.json", json.dumps(report) + "\n")):
    with open(os.path.join(out, name), "w") as f:
        f.write(text)
print(json.dumps(report))
