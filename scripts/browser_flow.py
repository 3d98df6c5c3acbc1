"""The steps of scripts/browser-test, in order. Each prints its name and time; a step whose
page is not in the binary (its route answers 404) prints SKIPPED and, when later steps need
what it makes, does that through the API instead, so that the rest of the flow still runs."""

import base64
import hashlib
import secrets
import time
import urllib.parse

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.keys import Keys

import browser_a11y
import browser_admin
import browser_crosssite
import browser_selfcheck
import browser_staff
from browser_api import API
from browser_page import PageProblem


class Skipped(Exception):
    pass


class Misbehaves(Exception):
    """A page that is there but does not do what it should."""


class Flow:
    def __init__(self, browser, server):
        self.browser = browser
        self.server = server
        self.api = API(server.base)
        self.admin = browser_admin.AdminPages(browser, self.api)
        self.results = []  # (step, "passed" | "SKIPPED: why", seconds)
        self.handle = f"browser-test-tee-{secrets.token_hex(3)}"
        # Markup in what staff and customers type must come back as text, never as markup
        # (were it markup, the CSP would refuse the handler and the console would say so).
        self.title = 'Browser test tee <b>&</b> <img src=x onerror="alert(1)">'
        self.customer = "Ada <i>Lovelace</i>"
        self.skus = [(f"BT-{secrets.token_hex(3).upper()}-{size}", size) for size in ("S", "M")]
        self.order = None
        self.dashboard_before = None

    def run(self):
        self.step("the page checks catch a page that is wrong on purpose", lambda: browser_selfcheck.run(self.browser))
        self.step("API reference page", self.reference)
        self.step("OAuth consent page: keyboard and Enter", self.consent)
        self.step("sign in through the form", self.admin.sign_in)
        self.step("dashboard before the order", self.dashboard_before_order)
        self.step("create a product with two variants", self.create_product)
        self.step("set the variants' stock", self.set_stock)
        self.step("place an order through the public API", self.place_order)
        self.step("capture the order", self.capture)
        # Fulfilled before the refund: the server fulfils only a paid order, not a partly
        # refunded one (a refund for a parcel scratched on arrival comes after shipping anyway).
        self.step("fulfil the order with a tracking number", self.fulfil)
        self.step("refund part of the order", self.refund)
        self.step("dashboard numbers changed", self.dashboard_after_order)
        self.step("find the customer and their order", self.find_customer)
        self.step("import products from a CSV file", lambda: browser_staff.import_file(self.admin, self.handle + "-csv"))
        self.step("issue an API key, call the API with it, revoke it", self.issue_key)
        self.step("every section in the navigation", self.sections)
        self.step("a form on another site cannot use the session", lambda: browser_crosssite.run(self.browser, self.admin))
        self.step("sign out", self.admin.sign_out)

    def step(self, name, action):
        number = len(self.results) + 1
        print(f"== step {number}: {name}", flush=True)
        started = time.monotonic()
        faulty_pages = len(self.browser.problems)
        try:
            action()
        except Skipped as why:
            self.results.append((name, f"SKIPPED: {why}", time.monotonic() - started))
            print(f"   SKIPPED: {why}", flush=True)
            return
        except (PageProblem, Misbehaves, AssertionError) as problem:
            self.results.append((name, "FAILED", time.monotonic() - started))
            raise type(problem)(f"step {number} ({name}): {problem}") from None
        except WebDriverException as problem:
            # The browser could not do what the step asked (an element gone, a page that
            # never came): the page misbehaves; the driver's stack trace says nothing more.
            self.results.append((name, "FAILED", time.monotonic() - started))
            raise Misbehaves(f"step {number} ({name}) at {self.browser.path()}: {type(problem).__name__}: "
                             f"{(problem.msg or '').splitlines()[0] if problem.msg else problem}") from None
        except BaseException:
            self.results.append((name, "FAILED", time.monotonic() - started))
            raise
        if len(self.browser.problems) > faulty_pages:
            self.results.append((name, "PAGES: done, but its pages failed their checks", time.monotonic() - started))
            print(f"   done, but {len(self.browser.problems) - faulty_pages} of its pages failed their checks", flush=True)
            return
        self.results.append((name, "passed", time.monotonic() - started))
        print(f"   ok ({time.monotonic() - started:.1f} s)", flush=True)

    def summary(self):
        print("== browser-test: steps")
        for name, outcome, seconds in self.results:
            print(f"     {outcome.split(':')[0]:8} {seconds:5.1f} s  {name}" + (
                f"  ({outcome.split(': ', 1)[1]})" if ": " in outcome else ""))

    # The pages that are there without the back office.

    def reference(self):
        self.browser.visit("/docs", "API reference")
        headings = self.browser.find_all("h2")
        if len(headings) < 3:
            raise Misbehaves(f"/docs has {len(headings)} sections; expected the tags of the API")

    def consent(self):
        """The consent page of a registered app: Tab reaches its e-mail and password fields and
        Allow, and Enter in the password field sends the form (here with a wrong password, so
        the page comes back with why and no code is issued)."""
        redirect = "https://app.example/callback"
        app = self.api.call("POST", "/v1/admin/apps", {
            "name": "Browser test app", "client_type": "public", "redirect_uris": [redirect],
            "scopes": ["orders:read"]}, token=self.api.admin())
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": app["client_id"], "redirect_uri": redirect, "scope": "orders:read",
            "state": "browser-test", "code_challenge": challenge, "code_challenge_method": "S256"})
        self.browser.visit(f"/oauth/authorize?{query}", "OAuth consent")
        reached = {(stop["tag"], stop["name"] or stop["text"]) for stop in browser_a11y.tab_stops(self.browser.driver, 20)}
        for wanted in [("input", "email"), ("input", "password"), ("button", "decision")]:
            if wanted not in reached:
                raise Misbehaves(f"Tab does not reach the consent form's {wanted[1]} ({sorted(reached)})")
        self.browser.find("input[name=email]").send_keys("nobody@example.com")
        password = self.browser.find("input[name=password]")
        password.send_keys("not the password at all")
        password.send_keys(Keys.ENTER)
        self.browser.wait_for(lambda: self.browser.find_all("[role=alert]"), what="the consent page's error")
        # The page answers 401 with why; Chromium logs a document's error status as a console
        # error, which here is the point of the step rather than a fault of the page.
        self.browser.landed("OAuth consent, wrong password", expected_status=True)

    # The back office, step by step.

    def dashboard_before_order(self):
        self.dashboard_before = self.admin.dashboard_figures("dashboard before")
        print(f"   sales figures before: {self.dashboard_before or 'none'}", flush=True)

    def create_product(self):
        try:
            self.admin.create_product(self.handle, self.title, self.skus, 2500)
        except Skipped as why:
            self.api.create_product(self.handle, self.title, self.skus, 2500)
            raise Skipped(f"{why}; made through the API instead") from None
        product = self.api.product_by_handle(self.handle)
        if product is None:
            raise Misbehaves(f"the form said it was saved, but the API has no product {self.handle}")
        got = sorted(v["sku"] for v in product["variants"])
        if got != sorted(sku for sku, _ in self.skus):
            raise Misbehaves(f"the product's variants are {got}, not {[sku for sku, _ in self.skus]}")

    def set_stock(self):
        counts = {sku: count for (sku, _), count in zip(self.skus, (7, 4))}
        try:
            self.admin.set_stock(self.handle, counts)
        except Skipped as why:
            for sku, count in counts.items():
                self.api.set_stock(sku, count)
            raise Skipped(f"{why}; set through the API instead") from None
        for sku, count in counts.items():
            if self.api.stock_of(sku) != count:
                raise Misbehaves(f"{sku} has {self.api.stock_of(sku)} on hand, not {count}")

    def place_order(self):
        self.order = self.api.place_order(self.skus[0][0], quantity=2, name=self.customer)
        print(f"   order {self.order['number']} ({self.order['id']}), {self.order['status']}, "
              f"total {self.order['totals']['total']} {self.order['currency']}", flush=True)
        if self.order["status"] != "authorized":
            raise Misbehaves(f"the new order is {self.order['status']}, not authorized (manual capture)")

    def capture(self):
        self._in_pages_or_api(lambda: self.admin.capture(self.order), lambda: self.api.capture(self.order["id"]))
        order = self.api.order(self.order["id"])
        if order["status"] != "paid" or order["payment"]["captured"] != order["totals"]["total"]:
            raise Misbehaves(f"after the capture the order is {order['status']} with {order['payment']}")

    def refund(self):
        self._in_pages_or_api(lambda: self.admin.refund(self.order, 500), lambda: self.api.refund(self.order["id"], 500))
        order = self.api.order(self.order["id"])
        if order["status"] != "partially_refunded" or order["payment"]["refunded"] != 500:
            raise Misbehaves(f"after refunding 5.00 the order is {order['status']} with {order['payment']}")

    def fulfil(self):
        tracking = f"BT{secrets.randbelow(10**10):010d}"
        self._in_pages_or_api(lambda: self.admin.fulfil(self.order, tracking),
                              lambda: self.api.fulfil(self.order["id"], tracking))
        order = self.api.order(self.order["id"])
        if order["status"] != "fulfilled":
            raise Misbehaves(f"after fulfilling every line the order is {order['status']}, not fulfilled")

    def dashboard_after_order(self):
        """Today's EUR orders went up by one and the revenue figures moved."""
        if self.dashboard_before is None:
            raise Skipped("the dashboard was not read before the order")
        after = self.admin.dashboard_figures("dashboard after")
        print(f"   sales figures after: {after}", flush=True)
        before = self.dashboard_before.get("EUR", ["0", "", "0", ""])
        now = after.get("EUR")
        if now is None:
            raise Misbehaves(f"the dashboard has no EUR row after an order in EUR: {after}")
        if _count(now[0]) != _count(before[0]) + 1 or _count(now[2]) != _count(before[2]) + 1:
            raise Misbehaves(f"EUR orders today/this week went from {before[0]}/{before[2]} to {now[0]}/{now[2]}, not up by one")
        if now[1] == before[1] or now[3] == before[3]:
            raise Misbehaves(f"EUR revenue today/this week did not change: {before} -> {now}")

    def find_customer(self):
        if self.order is None:
            raise Skipped("no order was placed")
        self.admin.find_customer(self.order["email"], self.customer, self.order)

    def issue_key(self):
        secret = browser_staff.issue_key(self.admin)
        listed = self.api.call("GET", "/v1/admin/products?limit=1", token=secret)
        if "data" not in listed:
            raise Misbehaves(f"the new key's call answered {listed}")
        self.api.call("GET", "/v1/admin/orders?limit=1", token=secret, expect=(403,))
        browser_staff.revoke_key(self.admin, "Browser test feed")
        self.api.call("GET", "/v1/admin/products?limit=1", token=secret, expect=(401,))

    def sections(self):
        print(f"   sections: {', '.join(self.admin.sections())}", flush=True)

    def _in_pages_or_api(self, page, api):
        try:
            page()
        except Skipped as why:
            api()
            raise Skipped(f"{why}; done through the API instead") from None


def _count(text):
    digits = "".join(c for c in text if c.isdigit())
    return int(digits) if digits else 0
