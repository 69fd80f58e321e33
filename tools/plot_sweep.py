#!/usr/bin/env python3
"""Charts of a Tessera sweep, driven by `tessera plot` (also runnable by hand).

Usage: plot_sweep.py SPEC.json
SPEC: {"csv": results.csv, "out": folder, "title": str, "axes": [columns],
       "plots": [{"type": "line"|"pareto", "x": col, "y": col, "series": col}, ...]}
A line plot draws metric y against axis x with one line per value of `series` (and of
any other axis that varies). A Pareto plot scatters every point in (x, y) and joins the
points no other point beats in both metrics. Writes PNG and SVG per plot.
"""
import csv
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HIGHER_IS_BETTER = {"tokens_per_s", "tflops"}


def as_number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def slug(text):
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def default_plots(axes, metrics):
    varying = [a for a in axes if a != "workload"] or axes
    x = varying[0]
    series = varying[1] if len(varying) > 1 else ""
    plots = [{"type": "line", "x": x, "y": m, "series": series}
             for m in ("tokens_per_s", "sim_time_s", "energy_j") if m in metrics][:2]
    if "tokens_per_s" in metrics and "joules_per_token" in metrics:
        plots.append({"type": "pareto", "x": "tokens_per_s", "y": "joules_per_token"})
    elif "sim_time_s" in metrics and "energy_j" in metrics:
        plots.append({"type": "pareto", "x": "sim_time_s", "y": "energy_j"})
    return plots


def line_plot(ax, rows, axes, x, y, series):
    # Another axis splits the lines only when it varies at a fixed (x, series): an axis
    # tied to x by a filter (cols == rows) or a zip adds nothing.
    def varies(a):
        seen = {}
        for r in rows:
            key = (r[x], r[series] if series else "")
            if seen.setdefault(key, r[a]) != r[a]:
                return True
        return False

    others = [a for a in axes if a not in (x, series) and varies(a)]
    numeric_x = all(as_number(r[x]) is not None for r in rows)
    cats = []
    if not numeric_x:
        for r in rows:
            if r[x] not in cats:
                cats.append(r[x])
    groups = {}
    for r in rows:
        label = ", ".join(([f"{series}={r[series]}"] if series else []) +
                          [f"{o}={r[o]}" for o in others])
        groups.setdefault(label, []).append(r)
    for label, rs in groups.items():
        pts = sorted(((as_number(r[x]) if numeric_x else cats.index(r[x]), as_number(r[y]))
                      for r in rs if as_number(r[y]) is not None))
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label or y)
    if numeric_x:
        xs = sorted({as_number(r[x]) for r in rows})
        if len(xs) > 2 and xs[0] > 0 and xs[-1] / xs[0] >= 8:
            ax.set_xscale("log", base=2)
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{v:g}" for v in xs])
    else:
        ax.set_xticks(range(len(cats)))
        ax.set_xticklabels(cats)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if len(groups) > 1 or any(groups):
        ax.legend(fontsize="small")


def pareto_plot(ax, rows, axes, x, y):
    pts = []
    for r in rows:
        vx, vy = as_number(r[x]), as_number(r[y])
        if vx is not None and vy is not None:
            label = ", ".join(r[a] for a in axes if len({q[a] for q in rows}) > 1)
            pts.append((vx, vy, label))
    sx = 1 if x in HIGHER_IS_BETTER else -1  # +1: larger is better
    sy = 1 if y in HIGHER_IS_BETTER else -1

    def beats(a, b):
        return (sx * a[0] >= sx * b[0] and sy * a[1] >= sy * b[1] and
                (a[0], a[1]) != (b[0], b[1]))

    front = sorted((p for p in pts if not any(beats(q, p) for q in pts)), key=lambda p: p[0])
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="tab:gray", label="all points")
    ax.plot([p[0] for p in front], [p[1] for p in front], color="tab:red", marker="o",
            label="Pareto front")
    for p in front:
        ax.annotate(p[2], (p[0], p[1]), fontsize="x-small", xytext=(4, 4),
                    textcoords="offset points")
    ax.set_xlabel(f"{x} ({'higher' if sx > 0 else 'lower'} is better)")
    ax.set_ylabel(f"{y} ({'higher' if sy > 0 else 'lower'} is better)")
    ax.legend(fontsize="small")


def main():
    spec = json.load(open(sys.argv[1]))
    with open(spec["csv"], newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("status") == "ok"]
    if not rows:
        sys.exit(f"{spec['csv']}: no finished points to plot")
    axes = [a for a in spec["axes"] if a in rows[0]]
    metrics = [c for c in rows[0] if c not in axes and c not in ("point", "status", "error")]
    plots = spec.get("plots") or default_plots(axes, metrics)
    os.makedirs(spec["out"], exist_ok=True)
    plt.rcParams["svg.hashsalt"] = "tessera"
    for p in plots:
        for col in (p["x"], p["y"], p.get("series") or p["x"]):
            if col not in rows[0]:
                sys.exit(f"plot {p['type']} {p['y']} vs {p['x']}: no column '{col}' in "
                         f"{spec['csv']} (columns: {', '.join(rows[0])})")
        fig, ax = plt.subplots(figsize=(7, 4.5))
        if p["type"] == "pareto":
            pareto_plot(ax, rows, axes, p["x"], p["y"])
            name = f"pareto_{slug(p['y'])}_vs_{slug(p['x'])}"
        else:
            line_plot(ax, rows, axes, p["x"], p["y"], p.get("series", ""))
            name = f"{slug(p['y'])}_vs_{slug(p['x'])}"
        ax.set_title(spec.get("title", ""), fontsize="medium")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        for ext in ("png", "svg"):
            path = os.path.join(spec["out"], f"{name}.{ext}")
            fig.savefig(path, dpi=120, metadata={"Date": None} if ext == "svg" else None)
            print(path)
        plt.close(fig)


if __name__ == "__main__":
    main()
