#!/usr/bin/env bash
# Authenticated requests: what a bearer credential costs. Builds release, starts emporium on
# a fresh SQLite file, signs up a customer, makes an admin (emporium create-admin) who issues
# an API key, then runs wrk against
#   GET /health/live                      no credential, no database (the baseline)
#   GET /v1/me                            access token: signature check (cached after the
#                                         first request) + one user read
#   GET /v1/admin/customers?limit=1       API key: one key lookup by digest + one list query
# Prints requests/s and latency percentiles and appends the medians to docs/benchmarks.md.
#
# Usage: Benchmarks/run-accounts.sh [runs=3] [seconds=10]
# Set EMPORIUM_BINARY to benchmark another build of the server (e.g. an older commit).
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/lib.sh

runs=${1:-3}
seconds=${2:-10}
connections=32

require_wrk
if [ -n "${EMPORIUM_BINARY:-}" ]; then BINARY=$EMPORIUM_BINARY; else build_release; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/emporium-bench.XXXXXX")
trap 'stop_server; rm -rf "$work"' EXIT
database="sqlite://$work/bench.sqlite"
start_server "$database"

echo "== signing up a customer, creating an admin and an API key"
customer_token=$(post_json -d '{"email":"bench@example.com","password":"benchmark password","name":"Bench"}' \
    "http://127.0.0.1:$PORT/v1/auth/register" | json_field access_token)
echo "benchmark admin password" | "$BINARY" create-admin --database-url "$database" \
    --email admin@example.com --name Admin >/dev/null
admin_token=$(post_json -d '{"email":"admin@example.com","password":"benchmark admin password"}' \
    "http://127.0.0.1:$PORT/v1/auth/login" | json_field access_token)
api_key=$(post_json -H "Authorization: Bearer $admin_token" -d '{"name":"bench","scopes":["customers:read"]}' \
    "http://127.0.0.1:$PORT/v1/admin/api-keys" 2>/dev/null | json_field secret 2>/dev/null || true)

results=()
measure /health/live "$runs" "$seconds" "$connections"
results+=("| \`GET /health/live\` | SQLite | $MEDIAN_RPS | $MEDIAN_P50 | $MEDIAN_P99 |")
measure /v1/me "$runs" "$seconds" "$connections" -H "Authorization: Bearer $customer_token"
results+=("| \`GET /v1/me\` (access token) | SQLite | $MEDIAN_RPS | $MEDIAN_P50 | $MEDIAN_P99 |")
# Builds from before API keys existed skip this row.
if [ -n "$api_key" ]; then
    measure "/v1/admin/customers?limit=1" "$runs" "$seconds" "$connections" -H "Authorization: Bearer $api_key"
    results+=("| \`GET /v1/admin/customers?limit=1\` (API key) | SQLite | $MEDIAN_RPS | $MEDIAN_P50 | $MEDIAN_P99 |")
fi

append_results "Authenticated requests" "Benchmarks/run-accounts.sh $runs $seconds" "$connections" "${results[@]}"
