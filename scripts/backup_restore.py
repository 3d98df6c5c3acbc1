"""`scripts/backup restore` and `stop`: a new PostgreSQL server from a base backup plus the
cluster's WAL archive, recovering to a restore point or a moment and then promoted, on
127.0.0.1 and a port of its own; stopped by the pid in its postmaster.pid. Python 3 standard
library; the backups and the archive are backup_pg.py's.
"""

import datetime
import os
import shutil
import signal
import subprocess
import time

from backup_pg import ARCHIVE, BACKUPS, backups, give_to_postgres, load_points, log, lsn_value, quote, restore_command
from cluster_procs import ClusterError, as_owner, free_port, owns, pid_alive, run

def choose(cluster, target_time=None, target_name=None, label=None):
    found = backups(cluster)
    if not found:
        raise ClusterError("no base backup to restore from: run `scripts/backup base` first")
    if label:
        match = [b for b in found if b["label"] == label]
        if not match:
            raise ClusterError(f"no base backup {label}; `scripts/backup list` shows them")
        return match[0]
    if target_time:
        wanted = parse_time(target_time)
        before = [b for b in found if parse_time(b["finished"]) <= wanted]
        if not before:
            raise ClusterError(f"no base backup had finished by {target_time}; the earliest restorable moment is "
                               f"{found[0]['finished']}")
        return before[-1]
    point = [p for p in load_points(cluster) if p["name"] == target_name]
    if point:
        before = [b for b in found if lsn_value(b["end_lsn"]) <= lsn_value(point[-1]["lsn"])]
        if not before:
            raise ClusterError(f"restore point {target_name!r} ({point[-1]['lsn']}) is older than every base backup")
        return before[-1]
    log(f"restore point {target_name!r} is not among those `scripts/backup mark` made (or prune has dropped it): "
        "trying the newest base backup (pass --backup LABEL for an older one if recovery says the target was not "
        "reached)")
    return found[-1]


def parse_time(text):
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def restore(cluster, into, target_time=None, target_name=None, port=None, label=None, timeout=300):
    """A new data folder `into` from a base backup plus archived WAL, started as a server of
    its own on 127.0.0.1:`port`, recovering up to the target and then promoted. Returns
    {port, pid, backup, seconds: {copy, recovery, total}}; the caller stops it (stop())."""
    if bool(target_time) == bool(target_name):
        raise ClusterError("give exactly one of --target-time and --target-name")
    chosen = choose(cluster, target_time, target_name, label)
    into = os.path.abspath(into)
    if os.path.exists(into) and os.listdir(into):
        raise ClusterError(f"{into} is not empty: restore into a new folder")
    port = port or free_port()
    started = time.monotonic()
    os.makedirs(into, exist_ok=True)
    os.chmod(into, 0o700)
    give_to_postgres(into)
    source = cluster.path(BACKUPS, chosen["label"], "data")
    run(as_owner(["cp", "-a", source + "/.", into]), f"copying {source}")
    copied = time.monotonic()
    with open(os.path.join(into, "postgresql.auto.conf"), "a") as f:
        target = f"recovery_target_time = '{quote(target_time)}'" if target_time else \
            f"recovery_target_name = '{quote(target_name)}'"
        # A restored copy archives nothing into the cluster's archive: it is a new history
        # (timeline) that someone first has to decide to keep.
        f.write(f"\n# restore from {chosen['label']} (scripts/backup)\narchive_mode = off\n"
                f"restore_command = '{restore_command(cluster.path(ARCHIVE))}'\n{target}\n"
                "recovery_target_action = 'promote'\n")
    open(os.path.join(into, "recovery.signal"), "w").close()
    give_to_postgres(os.path.join(into, "recovery.signal"))
    logfile = into + ".log"
    open(logfile, "a").close()
    give_to_postgres(logfile)
    # TCP on 127.0.0.1 only: a Unix socket under a long --into path would pass the 107-byte limit.
    result = subprocess.run(as_owner([cluster.pg("pg_ctl"), "-D", into, "-l", logfile, "-w", "-t", str(timeout),
                                      "-o", f"-p {port} -c unix_socket_directories='' -c listen_addresses=127.0.0.1",
                                      "start"]),
                            capture_output=True, text=True)
    failure = None
    if result.returncode != 0:
        failure = f"the restored server did not start: {result.stdout}{result.stderr}"
    else:
        pid = server_pid(into)
        deadline = time.monotonic() + timeout
        while not promoted(cluster, port):
            if not pid_alive(pid) or time.monotonic() > deadline:
                failure = "recovery did not reach its target and promote"
                break
            time.sleep(0.05)
    if failure:
        # The half-restored folder is of no use; its log says what happened.
        stop(into)
        shutil.rmtree(into, ignore_errors=True)
        raise ClusterError(f"{failure}\n{tail(logfile)}\n{advice(target_time)}\nThe log is kept: {logfile}")
    done = time.monotonic()
    return {"port": port, "pid": pid, "into": into, "log": logfile, "backup": chosen["label"],
            "seconds": {"copy": round(copied - started, 2), "recovery": round(done - copied, 2),
                        "total": round(done - started, 2)}}


def promoted(cluster, port):
    """Whether the restored server has reached its target and left recovery; False while it is
    still replaying, or has stopped (recovery that runs out of WAL before the target ends it)."""
    try:
        return cluster.psql("SELECT pg_is_in_recovery()", port=port) == "f"
    except ClusterError:
        return False


def advice(target_time):
    text = ("If the target is later than the last archived segment, end the primary's segment first "
            "(SELECT pg_switch_wal(), or `scripts/backup mark NAME`) and wait for `scripts/backup list` to show it "
            "archived; if it is earlier than the base backup, pass an older one with --backup LABEL.")
    if target_time:
        # Recovery to a time stops at the first commit after it: it needs one in the archive.
        text += (" A restore to a time ends at the first transaction committed after it, so the archive must hold "
                 "one: on a quiet database make a change on the primary, then archive its segment.")
    return text


def server_pid(data):
    with open(os.path.join(data, "postmaster.pid")) as f:
        return int(f.readline())


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def stop(data, timeout=60):
    """Stops the restored server in `data` by the pid in its postmaster.pid (fast shutdown:
    SIGINT), after checking that the pid is still that server."""
    try:
        pid = server_pid(data)
    except (OSError, ValueError):
        return False
    if not pid_alive(pid) or not owns(pid, data):
        return False
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGQUIT)
            deadline += 10
        time.sleep(0.05)
    return True
