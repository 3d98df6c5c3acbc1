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
        self.product_path = None

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

    def dashboard_figures(self, name):
        """The dashboard's sales table as {currency: [orders today, revenue today, orders this
        week, revenue this week]}, the figures as the page prints them."""
        from browser_flow import Misbehaves
        self.require_signed_in()
        self.browser.visit(DASHBOARD, name)
        tables = self.browser.find_all("main table")
        if not tables:
            raise Misbehaves("the dashboard has no sales table")
        figures = {}
        for row in tables[0].find_elements("css selector", "tbody tr"):
            cells = [cell.text.strip() for cell in row.find_elements("css selector", "td")]
            if len(cells) == 5:
                figures[cells[0]] = cells[1:]
        return figures

    def follow(self, link, name):
        """Follows `link` with the keyboard (Enter on it) and checks the page it leads to."""
        page, text = self.browser.find("html"), link.text
        link.send_keys(Keys.ENTER)
        self.browser.wait_for(lambda: _stale(page), what=f"the page behind the link {text!r}")
        return self.browser.landed(name)

    def link(self, css, text, where):
        from browser_flow import Misbehaves
        for candidate in self.browser.find_all(css):
            if text in candidate.text:
                return candidate
        raise Misbehaves(f"no link {text!r} on {where} ({self.browser.path()})")

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
                choice = Select(element)
                if value in [option.text for option in choice.options]:
                    choice.select_by_visible_text(value)
                else:
                    choice.select_by_value(value)
            else:
                element.clear()
                element.send_keys(value)
        for box in form.find_elements("css selector", "input[type=checkbox][name=confirm]"):
            if not box.is_selected():
                box.send_keys(Keys.SPACE)
        invalid = self.browser.driver.execute_script(
            "const f = arguments[0]; return f.checkValidity() ? [] :"
            " [...f.elements].filter(e => !e.checkValidity()).map(e => `${e.name}: ${e.validationMessage}`)", form)
        if invalid:
            raise Misbehaves(f"the browser will not send the {name} form: {'; '.join(invalid)}")
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
        """The product from the list's link to the form, then each variant through the
        product page's "Add a variant"; the product page shows both at the end."""
        from browser_flow import Misbehaves
        self.require_signed_in()
        self.require("/admin/products/new", "new-product page")
        self.browser.visit("/admin/products", "products")
        new = [a for a in self.browser.find_all("main a") if (a.get_attribute("href") or "").endswith("/admin/products/new")]
        if new:
            self.follow(new[0], "new product")
        else:
            self.browser.visit("/admin/products/new", "new product")
        form = self.form(r"/admin/products$", "new-product")
        self.submit(form, {"title": title, "handle": handle, "status": "active", "options": "Size"}, "create product",
                    enter_in="title")
        if not re.search(r"/admin/products/[0-9a-f-]{36}$", self.browser.path()):
            raise Misbehaves(f"after creating the product the browser is on {self.browser.path()}, not the product's page")
        self.product_path = self.browser.path()
        price = f"{amount // 100}.{amount % 100:02d}"
        for sku, size in skus:
            self.follow(self.link("main a", "Add a variant", "the product page"), f"new variant {size}")
            form = self.form(r"/variants$", "new-variant")
            self.submit(form, {"sku": sku, "option_value_0": size, "price_currency_0": "EUR", "price_amount_0": price},
                        f"add variant {size}", enter_in="sku")
        self.browser.visit(self.product_path, "product with its variants")
        shown = self.browser.text()
        missing = [sku for sku, _ in skus if sku not in shown]
        if missing:
            raise Misbehaves(f"the product page does not list the variants {missing}")
        heading = self.browser.find("main h1").text
        if heading != title:
            raise Misbehaves(f"the product page's heading is {heading!r}, not the title as typed, {title!r}")

    def set_stock(self, handle, counts):
        """Each variant's stock set to a count at the location `main`, from the product page's
        "Stock of" link; the variant's stock page shows the count afterwards."""
        from browser_flow import Misbehaves
        from selenium.webdriver.support.ui import Select
        self.require_signed_in()
        self.require("/admin/inventory", "inventory page")
        if not getattr(self, "product_path", None):
            product = self.api.product_by_handle(handle)
            self.product_path = f"/admin/products/{product['id']}"
        for sku, count in counts.items():
            self.browser.visit(self.product_path, f"product, to the stock of {sku}")
            self.follow(self.link("main a", f"Stock of {sku}", "the product page"), f"stock of {sku}")
            form = self.form(r"/adjustments$", "stock adjustment")
            main = self.api.main_location()
            offered = [o.get_attribute("value") for o in Select(form.find_element("css selector", "[name=location_id]")).options]
            if main not in offered:
                raise Misbehaves(f"the adjustment form does not offer the location `main` ({main}): {offered}")
            self.submit(form, {"location_id": main, "mode": "count", "quantity": str(count), "reason": "count"},
                        f"set stock of {sku}", enter_in="quantity")
            levels = self.browser.find_all("main table")[0].text
            if not re.search(rf"\(main\) {count} ", levels):
                raise Misbehaves(f"after counting {count}, the stock page of {sku} shows: {levels}")
        self.browser.visit("/admin/inventory", "inventory")

    # Customers and the rest of the navigation.

    def find_customer(self, email, name, order):
        """The customer through the list's search form (sent with Enter), then their page,
        which shows their name as typed (markup escaped) and the order."""
        from browser_flow import Misbehaves
        self.require_signed_in()
        self.require("/admin/customers", "customers page")
        self.browser.visit("/admin/customers", "customers")
        form = self.form(r"/admin/customers$", "customer search")
        field = form.find_element("css selector", "input[type=search], input[name=email], input[name=q]")
        self.submit(form, {field.get_attribute("name"): email}, "customer search", enter_in=field.get_attribute("name"))
        links = [a for a in self.browser.find_all("main a") if a.text.strip() == email]
        if not links:
            raise Misbehaves(f"searching the customers for {email} does not list them")
        self.follow(links[0], "customer")
        text = self.browser.text()
        if name not in text:
            raise Misbehaves(f"the customer page does not show the name {name!r} as typed")
        if order["number"] not in text:
            raise Misbehaves(f"the customer page does not show their order {order['number']}")

    def sections(self):
        """Every page linked from the navigation and the first entry each lists, each checked
        like the rest; answers the sections' labels."""
        self.require_signed_in()
        self.browser.visit(DASHBOARD, "dashboard, for the navigation")
        links = [(a.get_attribute("href"), a.text) for a in self.browser.find_all("nav[aria-label=Sections] a")]
        for href, label in links:
            path = "/" + href.split("/", 3)[3]
            if path != DASHBOARD:
                self.browser.visit(path, f"section {label}")
                # And the first thing the section lists (a product, a job, a member of staff).
                details = [a.get_attribute("href") for a in self.browser.find_all(f"main table a[href^='{path}/']")]
                if details:
                    self.browser.visit("/" + details[0].split("/", 3)[3], f"section {label}, first entry")
        return [label for _, label in links]

    # Orders: found from the order list, worked with the forms on the order's page.

    def open_order(self, order, start=None, start_name="orders"):
        """Order `order`'s page, reached through a link on `start` (the order list by default,
        or a dashboard list of orders waiting for something)."""
        from browser_flow import Misbehaves
        self.require_signed_in()
        self.require(f"/admin/orders/{order['id']}", "order page")
        self.browser.visit(start or "/admin/orders", start_name)
        links = [a for a in self.browser.find_all("main a") if (a.get_attribute("href") or "").endswith("/admin/orders/" + order["id"])]
        if not links:
            raise Misbehaves(f"{start or '/admin/orders'} has no link to order {order['number']}")
        self.follow(links[0], f"order {order['number']}")
        if order["number"] not in self.browser.text():
            raise Misbehaves(f"{self.browser.path()} does not show order {order['number']}")

    def capture(self, order):
        self.open_order(order, DASHBOARD, "dashboard: waiting for capture")
        self.submit(self.form(r"/capture$", "capture"), {}, "capture")

    def fulfil(self, order, tracking):
        from browser_flow import Misbehaves
        self.open_order(order, DASHBOARD, "dashboard: waiting for fulfilment")
        form = self.form(r"/fulfil", "fulfilment")
        field = next((e.get_attribute("name") for e in form.find_elements("css selector", "input")
                      if "tracking" in (e.get_attribute("name") or "")), None)
        if field is None:
            raise Misbehaves("the fulfilment form has no tracking number field")
        self.submit(form, {"carrier": "DHL", field: tracking}, "fulfil", enter_in=field)
        if tracking not in self.browser.text():
            self.open_order(order)
            if tracking not in self.browser.text():
                raise Misbehaves(f"the order page does not show the tracking number {tracking}")

    def refund(self, order, amount):
        """`amount` in minor units; the form takes it as the page shows money (5.00)."""
        self.open_order(order)
        form = self.form(r"/refund", "refund")
        self.submit(form, {"amount": f"{amount // 100}.{amount % 100:02d}", "reason": "scratched on arrival"}, "refund",
                    enter_in="amount")


def _stale(element):
    try:
        element.is_enabled()
        return False
    except Exception:  # noqa: BLE001 - StaleElementReferenceException: the page was replaced
        return True
