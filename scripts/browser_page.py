"""Headless Debian chromium through chromium-driver for scripts/browser-test, and what is
checked on every page it lands on: no console error (a CSP violation is one), the
accessibility basics of browser_a11y, and a screenshot of the whole page in the folder."""

import base64
import os
import re
import shutil
import time

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import browser_a11y

WIDTH, HEIGHT = 1280, 900
# Tall pages (the API reference) are shot down to this height, not the whole length.
SCREENSHOT_MAX_HEIGHT = 6000


class PageProblem(Exception):
    pass


def _find(names, env):
    if os.environ.get(env):
        return os.environ[env]
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise PageProblem(f"none of {', '.join(names)} is installed (apt-get install chromium chromium-driver), or set {env}")


class Browser:
    def __init__(self, screenshots, base):
        self.screenshots = screenshots
        self.base = base
        self.count = 0
        self.pages = []  # (file name, url, title) of each screenshot
        # Pages whose checks failed, with why: the flow goes on, so that one run lists every
        # page's faults, and the run fails at the end.
        self.problems = []
        # (path, ms) from the request's start to the answer's first byte, per page: the
        # server's render time plus loopback.
        self.timings = []
        options = webdriver.ChromeOptions()
        options.binary_location = _find(["chromium", "chromium-browser"], "CHROMIUM")
        for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         f"--window-size={WIDTH},{HEIGHT}", "--lang=en-GB", "--no-first-run",
                         "--disable-extensions", "--disable-background-networking"]:
            options.add_argument(argument)
        # The console (errors, CSP violations) is read after every page.
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(_find(["chromedriver"], "CHROMEDRIVER"))
        self.driver = webdriver.Chrome(service=service, options=options)
        # A page counts as focused even when the headless window has not been given focus yet:
        # without this, :focus does not match for a moment after a navigation and a visible
        # focus ring reads as none.
        self.driver.execute_cdp_cmd("Emulation.setFocusEmulationEnabled", {"enabled": True})
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(30)

    def quit(self):
        try:
            self.driver.quit()
        except Exception:  # noqa: BLE001 - the browser may be gone already; nothing is left to do
            pass

    # Finding things.

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def path(self):
        return "/" + self.driver.current_url.split("/", 3)[3] if self.driver.current_url.count("/") >= 3 else "/"

    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

    # Landing on pages.

    def visit(self, path, name, keyboard=True, expected_status=False):
        """GET a page of the server and check it."""
        self.driver.get(self.base + path)
        return self.landed(name, keyboard=keyboard, expected_status=expected_status)

    def landed(self, name, keyboard=True, expected_status=False, collect=True):
        """The browser has arrived on a page (after a get, a link or a form): wait for it, shoot
        it, and check its console and accessibility. Raises PageProblem with every problem.
        `expected_status`: the page itself answers a 4xx on purpose (a form sent back with
        why), which Chromium logs as a failed load of the document; that one line is allowed.
        `collect`: the problems are kept in `problems` and the run goes on (raised otherwise)."""
        self._accept_dialogs()
        WebDriverWait(self.driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
        shot = self.screenshot(name)
        waited = self.driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return n ? n.responseStart - n.requestStart : null")
        problems = self.console_problems(allow_document_status=expected_status)
        console = len(problems)
        labels = browser_a11y.labels(self.driver)
        contrast, checked, unknown = browser_a11y.contrast(self.driver)
        focus = browser_a11y.keyboard(self.driver) if keyboard else []
        problems += labels + [f"contrast below {browser_a11y.MINIMUM_CONTRAST}:1: {p}" for p in contrast] + focus
        problems += self.overflow()
        summary = [f"first byte {waited:.1f} ms"] if waited is not None else []
        if waited is not None and self.driver.current_url.startswith(self.base + "/"):
            self.timings.append((self.path(), waited))
        summary += [
            f"{console} console errors" if console else "console clean",
            f"{len(labels)} unlabelled" if labels else "labels ok",
            f"{len(contrast)} of {checked} texts under {browser_a11y.MINIMUM_CONTRAST}:1" if contrast
            else f"{checked} texts at {browser_a11y.MINIMUM_CONTRAST}:1 or better",
        ]
        if unknown:
            summary.append(f"{unknown} over an image not checked")
        if keyboard:
            summary.append(f"{len(focus)} focus problems" if focus else "focus visible")
        print(f"     page {self.path()[:70]} ({self.driver.title!r}) -> {shot}; {'; '.join(summary)}", flush=True)
        if problems:
            report = f"{self.path()} ({name}, {shot}):\n  - " + "\n  - ".join(problems)
            if not collect:
                raise PageProblem(report)
            print("     PAGE PROBLEMS (the run will fail at the end):\n  - " + "\n  - ".join(problems), flush=True)
            self.problems.append(report)
        return self

    def console_problems(self, allow_document_status=False):
        """Console errors since the last read, CSP violations among them. Chromium logs a
        refused script, style, image, frame or form post as a SEVERE console entry."""
        problems = []
        document = self.driver.current_url.split("#")[0]
        for entry in self.driver.get_log("browser"):
            message = entry.get("message", "")
            if allow_document_status and message.startswith(document + " ") and "Failed to load resource" in message:
                continue
            if entry.get("level") == "SEVERE":
                kind = "CSP violation" if "Content Security Policy" in message else "console error"
                hint = ""
                if "/favicon.ico " in message:
                    hint = " (browsers ask every site for /favicon.ico: answer it, or link an icon from the page)"
                problems.append(f"{kind}: {message}{hint}")
        return problems

    def overflow(self):
        """The page wider than the window, and which of its top-level parts stick out: staff
        work in a normal window, and a page that scrolls sideways hides its edge."""
        wide = self.driver.execute_script(
            "const w = document.documentElement.clientWidth;"
            "if (document.documentElement.scrollWidth <= w) return null;"
            "return [document.documentElement.scrollWidth - w, [...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > w + 0.5).slice(0, 5)"
            ".map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' ' + (e.textContent || '').trim().slice(0, 30))]")
        if not wide:
            return []
        return [f"the page is {wide[0]} px wider than the window ({WIDTH} px); sticking out: {wide[1]}"]

    def _accept_dialogs(self):
        # A confirmation in a dialog (window.confirm) is answered yes: the flow means it.
        try:
            alert = self.driver.switch_to.alert
            print(f"     confirm dialog: {alert.text!r}: accepted", flush=True)
            alert.accept()
        except NoAlertPresentException:
            pass

    def screenshot(self, name):
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        file = f"{self.count:02d}-{slug}.png"
        # The whole page, not only the window: Chromium's own capture beyond the viewport.
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": max(int(size["width"]), 1),
                "height": min(max(int(size["height"]), 1), SCREENSHOT_MAX_HEIGHT), "scale": 1}
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot",
                                           {"format": "png", "captureBeyondViewport": True, "clip": clip})
        with open(os.path.join(self.screenshots, file), "wb") as out:
            out.write(base64.b64decode(shot["data"]))
        self.pages.append((file, self.path(), self.driver.title))
        return file

    def wait_for(self, condition, seconds=15, what="the page"):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise PageProblem(f"{what} did not come within {seconds} s (now at {self.path()})")
