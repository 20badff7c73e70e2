#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""embed.py - turn schema/<db>/NNN_name.sql migrations into a C source file.

    embed.py --output schema-sql.c --root SCHEMA_DIR [--released released.txt] FILE.sql...

For every database folder the output defines

    const struct cf_schema_steps cf_schema_steps_<db>;

holding its migrations in order (see schema/schema-internal.h). The build fails when:
  * a file name is not NNN_name.sql, or the numbers of a folder are not 001, 002, ... without
    gaps or duplicates;
  * an .sql file under SCHEMA_DIR is not listed on the command line (add it to
    schema/meson.build), or a listed file lies outside SCHEMA_DIR/<db>/;
  * a migration is empty, not UTF-8, has an unterminated statement, or manages transactions
    or pragmas itself (BEGIN, COMMIT, PRAGMA user_version, ...): the C runner does that;
  * a migration listed in released.txt no longer has the SHA-256 recorded there (a released
    migration must never be edited: add a new one instead).

`embed.py --hashes FILE.sql...` prints released.txt lines for the given files.
Only the Python standard library is used.
"""
import argparse
import hashlib
import os
import re
import sqlite3
import sys

NAME_RE = re.compile(r"^([0-9]{3})_[a-z0-9_]+\.sql$")
DB_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Statements the runner owns: transactions, pragmas (user_version, foreign_keys, ...),
# and statements that cannot run inside a transaction or change what file is used.
FORBIDDEN = ("BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA",
             "VACUUM", "ATTACH", "DETACH")


def fail(msg):
    sys.exit("embed.py: error: " + msg)


def strip_leading_comments(stmt):
    """The statement without leading whitespace and comments."""
    s = stmt
    while True:
        s = s.lstrip()
        if s.startswith("--"):
            nl = s.find("\n")
            s = "" if nl < 0 else s[nl + 1:]
        elif s.startswith("/*"):
            end = s.find("*/")
            if end < 0:
                return ""
            s = s[end + 2:]
        else:
            return s


def statements(text, path):
    """Split SQL text into complete statements (triggers stay whole)."""
    out, buf = [], ""
    for line in text.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf)
            buf = ""
    if strip_leading_comments(buf):
        fail("%s: the last statement is not terminated by ';'" % path)
    return out


def check_sql(text, path):
    stmts = [s for s in statements(text, path) if strip_leading_comments(s).strip(" \t\r\n;")]
    if not stmts:
        fail("%s: no SQL statement" % path)
    for s in stmts:
        body = strip_leading_comments(s)
        word = re.match(r"[A-Za-z]*", body).group(0).upper()
        if word in FORBIDDEN:
            fail("%s: '%s' is not allowed in a migration (the runner owns transactions, "
                 "pragmas and user_version)" % (path, body.splitlines()[0].strip()))


def load_released(path):
    released = {}
    if not path:
        return released
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2 or not re.fullmatch(r"[0-9a-f]{64}", parts[1]):
                fail("%s:%d: expected '<db>/<NNN_name>.sql <sha256 hex>'" % (path, n))
            released[parts[0]] = parts[1]
    return released


def c_bytes(data):
    """The bytes as C initializer lines, NUL-terminated."""
    data = data + b"\0"
    lines = []
    for i in range(0, len(data), 16):
        lines.append("\t" + " ".join("0x%02x," % b for b in data[i:i + 16]))
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description="Embed schema migrations into C.")
    p.add_argument("--output", help="the C file to write")
    p.add_argument("--root", help="the schema/ source folder (every .sql there must be listed)")
    p.add_argument("--released", help="released.txt: SHA-256 of every released migration")
    p.add_argument("--hashes", action="store_true", help="print released.txt lines and exit")
    p.add_argument("files", nargs="+")
    a = p.parse_args()

    if a.hashes:
        for f in a.files:
            with open(f, "rb") as fh:
                rel = "%s/%s" % (os.path.basename(os.path.dirname(os.path.abspath(f))),
                                 os.path.basename(f))
                print("%s %s" % (rel, hashlib.sha256(fh.read()).hexdigest()))
        return
    if not a.output or not a.root:
        p.error("--output and --root are required")

    root = os.path.realpath(a.root)
    dbs = {}
    listed = set()
    for f in a.files:
        full = os.path.realpath(f)
        db = os.path.basename(os.path.dirname(full))
        if os.path.dirname(os.path.dirname(full)) != root or not DB_RE.match(db):
            fail("%s: not in a <db>/ folder of %s" % (f, root))
        m = NAME_RE.match(os.path.basename(full))
        if not m:
            fail("%s: migration files are named NNN_name.sql (lower case)" % f)
        if full in listed:
            fail("%s: listed twice" % f)
        listed.add(full)
        dbs.setdefault(db, []).append((int(m.group(1)), os.path.basename(full), full))

    for dirpath, _, names in os.walk(root):
        for n in names:
            full = os.path.realpath(os.path.join(dirpath, n))
            if n.endswith(".sql") and full not in listed:
                fail("%s is not listed in schema/meson.build" % os.path.join(dirpath, n))

    released = load_released(a.released)
    seen_released = set()
    out = ["/* Generated by schema/embed.py from schema/<db>/NNN_*.sql: do not edit. */",
           '#include "schema/schema-internal.h"', ""]
    for db in sorted(dbs):
        steps = sorted(dbs[db])
        for want, (num, name, _) in enumerate(steps, 1):
            if num != want:
                fail("%s/%s: expected migration number %03d (no gaps, no duplicates)"
                     % (db, name, want))
        for num, name, full in steps:
            with open(full, "rb") as fh:
                raw = fh.read()
            rel = "%s/%s" % (db, name)
            digest = hashlib.sha256(raw).hexdigest()
            if rel in released:
                seen_released.add(rel)
                if released[rel] != digest:
                    fail("%s was edited after its release (sha256 %s, released %s): "
                         "add a new migration instead" % (rel, digest, released[rel]))
            if b"\0" in raw:
                fail("%s: contains a NUL byte" % rel)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                fail("%s: not UTF-8 (%s)" % (rel, e))
            check_sql(text, rel)
            out.append("/* %s, sha256 %s */" % (rel, digest))
            out.append("static const unsigned char %s_%03d[] = {" % (db, num))
            out.append(c_bytes(raw))
            out.append("};")
            out.append("")
        out.append("static const struct cf_schema_step %s_steps[] = {" % db)
        for num, name, _ in steps:
            out.append('\t{ "%s", (const char *)%s_%03d },' % (name, db, num))
        out.append("};")
        out.append("")
        out.append("const struct cf_schema_steps cf_schema_steps_%s = {" % db)
        out.append('\t"%s", %s_steps, %d,' % (db, db, len(steps)))
        out.append("};")
        out.append("")
    missing = sorted(set(released) - seen_released)
    if missing:
        fail("released migration(s) missing: %s" % ", ".join(missing))

    tmp = a.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(out))
    os.replace(tmp, a.output)


if __name__ == "__main__":
    main()
