"""The processes of the loopback cluster (scripts/cluster): a PostgreSQL primary, a streaming
replica made with pg_basebackup, three `emporium serve` nodes and HAProxy in front of them.

Everything lives in one throwaway folder; `cluster.json` there records ports, settings and
the admin's credentials, and one `NAME.pid` file per process lets `down` stop exactly what
`up` started. Python 3 standard library only.
"""

import json
import os
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
                balancer_port=s["balancer_port"], balancer_tls_port=s["balancer_tls_port"],
                certificate=s["balancer_certificate"], socket=self.path("haproxy.sock"), servers=servers,
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

    def keep_in_rotation(self, count):
        """The first `count` nodes in the balancer's rotation, the others in maintenance
        (still running, sent nothing): Benchmarks/cluster measures 1, 2 and 3 nodes this way."""
        for index, node in enumerate(self.nodes):
            self.haproxy(f"set server nodes/{node['name']} state {'ready' if index < count else 'maint'}")
        for index, node in enumerate(self.nodes):
            self.wait_balancer_state(node["name"], "UP" if index < count else "MAINT")

    def wait_balancer_state(self, name, wanted, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.server_stats().get(name, {}).get("status", "")
            if status.startswith(wanted):
                return
            time.sleep(0.1)
        raise ClusterError(f"HAProxy did not see {name} as {wanted} within {timeout} s "
                           f"(status {self.server_stats().get(name, {}).get('status')})")


if __name__ == "__main__":
    sys.exit("run scripts/cluster")
