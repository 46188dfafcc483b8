"""A fake J-Quants API on 127.0.0.1: it records every request's headers, echoes keys back, and redirects.

Only loopback addresses are used; each server answers a bounded number of requests and is shut down
by the fixture that started it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_REQUESTS = 200


class FakeApi:
    """One server: `routes[path] = callable(handler) -> (status, headers, body)`; `seen` lists (path, headers)."""

    def __init__(self):
        self.seen: list[tuple[str, dict]] = []
        self.routes: dict = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 5

            def _answer(self):
                if len(api.seen) >= MAX_REQUESTS:
                    self.send_response(503)
                    self.end_headers()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(min(length, 2**16)) if length else b""
                path = urlsplit(self.path).path
                api.seen.append((path, {k.lower(): v for k, v in self.headers.items()}))
                route = api.routes.get(path)
                status, headers, body = route(self) if route else (404, {}, {"message": "no route"})
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def query(self) -> dict:
                return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

            def log_message(self, *args):  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def headers_at(self, path: str) -> list[dict]:
        return [h for p, h in self.seen if p == path]


def bars(code: str = "72030") -> dict:
    """Two V2 daily bars, enough for a fetch to succeed."""
    row = {"Code": code, "AdjO": 100.0, "AdjH": 101.0, "AdjL": 99.0, "AdjC": 100.5, "AdjVo": 1000.0, "C": 100.5}
    return {"data": [{**row, "Date": "2024-01-04"}, {**row, "Date": "2024-01-05"}]}
