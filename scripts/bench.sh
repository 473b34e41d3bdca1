#!/usr/bin/env bash
# The benchmark of docs/benchmarks.md, from nothing: installs what is missing, builds
# and installs the extension (release), starts a throwaway cluster, loads the dataset
# (bench/dataset.sql) and runs benches/policies.rs. Prints markdown tables.
#   BENCH_ROWS (default 1000000), BENCH_RUNS (default 5),
#   BENCH_USER_SCALES (default 20000,200000,2000000)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
PG_MAJOR=${PG_MAJOR:-15}
PORT=${BENCH_PORT:-54331}
PROFILE=release scripts/setup.sh
echo "==> starting a throwaway cluster on port $PORT"
scripts/cluster.sh start bench "$PORT"
trap 'scripts/cluster.sh stop bench' EXIT
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE bench"
echo "==> loading the dataset (${BENCH_ROWS:-1000000} deals)"
time psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d bench -v rows="${BENCH_ROWS:-1000000}" -f bench/dataset.sql
echo "==> machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), PostgreSQL $PG_MAJOR"
BENCH_PORT=$PORT cargo bench --no-default-features --features "pg$PG_MAJOR" --bench policies
echo "==> the check by effect: configuration statements with and without it (bench/effect.sql)"
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d bench -f bench/effect.sql
