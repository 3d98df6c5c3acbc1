"""`scripts/backup test`: point-in-time recovery proved on the running cluster.

A base backup first; then, through the balancer, products and orders (the good state), a
named restore point and its time; then the mistakes: a product deleted, a price set to one
cent, more orders, a new product. The current WAL segment is archived, and two new servers
are restored from the base backup plus archived WAL — one to the restore point's name, one to
its time — each must hold exactly the good state: every order from before and none from
after, the deleted product back, the old price. Everything it starts it stops by pid, and it
removes its folders when the proof passed. Python 3 standard library only.
"""

import os
import shutil
import time
import uuid

import backup_pg
import backup_restore
from cluster_checks import Checks, Shop, checkout
from cluster_http import ConnError
from cluster_procs import ClusterError

BEFORE, AFTER = 5, 3


def run(cluster, by_time=True, keep=False):
    print("== backup and point-in-time recovery", flush=True)
    started = time.monotonic()
    checks = Checks()
    try:
        ok = prove(cluster, checks, by_time, keep)
    except (ClusterError, RuntimeError, ConnError, KeyError, ValueError) as error:
        checks.check("the backup test ran", [f"{type(error).__name__}: {error}"])
        ok = False
    failed = [name for passed, name in checks.results if not passed]
    print(f"== backup test: {len(checks.results) - len(failed)} of {len(checks.results)} passed in "
          f"{time.monotonic() - started:.0f} s" + (f"; FAILED: {'; '.join(failed)}" if failed else ""), flush=True)
    return ok and not failed


def prove(cluster, checks, by_time, keep):
    backup_pg.require_archiving(cluster)
    record = backup_pg.base(cluster)
    checks.check("base backup taken and verified against its manifest", [],
                 f"{record['label']}, {backup_pg.megabytes(record['bytes'])}, pg_basebackup {record['seconds']} s, "
                 f"pg_verifybackup {record['verify_seconds']} s")

    shop = Shop(cluster, tag="bk" + uuid.uuid4().hex[:6])
    kept = shop.product("kept", 1500, 50)
    doomed = shop.product("doomed", 900, 0)
    repriced = shop.product("repriced", 2000, 0)
    before = buy(shop, kept[1], BEFORE)
    good = state(cluster, shop, kept, repriced)

    point = f"before-mistake-{shop.tag}"
    lsn, at = backup_pg.mark(cluster, point)
    time.sleep(0.2)  # commits after the point get later timestamps than `at`, whatever the clock's grain

    # What "went wrong": a deletion, a price, and business that goes on.
    shop.api.expect("deleting a product", (204,), "DELETE", f"/v1/admin/products/{doomed[2]}", token=shop.token)
    shop.api.expect("setting a wrong price", (200,), "PATCH", f"/v1/admin/products/{repriced[2]}/variants/{repriced[3]}",
                    token=shop.token, body={"prices": [{"currency": "EUR", "amount": 1}]})
    after = buy(shop, kept[1], AFTER)
    shop.product("late", 700, 0)
    now = state(cluster, shop, kept, repriced)
    segment, lag = backup_pg.switch_and_wait(cluster)
    checks.check("the primary holds the good state plus the mistakes", sanity(good, now, before, after, shop),
                 f"{len(before)} orders before the point, {len(after)} after; restore point {point!r} at {lsn} ({at}); "
                 f"segment {segment} archived {lag:.2f} s after pg_switch_wal()")

    targets = [("name", {"target_name": point})] + ([("time", {"target_time": at})] if by_time else [])
    for kind, target in targets:
        into = cluster.path(f"restore-{shop.tag}-{kind}")
        restored, passed = None, False
        try:
            restored = backup_restore.restore(cluster, into, **target)
            seen = state(cluster, shop, kept, repriced, port=restored["port"])
            s = restored["seconds"]
            detail = (f"{len(seen['orders'])} orders (expected {len(before)}, primary now has {len(now['orders'])}), "
                      f"products {len(seen['products'])} (expected {len(good['products'])}), price "
                      f"{seen['price']} (expected {good['price']}, primary {now['price']}), reserved {seen['reserved']}; "
                      f"restore took {s['total']} s (copy {s['copy']} s, recovery and promotion {s['recovery']} s) "
                      f"from {restored['backup']} on port {restored['port']}")
            passed = checks.check(f"restored to the restore point's {kind}: exactly the good state",
                                  diff(good, seen), detail)
        finally:
            backup_restore.stop(into)
            if passed and not keep:
                shutil.rmtree(into, ignore_errors=True)
                os.remove(into + ".log")
            elif os.path.exists(into):
                print(f"          the restored folder is kept: {into} (its log {into}.log)", flush=True)
    return True


def buy(shop, sku, count):
    """`count` guest checkouts of one unit through the balancer; their order ids."""
    ids = []
    for n in range(count):
        cart = shop.ready_cart(shop.api, sku, f"{shop.tag}-{n}")
        status, doc, raw, _ = checkout(shop.api, cart)
        if status != 201:
            raise RuntimeError(f"checkout answered {status}: {raw[:200]!r}")
        ids.append(doc["id"])
    return ids


def state(cluster, shop, kept, repriced, port=None):
    """What the test compares, read with SQL from the server at `port` (the primary by default)."""
    def rows(sql):
        out = cluster.psql(sql, port=port)
        return [r for r in out.splitlines() if r]

    return {
        "orders": rows(f"SELECT DISTINCT order_id FROM order_lines WHERE sku = '{kept[1]}' ORDER BY 1"),
        "products": rows(f"SELECT handle FROM products WHERE handle LIKE 'cluster-%-{shop.tag}' ORDER BY 1"),
        "price": cluster.psql(f"SELECT amount FROM prices WHERE variant_id = '{repriced[3]}' AND currency = 'EUR'", port=port),
        "reserved": cluster.psql("SELECT coalesce(sum(l.reserved), 0) FROM inventory_levels l JOIN variants v "
                                 f"ON v.id = l.variant_id WHERE v.sku = '{kept[1]}'", port=port),
    }


def diff(expected, seen):
    problems = []
    for key in expected:
        if expected[key] != seen[key]:
            problems.append(f"{key}: expected {expected[key]}, found {seen[key]}")
    return problems


def sanity(good, now, before, after, shop):
    """The mistakes really happened on the primary, or the restore proves nothing."""
    expected = {"orders": sorted(before + after), "price": "1", "reserved": str(len(before) + len(after)),
                "products": sorted(h for h in good["products"] + [f"cluster-late-{shop.tag}"]
                                   if h != f"cluster-doomed-{shop.tag}")}
    problems = diff(expected, now)
    if sorted(before) != good["orders"]:
        problems.append(f"orders before the point: answered {sorted(before)}, in the database {good['orders']}")
    return problems
