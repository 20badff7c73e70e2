#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""keyvaultd under bad input (issue 6): wrong passwords until lockout, another account's
token, expired and replayed tokens, oversized and malformed bodies, unknown routes and raw
garbage on the socket. Every answer has the documented status and stable error code, the
server never crashes (the test also runs under ASan: its exit status after SIGTERM must be
0), and the service's state tables are byte for byte what they were before (the counters,
sessions and audit entries that failed attempts are meant to write are not state).

usage: test-keyvaultd-badinput.py KEYVAULTD KVD-TESTSIGN
"""

import http.client
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvd_common as kc  # noqa: E402

failures = 0
checks = 0


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", what, file=sys.stderr)


def expect(c, status, code, method, path, body=None, token=None, headers=None, raw=None):
    st, hdrs, resp = c.request(method, path, body=body, token=token, headers=headers, raw=raw)
    got = resp.get("error") if isinstance(resp, dict) else None
    check(st == status and (code is None or got == code),
          "%s %s: %s %s, expected %s %s" % (method, path, st, got, status, code))
    if st >= 400:
        check(hdrs.get("content-type") == "application/json" and isinstance(resp, dict)
              and isinstance(resp.get("message"), str),
              "%s %s: error answer without a JSON body" % (method, path))
    return st, hdrs, resp


STATE_TABLES = ["account", "device", "repository", "escrow", "contact_share", "mailbox",
                "freshness"]


def dump_state(path):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    out = []
    for t in STATE_TABLES:
        out.append((t, db.execute("SELECT * FROM %s ORDER BY rowid" % t).fetchall()))
    db.close()
    return out


REPO = "/v1/repos/" + "ab" * 32


def setup(c, signer):
    """alice: device, standard repo with escrow, share and witness; bob; carol to lock."""
    alice, dev, dev_id = kc.account_with_device(c, signer, "alice", "alice-pw")
    st, _, _ = c.request("PUT", REPO, {"protection": "standard", "epoch": 1}, token=alice)
    assert st == 201
    st, _, _ = c.request("PUT", REPO + "/escrow", {"epoch": 1, "key": kc.b64(b"K" * 32)},
                         token=alice)
    assert st == 201
    st, _, _ = c.request("PUT", REPO + "/share", {"epoch": 1, "share": kc.b64(b"S" * 40)},
                         token=alice)
    assert st == 201
    st, _, _ = c.request("PUT", REPO + "/witness",
                         kc.witness_body(signer, dev, "ab" * 32, 7, b"H" * 32), token=alice)
    assert st == 200
    # a device login, accepted once here; the bad-input phase replays it
    login_body = kc.device_login_body(signer, dev, "alice", dev_id, int(time.time()))
    st, _, _ = c.request("POST", "/v1/session/device-login", login_body)
    assert st == 201
    bob, bob_dev, bob_id = kc.account_with_device(c, signer, "bob", "bob-pw")
    kc.create_account(c, "carol", "carol-pw")
    return {"alice": (dev, dev_id), "bob": (bob_dev, bob_id), "login_body": login_body}


def fresh(c, signer, ids, name):
    """A new session of @name bound to its device (sessions live only --session-ttl)."""
    dev, dev_id = ids[name]
    tok = kc.login(c, name, name + "-pw")
    st, _, _ = kc.bind(c, signer, tok, dev, dev_id)
    assert st == 200
    return tok


def test_lockout(c):
    # --lockout-failures 3: three wrong passwords, then even the right one is refused
    for _ in range(3):
        expect(c, 401, "bad_credentials", "POST", "/v1/session",
               {"name": "carol", "auth_key": kc.auth_key("guess")})
    st, hdrs, _ = expect(c, 429, "locked", "POST", "/v1/session",
                         {"name": "carol", "auth_key": kc.auth_key("carol-pw")})
    check(int(hdrs.get("retry-after", "0")) > 0, "a lockout says when to retry")
    # an unknown name gets the same answer as a wrong password
    expect(c, 401, "bad_credentials", "POST", "/v1/session",
           {"name": "nobody", "auth_key": kc.auth_key("guess")})


def test_other_token(c, alice, dev_id, bob):
    expect(c, 404, "unknown_repository", "GET", REPO + "/escrow", token=bob)
    expect(c, 404, "unknown_repository", "POST", REPO + "/share/release",
           {"auth_key": kc.auth_key("alice-pw")}, token=bob)
    expect(c, 404, "unknown_repository", "DELETE", REPO + "/escrow", token=bob)
    expect(c, 404, "unknown_device", "DELETE", "/v1/devices/%d" % dev_id, token=bob)
    expect(c, 404, "unknown_device", "POST", "/v1/devices/%d/approve" % dev_id, token=bob)
    expect(c, 401, "bad_credentials", "DELETE", "/v1/account",
           {"auth_key": kc.auth_key("alice-pw")}, token=bob)
    st, _, body = expect(c, 200, None, "GET", "/v1/audit", token=bob)
    check(all(e["event"] not in ("escrow-read", "escrow-release") for e in body["entries"]),
          "bob's audit log shows nothing of alice's")


def test_tokens(c, login_body):
    # expired (--session-ttl 3)
    tok = kc.login(c, "alice", "alice-pw")
    expect(c, 200, None, "GET", "/v1/devices", token=tok)
    time.sleep(4)
    expect(c, 401, "token_expired", "GET", "/v1/devices", token=tok)
    expect(c, 401, "invalid_token", "GET", "/v1/devices", token=tok)
    # replayed after logout
    tok = kc.login(c, "alice", "alice-pw")
    expect(c, 200, None, "DELETE", "/v1/session", token=tok)
    expect(c, 401, "invalid_token", "GET", "/v1/repos", token=tok)
    expect(c, 401, "invalid_token", "DELETE", "/v1/session", token=tok)
    # a replayed device login, and one with a forged signature
    expect(c, 401, "bad_credentials", "POST", "/v1/session/device-login", login_body)
    forged = dict(login_body, time=login_body["time"] + 1)
    expect(c, 401, "bad_credentials", "POST", "/v1/session/device-login", forged)
    # made-up and malformed tokens
    expect(c, 401, "invalid_token", "GET", "/v1/repos", token=kc.b64(bytes(32)))
    expect(c, 401, "unauthorized", "GET", "/v1/repos", token="abc")
    expect(c, 401, "unauthorized", "GET", "/v1/repos", headers={"Authorization": "Basic YTpi"})
    expect(c, 401, "unauthorized", "GET", "/v1/repos")


def oversized(port, path, length, token=None, method="POST"):
    """Declare @length body bytes, send some, read the answer (the server may answer and
    close before the body is sent: that is the point)."""
    head = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n%s\r\n" %
            (method, path, length, "Authorization: Bearer %s\r\n" % token if token else ""))
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    out = b""
    try:
        s.sendall(head.encode())
        try:
            s.sendall(b"{" + b" " * 65536)
        except OSError:
            pass
        while b"\r\n\r\n" not in out or not out.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    finally:
        s.close()
    check(out.startswith(b"HTTP/1.1 413") and b'"error":"too_large"' in out,
          "%d bytes to %s: %r" % (length, path, out[:60]))


def test_bodies(c, alice):
    oversized(c.port, "/v1/session", 70000)
    oversized(c.port, "/v1/mailbox", 3 << 20, alice)
    oversized(c.port, "/v1/repos/" + "ab" * 32 + "/escrow", 1 << 40, alice, "PUT")
    expect(c, 400, "invalid_body", "GET", "/v1/devices", raw=b"{}", token=alice)
    expect(c, 400, "malformed_json", "POST", "/v1/session", raw=b'{"name":')
    expect(c, 400, "malformed_json", "POST", "/v1/session", raw=b"[1,2]")
    expect(c, 400, "malformed_json", "POST", "/v1/session", raw=b'{"name":"a","name":"b"}')
    expect(c, 400, "malformed_json", "POST", "/v1/session", raw=b'{"name":"\xff\xfe"}')
    expect(c, 400, "malformed_json", "POST", "/v1/session", raw=b'{"a":[[[[[1]]]]]}')
    expect(c, 400, "malformed_json", "POST", "/v1/session", raw=b'{"name":"a"} trailing')
    expect(c, 400, "malformed_json", "POST", "/v1/session", raw=b"")
    expect(c, 400, "unknown_field", "POST", "/v1/session",
           {"name": "alice", "auth_key": kc.auth_key("alice-pw"), "admin": True})
    expect(c, 400, "missing_field", "POST", "/v1/session", {"name": "alice"})
    expect(c, 400, "invalid_field", "POST", "/v1/session", {"name": "alice", "auth_key": 5})
    expect(c, 400, "invalid_field", "POST", "/v1/session",
           {"name": "alice", "auth_key": kc.b64(b"k" * 31)})
    expect(c, 400, "invalid_field", "PUT", REPO, {"protection": "standard", "epoch": "2"},
           token=alice)
    expect(c, 400, "invalid_field", "PUT", REPO, {"protection": "none", "epoch": 2},
           token=alice)
    expect(c, 400, "invalid_field", "PUT", REPO, {"protection": "standard", "epoch": -1},
           token=alice)
    expect(c, 400, "invalid_field", "PUT", REPO + "/escrow", {"epoch": 1, "key": "!!"},
           token=alice)
    expect(c, 400, "invalid_field", "POST", "/v1/devices",
           {"identity": kc.b64(b"CFI\x01" + bytes(128)), "via": "first"}, token=alice)
    expect(c, 415, "unsupported_media_type", "POST", "/v1/session",
           raw=b'{"name":"alice"}', headers={"Content-Type": "text/plain"})
    # a chunked body that grows past the limit
    c.conn.putrequest("POST", "/v1/session")
    c.conn.putheader("Content-Type", "application/json")
    c.conn.putheader("Transfer-Encoding", "chunked")
    c.conn.endheaders()
    chunk = b"a" * 8192
    try:
        for _ in range(10):
            c.conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        c.conn.send(b"0\r\n\r\n")
        resp = c.conn.getresponse()
        status = resp.status
        resp.read()
    except OSError:
        status = None
    c.close()
    c.conn = kc.Client(c.port).conn
    check(status == 413, "chunked body over the limit: %s" % status)


def test_routes(c, alice):
    expect(c, 404, "not_found", "GET", "/")
    expect(c, 404, "not_found", "GET", "/v1/nothing")
    expect(c, 404, "not_found", "GET", "/v1/repos/")
    expect(c, 404, "not_found", "GET", "/v1/../v1/health")
    expect(c, 404, "not_found", "GET", "/admin.php")
    expect(c, 404, "not_found", "GET", "/v1/health%00")
    expect(c, 404, "not_found", "GET", "/v1/repos%2F" + "ab" * 32, token=alice)
    expect(c, 400, "invalid_query", "GET", "/v1/audit?limit=%31", token=alice)
    st, hdrs, _ = expect(c, 405, "method_not_allowed", "PATCH", "/v1/session")
    check(hdrs.get("allow") == "POST, DELETE", "405 names the allowed methods")
    expect(c, 405, "method_not_allowed", "GET", "/v1/session")
    expect(c, 400, "invalid_path", "GET", "/v1/repos/xyz", token=alice)
    expect(c, 400, "invalid_path", "GET", "/v1/repos/" + "AB" * 32, token=alice)
    expect(c, 400, "invalid_path", "DELETE", "/v1/devices/0", token=alice)
    expect(c, 400, "invalid_path", "DELETE", "/v1/devices/99999999999999999999", token=alice)
    expect(c, 400, "invalid_query", "GET", "/v1/audit?limit=100000", token=alice)
    expect(c, 400, "invalid_query", "GET", "/v1/audit?order=desc", token=alice)
    expect(c, 400, "invalid_query", "GET", "/v1/devices?since=1", token=alice)


def raw_exchange(port, data, read=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(data)
        if not read:
            return b""
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    except OSError:
        return b""
    finally:
        s.close()


def test_raw(port):
    garbage = [
        b"\x00\x01\x02\x03garbage\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /v1/health HTTP/9.9\r\n\r\n",
        b"POST /v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX: " + b"b" * 60000 + b"\r\n\r\n",
        b"GET /v1/health%00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{",  # short
    ]
    for g in garbage:
        out = raw_exchange(port, g)
        check(out == b"" or out[:10] in (b"HTTP/1.1 4", b"HTTP/1.0 4") or
              out.startswith(b"HTTP/1.1 505"),
              "garbage %r answered %r" % (g[:40], out[:40]))
    raw_exchange(port, b"POST /v1/session HTTP/1.1\r\nHost: x\r\n", read=False)  # half


def test_start_refusals(exe, work):
    """Bad configuration: refused at start with the documented exit status."""
    def run(*args):
        p = subprocess.Popen([exe, *args], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            return p.wait(timeout=20)
        except subprocess.TimeoutExpired:  # it started after all: stop it, count a failure
            p.terminate()
            p.wait()
            return "running"
    db, key = os.path.join(work, "s.db"), os.path.join(work, "s.key")
    check(run("--db", db) == 2, "--escrow-key is required")
    check(run("--db", db, "--escrow-key", key, "--tls-cert", "x") == 2, "half a TLS pair")
    check(run("--db", db, "--escrow-key", key, "--threads", "0") == 2, "--threads 0")
    check(run("--db", db, "--escrow-key", key, "--no-create-key", "--port", "0") == 1,
          "--no-create-key without a key file")
    check(not os.path.exists(key), "--no-create-key created nothing")
    check(run("--db", db, "--escrow-key", key, "--listen", "localhost:1") == 2,
          "a listen address that is not numeric")
    check(run("--db", db, "--escrow-key", key, "--listen", "127.0.0.1:65536") == 2,
          "a port beyond 65535")
    open(key, "wb").write(b"CFKVDEK\x01" + os.urandom(32))
    os.chmod(key, 0o644)
    check(run("--db", db, "--escrow-key", key, "--port", "0") == 1,
          "an escrow key others may read")
    check(not os.path.exists(db) or os.stat(db).st_mode & 0o077 == 0, "database mode 0600")


def test_tls(exe, work):
    """HTTPS with --tls-cert/--tls-key, when openssl is there to make a certificate."""
    if not shutil.which("openssl"):
        print("note: no openssl(1): TLS part not run", file=sys.stderr)
        return
    d = os.path.join(work, "tls")
    os.mkdir(d)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    os.chmod(key, 0o600)
    server = kc.Server(exe, d, "--tls-cert", cert, "--tls-key", key)
    try:
        ctx = ssl.create_default_context(cafile=cert)
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=10)
        conn.request("GET", "/v1/health")
        resp = conn.getresponse()
        check(resp.status == 200 and b"keyvaultd" in resp.read(), "health over HTTPS")
        conn.close()
        out = raw_exchange(server.port, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        check(b"keyvaultd" not in out, "no plain HTTP answer on the TLS port")
    finally:
        check(server.stop() == 0, "TLS keyvaultd exit status")


def main():
    exe, signexe = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="kvd-badinput.")
    server = None
    try:
        server = kc.Server(exe, work, "--session-ttl", "3", "--lockout-failures", "3",
                           "--lockout-seconds", "60")
        signer = kc.Signer(signexe)
        c = kc.Client(server.port)
        ids = setup(c, signer)
        before = dump_state(server.db)
        tok = fresh(c, signer, ids, "alice")
        audit_before = len(c.request("GET", "/v1/audit?limit=500", token=tok)[2]["entries"])

        test_lockout(c)
        test_other_token(c, fresh(c, signer, ids, "alice"), ids["alice"][1],
                         fresh(c, signer, ids, "bob"))
        test_bodies(c, fresh(c, signer, ids, "alice"))
        test_routes(c, fresh(c, signer, ids, "alice"))
        test_raw(server.port)
        test_tokens(c, ids["login_body"])

        check(server.alive(), "keyvaultd is still running")
        tok = kc.login(c, "alice", "alice-pw")
        expect(c, 200, None, "GET", "/v1/health")
        st, _, body = expect(c, 200, None, "GET", REPO, token=tok)
        check(body["escrow"]["epoch"] == 1 and body["share"]["attempts"] == 0 and
              body["witness"]["sequence"] == 7, "alice's repository is as it was")
        entries = c.request("GET", "/v1/audit?limit=500", token=tok)[2]["entries"]
        check(not any(e["event"].startswith("escrow") or e["event"].startswith("share")
                      for e in entries[audit_before:]),
              "no escrow or share event came from the bad requests")
        c.close()
        after = dump_state(server.db)
        for (t, rows_b), (_, rows_a) in zip(before, after):
            check(rows_b == rows_a, "table %s changed" % t)
        rc = server.stop()
        check(rc == 0, "keyvaultd exit status after SIGTERM: %s" % rc)
        server = None
        test_start_refusals(exe, work)
        test_tls(exe, work)
    finally:
        if server:
            server.stop()
        if failures:
            with open(os.path.join(work, "keyvaultd.log"), "rb") as f:
                sys.stderr.write(f.read().decode(errors="replace")[-4000:])
        shutil.rmtree(work, ignore_errors=True)
    print("%d checks, %d failed" % (checks, failures), file=sys.stderr)
    return 1 if failures or not checks else 0


if __name__ == "__main__":
    sys.exit(main())
