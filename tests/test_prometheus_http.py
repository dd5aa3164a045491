"""The Prometheus source's HTTP behaviour: retries, auth, TLS and odd answers, against tiny local servers.

Each test starts a small HTTP server on 127.0.0.1 that answers ``/api/v1/query_range`` from a script (canned
Prometheus JSON, errors, or a proxy to the real test Prometheus) and records what it was sent. The backoff
sleep is injected, so nothing here sleeps.
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ConfigError, SourceError
from forecaster.settings import PrometheusSettings
from forecaster.sources.prometheus import PrometheusSource, fetch_history

NOW = pd.Timestamp("2026-02-02 00:00:00")
STEP = pd.Timedelta(minutes=1)


@dataclass
class Seen:
    path: str
    params: dict[str, str]
    headers: dict[str, str]


Answer = tuple[int, object, dict[str, str]]


@dataclass
class FakePrometheus:
    url: str
    seen: list[Seen] = field(default_factory=list)


def matrix(
    params: dict[str, str], metric: dict[str, str] | None = None, *, first_s: int | None = None
) -> Answer:
    """A Prometheus range answer with value ``t / 60 % 1000 + 1`` at each step of the asked range."""
    start, end, step = int(params["start"]), int(params["end"]), int(float(params["step"]))
    values = [
        [t, str(t // 60 % 1000 + 1.0)] for t in range(start if first_s is None else first_s, end + 1, step)
    ]
    body = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": metric or {}, "values": values}]},
    }
    return 200, body, {}


def error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return status, {"status": "error", "errorType": kind, "error": message}, headers or {}


@pytest.fixture
def fake_prometheus() -> Iterator[Callable[..., FakePrometheus]]:
    """``start(answer, tls=None)``: a server answering every request with ``answer(seen, n)``."""
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Callable[[Seen, int], Answer], tls: ssl.SSLContext | None = None) -> FakePrometheus:
        fake = FakePrometheus(url="")

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                seen = Seen(parts.path, params, {k.lower(): v for k, v in self.headers.items()})
                fake.seen.append(seen)
                status, body, headers = answer(seen, len(fake.seen))
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:  # failed TLS handshakes are expected
                pass

        server = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        scheme = "https" if tls is not None else "http"
        fake.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
        return fake

    try:
        yield start
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def settings_for(url: str, **overrides) -> PrometheusSettings:
    return PrometheusSettings(url=url, query="sum(rate(http_requests_total[1m]))", **overrides)


def fetch(settings: PrometheusSettings, sleeps: list[float] | None = None) -> pd.Series:
    """One hour before ``NOW``; backoff sleeps are recorded in ``sleeps`` instead of slept."""
    return fetch_history(settings, now=NOW, history="1h", sleep=(sleeps if sleeps is not None else []).append)


# -- retries ------------------------------------------------------------------------------------------------


def test_5xx_is_retried_with_backoff_then_the_real_answer_is_used(fake_prometheus, prometheus_server):
    from tests.prometheus_fixture import STANDARD_NOW

    def answer(seen: Seen, n: int) -> Answer:
        if n <= 2:
            return error(503, "unavailable", "overloaded, try later")
        # Then behave exactly like the real Prometheus.
        with urllib.request.urlopen(prometheus_server.url + "/api/v1/query_range?" + _query(seen)) as resp:
            return resp.status, resp.read(), {}

    fake = fake_prometheus(answer)
    sleeps: list[float] = []
    settings = PrometheusSettings(url=fake.url, query="forecaster_test_rps", retries=4, backoff_s=0.5)
    series = fetch_history(settings, now=STANDARD_NOW, history="2h", sleep=sleeps.append)
    assert len(fake.seen) == 3 and sleeps == [0.5, 1.0]
    expected = prometheus_server.expected("forecaster_test_rps").iloc[-120:]
    np.testing.assert_array_equal(series.to_numpy(), expected.to_numpy())
    assert series.index.equals(expected.index)


def _query(seen: Seen) -> str:
    from urllib.parse import urlencode

    return urlencode(seen.params)


def test_5xx_every_time_fails_after_the_retries_quoting_prometheus(fake_prometheus):
    fake = fake_prometheus(lambda seen, n: error(503, "unavailable", "overloaded, try later"))
    sleeps: list[float] = []
    with pytest.raises(SourceError) as err:
        fetch(settings_for(fake.url, retries=2, backoff_s=0.25), sleeps)
    message = str(err.value)
    assert "after 3 attempt(s)" in message and "HTTP 503" in message and "overloaded, try later" in message
    assert "sum(rate(http_requests_total[1m]))" in message
    assert len(fake.seen) == 3 and sleeps == [0.25, 0.5]


def test_the_clients_own_retry_does_not_multiply_ours(fake_prometheus):
    # prometheus-api-client retries 503 three times by default; with retries=0 exactly one request goes out.
    fake = fake_prometheus(lambda seen, n: error(503, "unavailable", "down"))
    with pytest.raises(SourceError, match=r"after 1 attempt\(s\)"):
        fetch(settings_for(fake.url, retries=0))
    assert len(fake.seen) == 1


@pytest.mark.parametrize(
    ("retry_after", "slept"),
    [("7", 7.0), ("3600", 60.0), ("soon", 0.5)],
    ids=["honoured", "capped", "unparsable"],
)
def test_429_is_retried_honouring_retry_after(fake_prometheus, retry_after, slept):
    def answer(seen: Seen, n: int) -> Answer:
        if n == 1:
            return error(429, "rate_limited", "slow down", {"Retry-After": retry_after})
        return matrix(seen.params)

    fake = fake_prometheus(answer)
    sleeps: list[float] = []
    series = fetch(settings_for(fake.url, backoff_s=0.5), sleeps)
    assert len(series) == 60 and sleeps == [slept]


@pytest.mark.parametrize("status", [400, 404, 422])
def test_4xx_is_not_retried(fake_prometheus, status):
    fake = fake_prometheus(lambda seen, n: error(status, "bad_data", "something is wrong with it"))
    sleeps: list[float] = []
    with pytest.raises(SourceError, match=f"HTTP {status}") as err:
        fetch(settings_for(fake.url), sleeps)
    assert "bad_data: something is wrong with it" in str(err.value)
    assert len(fake.seen) == 1 and sleeps == []


# -- what is sent -------------------------------------------------------------------------------------------


def test_request_parameters(fake_prometheus):
    fake = fake_prometheus(lambda seen, n: matrix(seen.params))
    series = fetch(settings_for(fake.url, timeout_s=12.5))
    (seen,) = fake.seen
    assert seen.path == "/api/v1/query_range"
    assert seen.params["query"] == "sum(rate(http_requests_total[1m]))"
    assert seen.params["step"] == "60" and seen.params["timeout"] == "12.5"
    assert int(seen.params["end"]) == int((NOW - STEP - pd.Timestamp(0)).total_seconds())
    assert int(seen.params["end"]) - int(seen.params["start"]) == 59 * 60
    assert "authorization" not in seen.headers
    assert len(series) == 60 and series.index[-1] == NOW - STEP


def test_bearer_token_from_file_is_sent_and_reread_when_it_rotates(fake_prometheus, tmp_path):
    def answer(seen: Seen, n: int) -> Answer:
        if seen.headers.get("authorization") in ("Bearer first-token", "Bearer second-token"):
            return matrix(seen.params)
        return error(401, "unauthorized", "bad token")

    fake = fake_prometheus(answer)
    token_file = tmp_path / "token"
    token_file.write_text("first-token\n")
    with PrometheusSource(settings_for(fake.url, bearer_token_file=str(token_file))) as source:
        assert len(source.fetch_recent(duration="1h", now=NOW)) == 60
        token_file.write_text("second-token\n")  # a projected ServiceAccount token was refreshed
        assert len(source.fetch_recent(duration="1h", now=NOW)) == 60
    assert [s.headers["authorization"] for s in fake.seen] == ["Bearer first-token", "Bearer second-token"]


def test_bearer_token_from_env(fake_prometheus, monkeypatch):
    fake = fake_prometheus(lambda seen, n: matrix(seen.params))
    monkeypatch.setenv("FORECASTER_TEST_PROM_TOKEN", "env-token")
    fetch(settings_for(fake.url, bearer_token_env="FORECASTER_TEST_PROM_TOKEN"))
    assert fake.seen[0].headers["authorization"] == "Bearer env-token"


def test_wrong_credentials_are_a_clear_error_not_retried(fake_prometheus, monkeypatch):
    fake = fake_prometheus(lambda seen, n: error(401, "unauthorized", "bad token"))
    monkeypatch.setenv("FORECASTER_TEST_PROM_TOKEN", "wrong")
    sleeps: list[float] = []
    with pytest.raises(SourceError, match="HTTP 401") as err:
        fetch(settings_for(fake.url, bearer_token_env="FORECASTER_TEST_PROM_TOKEN"), sleeps)
    assert "bearer_token" in str(err.value) and len(fake.seen) == 1 and sleeps == []


def test_basic_auth(fake_prometheus, monkeypatch):
    fake = fake_prometheus(lambda seen, n: matrix(seen.params))
    monkeypatch.setenv("FORECASTER_TEST_PROM_PASSWORD", "pa:ss")
    fetch(
        settings_for(
            fake.url, basic_auth_user="grafana", basic_auth_password_env="FORECASTER_TEST_PROM_PASSWORD"
        )
    )
    expected = "Basic " + base64.b64encode(b"grafana:pa:ss").decode()
    assert fake.seen[0].headers["authorization"] == expected


# -- answers that are not one clean series ------------------------------------------------------------------


def test_several_series_across_chunks_are_reported(fake_prometheus):
    # Each chunk alone holds one series, but not the same one: still several series.
    fake = fake_prometheus(lambda seen, n: matrix(seen.params, {"pod": "a" if n == 1 else "b"}))
    with pytest.raises(SourceError, match="yields 2 series") as err:
        fetch(settings_for(fake.url, max_points_per_query=40))
    assert '{pod="a"}' in str(err.value) and '{pod="b"}' in str(err.value)


def test_overlapping_chunk_answers_are_merged_without_duplicates(fake_prometheus):
    # Some servers (VictoriaMetrics aligns to the step) answer a point before the asked start.
    fake = fake_prometheus(lambda seen, n: matrix(seen.params, first_s=int(seen.params["start"]) - 60))
    series = fetch(settings_for(fake.url, max_points_per_query=7))
    assert len(fake.seen) == 9
    assert len(series) == 60 and series.index.is_unique and series.index.freq == STEP
    expected = [
        t // 60 % 1000 + 1.0
        for t in range(int(fake.seen[0].params["start"]), int(fake.seen[-1].params["end"]) + 1, 60)
    ]
    np.testing.assert_array_equal(series.to_numpy(), expected)


@pytest.mark.parametrize(
    "body",
    [b"<html>login</html>", {"status": "success"}, {"status": "success", "data": {"result": "oops"}}],
    ids=["html", "no-data", "not-a-vector"],
)
def test_an_answer_that_is_not_the_prometheus_api(fake_prometheus, body):
    fake = fake_prometheus(lambda seen, n: (200, body, {}))
    with pytest.raises(SourceError, match="sum\\(rate"):
        fetch(settings_for(fake.url))
    assert len(fake.seen) == 1


# -- TLS ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl not on PATH (needed to make a test certificate)")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def _tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def test_tls_with_the_ca_bundle(fake_prometheus, tls_files):
    cert, key = tls_files
    fake = fake_prometheus(lambda seen, n: matrix(seen.params), tls=_tls_context(cert, key))
    assert fake.url.startswith("https://")
    assert len(fetch(settings_for(fake.url, ca_file=str(cert)))) == 60


def test_tls_unknown_ca_is_a_clear_error_not_retried(fake_prometheus, tls_files):
    fake = fake_prometheus(lambda seen, n: matrix(seen.params), tls=_tls_context(*tls_files))
    sleeps: list[float] = []
    with pytest.raises(SourceError, match="TLS error") as err:
        fetch(settings_for(fake.url), sleeps)
    assert "ca_file" in str(err.value) and sleeps == []


def test_tls_skip_verify_works_without_a_warning_per_request(fake_prometheus, tls_files):
    # pytest turns warnings into errors here, so an InsecureRequestWarning per request would fail this test.
    fake = fake_prometheus(lambda seen, n: matrix(seen.params), tls=_tls_context(*tls_files))
    assert len(fetch(settings_for(fake.url, insecure_skip_verify=True, max_points_per_query=20))) == 60
    assert len(fake.seen) == 3


# -- settings -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"query": "  "}, "query is empty"),
        ({"max_points_per_query": 0}, "max_points_per_query"),
        ({"max_points_per_query": 11_001}, "max_points_per_query"),
        ({"url": "127.0.0.1:9090"}, "must start with http"),
        ({"step": "1 minute"}, "prometheus.step"),
        ({"retries": -1}, "retries"),
        ({"timeout_s": 0}, "timeout_s"),
    ],
)
def test_invalid_settings_are_config_errors(overrides, fragment):
    values = {"url": "http://127.0.0.1:9", "query": "up"} | overrides
    with pytest.raises(ConfigError, match=fragment):
        PrometheusSource(PrometheusSettings(**values))


def test_an_unreadable_token_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="bearer_token_file"):
        PrometheusSource(settings_for("http://127.0.0.1:9", bearer_token_file=str(tmp_path / "missing")))


def test_connection_refused_never_reaches_a_server():
    # Nothing listens on a port we just closed: a quick, clear error after the retries.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps: list[float] = []
    with pytest.raises(SourceError, match="Connection refused"):
        fetch(settings_for(f"http://127.0.0.1:{port}", retries=2, backoff_s=1.0), sleeps)
    assert sleeps == [1.0, 2.0]
