#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing, builds and
# installs the extension, starts a throwaway cluster, runs the pure-Rust unit
# tests and the client-side integration tests against real PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
PG_MAJOR=${PG_MAJOR:-15}
PORT=${PG_SHARING_TEST_PORT:-54329}

# The quick checks first: a formatting or lint error fails before any install.
echo "==> cargo fmt --check"
cargo fmt --all -- --check
INSTALL=0 scripts/setup.sh
echo "==> cargo clippy -D warnings"
cargo clippy --no-default-features --features "pg$PG_MAJOR" --all-targets -- -D warnings

PROFILE=debug scripts/setup.sh

echo "==> starting a throwaway cluster on port $PORT"
scripts/cluster.sh start test "$PORT"
trap 'scripts/cluster.sh stop test' EXIT
psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -c "CREATE DATABASE pg_sharing_tmpl" \
  -c "ALTER DATABASE pg_sharing_tmpl WITH is_template = true"
psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d pg_sharing_tmpl -v ON_ERROR_STOP=1 \
  -c "CREATE EXTENSION pg_sharing"

echo "==> cargo test (unit tests of the model + integration tests on the cluster)"
log=$(mktemp)
set +e
PG_SHARING_TEST_PORT=$PORT cargo test --no-default-features --features "pg$PG_MAJOR" \
  -- --test-threads="${TEST_THREADS:-4}" --show-output 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
rm -f "$log"
echo
echo "${passed} passed, ${failed} failed"
exit "$status"
