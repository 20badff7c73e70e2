#!/usr/bin/env python3
"""A fault-injecting HTTP/1.1 proxy for the storage tests (loopback only, bounded).

Sits between Coffer and a storage server on 127.0.0.1 and, for a share of the requests,
answers with a fault instead of the server's answer:
  500       an HTTP 500 without forwarding;
  reset     the connection is reset (RST) once the request has been read;
  stall     nothing is sent for --stall seconds, then the connection is closed;
  truncate  the request is forwarded, the answer's headers announce the full body but
            only half of it is sent before the connection closes.
Decisions come from a random generator seeded with --seed (the order in which parallel
requests arrive still varies). At most --max-faults faults are injected in all; with
--die-after N the proxy stops serving (closes its socket and every connection) after N
requests: the server is gone. It exits by itself after --lifetime seconds.

Writes its port to PORTFILE and one line per fault to LOG ("fault KIND METHOD PATH").
Usage: faultproxy.py --target PORT --portfile F --log F [--rate R] [--seed S] ...
"""
import argparse
import http.client
import os
import random
import socket
import socketserver
import struct
import threading
import time

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
       "upgrade", "expect", "trailer"}
KINDS = ["500", "reset", "stall", "truncate"]
WEIGHTS = [3, 3, 1, 3]  # stalls cost the client its whole timeout: fewer of them


class State:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.lock = threading.Lock()
        self.faults = 0
        self.requests = 0
        self.dead = False
        self.log = open(a.log, "a", buffering=1)

    def decide(self, method, path):
        """The fault for this request, or None."""
        with self.lock:
            self.requests += 1
            if self.a.die_after and self.requests > self.a.die_after:
                self.dead = True
                return "dead"
            roll = self.rng.random()
            kind = self.rng.choices(KINDS, WEIGHTS)[0]
            if self.faults >= self.a.max_faults or roll >= self.a.rate:
                return None
            if kind == "truncate" and method == "HEAD":
                kind = "500"
            self.faults += 1
            self.log.write("fault %s %s %s\n" % (kind, method, path))
            return kind


def read_request(rf):
    """(method, path, headers list, body) or None at the end of the connection."""
    line = rf.readline(65537)
    if not line or not line.strip():
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers = []
    while True:
        h = rf.readline(65537)
        if h in (b"\r\n", b"\n", b""):
            break
        k, v = h.decode("latin-1").split(":", 1)
        headers.append((k.strip(), v.strip()))
    return method, path, headers


def send_raw(sock, status, reason, headers, body):
    head = "HTTP/1.1 %d %s\r\n" % (status, reason)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in headers)
    sock.sendall(head.encode("latin-1") + b"\r\n" + body)


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        st = self.server.state
        sock = self.connection
        while not st.dead:
            try:
                req = read_request(self.rfile)
            except (OSError, ValueError):
                return
            if req is None:
                return
            method, path, headers = req
            hmap = {k.lower(): v for k, v in headers}
            if hmap.get("expect", "").lower() == "100-continue":
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            n = int(hmap.get("content-length", "0") or 0)
            body = self.rfile.read(n) if n else b""
            if len(body) != n:
                return
            kind = st.decide(method, path)
            if kind == "dead":
                self.server.die()
                return
            if kind == "500":
                send_raw(sock, 500, "Injected Fault", [("Content-Length", "0")], b"")
                continue
            if kind == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if kind == "stall":
                time.sleep(st.a.stall)
                return
            try:
                status, reason, rh, rbody = self.forward(method, path, headers, body)
            except OSError:
                send_raw(sock, 502, "Bad Gateway", [("Content-Length", "0")], b"")
                return
            out = [(k, v) for k, v in rh if k.lower() not in HOP and k.lower() != "content-length"]
            if method == "HEAD":
                length = rh_len(rh)
            elif status in (204, 304):
                length = None
            else:
                length = len(rbody)
            if length is not None:
                out.append(("Content-Length", str(length)))
            if kind == "truncate" and len(rbody) > 1:
                send_raw(sock, status, reason, out, rbody[: len(rbody) // 2])
                return
            send_raw(sock, status, reason, out, rbody)

    def forward(self, method, path, headers, body):
        a = self.server.state.a
        c = http.client.HTTPConnection("127.0.0.1", a.target, timeout=60)
        try:
            c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers:
                if k.lower() not in HOP:
                    c.putheader(k, v)
            c.endheaders(body if body else None)
            r = c.getresponse()
            rbody = b"" if method == "HEAD" else r.read()
            return r.status, r.reason, r.getheaders(), rbody
        finally:
            c.close()


def rh_len(headers):
    for k, v in headers:
        if k.lower() == "content-length":
            return int(v)
    return None


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def die(self):
        threading.Thread(target=self.shutdown, daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", type=int, required=True)
    p.add_argument("--portfile", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--rate", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-faults", type=int, default=200)
    p.add_argument("--stall", type=float, default=4.0)
    p.add_argument("--die-after", type=int, default=0)
    p.add_argument("--lifetime", type=float, default=300)
    a = p.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.state = State(a)
    with open(a.portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(a.portfile + ".tmp", a.portfile)
    threading.Timer(a.lifetime, srv.die).start()
    srv.serve_forever()
    srv.server_close()
    os._exit(0)


if __name__ == "__main__":
    main()
