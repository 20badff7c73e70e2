# SPDX-License-Identifier: ISC
"""Helpers shared by keyvaultd's integration tests and its load test (bench/keyvaultd-load.sh):
start a real keyvaultd on a free loopback port, talk to it over HTTP (stdlib only), and sign
with device identities through the kvd-testsign helper (Python has no Ed25519)."""

import base64
import http.client
import json
import os
import signal
import subprocess
import struct
import time


def b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Server:
    """A keyvaultd process in @workdir, listening on 127.0.0.1 and a free port."""

    def __init__(self, exe, workdir, *extra):
        self.workdir = workdir
        self.db = os.path.join(workdir, "kvd.db")
        self.key = os.path.join(workdir, "escrow.key")
        portfile = os.path.join(workdir, "port")
        if os.path.exists(portfile):
            os.unlink(portfile)
        self.log = open(os.path.join(workdir, "keyvaultd.log"), "ab")
        self.proc = subprocess.Popen(
            [exe, "--db", self.db, "--escrow-key", self.key, "--listen", "127.0.0.1:0",
             "--port-file", portfile, *extra],
            stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 20
        while not os.path.exists(portfile):
            if self.proc.poll() is not None:
                raise RuntimeError("keyvaultd exited with %d at start" % self.proc.returncode)
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("keyvaultd did not start")
            time.sleep(0.05)
        with open(portfile) as f:
            self.port = int(f.read())

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        self.log.close()
        return self.proc.returncode


class Client:
    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def close(self):
        self.conn.close()

    def request(self, method, path, body=None, token=None, headers=None, raw=None):
        """Returns (status, headers dict, parsed JSON body or None)."""
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        if token:
            hdrs["Authorization"] = "Bearer " + token
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                resp = self.conn.getresponse()
                payload = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = None
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed


class Signer:
    """Device identities through kvd-testsign."""

    def __init__(self, exe):
        self.exe = exe

    def new(self):
        out = subprocess.run([self.exe, "new"], check=True, capture_output=True, text=True)
        seed, ident, pk = out.stdout.split()
        return {"seed": seed, "identity": ident, "sign_pk": pk}

    def sign(self, dev, context, msg):
        out = subprocess.run([self.exe, "sign", dev["seed"], context, msg.hex()], check=True,
                             capture_output=True, text=True)
        return out.stdout.strip()


TEST_KDF = {"opslimit": 1, "memlimit": 8192}
SALT = b64(bytes(range(16)))


def auth_key(password):
    """Tests stand in for Argon2id: any 32 bytes are an auth key to the server."""
    return b64(password.encode().ljust(32, b"\0")[:32])


def create_account(c, name, password):
    st, _, body = c.request("POST", "/v1/account", {"name": name, "salt": SALT, "kdf": TEST_KDF,
                                                    "auth_key": auth_key(password)})
    assert st == 201, (st, body)
    return body["token"]


def login(c, name, password):
    st, _, body = c.request("POST", "/v1/session", {"name": name, "auth_key": auth_key(password)})
    assert st == 201, (st, body)
    return body["token"]


def bind(c, signer, token, dev, device_id):
    sig = signer.sign(dev, "coffer-kvd-session-v1", unb64(token))
    return c.request("POST", "/v1/session/device", {"device": device_id, "signature": sig},
                     token=token)


def account_with_device(c, signer, name, password):
    """A new account, its first device, and a session bound to it: (token, dev, id)."""
    token = create_account(c, name, password)
    dev = signer.new()
    st, _, body = c.request("POST", "/v1/devices", {"identity": dev["identity"], "via": "first"},
                            token=token)
    assert st == 201, (st, body)
    device_id = body["device"]["id"]
    st, _, body = bind(c, signer, token, dev, device_id)
    assert st == 200, (st, body)
    return token, dev, device_id


def witness_body(signer, dev, repo_hex, seq, manifest_hash):
    msg = bytes.fromhex(repo_hex) + struct.pack("<QB", seq, len(manifest_hash)) + manifest_hash
    return {"sequence": seq, "manifest_hash": b64(manifest_hash), "signer": dev["sign_pk"],
            "signature": signer.sign(dev, "coffer-witness-v1", msg)}


def device_login_body(signer, dev, name, device_id, t):
    msg = name.encode() + b"\0" + struct.pack("<QQ", device_id, t)
    return {"name": name, "device": device_id, "time": t,
            "signature": signer.sign(dev, "coffer-kvd-device-login-v1", msg)}
