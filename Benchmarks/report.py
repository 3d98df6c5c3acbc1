#!/usr/bin/env python3
"""The report of Benchmarks/run: a Markdown section for docs/benchmarks.md and an SVG bar
chart of each scenario's throughput as a share of /health/live in the same run.

Input: the run's results.tsv, one measurement a line:
    build, database, scenario, value, p50 ms, p99 ms, note
(value is req/s, orders/s, tps, ms or MB by scenario). Standard library only.

Usage: report.py RESULTS --builds B... --svg FILE --markdown FILE [--chart-link TEXT]
       [--command TEXT] [--products N] [--connections N] [--seconds N] [--runs N]
"""
import argparse
import datetime
import html
import os
import platform
import subprocess

DATABASES = ["SQLite", "PostgreSQL"]
# (key, label, unit): rows of the table, in order. Rates are compared with /health/live.
SCENARIOS = [
    ("health", "`GET /health/live` (no database)", "req/s"),
    ("list", "product list `GET /v1/products?limit=20`", "req/s"),
    ("search", "search `GET /v1/products?q=oak&limit=20`", "req/s"),
    ("detail_hit", "product detail, cache hit (same product)", "req/s"),
    ("detail_miss", "product detail, cache miss (every request another product)", "req/s"),
    ("me", "`GET /v1/me` (signed-in customer)", "req/s"),
    ("add_to_cart", "add to cart (3-line carts)", "req/s"),
    ("checkout", "checkout journey, **orders/s** (6 requests each)", "orders/s"),
    ("reads_during_checkout", "storefront reads while 8 shoppers check out", "req/s"),
    ("pgbench", "`pgbench -N -c32 -j2`, **tps**", "tps"),
    ("startup", "start-up to ready, **ms**", "ms"),
    ("rss", "RSS idle → peak under load, **MB**", "MB"),
]
CHARTED = ["list", "search", "detail_hit", "detail_miss", "me", "add_to_cart", "reads_during_checkout"]
SHORT = {
    "list": "product list",
    "search": "search",
    "detail_hit": "detail, cache hit",
    "detail_miss": "detail, cache miss",
    "me": "GET /v1/me",
    "add_to_cart": "add to cart",
    "reads_during_checkout": "reads during checkouts",
}


def load(path):
    data = {}
    with open(path) as file:
        for line in file:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                continue
            parts += [""] * (7 - len(parts))
            build, database, scenario, value, p50, p99, note = parts[:7]
            data[(build, database, scenario)] = {"value": value, "p50": p50, "p99": p99, "note": note}
    return data


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def thousands(text):
    value = number(text)
    if value is None:
        return text or ""
    return f"{value:,.0f}" if value >= 1000 else (f"{value:.0f}" if value == int(value) else f"{value:g}")


def share(data, build, database, scenario):
    """The scenario's rate as a share of /health/live, or None."""
    if scenario not in CHARTED:
        return None
    live = number(data.get((build, database, "health"), {}).get("value"))
    value = number(data.get((build, database, scenario), {}).get("value"))
    if not live or value is None:
        return None
    return value / live


def cells(data, build, database, scenario):
    """req/s, p50, p99, share of live."""
    entry = data.get((build, database, scenario))
    if scenario == "rss":
        idle = data.get((build, database, "rss_idle"), {}).get("value")
        load = data.get((build, database, "rss_load"), {}).get("value")
        return [f"{idle} → {load}" if idle or load else "", "", "", ""]
    if entry is None:
        return ["", "", "", ""]
    ratio = share(data, build, database, scenario)
    if scenario == "health":
        ratio = 1.0
    return [thousands(entry["value"]), entry["p50"], entry["p99"], f"{ratio * 100:.0f} %" if ratio is not None else ""]


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = "?"
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemTotal:"):
                    memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {memory}, {platform.system()} {platform.release()}"


def commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def table(data, build):
    lines = [
        "| scenario | SQLite req/s | p50 ms | p99 ms | of live | PostgreSQL req/s | p50 ms | p99 ms | of live |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label, _ in SCENARIOS:
        row = cells(data, build, "SQLite", key) + cells(data, build, "PostgreSQL", key)
        if not any(row):
            continue
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    return lines


def notes(data, build):
    lines = []
    for database in DATABASES:
        entry = data.get((build, database, "reads_during_checkout"))
        if entry and entry["note"]:
            ratio, _, orders = entry["note"].partition(";")
            hits = f"{ratio} % cache hits (from `/metrics`)" if ratio != "n/a" else "cache hit ratio n/a (this build has no cache counters in `/metrics`)"
            lines.append(f"- {database}, storefront reads while 8 shoppers check out: {hits}; the shoppers placed {orders} orders/s meanwhile.")
    orders = number(data.get((build, "PostgreSQL", "checkout"), {}).get("value"))
    tps = number(data.get((build, "PostgreSQL", "pgbench"), {}).get("value"))
    if orders is not None and tps:
        lines.append(f"- PostgreSQL checkout: {orders:.0f} orders/s is {100 * orders / tps:.1f} % of `pgbench -N` on the same server.")
    return lines


def comparison(data, before, after):
    lines = [
        f"| scenario | SQLite {before} | SQLite {after} | change | PostgreSQL {before} | PostgreSQL {after} | change |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label, _ in SCENARIOS:
        if key in ("pgbench", "rss"):
            continue
        row = []
        for database in DATABASES:
            old = number(data.get((before, database, key), {}).get("value"))
            new = number(data.get((after, database, key), {}).get("value"))
            change = f"{(new - old) / old * 100:+.0f} %" if old and new is not None else ""
            row += [thousands(str(old)) if old is not None else "", thousands(str(new)) if new is not None else "", change]
        if any(row):
            lines.append(f"| {label} | " + " | ".join(row) + " |")
    for field, label in (("rss_idle", "RSS idle, **MB**"), ("rss_load", "RSS peak under load, **MB**")):
        row = []
        for database in DATABASES:
            old = data.get((before, database, field), {}).get("value", "")
            new = data.get((after, database, field), {}).get("value", "")
            row += [old, new, ""]
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    return lines


def svg(data, builds, title):
    colours = {  # (baseline, current) per database
        "SQLite": ("#a9c0e6", "#3b6cc0"),
        "PostgreSQL": ("#f2c99b", "#d9731a"),
    }
    series = []  # (build, database, colour, legend)
    for index, build in enumerate(builds):
        for database in DATABASES:
            shade = colours[database][1 if index == len(builds) - 1 else 0]
            legend = database if len(builds) == 1 else f"{database}, {build}"
            series.append((build, database, shade, legend))
    bar, gap, label_width, plot_width = 14, 12, 200, 480
    values = [share(data, b, d, s) for s in CHARTED for b, d, _, _ in series]
    top = max([v for v in values if v is not None] + [1.0])
    top = (int(top * 4) + 1) / 4 if top > 1 else 1.0
    legend_height = 22 * ((len(series) + 1) // 2) + 8
    header = 40 + legend_height
    group = bar * len(series) + gap
    height = header + group * len(CHARTED) + 40
    width = label_width + plot_width + 70
    x0 = label_width

    def x(value):
        return x0 + plot_width * value / top

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">{html.escape(title)}</text>',
    ]
    for index, (_, _, colour, legend) in enumerate(series):
        lx = x0 + (index % 2) * 240
        ly = 38 + (index // 2) * 22
        out.append(f'<rect x="{lx}" y="{ly}" width="14" height="14" fill="{colour}"/>')
        out.append(f'<text x="{lx + 20}" y="{ly + 11}">{html.escape(legend)}</text>')
    bottom = header + group * len(CHARTED)
    step = 0.25
    tick = 0.0
    while tick <= top + 1e-9:
        tx = x(tick)
        out.append(f'<line x1="{tx:.1f}" y1="{header - 6}" x2="{tx:.1f}" y2="{bottom}" stroke="{"#888" if tick in (0, 1) else "#ddd"}"/>')
        out.append(f'<text x="{tx:.1f}" y="{bottom + 16}" text-anchor="middle" fill="#555">{tick * 100:.0f} %</text>')
        tick += step
    for row, scenario in enumerate(CHARTED):
        gy = header + row * group
        out.append(f'<text x="{x0 - 8}" y="{gy + bar * len(series) / 2 + 4}" text-anchor="end">{html.escape(SHORT[scenario])}</text>')
        for index, (build, database, colour, _) in enumerate(series):
            value = share(data, build, database, scenario)
            by = gy + index * bar
            if value is None:
                out.append(f'<text x="{x0 + 4}" y="{by + bar - 3}" fill="#999" font-size="10">n/a</text>')
                continue
            out.append(f'<rect x="{x0}" y="{by}" width="{max(x(value) - x0, 1):.1f}" height="{bar - 2}" fill="{colour}"/>')
            out.append(f'<text x="{x(value) + 4:.1f}" y="{by + bar - 4}" font-size="10">{value * 100:.0f} %</text>')
    out.append(f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle" fill="#555">'
               "throughput as a share of GET /health/live on the same database in the same run</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results")
    parser.add_argument("--builds", nargs="+", required=True, help="build labels, baseline first")
    parser.add_argument("--svg", required=True)
    parser.add_argument("--markdown", required=True)
    parser.add_argument("--chart-link", help="how the Markdown links the chart (default: the SVG's file name)")
    parser.add_argument("--command", default="Benchmarks/run")
    parser.add_argument("--products", default="10000")
    parser.add_argument("--connections", default="32")
    parser.add_argument("--seconds", default="10")
    parser.add_argument("--runs", default="1")
    args = parser.parse_args()
    data = load(args.results)
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    head = commit()
    builds = args.builds
    section = [
        "",
        f"## Benchmarks/run — {today}",
        "",
        f"Machine: {machine()}. Commit {head}; measured: " + ", ".join(f"`{build}`" for build in builds)
        + (" (the baseline built from its commit in a worktree, in the same run)." if len(builds) > 1 else "."),
        f"Command: `{args.command}`. {int(args.products):,} seeded products; wrk -t2 -c{args.connections} on the same machine"
        f" (the 8 shoppers beside the storefront reads: -t1 -c8); {args.seconds} s per measurement, median of {args.runs} run(s).",
        "Share of live: req/s as a share of `GET /health/live` on the same database in the same run.",
    ]
    for build in builds:
        section += [""]
        if len(builds) > 1:
            section += [f"### {build}", ""]
        section += table(data, build)
        extra = notes(data, build)
        if extra:
            section += [""] + extra
    if len(builds) > 1:
        section += ["", f"### {builds[0]} → {builds[-1]}", ""] + comparison(data, builds[0], builds[-1])
    link = args.chart_link or os.path.basename(args.svg)
    section += ["", f"![Throughput as a share of /health/live]({link})", ""]
    with open(args.markdown, "w") as file:
        file.write("\n".join(section))
    title = f"Share of /health/live, {today}, " + (" → ".join(builds) if len(builds) > 1 else builds[0])
    with open(args.svg, "w") as file:
        file.write(svg(data, builds, title))


if __name__ == "__main__":
    main()
