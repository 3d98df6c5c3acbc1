"""The server under test for scripts/browser-test: the built binary on a throwaway SQLite file
and a free port on 127.0.0.1, with a demo shop (`emporium seed`) and one admin
(`emporium create-admin`, the password on standard input as the README does it). It is
stopped by its pid, whatever happened."""

import base64
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

ADMIN_EMAIL = "owner@example.com"
ADMIN_PASSWORD = "browser test admin password"


class ServerError(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, work, database=None):
        self.binary = binary
        self.work = work
        # A throwaway SQLite file unless the caller gives an empty database (PostgreSQL, say).
        self.database = database or f"sqlite://{work}/shop.sqlite"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(work, "server.log")
        self.process = None

    def _env(self):
        # No EMPORIUM_* variable from the caller's environment may change the server under test.
        return {k: v for k, v in os.environ.items() if not k.startswith("EMPORIUM_")}

    def _command(self, args, stdin=None):
        done = subprocess.run(
            [self.binary, *args, "--database-url", self.database, "--log-level", "warning"],
            input=stdin, capture_output=True, text=True, cwd=self.work, env=self._env(), timeout=120)
        if done.returncode != 0:
            raise ServerError(f"emporium {args[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def bootstrap(self):
        """A demo shop (categories, products, the stock location `main`, shipping and German VAT)
        and the first admin, as the README's tour makes them."""
        self._command(["seed", "--products", "5"])
        self._command(["create-admin", "--email", ADMIN_EMAIL, "--name", "Shop owner", "--bcrypt-cost", "4"],
                      stdin=ADMIN_PASSWORD + "\n")

    def _postgres_options(self):
        """PostgreSQL is for several nodes, so a node must be given the keys they share: the token
        signing key and the field encryption key."""
        if not self.database.startswith("postgres"):
            return []
        key = os.path.join(self.work, "jwt.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True, capture_output=True, timeout=30)
        os.chmod(key, 0o600)
        fields = os.path.join(self.work, "fields.key")
        with open(os.open(fields, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(f"k1 {base64.b64encode(secrets.token_bytes(32)).decode()}\n")
        return ["--jwt-key-file", key, "--encryption-key-file", fields]

    def start(self, ready_seconds=60):
        log = open(self.log_path, "wb")
        # Rate limiting off: one address signs in and browses quickly. Manual capture, so that
        # the order waits for a capture in the back office as in the README's tour.
        self.process = subprocess.Popen(
            [self.binary, "serve", "--database-url", self.database, "--host", "127.0.0.1", "--port", str(self.port),
             "--rate-limit", "0", "--bcrypt-cost", "4", "--test-payments", "true", "--payment-capture", "manual",
             "--mail-folder", os.path.join(self.work, "mail"), "--log-level", "warning", *self._postgres_options()],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.work, env=self._env())
        log.close()
        deadline = time.monotonic() + ready_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"the server exited ({self.process.returncode}) before it was ready:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base + "/health/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise ServerError(f"the server was not ready after {ready_seconds} s:\n{self.log_tail()}")

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no server log)"
