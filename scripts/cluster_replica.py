"""`scripts/cluster check`, (g): storefront catalog reads go to the streaming replica
(`--database-read-url`), and stay fresh. Python 3 standard library only.
"""

import time

STATS_DELAY = 11
XACTS = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'emporium'"


def transactions(cluster, port):
    return int(cluster.psql(XACTS, port=port))


def replica_reads(cluster, shop, checks, searches=60):
    """Distinct searches (each a cache miss) through the balancer, counting the transactions
    each PostgreSQL server ran meanwhile: the catalog's statements must land on the replica; the
    primary sees one WAL-position statement per miss (the freshness fence) and little else."""
    s = cluster.state
    handle, _, _, _ = shop.product("replicated", 990, 3)
    api = cluster.balancer()
    # An idle backend reports its statistics to pg_stat_database after 10 s (PostgreSQL 15's
    # PGSTAT_IDLE_INTERVAL): wait that out before and after, so each count is complete.
    time.sleep(STATS_DELAY)
    before = transactions(cluster, s["replica_port"]), transactions(cluster, s["primary_port"])
    problems = []
    for n in range(searches):
        status, _, raw, _ = api.call("GET", f"/v1/products?q=replicated+{shop.tag}+{n}")
        if status != 200:
            problems.append(f"search {n}: {status} {raw[:120]!r}")
    # The product was created a moment ago: the page, read from the replica, must show it.
    status, doc, _, _ = api.call("GET", f"/v1/products/{handle}")
    if status != 200 or doc.get("handle") != handle:
        problems.append(f"the new product's page answered {status}")
    time.sleep(STATS_DELAY)
    after = transactions(cluster, s["replica_port"]), transactions(cluster, s["primary_port"])
    # Minus the statistics query itself on each side.
    on_replica, on_primary = after[0] - before[0] - 1, after[1] - before[1] - 1
    if on_replica < searches:
        problems.append(f"the replica ran {on_replica} transactions for {searches} uncached searches")
    return checks.check(
        "storefront catalog reads are served by the streaming replica",
        problems, f"{searches} uncached searches: {on_replica} transactions on the replica, {on_primary} on the primary")
