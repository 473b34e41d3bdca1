#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing, builds and
# installs the extension, starts a throwaway cluster, runs the pure-Rust unit
# tests and the client-side integration tests against real PostgreSQL.
#   PG_MAJOR=15 (default) | 16 | 17 | 18: the server (scripts/pg-env.sh); the cluster
#     runs that version's binaries, on port PG_SHARING_TEST_PORT (default 54329 for
#     15, 54429 for 16, 54529 for 17, 54629 for 18).
#   PG_SHARING_TESTS="enforcement planner …": only the unit tests and these
#     integration test targets (tests/<name>.rs); default all of them.
#   PG_SHARING_CLIPPY=lib: clippy of the library only (default all targets).
#   PG_SHARING_CITUS=1 (default with the whole suite on 15) | 0: then tests/citus.rs on
#     a coordinator and two workers (scripts/citus.sh, which builds Citus from CITUS_SRC,
#     default ../shared/vendor/citus-13.2.2.tar.gz, when citus.so is missing; about 5
#     minutes once). With neither citus.so nor the source, the summary says NOT RUN.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
. scripts/pg-env.sh
PORT=${PG_SHARING_TEST_PORT:-$((54329 + (PG_MAJOR - 15) * 100))}
CLUSTER=test-pg$PG_MAJOR
features=(--no-default-features --features "pg$PG_MAJOR")
T0=$(date +%s)
step() { echo "==> [$(( $(date +%s) - T0 ))s] $*"; }

# The quick checks first: a formatting or lint error fails before any install.
step "cargo fmt --check"
cargo fmt --all -- --check
INSTALL=0 scripts/setup.sh
step "cargo clippy -D warnings (PostgreSQL $PG_MAJOR)"
clippy_targets=(--all-targets); [ "${PG_SHARING_CLIPPY:-all}" = lib ] && clippy_targets=(--lib)
cargo clippy "${features[@]}" "${clippy_targets[@]}" -- -D warnings

step "build and install (debug)"
PROFILE=debug scripts/setup.sh

step "starting a throwaway PostgreSQL $PG_MAJOR cluster on port $PORT ($PG_BIN)"
scripts/cluster.sh start "$CLUSTER" "$PORT"
trap 'scripts/cluster.sh stop "$CLUSTER"' EXIT
psql() { "$PG_BIN/psql" "$@"; }
psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -c "CREATE DATABASE pg_sharing_tmpl" \
  -c "ALTER DATABASE pg_sharing_tmpl WITH is_template = true"
psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d pg_sharing_tmpl -v ON_ERROR_STOP=1 \
  -c "CREATE EXTENSION pg_sharing"

targets=()
if [ -n "${PG_SHARING_TESTS:-}" ]; then
  targets=(--lib)
  for t in $PG_SHARING_TESTS; do targets+=(--test "$t"); done
  step "cargo test on PostgreSQL $PG_MAJOR: unit tests + ${PG_SHARING_TESTS}"
else
  step "cargo test on PostgreSQL $PG_MAJOR (unit tests of the model + integration tests on the cluster)"
fi
log=$(mktemp)
set +e
PG_SHARING_TEST_PORT=$PORT cargo test "${features[@]}" "${targets[@]}" \
  -- --test-threads="${TEST_THREADS:-4}" --show-output 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# Citus (docs/scaling.md): the differential, configuration-change and attack tests on
# a coordinator and two workers of this PostgreSQL.
citus_default=0; [ -z "${PG_SHARING_TESTS:-}" ] && [ "$PG_MAJOR" = 15 ] && citus_default=1
citus_note=""
if [ "${PG_SHARING_CITUS:-$citus_default}" = 1 ]; then
  citus_src=${CITUS_SRC:-../shared/vendor/citus-13.2.2.tar.gz}
  if [ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ] || [ -f "$citus_src" ]; then
    CITUS_PORT=$((PORT + 50))
    step "Citus: a coordinator and two workers on ports $CITUS_PORT-$((CITUS_PORT + 2)) (scripts/citus.sh)"
    # The trap first: a node that fails to start leaves none of the others running.
    trap 'scripts/cluster.sh stop "$CLUSTER"; scripts/citus.sh stop "citus-pg$PG_MAJOR"' EXIT
    CITUS_SRC=$citus_src scripts/citus.sh start "citus-pg$PG_MAJOR" "$CITUS_PORT"
    step "cargo test --test citus on the Citus cluster"
    set +e
    PG_SHARING_CITUS_PORT=$CITUS_PORT cargo test "${features[@]}" --test citus \
      -- --test-threads=1 --show-output 2>&1 | tee -a "$log"
    citus_status=${PIPESTATUS[0]}
    set -e
    [ "$citus_status" = 0 ] || status=$citus_status
  else
    citus_note=" — Citus tests NOT RUN: no citus.so in $("$PG_CONFIG" --pkglibdir) and no Citus source at $citus_src (CITUS_SRC)"
  fi
fi
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
rm -f "$log"
echo
echo "PostgreSQL $PG_MAJOR: ${passed} passed, ${failed} failed ($(( $(date +%s) - T0 ))s)${citus_note}"
exit "$status"
