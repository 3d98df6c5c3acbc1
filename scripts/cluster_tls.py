"""`scripts/cluster check`, (h): TLS ends at the balancer. A client that trusts only the
certificate scripts/cluster made gets a verified TLS 1.2+ session for 127.0.0.1, HTTP/2 when it
offers h2 and HTTP/1.1 when it offers only that (ALPN), and answers from the nodes with
Strict-Transport-Security; a client that does not trust it gets no session. Standard library only.
"""

import http.client
import json
import socket
import ssl

SOURCE = "127.8.0.2"


def context(cluster, protocols):
    c = ssl.create_default_context(cafile=cluster.state["balancer_certificate"])
    c.minimum_version = ssl.TLSVersion.TLSv1_2
    c.set_alpn_protocols(protocols)
    return c


def handshake(cluster, tls_context):
    """(TLS version, ALPN protocol) of one handshake with the balancer's TLS port."""
    raw = socket.create_connection(("127.0.0.1", cluster.state["balancer_tls_port"]), timeout=10,
                                   source_address=(SOURCE, 0))
    with tls_context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return tls.version(), tls.selected_alpn_protocol()


def tls_at_balancer(cluster, shop, checks):
    problems = []
    version, protocol = handshake(cluster, context(cluster, ["h2", "http/1.1"]))
    if version not in ("TLSv1.2", "TLSv1.3"):
        problems.append(f"negotiated {version}")
    if protocol != "h2":
        problems.append(f"offered h2 and http/1.1, got {protocol!r}")
    _, only_http1 = handshake(cluster, context(cluster, ["http/1.1"]))
    if only_http1 != "http/1.1":
        problems.append(f"offered http/1.1 only, got {only_http1!r}")

    conn = http.client.HTTPSConnection("127.0.0.1", cluster.state["balancer_tls_port"], timeout=10,
                                       context=context(cluster, ["http/1.1"]), source_address=(SOURCE, 0))
    try:
        conn.request("GET", "/v1/products?limit=1")
        response = conn.getresponse()
        body = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    if response.status != 200 or "data" not in json.loads(body or b"{}"):
        problems.append(f"GET /v1/products over HTTPS answered {response.status}")
    if not headers.get("strict-transport-security", "").startswith("max-age="):
        problems.append("no Strict-Transport-Security on an HTTPS answer")
    if not headers.get("x-served-by"):
        problems.append("no X-Served-By: the answer did not come from a node")

    untrusting = ssl.create_default_context()
    try:
        handshake(cluster, untrusting)
        problems.append("a client trusting only the system's CAs completed a handshake")
    except ssl.SSLCertVerificationError:
        pass
    checks.check("TLS ends at the balancer: a verified TLS 1.2+ session, HTTP/2 or HTTP/1.1 by ALPN, HSTS on answers",
                 problems, f"{version}, ALPN {protocol} (or http/1.1 when only that is offered), "
                           f"answered by {headers.get('x-served-by')}")
