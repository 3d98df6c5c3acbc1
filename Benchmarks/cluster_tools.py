#!/usr/bin/env python3
"""Helpers of Benchmarks/cluster: what bash does badly. Python 3 standard library only.

    cluster_tools.py rotation DIR N          the first N nodes in HAProxy's rotation, the rest in maintenance
    cluster_tools.py snapshot DIR            CPU time so far of each part (ms) and the catalog caches' hits
                                             and misses, summed over the nodes: one JSON line
    cluster_tools.py statements DIR on|off   every statement in the primary's log, or not (ALTER SYSTEM)
    cluster_tools.py count DIR OFFSET        statements and BEGINs in the primary's log after byte OFFSET
    cluster_tools.py sizes DIR               the database's size, each table's and the number of orders: JSON
    cluster_tools.py growth BEFORE AFTER     bytes per order between two `sizes`, and the tables that grew most
    cluster_tools.py report TSV              the markdown tables of a run (Benchmarks/cluster writes TSV)
"""

import json
import os
import re
import sys
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from cluster_procs import Cluster  # noqa: E402

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def cpu_ms(pid, children=False):
    """User + system time of `pid` (with its waited-for children's when asked), in ms."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is the state (field 3): utime is field 14, stime 15, cutime 16, cstime 17.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks * TICK_MS


def children_of(parent):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == parent:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


def postgres_ms(c, name):
    """The postmaster, its backends and helpers, and those that have exited (cutime)."""
    pid = c.running(name)
    if not pid:
        return 0.0
    return cpu_ms(pid, children=True) + sum(cpu_ms(child) for child in children_of(pid))


def cache_counts(c):
    hits = misses = 0.0
    for node in c.nodes:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{node['port']}/metrics", timeout=5) as response:
                text = response.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            match = re.match(r"^emporium_catalog_cache_(hits|misses)_total(\{[^}]*\})?\s+([0-9.eE+-]+)", line)
            if match:
                if match.group(1) == "hits":
                    hits += float(match.group(3))
                else:
                    misses += float(match.group(3))
    return hits, misses


def machine_busy_ms():
    """CPU time the whole machine has spent busy, all cores (/proc/stat: not idle, not iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) * TICK_MS


def snapshot(c):
    hits, misses = cache_counts(c)
    return {
        "machine": machine_busy_ms(),
        # Benchmarks/cluster's own finished children (wrk, curl, these tools) sum up in its cutime.
        "load": cpu_ms(os.getppid(), children=True) - cpu_ms(os.getppid()),
        "nodes": sum(cpu_ms(c.running(n["name"])) for n in c.nodes if c.running(n["name"])),
        "haproxy": cpu_ms(c.running("haproxy")) if c.running("haproxy") else 0.0,
        "primary": postgres_ms(c, "pg-primary"),
        "replica": postgres_ms(c, "pg-replica"),
        "hits": hits, "misses": misses,
        "wal": int(c.psql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")),
    }


def statements(c, on):
    setting = "ALTER SYSTEM SET log_statement = 'all'" if on else "ALTER SYSTEM RESET log_statement"
    c.psql(setting)
    c.psql("SELECT pg_reload_conf()")
    return os.path.getsize(c.path("pg-primary", "server.log"))


def count(c, offset):
    """Statements logged after `offset`: simple queries ("statement: ...") and executions of
    prepared ones ("execute NAME: ..."); BEGINs count the explicit transactions."""
    total = begins = 0
    with open(c.path("pg-primary", "server.log"), "rb") as f:
        f.seek(offset)
        for line in f:
            text = line.decode("utf-8", "replace")
            match = re.search(r"LOG:\s+(statement|execute [^:]*):\s*(.*)", text)
            if match:
                total += 1
                if match.group(2).strip().upper().startswith(("BEGIN", "START TRANSACTION")):
                    begins += 1
    return total, begins


def sizes(c):
    tables = c.psql("SELECT string_agg(relname || '=' || pg_total_relation_size(relid), ' ') FROM pg_stat_user_tables")
    return {"database": int(c.psql("SELECT pg_database_size(current_database())")),
            "wal": int(c.psql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")),
            "orders": int(c.psql("SELECT count(*) FROM orders")),
            "tables": {name: int(size) for name, size in (pair.split("=") for pair in tables.split())}}


def growth(before, after):
    orders = after["orders"] - before["orders"]
    grown = sorted(((after["tables"].get(n, 0) - before["tables"].get(n, 0), n) for n in after["tables"]), reverse=True)
    top = ", ".join(f"{n} {size / orders / 1024:.1f}" for size, n in grown[:6] if size > 0)
    return (f"{(after['database'] - before['database']) / orders / 1024:.1f} KiB of database and "
            f"{(after['wal'] - before['wal']) / orders / 1024:.1f} KiB of WAL per order, all loads included "
            f"({orders} orders; tables and their indexes, most first, KiB per order: {top})")


def fmt(value, digits=0):
    return f"{value:,.{digits}f}" if value is not None else ""


def report(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            row = dict(zip(["scenario", "route", "nodes", "conns", "rate", "avg", "p50", "p99", "units", "before", "after",
                            "seconds"], parts))
            before, after = json.loads(row["before"]), json.loads(row["after"])
            units = float(row["units"]) or 1
            parts = ("nodes", "haproxy", "primary", "replica", "load")
            row["cpu"] = {k: (after[k] - before[k]) / units for k in parts}
            # What other processes on the machine used meanwhile, in cores: a busy neighbour
            # shows here, and its row's rate is not to be trusted.
            seconds = float(row["units"]) / float(row["rate"]) if float(row["rate"]) > 0 else 0
            if row["scenario"].startswith("checkouts"):
                seconds = float(row["seconds"])
            others = (after["machine"] - before["machine"]) - sum(after[k] - before[k] for k in parts)
            # (Clamped at 0: the parts' clock ticks are rounded, the machine's a little later.)
            row["others"] = max(0.0, others / 1000 / seconds) if seconds else 0
            looked = (after["hits"] - before["hits"]) + (after["misses"] - before["misses"])
            row["wal"] = (after["wal"] - before["wal"]) / units / 1024
            row["hit"] = 100 * (after["hits"] - before["hits"]) / looked if looked > 0 else None
            rows.append(row)

    out = ["| load | path | nodes | -c | rate | mean ms | p50 ms | p99 ms | CPU ms per unit: nodes · HAProxy · primary · replica · wrk | WAL KiB per unit | cache hits | other processes, cores |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for r in rows:
        cpu = r["cpu"]
        hit = "" if r["hit"] is None else f"{r['hit']:.0f} %"
        out.append(f"| {r['scenario']} | {r['route']} | {r['nodes']} | {r['conns']} | {fmt(float(r['rate']))} | "
                   f"{float(r['avg']):.2f} | {float(r['p50']):.2f} | {float(r['p99']):.2f} | "
                   f"{cpu['nodes']:.2f} · {cpu['haproxy']:.2f} · {cpu['primary']:.2f} · {cpu['replica']:.2f} · {cpu['load']:.2f} | "
                   f"{r['wal']:.2f} | {hit} | {r['others']:.2f} |")

    # The hop: the same load, the same single node, through HAProxy and straight at it.
    out += ["", "| load | -c | mean ms, balancer · direct | the hop: mean | p50 ms, balancer · direct | the hop: p50 | rate, balancer · direct |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if r["route"] != "balancer" or r["nodes"] != "1":
            continue
        twin = next((d for d in rows if d["route"] == "direct" and d["scenario"] == r["scenario"]
                     and d["conns"] == r["conns"]), None)
        if twin:
            out.append(f"| {r['scenario']} | {r['conns']} | {float(r['avg']):.2f} · {float(twin['avg']):.2f} | "
                       f"{float(r['avg']) - float(twin['avg']):+.2f} | {float(r['p50']):.2f} · {float(twin['p50']):.2f} | "
                       f"{float(r['p50']) - float(twin['p50']):+.2f} | {fmt(float(r['rate']))} · {fmt(float(twin['rate']))} |")
    print("\n".join(out))


def main():
    command = sys.argv[1]
    if command == "report":
        report(sys.argv[2])
        return
    if command == "growth":
        print(growth(json.loads(sys.argv[2]), json.loads(sys.argv[3])))
        return
    c = Cluster(sys.argv[2])
    if command == "rotation":
        c.keep_in_rotation(int(sys.argv[3]))
    elif command == "snapshot":
        print(json.dumps(snapshot(c)))
    elif command == "statements":
        print(statements(c, sys.argv[3] == "on"))
    elif command == "sizes":
        print(json.dumps(sizes(c)))
    elif command == "count":
        print(*count(c, int(sys.argv[3])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
