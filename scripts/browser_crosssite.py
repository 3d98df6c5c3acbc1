"""A step of scripts/browser-test that only a browser can check: a form on another site,
sent while a member of staff is signed in, cannot act with their session. The other site
is a page served from this process on `localhost`, the back office is on `127.0.0.1`: two
different sites to the browser, so the SameSite=Strict session cookie must stay home, and
the form has no CSRF token either. The form asks to sign out everywhere; afterwards the
back office must still know the member."""

import http.server
import threading

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Another site</title></head>
<body><h1>Another site</h1>
<form method="post" action="{target}">
<p><label for="confirm">Confirm</label> <input id="confirm" name="confirm" value="yes"></p>
<p><button type="submit">Win a prize</button></p>
</form></body></html>"""


def _handler(page):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    return Handler


def run(browser, admin):
    """Raises Misbehaves when the other site's form signs the member out."""
    from browser_flow import Misbehaves
    from selenium.webdriver.common.keys import Keys
    admin.require_signed_in()
    target = browser.base + "/admin/sign-out-everywhere"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(_PAGE.format(target=target)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.driver.get(f"http://localhost:{server.server_address[1]}/")
        browser.landed("another site's form", keyboard=False)
        page = browser.find("html")
        browser.find("button").send_keys(Keys.ENTER)
        browser.wait_for(lambda: browser.driver.current_url.startswith(browser.base) and _stale(page),
                         what="the back office's answer to the other site's form")
        where = browser.path()
        # The answer is the sign-in page (no cookie came with the form) or the refusal page
        # (a cookie came but no token); either is a page of ours and gets the usual checks.
        browser.landed("answer to another site's form", expected_status=True)
    finally:
        server.shutdown()
        server.server_close()
    browser.visit("/admin", "dashboard after the other site's form")
    if browser.path().startswith("/admin/sign-in"):
        raise Misbehaves(f"a form on another site signed the member out everywhere (its answer was {where})")
    print(f"     the other site's form was answered with {where}; the member is still signed in", flush=True)


def _stale(element):
    try:
        element.is_enabled()
        return False
    except Exception:  # noqa: BLE001 - StaleElementReferenceException: the page was replaced
        return True
