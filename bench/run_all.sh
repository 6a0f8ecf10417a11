#!/bin/bash
# Every benchmark, printing its figures. "--smoke" (as CI runs it) keeps each under a minute
# (bench_host.py under ~90 s); without it they run at full size (100k-file spool, 1M-line audit
# log, hosts of 1 to 50 children on both policy families): run those by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
for bench in bench/bench_relabel.py bench/bench_store.py bench/bench_avc.py bench/bench_host.py; do
    echo "=== $bench $*"
    "$PY" "$bench" "$@"
done
