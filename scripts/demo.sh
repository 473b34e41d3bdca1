#!/usr/bin/env bash
# The demo on a fresh machine: installs what is missing, builds and installs the
# extension, starts a throwaway cluster, loads a demo org and shows different
# viewers seeing different rows. The cluster is removed at the end.
# PG_MAJOR=15 (default) | 16 | 17 | 18 (scripts/pg-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg-env.sh
PORT=${PG_SHARING_DEMO_PORT:-54330}
psql() { "$PG_BIN/psql" "$@"; }
scripts/setup.sh
echo "==> starting a throwaway cluster on port $PORT"
scripts/cluster.sh start demo "$PORT"
trap 'scripts/cluster.sh stop demo' EXIT
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE demo"
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d demo -f demo/01_walkthrough.sql
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d demo -f demo/02_realistic.sql
