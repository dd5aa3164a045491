"""Helpers for the forecast-service tests: a real uvicorn server in a thread, a counting proxy, a settable clock.

Everything listens on 127.0.0.1 and is stopped by the fixture that started it. This module holds no tests;
it is named ``test_api_*`` so it sits with the API tests it serves.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pandas as pd
import uvicorn

__all__ = ["MutableClock", "ServerThread", "CountingProxy", "wait_for"]


def wait_for(predicate: Callable[[], object], *, timeout_s: float = 30.0, what: str = "condition") -> object:
    """Poll ``predicate`` until truthy (a readiness wait with a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what} (last: {last!r})")


class MutableClock:
    """A fixed clock the test moves by hand; the service reads it from several threads."""

    def __init__(self, now: pd.Timestamp) -> None:
        self._now = pd.Timestamp(now)
        self._lock = threading.Lock()

    def __call__(self) -> pd.Timestamp:
        with self._lock:
            return self._now

    def advance(self, delta: pd.Timedelta | str) -> pd.Timestamp:
        with self._lock:
            self._now = self._now + pd.Timedelta(delta)
            return self._now


class ServerThread:
    """uvicorn serving ``app`` on a free 127.0.0.1 port in a thread; ``stop`` shuts it down cleanly."""

    def __init__(self, app) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        wait_for(
            lambda: self.server.started or not self.thread.is_alive(), timeout_s=60, what="uvicorn start"
        )
        if not self.server.started:
            raise RuntimeError("uvicorn did not start (see the log above)")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
        assert not self.thread.is_alive(), "uvicorn did not stop"

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class CountingProxy:
    """An HTTP reverse proxy in front of Prometheus that counts requests by path and can play 'down' (503)."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.counts: Counter[str] = Counter()
        self.down = False
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _forward(self) -> None:
                path = urlsplit(self.path).path
                with proxy._lock:
                    proxy.counts[path] += 1
                if proxy.down:
                    body = b"upstream down (test)"
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=30)
                try:
                    headers = {
                        k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}
                    }
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _forward
            do_POST = _forward

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def queries(self) -> int:
        """Requests that evaluate PromQL (what costs Prometheus)."""
        with self._lock:
            return sum(n for path, n in self.counts.items() if path.startswith("/api/v1/query"))

    def __enter__(self) -> CountingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)
