"""Base backups, the WAL archive and restores of the loopback cluster's PostgreSQL primary
(scripts/backup). Python 3 standard library; PostgreSQL's own tools do the work.

Layout, inside the cluster's folder:
    wal-archive/                  every WAL segment the primary finished, gzipped by archive_command
    wal-archive/restore-points.json   the points `mark` made: name, LSN, time
    backups/LABEL/data/           a plain-format base backup with its backup_manifest
    backups/LABEL/backup.json     when it was taken, its WAL range, size, how long it took
Restores: backup_restore.py.
"""

import datetime
import glob
import json
import os
import shutil
import subprocess
import time

from cluster_procs import ClusterError, as_owner, run

ARCHIVE = "wal-archive"
BACKUPS = "backups"
POINTS = "restore-points.json"


def log(message):
    print(f"backup: {message}", flush=True)


def give_to_postgres(path):
    """PostgreSQL's tools run as postgres when we are root (as_owner): what they write into
    must be theirs."""
    if os.getuid() == 0:
        subprocess.run(["chown", "postgres:postgres", path], check=True)


# MARK: the archive (written into the primary's configuration by scripts/cluster up)

def archive_settings(folder):
    """postgresql.conf lines that archive every finished WAL segment into FOLDER/wal-archive.

    archive_command, not pg_receivewal: it is part of the server, needs no process of its own
    to supervise, and PostgreSQL keeps a segment in pg_wal until the command said it is safe
    (a full archive disk stops archiving, not the shop, and pg_stat_archiver shows it).
    pg_receivewal streams each commit at once (a smaller loss window) but must itself be kept
    running, with a slot that makes the primary keep WAL while it is down.
    The command never overwrites: an existing file is only accepted when it holds the same
    bytes (the server may send a segment again after a crash that came between the copy and its
    record of it); the copy goes to a temporary name, is flushed, and is renamed, so that a
    restore never reads half a segment. Segments are gzipped: archive_timeout ends a segment
    every minute in which anything was written, and such a segment is 16 MB of mostly zeros
    (measured: an idle cluster's 50 KB of WAL a minute, gzipped to 40 KB)."""
    archive = os.path.join(folder, ARCHIVE)
    if any(c in archive for c in " '\"\\$`"):
        raise ClusterError(f"the archive's path {archive!r} has a character the archive command cannot carry")
    os.makedirs(archive, exist_ok=True)
    give_to_postgres(archive)
    command = (f"test ! -f {archive}/%f.gz && gzip -1 -c %p > {archive}/%f.gz.part && sync {archive}/%f.gz.part "
               f"&& mv {archive}/%f.gz.part {archive}/%f.gz || gzip -dc {archive}/%f.gz | cmp -s - %p")
    # archive_timeout bounds what is lost with the primary's disk when little is written:
    # a segment is archived when full (16 MB) or after this long, whichever comes first.
    return f"archive_mode = on\narchive_command = '{command}'\narchive_timeout = 60\n"


def restore_command(archive):
    """The counterpart of archive_settings' command, for a restored server's configuration.
    It fails for a file the archive does not have, which recovery takes as the end of the WAL."""
    return f"test -f {archive}/%f.gz && gzip -dc {archive}/%f.gz > %p"


def archiver(cluster):
    """pg_stat_archiver on the primary, as a dict."""
    row = cluster.psql("SELECT archived_count, coalesce(last_archived_wal, ''), coalesce(last_archived_time::text, ''), "
                       "failed_count, coalesce(last_failed_wal, ''), coalesce(last_failed_time::text, '') "
                       "FROM pg_stat_archiver")
    keys = ["archived_count", "last_archived_wal", "last_archived_time", "failed_count", "last_failed_wal",
            "last_failed_time"]
    return dict(zip(keys, row.split("|")))


def require_archiving(cluster):
    if cluster.psql("SHOW archive_mode") != "on":
        raise ClusterError("WAL archiving is off on this cluster's primary (it was started before archiving "
                           "was added): run `scripts/cluster down` and `scripts/cluster up` for a cluster that archives")


def switch_and_wait(cluster, timeout=30):
    """Ends the current WAL segment and waits until the archive has it; returns
    (segment, seconds). The last changes are then restorable without the primary's disk."""
    started = time.monotonic()
    segment = cluster.psql("SELECT pg_walfile_name(pg_switch_wal())")
    while True:
        # The archiver's word, not the file's presence: a file of that name may be there and
        # differ (a second cluster writing into the same archive), which the command refuses.
        done, ready = cluster.psql("SELECT count(*) FILTER (WHERE name = '%s.done'), count(*) FILTER (WHERE name = "
                                   "'%s.ready') FROM pg_ls_archive_statusdir()" % (segment, segment)).split("|")
        state = archiver(cluster)
        if done == "1" or (ready == "0" and state["last_archived_wal"][:24] >= segment):
            return segment, time.monotonic() - started
        failing = state["last_failed_wal"] == segment
        if failing or time.monotonic() - started > timeout:
            raise ClusterError(f"segment {segment} was {'refused by archive_command' if failing else 'not archived'} "
                               f"within {time.monotonic() - started:.1f} s (pg_stat_archiver: {state}); see "
                               f"archive_command's error in {cluster.path('pg-primary', 'server.log')}: a full disk, "
                               f"rights on {cluster.path(ARCHIVE)}, or a different file of that name there")
        time.sleep(0.05)


def mark(cluster, name):
    """pg_create_restore_point, remembered with its LSN and time so that a restore to it can
    pick the newest base backup taken before it."""
    require_archiving(cluster)
    lsn, at = cluster.psql(f"SELECT pg_create_restore_point('{quote(name)}'), clock_timestamp()").split("|")
    save_points(cluster, load_points(cluster) + [{"name": name, "lsn": lsn, "time": at}])
    return lsn, at


def save_points(cluster, points):
    path = cluster.path(ARCHIVE, POINTS)
    with open(path + ".part", "w") as f:
        json.dump(points, f, indent=2)
    os.replace(path + ".part", path)


def load_points(cluster):
    try:
        with open(cluster.path(ARCHIVE, POINTS)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def quote(text):
    return text.replace("'", "''")


def lsn_value(lsn):
    high, low = lsn.split("/")
    return (int(high, 16) << 32) | int(low, 16)


# MARK: base backups

def base(cluster):
    """pg_basebackup of the primary (plain format, WAL streamed alongside, checksummed
    manifest), then pg_verifybackup; returns the backup's record."""
    require_archiving(cluster)
    folder = cluster.path(BACKUPS)
    os.makedirs(folder, exist_ok=True)
    give_to_postgres(folder)
    label = "base-" + datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = os.path.join(folder, label)
    if os.path.exists(target):
        raise ClusterError(f"{target} exists already; wait a second and run it again")
    os.makedirs(target)
    give_to_postgres(target)
    data = os.path.join(target, "data")
    s = cluster.state
    started, began = time.monotonic(), utc_now()
    run(as_owner([cluster.pg("pg_basebackup"), "-h", "127.0.0.1", "-p", str(s["primary_port"]), "-U", "emporium",
                  "-D", data, "-Fp", "-X", "stream", "--checkpoint=fast", "--manifest-checksums=CRC32C",
                  "--label", label]),
        "pg_basebackup (is the primary up? `scripts/cluster status`)", timeout=600)
    took = time.monotonic() - started
    checked = time.monotonic()
    run(as_owner([cluster.pg("pg_verifybackup"), "-q", data]),
        f"pg_verifybackup of {data}: the copy does not match its manifest; take a new one and keep this for study")
    verify = time.monotonic() - checked
    with open(os.path.join(data, "backup_manifest")) as f:
        wal = json.load(f)["WAL-Ranges"][0]
    record = {"label": label, "started": began, "finished": utc_now(), "timeline": wal["Timeline"],
              "start_lsn": wal["Start-LSN"], "end_lsn": wal["End-LSN"], "bytes": size_of(data),
              "seconds": round(took, 2), "verify_seconds": round(verify, 2), "verified": True}
    with open(os.path.join(target, "backup.json"), "w") as f:
        json.dump(record, f, indent=2)
    return record


def backups(cluster):
    """The recorded base backups, oldest first."""
    found = []
    for path in sorted(glob.glob(cluster.path(BACKUPS, "base-*", "backup.json"))):
        with open(path) as f:
            found.append(json.load(f))
    return found


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def size_of(path):
    total = 0
    for top, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                pass
    return total


def megabytes(count):
    return f"{count / 1048576:.1f} MB"


def list_all(cluster):
    s = archiver(cluster) if cluster.running("pg-primary") else None
    found = backups(cluster)
    print(f"base backups in {cluster.path(BACKUPS)}:", flush=True)
    for b in found:
        print(f"  {b['label']}  finished {b['finished']}  {megabytes(b['bytes'])}  WAL {b['start_lsn']}..{b['end_lsn']} "
              f"(timeline {b['timeline']})  took {b['seconds']} s, verified in {b['verify_seconds']} s", flush=True)
    if not found:
        print("  none yet: scripts/backup base", flush=True)
    segments = sorted(n for n in os.listdir(cluster.path(ARCHIVE)) if len(n) == 27 and n.endswith(".gz")) \
        if os.path.isdir(cluster.path(ARCHIVE)) else []
    total = sum(os.path.getsize(cluster.path(ARCHIVE, n)) for n in segments)
    print(f"WAL archive {cluster.path(ARCHIVE)}: {len(segments)} segments, {megabytes(total)} gzipped"
          + (f", {segments[0]} .. {segments[-1]}" if segments else ""), flush=True)
    for p in load_points(cluster):
        print(f"  restore point {p['name']!r} at {p['lsn']}, {p['time']}", flush=True)
    if s:
        print(f"archiver: {s['archived_count']} archived, last {s['last_archived_wal'] or '-'} at "
              f"{s['last_archived_time'] or '-'}; {s['failed_count']} failed"
              + (f", last {s['last_failed_wal']} at {s['last_failed_time']}" if s["failed_count"] != "0" else ""),
              flush=True)
        if s["last_failed_time"] and s["last_failed_time"] > (s["last_archived_time"] or ""):
            print("  WARNING: the last attempt to archive failed; see the primary's log for archive_command's error",
                  flush=True)
    if found and s:
        print(f"restorable: from {found[0]['finished']} to the last archived segment ({s['last_archived_time'] or '-'}); "
              "later commits are only on the primary's disk until their segment is archived", flush=True)
    return True


def prune(cluster, keep, dry_run=False):
    """Keeps the newest `keep` base backups, and the archived WAL from the oldest kept one on."""
    found = backups(cluster)
    if keep < 1:
        raise ClusterError("--keep must be at least 1: without a base backup the archive restores nothing")
    if len(found) <= keep:
        log(f"{len(found)} base backups, keeping all (--keep {keep})")
        return
    oldest = found[-keep]
    for b in found[:-keep]:
        log(f"{'would remove' if dry_run else 'removing'} {b['label']}")
        if not dry_run:
            shutil.rmtree(cluster.path(BACKUPS, b["label"]))
    segment = wal_file(oldest["timeline"], oldest["start_lsn"])
    argv = [cluster.pg("pg_archivecleanup")] + (["-n"] if dry_run else []) + ["-x", ".gz", cluster.path(ARCHIVE), segment]
    out = run(as_owner(argv), "pg_archivecleanup")
    # pg_archivecleanup leaves backup history files (SEGMENT.OFFSET.backup); those of the
    # removed base backups go too.
    history = [n for n in os.listdir(cluster.path(ARCHIVE)) if n.endswith(".backup.gz") and n[:24] < segment]
    for name in history if not dry_run else []:
        os.remove(cluster.path(ARCHIVE, name))
    log(f"archived WAL before {segment} (the start of {oldest['label']}) "
        f"{'would go: ' + str(len(out.split()) + len(history)) + ' files' if dry_run else 'removed'}")
    if not dry_run:  # points before the oldest kept backup can no longer be restored to
        points = [p for p in load_points(cluster) if lsn_value(p["lsn"]) >= lsn_value(oldest["end_lsn"])]
        save_points(cluster, points)


def wal_file(timeline, lsn, segment_size=16 * 1048576):
    """The WAL file name that holds `lsn` (pg_walfile_name, without a server)."""
    value = lsn_value(lsn)
    number = value // segment_size
    per_id = 0x100000000 // segment_size
    return f"{timeline:08X}{number // per_id:08X}{number % per_id:08X}"
