#!/usr/bin/env bash
# Carts and checkout under load, on SQLite and on a throwaway PostgreSQL. For each database:
#   1. a shop: 100 products (BENCH-1…100) with ten million units each, a flat-rate shipping
#      method and 19 % VAT for Germany, made through the admin API;
#   2. add to cart: POST /v1/carts/{id}/items over 32 guest carts of three lines each
#      (Benchmarks/add-to-cart.lua);
#   3. checkout: whole shopper journeys (Benchmarks/checkout-journey.lua, one connection per
#      wrk thread): make a cart, add an item, set e-mail, address and shipping method, check out
#      with a new Idempotency-Key, paid by the built-in test provider. Orders per second come
#      from the sales report before and after each run; latencies are over all six requests.
# On PostgreSQL, `pgbench -N` on the same server gives the database's own ceiling for
# comparison. Medians go to docs/benchmarks.md.
#
# Usage: Benchmarks/run-checkout.sh [runs=3] [seconds=10]
# Needs wrk and the PostgreSQL server binaries (apt-get install -y wrk postgresql).
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/lib.sh
source scripts/throwaway-postgres.sh

runs=${1:-3}
seconds=${2:-10}
connections=32
skus=100

require_wrk
if [ -n "${EMPORIUM_BINARY:-}" ]; then BINARY=$EMPORIUM_BINARY; else build_release; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/emporium-bench.XXXXXX")
trap 'stop_server; stop_throwaway_postgres; rm -rf "$work"' EXIT

# shop URL [serve options…]: an admin, products with stock, shipping and tax; sets ADMIN and METHOD.
shop() {
    local url=$1
    shift
    echo "benchmark admin password" | "$BINARY" create-admin --database-url "$url" "$@" \
        --email admin@example.com --name Admin >/dev/null
    start_server "$url" "$@"
    ADMIN=$(post_json -d '{"email":"admin@example.com","password":"benchmark admin password"}' \
        "http://127.0.0.1:$PORT/v1/auth/login" | json_field access_token)
    local auth=(-H "Authorization: Bearer $ADMIN") location
    location=$(post_json "${auth[@]}" -d '{"code":"bench","name":"Bench"}' "http://127.0.0.1:$PORT/v1/admin/inventory/locations" | json_field id)
    echo "== making $skus products with stock"
    for i in $(seq 1 "$skus"); do
        post_json "${auth[@]}" -d "{\"handle\":\"bench-$i\",\"title\":\"Bench $i\",\"status\":\"active\",\"variants\":[{\"sku\":\"BENCH-$i\",\"weight_grams\":300,\"prices\":[{\"currency\":\"EUR\",\"amount\":1999}]}]}" \
            "http://127.0.0.1:$PORT/v1/admin/products" >/dev/null
        post_json "${auth[@]}" -d "{\"sku\":\"BENCH-$i\",\"location_id\":\"$location\",\"delta\":10000000,\"reason\":\"received\"}" \
            "http://127.0.0.1:$PORT/v1/admin/inventory/adjustments" >/dev/null
    done
    METHOD=$(post_json "${auth[@]}" -d '{"name":"Standard","currency":"EUR","flat_amount":490}' \
        "http://127.0.0.1:$PORT/v1/admin/shipping-methods" | json_field id)
    post_json "${auth[@]}" -d '{"country":"DE","name":"VAT","rate_ppm":190000}' "http://127.0.0.1:$PORT/v1/admin/tax-rates" >/dev/null
}

# How many orders have been placed (paid for) so far, from the sales report.
placed_orders() {
    curl -fsS -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$PORT/v1/admin/reports/sales?interval=month" |
        python3 -c 'import json, sys; print(sum(b["orders"] for b in json.load(sys.stdin)["buckets"]))'
}

results=()
bench_database() {
    local name=$1 url=$2
    shift 2
    shop "$url" "$@"
    : >"$work/carts"
    for _ in $(seq 1 32); do
        post_json -d '{"currency":"EUR"}' "http://127.0.0.1:$PORT/v1/carts" |
            python3 -c 'import json, sys; c = json.load(sys.stdin); print(c["id"], c["secret"])' >>"$work/carts"
    done
    MEASURE_LABEL="POST …/items" BENCH_SKUS=$skus BENCH_CART_FILE="$work/carts" \
        measure / "$runs" "$seconds" "$connections" -s Benchmarks/add-to-cart.lua
    results+=("| \`POST /v1/carts/{id}/items\` (add to cart, 3-line carts) | $name | $MEDIAN_RPS | $MEDIAN_P50 | $MEDIAN_P99 |")

    local orders=() rps=() p50=() p99=()
    for run in $(seq 0 "$runs"); do
        local duration=$seconds before after output
        [ "$run" = 0 ] && duration=2
        before=$(placed_orders)
        output=$(BENCH_SKUS=$skus BENCH_SHIPPING_METHOD=$METHOD wrk -t"$connections" -c"$connections" -d"${duration}s" \
            --latency -s Benchmarks/checkout-journey.lua "http://127.0.0.1:$PORT/" 2>"$work/journey-errors")
        after=$(placed_orders)
        if [ -s "$work/journey-errors" ] || echo "$output" | grep -q "Non-2xx"; then
            echo "$output" >&2
            head -n 5 "$work/journey-errors" >&2
            echo "the checkout journey answered errors under load; see above" >&2
            exit 1
        fi
        [ "$run" = 0 ] && continue
        orders+=("$(python3 -c "print(round(($after - $before) / $duration))")")
        rps+=("$(echo "$output" | awk '/Requests\/sec/ {printf "%.0f", $2}')")
        p50+=("$(echo "$output" | awk '$1 == "50%" {print $2}' | to_ms)")
        p99+=("$(echo "$output" | awk '$1 == "99%" {print $2}' | to_ms)")
        printf '  %-24s run %d/%d: %6s orders/s (%s req/s)   p50 %6s ms   p99 %6s ms\n' \
            "checkout journey" "$run" "$runs" "${orders[-1]}" "${rps[-1]}" "${p50[-1]}" "${p99[-1]}"
    done
    results+=("| checkout journey: 6 requests per order (orders/s) | $name | $(median "${orders[@]}") | $(median "${p50[@]}") | $(median "${p99[@]}") |")
    stop_server
}

bench_database SQLite "sqlite://$work/bench.sqlite"

start_throwaway_postgres
openssl genpkey -algorithm ed25519 -out "$work/jwt-key.pem" 2>/dev/null
echo "k1 $(head -c 32 /dev/urandom | base64)" >"$work/encryption-keys"
# The built-in test provider is off on PostgreSQL unless asked for.
bench_database PostgreSQL "$THROWAWAY_POSTGRES_URL" --jwt-key-file "$work/jwt-key.pem" --encryption-key-file "$work/encryption-keys" \
    --test-payments true

# The database's own ceiling on the same server: pgbench's simple-update transactions.
pg_port=$(echo "$THROWAWAY_POSTGRES_URL" | sed -E 's#.*:([0-9]+)/.*#\1#')
pgbench=$PG_BIN/pgbench
[ -x "$pgbench" ] || pgbench=$(command -v pgbench)
as_postgres_owner "$PG_BIN/createdb" -h 127.0.0.1 -p "$pg_port" -U emporium pgbench
"$pgbench" -h 127.0.0.1 -p "$pg_port" -U emporium -i -s 10 -q pgbench >/dev/null 2>&1
tps=()
for run in $(seq 1 "$runs"); do
    tps+=("$("$pgbench" -h 127.0.0.1 -p "$pg_port" -U emporium -N -c "$connections" -j 2 -T "$seconds" pgbench 2>/dev/null |
        awk '/^tps/ {printf "%.0f", $3; exit}')")
    echo "  pgbench -N run $run/$runs: ${tps[-1]} tps"
done
results+=("| \`pgbench -N -c $connections -j 2\` (transactions/s, scale 10) | PostgreSQL | $(median "${tps[@]}") | | |")

append_results "Carts and checkout" "Benchmarks/run-checkout.sh $runs $seconds" "$connections" "${results[@]}"
