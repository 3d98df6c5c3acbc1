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
# BINARY. Builds on this shared machine take turns through /tmp/emporium-build.lock, unless
# BUILD_LOCK_HELD=1 says the caller holds it already (taking it again would wait for ever).
# RELEASE_BUILD_PATH=DIR builds there instead of .build.
build_release() {
    local folder=${1:-.}
    echo "== building release in $folder (a cold build takes several minutes)"
    local lock=() where=()
    if command -v flock >/dev/null 2>&1 && [ "${BUILD_LOCK_HELD:-0}" != 1 ]; then lock=(flock /tmp/emporium-build.lock); fi
    if [ -n "${RELEASE_BUILD_PATH:-}" ]; then where=(--build-path "$RELEASE_BUILD_PATH"); fi
    if ! (cd "$folder" && "${lock[@]}" swift build -c release "${where[@]}" --product emporium); then
        echo "the release build in $folder failed; fix the error above, or measure a binary you have with EMPORIUM_BINARY=path" >&2
        exit 1
    fi
    BINARY=$(cd "$folder" && swift build -c release "${where[@]}" --show-bin-path)/emporium
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

# --- the shop the cart and checkout scenarios use (Benchmarks/run, Benchmarks/cluster) ---
# These read the caller's PORT, work (a scratch folder), skus, connections, ADMIN and METHOD.

# How many orders have been placed (paid for) so far, from the sales report.
placed_orders() {
    curl -fsS -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$PORT/v1/admin/reports/sales?interval=month" |
        python3 -c 'import json, sys; print(sum(b["orders"] for b in json.load(sys.stdin)["buckets"]))'
}

# How many order confirmations the server has sent so far, from /metrics.
sent_confirmations() {
    curl -fsS "http://127.0.0.1:$PORT/metrics" |
        awk '/^emporium_mail_total\{.*template="order_confirmation"/ && /outcome="sent"/ {n += $NF} END {printf "%d", n}'
}

# checkout_journeys SECONDS CONNECTIONS THREADS: runs checkout-journey.lua; sets ORDERS (per
# second), ORDERS_TOTAL, JOURNEY_AVG (mean ms), JOURNEY_P50, JOURNEY_P99, JOURNEY_RPS and
# CONFIRMED (order confirmations sent per second meanwhile: below ORDERS, the background work
# falls behind and the figure counts work the server has not done yet). Any answer that is not
# 2xx fails the run.
checkout_journeys() {
    local duration=$1 clients=$2 threads=$3 before after output mailed
    mailed=$(sent_confirmations)
    before=$(placed_orders)
    output=$(BENCH_SKUS=$skus BENCH_SHIPPING_METHOD=$METHOD wrk -t"$threads" -c"$clients" -d"${duration}s" \
        --latency -s Benchmarks/checkout-journey.lua "http://127.0.0.1:$PORT/" 2>"$work/journey-errors")
    after=$(placed_orders)
    if [ -s "$work/journey-errors" ] || echo "$output" | grep -q "Non-2xx"; then
        echo "$output" >&2
        head -n 5 "$work/journey-errors" >&2
        echo "the checkout journey answered errors under load (above); the server's log is ${SERVER_LOG:-$work/server.log}" >&2
        exit 1
    fi
    ORDERS=$(python3 -c "print(round(($after - $before) / $duration))")
    CONFIRMED=$(python3 -c "print(round(($(sent_confirmations) - $mailed) / $duration))")
    ORDERS_TOTAL=$((after - before))
    JOURNEY_AVG=$(echo "$output" | awk '$1 == "Latency" {print $2; exit}' | to_ms)
    JOURNEY_RPS=$(echo "$output" | awk '/Requests\/sec/ {printf "%.0f", $2}')
    JOURNEY_P50=$(echo "$output" | awk '$1 == "50%" {print $2}' | to_ms)
    JOURNEY_P99=$(echo "$output" | awk '$1 == "99%" {print $2}' | to_ms)
}

# shop: an admin, a customer, 100 products with ten million units each, shipping and tax, 32
# carts. Sets ADMIN, CUSTOMER and METHOD.
shop() {
    ADMIN=$(post_json -d '{"email":"admin@example.com","password":"benchmark admin password"}' \
        "http://127.0.0.1:$PORT/v1/auth/login" | json_field access_token)
    CUSTOMER=$(post_json -d '{"email":"bench@example.com","password":"benchmark password","name":"Bench"}' \
        "http://127.0.0.1:$PORT/v1/auth/register" | json_field access_token)
    local auth=(-H "Authorization: Bearer $ADMIN") location
    location=$(post_json "${auth[@]}" -d '{"code":"bench","name":"Bench"}' "http://127.0.0.1:$PORT/v1/admin/inventory/locations" | json_field id)
    echo "== making $skus products with stock for the carts and checkouts"
    for i in $(seq 1 "$skus"); do
        post_json "${auth[@]}" -d "{\"handle\":\"bench-$i\",\"title\":\"Bench $i\",\"status\":\"active\",\"variants\":[{\"sku\":\"BENCH-$i\",\"weight_grams\":300,\"prices\":[{\"currency\":\"EUR\",\"amount\":1999}]}]}" \
            "http://127.0.0.1:$PORT/v1/admin/products" >/dev/null
        post_json "${auth[@]}" -d "{\"sku\":\"BENCH-$i\",\"location_id\":\"$location\",\"delta\":10000000,\"reason\":\"received\"}" \
            "http://127.0.0.1:$PORT/v1/admin/inventory/adjustments" >/dev/null
    done
    METHOD=$(post_json "${auth[@]}" -d '{"name":"Standard","currency":"EUR","flat_amount":490}' \
        "http://127.0.0.1:$PORT/v1/admin/shipping-methods" | json_field id)
    # Newer seeds bring this rate themselves (409 then); older builds' seeds do not.
    curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' "${auth[@]}" \
        -d '{"country":"DE","name":"VAT","rate_ppm":190000}' "http://127.0.0.1:$PORT/v1/admin/tax-rates"
    : >"$work/carts"
    for _ in $(seq 1 "$connections"); do
        post_json -d '{"currency":"EUR"}' "http://127.0.0.1:$PORT/v1/carts" |
            python3 -c 'import json, sys; c = json.load(sys.stdin); print(c["id"], c["secret"])' >>"$work/carts"
    done
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
