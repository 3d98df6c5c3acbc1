"""The first step of scripts/browser-test: the page checks must catch a page that is wrong on
purpose, or a clean run proves nothing (a Chromium whose console log reads differently would
otherwise pass every page). A page served from this process breaks each rule once: an inline
script refused by its CSP, a missing image, an unlabelled input, pale text and a control whose
focus does not show."""

import http.server
import threading

from browser_page import PageProblem

_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A page wrong on purpose</title>
<link rel="stylesheet" href="/bad.css"></head>
<body><p class="pale">Pale text</p>
<form><input name="unlabelled"><button type="submit">Send</button></form>
<img src="/missing.png" alt="missing">
<script>document.title = 'ran';</script>
</body></html>"""

_CSS = b".pale { color: #b0b0b0; } button:focus, input:focus { outline: none; }"

# What each rule's complaint contains.
EXPECTED = {
    "CSP violation (inline script)": "CSP violation",
    "console error (missing image)": "missing.png",
    "unlabelled input": 'name="unlabelled"',
    "contrast": "contrast below",
    "invisible focus": "is not visible",
}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/":
            body, kind = _PAGE, "text/html; charset=utf-8"
        elif self.path == "/bad.css":
            body, kind = _CSS, "text/css"
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def run(browser):
    """Raises AssertionError naming each rule the checks did not catch on the bad page."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        browser.driver.get(f"http://127.0.0.1:{server.server_address[1]}/")
        try:
            browser.landed("checks catch a bad page", collect=False)
        except PageProblem as problem:
            complaint = str(problem)
        else:
            raise AssertionError("the page checks passed a page that breaks every rule")
    finally:
        server.shutdown()
        server.server_close()
    missed = [rule for rule, mark in EXPECTED.items() if mark not in complaint]
    if missed:
        raise AssertionError(f"the page checks missed: {', '.join(missed)}; they said:\n{complaint}")
    print(f"     the checks caught all {len(EXPECTED)} faults of the bad page", flush=True)
