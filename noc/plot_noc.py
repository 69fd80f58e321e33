#!/usr/bin/python3
"""Latency-throughput plots for docs/validation/noc.md from `tessera noc --sweep ... --format json`.

usage: plot_noc.py OUT_PREFIX label=sweep.json [label=sweep.json ...]
writes OUT_PREFIX.png and OUT_PREFIX.svg
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    out = sys.argv[1]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for arg in sys.argv[2:]:
        label, path = arg.split("=", 1)
        with open(path) as f:
            d = json.load(f)
        xs = [p["accepted_flits_per_node_cycle"] for p in d["points"]]
        ys = [p["avg_packet_latency_cycles"] for p in d["points"]]
        sat = d.get("saturation_rate")
        ax.plot(xs, ys, marker="o", ms=3, label=f"{label} (sat. {sat:.3f})" if sat else label)
    ax.set_xlabel("accepted throughput (flits/node/cycle)")
    ax.set_ylabel("average packet latency (cycles)")
    ax.set_ylim(0, 300)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out + ".png", dpi=110)
    fig.savefig(out + ".svg")


if __name__ == "__main__":
    main()
