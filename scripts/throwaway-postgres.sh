# Sourced, not run: start_throwaway_postgres [server options…] starts a PostgreSQL server in a
# temporary folder on 127.0.0.1 at a free port, creates the database `emporium` and sets
# THROWAWAY_POSTGRES_URL; stop_throwaway_postgres stops it and removes the folder. Callers
# put stop_throwaway_postgres in their EXIT trap.

find_postgres_binaries() {
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$PG_BIN" ] && command -v pg_ctl >/dev/null 2>&1; then
        PG_BIN=$(dirname "$(command -v pg_ctl)")
    fi
    if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
        echo "PostgreSQL server binaries not found; install them (Debian: apt-get install -y postgresql)" >&2
        exit 1
    fi
}

# initdb and pg_ctl refuse to run as root: run them as the postgres user when we are root.
as_postgres_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_throwaway_postgres() {
    find_postgres_binaries
    PG_WORK=$(mktemp -d "${TMPDIR:-/tmp}/emporium-pg.XXXXXX")
    if [ "$(id -u)" = 0 ]; then chown postgres "$PG_WORK"; fi
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    echo "starting PostgreSQL ($("$PG_BIN/postgres" --version)) on 127.0.0.1:$port"
    as_postgres_owner "$PG_BIN/initdb" -D "$PG_WORK/data" -U emporium --auth=trust -E UTF8 --locale=C >"$PG_WORK/initdb.log" 2>&1 \
        || { cat "$PG_WORK/initdb.log" >&2; exit 1; }
    as_postgres_owner "$PG_BIN/pg_ctl" -D "$PG_WORK/data" -l "$PG_WORK/server.log" -w \
        -o "-p $port -k $PG_WORK -c listen_addresses=127.0.0.1 $*" start >/dev/null \
        || { cat "$PG_WORK/server.log" >&2; exit 1; }
    as_postgres_owner "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U emporium emporium
    THROWAWAY_POSTGRES_URL="postgres://emporium@127.0.0.1:$port/emporium?sslmode=disable"
}

stop_throwaway_postgres() {
    if [ -n "${PG_WORK:-}" ]; then
        as_postgres_owner "$PG_BIN/pg_ctl" -D "$PG_WORK/data" -m fast stop >/dev/null 2>&1 || true
        rm -rf "$PG_WORK"
        PG_WORK=
    fi
}
