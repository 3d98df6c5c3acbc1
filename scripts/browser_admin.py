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

    # Forms.

    def form(self, action_pattern, what):
        """The page's form whose action matches `action_pattern` (a regular expression)."""
        from browser_flow import Misbehaves
        for form in self.browser.find_all("main form"):
            if re.search(action_pattern, form.get_attribute("action") or ""):
                return form
        actions = [f.get_attribute("action") for f in self.browser.find_all("main form")]
        raise Misbehaves(f"no {what} form on {self.browser.path()} (the forms post to {actions})")

    def submit(self, form, fields, name, enter_in=None):
        """Fills `fields` (name -> value) of `form`, ticks its confirmation box with the space
        bar, and sends it with Enter (in the field `enter_in`, else on its submit button).
        Waits for the next page and checks it; a page that comes back with an error message
        is a failure."""
        from browser_flow import Misbehaves
        from selenium.webdriver.support.ui import Select
        for field, value in fields.items():
            element = form.find_element("css selector", f"[name='{field}']")
            if element.tag_name == "select":
                Select(element).select_by_visible_text(value) if value in [o.text for o in Select(element).options] \
                    else Select(element).select_by_value(value)
            else:
                element.clear()
                element.send_keys(value)
        for box in form.find_elements("css selector", "input[type=checkbox][name=confirm]"):
            if not box.is_selected():
                box.send_keys(Keys.SPACE)
        page = self.browser.find("html")
        if enter_in:
            form.find_element("css selector", f"[name='{enter_in}']").send_keys(Keys.ENTER)
        else:
            form.find_element("css selector", "button[type=submit], button:not([type]), input[type=submit]").send_keys(Keys.ENTER)
        self.browser.wait_for(lambda: _stale(page), what=f"the page after sending the {name} form")
        self.browser.landed(name)
        errors = [e.text for e in self.browser.find_all(".flash.error, [role=alert]") if e.text.strip()]
        if errors:
            raise Misbehaves(f"the {name} form came back with: {' | '.join(errors)}")
        return self.browser

    # Catalog and stock.

    def create_product(self, handle, title, skus, amount):
        self.require_signed_in()
        self.require("/admin/products/new", "new-product page")
        raise NotImplementedError

    def set_stock(self, handle, counts):
        self.require_signed_in()
        self.require("/admin/inventory", "inventory page")
        raise NotImplementedError

    # Orders: found from the order list, worked with the forms on the order's page.

    def open_order(self, order):
        from browser_flow import Misbehaves
        self.require_signed_in()
        self.require(f"/admin/orders/{order['id']}", "order page")
        self.browser.visit("/admin/orders", "orders")
        links = [a for a in self.browser.find_all("main a") if order["number"] in a.text
                 or (a.get_attribute("href") or "").endswith(order["id"])]
        if not links:
            raise Misbehaves(f"the order list does not show order {order['number']}")
        page = self.browser.find("html")
        links[0].send_keys(Keys.ENTER)
        self.browser.wait_for(lambda: _stale(page), what=f"order {order['number']}'s page")
        self.browser.landed(f"order {order['number']}")
        if order["number"] not in self.browser.text():
            raise Misbehaves(f"{self.browser.path()} does not show order {order['number']}")

    def capture(self, order):
        self.open_order(order)
        self.submit(self.form(r"/capture$", "capture"), {}, "capture")

    def fulfil(self, order, tracking):
        from browser_flow import Misbehaves
        self.open_order(order)
        form = self.form(r"/fulfil", "fulfilment")
        field = next((e.get_attribute("name") for e in form.find_elements("css selector", "input")
                      if "tracking" in (e.get_attribute("name") or "")), None)
        if field is None:
            raise Misbehaves("the fulfilment form has no tracking number field")
        self.submit(form, {field: tracking}, "fulfil", enter_in=field)
        if tracking not in self.browser.text():
            self.open_order(order)
            if tracking not in self.browser.text():
                raise Misbehaves(f"the order page does not show the tracking number {tracking}")

    def refund(self, order, amount):
        """`amount` in minor units; the form takes it as the page shows money (5.00)."""
        self.open_order(order)
        form = self.form(r"/refund", "refund")
        self.submit(form, {"amount": f"{amount // 100}.{amount % 100:02d}"}, "refund", enter_in="amount")


def _stale(element):
    try:
        element.is_enabled()
        return False
    except Exception:  # noqa: BLE001 - StaleElementReferenceException: the page was replaced
        return True
