#!/usr/bin/env python3
"""Capture listener for the SigV4 known-answer test (loopback only, bounded).

Answers like S3 would for the requests sigv4-kat sends and appends one JSON line per
request (method, path, headers) to LOG. Writes its port to PORTFILE; exits after
--lifetime seconds. Usage: capture.py LOG PORTFILE [--lifetime S]
"""
import http.server
import json
import sys
import threading
import urllib.parse

KEY = "data/ab/" + "ab" * 32


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self):
        with open(self.server.log, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "headers": [[k, v] for k, v in self.headers.items()]}) + "\n")

    def reply(self, code, body, extra=()):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.record()
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path == "/test.txt":
            self.reply(206, b"0123456789", [("Content-Range", "bytes 0-9/20")])
        elif q.get("list-type") == ["2"]:
            prefix = q.get("prefix", [""])[0]
            items, more = "", ""
            if prefix == "data/" and "continuation-token" not in q:
                more = "<NextContinuationToken>abc</NextContinuationToken>"
            if prefix == "data/" and q.get("continuation-token") == ["abc"]:
                items = "<Contents><Key>%s</Key><Size>3</Size></Contents>" % KEY
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult '
                    'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>examplebucket'
                    '</Name><IsTruncated>%s</IsTruncated>%s%s</ListBucketResult>'
                    % ("true" if more else "false", more, items)).encode()
            self.reply(200, body, [("Content-Type", "application/xml")])
        else:
            self.reply(404, b"")


def main():
    log, portfile = sys.argv[1], sys.argv[2]
    lifetime = float(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--lifetime" else 60
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.log = log
    srv.daemon_threads = True
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    threading.Timer(lifetime, srv.shutdown).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
