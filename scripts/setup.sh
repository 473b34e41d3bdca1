#!/usr/bin/env bash
# Install everything pg_sharing needs on a fresh Debian machine (as root), skipping
# what is already there: PostgreSQL 15 + dev files, clang, sudo, pgbouncer (tests/pooler.rs), cargo-pgrx 0.18.0,
# and `cargo pgrx init` for PostgreSQL 15. Then build and install the extension.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
PGRX_VERSION=0.18.0
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

need_apt=()
for pkg in postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libclang-dev clang sudo pgbouncer; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  say "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  say "cargo install cargo-pgrx $PGRX_VERSION (about 4 minutes, once)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

if ! grep -qs "pg$PG_MAJOR" "$HOME/.pgrx/config.toml"; then
  say "cargo pgrx init --pg$PG_MAJOR"
  cargo pgrx init --pg"$PG_MAJOR" "$PG_CONFIG"
fi

# INSTALL=0: the tools only (scripts/test.sh runs fmt and clippy before building).
[ "${INSTALL:-1}" = 0 ] && exit 0

PROFILE=${PROFILE:-release}
say "building and installing pg_sharing ($PROFILE) into PostgreSQL $PG_MAJOR"
release_flag=(); [ "$PROFILE" = release ] && release_flag=(--release)
cargo pgrx install "${release_flag[@]}" --pg-config "$PG_CONFIG" --features "pg$PG_MAJOR" --no-default-features >/dev/null

# Released install scripts of earlier versions, so that ALTER EXTENSION … UPDATE
# can be tested from them (pgrx installs only the current one and upgrade files).
sharedir=$("$PG_CONFIG" --sharedir)
cp sql/released/pg_sharing--*.sql "$sharedir/extension/"
