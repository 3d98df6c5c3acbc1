"""`scripts/cluster check`: the invariants of several nodes, tested through the balancer.

(a) 50 concurrent buyers of a variant with 5 units: exactly 5 orders, 45 refusals (409
    out-of-stock), no 5xx; (b) one checkout Idempotency-Key sent to the three nodes at once:
    one order; (c) a price changed through one node is served by every node within a second;
(d) each order's confirmation e-mail and order.placed webhook happen once across the nodes;
(e) the shared rate limit at the balancer holds per client address, whatever the node count;
(f) the login throttle, kept in the database, locks out failures spread over the nodes;
(g) storefront catalog reads go to the streaming replica (cluster_replica.py);
(h) TLS ends at the balancer: verified, TLS 1.2+, HTTP/2 or HTTP/1.1 by ALPN, HSTS (cluster_tls.py).
"""

import threading
import time
import uuid

from cluster_http import Api, ConnError, short, slug
from cluster_replica import replica_reads
from cluster_tls import tls_at_balancer
from cluster_ledger import Receiver, jobs_run_more_than_once, mails_for, now_text, stock_against_orders, wait_for_queue

BUYERS = 50
UNITS = 5
ADDRESS = {"recipient": "Ada Lovelace", "line1": "Unter den Linden 1", "postal_code": "10117", "city": "Berlin",
           "country": "DE"}


class Checks:
    def __init__(self):
        self.results = []

    def check(self, name, problems, detail=""):
        ok = not problems
        self.results.append((ok, name))
        print(f"  {'ok  ' if ok else 'FAIL'}  {name}" + (f" — {detail}" if detail else ""), flush=True)
        for problem in problems[:10]:
            print(f"          {problem}", flush=True)
        return ok


def source(group, n):
    """A loopback address of its own for client n of a group (see cluster_http)."""
    return f"127.{group}.{n // 250}.{n % 250 + 2}"


def parallel(function, items, threads=8):
    results = [None] * len(items)
    queue = list(enumerate(items))
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                if not queue:
                    return
                index, item = queue.pop()
            try:
                results[index] = function(item)
            except Exception as error:  # reported by the caller as a failed item
                results[index] = error

    workers = [threading.Thread(target=work, daemon=True) for _ in range(min(threads, max(1, len(items))))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return results


# MARK: the shop

class Shop:
    """What the checks and the restart test buy: SKUs, a shipping method, the admin's token."""

    def __init__(self, cluster, tag=None):
        self.cluster = cluster
        self.tag = tag or uuid.uuid4().hex[:6]
        admin = cluster.state["admin"]
        self.api = cluster.balancer()
        self.token = self.api.expect("signing in as the admin", (200,), "POST", "/v1/auth/login",
                                     body={"email": admin["email"], "password": admin["password"]})["access_token"]
        locations = self.api.expect("listing locations", (200,), "GET", "/v1/admin/inventory/locations", token=self.token)
        found = [l["id"] for l in locations.get("data", []) if l.get("code") == "main"]
        self.location = found[0] if found else self.api.expect(
            "creating the stock location", (201,), "POST", "/v1/admin/inventory/locations", token=self.token,
            body={"code": "main", "name": "Main"})["id"]
        self.method = self.api.expect("creating a shipping method", (201,), "POST", "/v1/admin/shipping-methods",
                                      token=self.token, body={"name": f"Standard {self.tag}", "currency": "EUR",
                                                              "flat_amount": 490})["id"]
        self.api.expect("creating the tax rate", (201, 409), "POST", "/v1/admin/tax-rates", token=self.token,
                        body={"country": "DE", "name": "VAT", "rate_ppm": 190000})

    def product(self, name, price, stock):
        """A product with one variant; returns (handle, sku, product id, variant id)."""
        handle, sku = f"cluster-{name}-{self.tag}", f"CL-{name.upper()}-{self.tag}"
        doc = self.api.expect(f"creating {sku}", (201,), "POST", "/v1/admin/products", token=self.token, body={
            "handle": handle, "title": f"Cluster {name} {self.tag}", "description": "Made for the cluster checks.",
            "status": "active", "options": ["Size"],
            "variants": [{"sku": sku, "option_values": ["M"], "weight_grams": 250,
                          "prices": [{"currency": "EUR", "amount": price}]}]})
        if stock:
            self.api.expect(f"receiving {sku}", (201,), "POST", "/v1/admin/inventory/adjustments", token=self.token,
                            body={"sku": sku, "location_id": self.location, "delta": stock, "reason": "received"})
        return handle, sku, doc["id"], doc["variants"][0]["id"]

    def ready_cart(self, api, sku, n):
        """A guest cart with one unit of `sku`, an e-mail, an address and the shipping method,
        built through `api`; returns {id, secret, key} or raises RuntimeError/ConnError."""
        doc = api.expect("creating a cart", (201,), "POST", "/v1/carts", body={"currency": "EUR"})
        cart = {"id": doc["id"], "secret": doc["secret"], "key": uuid.uuid4().hex}
        headers = {"X-Cart-Token": cart["secret"]}
        api.expect("adding to the cart", (200, 201), "POST", f"/v1/carts/{cart['id']}/items", headers=headers,
                   body={"sku": sku, "quantity": 1})
        for suffix, body in (("/email", {"email": f"buyer{n}@example.com"}), ("/shipping-address", ADDRESS),
                             ("/shipping-method", {"shipping_method_id": self.method})):
            api.expect(f"PUT {suffix}", (200,), "PUT", f"/v1/carts/{cart['id']}{suffix}", headers=headers, body=body)
        return cart


def checkout(api, cart, timeout=30):
    return api.call("POST", f"/v1/carts/{cart['id']}/checkout", body={"payment": {"provider": "test", "token": "tok_visa"}},
                    headers={"X-Cart-Token": cart["secret"], "Idempotency-Key": cart["key"]}, timeout=timeout)


# MARK: the checks

def run_all(cluster):
    print("== cluster checks through the balancer", flush=True)
    started, since = time.monotonic(), now_text()
    checks = Checks()
    shop = Shop(cluster)
    receiver = Receiver()
    hook = shop.api.expect("creating the webhook endpoint", (201,), "POST", "/v1/admin/webhooks", token=shop.token,
                           body={"url": f"http://127.0.0.1:{receiver.port}/hook", "event_types": ["order.placed"]})
    orders = []

    def step(function, *args):
        try:
            return function(cluster, *args, checks)
        except (RuntimeError, ConnError, OSError, KeyError, TypeError, ValueError) as error:
            checks.check(f"{function.__name__.replace('_', ' ')} ran", [f"{type(error).__name__}: {error}"])

    try:
        orders += step(concurrent_buyers, shop) or []
        orders += step(one_key_three_nodes, shop) or []
        step(price_change, shop)
        step(replica_reads, shop)
        step(tls_at_balancer, shop)
        step(once_across_nodes, receiver, orders, since)
        step(shared_rate_limit)
        step(login_throttle)
    finally:
        shop.api.call("DELETE", f"/v1/admin/webhooks/{hook['id']}", token=shop.token)
        receiver.stop()
    failed = [name for ok, name in checks.results if not ok]
    print(f"== cluster checks: {len(checks.results) - len(failed)} of {len(checks.results)} passed in "
          f"{time.monotonic() - started:.0f} s" + (f"; FAILED: {'; '.join(failed)}" if failed else ""), flush=True)
    return not failed


def concurrent_buyers(cluster, shop, checks):
    _, sku, _, _ = shop.product("scarce", 1500, UNITS)
    carts = parallel(lambda n: (n, shop.ready_cart(Api(cluster.state["balancer_port"], source(4, n)), sku, n)),
                     list(range(BUYERS)))
    broken = [c for c in carts if isinstance(c, Exception)]
    if broken:
        checks.check(f"{BUYERS} buyers' carts built through the balancer", [str(b) for b in broken])
        return []
    barrier = threading.Barrier(BUYERS)
    answers = [None] * BUYERS

    def buy(n, cart):
        api = Api(cluster.state["balancer_port"], source(4, n))
        barrier.wait()
        try:
            status, doc, raw, headers = checkout(api, cart)
            answers[n] = (status, slug(doc), doc, headers.get("x-served-by"))
        except ConnError as error:
            answers[n] = ("no answer", str(error), None, None)

    threads = [threading.Thread(target=buy, args=c, daemon=True) for c in carts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    orders = [a[2]["id"] for a in answers if a and a[0] == 201]
    refused = [a for a in answers if a and a[0] == 409 and a[1] == "out-of-stock"]
    other = [a[:2] for a in answers if not a or not (a[0] == 201 or (a[0] == 409 and a[1] == "out-of-stock"))]
    served = sorted({a[3] for a in answers if a and a[3]})
    in_db = int(cluster.psql(f"SELECT count(DISTINCT order_id) FROM order_lines WHERE sku = '{sku}'"))
    checks.check(f"{BUYERS} concurrent buyers, {UNITS} units: exactly {UNITS} orders, {BUYERS - UNITS} refusals (409), "
                 "no 5xx", ([f"{len(orders)} orders answered"] if len(orders) != UNITS else [])
                 + ([f"{len(refused)} out-of-stock refusals"] if len(refused) != BUYERS - UNITS else [])
                 + [f"unexpected answer {o}" for o in other]
                 + ([f"{in_db} orders in the database"] if in_db != UNITS else [])
                 + stock_against_orders(cluster, [sku]),
                 f"{len(orders)} orders, {len(refused)} refused, {in_db} in the database, {UNITS} units reserved, "
                 f"served by {', '.join(served)}")
    return orders


def one_key_three_nodes(cluster, shop, checks):
    _, sku, _, _ = shop.product("keyed", 990, 100)
    cart = shop.ready_cart(shop.api, sku, "keyed")
    barrier = threading.Barrier(len(cluster.nodes))
    answers = {}

    def send(node):
        barrier.wait()
        try:
            status, doc, raw, _ = checkout(cluster.direct(node), cart)
            answers[node["name"]] = (status, (doc or {}).get("id") if status == 201 else slug(doc))
        except ConnError as error:
            answers[node["name"]] = ("no answer", str(error))

    threads = [threading.Thread(target=send, args=(n,), daemon=True) for n in cluster.nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # Then each node again, once the first has finished: all answer the same order.
    replays = {}
    for node in cluster.nodes:
        for _ in range(50):
            status, doc, _, _ = checkout(cluster.direct(node), cart)
            if not (status == 409 and slug(doc) == "idempotency-key-in-use"):
                break
            time.sleep(0.1)
        replays[node["name"]] = (status, (doc or {}).get("id") if status == 201 else slug(doc))
    in_db = cluster.psql(f"SELECT count(*) || ' ' || coalesce(min(id), '') FROM orders WHERE cart_id = '{cart['id']}'").split()
    problems = []
    if in_db[0] != "1":
        problems.append(f"{in_db[0]} orders in the database for the cart")
    order_id = in_db[1] if len(in_db) > 1 else None
    for name, (status, what) in answers.items():
        if not ((status == 201 and what == order_id) or (status == 409 and what == "idempotency-key-in-use")):
            problems.append(f"{name} answered {status} {what} at once")
    for name, (status, what) in replays.items():
        if not (status == 201 and what == order_id):
            problems.append(f"{name} answered {status} {what} to the replay")
    checks.check("one Idempotency-Key sent to three nodes at once: one order, every replay answers it", problems,
                 "at once: " + ", ".join(f"{n} {s} {w if s != 201 else 'order'}" for n, (s, w) in sorted(answers.items())))
    return [order_id] if order_id else []


def price_change(cluster, shop, checks):
    handle, _, product_id, variant_id = shop.product("priced", 1000, 10)
    path = f"/v1/products/{handle}"

    def price(node):
        status, doc, raw, _ = cluster.direct(node).call("GET", path)
        if status != 200:
            return f"{status}"
        return doc["variants"][0]["prices"][0]["amount"] if doc["variants"][0].get("prices") else short(raw, 200)

    warm = {n["name"]: price(n) for n in cluster.nodes}  # every node caches the old price
    writer = cluster.nodes[0]
    cluster.direct(writer).expect("changing the price", (200,), "PATCH",
                                  f"/v1/admin/products/{product_id}/variants/{variant_id}", token=shop.token,
                                  body={"prices": [{"currency": "EUR", "amount": 1234}]})
    changed = time.monotonic()
    seen = {}
    while len(seen) < len(cluster.nodes) and time.monotonic() - changed < 5:
        for node in cluster.nodes:
            if node["name"] not in seen and price(node) == 1234:
                seen[node["name"]] = time.monotonic() - changed
        time.sleep(0.02)
    late = [f"{n['name']} " + (f"after {seen[n['name']]:.2f} s" if n["name"] in seen else "not within 5 s")
            for n in cluster.nodes if seen.get(n["name"], 99) > 1.0]
    checks.check(f"a price changed through {writer['name']} is served by every node within a second",
                 late + [f"{n} served {p} before the change" for n, p in warm.items() if p != 1000],
                 ", ".join(f"{n} {s:.2f} s" for n, s in sorted(seen.items())))


def once_across_nodes(cluster, receiver, orders, since, checks):
    waited = wait_for_queue(cluster, 30)
    time.sleep(1)  # a second copy, were there one, would come within this
    per_node = {}
    placed, mails = receiver.placed(), mails_for(cluster, orders, per_node)
    checks.check(f"each of the {len(orders)} orders: one order.placed webhook and one confirmation e-mail across "
                 "the nodes; no job ran twice",
                 [f"order {o}: {placed.get(o, 0)} webhooks, {mails[o]} e-mails" for o in orders
                  if placed.get(o, 0) != 1 or mails[o] != 1] + jobs_run_more_than_once(cluster, since),
                 f"{sum(placed.get(o, 0) for o in orders)} webhooks, {sum(mails.values())} e-mails (written by "
                 f"{', '.join(f'{n} {c}' for n, c in sorted(per_node.items()))}), queue empty after {waited:.1f} s")


def shared_rate_limit(cluster, checks):
    """From one client address, more than the burst as fast as possible: the balancer lets
    about `burst` through in its window, not nodes × burst."""
    burst = cluster.state["rate_burst"]
    if cluster.state["rate_limit"] <= 0:
        return
    api = Api(cluster.state["balancer_port"], source(5, 1))
    sent = burst + 100
    started = time.monotonic()
    answers = parallel(lambda _: api.call("GET", "/health/live")[::3], list(range(sent)), threads=16)
    took = time.monotonic() - started
    passed = [a for a in answers if isinstance(a, tuple) and a[0] == 200]
    limited = [a for a in answers if isinstance(a, tuple) and a[0] == 429]
    nodes = {a[1].get("x-served-by") for a in passed}
    problems = []
    if not (burst * 0.9 <= len(passed) <= burst * 1.1):
        problems.append(f"{len(passed)} of {sent} passed; {burst} expected (±10 %)")
    if len(passed) + len(limited) != sent:
        problems.append(f"{sent - len(passed) - len(limited)} answers neither 200 nor 429")
    checks.check(f"one address sending {sent} requests at once through the balancer: about {burst} pass, across all "
                 "nodes together", problems, f"{len(passed)} passed over {len(nodes)} nodes, {len(limited)} got 429, in {took:.1f} s")


def login_throttle(cluster, checks):
    """Wrong passwords from one address, spread round-robin over the nodes, lock that address
    out of the account after 5 (the pair policy): the count is in the database. Forged
    X-Forwarded-For headers do not help."""
    email, password = f"throttled-{uuid.uuid4().hex[:8]}@example.com", "the right password 4711"
    Api(cluster.state["balancer_port"], source(6, 2)).expect(
        "registering a customer", (201,), "POST", "/v1/auth/register", body={"email": email, "password": password, "name": "Throttled"})
    api = Api(cluster.state["balancer_port"], source(6, 1))
    answers = []
    for attempt in range(6):
        # Each with a forged X-Forwarded-For: the nodes take the address HAProxy appends, so
        # a client cannot pose as someone else to dodge the count.
        status, doc, _, headers = api.call("POST", "/v1/auth/login", body={"email": email, "password": "wrong guess 12345"},
                                           headers={"X-Forwarded-For": f"203.0.113.{attempt + 1}"})
        answers.append((status, slug(doc), headers.get("x-served-by")))
    status, doc, _, headers = api.call("POST", "/v1/auth/login",
                                       body={"email": email, "password": password})
    answers.append((status, slug(doc), headers.get("x-served-by")))
    nodes = {a[2] for a in answers[:5]}
    problems = []
    if [a[0] for a in answers[:5]] != [401] * 5:
        problems.append(f"the first five answered {[a[:2] for a in answers[:5]]}")
    if answers[5][0] != 429 or answers[6][0] != 429:
        problems.append(f"after five failures: {answers[5][:2]}, then the right password: {answers[6][:2]}")
    if len(nodes) < 2:
        problems.append(f"the failures were not spread over nodes ({nodes})")
    checks.check("five failed logins from one address (forging X-Forwarded-For) spread over the nodes lock it out "
                 "(429), even with the right password", problems, " ".join(f"{a[2]}:{a[0]}" for a in answers))
