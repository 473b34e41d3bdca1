#!/usr/bin/env bash
# The Citus benchmark of docs/benchmarks.md ("Citus: a coordinator and two workers"):
# pg_sharing against the hand-written filter on the same distributed table, per viewer
# class, for the report and the list view, routed (WHERE company_id = 1) and
# multi-shard (no company filter). Prints markdown tables. Needs Citus installed in
# $PG_BIN's installation (scripts/citus.sh install); builds and installs pg_sharing's
# release build there first (PROFILE=release scripts/setup.sh; a debug build, which the
# test suite installs, made the multi-shard statements of 5 25–30 % slower), unless
# BENCH_SKIP_INSTALL=1; builds its timing client (benches/citus.rs). Called by
# scripts/bench.sh with BENCH_CITUS=1 (after its own install).
#   1. starts a throwaway cluster (scripts/citus.sh: a coordinator on
#      BENCH_CITUS_PORT, default 55480, workers on the next two ports) and loads
#      bench/citus_dataset.sql on the coordinator: BENCH_CITUS_COMPANIES companies
#      (default 4), company 1 shaped like bench/dataset.sql's, BENCH_CITUS_ROWS deals
#      in all (default 1000000, half of them company 1's), distributed by company_id
#      in BENCH_CITUS_SHARDS shards (default 32);
#   2. for each viewer class of company 1 and each query, benches/citus.rs times the
#      three variants below in turn, in BENCH_CITUS_ROUNDS rounds (default 3) of fresh
#      sessions, BENCH_CITUS_RUNS timed runs per variant and round (default 7) after
#      two warm-up runs, each run its own transaction; only the query itself is timed;
#      the medians:
#        1 unprotected: the query as the superuser (no row level security) with the
#          company filter only — routed: company_id = 1; multi-shard:
#          company_id + 0 = 1 (the same rows; Citus does not prune on it);
#        2 hand-written: as the superuser, owner_id = ANY ('{…}') with the owners
#          sharing.reach(viewer) returns (computed beforehand), plus company_id = 1
#          when routed (multi-shard: the owners only, as the company filter would
#          route the query);
#        5 pg_sharing: as bench_app, a trusted application role, each transaction
#          BEGIN; SET LOCAL sharing.viewer = '…'; <query>; COMMIT
#          (citus.propagate_set_commands = 'local', docs/scaling.md);
#      and the worker backends started per statement of 5 (sessions started on the
#      workers during its statements, warm-ups included; each builds its model at its
#      first shard statement);
#      once per entry of BENCH_CITUS_SETTINGS (';'-separated coordinator session
#      settings for all three variants, ',' between two settings of one entry,
#      'default' for none; default: SETTINGS_DEFAULT below); the entry 'pgbouncer' runs
#      Citus's defaults with the coordinator's connections to the workers through a
#      PgBouncer per worker in transaction mode (pg_dist_poolinfo; on ports
#      BENCH_CITUS_PGBOUNCER_PORT, default PORT + 11, and the next; pgbouncer must be
#      installed), then removes them;
#   3. stops the cluster (trap).
# BENCH_CITUS_CLUSTER names the cluster (default bench_citus). BENCH_CITUS_REUSE=1
# measures a cluster already running on BENCH_CITUS_PORT whose database BENCH_CITUS_DB
# (default bench_citus) holds the dataset: no start, no load, no stop. PG_BIN /
# PG_MAJOR as in scripts/pg-env.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg-env.sh
export PATH="$HOME/.cargo/bin:$PATH"
PORT=${BENCH_CITUS_PORT:-55480}
CLUSTER=${BENCH_CITUS_CLUSTER:-bench_citus}
ROWS=${BENCH_CITUS_ROWS:-1000000}
COMPANIES=${BENCH_CITUS_COMPANIES:-4}
SHARDS=${BENCH_CITUS_SHARDS:-32}
RUNS=${BENCH_CITUS_RUNS:-7}
ROUNDS=${BENCH_CITUS_ROUNDS:-3}
# Citus's defaults; every connection a multi-shard statement opens kept (the default
# pool, 16 per worker); a pool of two connections per worker, both kept; and, when
# pgbouncer is installed, Citus's defaults through PgBouncer (docs/scaling.md,
# "Setting it up").
SETTINGS_DEFAULT="default;citus.max_cached_conns_per_worker=16;citus.max_adaptive_executor_pool_size=2,citus.max_cached_conns_per_worker=2"
command -v pgbouncer >/dev/null && SETTINGS_DEFAULT="$SETTINGS_DEFAULT;pgbouncer"
SETTINGS=${BENCH_CITUS_SETTINGS:-$SETTINGS_DEFAULT}
DB=${BENCH_CITUS_DB:-bench_citus}
REUSE=${BENCH_CITUS_REUSE:-0}
export PG_BIN
sql() { # PORT USER SQL...: one value, unaligned
  local port=$1 user=$2
  shift 2
  "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$user" -d "$DB" "$@"
}
if [ "${BENCH_SKIP_INSTALL:-0}" = 1 ]; then
  echo "==> BENCH_SKIP_INSTALL=1: using the pg_sharing installed in $PG_BIN"
else
  PROFILE=release scripts/setup.sh
fi
echo "==> building the timing client (benches/citus.rs)"
cargo bench -q --no-default-features --features "pg$PG_MAJOR" --bench citus --no-run
work=$(mktemp -d /tmp/bench_citus.XXXXXX)
chmod 755 "$work"
cleanup() {
  if [ "${PGB_ON:-0}" = 1 ]; then pgbouncer_off; fi
  [ "$REUSE" = 1 ] || CITUS_DB=$DB scripts/citus.sh stop "$CLUSTER" || true
  rm -rf "$work"
}
trap cleanup EXIT
if [ "$REUSE" = 1 ]; then
  echo "==> BENCH_CITUS_REUSE=1: the cluster on $PORT, database $DB"
  ROWS=$(sql "$PORT" postgres -c "SELECT count(*) FROM deals")
  COMPANIES=$(sql "$PORT" postgres -c "SELECT count(*) FROM sharing.companies")
  SHARDS=$(sql "$PORT" postgres -c "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'deals'::regclass")
else
  echo "==> starting a throwaway Citus cluster: coordinator on $PORT, workers on $((PORT + 1)), $((PORT + 2))"
  CITUS_DB=$DB scripts/citus.sh start "$CLUSTER" "$PORT" 2> >(grep -v 'does not exist, skipping' >&2)
  echo "==> loading bench/citus_dataset.sql: $ROWS deals, $COMPANIES companies, $SHARDS shards"
  start=$(date +%s)
  PGOPTIONS="-c citus.shard_count=$SHARDS" sql "$PORT" postgres \
    -v rows="$ROWS" -v companies="$COMPANIES" -f bench/citus_dataset.sql >/dev/null
  echo "    loaded in $(($(date +%s) - start)) s"
fi
# The workers' copies of the configuration are the coordinator's.
counts="SELECT (SELECT count(*) FROM sharing.companies) || ' companies, ' || (SELECT count(*) FROM sharing.roles)
               || ' roles, ' || (SELECT count(*) FROM sharing.users) || ' users, ' || (SELECT count(*) FROM sharing.user_roles)
               || ' user roles, ' || (SELECT count(*) FROM sharing.trusted_app_roles) || ' trusted role'"
want=$(sql "$PORT" postgres -c "$counts")
for p in $((PORT + 1)) $((PORT + 2)); do
  got=$(sql "$p" postgres -c "$counts")
  if [ "$got" != "$want" ]; then
    echo "worker $p: $got; coordinator: $want" >&2
    exit 1
  fi
done
echo "    configuration on every node: $want"

c1_node=$(sql "$PORT" postgres -c "SELECT p.nodeport FROM pg_dist_placement pl JOIN pg_dist_node p USING (groupid)
                                     WHERE pl.shardid = get_shard_id_for_distribution_column('deals', 1)")
per_worker=$(sql "$PORT" postgres -c "SELECT string_agg(n || ' on ' || nodeport, ', ' ORDER BY nodeport)
                                        FROM (SELECT nodeport, count(*) n FROM pg_dist_shard_placement
                                               WHERE shardid IN (SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'deals'::regclass)
                                               GROUP BY nodeport) s")
per_company=$(sql "$PORT" postgres -c "SELECT string_agg(company_id || ': ' || n, ', ' ORDER BY company_id)
                                         FROM (SELECT company_id, count(*) n FROM deals GROUP BY 1) s")
versions=$(sql "$PORT" postgres -c "SELECT 'Citus ' || extversion FROM pg_extension WHERE extname = 'citus'")
versions="$versions, pg_sharing $(sql "$PORT" postgres -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_sharing'")"
versions="$versions, PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}')"
echo "==> machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "==> cluster: $versions; a coordinator and two workers on one machine (loopback);"
echo "    deals: $ROWS rows distributed by company_id, $SHARDS shards ($per_worker),"
echo "    rows per company: $per_company; company 1's shard on port $c1_node"

# A PgBouncer in transaction mode in front of each worker, and the coordinator's
# connections to the workers through them (pg_dist_poolinfo; PgBouncer speaks no TLS
# here, so citus.node_conninfo = 'sslmode=disable' on the coordinator). Undone by
# pgbouncer_off.
PGB_PORT=${BENCH_CITUS_PGBOUNCER_PORT:-$((PORT + 11))}
PGB_ON=0
pgbouncer_on() {
  local w
  PGB_ON=1
  printf '"postgres" ""\n"bench_app" ""\n' >"$work/users.txt"
  for w in 1 2; do
    cat >"$work/pgbouncer$w.ini" <<INI
[databases]
$DB = host=127.0.0.1 port=$((PORT + w)) dbname=$DB
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $((PGB_PORT + w - 1))
unix_socket_dir =
auth_type = trust
auth_file = $work/users.txt
pool_mode = transaction
ignore_startup_parameters = extra_float_digits,search_path
max_client_conn = 500
default_pool_size = 16
logfile = $work/pgbouncer$w.log
pidfile = $work/pgbouncer$w.pid
INI
  done
  [ "$(id -u)" = 0 ] && chown -R postgres "$work"
  for w in 1 2; do
    if [ "$(id -u)" = 0 ]; then sudo -u postgres pgbouncer -q -d "$work/pgbouncer$w.ini"; else pgbouncer -q -d "$work/pgbouncer$w.ini"; fi
  done
  sql "$PORT" postgres -c "ALTER SYSTEM SET citus.node_conninfo = 'sslmode=disable'" -c "SELECT pg_reload_conf()" \
    -c "INSERT INTO pg_dist_poolinfo (nodeid, poolinfo)
        SELECT nodeid, 'host=127.0.0.1 port=' || ($PGB_PORT - $((PORT + 1)) + nodeport) FROM pg_dist_node WHERE nodeport <> $PORT" >/dev/null
}
pgbouncer_off() {
  local w
  [ "$PGB_ON" = 1 ] || return 0
  PGB_ON=0
  sql "$PORT" postgres -c "DELETE FROM pg_dist_poolinfo" -c "ALTER SYSTEM RESET citus.node_conninfo" -c "SELECT pg_reload_conf()" >/dev/null || true
  for w in 1 2; do
    if [ -f "$work/pgbouncer$w.pid" ]; then kill "$(cat "$work/pgbouncer$w.pid")" 2>/dev/null || true; fi
  done
}
IFS=';' read -r -a settings <<<"$SETTINGS"
for setting in "${settings[@]}"; do
  if [ "$setting" = pgbouncer ]; then pgbouncer_on; fi
  echo
  BENCH_CITUS_PORT=$PORT BENCH_CITUS_DB=$DB BENCH_CITUS_RUNS=$RUNS BENCH_CITUS_ROUNDS=$ROUNDS \
    BENCH_CITUS_SETTING=$setting \
    BENCH_CITUS_LABEL="## Citus, $versions: $ROWS deals in $SHARDS shards over two workers, $COMPANIES companies; company 1: 20,000 users, 1,365 roles, $(echo "$per_company" | sed 's/,.*//; s/^1: //') deals; coordinator setting: $setting" \
    cargo bench -q --no-default-features --features "pg$PG_MAJOR" --bench citus
  if [ "$setting" = pgbouncer ]; then pgbouncer_off; fi
done
