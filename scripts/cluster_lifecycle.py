"""`scripts/cluster up`, `down` and `status`: starting the loopback cluster's parts in order,
stopping them by the pids `up` recorded, and showing each. Python 3 standard library only.
"""

import base64
import json
import os
import secrets
import subprocess
import time

import backup_pg
from cluster_http import ConnError
from cluster_procs import NODES, POINTER, REPLICATION_SLOT, Cluster, ClusterError, as_owner, find_pg_bin, free_port, log, run


# MARK: up, down, status

def up(binary, folder=None, rate=100, burst=200, drain=2):
    binary = os.path.abspath(binary)
    if not os.access(binary, os.X_OK):
        raise ClusterError(f"no emporium binary at {binary}; run swift build first or pass --binary")
    if subprocess.run(["which", "haproxy"], capture_output=True).returncode != 0:
        raise ClusterError("haproxy is not installed (Debian: apt-get install -y haproxy)")
    pg_bin = find_pg_bin()
    folder = os.path.abspath(folder) if folder else \
        subprocess.run(["mktemp", "-d", os.path.join(os.environ.get("TMPDIR", "/tmp"), "emporium-cluster.XXXXXX")],
                       capture_output=True, text=True, check=True).stdout.strip()
    os.makedirs(folder, exist_ok=True)
    os.chmod(folder, 0o755)
    ports = set()

    def port():
        while True:
            p = free_port()
            if p not in ports:
                ports.add(p)
                return p

    primary_port, replica_port, balancer_port, balancer_tls_port = port(), port(), port(), port()
    nodes = [{"name": f"node{i}", "port": port()} for i in range(1, NODES + 1)]
    database_url = f"postgres://emporium@127.0.0.1:{primary_port}/emporium?sslmode=disable"
    window = max(1, round(burst / rate)) if rate > 0 else 1
    state = {
        "binary": binary, "pg_bin": pg_bin, "primary_port": primary_port, "replica_port": replica_port,
        "balancer_port": balancer_port, "balancer_tls_port": balancer_tls_port,
        "balancer_certificate": os.path.join(folder, "balancer.pem"), "nodes": nodes, "rate_limit": rate, "rate_window": window,
        "rate_burst": window * rate if rate > 0 else 10**9,
        "admin": {"email": "owner@example.com", "password": secrets.token_urlsafe(18)},
        "database_url": database_url,
        "replica_url": f"postgres://emporium@127.0.0.1:{replica_port}/emporium?sslmode=disable",
        "settings": {
            "EMPORIUM_DATABASE_URL": database_url,
            # Storefront catalog reads and reports from the streaming replica.
            "EMPORIUM_DATABASE_READ_URL": f"postgres://emporium@127.0.0.1:{replica_port}/emporium?sslmode=disable",
            "EMPORIUM_JWT_KEY_FILE": os.path.join(folder, "jwt-key.pem"),
            "EMPORIUM_ENCRYPTION_KEY_FILE": os.path.join(folder, "encryption-keys"),
            # Nodes listen on 127.0.0.1 only, and believe X-Forwarded-For only on connections
            # from HAProxy's address: a client's own header counts for nothing.
            "EMPORIUM_HOST": "127.0.0.1",
            "EMPORIUM_TRUST_FORWARDED_FOR": "127.0.0.1/32",
            # Every connection comes from the balancer's address.
            "EMPORIUM_MAX_CONNECTIONS_PER_ADDRESS": "0",
            # The per-node limit stays as a backstop for direct callers; the balancer's shared
            # limit is the one that counts (docs/scale-out.md).
            "EMPORIUM_RATE_LIMIT": str(rate), "EMPORIUM_RATE_LIMIT_BURST": str(burst),
            "EMPORIUM_TEST_PAYMENTS": "true",
            "EMPORIUM_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
            "EMPORIUM_SHUTDOWN_GRACE": "10",
            # After SIGTERM a node says 503 on /health/ready this long before it closes
            # connections: HAProxy's checks (every 0.5 s, out after 2 failures) take it out first.
            "EMPORIUM_SHUTDOWN_DRAIN": str(drain),
            "EMPORIUM_LOG_LEVEL": "notice",
        },
    }
    with open(os.path.join(folder, "cluster.json"), "w") as f:
        json.dump(state, f, indent=2)
    os.chmod(os.path.join(folder, "cluster.json"), 0o600)
    cluster = Cluster(folder)
    log(f"folder {folder}")
    try:
        start_everything(cluster)
    except BaseException:
        log("start-up failed; stopping what was started")
        down(cluster)
        raise
    with open(POINTER, "w") as f:
        f.write(folder + "\n")
    return cluster


def start_everything(c):
    s = c.state
    run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", s["settings"]["EMPORIUM_JWT_KEY_FILE"]], "making the JWT key")
    with open(s["settings"]["EMPORIUM_ENCRYPTION_KEY_FILE"], "w") as f:
        f.write("k1 " + base64.b64encode(os.urandom(32)).decode() + "\n")
    for key in ("EMPORIUM_JWT_KEY_FILE", "EMPORIUM_ENCRYPTION_KEY_FILE"):
        os.chmod(s["settings"][key], 0o600)

    for name in ("pg-primary", "pg-replica"):
        os.makedirs(c.path(name), exist_ok=True)
        if os.getuid() == 0:
            subprocess.run(["chown", "postgres", c.path(name)], check=True)
    log(f"PostgreSQL primary on 127.0.0.1:{s['primary_port']} ({s['pg_bin']})")
    run(as_owner([c.pg("initdb"), "-D", c.path("pg-primary", "data"), "-U", "emporium", "--auth=trust", "-E", "UTF8",
                  "--locale=C"]), "initdb")
    # Throwaway durability settings; WAL for a streaming replica. synchronous_commit stays on
    # (cheap with fsync off): off, a commit's WAL reaches the replica up to wal_writer_delay
    # later, and catalog reads would wait for it or fall back to the primary (docs/scale-out.md).
    with open(c.path("pg-primary", "data", "postgresql.auto.conf"), "a") as f:
        f.write("max_connections = 200\nfsync = off\nsynchronous_commit = on\nfull_page_writes = off\n"
                "wal_level = replica\nmax_wal_senders = 4\nmax_replication_slots = 4\nhot_standby = on\n")
        # Every finished WAL segment to the folder's wal-archive/, for scripts/backup's
        # point-in-time restores (docs/scale-out.md).
        f.write(backup_pg.archive_settings(c.dir))
    c.start_postgres("pg-primary", s["primary_port"])
    run(as_owner([c.pg("createdb"), "-h", "127.0.0.1", "-p", str(s["primary_port"]), "-U", "emporium", "emporium"]),
        "createdb")

    log(f"streaming replica on 127.0.0.1:{s['replica_port']} (pg_basebackup -R, slot {REPLICATION_SLOT})")
    run(as_owner([c.pg("pg_basebackup"), "-h", "127.0.0.1", "-p", str(s["primary_port"]), "-U", "emporium",
                  "-D", c.path("pg-replica", "data"), "-R", "-C", "-S", REPLICATION_SLOT, "-X", "stream",
                  "--checkpoint=fast"]), "pg_basebackup")
    c.start_postgres("pg-replica", s["replica_port"])

    env = c.env()
    log("emporium migrate; creating the admin")
    run([s["binary"], "migrate"], "emporium migrate", env=env, cwd=c.dir, timeout=300)
    run([s["binary"], "create-admin", "--email", s["admin"]["email"], "--name", "Cluster owner"], "emporium create-admin",
        env=env, cwd=c.dir, input=s["admin"]["password"] + "\n", timeout=120)

    for node in c.nodes:
        os.makedirs(c.path(node["name"], "mail"), exist_ok=True)
        log(f"{node['name']} on 127.0.0.1:{node['port']} (--workers 4 --node-id {node['name']})")
        c.start_node(node)
    for node in c.nodes:
        c.wait_node_ready(node)

    make_balancer_certificate(c)
    log(f"HAProxy on 127.0.0.1:{s['balancer_port']} and https://127.0.0.1:{s['balancer_tls_port']}, "
        "health checks on /health/ready")
    c.write_haproxy_config()
    c.start_haproxy()
    for node in c.nodes:
        c.wait_balancer_state(node["name"], "UP")
    wait_replica_streaming(c)


def wait_replica_streaming(c, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if c.psql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "1":
            return
        time.sleep(0.2)
    raise ClusterError("the replica is not streaming from the primary")


def down(c):
    """Stops every process the cluster started, by the pid in its pid file."""
    c.stop_process("haproxy")
    for node in c.nodes:
        took = c.stop_process(node["name"])
        if took is not None:
            log(f"{node['name']} stopped in {took:.1f} s")
    c.stop_postgres("pg-replica")
    c.stop_postgres("pg-primary")
    leftover = [n for n in ["haproxy", "pg-replica", "pg-primary"] + [n["name"] for n in c.nodes] if c.running(n)]
    if leftover:
        raise ClusterError(f"still running after down: {', '.join(leftover)}")


def status(c):
    """One line per part; returns True when every part is up."""
    s = c.state
    healthy = True

    def line(name, ok, detail):
        nonlocal healthy
        healthy = healthy and ok
        print(f"  {name:<11} {'up  ' if ok else 'DOWN'}  {detail}", flush=True)

    print(f"cluster in {c.dir}", flush=True)
    for name, port in (("pg-primary", s["primary_port"]), ("pg-replica", s["replica_port"])):
        pid = c.running(name)
        detail = f"pid {pid}, 127.0.0.1:{port}" if pid else "not running"
        if pid and name == "pg-primary":
            try:
                detail += f", replicas streaming: {c.psql('SELECT count(*) FROM pg_stat_replication WHERE state = ' + chr(39) + 'streaming' + chr(39))}"
            except ClusterError:
                pass
        if pid and name == "pg-replica":
            try:
                lag = c.psql("SELECT COALESCE(round(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::numeric, 1)::text, 'none yet')", port=port)
                detail += f", in recovery, last replay {lag} s ago"
            except ClusterError:
                pass
        line(name, bool(pid), detail)
    stats = {}
    pid = c.running("haproxy")
    if pid:
        try:
            stats = c.server_stats()
        except OSError:
            pass
    for node in c.nodes:
        npid = c.running(node["name"])
        ready = False
        if npid:
            try:
                ready = c.direct(node).call("GET", "/health/ready", timeout=3)[0] == 200
            except ConnError:
                pass
        seen = stats.get(node["name"], {}).get("status", "?")
        line(node["name"], bool(npid) and ready,
             f"pid {npid}, 127.0.0.1:{node['port']}, ready {ready}, balancer sees {seen}" if npid else "not running")
    line("haproxy", bool(pid), f"pid {pid}, http://127.0.0.1:{s['balancer_port']}, https://127.0.0.1:{s['balancer_tls_port']}" if pid else "not running")
    return healthy


def make_balancer_certificate(c):
    """A self-signed certificate for 127.0.0.1 and localhost, two days long: HAProxy terminates
    TLS with it (the certificate and key in one PEM file, as HAProxy reads them), and the checks
    trust it as their only CA, so a handshake that passes also proves the name matched."""
    s = c.state
    key, certificate = c.path("balancer-key.pem"), c.path("balancer-cert.pem")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", certificate, "-days", "2", "-subj", "/CN=emporium-cluster",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], "making the balancer's certificate")
    with open(s["balancer_certificate"], "w") as out:
        for part in (certificate, key):
            with open(part) as f:
                out.write(f.read())
    os.chmod(s["balancer_certificate"], 0o600)
    os.remove(key)
