#!/usr/bin/env bash
# The benchmark of docs/benchmarks.md, from nothing: installs what is missing, builds
# and installs the extension (release), starts a throwaway cluster, loads the dataset
# (bench/dataset.sql, then the user-written policies of bench/user_policies.sql) into
# database `bench` and runs benches/policies.rs (the policy table with parallel
# workers on and off). Prints markdown tables.
# Then application traffic on the same database: bench/traffic.sql and
# benches/traffic.rs (8 clients, a viewer per transaction, both protocols).
# Then the record-shares benchmark: a second database (bench_shares) with the same
# dataset plus bench/shares.sql, and benches/shares.rs.
#   BENCH_ROWS (default 1000000), BENCH_RUNS (default 5),
#   BENCH_USER_SCALES (default 20000,200000,2000000),
#   BENCH_SCALE_ROWS (default 10000000; 0 skips the report at that size),
#   BENCH_POLICIES=0 skips benches/policies.rs and bench/effect.sql,
#   BENCH_TRAFFIC=0 skips the traffic step; BENCH_TRAFFIC_SECONDS (default 10 per
#   case, after BENCH_TRAFFIC_WARMUP, default 2), BENCH_TRAFFIC_VIEWERS (default 2000),
#   BENCH_TRAFFIC_CLIENTS (default 8), BENCH_TRAFFIC_SEED (default 16),
#   BENCH_SHARES (default 200000 live shares; 0 skips the record-shares step),
#   BENCH_SHARES_RUNS (default 9), BENCH_SHARES_USERS (default 200000) and
#   BENCH_SHARES_MAX (default 1000000): the memory step's users and live shares.
# Then the next statement after a configuration change (benches/incremental.rs, its
# own databases): BENCH_INCREMENTAL=0 skips it; BENCH_INCREMENTAL_USERS (default
# 20000,200000), BENCH_INCREMENTAL_CONNECTIONS (default 8,50), BENCH_INCREMENTAL_ROUNDS.
# Then, with BENCH_CITUS=1 (skipped by default), the Citus benchmark:
# scripts/bench-citus.sh (a throwaway Citus cluster of its own; its BENCH_CITUS_*
# variables; Citus installed with scripts/citus.sh install).
# A private installation (no build or install into /usr, no apt): BENCH_SKIP_INSTALL=1
# with PG_BIN=<its bin directory> (scripts/cluster.sh), the extension already
# installed there; BENCH_CLUSTER names the throwaway cluster (default bench).
# PG_MAJOR=15 (default) | 16 | 17 | 18 (scripts/pg-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
. scripts/pg-env.sh
psql() { "$PG_BIN/psql" "$@"; }
PORT=${BENCH_PORT:-54331}
CLUSTER=${BENCH_CLUSTER:-bench}
if [ "${BENCH_SKIP_INSTALL:-0}" = 1 ]; then
  echo "==> BENCH_SKIP_INSTALL=1: using the installation in $PG_BIN"
else
  PROFILE=release scripts/setup.sh
fi
echo "==> starting a throwaway cluster on port $PORT"
scripts/cluster.sh start "$CLUSTER" "$PORT"
trap 'scripts/cluster.sh stop "$CLUSTER"' EXIT
echo "==> machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}')"
POLICIES=${BENCH_POLICIES:-1}
TRAFFIC=${BENCH_TRAFFIC:-1}
if [ "$POLICIES" = 1 ] || [ "$TRAFFIC" = 1 ]; then
  psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE bench"
  echo "==> loading the dataset (${BENCH_ROWS:-1000000} deals) and the user-written policies"
  time psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d bench -v rows="${BENCH_ROWS:-1000000}" -f bench/dataset.sql
  time psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d bench -f bench/user_policies.sql
fi
if [ "$POLICIES" = 1 ]; then
  BENCH_PORT=$PORT cargo bench --no-default-features --features "pg$PG_MAJOR" --bench policies
  echo "==> the check by effect: configuration statements with and without it (bench/effect.sql)"
  psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d bench -f bench/effect.sql
fi
if [ "$TRAFFIC" = 1 ]; then
  echo "==> application traffic: ${BENCH_TRAFFIC_CLIENTS:-8} clients, a viewer per transaction (bench/traffic.sql, benches/traffic.rs)"
  psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d bench -f bench/traffic.sql
  BENCH_PORT=$PORT cargo bench --no-default-features --features "pg$PG_MAJOR" --bench traffic
fi
SHARES=${BENCH_SHARES:-200000}
if [ "$SHARES" -gt 0 ]; then
  echo "==> record shares: a second database with the same dataset and $SHARES live shares (bench/shares.sql)"
  psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE bench_shares"
  psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d bench_shares -v rows="${BENCH_ROWS:-1000000}" -f bench/dataset.sql
  time psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d bench_shares -v shares="$SHARES" -f bench/shares.sql
  psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d bench_shares -c "VACUUM ANALYZE"
  BENCH_PORT=$PORT BENCH_DB=bench_shares BENCH_RUNS=${BENCH_SHARES_RUNS:-9} \
    cargo bench --no-default-features --features "pg$PG_MAJOR" --bench shares
fi
if [ "${BENCH_INCREMENTAL:-1}" = 1 ]; then
  echo "==> incremental updates: the next statement of idle connections after one change (benches/incremental.rs)"
  BENCH_PORT=$PORT cargo bench --no-default-features --features "pg$PG_MAJOR" --bench incremental
fi
if [ "${BENCH_CITUS:-0}" = 1 ]; then
  echo "==> Citus: a coordinator and two workers, pg_sharing against the hand-written filter (scripts/bench-citus.sh)"
  BENCH_SKIP_INSTALL=1 PG_BIN=$PG_BIN scripts/bench-citus.sh
fi
