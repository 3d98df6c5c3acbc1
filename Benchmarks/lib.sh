# Shared pieces of Benchmarks/run: building, starting and stopping the server, running wrk.
# Sourced, not run.

require_wrk() {
    if ! command -v wrk >/dev/null 2>&1; then
        echo "wrk is not installed; install it (Debian: apt-get install -y wrk) and run again" >&2
        exit 1
    fi
}

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }
post_json() { curl -fsS -X POST -H 'Content-Type: application/json' "$@"; }

# build_release [FOLDER]: a release build of emporium in FOLDER (default: this checkout); sets
# BINARY. Builds on this shared machine take turns through /tmp/emporium-build.lock.
build_release() {
    local folder=${1:-.}
    echo "== building release in $folder (a cold build takes several minutes)"
    local lock=()
    if command -v flock >/dev/null 2>&1; then lock=(flock /tmp/emporium-build.lock); fi
    if ! (cd "$folder" && "${lock[@]}" swift build -c release --product emporium); then
        echo "the release build in $folder failed; fix the error above, or measure a binary you have with EMPORIUM_BINARY=path" >&2
        exit 1
    fi
    BINARY=$(cd "$folder" && swift build -c release --show-bin-path)/emporium
}

# start_server DATABASE_URL [serve options…]: starts emporium on a free port with rate limiting and access
# logs off (the load comes from one address, and a load balancer logs access in production).
# Sets PORT, SERVER_PID and STARTUP_MS (from launch to the first ready answer of /health/ready).
start_server() {
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    local url=$1 started
    shift
    started=$(date +%s%N)
    "$BINARY" serve --port "$PORT" --database-url "$url" --rate-limit 0 --log-level warning "$@" \
        >"$work/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 1500); do
        if curl -fsS "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1; then
            STARTUP_MS=$(( ($(date +%s%N) - started) / 1000000 ))
            echo "== server up on port $PORT in $STARTUP_MS ms ($url)"
            return
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "the server exited during start-up:" >&2
            cat "$work/server.log" >&2
            exit 1
        fi
        sleep 0.02
    done
    echo "the server did not become ready within 30 s; its log: $work/server.log" >&2
    exit 1
}

stop_server() {
    if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        wait "$SERVER_PID" || true
    fi
}

# measure PATH RUNS SECONDS CONNECTIONS [wrk args...]: a warm-up (WARMUP_SECONDS, default 2),
# then RUNS runs of wrk with WRK_THREADS threads (default 2: wrk is event-driven, so two threads
# drive any number of connections; a thread per connection would measure the scheduler);
# sets MEDIAN_RPS, MEDIAN_P50 and MEDIAN_P99 (milliseconds). MEASURE_LABEL names what a
# wrk script sends (default "GET PATH"). Scripts learn the thread count from BENCH_THREADS.
measure() {
    local path=$1 runs=$2 seconds=$3 connections=$4
    local label=${MEASURE_LABEL:-GET $path} threads=${WRK_THREADS:-2}
    shift 4
    export BENCH_THREADS=$threads
    wrk -t"$threads" -c"$connections" -d"${WARMUP_SECONDS:-2}s" "$@" "http://127.0.0.1:$PORT$path" >/dev/null
    local rps=() p50=() p99=()
    for run in $(seq 1 "$runs"); do
        local output
        output=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "$@" "http://127.0.0.1:$PORT$path")
        if echo "$output" | grep -q "Non-2xx"; then
            echo "$output" >&2
            echo "$label answered errors under load; see above" >&2
            exit 1
        fi
        rps+=("$(echo "$output" | awk '/Requests\/sec/ {printf "%.0f", $2}')")
        p50+=("$(echo "$output" | awk '$1 == "50%" {print $2}' | to_ms)")
        p99+=("$(echo "$output" | awk '$1 == "99%" {print $2}' | to_ms)")
        printf '  %-32s run %d/%d: %8s req/s   p50 %6s ms   p99 %6s ms\n' \
            "$label" "$run" "$runs" "${rps[-1]}" "${p50[-1]}" "${p99[-1]}"
    done
    MEDIAN_RPS=$(median "${rps[@]}")
    MEDIAN_P50=$(median "${p50[@]}")
    MEDIAN_P99=$(median "${p99[@]}")
    printf '  %-32s median: %8s req/s   p50 %6s ms   p99 %6s ms\n' "$label" "$MEDIAN_RPS" "$MEDIAN_P50" "$MEDIAN_P99"
}

# wrk prints latencies as 812.00us, 1.20ms or 1.01s; convert to milliseconds.
to_ms() {
    awk '{
        v = $1
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
    }'
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
