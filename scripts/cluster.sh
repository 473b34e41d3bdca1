#!/usr/bin/env bash
# A throwaway PostgreSQL cluster of our own (owned by the `postgres` OS user, since
# PostgreSQL refuses to run as root), on its own port and socket directory.
#   scripts/cluster.sh start NAME PORT   -> prints nothing, leaves it running
#   scripts/cluster.sh stop NAME
# Clusters are keyed by the checkout as well as by NAME: two checkouts (worktrees)
# running the same script never share, stop or delete each other's cluster.
set -euo pipefail
usage() { echo "usage: $0 start NAME PORT | stop NAME" >&2; exit 2; }
# The binaries of PG_MAJOR (scripts/pg-env.sh), or PG_BIN: another installation of
# the same major version (a private copy with another build of the extension, for
# work in parallel).
. "$(dirname "$0")/pg-env.sh"
BIN=$PG_BIN
cmd=${1:-}; name=${2:-}
[ -n "$cmd" ] && [ -n "$name" ] || usage
checkout=$(cd "$(dirname "$0")/.." && pwd -P | md5sum | cut -c1-8)
dir=/tmp/pg_sharing_${checkout}_$name
as_pg() { if [ "$(id -u)" = 0 ]; then sudo -u postgres "$@"; else "$@"; fi; }

case "$cmd" in
  start)
    port=${3:-}
    [ -n "$port" ] || usage
    [ -d "$dir" ] && as_pg "$BIN/pg_ctl" -D "$dir/data" stop -m immediate >/dev/null 2>&1 || true
    rm -rf "$dir"; mkdir -p "$dir/sock"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
    as_pg "$BIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
    cat >> "$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
shared_buffers = 256MB
log_min_messages = warning
CONF
    # One model per database (docs/design.md): the directory of shared model images
    # is allocated at server start. PG_SHARING_PRELOAD=0 starts without it.
    if [ "${PG_SHARING_PRELOAD:-1}" = 1 ]; then
      echo "shared_preload_libraries = 'pg_sharing'" >> "$dir/data/postgresql.conf"
    fi
    # Again, up to five times, when the port is briefly taken (the test ports lie in
    # Linux's ephemeral range, so a client socket may hold one for a moment).
    for try in 1 2 3 4 5; do
      as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null && break
      [ "$try" = 5 ] && exit 1
      echo "cluster.sh: $name did not start (try $try), again in 2 s" >&2
      sleep 2
    done
    ;;
  stop)
    [ -d "$dir/data" ] && as_pg "$BIN/pg_ctl" -D "$dir/data" stop -m fast >/dev/null 2>&1 || true
    ;;
  *) usage ;;
esac
