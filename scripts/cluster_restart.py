"""`scripts/cluster restart-test`: a bounded load through the balancer while every node is
restarted in turn (drained at the balancer, SIGTERM, started, ready), then one node is
SIGKILLed and started again.

The load is `clients` threads, each from a loopback address of its own (half of them keeping
their connection to the balancer open between requests, half not): catalog reads
(product list, one product, the category tree) and, one time in four, a whole guest checkout
(cart, item, e-mail, address, shipping method, checkout with an Idempotency-Key). A failed
request is one without an answer, a 5xx, or any answer the flow does not expect. A checkout
that failed is retried afterwards with its key, so that every order the database holds is one
a client knows of.

It prints requests sent and failed (by phase), orders acknowledged and found in the database.
Passes when nothing failed during the rolling restart, only requests already in flight at the
SIGKILL failed after it, and every acknowledged order exists.
"""

import random
import signal
import threading
import time

from cluster_checks import Shop, checkout, source
from cluster_ledger import Receiver, jobs_run_more_than_once, mails_for, now_text, stock_against_orders, wait_for_queue
from cluster_http import Api, ConnError, short, slug
from cluster_procs import ClusterError

STARTED = time.monotonic()


def log(message):
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


class Load:
    def __init__(self, cluster, shop, skus, handles, clients):
        self.cluster = cluster
        self.shop = shop
        self.skus = skus
        self.handles = handles
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.phase = "warm-up"
        self.sent = {}
        self.failures = []        # (phase, started at, what, answer, ended at)
        self.orders = set()       # acknowledged order ids
        self.cut = []             # carts whose checkout got no final answer
        self.checkouts = 0
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(clients)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(60)

    def request(self, api, what, method, path, ok=(200,), **kwargs):
        phase, started = self.phase, time.monotonic()
        with self.lock:
            self.sent[phase] = self.sent.get(phase, 0) + 1
        try:
            status, doc, raw, _ = api.call(method, path, **kwargs)
        except ConnError as error:
            self.fail(phase, started, what, str(error))
            return None, None
        if status not in ok:
            self.fail(phase, started, what, f"{status} {slug(doc) or short(raw, 120)}")
        return status, doc

    def fail(self, phase, started, what, answer):
        with self.lock:
            self.failures.append((phase, started, what, answer, time.monotonic()))

    def client(self, index):
        rnd = random.Random(index)
        # Half the clients keep their connection to the balancer, as browsers do.
        api = Api(self.cluster.state["balancer_port"], source(7, index), keep_alive=index % 2 == 0)
        while not self.stop_event.is_set():
            if rnd.random() < 0.25:
                self.buy(api, rnd, index)
            else:
                path = rnd.choice(["/v1/products?limit=5", f"/v1/products/{rnd.choice(self.handles)}", "/v1/categories"])
                self.request(api, f"GET {path.split('?')[0]}", "GET", path)
            time.sleep(rnd.uniform(0.01, 0.05))

    def buy(self, api, rnd, index):
        status, doc = self.request(api, "POST /v1/carts", "POST", "/v1/carts", ok=(201,), body={"currency": "EUR"})
        if status != 201:
            return
        cart = {"id": doc["id"], "secret": doc["secret"], "key": f"load-{index}-{rnd.getrandbits(64):x}"}
        headers = {"X-Cart-Token": cart["secret"]}
        steps = [("POST", "/items", {"sku": rnd.choice(self.skus), "quantity": 1}, (200, 201)),
                 ("PUT", "/email", {"email": f"load{index}@example.com"}, (200,)),
                 ("PUT", "/shipping-address", {"recipient": "Ada Lovelace", "line1": "Unter den Linden 1",
                                               "postal_code": "10117", "city": "Berlin", "country": "DE"}, (200,)),
                 ("PUT", "/shipping-method", {"shipping_method_id": self.shop.method}, (200,))]
        for method, suffix, body, ok in steps:
            status, _ = self.request(api, f"{method} cart{suffix}", method, f"/v1/carts/{cart['id']}{suffix}",
                                     ok=ok, headers=headers, body=body)
            if status not in ok:
                return
        with self.lock:
            self.checkouts += 1
        status, doc = self.request(api, "POST checkout", "POST", f"/v1/carts/{cart['id']}/checkout", ok=(201,),
                                   headers={"X-Cart-Token": cart["secret"], "Idempotency-Key": cart["key"]},
                                   body={"payment": {"provider": "test", "token": "tok_visa"}})
        with self.lock:
            if status == 201:
                self.orders.add(doc["id"])
            else:
                self.cut.append(cart)


def restart_node(cluster, node, drain=True):
    """Out of rotation at the balancer, SIGTERM, start, ready, back in; logs the timings.
    Without `drain` the node gets SIGTERM while in rotation, and the balancer finds out by
    its health checks (to measure what that costs)."""
    name = node["name"]
    t0 = time.monotonic()
    if drain:
        cluster.haproxy(f"set server nodes/{name} state drain")
        while time.monotonic() - t0 < 10 and int(cluster.server_stats()[name].get("scur") or 0) > 0:
            time.sleep(0.05)
        cluster.haproxy(f"set server nodes/{name} state maint")
    drained = time.monotonic() - t0
    stopped = cluster.stop_process(name, signal.SIGTERM, timeout=30)
    t1 = time.monotonic()
    cluster.start_node(node)
    cluster.wait_node_ready(node)
    ready = time.monotonic() - t1
    if drain:
        cluster.haproxy(f"set server nodes/{name} state ready")
    cluster.wait_balancer_state(name, "UP")
    log(f"{name}: drained in {drained:.1f} s, exited {stopped:.1f} s after SIGTERM, ready {ready:.1f} s after start, "
        f"back in rotation after {time.monotonic() - t0:.1f} s in all")


def settle(shop, cart, deadline=20):
    """A checkout that failed, retried with its key until it answers for good."""
    api = shop.cluster.balancer()
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        try:
            status, doc, raw, _ = checkout(api, cart)
        except ConnError:
            status, doc = None, None
        if status == 201:
            return "order", doc["id"]
        if status == 409 and slug(doc) == "out-of-stock":
            return "out-of-stock", None
        time.sleep(0.3)  # idempotency-key-in-use: the first attempt is still running somewhere
    return f"no final answer ({status} {slug(doc)})", None


def run(cluster, seconds, clients, drain=True):
    log(f"restart test: {clients} clients through the balancer for at least {seconds:.0f} s; "
        f"rolling restart of {len(cluster.nodes)} nodes ({'drained at the balancer first' if drain else 'SIGTERM without draining'}), "
        "then a SIGKILL")
    since = now_text()
    shop = Shop(cluster)
    receiver = Receiver()
    hook = shop.api.expect("creating the webhook endpoint", (201,), "POST", "/v1/admin/webhooks", token=shop.token,
                           body={"url": f"http://127.0.0.1:{receiver.port}/hook", "event_types": ["order.placed"]})
    products = [shop.product(f"load{i}", 700 + i, 1_000_000) for i in range(3)]
    load = Load(cluster, shop, [p[1] for p in products], [p[0] for p in products], clients)
    load.start()
    deadline = time.monotonic() + seconds
    problems = []
    killed_at = dead_at = None
    held = 0
    victim = cluster.nodes[-1]
    try:
        time.sleep(3)
        load.phase = "rolling restart"
        log("== rolling restart")
        for node in cluster.nodes:
            restart_node(cluster, node, drain)
            time.sleep(1)
        load.phase = "after the restarts"
        time.sleep(2)
        load.phase = "SIGKILL"
        log(f"== SIGKILL of {victim['name']}")
        killed_at = time.monotonic()
        cluster.stop_process(victim["name"], signal.SIGKILL)
        dead_at = time.monotonic()  # the kernel may still accept connections until the process is gone
        # The jobs the dead node held (their work may be done but not recorded): they may run again.
        held = int(cluster.psql("SELECT count(*) FROM jobs WHERE state = 'running' AND locked_by LIKE "
                                f"'{victim['name']}/%' AND (kind LIKE 'mail.%' OR kind = 'webhook.deliver')"))
        log(f"{victim['name']} was gone {dead_at - killed_at:.2f} s after the SIGKILL, holding {held} e-mail or webhook jobs")
        cluster.wait_balancer_state(victim["name"], "DOWN")
        log(f"the balancer took {victim['name']} out {time.monotonic() - killed_at:.1f} s after the kill")
        time.sleep(2)
        load.phase = "after the SIGKILL"
        t1 = time.monotonic()
        cluster.start_node(victim)
        cluster.wait_node_ready(victim)
        cluster.wait_balancer_state(victim["name"], "UP")
        log(f"{victim['name']} started again and back in rotation after {time.monotonic() - t1:.1f} s")
        while time.monotonic() < deadline:
            time.sleep(0.5)
    except ClusterError as error:
        problems.append(str(error))
    finally:
        load.stop()
    elapsed = time.monotonic() - STARTED

    settled = {}
    for cart in load.cut:
        kind, oid = settle(shop, cart)
        settled[kind] = settled.get(kind, 0) + 1
        if oid:
            load.orders.add(oid)
    ids = sorted(load.orders)
    found = int(cluster.psql("SELECT count(*) FROM orders WHERE id IN ('" + "','".join(ids) + "')")) if ids else 0
    skus = "','".join(p[1] for p in products)
    in_db = int(cluster.psql(f"SELECT count(DISTINCT order_id) FROM order_lines WHERE sku IN ('{skus}')"))

    waited = wait_for_queue(cluster, 90)
    time.sleep(1)
    per_node = {}
    mails, placed = mails_for(cluster, ids, per_node), receiver.placed()
    shop.api.call("DELETE", f"/v1/admin/webhooks/{hook['id']}", token=shop.token)
    receiver.stop()
    missing = [o for o in ids if mails[o] == 0 or placed.get(o, 0) == 0]
    extra = sum(max(0, mails[o] - 1) + max(0, placed.get(o, 0) - 1) for o in ids)
    retried = jobs_run_more_than_once(cluster, since)

    sent = sum(load.sent.values())
    by_phase = {}
    for phase, _, _, _, _ in load.failures:
        by_phase[phase] = by_phase.get(phase, 0) + 1
    print(f"\n== restart test summary ({elapsed:.0f} s, {clients} clients)", flush=True)
    for phase in ("warm-up", "rolling restart", "after the restarts", "SIGKILL", "after the SIGKILL"):
        print(f"  {phase:<20} sent {load.sent.get(phase, 0):>6}   failed {by_phase.get(phase, 0)}", flush=True)
    print(f"  {'all':<20} sent {sent:>6}   failed {len(load.failures)}   ({sent / elapsed:.0f} requests/s)", flush=True)
    print(f"  checkouts {load.checkouts}; failed and retried with their key: {len(load.cut)} -> {settled or 'none'}", flush=True)
    print(f"  orders acknowledged {len(ids)}, found in the database {found}; orders of the load's products in the "
          f"database {in_db}", flush=True)
    print(f"  e-mails {sum(mails.values())} (written by {', '.join(f'{n} {c}' for n, c in sorted(per_node.items()))}), "
          f"order.placed webhooks {sum(placed.get(o, 0) for o in ids)}, for {len(ids)} orders; queue empty "
          f"{waited:.0f} s after the load; second copies {extra} (the killed node held {held} such jobs); "
          f"jobs with more than one attempt: {len(retried)}", flush=True)
    if missing:
        problems.append(f"{len(missing)} orders without their e-mail or webhook: {missing[:5]}")
    if extra > held:
        problems.append(f"{extra} second e-mails or webhooks, more than the {held} jobs the killed node held")
    # In flight at the kill: sent before the process was gone, failed after the signal.
    # Nothing else may fail.
    in_flight = [f for f in load.failures if killed_at and f[1] <= (dead_at or f[4]) and f[4] >= killed_at]
    others = [f for f in load.failures if f not in in_flight]
    print(f"  failed requests in flight at the SIGKILL: {len(in_flight)}; any other failures: {len(others)}", flush=True)
    for phase, started, what, answer, ended in (others + in_flight)[:15]:
        print(f"  failed: [{phase}] {started - STARTED:.1f}s-{ended - STARTED:.1f}s {what}: {short(answer, 80).splitlines()[0]}", flush=True)
    if others:
        problems.append(f"{len(others)} requests failed that were not in flight on the SIGKILLed node")
    if found != len(ids):
        problems.append(f"{len(ids) - found} acknowledged orders are missing from the database")
    if in_db != len(ids):
        problems.append(f"the database holds {in_db} orders of the load's products, clients know of {len(ids)}")
    stock = stock_against_orders(cluster, [p[1] for p in products])
    print(f"  stock reserved equals the units orders hold, for each of the {len(products)} products: "
          f"{'yes' if not stock else '; '.join(stock)}", flush=True)
    problems += stock
    if any(k not in ("order", "out-of-stock") for k in settled):
        problems.append(f"retried checkouts without a final answer: {settled}")
    if sent < 100:
        problems.append(f"only {sent} requests were sent")
    for p in problems:
        print(f"  FAIL  {p}", flush=True)
    print(f"== restart test {'passed' if not problems else 'FAILED'}", flush=True)
    return not problems
