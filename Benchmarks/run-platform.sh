#!/usr/bin/env bash
# Platform benchmark: builds release, starts emporium on a fresh SQLite file, and runs wrk
# against /health/live and /openapi.json. Prints requests/s and latency percentiles for
# every run, and appends the medians, with the date, machine and commit, to
# docs/benchmarks.md.
#
# Usage: Benchmarks/run-platform.sh [runs=3] [seconds=10]
# Needs wrk (Debian: apt-get install -y wrk). Server and load generator share the machine,
# so figures are for comparing builds on one box, not absolute capacity.
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/lib.sh

runs=${1:-3}
seconds=${2:-10}
connections=32

require_wrk
build_release
work=$(mktemp -d "${TMPDIR:-/tmp}/emporium-bench.XXXXXX")
trap 'stop_server; rm -rf "$work"' EXIT
start_server "sqlite://$work/bench.sqlite"

results=()
for endpoint in /health/live /openapi.json; do
    measure "$endpoint" "$runs" "$seconds" "$connections"
    results+=("| \`GET $endpoint\` | SQLite | $MEDIAN_RPS | $MEDIAN_P50 | $MEDIAN_P99 |")
done

append_results "Platform endpoints" "Benchmarks/run-platform.sh $runs $seconds" "$connections" "${results[@]}"
