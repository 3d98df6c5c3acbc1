#!/usr/bin/env python3
"""The crash test's driver; run it through scripts/crash-test, which builds the binary and
provides the database.

It starts `emporium serve` with a webhook receiver and an SMTP sink (both in this process, so
they outlive every kill), drives concurrent checkouts, cancels and refunds, SIGKILLs the
server mid-run (round 1), restarts it and retries every request the kill cut off with its
idempotency key; then runs the server without workers beside a separate `emporium worker`,
SIGKILLs the worker mid-run and restarts it under the same node id (round 2). After draining
the job queue it reads the database, the payment provider's ledger file, the webhook
deliveries and the mail, checks that nothing was lost or done twice, prints a summary and
exits 1 when a check failed.

What some checks accept, and why:

- A checkout the kill cut off, retried with its key, must end in its order (201) or in a
  refusal of that very checkout: 402 payment-declined or 409 out-of-stock. 409 cart-not-open
  fails: it means the first attempt converted the cart (and may have charged) but the retry
  was never shown the order.
- Some shoppers pay with tok_timeoutAfterCharge and do NOT retry the 504: their order stays
  pending (charged at the provider, answer lost). The staff thread cancels some of those;
  each must end with its money back at the provider -- a void (`void-<payment>` or
  `release-void-<payment>`) or refunds adding up to its capture (`refund-<refund>`,
  `release-refund-<payment>`) -- and the database must say the same (payment `voided`, or
  captured = refunded with succeeded refund rows, reason `released` for a release). The rest
  must be paid by their reconcile job.
- Mail: exactly one confirmation (one distinct Message-ID) per placed order. Raw duplicates
  (the same Message-ID received more than once) are allowed only for a message whose mail job
  was `running` in the jobs table when a process was SIGKILLed (looked up right after each
  kill, before the restart), at most one extra copy per such kill. If a look-up after a kill
  failed, the driver cannot tell, and then at most 2 raw duplicates in all are allowed. Every
  raw duplicate is printed either way.
- No `mail.*` job may have attempts > 1 unless it was running at a kill (attempts up to 1 +
  the kills it was running at) or its last_error says the restart or an expired lease freed
  it; so a mail job that ran twice for another reason is visible.
- The drain waits until no job is running or due, no event is unpublished, no order or refund
  is pending, and no `payment.*` job is waiting for a later run_at (the reconcile runs 60 s
  after a checkout, the release check 120 s after an order is given up). A `payment.*` job
  due after the drain limit fails the drain at once.

Python 3 standard library plus aiosmtpd.
"""

import argparse
import base64
import calendar
import email
import email.policy
import hashlib
import hmac
import http.client
import json
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHOPPERS = 16
ROUND1_LOAD = 6.0            # seconds of load before the server is killed
ROUND2_BEFORE_KILL = 4.0     # seconds of load before the worker is killed
ROUND2_WORKER_DOWN = 2.0     # seconds the worker stays dead under load
ROUND2_AFTER_RESTART = 3.0   # seconds of load after the worker is back
RETRY_DEADLINE = 10.0        # a cut-off request must get a final answer within this, each
DRAIN_LIMIT = 175.0          # the drain fails past this (a release check is due 120 s after a cancel)
GIVE_UP_SHARE = 0.5          # of the tok_timeoutAfterCharge checkouts, the share that does not retry the 504
CANCEL_PENDING_SHARE = 0.6   # of those pending orders, the share the staff cancels
ADMIN_EMAIL = "crash-admin@example.com"
ADMIN_PASSWORD = "crash-test-password-4711"
# A retried checkout must end in its order or in a refusal of that checkout; cart-not-open is
# no such refusal (the first attempt converted the cart, maybe charged, and the order is hidden).
FINAL_CHECKOUT = {"order", "declined", "out-of-stock"}
HOLDS_MONEY = {"paid", "partially_refunded", "fulfilled", "partially_fulfilled", "delivered"}

STARTED = time.monotonic()
PHASE = ["starting"]
CHILDREN = []


def log(message):
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def phase(name):
    PHASE[0] = name
    log(f"== {name}")


class SetupError(Exception):
    """A step without which the run cannot go on."""


class ConnError(Exception):
    """The request got no HTTP answer (refused, reset, closed, timed out)."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now_text(offset=0.0):
    """The server's timestamp format: RFC 3339 UTC with milliseconds, 24 characters."""
    t = time.time() + offset
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def slug(doc):
    if isinstance(doc, dict) and isinstance(doc.get("type"), str):
        return doc["type"].rsplit(":", 1)[-1]
    return None


def short(raw, limit=300):
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text if len(text) <= limit else text[:limit] + "…"


def listed(items, limit=8):
    items = list(items)
    text = ", ".join(str(i) for i in items[:limit])
    return text + (f" … and {len(items) - limit} more" if len(items) > limit else "")


# MARK: HTTP client

class Api:
    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None, headers=None, token=None, timeout=30):
        sent = {"Connection": "close"}
        data = None
        if body is not None:
            data = json.dumps(body, sort_keys=True).encode()
            sent["Content-Type"] = "application/json"
        if token:
            sent["Authorization"] = "Bearer " + token
        sent.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise ConnError(f"{type(error).__name__}: {error}") from None
        finally:
            conn.close()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        return response.status, doc, raw

    def expect(self, what, statuses, method, path, **kwargs):
        status, doc, raw = self.call(method, path, **kwargs)
        if status not in statuses:
            raise SetupError(f"{what}: {method} {path} answered {status}: {short(raw)}")
        return doc


# MARK: Processes

class Proc:
    """One emporium process, started again after each kill with the same arguments."""

    def __init__(self, name, argv, work, env=None):
        self.name = name
        self.argv = argv
        self.work = work
        self.env = env
        self.path = os.path.join(work, name + ".log")
        self.process = None
        self.starts = 0
        CHILDREN.append(self)

    def start(self):
        self.starts += 1
        with open(self.path, "ab") as f:
            f.write(f"\n===== start {self.starts} at {time.monotonic() - STARTED:.1f}s: {' '.join(self.argv[1:3])}\n".encode())
        out = open(self.path, "ab")
        self.process = subprocess.Popen(self.argv, cwd=self.work, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        out.close()

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def kill9(self):
        if self.alive():
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout=20):
        """Graceful stop (SIGTERM); SIGKILL when it does not end in time. Returns the exit code."""
        if not self.alive():
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop within {timeout} s of SIGTERM; killing it")
            self.kill9()
            return None

    def tail(self, lines=30):
        try:
            with open(self.path, "rb") as f:
                return b"".join(f.readlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return ""


def kill_children():
    for child in CHILDREN:
        try:
            child.kill9()
        except Exception:
            pass


def wait_ready(api, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise SetupError(f"{proc.name} exited with {proc.process.returncode} while starting:\n{proc.tail()}")
        try:
            status, _, _ = api.call("GET", "/health/ready", timeout=3)
            if status == 200:
                return
        except ConnError:
            pass
        time.sleep(0.1)
    raise SetupError(f"{proc.name} was not ready within {timeout} s:\n{proc.tail()}")


# MARK: Database access (read only)

class Database:
    def __init__(self, engine, url):
        self.engine = engine
        self.url = url
        if engine == "sqlite":
            import sqlite3
            self.sqlite3 = sqlite3
            self.path = url[len("sqlite://"):]
        else:
            pg_bin = os.environ.get("PG_BIN", "")
            self.psql = os.path.join(pg_bin, "psql") if pg_bin else "psql"

    def rows(self, sql):
        """The rows of a query as dicts (numbers as int)."""
        if self.engine == "sqlite":
            conn = self.sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            try:
                conn.row_factory = self.sqlite3.Row
                return [dict(row) for row in conn.execute(sql).fetchall()]
            finally:
                conn.close()
        wrapped = f"SELECT COALESCE(json_agg(t), '[]'::json) FROM ({sql}) t"
        result = subprocess.run(
            [self.psql, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", self.url, "-c", wrapped],
            capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise SetupError(f"psql failed on {sql!r}: {result.stderr.strip()}")
        return json.loads(result.stdout)

    def scalar(self, sql):
        rows = self.rows(sql)
        return list(rows[0].values())[0] if rows else None


# MARK: Webhook receiver

class Receiver:
    """Records every delivery with its headers and body; signatures are checked at the end,
    once the endpoint's secret is known (deliveries may race the answer that carries it)."""

    def __init__(self):
        self.deliveries = []
        self.incomplete = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                try:
                    body = self.read_body()
                except (OSError, ValueError):
                    body = None
                if body is None:
                    # The sender died mid-request: a receiver drops what it did not get whole
                    # (and acknowledges nothing); the retry is the delivery.
                    with receiver.lock:
                        receiver.incomplete += 1
                    self.close_connection = True
                    return
                # A little latency, so that kills land while deliveries are in flight.
                time.sleep(0.01)
                with receiver.lock:
                    receiver.deliveries.append({
                        "path": self.path,
                        "id": self.headers.get("webhook-id"),
                        "timestamp": self.headers.get("webhook-timestamp"),
                        "signature": self.headers.get("webhook-signature") or "",
                        "body": body,
                    })
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def read_body(self):
                """The whole body, or None when the connection ended before it did."""
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    body = b""
                    while True:
                        size_line = self.rfile.readline()
                        if not size_line.endswith(b"\n"):
                            return None
                        size = int(size_line.split(b";")[0].strip(), 16)
                        chunk = self.rfile.read(size + 2) if size else self.rfile.readline()
                        if size == 0:
                            return body
                        if len(chunk) < size + 2:
                            return None
                        body += chunk[:size]
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                return body if len(body) == length else None

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def snapshot(self):
        with self.lock:
            return list(self.deliveries)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def signature_valid(delivery, secret):
    if not secret or not secret.startswith("whsec_") or not delivery["id"] or not delivery["timestamp"]:
        return False
    key = base64.b64decode(secret[len("whsec_"):])
    message = f"{delivery['id']}.{delivery['timestamp']}.".encode() + delivery["body"]
    expected = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
    for part in delivery["signature"].split():
        version, _, value = part.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


# MARK: SMTP sink

class MailSink:
    def __init__(self, port):
        from aiosmtpd.controller import Controller
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        self.messages = []
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                import asyncio
                content = envelope.original_content or envelope.content
                message = email.message_from_bytes(content, policy=email.policy.default)
                # A little latency, so that kills land while messages are being sent.
                await asyncio.sleep(0.01)
                with sink.lock:
                    sink.messages.append({
                        "message_id": str(message.get("Message-ID", "")).strip(),
                        "to": str(message.get("To", "")),
                        "subject": str(message.get("Subject", "")),
                        "rcpt": list(envelope.rcpt_tos),
                    })
                return "250 2.0.0 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        self.controller.start()
        self.port = port

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def stop(self):
        self.controller.stop()


# MARK: Load

class State:
    """What the clients saw, shared by their threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.killed = False             # set just before a SIGKILL of the server
        self.orders = {}                # id -> acknowledged order (201)
        self.paid_pool = []             # ids the admin may cancel or refund
        self.declined = 0
        self.out_of_stock = 0
        self.checkouts = 0
        self.timeout_retries = []       # (key, outcome) of the one retry after a 504
        self.cut_checkouts = []         # checkouts whose request the kill cut off
        self.cut_refunds = []
        self.cut_cancels = []
        self.cancelled = set()          # cancels answered 200
        self.gave_up = {}               # order id -> {number, cart, key}: 504 not retried, order left pending
        self.pending_pool = []          # of those, ids the staff has not looked at yet
        self.staff_cancels = {}         # of those, id -> answer of the staff's cancel (200, 409, "cut")
        self.left_alone = set()         # of those, ids the staff left for the reconcile job
        self.interrupted = []           # (what was killed, rows of jobs running then, or None when unknown)
        self.cancel_refused = 0
        self.refunds = {}               # refund id -> (order id, amount) answered 201
        self.refund_refused = 0
        self.anomalies = []
        self.last_activity = time.monotonic()

    def anomaly(self, text):
        with self.lock:
            self.anomalies.append(f"[{PHASE[0]}] {text}")

    def acknowledge(self, doc, via):
        with self.lock:
            order = {
                "id": doc["id"], "number": doc["number"], "status": doc["status"],
                "total": doc["totals"]["total"], "captured": (doc.get("payment") or {}).get("captured", 0),
                "email": doc.get("email"), "via": via, "refunded": 0,
            }
            self.orders[doc["id"]] = order
            if doc["status"] == "paid":
                self.paid_pool.append(doc["id"])
            self.last_activity = time.monotonic()


class Catalog:
    def __init__(self, skus, low_sku, method):
        self.skus = skus
        self.low_sku = low_sku
        self.method = method


def classify(status, doc):
    kind = slug(doc)
    if status == 201 and isinstance(doc, dict) and "id" in doc:
        return "order"
    if status == 402 and kind == "payment-declined":
        return "declined"
    if status == 504 and kind == "payment-timeout":
        return "timeout"
    if status == 409 and kind in ("out-of-stock", "cart-not-open", "idempotency-key-in-use"):
        return "key-in-use" if kind == "idempotency-key-in-use" else kind
    return "unexpected"


def checkout_request(api, cart, timeout=30):
    return api.call(
        "POST", f"/v1/carts/{cart['id']}/checkout",
        body={"payment": {"provider": "test", "token": cart["token"]}},
        headers={"X-Cart-Token": cart["secret"], "Idempotency-Key": cart["key"]}, timeout=timeout)


class Load:
    """16 shoppers and one admin, until stopped."""

    def __init__(self, api, catalog, state, admin_token, seed):
        self.api = api
        self.catalog = catalog
        self.state = state
        self.admin_token = admin_token
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self.shopper, args=(i, random.Random(seed * 100 + i)), daemon=True)
                        for i in range(SHOPPERS)]
        self.threads.append(threading.Thread(target=self.admin, args=(random.Random(seed * 100 + 99),), daemon=True))

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.stop_event.set()
        for thread in self.threads:
            thread.join(60)
            if thread.is_alive():
                self.state.anomaly("a client thread did not stop within 60 s")

    def lost(self, what, error):
        """A request without an answer: expected only while the server is being killed."""
        if not self.state.killed:
            self.state.anomaly(f"{what}: no answer while the server was up ({error})")
        time.sleep(0.1)

    # A cart ready for checkout, or None.
    def ready_cart(self, n, rnd):
        api, st = self.api, self.state
        status, doc, raw = api.call("POST", "/v1/carts", body={"currency": "EUR"})
        if status not in (200, 201):
            st.anomaly(f"POST /v1/carts answered {status}: {short(raw)}")
            return None
        cart = {"id": doc["id"], "secret": doc["secret"]}
        headers = {"X-Cart-Token": cart["secret"]}
        wanted = rnd.sample(self.catalog.skus, rnd.choice([1, 1, 2]))
        if rnd.random() < 0.25:
            wanted.append(self.catalog.low_sku)
        items = 0
        for sku in wanted:
            status, doc, raw = api.call("POST", f"/v1/carts/{cart['id']}/items", headers=headers,
                                        body={"sku": sku, "quantity": rnd.choice([1, 1, 2])})
            if status in (200, 201):
                items += 1
            elif not (status == 409 and sku == self.catalog.low_sku):
                st.anomaly(f"adding {sku} to cart {cart['id']} answered {status}: {short(raw)}")
        if items == 0:
            return None
        for method, suffix, body in (
            ("PUT", "/email", {"email": f"shopper{n}@example.com"}),
            ("PUT", "/shipping-address", {"recipient": "Ada Lovelace", "line1": "1 Unter den Linden", "city": "Berlin",
                                          "postal_code": "10117", "country": "DE"}),
            ("PUT", "/shipping-method", {"shipping_method_id": self.catalog.method}),
        ):
            status, doc, raw = api.call(method, f"/v1/carts/{cart['id']}{suffix}", headers=headers, body=body)
            if status != 200:
                st.anomaly(f"{method} {suffix} of cart {cart['id']} answered {status}: {short(raw)}")
                return None
        return cart

    def shopper(self, index, rnd):
        st = self.state
        n = 0
        while not self.stop_event.is_set():
            n += 1
            try:
                cart = self.ready_cart(f"{index}-{n}", rnd)
            except ConnError as error:
                self.lost("building a cart", error)
                continue
            if cart is None:
                continue
            cart["key"] = str(uuid.uuid4())
            cart["token"] = rnd.choices(["tok_visa", "tok_chargeDeclined", "tok_timeoutAfterCharge"], [7, 1, 2])[0]
            # A share of the shoppers whose payment times out walks away instead of retrying.
            cart["retry_504"] = cart["token"] != "tok_timeoutAfterCharge" or rnd.random() >= GIVE_UP_SHARE
            with st.lock:
                st.checkouts += 1
            self.checkout(cart)

    def checkout(self, cart):
        st = self.state
        for attempt in (1, 2):
            try:
                status, doc, raw = checkout_request(self.api, cart)
            except ConnError as error:
                cart["cut_at"] = time.monotonic()
                cart["error"] = str(error)
                cart["after_504"] = attempt == 2
                with st.lock:
                    st.cut_checkouts.append(cart)
                self.lost(f"checkout of cart {cart['id']} key {cart['key']}", error)
                return
            kind = classify(status, doc)
            if attempt == 2:
                with st.lock:
                    st.timeout_retries.append((cart["key"], kind))
            if kind == "order":
                st.acknowledge(doc, "checkout")
                return
            if kind == "declined":
                with st.lock:
                    st.declined += 1
                return
            if kind == "out-of-stock":
                with st.lock:
                    st.out_of_stock += 1
                return
            if kind == "timeout" and attempt == 1:
                if cart["token"] != "tok_timeoutAfterCharge":
                    st.anomaly(f"checkout of cart {cart['id']} with {cart['token']} answered 504: {short(raw)}")
                if not cart["retry_504"]:
                    self.give_up(cart, doc, raw)
                    return
                continue
            st.anomaly(f"checkout of cart {cart['id']} key {cart['key']} ({cart['token']}, attempt {attempt}) "
                       f"answered {status}: {short(raw)}")
            return

    def give_up(self, cart, doc, raw):
        """A shopper who got 504 and walks away: the order stays pending (the provider has
        charged; the answer was lost). Its id, found by its number, goes to the staff."""
        st = self.state
        match = re.search(r"Order #(\d+)", (doc or {}).get("detail") or "")
        if not match:
            st.anomaly(f"checkout of cart {cart['id']} answered 504 without an order number: {short(raw)}")
            return
        number = match.group(1)
        try:
            status, page, raw = self.api.call("GET", f"/v1/admin/orders?number={number}", token=self.admin_token)
        except ConnError as error:
            self.lost(f"looking up order #{number} after a 504", error)
            return
        found = [o for o in (page or {}).get("data", []) if str(o.get("number", "")).lstrip("#") == number] if status == 200 else []
        if len(found) != 1:
            st.anomaly(f"order #{number} of cart {cart['id']} (504): GET /v1/admin/orders?number= answered {status}: {short(raw)}")
            return
        with st.lock:
            st.gave_up[found[0]["id"]] = {"number": int(number), "cart": cart["id"], "key": cart["key"],
                                          "status_then": found[0].get("status")}
            st.pending_pool.append(found[0]["id"])
            st.last_activity = time.monotonic()

    def admin(self, rnd):
        st = self.state
        while not self.stop_event.is_set():
            time.sleep(rnd.uniform(0.05, 0.15))
            with st.lock:
                pending = st.pending_pool.pop(rnd.randrange(len(st.pending_pool))) if st.pending_pool else None
            if pending is not None:
                # Pending orders are cancellable: some are cancelled, the rest left to their reconcile job.
                if rnd.random() < CANCEL_PENDING_SHARE:
                    self.cancel_pending(pending)
                else:
                    with st.lock:
                        st.left_alone.add(pending)
                continue
            with st.lock:
                if not st.paid_pool:
                    continue
                order = st.orders[rnd.choice(st.paid_pool)]
            if rnd.random() < 0.35:
                self.cancel(order)
            else:
                self.refund(order, rnd.randint(1, max(1, order["captured"] // 4)))

    def cancel_pending(self, oid):
        """Cancels a pending order whose payment's answer was lost: the server must give the
        authorization (or capture) back at the provider."""
        st = self.state
        try:
            status, doc, raw = self.api.call("POST", f"/v1/admin/orders/{oid}/cancel", token=self.admin_token)
        except ConnError as error:
            with st.lock:
                st.cut_cancels.append(oid)
                st.staff_cancels[oid] = "cut"
            self.lost(f"cancel of pending order {oid}", error)
            return
        with st.lock:
            st.last_activity = time.monotonic()
            st.staff_cancels[oid] = status
            if status == 200 and (doc or {}).get("status") == "cancelled":
                st.cancelled.add(oid)
                return
        st.anomaly(f"cancel of pending order {oid} answered {status}: {short(raw)}")

    def cancel(self, order):
        st = self.state
        try:
            status, doc, raw = self.api.call("POST", f"/v1/admin/orders/{order['id']}/cancel", token=self.admin_token)
        except ConnError as error:
            with st.lock:
                st.cut_cancels.append(order["id"])
                if order["id"] in st.paid_pool:
                    st.paid_pool.remove(order["id"])
            self.lost(f"cancel of order {order['id']}", error)
            return
        with st.lock:
            st.last_activity = time.monotonic()
            if status == 200 and doc.get("status") == "cancelled":
                st.cancelled.add(order["id"])
                if order["id"] in st.paid_pool:
                    st.paid_pool.remove(order["id"])
                return
            if status == 409 and slug(doc) == "order-not-cancellable":
                st.cancel_refused += 1
                if order["id"] in st.paid_pool:
                    st.paid_pool.remove(order["id"])
                return
        st.anomaly(f"cancel of order {order['id']} answered {status}: {short(raw)}")

    def refund(self, order, amount, key=None):
        return settle_refund(self.api, self.admin_token, self.state, order["id"], key or str(uuid.uuid4()), amount)


def settle_refund(api, token, st, order_id, key, amount, on_cut="record", deadline=RETRY_DEADLINE):
    """Sends one refund, retrying with its key on 202, 5xx and a lost answer, until it is final.
    Returns (outcome, seconds)."""
    started = time.monotonic()
    while True:
        try:
            status, doc, raw = api.call("POST", f"/v1/admin/orders/{order_id}/refunds", token=token,
                                        headers={"Idempotency-Key": key}, body={"amount": amount})
        except ConnError as error:
            if st.killed and on_cut == "record":
                with st.lock:
                    st.cut_refunds.append({"order_id": order_id, "key": key, "amount": amount, "error": str(error)})
                return "cut", time.monotonic() - started
            if time.monotonic() - started > deadline:
                st.anomaly(f"refund {key} of order {order_id}: no answer within {deadline:.0f} s ({error})")
                return "no answer", time.monotonic() - started
            time.sleep(0.2)
            continue
        with st.lock:
            st.last_activity = time.monotonic()
        if status == 201:
            with st.lock:
                st.refunds[doc["id"]] = (order_id, doc["amount"], key)
            return "refunded", time.monotonic() - started
        if status == 409 and slug(doc) in ("refund-exceeds-captured", "order-not-refundable"):
            with st.lock:
                st.refund_refused += 1
            return "refused", time.monotonic() - started
        retryable = status == 202 or status >= 500 or (status == 409 and slug(doc) == "idempotency-key-in-use")
        if retryable and time.monotonic() - started <= deadline:
            time.sleep(0.3)
            continue
        st.anomaly(f"refund {key} of order {order_id} ({amount}) answered {status}: {short(raw)}")
        return f"{status}", time.monotonic() - started


def settle_checkout(api, cart):
    """Retries a cut-off checkout with its key until a final answer; returns (kind, seconds, trail)."""
    started = time.monotonic()
    trail = []
    while True:
        try:
            status, doc, raw = checkout_request(api, cart, timeout=RETRY_DEADLINE)
        except ConnError as error:
            trail.append("no answer")
            if time.monotonic() - started > RETRY_DEADLINE:
                return "no answer", time.monotonic() - started, trail, None
            time.sleep(0.2)
            continue
        kind = classify(status, doc)
        trail.append(f"{status} {kind}")
        if kind in FINAL_CHECKOUT:
            return kind, time.monotonic() - started, trail, doc
        if kind in ("timeout", "key-in-use") and time.monotonic() - started <= RETRY_DEADLINE:
            time.sleep(0.3)
            continue
        return kind if kind != "unexpected" else f"{status} {short(raw, 120)}", time.monotonic() - started, trail, None


def in_parallel(function, items, threads=8):
    results = [None] * len(items)
    queue = list(enumerate(items))
    lock = threading.Lock()

    def run():
        while True:
            with lock:
                if not queue:
                    return
                index, item = queue.pop()
            results[index] = function(item)

    workers = [threading.Thread(target=run, daemon=True) for _ in range(min(threads, max(1, len(items))))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return results


# MARK: Setup

def set_up_catalog(api, token):
    location = api.expect("creating a stock location", (201,), "POST", "/v1/admin/inventory/locations", token=token,
                          body={"code": "main", "name": "Main"})["id"]
    skus = []
    products = [("crash-mug", "CRASH-MUG", 1000, 100000), ("crash-cup", "CRASH-CUP", 2490, 100000),
                ("crash-pot", "CRASH-POT", 799, 100000), ("crash-rare", "CRASH-RARE", 1500, 40)]
    for handle, sku, price, stock in products:
        api.expect(f"creating product {sku}", (201,), "POST", "/v1/admin/products", token=token, body={
            "handle": handle, "title": handle.replace("-", " ").title(), "description": "Made for the crash test.",
            "status": "active", "options": ["Size"],
            "variants": [{"sku": sku, "option_values": ["M"], "weight_grams": 250,
                          "prices": [{"currency": "EUR", "amount": price}]}]})
        api.expect(f"receiving stock of {sku}", (201,), "POST", "/v1/admin/inventory/adjustments", token=token,
                   body={"sku": sku, "location_id": location, "delta": stock, "reason": "received"})
        skus.append(sku)
    method = api.expect("creating a shipping method", (201,), "POST", "/v1/admin/shipping-methods", token=token,
                        body={"name": "Standard", "currency": "EUR", "flat_amount": 490})["id"]
    api.expect("creating a tax rate", (201,), "POST", "/v1/admin/tax-rates", token=token,
               body={"country": "DE", "name": "VAT", "rate_ppm": 190000})
    return Catalog(skus[:3], skus[3], method)


# MARK: Checks

class Report:
    def __init__(self):
        self.rows = []
        self.checks = []

    def row(self, label, value):
        self.rows.append((label, value))

    def check(self, name, problems, detail=""):
        self.checks.append(("PASS" if not problems else "FAIL", name, detail, problems))

    @property
    def failed(self):
        return [c for c in self.checks if c[0] == "FAIL"]

    def print(self, title):
        print()
        print(f"== {title}")
        width = max(len(label) for label, _ in self.rows) if self.rows else 10
        for label, value in self.rows:
            print(f"  {label.ljust(width)}  {value}")
        print()
        for verdict, name, detail, problems in self.checks:
            print(f"  {verdict}  {name}" + (f"  ({detail})" if detail else ""))
            for problem in problems[:12]:
                print(f"          - {problem}")
            if len(problems) > 12:
                print(f"          … and {len(problems) - 12} more")
        print(flush=True)


def read_ledger(path):
    entries, bad = [], 0
    try:
        with open(path, "rb") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    bad += 1
    except FileNotFoundError:
        pass
    return entries, bad


# Ledger keys by prefix, longest first: ids are UUIDs, so a key is never split at a dash.
LEDGER_PREFIXES = ("release-refund-", "release-void-", "authorize-", "capture-", "refund-", "void-")
LEDGER_OPERATION = {"authorize": "authorize", "capture": "capture", "void": "void", "release-void": "void",
                    "refund": "refund", "release-refund": "refund"}


def ledger_key(key):
    """(kind, id) of a provider idempotency key such as release-void-<payment id>; (None, key) when unknown."""
    for prefix in LEDGER_PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            return prefix[:-1], key[len(prefix):]
    return None, key


def check_given_up(report, db, st, orders, payment_of, refunds, auths, release_refunds):
    """The pending orders of shoppers who walked away after a 504 (charged, answer lost): those
    the staff cancelled must have their money back at the provider and in the database; the
    rest must have been paid by their reconcile job."""
    by_payment = {a["payment"]: (ref, a) for ref, a in auths.items()}

    def jobs_of(payment_id):
        rows = db.rows("SELECT kind, state, attempts, run_at, last_error FROM jobs "
                       f"WHERE payload LIKE '%{payment_id}%' OR unique_key LIKE '%{payment_id}%' ORDER BY created_at")
        return "; ".join(f"{j['kind']} {j['state']} attempts {j['attempts']} run_at {j['run_at']} "
                         f"last_error {j['last_error']!r}" for j in rows) or "none"

    paths = {}
    problems = []
    cancelled = sorted((oid for oid in st.gave_up if oid in st.staff_cancels), key=lambda i: st.gave_up[i]["number"])
    for oid in cancelled:
        g = st.gave_up[oid]
        o, p = orders.get(oid), payment_of.get(oid)
        label = f"order #{g['number']} ({oid}; staff cancel answered {st.staff_cancels[oid]})"
        if o is None or p is None:
            problems.append(f"{label}: order or payment missing from the database")
            continue
        label += f" is {o['status']}, payment {p['id']} {p['status']}"
        db_refunds = [r for r in refunds.values() if r["payment_id"] == p["id"]]
        db_text = (f"database: reference {p['provider_reference']}, authorized {p['authorized']}, captured {p['captured']}, "
                   f"refunded {p['refunded']}, refunds: " + (", ".join(f"{r['id']} {r['reason']} {r['status']} {r['amount']}"
                                                                       for r in db_refunds) or "none"))
        if o["status"] != "cancelled":
            problems.append(f"{label}: a pending order the staff cancelled is not cancelled; {db_text}")
            continue
        ref, a = by_payment.get(p["id"], (None, None))
        if a is None:
            problems.append(f"{label}: no authorize-{p['id']} in the ledger, though tok_timeoutAfterCharge charges; {db_text}")
            continue
        ledger_text = f"ledger: {', '.join(a['keys'])} (captured {a['captured']}, refunded {a['refunded']}, voids {a['voids']})"
        if a["voids"] >= 1 and a["captured"] == 0:
            path = "release-void" if f"release-void-{p['id']}" in a["keys"] else "void"
            recorded = (p["status"] == "voided" and p["provider_reference"] == ref and p["authorized"] == a["amount"]
                        and p["captured"] == 0 and p["refunded"] == 0)
        elif a["captured"] > 0 and a["refunded"] == a["captured"] and a["voids"] == 0:
            path = "release-refund" if p["id"] in release_refunds else "refund"
            succeeded = sum(r["amount"] for r in db_refunds if r["status"] == "succeeded")
            recorded = (p["provider_reference"] == ref and p["authorized"] == a["amount"] and p["captured"] == a["captured"]
                        and p["refunded"] == a["captured"] and succeeded == a["captured"])
            if path == "release-refund":
                recorded = recorded and any(r["reason"] == "released" and r["status"] == "succeeded"
                                            and r["amount"] == release_refunds[p["id"]].get("amount") for r in db_refunds)
        else:
            path = "not given back"
            problems.append(f"{label}: cancelled, but the provider keeps the money — {ledger_text}; {db_text}; "
                            f"jobs: {jobs_of(p['id'])}")
        paths[path] = paths.get(path, 0) + 1
        if path != "not given back" and not recorded:
            problems.append(f"{label}: given back at the provider by {path}, but the database does not record it — "
                            f"{ledger_text}; {db_text}; jobs: {jobs_of(p['id'])}")
    if not cancelled:
        problems.append("the staff cancelled no pending order after a 504: the void and release paths were not exercised")
    left = sorted((oid for oid in st.gave_up if oid not in st.staff_cancels), key=lambda i: st.gave_up[i]["number"])
    left_problems = []
    for oid in left:
        o, p = orders.get(oid), payment_of.get(oid)
        ref, a = by_payment.get(p["id"], (None, None)) if p else (None, None)
        if o is None or p is None or o["status"] != "paid" or p["status"] != "captured" or a is None \
                or a["captured"] != p["amount"] or a["refunded"] != 0:
            left_problems.append(
                f"order #{st.gave_up[oid]['number']} ({oid}) is {o and o['status']}, payment {p and p['status']}; ledger: "
                + (f"{', '.join(a['keys'])} (captured {a['captured']}, refunded {a['refunded']})" if a else "no authorization")
                + (f"; jobs: {jobs_of(p['id'])}" if p else ""))
    report.row("504 not retried (order left pending)",
               f"{len(st.gave_up)}: staff cancelled {len(cancelled)} (money back by "
               + (", ".join(f"{k} {n}" for k, n in sorted(paths.items())) or "-")
               + f"), left to their reconcile job {len(left)} (paid {len(left) - len(left_problems)})")
    report.check("every pending order the staff cancelled after a 504 got its money back: a void, or refunds of its whole "
                 "capture, at the provider, and the database records it", problems)
    report.check("every order left pending after a 504 was paid by its reconcile job, charged once", left_problems)


def run_checks(report, db, st, ledger_path, receiver, webhook_secret, sink, cut_results,
               refund_retries, cancel_retries, api, admin_token, drain_problem):
    # What the queue had not done yet shows up as missing mail and deliveries: say so beside them.
    undrained = "the queue had not drained, see above" if drain_problem else ""
    orders = {o["id"]: o for o in db.rows(
        "SELECT id, number, status, placed_at, email, total, reservation_expires_at FROM orders")}
    payments = {p["id"]: p for p in db.rows(
        "SELECT id, order_id, provider_reference, status, amount, authorized, captured, refunded FROM payments")}
    payment_of = {p["order_id"]: p for p in payments.values()}
    refunds = {r["id"]: r for r in db.rows("SELECT id, order_id, payment_id, amount, reason, status FROM refunds")}
    events = db.rows("SELECT id, aggregate_id, event_type FROM outbox WHERE aggregate_type = 'order'")
    created_event = {}
    placed_event = {}
    event_problems = []
    for e in events:
        target = created_event if e["event_type"] == "order.created" else placed_event if e["event_type"] == "order.placed" else None
        if target is None:
            continue
        if e["aggregate_id"] in target:
            event_problems.append(f"order {e['aggregate_id']} has two {e['event_type']} events")
        target[e["aggregate_id"]] = e["id"]
    by_status = {}
    for o in orders.values():
        by_status[o["status"]] = by_status.get(o["status"], 0) + 1

    # 1. Acknowledged orders.
    listed_ids = set()
    cursor = None
    for _ in range(1000):
        path = "/v1/admin/orders?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = api.expect("listing orders", (200,), "GET", path, token=admin_token)
        listed_ids.update(o["id"] for o in page["data"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    missing_db = [i for i in st.orders if i not in orders]
    missing_api = [i for i in st.orders if i not in listed_ids]
    still_pending = [f"{orders[i]['number']} ({i})" for i in st.orders if i in orders and orders[i]["status"] == "pending"]
    report.row("orders acknowledged (201)", f"{len(st.orders)} (checkouts {sum(1 for o in st.orders.values() if o['via'] == 'checkout')}, "
                                            f"cut-off retries {sum(1 for o in st.orders.values() if o['via'] != 'checkout')})")
    report.row("  found in database / admin API", f"{len(st.orders) - len(missing_db)} / {len(st.orders) - len(missing_api)}")
    report.row("orders in database by status", ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())))
    report.row("checkouts sent / declined / out of stock", f"{st.checkouts} / {st.declined} / {st.out_of_stock}")
    report.row("cancels answered / refused / cut off", f"{len(st.cancelled)} / {st.cancel_refused} / {len(st.cut_cancels)}")
    report.row("refunds answered / refused / cut off", f"{len(st.refunds)} / {st.refund_refused} / {len(st.cut_refunds)}")
    report.check("every acknowledged order exists (database and admin API) and is settled",
                 [f"order {i} missing from the database" for i in missing_db]
                 + [f"order {i} missing from GET /v1/admin/orders" for i in missing_api]
                 + [f"order {o} still pending after the drain" for o in still_pending])
    wrong_cancel = [i for i in st.cancelled if orders.get(i, {}).get("status") != "cancelled"]
    wrong_refund = [f"refund {rid} of order {oid} ({amount}): {refunds.get(rid, {}).get('status', 'missing')}"
                    for rid, (oid, amount, _) in st.refunds.items()
                    if refunds.get(rid, {}).get("status") != "succeeded" or refunds.get(rid, {}).get("amount") != amount]
    report.check("every acknowledged cancel and refund is in the database",
                 [f"order {i} answered cancelled but is {orders.get(i, {}).get('status')}" for i in wrong_cancel] + wrong_refund)

    # 2. Cut-off checkouts, retried with their keys.
    answers = {}
    problems = []
    latencies = []
    for cart, (kind, seconds, trail, _) in cut_results:
        answers[kind] = answers.get(kind, 0) + 1
        latencies.append(seconds)
        if kind not in FINAL_CHECKOUT:
            # What the first attempt left: an order under this key is one the shopper never saw.
            made = db.rows("SELECT o.id AS id, o.number AS number, o.status AS status, p.status AS payment, "
                           "p.captured AS captured FROM orders o LEFT JOIN payments p ON p.order_id = o.id "
                           f"WHERE o.checkout_key = '{cart['key']}'")
            left = "; ".join(f"order #{m['number']} ({m['id']}) {m['status']}, payment {m['payment']} captured {m['captured']}"
                             for m in made) or "no order under this key"
            problems.append(f"cart {cart['id']} key {cart['key']} ({cart['token']}): {kind} after {seconds:.1f} s; "
                            f"tried {', '.join(trail)}; database: {left}")
        elif seconds > RETRY_DEADLINE:
            problems.append(f"cart {cart['id']} key {cart['key']}: {kind} only after {seconds:.1f} s")
    in_flight = sum(1 for cart, _ in cut_results if "Refused" not in cart.get("error", ""))
    report.row("checkouts cut off by the kill", f"{len(cut_results)} ({in_flight} in flight, {len(cut_results) - in_flight} refused at connect)")
    report.row("  their answers after restart", ", ".join(f"{k} {v}" for k, v in sorted(answers.items())) or "-")
    if latencies:
        report.row("  answer latency", f"max {max(latencies):.2f} s, mean {sum(latencies) / len(latencies):.2f} s")
    report.check(f"every cut-off checkout, retried with its key, gets its order (201) or a refusal of that checkout "
                 f"(402 payment-declined, 409 out-of-stock; not cart-not-open) within {RETRY_DEADLINE:.0f} s", problems)
    timeout_problems = [f"key {key}: {kind}" for key, kind in st.timeout_retries if kind != "order"]
    report.row("504 payment-timeout retries (same key)", f"{len(st.timeout_retries)}, answered the order: "
                                                          f"{sum(1 for _, k in st.timeout_retries if k == 'order')}")
    report.check("every checkout answered 504 gets its order on the retry with its key", timeout_problems)
    refund_problems = [f"refund {r['key']} of order {r['order_id']}: {outcome} after {seconds:.1f} s"
                       for r, (outcome, seconds) in refund_retries if outcome not in ("refunded", "refused")]
    report.row("cut-off refunds / cancels retried", f"{len(refund_retries)}: "
               + (", ".join(sorted({o for _, (o, _) in refund_retries})) or "-")
               + f" / {len(cancel_retries)}: " + (", ".join(f"{s}" for _, s in cancel_retries) or "-"))
    report.check("every cut-off refund and cancel, retried, gets a final answer",
                 refund_problems + [f"cancel of order {oid}: answered {s}" for oid, s in cancel_retries if s not in (200, 409)])

    # 3. Webhooks: order.created at least once per order, with one stable id.
    deliveries = receiver.snapshot()
    bad_signatures = [d["id"] for d in deliveries if not signature_valid(d, webhook_secret)]
    created_ids = {}
    created_count = 0
    bad_bodies = []
    for d in deliveries:
        try:
            body = json.loads(d["body"])
        except ValueError:
            bad_bodies.append(d["id"])
            continue
        if body.get("type") != "order.created":
            continue
        created_count += 1
        oid = (body.get("data") or {}).get("order_id")
        created_ids.setdefault(oid, set()).add(d["id"])
    problems = [f"delivery {i}: signature does not verify" for i in bad_signatures]
    problems += [f"delivery {i}: body is not JSON" for i in bad_bodies]
    problems += event_problems
    for oid, o in orders.items():
        ids = created_ids.get(oid, set())
        if not ids:
            problems.append(f"order {o['number']} ({oid}): no order.created delivery")
        elif len(ids) > 1:
            problems.append(f"order {o['number']} ({oid}): order.created delivered under {len(ids)} ids {sorted(ids)}")
        elif created_event.get(oid) not in ids:
            problems.append(f"order {o['number']} ({oid}): webhook-id {sorted(ids)} is not its event {created_event.get(oid)}")
    problems += [f"order.created for unknown order {oid}" for oid in created_ids if oid not in orders]
    distinct = len({d["id"] for d in deliveries})
    report.row("webhook deliveries / distinct ids", f"{len(deliveries)} / {distinct} (order.created {created_count} "
                                                    f"for {len(created_ids)} orders, bad signatures {len(bad_signatures)}, "
                                                    f"cut short by a kill {receiver.incomplete})")
    report.check("every order.created reached the webhook receiver, signed, with one stable webhook-id", problems,
                 undrained if problems else "")

    # 4. Mail: one confirmation (one distinct Message-ID) per placed order.
    messages = sink.snapshot()
    by_number = {}
    for m in messages:
        match = re.search(r"order #(\d+) confirmed", m["subject"])
        if match:
            by_number.setdefault(int(match.group(1)), []).append(m)
    problems = []
    placed = {o["number"]: o for o in orders.values() if o["placed_at"]}
    raw_duplicates = 0
    for number, o in placed.items():
        mails = by_number.get(number, [])
        ids = {m["message_id"] for m in mails}
        raw_duplicates += len(mails) - len(ids)
        if len(ids) != 1:
            problems.append(f"order #{number} ({o['id']}): {len(ids)} distinct confirmation Message-IDs ({len(mails)} messages)")
            continue
        (message_id,) = ids
        event = placed_event.get(o["id"])
        if not event or not message_id.startswith(f"<{event}@"):
            problems.append(f"order #{number}: Message-ID {message_id} is not its order.placed event {event}")
        if any(o["email"] and o["email"] not in m["to"] for m in mails):
            problems.append(f"order #{number}: confirmation sent to {mails[0]['to']}, not {o['email']}")
    problems += [f"confirmation for order #{n}, which was never placed" for n in by_number if n not in placed]
    all_duplicates = len(messages) - len({m["message_id"] for m in messages})
    report.row("mails received / distinct Message-IDs", f"{len(messages)} / {len({m['message_id'] for m in messages})}")
    report.row("  confirmations / placed orders", f"{sum(len(v) for v in by_number.values())} for {len(by_number)} orders / {len(placed)}")
    report.row("  duplicates suppressed by Message-ID", f"{all_duplicates} (confirmations {raw_duplicates})")
    report.check("exactly one confirmation mail (one distinct Message-ID) per placed order", problems,
                 undrained if problems else "")

    # Raw duplicates: a message received twice is allowed only when its job was running at a
    # kill (the handler may have sent it and died before recording that), once per such kill.
    known = all(rows is not None for _, rows in st.interrupted)
    at_kill_jobs, at_kill_events = {}, {}
    for what, rows in st.interrupted:
        for r in rows or []:
            at_kill_jobs[r["id"]] = at_kill_jobs.get(r["id"], 0) + 1
            if r["kind"].startswith("mail.") and str(r.get("unique_key") or "").startswith("mail:"):
                event = r["unique_key"][len("mail:"):]
                at_kill_events[event] = at_kill_events.get(event, 0) + 1
    number_of_event = {e: orders[a]["number"] for a, e in placed_event.items() if a in orders}
    copies = {}
    for m in messages:
        copies.setdefault(m["message_id"], []).append(m)
    duplicates = []
    problems = []
    for message_id, ms in sorted(copies.items()):
        if len(ms) < 2:
            continue
        match = re.match(r"<(evt_[^@>]+)@", message_id)
        event = match.group(1) if match else None
        allowed = at_kill_events.get(event, 0)
        order = f"order #{number_of_event[event]}" if event in number_of_event else "not a confirmation"
        text = (f"{message_id} x{len(ms)} ({order}, {ms[0]['subject']!r}; its job was running at "
                f"{allowed} kill(s))")
        duplicates.append(text)
        if known and len(ms) - 1 > allowed:
            problems.append(text)
    raw_total = sum(len(ms) - 1 for ms in copies.values())
    if not known:
        unknown = [what for what, rows in st.interrupted if rows is None]
        if raw_total > 2:
            problems.append(f"{raw_total} raw duplicates, more than the 2 allowed when the jobs running at a kill are "
                            f"unknown ({', '.join(unknown)}): " + "; ".join(duplicates))
    report.row("  raw duplicates (same Message-ID again)", f"{raw_total}" + (": " + "; ".join(duplicates) if duplicates else "")
               + ("" if known else "   (jobs running at a kill unknown: at most 2 allowed)"))
    report.row("  mail jobs running at a kill", ", ".join(
        f"{what}: {sum(1 for r in rows if r['kind'].startswith('mail.'))} of {len(rows)}" if rows is not None
        else f"{what}: unknown" for what, rows in st.interrupted) or "-")
    report.check("raw duplicate mails only for mail jobs running when a process was killed (one extra copy per kill)"
                 if known else "at most 2 raw duplicate mails (which jobs were running at a kill is unknown)", problems)

    # 5. Jobs.
    job_rows = db.rows("SELECT state, kind, COUNT(*) AS n FROM jobs GROUP BY state, kind ORDER BY state, kind")
    states = {}
    for r in job_rows:
        states.setdefault(r["state"], []).append(f"{r['kind']} {r['n']}")
    for state in ("done", "pending", "running", "dead"):
        report.row(f"jobs {state}", "; ".join(states.get(state, [])) or "0")
    running = db.rows("SELECT id, kind, locked_by, locked_until FROM jobs WHERE state = 'running'")
    report.check("no job left running once the worker has stopped (the server runs none)",
                 [f"job {j['id']} {j['kind']} held by {j['locked_by']} until {j['locked_until']}" for j in running])
    dead = db.rows("SELECT id, kind, last_error FROM jobs WHERE state = 'dead'")
    report.check("no job died", [f"job {j['id']} {j['kind']}: {j['last_error']}" for j in dead])
    # A mail job that ran more than once: only because a kill interrupted it (the restart or an
    # expired lease freed it). A completed job's last_error is cleared, so the kill snapshots count too.
    retried = db.rows("SELECT id, kind, state, attempts, last_error, unique_key FROM jobs "
                      "WHERE kind LIKE 'mail.%' AND attempts > 1 ORDER BY kind, id")
    problems, shown = [], []
    for j in retried:
        freed = any(word in (j["last_error"] or "") for word in ("restart", "lease"))
        kills = at_kill_jobs.get(j["id"], 0)
        text = (f"job {j['id']} {j['kind']} {j['state']}: attempts {j['attempts']}, running at {kills} kill(s), "
                f"last error {j['last_error']!r}")
        shown.append(text)
        if not freed and int(j["attempts"]) > 1 + kills:
            problems.append(text)
    report.row("mail jobs with attempts > 1", f"{len(retried)}" + (": " + "; ".join(shown[:6]) if shown else "")
               + (f" … and {len(shown) - 6} more" if len(shown) > 6 else ""))
    report.check("no mail job ran twice unless a kill interrupted it (running at a kill, or freed by the restart or "
                 "an expired lease)", problems)

    # 6 and 7. Money: the provider's ledger against the database. Keys are parsed by their known
    # prefixes (payment and refund ids are UUIDs, full of dashes).
    entries, bad_lines = read_ledger(ledger_path)
    seen_keys = {}
    for e in entries:
        if e.get("outcome") == "succeeded":
            seen_keys[e["key"]] = seen_keys.get(e["key"], 0) + 1
    twice = [k for k, n in seen_keys.items() if n > 1]
    auths = {}            # reference -> {payment, amount, captured, refunded, voids, keys}
    refund_entries = {}   # refund id -> ledger entry of refund-<refund id>
    release_refunds = {}  # payment id -> ledger entry of release-refund-<payment id>
    money_problems = []
    parsed = []
    for e in entries:
        if e.get("outcome") != "succeeded":
            continue
        kind, target = ledger_key(e.get("key", ""))
        if kind is None or LEDGER_OPERATION[kind] != e.get("operation"):
            money_problems.append(f"ledger key {e.get('key')} ({e.get('operation')}) has no known prefix for its operation")
            continue
        parsed.append((kind, target, e))
        if kind == "authorize":
            auths[e.get("reference")] = {"payment": target, "amount": e.get("amount") or 0, "captured": 0, "refunded": 0,
                                         "voids": 0, "keys": [e["key"]]}
    orphans = []
    for kind, target, e in parsed:
        if kind == "authorize":
            continue
        a = auths.get(e.get("reference"))
        if a is None:
            orphans.append(f"{e.get('operation')} {e.get('key')} on unknown authorization {e.get('reference')}")
            continue
        a["keys"].append(e["key"])
        if kind != "refund" and target != a["payment"]:
            money_problems.append(f"ledger key {e['key']} is on the authorization of payment {a['payment']}")
        if kind == "capture":
            a["captured"] += e.get("amount") or 0
        elif kind in ("refund", "release-refund"):
            a["refunded"] += e.get("amount") or 0
            (refund_entries if kind == "refund" else release_refunds)[target] = e
        elif kind in ("void", "release-void"):
            a["voids"] += 1
    money_problems += [f"ledger key {k} succeeded {seen_keys[k]} times" for k in twice] + orphans
    if bad_lines:
        money_problems.append(f"{bad_lines} ledger lines are not JSON")
    charged_problems = []
    cancel_problems = []
    for ref, a in auths.items():
        p = payments.get(a["payment"])
        if p is None:
            charged_problems.append(f"authorization {ref} (payment {a['payment']}): no such payment")
            continue
        o = orders.get(p["order_id"], {})
        label = f"order {o.get('number')} ({p['order_id']}, {o.get('status')}), payment {p['id']} ({p['status']})"
        if p["provider_reference"] not in (None, ref):
            money_problems.append(f"{label}: provider reference {p['provider_reference']}, ledger {ref}")
        if p["captured"] != a["captured"] or p["refunded"] != a["refunded"]:
            money_problems.append(f"{label}: database captured {p['captured']} refunded {p['refunded']}, "
                                  f"ledger captured {a['captured']} refunded {a['refunded']} ({', '.join(a['keys'])})")
        net = a["captured"] - a["refunded"]
        if net > 0 and o.get("status") not in HOLDS_MONEY:
            charged_problems.append(f"{label}: {net} charged and kept ({', '.join(a['keys'])})")
        if a["captured"] == 0 and a["voids"] == 0:
            pending_ok = o.get("status") == "pending" and (o.get("reservation_expires_at") or "") > now_text()
            if o.get("status") != "authorized" and not pending_ok:
                charged_problems.append(f"{label}: authorization of {a['amount']} neither captured nor voided")
        if o.get("status") == "cancelled":
            voided = a["voids"] == 1 and a["captured"] == 0
            refunded = a["captured"] > 0 and a["refunded"] == a["captured"] and a["voids"] == 0
            if not (voided or refunded):
                cancel_problems.append(f"{label}: cancelled but voids {a['voids']}, captured {a['captured']}, "
                                       f"refunded {a['refunded']} ({', '.join(a['keys'])})")
    authorized_without_ledger = [f"payment {p['id']} of order {p['order_id']} is {p['status']} without a ledger authorization"
                                 for p in payments.values()
                                 if p["status"] in ("authorized", "captured", "voided") and p["provider_reference"] not in auths]
    released_rows = {}
    for rid, r in refunds.items():
        if r["reason"] == "released":
            # A release refunds with release-refund-<payment id>: matched by the payment.
            released_rows.setdefault(r["payment_id"], []).append(r)
            e = release_refunds.get(r["payment_id"])
        else:
            e = refund_entries.get(rid)
        if r["status"] == "succeeded" and (e is None or e.get("amount") != r["amount"]):
            money_problems.append(f"refund {rid} ({r['reason']}) of order {r['order_id']} succeeded ({r['amount']}) "
                                  f"but the ledger has {e}")
        elif r["status"] == "failed" and e is not None:
            money_problems.append(f"refund {rid} ({r['reason']}) of order {r['order_id']} failed but the ledger paid it out")
        elif r["status"] == "pending":
            money_problems.append(f"refund {rid} ({r['reason']}) of order {r['order_id']} still pending after the drain")
    money_problems += [f"the ledger refunded {k} which is no refund in the database" for k in refund_entries if k not in refunds]
    money_problems += [f"the ledger has release-refund-{pid} ({e.get('amount')}) but the database has "
                       f"{len(released_rows.get(pid, []))} refund rows with reason released for that payment"
                       for pid, e in release_refunds.items() if len(released_rows.get(pid, [])) != 1]
    ledger_captured = sum(a["captured"] for a in auths.values())
    ledger_refunded = sum(a["refunded"] for a in auths.values())
    key_counts = {}
    for kind, _, _ in parsed:
        key_counts[kind] = key_counts.get(kind, 0) + 1
    report.row("provider: authorizations / captures / voids / refunds",
               f"{len(auths)} / {sum(1 for a in auths.values() if a['captured'])} / {sum(a['voids'] for a in auths.values())} / "
               f"{len(refund_entries) + len(release_refunds)}   (ledger lines {len(entries)}; succeeded keys: "
               + ", ".join(f"{k} {n}" for k, n in sorted(key_counts.items())) + ")")
    report.row("database: authorized / captured / voided / refunds",
               f"{sum(1 for p in payments.values() if p['authorized'] > 0)} / {sum(1 for p in payments.values() if p['captured'] > 0)} / "
               f"{sum(1 for p in payments.values() if p['status'] == 'voided')} / "
               f"{sum(1 for r in refunds.values() if r['status'] == 'succeeded')} "
               f"(released {sum(1 for r in refunds.values() if r['reason'] == 'released')})")
    report.row("money captured / refunded (provider vs database)",
               f"{ledger_captured} / {ledger_refunded} vs {sum(p['captured'] for p in payments.values())} / "
               f"{sum(p['refunded'] for p in payments.values())}")
    check_given_up(report, db, st, orders, payment_of, refunds, auths, release_refunds)
    report.check("every cancelled order's money voided or refunded exactly once at the provider", cancel_problems)
    report.check("nothing charged without a paid order", charged_problems + authorized_without_ledger)
    report.check("provider ledger and database agree (each key once, amounts, refunds)", money_problems)

    # 8. Stock.
    levels = db.rows("SELECT variant_id, location_id, on_hand, reserved FROM inventory_levels")
    moved = {(m["variant_id"], m["location_id"]): m for m in db.rows(
        "SELECT variant_id, location_id, SUM(on_hand_delta) AS on_hand, SUM(reserved_delta) AS reserved "
        "FROM inventory_movements GROUP BY variant_id, location_id")}
    held = {(h["variant_id"], h["location_id"]): h["held"] for h in db.rows(
        "SELECT l.variant_id AS variant_id, l.reserved_location_id AS location_id, "
        "SUM(l.quantity - l.fulfilled_quantity) AS held FROM order_lines l JOIN orders o ON o.id = l.order_id "
        "WHERE o.status <> 'cancelled' AND l.reserved_location_id IS NOT NULL GROUP BY l.variant_id, l.reserved_location_id")}
    skus = {v["id"]: v["sku"] for v in db.rows("SELECT id, sku FROM variants")}
    problems = []
    stock_rows = []
    for level in levels:
        key = (level["variant_id"], level["location_id"])
        name = skus.get(level["variant_id"], level["variant_id"])
        m = moved.get(key, {"on_hand": 0, "reserved": 0})
        on_hand, reserved = level["on_hand"], level["reserved"]
        if not on_hand >= reserved >= 0:
            problems.append(f"{name}: on_hand {on_hand}, reserved {reserved}")
        if int(m["on_hand"] or 0) != on_hand or int(m["reserved"] or 0) != reserved:
            problems.append(f"{name}: level on_hand {on_hand} reserved {reserved}, ledger {m['on_hand']} / {m['reserved']}")
        if int(held.get(key, 0)) != reserved:
            problems.append(f"{name}: reserved {reserved}, orders not cancelled hold {held.get(key, 0)}")
        stock_rows.append(f"{name} {on_hand}/{reserved}")
    report.row("stock on_hand/reserved", ", ".join(stock_rows))
    report.check("on_hand, reserved, the movement ledger and the orders holding stock agree", problems)

    # 9. Nothing unexpected on the wire.
    report.check("every request while the server was up got an expected answer", st.anomalies)


# MARK: Kills and the drain

def snapshot_running(db, st, what):
    """Right after a kill (before the restart frees them): the jobs the dead process held. Their
    handlers may have done their work without recording it, so they may run again."""
    try:
        rows = db.rows("SELECT id, kind, unique_key, attempts, locked_by FROM jobs WHERE state = 'running'")
    except Exception as error:
        log(f"{what}: could not read the running jobs ({error}); raw mail duplicates fall back to at most 2 in all")
        st.interrupted.append((what, None))
        return
    st.interrupted.append((what, rows))
    mails = [r for r in rows if r["kind"].startswith("mail.")]
    log(f"{what}: {len(rows)} jobs were running, {len(mails)} of them mail")


def seconds_until(stamp):
    """Seconds from now to one of the server's timestamps (2026-11-30T16:43:05.123Z), or None."""
    try:
        text = str(stamp)
        at = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
        if text[19:20] == ".":
            at += float("0" + re.match(r"\.\d+", text[19:]).group(0))
        return at - time.time()
    except (ValueError, AttributeError):
        return None


def drain(db, report):
    """Waits until nothing is running or due, no event is unpublished, no order or refund is
    pending and no payment.* job waits for a later run_at. Returns (problem or None, note on
    how long it waited and for what)."""
    started = time.monotonic()
    deadline = started + DRAIN_LIMIT
    waited = {}            # reason -> seconds
    later_kinds = set()
    last_note = -1e9
    problem = None
    figures = {}
    while True:
        looked = time.monotonic()
        stamp = now_text()
        figures = {k: int(v or 0) for k, v in db.rows(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE state = 'running') AS running, "
            f"(SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND run_at <= '{stamp}') AS due, "
            "(SELECT COUNT(*) FROM outbox WHERE published_at IS NULL) AS unpublished, "
            "(SELECT COUNT(*) FROM orders WHERE status = 'pending') AS pending_orders, "
            "(SELECT COUNT(*) FROM refunds WHERE status = 'pending') AS pending_refunds, "
            "(SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND kind LIKE 'payment.%' "
            f"AND run_at > '{stamp}') AS payment_later")[0].items()}
        later = []
        if figures["payment_later"]:
            later = db.rows("SELECT kind, COUNT(*) AS n, MAX(run_at) AS last FROM jobs WHERE state = 'pending' "
                            f"AND kind LIKE 'payment.%' AND run_at > '{stamp}' GROUP BY kind ORDER BY kind")
            later_kinds.update(r["kind"] for r in later)
            too_late = db.rows("SELECT id, kind, run_at, attempts, last_error FROM jobs WHERE state = 'pending' "
                               f"AND kind LIKE 'payment.%' AND run_at > '{now_text(deadline - time.monotonic())}' "
                               "ORDER BY run_at")
            if too_late:
                problem = (f"{len(too_late)} payment job(s) due after the drain limit of {DRAIN_LIMIT:.0f} s: "
                           + listed(f"{j['kind']} {j['id']} at {j['run_at']} (attempts {j['attempts']}, "
                                    f"last error {j['last_error']!r})" for j in too_late))
                break
        if figures["running"] or figures["due"] or figures["unpublished"]:
            reason = "jobs running or due and events unpublished"
        elif figures["payment_later"]:
            reason = "payment.* jobs due later"
        elif figures["pending_orders"] or figures["pending_refunds"]:
            reason = "pending orders or refunds without a job due"
        else:
            break
        if time.monotonic() > deadline:
            problem = f"after {DRAIN_LIMIT:.0f} s: " + ", ".join(f"{k} {v}" for k, v in figures.items())
            break
        if time.monotonic() - last_note >= 15:
            last_note = time.monotonic()
            upcoming = "; ".join(f"{r['kind']} {r['n']} (last in {max(0, seconds_until(r['last']) or 0):.0f} s)" for r in later)
            log(f"drain: {', '.join(f'{k} {v}' for k, v in figures.items())}" + (f"; due later: {upcoming}" if upcoming else ""))
        time.sleep(1)
        waited[reason] = waited.get(reason, 0.0) + time.monotonic() - looked
    total = time.monotonic() - started
    note = f"waited {total:.0f} s" + (": " + ", ".join(f"{v:.0f} s for {k}" for k, v in waited.items()) if waited else "")
    if later_kinds:
        note += f" (later kinds: {', '.join(sorted(later_kinds))})"
    log(f"drain {note}")
    report.row("drain", note + (f" — {problem}" if problem else ""))
    report.check("the queue drains: nothing running or due, no unpublished event, no pending order or refund, "
                 "no payment job waiting", [problem] if problem else [])
    return problem, note


# MARK: Main

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--engine", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--time-limit", type=float, default=270)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("extra", nargs="*", help="more options for every emporium command (key files)")
    args = parser.parse_args()
    args.binary = os.path.abspath(args.binary)
    args.work = os.path.abspath(args.work)

    def on_timeout():
        print(f"\ncrash-test: FAILED: over the time limit of {args.time_limit:.0f} s during: {PHASE[0]}", flush=True)
        kill_children()
        for child in CHILDREN:
            print(f"--- last lines of {child.path}\n{child.tail(20)}", flush=True)
        os._exit(3)

    watchdog = threading.Timer(args.time_limit, on_timeout)
    watchdog.daemon = True
    watchdog.start()

    def on_signal(number, _frame):
        print(f"\ncrash-test: stopped by signal {number} during: {PHASE[0]}", flush=True)
        kill_children()
        os._exit(4)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        code = run(args)
    except SetupError as error:
        print(f"\ncrash-test: FAILED during {PHASE[0]}: {error}", flush=True)
        code = 2
    except Exception:
        import traceback
        traceback.print_exc()
        print(f"\ncrash-test: FAILED during {PHASE[0]} (driver error above)", flush=True)
        code = 2
    finally:
        kill_children()
    if code != 0:
        for child in CHILDREN:
            print(f"--- last lines of {child.path}\n{child.tail(25)}", flush=True)
    return code


def settings_environment(flags):
    """`--name value` pairs as the EMPORIUM_NAME variables that set the same settings."""
    if len(flags) % 2:
        raise SetupError(f"settings must come in --name value pairs: {flags}")
    return {"EMPORIUM_" + name.lstrip("-").upper().replace("-", "_"): value for name, value in zip(flags[0::2], flags[1::2])}


def run(args):
    log(f"crash test on {args.engine}, seed {args.seed}, work folder {args.work}")
    random.seed(args.seed)
    work = args.work
    ledger = os.path.join(work, "payments-ledger.jsonl")
    db = Database(args.engine, args.database_url)
    st = State()
    report = Report()

    phase("starting the webhook receiver and the SMTP sink")
    receiver = Receiver()
    sink = MailSink(free_port())
    api_port = free_port()
    api = Api(api_port)
    settings = ["--database-url", args.database_url, "--rate-limit", "0", "--test-payments", "true",
                "--test-payments-ledger", ledger, "--smtp-url", f"smtp://127.0.0.1:{sink.port}?starttls=off",
                "--webhook-allow-private-addresses", "true", "--reservation-timeout", "60", "--log-level", "notice",
                "--shutdown-grace", "5"] + args.extra
    # As EMPORIUM_* variables, which every command reads: each command accepts only the flags of
    # the settings it uses, but the variables of the others do not disturb it.
    env = dict(os.environ)
    env.update(settings_environment(settings))

    phase("migrating and creating the admin")
    for argv, given in (([args.binary, "migrate"], None),
                        ([args.binary, "create-admin", "--email", ADMIN_EMAIL], ADMIN_PASSWORD + "\n")):
        result = subprocess.run(argv, cwd=work, env=env, input=given, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise SetupError(f"{' '.join(argv[1:2])} exited with {result.returncode}: {result.stdout}{result.stderr}")

    serve_args = [args.binary, "serve", "--port", str(api_port), "--node-id", "crash-node"]
    server = Proc("server", serve_args + ["--workers", "4"], work, env)
    phase("round 1: server with --workers 4")
    server.start()
    wait_ready(api, server)
    admin_token = api.expect("signing in", (200,), "POST", "/v1/auth/login",
                             body={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})["access_token"]
    catalog = set_up_catalog(api, admin_token)

    # Without the endpoint the webhook check would test nothing: the run fails instead.
    status, doc, raw = api.call("POST", "/v1/admin/webhooks", token=admin_token,
                                body={"url": f"http://127.0.0.1:{receiver.port}/hook", "event_types": ["*"]})
    if not (status == 201 and isinstance(doc, dict) and str(doc.get("secret", "")).startswith("whsec_")):
        raise SetupError(f"creating the webhook endpoint: POST /v1/admin/webhooks answered {status}: {short(raw)}")
    webhook_secret = doc["secret"]

    load = Load(api, catalog, st, admin_token, args.seed)
    load.start()
    time.sleep(ROUND1_LOAD)
    phase("round 1: SIGKILL of the server under load")
    with st.lock:
        st.killed = True
    server.kill9()
    snapshot_running(db, st, "round 1: server SIGKILLed")
    time.sleep(0.5)
    load.stop()
    log(f"round 1: {len(st.orders)} orders acknowledged; cut off: {len(st.cut_checkouts)} checkouts, "
        f"{len(st.cut_refunds)} refunds, {len(st.cut_cancels)} cancels")

    phase("round 1: restart and retries of what the kill cut off")
    restarted = time.monotonic()
    server.start()
    wait_ready(api, server)
    log(f"server ready again after {time.monotonic() - restarted:.1f} s")
    with st.lock:
        st.killed = False
    cut_results = list(zip(st.cut_checkouts, in_parallel(lambda cart: settle_checkout(api, cart), st.cut_checkouts)))
    for cart, (kind, seconds, trail, doc) in cut_results:
        if kind == "order":
            st.acknowledge(doc, "cut-off retry")
    refund_retries = list(zip(st.cut_refunds, in_parallel(
        lambda r: settle_refund(api, admin_token, st, r["order_id"], r["key"], r["amount"], on_cut="retry"), st.cut_refunds)))
    cancel_retries = []
    for oid in st.cut_cancels:
        try:
            status, doc, raw = api.call("POST", f"/v1/admin/orders/{oid}/cancel", token=admin_token)
        except ConnError as error:
            status = f"no answer ({error})"
        if status == 200:
            st.cancelled.add(oid)
        if oid in st.staff_cancels:
            st.staff_cancels[oid] = status
        cancel_retries.append((oid, status))
    answers = {}
    for _, (kind, _, _, _) in cut_results:
        answers[kind] = answers.get(kind, 0) + 1
    log(f"cut-off checkouts answered: {answers or 'none'}")

    phase("round 2: server with --workers 0 beside an emporium worker")
    code = server.stop()
    if code is None:
        snapshot_running(db, st, "round 2: server SIGKILLed after SIGTERM did not stop it")
    server.argv = serve_args + ["--workers", "0"]
    server.start()
    worker = Proc("worker", [args.binary, "worker", "--node-id", "crash-worker", "--workers", "4"], work, env)
    worker.start()
    wait_ready(api, server)
    load = Load(api, catalog, st, admin_token, args.seed + 1)
    load.start()
    time.sleep(ROUND2_BEFORE_KILL)
    if not worker.alive():
        raise SetupError(f"the worker exited with {worker.process.returncode}:\n{worker.tail()}")
    phase("round 2: SIGKILL of the worker under load")
    worker.kill9()
    snapshot_running(db, st, "round 2: worker SIGKILLed")
    time.sleep(ROUND2_WORKER_DOWN)
    # The same --node-id as before: the restarted worker frees what its previous life held at once.
    worker.start()
    phase("round 2: worker restarted, load goes on")
    time.sleep(ROUND2_AFTER_RESTART)
    load.stop()
    if not worker.alive():
        raise SetupError(f"the restarted worker exited with {worker.process.returncode}:\n{worker.tail()}")
    log(f"round 2 done: {len(st.orders)} orders acknowledged in all")

    phase("draining: waiting for follow-up jobs, mail and webhooks")
    drain_problem, _ = drain(db, report)
    past_lease = db.rows(f"SELECT id, kind, locked_by, locked_until FROM jobs WHERE state = 'running' AND locked_until < '{now_text()}'")
    report.check("no job running past its lease after the drain",
                 [f"job {j['id']} {j['kind']} held by {j['locked_by']} until {j['locked_until']}" for j in past_lease])

    phase("checking (the worker stopped; the server, running no jobs, answers the admin order list)")
    code = worker.stop()
    if code not in (0, None):
        log(f"the worker exited with {code} on SIGTERM")
    run_checks(report, db, st, ledger, receiver, webhook_secret, sink, cut_results,
               refund_retries, cancel_retries, api, admin_token, drain_problem)
    code = server.stop()
    if code not in (0, None):
        log(f"the server exited with {code} on SIGTERM")
    receiver.stop()
    sink.stop()

    elapsed = time.monotonic() - STARTED
    report.print(f"crash test summary on {args.engine} ({elapsed:.0f} s, seed {args.seed})")
    failed = report.failed
    if failed:
        print(f"crash-test: FAILED on {args.engine}: {len(failed)} check(s): " + "; ".join(c[1] for c in failed), flush=True)
        return 1
    print(f"crash-test: passed on {args.engine} in {elapsed:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
