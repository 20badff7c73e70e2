#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Loopback load test of keyvaultd (bench/keyvaultd-load.sh runs it): a fixed number of
logins (POST /v1/session) and of escrow reads (GET /v1/repos/{repo}/escrow) from CLIENTS
concurrent keep-alive connections. Bounded: REQUESTS per phase, a deadline per phase.
Prints a Markdown table: requests, seconds, requests per second, latency p50/p90/p99."""

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration", "modes"))
import kvd_common as kc  # noqa: E402

REPO = "/v1/repos/" + "5a" * 32


def phase(port, clients, total, make_request, deadline_s):
    """Run @total requests split over @clients threads; returns (seconds, latencies, errors)."""
    lat = []
    errors = []
    lock = threading.Lock()
    per = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    start_gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(i):
        c = kc.Client(port)
        mine = []
        req = make_request(i)
        start_gate.wait()
        for _ in range(per[i]):
            if time.monotonic() > stop_at[0]:
                break
            t = time.perf_counter()
            st, _, body = c.request(*req)
            mine.append(time.perf_counter() - t)
            if st not in (200, 201):
                with lock:
                    errors.append((st, body))
        c.close()
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.monotonic() + deadline_s
    start_gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, sorted(lat), errors


def pct(sorted_lat, p):
    if not sorted_lat:
        return float("nan")
    return sorted_lat[min(len(sorted_lat) - 1, int(p / 100.0 * len(sorted_lat)))] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("keyvaultd")
    ap.add_argument("testsign")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--deadline", type=float, default=120.0)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kvd-load.")
    server = kc.Server(a.keyvaultd, work, "--threads", str(a.threads), "--rate-address", "0",
                       "--rate-account", "0", "--session-ttl", "3600", "--quiet")
    try:
        signer = kc.Signer(a.testsign)
        c = kc.Client(server.port)
        _, dev, dev_id = kc.account_with_device(c, signer, "load", "load-pw")
        tok = kc.login(c, "load", "load-pw")
        kc.bind(c, signer, tok, dev, dev_id)
        assert c.request("PUT", REPO, {"protection": "standard", "epoch": 1}, token=tok)[0] == 201
        assert c.request("PUT", REPO + "/escrow", {"epoch": 1, "key": kc.b64(b"k" * 32)},
                         token=tok)[0] == 201
        tokens = []
        for _ in range(a.clients):
            t = kc.login(c, "load", "load-pw")
            kc.bind(c, signer, t, dev, dev_id)
            tokens.append(t)
        c.close()
        login_req = ("POST", "/v1/session", {"name": "load", "auth_key": kc.auth_key("load-pw")})
        rows = []
        for name, make in [("login (POST /v1/session)", lambda i: login_req),
                           ("escrow read (GET /v1/repos/{repo}/escrow)",
                            lambda i: ("GET", REPO + "/escrow", None, tokens[i]))]:
            secs, lat, errors = phase(server.port, a.clients, a.requests, make, a.deadline)
            if errors:
                print("errors in %s: %d, first %r" % (name, len(errors), errors[0]),
                      file=sys.stderr)
                return 1
            rows.append("| %s | %d | %.2f | %.0f | %.2f | %.2f | %.2f |" %
                        (name, len(lat), secs, len(lat) / secs, pct(lat, 50), pct(lat, 90),
                         pct(lat, 99)))
        print("| operation | requests | seconds | requests/s | p50 ms | p90 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        print("\n".join(rows))
    finally:
        rc = server.stop()
        if os.environ.get("KVD_LOAD_KEEP"):
            print("kept:", work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
