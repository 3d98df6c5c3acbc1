"""The public JSON API as scripts/browser-test uses it: a customer signs up and places an
order (cart, address, shipping, checkout with the test payment provider, as in the README's
tour), and the admin's token reads back what the pages did, so that a page that says
"captured" is checked against the order itself. Also the fallbacks for steps whose page is
not there yet: the product and its stock made through the API instead."""

import json
import secrets
import urllib.error
import urllib.request

from browser_server import ADMIN_EMAIL, ADMIN_PASSWORD


class APIError(Exception):
    pass


class API:
    def __init__(self, base):
        self.base = base
        self._admin = None

    def call(self, method, path, body=None, token=None, headers=None, expect=(200, 201)):
        request = urllib.request.Request(self.base + path, method=method)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, data=data, timeout=30) as answer:
                status, text = answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode(errors="replace")
        if status not in expect:
            raise APIError(f"{method} {path} answered {status}: {text[:500]}")
        return json.loads(text) if text else None

    def status_of(self, path):
        """The status of a plain GET without following redirects: 404 means the route is not
        there (yet); anything else means it exists."""
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(self.base + path, timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    def admin(self):
        if self._admin is None:
            self._admin = self.call("POST", "/v1/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})["access_token"]
        return self._admin

    # What the admin reads back.

    def order(self, order_id):
        return self.call("GET", f"/v1/admin/orders/{order_id}", token=self.admin())

    def product_by_handle(self, handle):
        page = self.call("GET", "/v1/admin/products?limit=100", token=self.admin())
        for product in page["data"]:
            if product["handle"] == handle:
                return self.call("GET", f"/v1/admin/products/{product['id']}", token=self.admin())
        return None

    def stock_of(self, sku):
        levels = self.call("GET", "/v1/admin/inventory?limit=100", token=self.admin())["data"]
        return sum(level.get("on_hand", 0) for level in levels if level.get("sku") == sku)

    def main_location(self):
        locations = self.call("GET", "/v1/admin/inventory/locations", token=self.admin())["data"]
        for location in locations:
            if location.get("code") == "main":
                return location["id"]
        raise APIError(f"no stock location `main` among {locations}")

    # Fallbacks for steps whose page is not there yet.

    def create_product(self, handle, title, skus, amount):
        return self.call("POST", "/v1/admin/products", {
            "handle": handle, "title": title, "status": "active", "options": ["Size"],
            "variants": [{"sku": sku, "title": size, "option_values": [size],
                          "prices": [{"currency": "EUR", "amount": amount}]} for sku, size in skus],
        }, token=self.admin())

    def set_stock(self, sku, count):
        return self.call("POST", "/v1/admin/inventory/adjustments", {
            "sku": sku, "location_id": self.main_location(), "count": count, "reason": "count"}, token=self.admin())

    def capture(self, order_id):
        return self.call("POST", f"/v1/admin/orders/{order_id}/capture", token=self.admin())

    def refund(self, order_id, amount):
        return self.call("POST", f"/v1/admin/orders/{order_id}/refunds", {"amount": amount, "reason": "browser test"},
                         token=self.admin(), headers={"Idempotency-Key": secrets.token_hex(16)})

    def fulfil(self, order_id, tracking):
        order = self.order(order_id)
        lines = [{"line_id": line["id"], "quantity": line["quantity"]} for line in order["lines"]]
        return self.call("POST", f"/v1/admin/orders/{order_id}/fulfillments",
                         {"location_id": self.main_location(), "lines": lines, "carrier": "DHL",
                          "tracking_number": tracking}, token=self.admin())

    # The customer's side.

    def place_order(self, sku, quantity=2, name="Ada Lovelace"):
        """A new customer signs up and checks out `quantity` of `sku` in EUR, shipped to Berlin,
        paid with the test provider's approving token. Answers the order."""
        email = f"shopper-{secrets.token_hex(4)}@example.com"
        token = self.call("POST", "/v1/auth/register", {
            "email": email, "password": "browser test shopper password", "name": name})["access_token"]
        cart = self.call("POST", "/v1/carts", {"currency": "EUR"}, token=token)
        cart_id = cart["id"]
        self.call("POST", f"/v1/carts/{cart_id}/items", {"sku": sku, "quantity": quantity}, token=token)
        self.call("PUT", f"/v1/carts/{cart_id}/shipping-address", {
            "recipient": "Ada Lovelace", "line1": "Unter den Linden 1", "postal_code": "10117",
            "city": "Berlin", "country": "DE"}, token=token)
        options = self.call("GET", f"/v1/carts/{cart_id}/shipping-options", token=token)["data"]
        if not options:
            raise APIError("the cart has no shipping options (the seed's EUR method is missing)")
        self.call("PUT", f"/v1/carts/{cart_id}/shipping-method", {"shipping_method_id": options[0]["id"]}, token=token)
        return self.call("POST", f"/v1/carts/{cart_id}/checkout", {"payment": {"provider": "test", "token": "tok_visa"}},
                         token=token, headers={"Idempotency-Key": secrets.token_hex(16)})
