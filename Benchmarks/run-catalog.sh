#!/usr/bin/env bash
# Catalog benchmark: builds release, seeds 10,000 demo products (emporium seed) into SQLite
# and into a throwaway PostgreSQL, and for each runs wrk against
#   GET /health/live                                   the baseline of the same run
#   GET /v1/products?limit=20                          list, newest first
#   GET /v1/products?q=oak&limit=20                    full-text search
#   GET /v1/products?category=clothing&limit=20        category with its descendants
#   GET /v1/products/{handle}                          detail of one product
#   GET /v1/products/{handle}, a different one each time (Benchmarks/product-pages.lua):
#                                                      misses the in-process cache
# Repeated identical requests are answered from the in-process cache, as hot storefront
# pages are in production. Medians go to docs/benchmarks.md.
#
# Usage: Benchmarks/run-catalog.sh [runs=3] [seconds=10] [products=10000]
# Needs wrk (apt-get install -y wrk) and, for the PostgreSQL half, the server binaries
# (apt-get install -y postgresql).
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/lib.sh
source scripts/throwaway-postgres.sh

runs=${1:-3}
seconds=${2:-10}
products=${3:-10000}
connections=32

require_wrk
build_release
work=$(mktemp -d "${TMPDIR:-/tmp}/emporium-bench.XXXXXX")
trap 'stop_server; stop_throwaway_postgres; rm -rf "$work"' EXIT

results=()
bench_database() {
    local name=$1 url=$2
    shift 2
    echo "== seeding $products products into $name"
    "$BINARY" seed --products "$products" --database-url "$url" "$@"
    start_server "$url" "$@"
    for path in /health/live "/v1/products?limit=20" "/v1/products?q=oak&limit=20" \
        "/v1/products?category=clothing&limit=20" /v1/products/bold-oak-desk-35; do
        measure "$path" "$runs" "$seconds" "$connections"
        results+=("| \`GET $path\` | $name | $MEDIAN_RPS | $MEDIAN_P50 | $MEDIAN_P99 |")
    done
    BENCH_PRODUCTS=$products measure "/v1/products/{handle}" "$runs" "$seconds" "$connections" -s Benchmarks/product-pages.lua
    results+=("| \`GET /v1/products/{handle}\`, every request another product (cache misses) | $name | $MEDIAN_RPS | $MEDIAN_P50 | $MEDIAN_P99 |")
    stop_server
}

bench_database SQLite "sqlite://$work/bench.sqlite"

start_throwaway_postgres
openssl genpkey -algorithm ed25519 -out "$work/jwt-key.pem" 2>/dev/null
echo "k1 $(head -c 32 /dev/urandom | base64)" >"$work/encryption-keys"
bench_database PostgreSQL "$THROWAWAY_POSTGRES_URL" --jwt-key-file "$work/jwt-key.pem" --encryption-key-file "$work/encryption-keys"

append_results "Catalog, $products products" "Benchmarks/run-catalog.sh $runs $seconds $products" "$connections" "${results[@]}"
