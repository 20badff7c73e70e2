#!/usr/bin/env python3
"""livewriter.py - a stand-in for the messaging app, committing into a live store.

Used by test-live-writer.sh; two modes.

  livewriter.py write STORE LOG READY STOP [--max-seconds S]
      Commit transactions into STORE/chat.db (WAL) until the file STOP appears or S
      seconds pass (default 120). Transaction c:
        - inserts 1 + c % 4 messages "lw-<c>-<i>" and sets _cf_test to (c, total rows
          inserted so far), in the same transaction: every committed state has
          count(lw- messages) == _cf_test.n;
        - every 3rd: writes a new attachment file under Attachments/lw/ BEFORE the
          transaction that inserts its attachment row (and join row);
        - every 5th: deletes the row of one of its own attachments, commits, then unlinks
          the file (the app's order);
      after commit c, every 7th: unlinks an attachment file whose row stays (alternately
      one of its own and one of the generated store's): that file has vanished for good;
      every 4th: PRAGMA wal_checkpoint(PASSIVE).
      Each commit is logged to LOG as one JSON line once it is durable; READY is created
      after commit 30. Prints the number of commits.

  livewriter.py check RESTORED PRISTINE LOG VANISHED_JSON
      Check a restored store against the writer's log: see check() below. Exit 0 = ok;
      otherwise each problem is printed.
"""
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time

PREFIX = "~/Library/Messages/"
READY_AFTER = 30


def content(c):
    """The bytes of the attachment file made by commit c (its size varies with c)."""
    out, i = b"", 0
    size = 1500 + (c * 7919) % 20000
    while len(out) < size:
        out += hashlib.sha256(b"lw-%d-%d" % (c, i)).digest()
        i += 1
    return out[:size]


def att_rel(c):
    return "Attachments/lw/%02x/%02x/LWA-%d/att-%d.bin" % (c % 256, (c // 7) % 256, c, c)


def write(store, log_path, ready, stop, max_seconds):
    db = sqlite3.connect(os.path.join(store, "chat.db"), isolation_level=None, timeout=60)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("BEGIN IMMEDIATE")
    db.execute("CREATE TABLE IF NOT EXISTS _cf_test (c INTEGER NOT NULL, n INTEGER NOT NULL)")
    db.execute("DELETE FROM _cf_test")
    db.execute("INSERT INTO _cf_test (c, n) VALUES (0, 0)")
    db.execute("COMMIT")
    generated = sorted(r[0][len(PREFIX):] for r in db.execute(
        "SELECT filename FROM attachment WHERE filename LIKE '~/Library/Messages/Attachments/%'"))
    generated = [g for g in generated if os.path.isfile(os.path.join(store, g))]
    log = open(log_path, "w")
    mine = []       # own attachments whose row and file both exist: (c, rel)
    total, c, t0 = 0, 0, time.monotonic()
    while not os.path.exists(stop) and time.monotonic() - t0 < max_seconds:
        c += 1
        rec = {"c": c, "msgs": [], "add": None, "del": None, "orphan": None}
        if c % 3 == 0:
            rel = att_rel(c)
            path = os.path.join(store, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(content(c))
            rec["add"] = rel
        k = 1 + c % 4
        db.execute("BEGIN IMMEDIATE")
        first = None
        for i in range(k):
            cur = db.execute("INSERT INTO message (guid, text, date, is_from_me) VALUES (?, ?, ?, 1)",
                             ("lw-%d-%d" % (c, i), "live writer %d/%d" % (c, i), c))
            first = first or cur.lastrowid
            rec["msgs"].append("lw-%d-%d" % (c, i))
        if rec["add"]:
            cur = db.execute("INSERT INTO attachment (guid, original_guid, filename, transfer_name,"
                             " total_bytes) VALUES (?, ?, ?, ?, ?)",
                             ("lwa-%d" % c, "lwa-%d" % c, PREFIX + rec["add"],
                              os.path.basename(rec["add"]), len(content(c))))
            db.execute("INSERT INTO message_attachment_join (message_id, attachment_id) VALUES (?, ?)",
                       (first, cur.lastrowid))
        if c % 5 == 0 and mine:
            dc, drel = mine.pop(0)
            db.execute("DELETE FROM message_attachment_join WHERE attachment_id ="
                       " (SELECT ROWID FROM attachment WHERE guid = ?)", ("lwa-%d" % dc,))
            db.execute("DELETE FROM attachment WHERE guid = ?", ("lwa-%d" % dc,))
            rec["del"] = [dc, drel]
        total += k
        db.execute("UPDATE _cf_test SET c = ?, n = ?", (c, total))
        db.execute("COMMIT")
        rec["n"] = total
        if rec["add"]:
            mine.append((c, rec["add"]))
        if rec["del"]:
            os.unlink(os.path.join(store, rec["del"][1]))
        if c % 7 == 0:
            # a file whose row stays: alternately one of ours and one of the generated ones
            if (c // 7) % 2 == 0 and mine:
                oc, orel = mine.pop()
            elif generated:
                orel = generated.pop(0)
            else:
                orel = None
            if orel:
                os.unlink(os.path.join(store, orel))
                rec["orphan"] = orel
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if c % 4 == 0:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        if c == READY_AFTER:
            open(ready, "w").close()
        time.sleep(0.003)
    log.close()
    db.close()
    print(c)


def check(restored, pristine, log_path, vanished_path):
    """
    RESTORED is a restored store; PRISTINE the store as generated (before the writer);
    LOG the writer's log; VANISHED_JSON the snapshot's vanished list (a JSON array).
    """
    problems = []
    recs = [json.loads(line) for line in open(log_path)]
    vanished = set(json.load(open(vanished_path)))
    for extra in ("chat.db-wal", "chat.db-shm", "chat.db-journal"):
        if os.path.exists(os.path.join(restored, extra)):
            problems.append("stray %s in the restored store" % extra)
    # work on a copy: opening a WAL database, even read-only, makes -shm/-wal beside it
    scratch = os.path.join(os.path.dirname(os.path.abspath(vanished_path)), "scratch.db")
    with open(os.path.join(restored, "chat.db"), "rb") as src, open(scratch, "wb") as dst:
        dst.write(src.read())
    db = sqlite3.connect("file:%s?mode=ro" % scratch, uri=True)
    try:
        ic = db.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as e:
        ic = [(str(e),)]
    if ic != [("ok",)]:
        # nothing else can be trusted in a damaged database
        print("  integrity_check of the restored chat.db: %r" % ic[:5])
        return 1

    # one committed state: the invariant, and exactly the writer's state after commit c
    c, n = db.execute("SELECT c, n FROM _cf_test").fetchone()
    rows = set(r[0] for r in db.execute("SELECT guid FROM message WHERE guid LIKE 'lw-%'"))
    if len(rows) != n:
        problems.append("torn state: %d writer messages, counter says %d" % (len(rows), n))
    if c > len(recs) or (c > 0 and recs[c - 1]["n"] != n):
        problems.append("counter (c=%d, n=%d) is no state the writer committed" % (c, n))
    want_msgs, want_atts = set(), set()
    for r in recs[:c]:
        want_msgs.update(r["msgs"])
        if r["add"]:
            want_atts.add("lwa-%d" % r["c"])
        if r["del"]:
            want_atts.discard("lwa-%d" % r["del"][0])
    if rows != want_msgs:
        problems.append("writer messages differ from commit %d's state: %d missing, %d extra"
                        % (c, len(want_msgs - rows), len(rows - want_msgs)))
    atts = set(r[0] for r in db.execute("SELECT guid FROM attachment WHERE guid LIKE 'lwa-%'"))
    if atts != want_atts:
        problems.append("writer attachments differ from commit %d's state: missing %s, extra %s"
                        % (c, sorted(want_atts - atts)[:5], sorted(atts - want_atts)[:5]))

    # every attachment the database names is in the snapshot or listed as vanished
    named = set()
    for (fn,) in db.execute("SELECT filename FROM attachment WHERE filename IS NOT NULL"):
        if not fn.startswith(PREFIX):
            continue
        rel = fn[len(PREFIX):]
        named.add(rel)
        if not os.path.isfile(os.path.join(restored, rel)) and rel not in vanished:
            problems.append("chat.db names %s: not restored and not listed as vanished" % rel)
    for rel in sorted(vanished):
        if os.path.lexists(os.path.join(restored, rel)):
            problems.append("%s is listed as vanished but was restored" % rel)
    db.close()

    # files made before the backups started whose row stays must be vanished
    ready_orphans = [r["orphan"] for r in recs[:READY_AFTER] if r["orphan"]]
    for rel in ready_orphans:
        if rel in named and rel not in vanished:
            problems.append("%s was gone before the backup and is not listed as vanished" % rel)

    # every restored file is exactly what was written (and is complete if the database
    # names it: the file was written before its row was committed)
    own = {r["add"]: r["c"] for r in recs if r["add"]}
    for root, dirs, files in os.walk(restored):
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, restored)
            if rel in ("chat.db", "chat.db-wal", "chat.db-shm", "chat.db-journal"):
                continue
            data = open(path, "rb").read()
            if rel in own and rel in named:
                ok = data == content(own[rel])
            elif rel in own:
                # not named by this database state: the writer may have been writing it
                # while the backup read it (its row came later); a prefix is all it can be
                ok = content(own[rel]).startswith(data)
            else:
                p = os.path.join(pristine, rel)
                ok = os.path.isfile(p) and open(p, "rb").read() == data
            if not ok:
                problems.append("restored %s differs from what was written" % rel)

    # the rest of the database is the generated one, untouched
    s = sqlite3.connect(scratch, isolation_level=None)
    s.execute("PRAGMA journal_mode = DELETE")
    s.execute("DELETE FROM message_attachment_join WHERE attachment_id IN"
              " (SELECT ROWID FROM attachment WHERE guid LIKE 'lwa-%')")
    s.execute("DELETE FROM attachment WHERE guid LIKE 'lwa-%'")
    s.execute("DELETE FROM message WHERE guid LIKE 'lw-%'")
    s.execute("DELETE FROM deleted_messages WHERE guid LIKE 'lw-%'")
    s.execute("DROP TABLE _cf_test")
    s.close()
    same = subprocess.run(
        [sys.executable, os.path.join(os.environ["CF_SOURCE_ROOT"], "..", "shared", "bench",
                                      "dbsame.py"), os.path.join(pristine, "chat.db"), scratch],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(scratch + suffix):
            os.unlink(scratch + suffix)
    if same.returncode != 0:
        problems.append("the generated part of chat.db changed: %s" % same.stdout.strip())

    for p in problems[:30]:
        print("  " + p)
    print("state: commit %d of %d, %d writer messages, %d writer attachments; %d named"
          " attachments, %d vanished" % (c, len(recs), n, len(atts), len(named), len(vanished)))
    return 1 if problems else 0


def main():
    if len(sys.argv) >= 6 and sys.argv[1] == "write":
        max_s = 120.0
        if len(sys.argv) == 8 and sys.argv[6] == "--max-seconds":
            max_s = float(sys.argv[7])
        write(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], max_s)
        return 0
    if len(sys.argv) == 6 and sys.argv[1] == "check":
        return check(*sys.argv[2:6])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
