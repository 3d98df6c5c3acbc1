"""A small JSON-over-HTTP client for the cluster scripts, standard library only.

`source` binds the client socket to another loopback address (127.0.1.7, …): Linux answers
on all of 127.0.0.0/8, so each simulated shopper reaches the balancer from an address of its
own, as real shoppers do, and per-address limits apply to each separately.
"""

import http.client
import json


class ConnError(Exception):
    """The request got no HTTP answer (refused, reset, closed, timed out)."""


class Api:
    """With `keep_alive` one connection is kept and reused (as browsers do), so requests may
    meet a connection the balancer is closing; without, each request has its own."""

    def __init__(self, port, source=None, keep_alive=False):
        self.port = port
        self.source = source
        self.keep_alive = keep_alive
        self.conn = None

    def call(self, method, path, body=None, headers=None, token=None, timeout=30):
        """(status, JSON document or None, raw body, response headers)."""
        sent = {} if self.keep_alive else {"Connection": "close"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        if token:
            sent["Authorization"] = "Bearer " + token
        sent.update(headers or {})
        conn = self.conn or http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=timeout, source_address=(self.source, 0) if self.source else None)
        conn.timeout = timeout
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
            answer = {k.lower(): v for k, v in response.getheaders()}
            self.conn = conn if self.keep_alive and not response.will_close else None
        except (OSError, http.client.HTTPException) as error:
            self.conn = None
            raise ConnError(f"{type(error).__name__}: {error}") from None
        finally:
            if self.conn is None:
                conn.close()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        return response.status, doc, raw, answer

    def expect(self, what, statuses, method, path, **kwargs):
        status, doc, raw, _ = self.call(method, path, **kwargs)
        if status not in statuses:
            raise RuntimeError(f"{what}: {method} {path} answered {status}: {short(raw)}")
        return doc


def slug(doc):
    if isinstance(doc, dict) and isinstance(doc.get("type"), str):
        return doc["type"].rsplit(":", 1)[-1]
    return None


def short(raw, limit=300):
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text if len(text) <= limit else text[:limit] + "…"
