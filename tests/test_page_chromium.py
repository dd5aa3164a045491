"""The page at ``/`` in headless Chromium: it loads, draws each target's chart, and logs no console errors.

Chromium runs with ``--dump-dom`` after a virtual-time budget (the page's fetches and drawing finish inside
it) and ``--log-level=0``, which prints every console message as an ``INFO:CONSOLE`` line on stderr. The
page records its own errors into the DOM (``body[data-errors]``, ``#errors``) and sets ``body[data-drawn]``
to the number of charts drawn. A second run against a server that refuses the page's requests proves that
errors are actually detected. Skipped without Chromium, except under ``CI``, where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace

import httpx
import pytest

from forecaster.api.app import create_app
from forecaster.api.settings import ServeSettings
from tests.test_api_support import ServerThread, wait_for

SETTINGS = ServeSettings(demo_train=False, tick_s=0.05, auth_token_env=None)


def _chromium() -> str:
    path = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    reason = "chromium not installed (apt-get install chromium, or run the project's test command)"
    if os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}:
        pytest.fail(f"CI must run the page test: {reason}", pytrace=False)
    pytest.skip(reason)


def _render(url: str, tmp_path) -> tuple[str, list[str]]:
    """The DOM after the page ran, and the console lines Chromium printed."""
    profile = tmp_path / "chromium-profile"
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--log-level=0",
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


def _serve(settings: ServeSettings):
    app = create_app(settings)
    server = ServerThread(app).start()
    wait_for(lambda: httpx.get(server.url + "/readyz").status_code == 200, what="/readyz 200")
    return server


def test_page_draws_the_forecast_without_errors(tmp_path):
    _chromium()
    server = _serve(SETTINGS)
    try:
        dom, console = _render(server.url + "/", tmp_path)
    finally:
        server.stop()
    assert console == []
    assert re.search(r'<body[^>]*data-drawn="1"', dom), dom[:2000]
    assert re.search(r'<body[^>]*data-errors="0"', dom)
    # One chart for the demo target: actual line, p50 line and the band, with its points.
    chart = re.search(r'<section id="target-live-streaming-demo".*?</section>', dom, re.S)
    assert chart, dom[:2000]
    svg = chart.group(0)
    points = int(re.search(r'data-points="(\d+)"', svg).group(1))
    assert points == 6 * 60 + 30  # the default 6 h of actuals and 30 forecast steps
    for cls in ("actual", "p50", "band"):
        path = re.search(rf'<path d="(M[^"]+)" class="{cls}"', svg)
        assert path, f"no {cls} path drawn"
        assert path.group(1).count("L") >= 29
    assert "baseline" in svg  # the page says when a baseline serves


def test_page_reports_errors_it_meets(tmp_path, monkeypatch):
    # The API refuses the page (auth on, the page has no token): the failure must show, not pass silently.
    _chromium()
    monkeypatch.setenv("FORECASTER_PAGE_TEST_TOKEN", "t0ken")
    server = _serve(replace(SETTINGS, auth_token_env="FORECASTER_PAGE_TEST_TOKEN"))
    try:
        dom, console = _render(server.url + "/", tmp_path)
    finally:
        server.stop()
    assert re.search(r'<body[^>]*data-drawn="0"', dom)
    assert re.search(r'<body[^>]*data-errors="[1-9]', dom)
    assert "/v1/targets: HTTP 401" in dom
    assert console, "Chromium printed no console line for a failed request"


def test_page_marks_the_targets_scheduled_events(tmp_path):
    """A target with a calendar: the event inside the chart (20:10, before the forecast's end) is marked on it,
    and every upcoming one is listed under it; past entries are neither."""
    import numpy as np
    import pandas as pd

    from forecaster.settings import EventsSettings, PrometheusSettings, TargetConfig

    _chromium()
    now = pd.Timestamp("2024-05-01 20:00:30")
    calendar = tmp_path / "events.csv"
    calendar.write_text(
        "start,kind,end,expected\n"
        "2024-05-01T19:00:00Z,concert,,\n"  # past: not shown
        "2024-05-01T20:10:00Z,football,2024-05-01T22:00:00Z,12000\n"  # inside the 30-minute forecast
        "2024-05-01T23:30:00Z,esports,,\n"  # later today: listed only
    )

    class Flat:
        def fetch_recent(self, *, duration, now):
            index = pd.date_range(end=now.floor("1min") - pd.Timedelta("1min"), periods=360, freq="1min")
            return pd.Series(np.full(len(index), 100.0), index=index)

    target = TargetConfig(
        name="live",
        prometheus=PrometheusSettings(query="up", step="1m"),
        events=EventsSettings(file=str(calendar)),
    )
    app = create_app(
        SETTINGS,
        clock=lambda: now,
        targets=[target],
        source_factory=lambda _cfg: Flat(),
        model_loader=lambda _c: None,
    )
    server = ServerThread(app).start()
    wait_for(lambda: httpx.get(server.url + "/readyz").status_code == 200, what="/readyz 200")
    try:
        dom, console = _render(server.url + "/", tmp_path)
    finally:
        server.stop()
    assert console == []
    assert re.search(r'<body[^>]*data-drawn="1"', dom) and re.search(r'<body[^>]*data-errors="0"', dom)
    chart = re.search(r'<section id="target-live".*?</section>', dom, re.S).group(0)
    assert re.search(r'<svg[^>]*data-events="1"', chart), chart[:500]
    marks = re.findall(r'<g class="event" data-kind="([a-z]+)" data-start="([^"]+)"', chart)
    assert marks == [("football", "2024-05-01T20:10:00Z")]
    assert re.search(r'<rect [^>]*class="event-span"', chart) and ">football 20:10<" in chart
    listed = re.search(r'<p class="events">(.*?)</p>', chart, re.S).group(1)
    assert "football at 20:10 UTC (in 11 min), expected 12000" in listed
    assert "esports at 23:30 UTC (in 3 h 31 min)" in listed and "concert" not in chart
