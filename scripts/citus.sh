#!/usr/bin/env bash
# A throwaway Citus cluster of our own: a coordinator and two workers on loopback
# ports, each with pg_sharing installed (docs/scaling.md).
#   scripts/citus.sh install            builds and installs Citus into $PG_CONFIG's
#                                       installation when citus.so is missing
#   scripts/citus.sh start NAME PORT    coordinator on PORT, workers on PORT+1 and
#                                       PORT+2; database CITUS_DB (default
#                                       pg_sharing_citus) with citus and pg_sharing
#                                       on every node, the workers added, the
#                                       configuration distributed to it
#   scripts/citus.sh db NAME PORT DB    one more such database (used by tests/citus.rs)
#   scripts/citus.sh stop NAME
# CITUS_SRC: the Citus source tarball (default ../shared/vendor/citus-13.2.2.tar.gz
# relative to the repository). PG_BIN / PG_CONFIG: another installation of the same
# major version (scripts/pg-env.sh); PG_CONFIG defaults to PG_BIN's pg_config.
# Like scripts/cluster.sh, clusters are keyed by the checkout as well as by NAME.
set -euo pipefail
usage() {
  echo "usage: $0 install | start NAME PORT | db NAME PORT DB | stop NAME" >&2
  exit 2
}
repo=$(cd "$(dirname "$0")/.." && pwd -P)
[ -n "${PG_BIN:-}" ] && [ -z "${PG_CONFIG:-}" ] && PG_CONFIG=$PG_BIN/pg_config
. "$repo/scripts/pg-env.sh"
BIN=$PG_BIN
CITUS_SRC=${CITUS_SRC:-$repo/../shared/vendor/citus-13.2.2.tar.gz}
CITUS_DB=${CITUS_DB:-pg_sharing_citus}
as_pg() { if [ "$(id -u)" = 0 ]; then sudo -u postgres "$@"; else "$@"; fi; }
checkout=$(echo "$repo" | md5sum | cut -c1-8)

install_citus() {
  local lib
  lib=$("$PG_CONFIG" --pkglibdir)
  if [ -f "$lib/citus.so" ]; then
    return 0
  fi
  [ -f "$CITUS_SRC" ] || { echo "CITUS_SRC=$CITUS_SRC: no such file" >&2; exit 1; }
  # Build dependencies beyond the server headers: lz4 and zstd (columnar), krb5
  # (libpq/libpq-be.h includes gssapi/gssapi.h).
  local missing=()
  for p in liblz4-dev libzstd-dev libkrb5-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "missing build dependencies: ${missing[*]} (apt-get install them)" >&2
      exit 1
    fi
  fi
  local build
  build=$(mktemp -d /tmp/pg_sharing_citus_build.XXXXXX)
  tar -xzf "$CITUS_SRC" -C "$build"
  local src
  src=$(find "$build" -mindepth 1 -maxdepth 1 -type d | head -1)
  # Citus 13.2.2 defines a static inline have_createdb_privilege() for PostgreSQL 15;
  # 15.20's commands/dbcommands.h declares it extern: use the server's declaration.
  local inc
  inc=$("$PG_CONFIG" --includedir-server)
  if grep -q 'have_createdb_privilege' "$inc/commands/dbcommands.h" 2>/dev/null &&
    grep -q 'static inline bool' "$src/src/include/pg_version_compat.h"; then
    python3 - "$src/src/include/pg_version_compat.h" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
pattern = re.compile(r"static inline bool\s*\nhave_createdb_privilege\(void\)\s*\n\{.*?\n\}\n", re.S)
text, n = pattern.subn('#include "commands/dbcommands.h"\n', text, count=1)
if n:
    open(path, "w").write(text)
PY
  fi
  (
    cd "$src"
    ./configure PG_CONFIG="$PG_CONFIG" --without-libcurl >"$build/configure.log" 2>&1 ||
      { tail -20 "$build/configure.log" >&2; exit 1; }
    make -j"${CITUS_JOBS:-2}" >"$build/make.log" 2>&1 ||
      { grep -m5 -B2 -A5 'error' "$build/make.log" >&2; exit 1; }
    make install >"$build/install.log" 2>&1 || { tail -20 "$build/install.log" >&2; exit 1; }
  )
  rm -rf "$build"
}

node_dir() { echo "/tmp/pg_sharing_${checkout}_citus_$1_$2"; }

psql_at() {
  local port=$1 db=$2
  shift 2
  "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

# One database with citus and pg_sharing on all three nodes, the workers added.
make_db() {
  local port=$1 db=$2
  for p in "$port" $((port + 1)) $((port + 2)); do
    psql_at "$p" postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    psql_at "$p" "$db" -c "CREATE EXTENSION citus"
  done
  psql_at "$port" "$db" \
    -c "SELECT citus_set_coordinator_host('127.0.0.1', $port)" \
    -c "SELECT citus_add_node('127.0.0.1', $((port + 1)))" \
    -c "SELECT citus_add_node('127.0.0.1', $((port + 2)))" >/dev/null
  # CREATE EXTENSION on the coordinator is propagated to the workers by Citus; the
  # configuration is distributed once that has committed (docs/scaling.md).
  psql_at "$port" "$db" -c "CREATE EXTENSION pg_sharing"
  psql_at "$port" "$db" -c "SELECT sharing.distribute_configuration()" >/dev/null
}

# Start one node; again, up to five times, when its port is briefly taken (the test
# ports lie in Linux's ephemeral range, so a client socket may hold one for a moment).
start_node() {
  local dir=$1 try
  for try in 1 2 3 4 5; do
    as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null && return 0
    echo "citus.sh: $dir did not start (try $try), again in 2 s" >&2
    sleep 2
  done
  return 1
}

cmd=${1:-}
case "$cmd" in
  install)
    install_citus
    ;;
  start)
    name=${2:-}; port=${3:-}
    [ -n "$name" ] && [ -n "$port" ] || usage
    install_citus
    for i in 0 1 2; do
      dir=$(node_dir "$name" $i)
      [ -d "$dir" ] && as_pg "$BIN/pg_ctl" -D "$dir/data" stop -m immediate >/dev/null 2>&1 || true
      rm -rf "$dir"; mkdir -p "$dir/sock"
      [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
      as_pg "$BIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
      cat >>"$dir/data/postgresql.conf" <<CONF
port = $((port + i))
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
max_prepared_transactions = 100
shared_buffers = 128MB
shared_preload_libraries = 'citus,pg_sharing'
log_min_messages = warning
CONF
      start_node "$dir"
    done
    make_db "$port" "$CITUS_DB"
    ;;
  db)
    name=${2:-}; port=${3:-}; db=${4:-}
    [ -n "$name" ] && [ -n "$port" ] && [ -n "$db" ] || usage
    make_db "$port" "$db"
    ;;
  stop)
    name=${2:-}
    [ -n "$name" ] || usage
    for i in 0 1 2; do
      dir=$(node_dir "$name" $i)
      [ -d "$dir/data" ] && as_pg "$BIN/pg_ctl" -D "$dir/data" stop -m fast >/dev/null 2>&1 || true
    done
    ;;
  *) usage ;;
esac
