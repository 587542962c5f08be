"""A small stand-in for the undercloud's HTTP side, for the deploy ramdisk tests.

It serves what the ramdisk talks to (docs/design/provisioning.md):

  GET  /v1/ramdisk/NAME?token=T            -> text/plain key=value instructions
  POST /v1/ramdisk/NAME/inspection?token=T -> JSON inventory, recorded
  POST /v1/ramdisk/NAME/result?token=T     -> JSON result, recorded
  GET  /files/PATH                         -> static files (images, config tarballs)
  GET  /stall/ANY?seconds=N                -> 200, then nothing for N s (a hung download)

Nodes come from a JSON file re-read on every request, so a test can add nodes
while the server runs:

  {"nodes": {"NAME": {"token": "T", "instructions": "action=inspect\\n"}}}

Every request is appended to the records file (a JSON list, rewritten
atomically): method, path, node, kind, status, content_type and body (parsed
JSON when it is JSON). A wrong token is answered 403, an unknown node 404.

Usage: fake_undercloud.py --listen IP:PORT --config FILE --records FILE
                          --files DIR [--ready FILE]
"""

import argparse
import json
import os
import shutil
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True, help="IP:PORT")
    parser.add_argument("--config", required=True)
    parser.add_argument("--records", required=True)
    parser.add_argument("--files", required=True)
    parser.add_argument("--ready", help="written once the socket listens")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)

    records = []

    def record(entry):
        with LOCK:
            records.append(entry)
            tmp = args.records + ".tmp"
            with open(tmp, "w") as f:
                json.dump(records, f, indent=1)
            os.replace(tmp, args.records)

    class Handler(BaseHTTPRequestHandler):
        server_version = "fake-undercloud/1"

        def log_message(self, fmt, *a):
            sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % a))

        def _reply(self, status, body=b"", ctype="text/plain"):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _route(self):
            """-> (node, kind, query) for /v1/ramdisk/NODE[/KIND], else None"""
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            parts = url.path.strip("/").split("/")
            if len(parts) in (3, 4) and parts[:2] == ["v1", "ramdisk"]:
                return parts[2], (parts[3] if len(parts) == 4 else "instructions"), query
            return None

        def _check(self, node, query):
            with open(args.config) as f:
                nodes = json.load(f).get("nodes", {})
            if node not in nodes:
                return None, 404
            if query.get("token") != [nodes[node]["token"]]:
                return None, 403
            return nodes[node], 200

        def do_GET(self):
            route = self._route()
            if route is None and self.path.startswith("/stall/"):
                return self._stall()
            if route is None:
                return self._static()
            node, kind, query = route
            entry = {"time": time.time(), "method": "GET", "path": urllib.parse.urlsplit(self.path).path,
                     "node": node, "kind": kind}
            conf, status = self._check(node, query) if kind == "instructions" else (None, 404)
            entry["status"] = status
            record(entry)
            if status != 200:
                return self._reply(status, b"no\n")
            body = conf["instructions"]
            if isinstance(body, dict):
                body = "".join("%s=%s\n" % kv for kv in body.items())
            self._reply(200, body.encode())

        def do_POST(self):
            route = self._route()
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            entry = {"time": time.time(), "method": "POST", "path": urllib.parse.urlsplit(self.path).path,
                     "content_type": self.headers.get("Content-Type")}
            if route is None or route[1] not in ("inspection", "result"):
                entry["status"] = 404
                record(entry)
                return self._reply(404)
            node, kind, query = route
            entry.update(node=node, kind=kind)
            _, status = self._check(node, query)
            try:
                entry["body"] = json.loads(raw)
            except ValueError as e:
                entry["body"] = raw.decode(errors="replace")
                entry["json_error"] = str(e)
                status = 400 if status == 200 else status
            entry["status"] = status
            record(entry)
            if status != 200:
                return self._reply(status, b"rejected\n")
            self._reply(200, b'{"ok": true}\n', "application/json")

        def _stall(self):
            """Answer 200 with a long Content-Length, then send nothing for
            ?seconds=N (default 300): a download that hangs."""
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            seconds = min(int(query.get("seconds", ["300"])[0]), 600)
            record({"time": time.time(), "method": "GET", "path": urllib.parse.urlsplit(self.path).path,
                    "kind": "stall", "status": 200})
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            self.wfile.flush()
            time.sleep(seconds)

        def _static(self):
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            root = os.path.realpath(args.files)
            full = os.path.realpath(os.path.join(root, path.removeprefix("/files/").lstrip("/")))
            entry = {"time": time.time(), "method": self.command, "path": path, "kind": "file"}
            if not path.startswith("/files/") or not full.startswith(root + os.sep) or not os.path.isfile(full):
                entry["status"] = 404
                record(entry)
                return self._reply(404, b"not found\n")
            entry["status"] = 200
            record(entry)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(os.path.getsize(full)))
            self.end_headers()
            with open(full, "rb") as f:
                try:
                    shutil.copyfileobj(f, self.wfile, 1 << 20)
                except (BrokenPipeError, ConnectionResetError):
                    pass

    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("%s:%d\n" % server.server_address[:2])
    server.serve_forever()


if __name__ == "__main__":
    main()
