"""The processes of the loopback cluster (scripts/cluster): a PostgreSQL primary, a streaming
replica made with pg_basebackup, three `emporium serve` nodes and HAProxy in front of them.

Everything lives in one throwaway folder; `cluster.json` there records ports, settings and
the admin's credentials, and one `NAME.pid` file per process lets `down` stop exactly what
`up` started. Python 3 standard library only.
"""

import json
import os
import secrets
import signal
import socket
import string
import subprocess
import sys
import time

from cluster_http import Api, ConnError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(ROOT, "deploy", "cluster", "haproxy.cfg.in")
POINTER = os.path.join(os.environ.get("TMPDIR", "/tmp"), "emporium-cluster.current")
NODES = 3
REPLICATION_SLOT = "emporium_replica"


def log(message):
    print(f"cluster: {message}", flush=True)


class ClusterError(Exception):
    """A step the cluster cannot go on without; the message says what failed."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_pg_bin():
    found = sorted((p for p in (f"/usr/lib/postgresql/{v}/bin" for v in os.listdir("/usr/lib/postgresql"))
                    if os.access(os.path.join(p, "initdb"), os.X_OK)),
                   key=lambda p: [int(x) for x in p.split("/")[4].split(".") if x.isdigit()]) \
        if os.path.isdir("/usr/lib/postgresql") else []
    if not found:
        raise ClusterError("PostgreSQL server binaries not found; install them (apt-get install -y postgresql)")
    return found[-1]


def as_owner(argv):
    """initdb, pg_ctl and pg_basebackup refuse to run as root: run them as postgres when we are."""
    return (["runuser", "-u", "postgres", "--"] + argv) if os.getuid() == 0 else argv


def run(argv, what, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise ClusterError(f"{what} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result.stdout


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def owns(pid, marker):
    """Whether `pid` is still the process we started (its command line names our folder or
    binary), so that a reused pid is never signalled."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return marker.encode() in f.read()
    except OSError:
        return False


class Cluster:
    def __init__(self, folder):
        self.dir = os.path.abspath(folder)
        self.state_path = os.path.join(self.dir, "cluster.json")
        with open(self.state_path) as f:
            self.state = json.load(f)
        self.children = {}  # name -> Popen, for the processes this process started

    # MARK: where things are

    @staticmethod
    def locate(folder=None):
        folder = folder or os.environ.get("EMPORIUM_CLUSTER")
        if not folder and os.path.exists(POINTER):
            with open(POINTER) as f:
                folder = f.read().strip()
        if not folder or not os.path.exists(os.path.join(folder, "cluster.json")):
            raise ClusterError("no cluster found: pass --dir FOLDER (printed by `scripts/cluster up`) or set EMPORIUM_CLUSTER")
        return Cluster(folder)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def nodes(self):
        return self.state["nodes"]

    def node(self, name):
        return next(n for n in self.nodes if n["name"] == name)

    def balancer(self, source=None):
        return Api(self.state["balancer_port"], source=source)

    def direct(self, node):
        return Api(node["port"])

    def psql(self, sql, port=None):
        """One value from a statement on the primary (or the server at `port`)."""
        port = port or self.state["primary_port"]
        return run([os.path.join(self.state["pg_bin"], "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1",
                    "-h", "127.0.0.1", "-p", str(port), "-U", "emporium", "-d", "emporium", "-c", sql],
                   f"psql on port {port}", timeout=60).strip()

    def env(self):
        environment = dict(os.environ)
        environment.update(self.state["settings"])
        return environment

    def pid(self, name):
        try:
            with open(self.path(f"{name}.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self, name):
        child = self.children.get(name)
        if child is not None:  # ours: no need to read /proc (and no race with its exec)
            return child.pid if child.poll() is None else None
        pid = self.pid(name)
        return pid if pid and pid_alive(pid) and owns(pid, self.marker(name)) else None

    def marker(self, name):
        return self.dir if name in ("pg-primary", "pg-replica", "haproxy") else self.state["binary"]

    # MARK: PostgreSQL

    def pg(self, tool):
        return os.path.join(self.state["pg_bin"], tool)

    def start_postgres(self, name, port):
        data = self.path(name, "data")
        run(as_owner([self.pg("pg_ctl"), "-D", data, "-l", self.path(name, "server.log"), "-w", "-t", "60",
                      "-o", f"-p {port} -k {self.path(name)} -c listen_addresses=127.0.0.1", "start"]),
            f"starting {name}")
        with open(os.path.join(data, "postmaster.pid")) as f:
            pid = f.readline().strip()
        with open(self.path(f"{name}.pid"), "w") as f:
            f.write(pid + "\n")

    def stop_postgres(self, name):
        if not self.running(name):
            return
        subprocess.run(as_owner([self.pg("pg_ctl"), "-D", self.path(name, "data"), "-m", "fast", "-w", "stop"]),
                       capture_output=True, timeout=60)

    # MARK: nodes

    def node_argv(self, node):
        return [self.state["binary"], "serve", "--port", str(node["port"]), "--node-id", node["name"],
                "--workers", "4", "--mail-folder", self.path(node["name"], "mail")]

    def start_node(self, node):
        with open(self.path(node["name"], "server.log"), "ab") as out:
            out.write(f"\n===== start at {time.strftime('%H:%M:%S')}\n".encode())
            out.flush()
            process = subprocess.Popen(self.node_argv(node), cwd=self.path(node["name"]), env=self.env(),
                                       stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        with open(self.path(f"{node['name']}.pid"), "w") as f:
            f.write(f"{process.pid}\n")
        self.children[node["name"]] = process
        return process.pid

    def wait_node_ready(self, node, timeout=90):
        deadline = time.monotonic() + timeout
        api = self.direct(node)
        while time.monotonic() < deadline:
            if not self.running(node["name"]):
                raise ClusterError(f"{node['name']} exited while starting:\n{self.tail(node['name'])}")
            try:
                if api.call("GET", "/health/ready", timeout=3)[0] == 200:
                    return
            except ConnError:
                pass
            time.sleep(0.1)
        raise ClusterError(f"{node['name']} was not ready within {timeout} s:\n{self.tail(node['name'])}")

    def stop_process(self, name, sig=signal.SIGTERM, timeout=30):
        """Signals our process `name` and waits for it to exit (SIGKILL after `timeout`).
        Returns how long it took to exit, or None when it was not running."""
        pid = self.running(name)
        if not pid:
            return None
        started = time.monotonic()
        os.kill(pid, sig)
        while self.running(name):
            if time.monotonic() - started > timeout:
                log(f"{name} did not exit within {timeout} s of signal {sig}; killing it")
                os.kill(pid, signal.SIGKILL)
                timeout = 1e9
            time.sleep(0.05)
        return time.monotonic() - started

    def tail(self, name, lines=25):
        try:
            with open(self.path(name, "server.log"), "rb") as f:
                return b"".join(f.readlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return ""

    # MARK: HAProxy

    def write_haproxy_config(self):
        s = self.state
        servers = "\n".join(f"    server {n['name']} 127.0.0.1:{n['port']} check" for n in self.nodes)
        with open(TEMPLATE) as f:
            text = string.Template(f.read()).substitute(
                balancer_port=s["balancer_port"], socket=self.path("haproxy.sock"), servers=servers,
                rate_window=s["rate_window"], rate_burst=s["rate_burst"])
        with open(self.path("haproxy.cfg"), "w") as f:
            f.write(text)

    def start_haproxy(self):
        config = self.path("haproxy.cfg")
        run(["haproxy", "-c", "-q", "-f", config], "checking haproxy.cfg")
        with open(self.path("haproxy.log"), "ab") as out:
            process = subprocess.Popen(["haproxy", "-db", "-f", config], stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        with open(self.path("haproxy.pid"), "w") as f:
            f.write(f"{process.pid}\n")
        self.children["haproxy"] = process
        deadline = time.monotonic() + 10
        while not os.path.exists(self.path("haproxy.sock")):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ClusterError(f"HAProxy did not start; see {self.path('haproxy.log')}")
            time.sleep(0.05)

    def haproxy(self, command):
        """One command on HAProxy's runtime API (the admin socket in the folder)."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.path("haproxy.sock"))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_stats(self):
        """{node name: {status, scur, ...}} from `show stat` for the nodes' backend."""
        lines = self.haproxy("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        stats = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == "nodes" and row.get("svname") not in ("FRONTEND", "BACKEND"):
                stats[row["svname"]] = row
        return stats

    def wait_balancer_state(self, name, wanted, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.server_stats().get(name, {}).get("status", "")
            if status.startswith(wanted):
                return
            time.sleep(0.1)
        raise ClusterError(f"HAProxy did not see {name} as {wanted} within {timeout} s "
                           f"(status {self.server_stats().get(name, {}).get('status')})")


# MARK: up, down, status

def up(binary, folder=None, rate=100, burst=200):
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

    primary_port, replica_port, balancer_port = port(), port(), port()
    nodes = [{"name": f"node{i}", "port": port()} for i in range(1, NODES + 1)]
    database_url = f"postgres://emporium@127.0.0.1:{primary_port}/emporium?sslmode=disable"
    window = max(1, round(burst / rate)) if rate > 0 else 1
    state = {
        "binary": binary, "pg_bin": pg_bin, "primary_port": primary_port, "replica_port": replica_port,
        "balancer_port": balancer_port, "nodes": nodes, "rate_limit": rate, "rate_window": window,
        "rate_burst": window * rate if rate > 0 else 10**9,
        "admin": {"email": "owner@example.com", "password": secrets.token_urlsafe(18)},
        "database_url": database_url,
        "replica_url": f"postgres://emporium@127.0.0.1:{replica_port}/emporium?sslmode=disable",
        "settings": {
            "EMPORIUM_DATABASE_URL": database_url,
            "EMPORIUM_JWT_KEY_FILE": os.path.join(folder, "jwt-key.pem"),
            "EMPORIUM_ENCRYPTION_KEY_FILE": os.path.join(folder, "encryption-keys"),
            # Nodes listen on 127.0.0.1 only: the balancer and local users reach them, so the
            # X-Forwarded-For they trust can only come from HAProxy (or someone on this host).
            "EMPORIUM_HOST": "127.0.0.1",
            "EMPORIUM_TRUST_FORWARDED_FOR": "true",
            # Every connection comes from the balancer's address.
            "EMPORIUM_MAX_CONNECTIONS_PER_ADDRESS": "0",
            # The per-node limit stays as a backstop for direct callers; the balancer's shared
            # limit is the one that counts (docs/scale-out.md).
            "EMPORIUM_RATE_LIMIT": str(rate), "EMPORIUM_RATE_LIMIT_BURST": str(burst),
            "EMPORIUM_TEST_PAYMENTS": "true",
            "EMPORIUM_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
            "EMPORIUM_SHUTDOWN_GRACE": "10",
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
        f.write("k1 " + __import__("base64").b64encode(os.urandom(32)).decode() + "\n")
    for key in ("EMPORIUM_JWT_KEY_FILE", "EMPORIUM_ENCRYPTION_KEY_FILE"):
        os.chmod(s["settings"][key], 0o600)

    for name in ("pg-primary", "pg-replica"):
        os.makedirs(c.path(name), exist_ok=True)
        if os.getuid() == 0:
            subprocess.run(["chown", "postgres", c.path(name)], check=True)
    log(f"PostgreSQL primary on 127.0.0.1:{s['primary_port']} ({s['pg_bin']})")
    run(as_owner([c.pg("initdb"), "-D", c.path("pg-primary", "data"), "-U", "emporium", "--auth=trust", "-E", "UTF8",
                  "--locale=C"]), "initdb")
    # Throwaway durability settings; WAL for a streaming replica.
    with open(c.path("pg-primary", "data", "postgresql.auto.conf"), "a") as f:
        f.write("max_connections = 200\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "wal_level = replica\nmax_wal_senders = 4\nmax_replication_slots = 4\nhot_standby = on\n")
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

    log(f"HAProxy on 127.0.0.1:{s['balancer_port']}, health checks on /health/ready")
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
    line("haproxy", bool(pid), f"pid {pid}, http://127.0.0.1:{s['balancer_port']}" if pid else "not running")
    return healthy


if __name__ == "__main__":
    sys.exit("run scripts/cluster")
