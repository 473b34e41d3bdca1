#!/usr/bin/env python3
"""Which functions an upgrade script must create or replace: compares two install
scripts (the released one and the one `cargo pgrx install` writes) function by
function and prints the definitions that are new or changed, as CREATE OR REPLACE.
Everything else (tables, triggers, policies, grants, data) is written by hand.

    scripts/upgrade-diff.py sql/released/pg_sharing--0.3.0.sql \
        "$(pg_config --sharedir)/extension/pg_sharing--0.4.0.sql"
"""
import re
import sys

FUNC = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(?:sharing\.)?\"?(\w+)\"?\s*\((.*?)\)"
    r"(.*?)(?:\$\$.*?\$\$\s*;|AS\s+'MODULE_PATHNAME',\s*'\w+'\s*;)",
    re.S,
)


def functions(path):
    text = open(path).read()
    out = {}
    for m in FUNC.finditer(text):
        name = m.group(1)
        args = re.sub(r"/\*.*?\*/", "", m.group(2))
        # Each argument without its default (a default may contain commas only in
        # parentheses, which the install scripts do not use).
        args = [re.sub(r"\s+DEFAULT\s+.*", "", a, flags=re.S | re.I) for a in args.split(",")]
        types = ",".join(
            " ".join(a.split()[1:]) if len(a.split()) > 1 else a.strip()
            for a in args
            if a.strip()
        )
        out[(name, types)] = m.group(0)
    return out


if len(sys.argv) != 3:
    sys.exit(f"usage: {sys.argv[0]} OLD_INSTALL_SCRIPT NEW_INSTALL_SCRIPT")
old, new = functions(sys.argv[1]), functions(sys.argv[2])
for key in sorted(new):
    if key not in old or old[key] != new[key]:
        tag = "new" if key not in old else "changed"
        print(f"-- {tag}: {key[0]}({key[1]})")
        print(re.sub(r"^CREATE\s+FUNCTION", "CREATE OR REPLACE FUNCTION", new[key]))
        print()
for key in sorted(old):
    if key not in new:
        print(f"-- dropped: {key[0]}({key[1]})")
