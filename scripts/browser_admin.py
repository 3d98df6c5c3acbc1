"""The back office's pages as scripts/browser-test works them: which page, which form, which
field. Every action goes through the page's own links and forms, sent with the keyboard
(Enter in a field, or Enter on the button); every page the browser lands on is checked and
shot by browser_page. A page that is not in the binary yet raises Skipped."""

import re

from selenium.webdriver.common.keys import Keys

import browser_a11y
from browser_server import ADMIN_EMAIL, ADMIN_PASSWORD

SIGN_IN = "/admin/sign-in"
DASHBOARD = "/admin"


class AdminPages:
    def __init__(self, browser, api):
        self.browser = browser
        self.api = api
        self.signed_in = False

    def require(self, path, what):
        """Skipped when `path` is not a route of the binary (404); any other answer, a
        redirect to the sign-in page included, means the page is there and must work."""
        from browser_flow import Skipped
        status = self.api.status_of(path)
        if status == 404:
            raise Skipped(f"{what}: GET {path} answers 404, the page is not in this build")
        return status

    def require_signed_in(self):
        from browser_flow import Skipped
        if not self.signed_in:
            raise Skipped("not signed in (the sign-in page is not in this build)")

    # Sign-in and sign-out.

    def sign_in(self):
        from browser_flow import Misbehaves
        self.require(SIGN_IN, "sign-in page")
        self.browser.visit(SIGN_IN, "sign-in")
        stops = browser_a11y.tab_stops(self.browser.driver, 20)
        email = self.browser.find("input[name=email]")
        password = self.browser.find("input[name=password]")
        submit = self.browser.find("form button[type=submit], form input[type=submit]")
        reached = [stop["element"] for stop in stops]
        for element, what in [(email, "e-mail field"), (password, "password field"), (submit, "submit button")]:
            if element not in reached:
                raise Misbehaves(f"Tab does not reach the sign-in form's {what}")
        print(f"     Tab reaches the e-mail and password fields and the submit button ({len(stops)} stops)", flush=True)
        email.send_keys(ADMIN_EMAIL)
        password.send_keys(ADMIN_PASSWORD)
        password.send_keys(Keys.ENTER)
        self.browser.wait_for(lambda: not self.browser.path().startswith(SIGN_IN), what="the page after signing in")
        self.browser.landed("dashboard after sign-in")
        self.signed_in = True

    def sign_out(self):
        from browser_flow import Misbehaves
        self.require_signed_in()
        buttons = self.browser.find_all("form[action$='sign-out'] button, form[action$='sign-out'] input[type=submit]")
        if not buttons:
            raise Misbehaves(f"no sign-out button on {self.browser.path()}")
        buttons[0].send_keys(Keys.ENTER)
        self.browser.wait_for(lambda: self.browser.path().startswith(SIGN_IN), what="the sign-in page after signing out")
        self.browser.landed("signed out")
        self.signed_in = False
        self.browser.driver.get(self.browser.base + DASHBOARD)
        if not self.browser.path().startswith(SIGN_IN):
            raise Misbehaves(f"after signing out, {DASHBOARD} shows {self.browser.path()} rather than the sign-in page")
        self.browser.landed("dashboard after sign-out")

    # The dashboard.

    def dashboard_numbers(self, name):
        """The figures of the dashboard's main part, in order, as text."""
        self.require_signed_in()
        self.browser.visit(DASHBOARD, name)
        main = self.browser.find_all("main") or self.browser.find_all("body")
        return re.findall(r"\d[\d.,]*", main[0].text)

    # Catalog and stock.

    def create_product(self, handle, title, skus, amount):
        self.require_signed_in()
        self.require("/admin/products/new", "new-product page")
        raise NotImplementedError

    def set_stock(self, handle, counts):
        self.require_signed_in()
        self.require("/admin/inventory", "inventory page")
        raise NotImplementedError

    # Orders.

    def capture(self, order):
        self.require_signed_in()
        self.require(f"/admin/orders/{order['id']}", "order page")
        raise NotImplementedError

    def refund(self, order, amount):
        self.require_signed_in()
        self.require(f"/admin/orders/{order['id']}", "order page")
        raise NotImplementedError

    def fulfil(self, order, tracking):
        self.require_signed_in()
        self.require(f"/admin/orders/{order['id']}", "order page")
        raise NotImplementedError
