#!/usr/bin/env python3
"""Charts of the benchmark results: one SVG per section of Benchmarks/results/results.json.

usage: Benchmarks/scripts/charts.py [--results FILE] [--out DIR] [--png DIR]
  --results FILE  the results (default Benchmarks/results/results.json; format in
                  Benchmarks/results/README.md)
  --out DIR       where the charts go (default Docs/benchmarks)
  --png DIR       also write each chart as a PNG into DIR (to look at; not committed)
Writes, per section, SECTION.svg: a horizontal bar chart per scenario (the median of each server,
its ratio to Parley's, and each run as a dot); and echo-latency.svg: the round-trip percentiles
of every echo scenario that has at least two. Prints the README's summary table.
Needs matplotlib: Benchmarks/scripts/charts.sh makes the virtual environment and runs this.
"""
import argparse, json, os, sys, textwrap

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

# The repository root: this file is Benchmarks/scripts/charts.py.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# One colour per kind of server, the same in every chart: Parley's own in blue, peers in grey
# and orange, variants of Parley in lighter blues.
COLOURS = {
    "Parley": "#3b5bdb", "ParleyClient": "#3b5bdb", "1,000 ParleyClients": "#3b5bdb", "1 node": "#3b5bdb",
    "ParleyClient emitWithAck": "#91a7ff", "Parley, one loop": "#748ffc", "Parley (Socket.IO)": "#4c6ef5",
    "Parley (Socket.IO), one loop": "#91a7ff", "3 nodes, same rate": "#5c7cfa", "3 nodes, own flow control": "#91a7ff",
    "Node ws": "#868e96", "wsload (C)": "#868e96", "1,000 wsload receivers": "#868e96",
    "python-socketio": "#f08c00",
}
FALLBACK = "#adb5bd"
# Bars are labelled with their multiple of the first result of their scenario (Parley's, or the
# baseline the scenario names first).
PERCENTILES = [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9")]

matplotlib.rcParams.update({
    "svg.fonttype": "none",          # text stays text: small files, selectable labels
    "svg.hashsalt": "parley",        # the same results give the same bytes
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
})


def number(value, unit):
    """A figure as read on a chart: three significant digits from 10,000 up."""
    if unit == "bytes":
        return f"{value:,.0f} B"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.2f} M"
    if value >= 100_000:
        return f"{value / 1000:,.0f} k"
    if value >= 10_000:
        return f"{value / 1000:.1f} k"
    return f"{value:,.0f}"


def tick(value, _position):
    if value >= 1_000_000:
        return f"{value / 1_000_000:g} M"
    if value >= 10_000:
        return f"{value / 1000:g} k"
    return f"{value:,.0f}"


def ratio_label(value, reference):
    """`value` as a multiple of the scenario's first result, e.g. "   (0.52x Parley)"."""
    if not reference["median"]:
        return ""
    return f"   ({value / reference['median']:.2f}x {reference['server']})"


def section_chart(section, path):
    scenarios = section["scenarios"]
    heights = [0.55 + 0.38 * len(s["results"]) for s in scenarios]
    figure, axes = plt.subplots(len(scenarios), 1, figsize=(8, 0.9 + sum(heights)),
                                gridspec_kw={"height_ratios": heights}, squeeze=False)
    figure.suptitle(section["title"], x=0.02, ha="left", fontsize=11, fontweight="bold")
    note = textwrap.fill(f"measured {section['measured']}: {section['conditions']}. Bars: medians; ticks: each run.", 120)
    figure.text(0.02, 1 - 0.42 / figure.get_figheight(), note, ha="left", va="top", fontsize=8, color="#495057")
    for axis, scenario in zip(axes[:, 0], scenarios):
        results = list(reversed(scenario["results"]))   # the first result on top
        names = [r["server"] for r in results]
        medians = [r["median"] for r in results]
        reference = scenario["results"][0]
        positions = range(len(results))
        axis.barh(positions, medians, height=0.62, color=[COLOURS.get(n, FALLBACK) for n in names])
        for position, result in zip(positions, results):
            runs = result.get("runs") or []
            axis.scatter(runs, [position] * len(runs), s=40, marker="|", color="#212529", alpha=0.75, zorder=3, linewidths=1.2)
        top = max(max(medians), max((max(r.get("runs") or [0]) for r in results)))
        axis.set_xlim(0, top * 1.6)
        for position, result in zip(positions, results):
            label = number(result["median"], scenario["unit"])
            if result is not scenario["results"][0] and len(scenario["results"]) > 1:
                label += ratio_label(result["median"], reference)
            end = max([result["median"]] + (result.get("runs") or []))
            axis.text(end + top * 0.03, position, label, va="center", fontsize=8)
        axis.set_yticks(list(positions), names)
        better = "higher is better" if scenario["better"] == "higher" else "lower is better"
        title = f"{scenario['title']} ({scenario['unit']}, {better})"
        if scenario.get("measured", section["measured"]) != section["measured"] or "conditions" in scenario:
            title += f"\nmeasured {scenario.get('measured', section['measured'])}: {scenario.get('conditions', '')}"
        axis.set_title(title, loc="left", fontsize=9)
        axis.tick_params(axis="y", length=0)
        axis.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(tick))
        axis.grid(axis="x", color="#e9ecef")
        axis.set_axisbelow(True)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.5 / figure.get_figheight()))
    figure.savefig(path, metadata={"Date": None})
    return figure


def latency_chart(results, path):
    """Round-trip percentiles of every echo scenario with at least two of them."""
    panels = []
    for section in results["sections"]:
        for scenario in section["scenarios"]:
            if not scenario["id"].startswith("echo"):
                continue
            lines = [r for r in scenario["results"] if len([k for k, _ in PERCENTILES if k in r.get("latency_us", {})]) >= 2]
            if lines:
                panels.append((section, scenario, lines))
    if not panels:
        return None
    figure, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels) + 0.6, 3.8), squeeze=False)
    figure.suptitle("Echo round trip by percentile (lower is better)", x=0.02, ha="left", fontsize=11, fontweight="bold")
    for axis, (section, scenario, lines) in zip(axes[0], panels):
        keys = [(k, label) for k, label in PERCENTILES if any(k in r["latency_us"] for r in lines)]
        for result in lines:
            points = [(i, result["latency_us"][k]) for i, (k, _) in enumerate(keys) if k in result["latency_us"]]
            colour = COLOURS.get(result["server"], FALLBACK)
            axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", color=colour, label=result["server"])
            for x, y in points:
                label = f"{y / 1000:.3g} ms" if y >= 1000 else f"{y:g} µs"
                axis.annotate(label, (x, y), textcoords="offset points", xytext=(6, -3), fontsize=7.5, color=colour)
        axis.set_xticks(range(len(keys)), [label for _, label in keys])
        axis.set_xlim(-0.3, len(keys) - 0.4)
        values = [r["latency_us"][k] for r in lines for k, _ in keys if k in r["latency_us"]]
        if max(values) > 20 * min(values):   # tails far above the median: a log scale shows both
            axis.set_yscale("log")
            axis.set_ylim(min(values) / 1.5, max(values) * 2)
        else:
            axis.set_ylim(0, max(values) * 1.2)
        axis.set_ylabel("round trip (µs)")
        measured = scenario.get("measured", section["measured"])
        axis.set_title(textwrap.fill(f"{section['title'].split(':')[0]}: {scenario['title']}, measured {measured}", 52),
                       loc="left", fontsize=8.5)
        axis.grid(axis="y", color="#e9ecef")
        axis.set_axisbelow(True)
        axis.legend(frameon=False, fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, metadata={"Date": None})
    return figure


def summary(results):
    """The README's table: the envelope section, Parley (its default loops, and one loop as
    the single-threaded peers run) against its peers."""
    section = next(s for s in results["sections"] if s["id"] == "envelope")
    lines = ["| scenario, measured " + section["measured"] + " | Parley | Parley, one loop | Node `ws` | python-socketio | Parley / `ws` | one loop / `ws` |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for scenario in section["scenarios"]:
        by_server = {r["server"]: r["median"] for r in scenario["results"]}
        unit = " B" if scenario["unit"] == "bytes" else ""
        names = ["Parley", "Parley, one loop", "Node ws", "python-socketio"]
        cells = [f"{by_server[name]:,.0f}{unit}" if name in by_server else "-" for name in names]
        for mine in ["Parley", "Parley, one loop"]:
            cells.append(f"**{by_server[mine] / by_server['Node ws']:.2f}x**" if mine in by_server else "-")
        lines.append(f"| {scenario['title']} ({scenario['unit']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=os.path.join(ROOT, "Benchmarks", "results", "results.json"))
    parser.add_argument("--out", default=os.path.join(ROOT, "Docs", "benchmarks"))
    parser.add_argument("--png", metavar="DIR")
    arguments = parser.parse_args()
    with open(arguments.results) as file:
        results = json.load(file)
    if results.get("format") != "parley-benchmark-results/1":
        sys.exit(f"{arguments.results}: not a parley-benchmark-results/1 file")
    os.makedirs(arguments.out, exist_ok=True)
    charts = [(section_chart, section, section["id"]) for section in results["sections"]]
    charts.append((latency_chart, results, "echo-latency"))
    for draw, data, name in charts:
        path = os.path.join(arguments.out, name + ".svg")
        figure = draw(data, path)
        if figure is None:
            continue
        if arguments.png:
            os.makedirs(arguments.png, exist_ok=True)
            figure.savefig(os.path.join(arguments.png, name + ".png"), dpi=110)
        plt.close(figure)
        print("wrote", os.path.relpath(path, ROOT))
    print()
    print(summary(results))


if __name__ == "__main__":
    main()
