# Shared pieces of the benchmark scripts: building, starting and stopping the server,
# running wrk and recording results. Sourced, not run.

require_wrk() {
    if ! command -v wrk >/dev/null 2>&1; then
        echo "wrk is not installed; install it (Debian: apt-get install -y wrk) and run again" >&2
        exit 1
    fi
}

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }
post_json() { curl -fsS -X POST -H 'Content-Type: application/json' "$@"; }

build_release() {
    echo "== building release (a cold build takes several minutes)"
    swift build -c release --product emporium
    BINARY=$(swift build -c release --show-bin-path)/emporium
}

# start_server DATABASE_URL [serve options…]: starts emporium on a free port with rate limiting and access
# logs off (the load comes from one address, and a load balancer logs access in production).
start_server() {
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    local url=$1
    shift
    "$BINARY" serve --port "$PORT" --database-url "$url" --rate-limit 0 --log-level warning "$@" \
        >"$work/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 300); do
        if curl -fsS "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1; then
            echo "== server up on port $PORT ($url)"
            return
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "the server exited during start-up:" >&2
            cat "$work/server.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "the server did not become ready within 30 s" >&2
    exit 1
}

stop_server() {
    if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        wait "$SERVER_PID" || true
    fi
}

# measure PATH RUNS SECONDS CONNECTIONS [wrk args...]: a warm-up, then RUNS runs of wrk;
# sets MEDIAN_RPS, MEDIAN_P50 and MEDIAN_P99 (milliseconds). MEASURE_LABEL names what a
# wrk script sends (default "GET PATH").
measure() {
    local path=$1 runs=$2 seconds=$3 connections=$4
    local label=${MEASURE_LABEL:-GET $path}
    shift 4
    wrk -t1 -c"$connections" -d2s "$@" "http://127.0.0.1:$PORT$path" >/dev/null
    local rps=() p50=() p99=()
    for run in $(seq 1 "$runs"); do
        local output
        output=$(wrk -t1 -c"$connections" -d"${seconds}s" --latency "$@" "http://127.0.0.1:$PORT$path")
        if echo "$output" | grep -q "Non-2xx"; then
            echo "$output" >&2
            echo "$label answered errors under load; see above" >&2
            exit 1
        fi
        rps+=("$(echo "$output" | awk '/Requests\/sec/ {printf "%.0f", $2}')")
        p50+=("$(echo "$output" | awk '$1 == "50%" {print $2}' | to_ms)")
        p99+=("$(echo "$output" | awk '$1 == "99%" {print $2}' | to_ms)")
        printf '  %-24s run %d/%d: %8s req/s   p50 %6s ms   p99 %6s ms\n' \
            "$label" "$run" "$runs" "${rps[-1]}" "${p50[-1]}" "${p99[-1]}"
    done
    MEDIAN_RPS=$(median "${rps[@]}")
    MEDIAN_P50=$(median "${p50[@]}")
    MEDIAN_P99=$(median "${p99[@]}")
    printf '  %-24s median: %8s req/s   p50 %6s ms   p99 %6s ms\n' "$label" "$MEDIAN_RPS" "$MEDIAN_P50" "$MEDIAN_P99"
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

# append_results TITLE COMMAND CONNECTIONS ROW...: a dated section in docs/benchmarks.md.
append_results() {
    local title=$1 command=$2 connections=$3
    shift 3
    local cpu
    cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
    {
        echo
        echo "## $title — $(date -u +%Y-%m-%d)"
        echo
        echo "Machine: $(nproc) cores ($cpu), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)." \
            "Commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
        echo "Command: \`$command\`. Release build; wrk -t1 -c$connections on the same machine; medians of the runs."
        echo
        echo "| request | database | req/s | p50 ms | p99 ms |"
        echo "| --- | --- | ---: | ---: | ---: |"
        printf '%s\n' "$@"
    } >>docs/benchmarks.md
    echo "== appended to docs/benchmarks.md"
}
