"""What the cluster did, counted from outside: webhook deliveries to a local receiver, e-mail
in every node's mail folder, the job queue, and stock against orders. Used by
`scripts/cluster check` and `restart-test`; Python 3 standard library only.
"""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Counts webhook deliveries; answers 200 to each."""

    def __init__(self):
        self.deliveries = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.deliveries.append({"id": self.headers.get("webhook-id"), "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def placed(self):
        """order id -> number of order.placed deliveries (raw, not de-duplicated)."""
        counts = {}
        with self.lock:
            for d in self.deliveries:
                try:
                    doc = json.loads(d["body"])
                except ValueError:
                    continue
                if doc.get("type") == "order.placed":
                    oid = doc.get("data", {}).get("order_id")
                    counts[oid] = counts.get(oid, 0) + 1
        return counts

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def mails_for(cluster, order_ids, per_node=None):
    """order id -> confirmation e-mails across every node's mail folder; `per_node`, when
    given, gets how many of them each node wrote."""
    counts = {oid: 0 for oid in order_ids}
    for node in cluster.nodes:
        folder = cluster.path(node["name"], "mail")
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            with open(os.path.join(folder, name), "rb") as f:
                text = f.read().decode("utf-8", "replace").replace("=\r\n", "").replace("=\n", "")
            # The order's page link carries its id: /orders/<id>?token=…
            for oid in (o for o in order_ids if o in text):
                counts[oid] += 1
                if per_node is not None:
                    per_node[node["name"]] = per_node.get(node["name"], 0) + 1
    return counts


def wait_for_queue(cluster, timeout=60):
    """Waits until no e-mail or webhook job is running or pending; returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if cluster.psql("SELECT count(*) FROM jobs WHERE state IN ('pending', 'running') "
                        "AND (kind LIKE 'mail.%' OR kind = 'webhook.deliver')") == "0":
            break
        time.sleep(0.2)
    return time.monotonic() - started


def stock_against_orders(cluster, skus):
    """For each SKU whose reserved units differ from the units its open orders hold:
    'SKU: reserved R, orders hold H'."""
    listed = "','".join(skus)
    rows = cluster.psql(
        "SELECT v.sku || ' ' || sum(l.reserved) || ' ' || (SELECT coalesce(sum(ol.quantity), 0) FROM order_lines ol "
        "JOIN orders o ON o.id = ol.order_id WHERE ol.sku = v.sku AND o.status <> 'cancelled') "
        f"FROM variants v JOIN inventory_levels l ON l.variant_id = v.id WHERE v.sku IN ('{listed}') GROUP BY v.sku")
    problems = []
    for line in rows.splitlines():
        sku, reserved, held = line.split()
        if reserved != held:
            problems.append(f"{sku}: reserved {reserved}, orders hold {held}")
    return problems


def now_text():
    """The server's timestamp format (RFC 3339 UTC, milliseconds), comparable as text."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def jobs_run_more_than_once(cluster, since):
    """Jobs created since `since` that took more than one attempt, or died: none is expected
    without a kill."""
    rows = cluster.psql("SELECT coalesce(string_agg(kind || ' ' || id || ' ' || state || ' attempts ' || attempts "
                        "|| ' ' || coalesce(last_error, ''), '; '), '') "
                        f"FROM jobs WHERE (attempts > 1 OR state = 'dead') AND created_at >= '{since}'")
    return [r for r in rows.split("; ") if r]
