"""A real Prometheus for integration tests: backfill series with ``promtool``, serve them on 127.0.0.1.

What it does: writes series as OpenMetrics text, turns them into TSDB blocks with
``promtool tsdb create-blocks-from openmetrics``, starts the Debian ``prometheus`` binary on a free port of
127.0.0.1 with no scrape targets and a retention long enough to keep the backfilled blocks, waits for
``/-/ready`` (bounded, failing with the log tail) and stops it by PID (terminate, wait, kill). It must not
talk to anything but 127.0.0.1, and it never leaves a process behind (fixtures stop what they start).

When ``prometheus``/``promtool`` are missing the tests are skipped with the reason, except under ``CI`` (any
value other than empty/``0``/``false``), where they fail: CI must really run them.

Use from another test module
----------------------------
The fixtures ``prometheus_server``, ``prometheus_factory`` and ``prometheus_binaries`` are registered once in
``tests/conftest.py``: just name them as test arguments (importing them into a test module also works, the
standard server is still started once per session, but ruff then wants ``# noqa: F811`` on every use).
The shared, session-scoped server holds the standard data set below (21 days at 1 minute, fixed timestamps,
so tests use a fixed clock: ``STANDARD_NOW``)::

    from tests.prometheus_fixture import STANDARD_END, STANDARD_NOW, STANDARD_START

    @pytest.mark.prometheus
    def test_train_from_prometheus(prometheus_server):
        settings = PrometheusSettings(url=prometheus_server.url, query="forecaster_test_rps", history="7d")
        series = fetch_history(settings, now=STANDARD_NOW)
        expected = prometheus_server.expected("forecaster_test_rps")   # the pandas Series that was backfilled

Standard series (all end at ``STANDARD_END`` = last sample, ``STANDARD_NOW`` = one step later):

- ``forecaster_test_rps`` (gauge): ``live_streaming(days=21, seed=0)``, 30,240 points at 1 minute;
- ``http_requests_total{service="live", pod="a"|"b"}`` (counters): 60 % / 40 % of that traffic as cumulative
  request counts, so ``sum(rate(http_requests_total{service="live"}[5m]))`` is close to the rps; pod ``b``
  restarts (its counter resets to 0) at ``COUNTER_RESET_AT``;
- ``forecaster_test_gappy`` (gauge): the last day of a smooth sine with a 10-minute gap (``SHORT_GAP``) and a
  3-hour gap (``LONG_GAP``); remember Prometheus' 5-minute lookback repeats the last sample into a gap.

Your own data: ``start_prometheus(tmp_dir, series)`` returns a running :class:`PrometheusServer` (also a
context manager); ``series`` is a list of :class:`MetricSeries` or a ``{metric_name: pandas.Series}`` mapping.
NaN values are left out, so they become gaps. Or use the module-scoped ``prometheus_factory`` fixture, which
stops every server it started at the end of the module::

    from tests.prometheus_fixture import MetricSeries

    def test_mine(prometheus_factory):
        server = prometheus_factory([MetricSeries("cpu", my_series, labels={"node": "n1"})])
        ...  # server.url, server.pid, server.data_dir

Starting one costs a few seconds (mostly ``promtool``), so share a server per module where you can.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pytest

__all__ = [
    "MetricSeries",
    "PrometheusServer",
    "PrometheusUnavailable",
    "require_prometheus",
    "start_prometheus",
    "write_openmetrics",
    "standard_series",
    "prometheus_binaries",
    "prometheus_factory",
    "prometheus_server",
    "STANDARD_START",
    "STANDARD_END",
    "STANDARD_NOW",
    "STANDARD_STEP",
    "COUNTER_RESET_AT",
    "SHORT_GAP",
    "LONG_GAP",
]

STANDARD_STEP = pd.Timedelta(minutes=1)
STANDARD_START = pd.Timestamp("2026-01-05 00:00:00")
STANDARD_POINTS = 21 * 24 * 60
STANDARD_END = STANDARD_START + (STANDARD_POINTS - 1) * STANDARD_STEP
"""Timestamp of the last backfilled sample."""
STANDARD_NOW = STANDARD_END + STANDARD_STEP
"""A fixed clock for tests: one step after the last sample."""
COUNTER_RESET_AT = pd.Timestamp("2026-01-20 12:00:00")
"""Pod ``b``'s counter restarts from 0 at this sample."""
_GAPPY_START = STANDARD_END - pd.Timedelta(days=1) + STANDARD_STEP
SHORT_GAP = (pd.Timestamp("2026-01-25 06:00:00"), pd.Timestamp("2026-01-25 06:09:00"))
"""First and last missing sample (10 minutes) of ``forecaster_test_gappy``."""
LONG_GAP = (pd.Timestamp("2026-01-25 12:00:00"), pd.Timestamp("2026-01-25 14:59:00"))
"""First and last missing sample (3 hours) of ``forecaster_test_gappy``."""

_READY_TIMEOUT_S = 60.0
# promtool's backfill of a few weeks of 1-minute samples takes seconds; minutes only on a machine this busy.
_BACKFILL_TIMEOUT_S = 300.0
_STOP_TIMEOUT_S = 10.0


class PrometheusUnavailable(RuntimeError):
    """Prometheus could not be started; the message holds the command and the tail of its log."""


@dataclass(frozen=True)
class MetricSeries:
    """One backfilled time series.

    ``name`` is the sample name as PromQL sees it; a counter's must end in ``_total`` (OpenMetrics names the
    family without it). ``values`` is indexed by tz-naive UTC timestamps; NaN values are not written (gaps).
    """

    name: str
    values: pd.Series
    labels: Mapping[str, str] = field(default_factory=dict)
    kind: Literal["gauge", "counter"] = "gauge"

    @property
    def family(self) -> str:
        if self.kind == "counter":
            if not self.name.endswith("_total"):
                raise ValueError(f"counter {self.name!r}: the sample name must end in _total")
            return self.name[: -len("_total")]
        return self.name

    @property
    def key(self) -> str:
        """``name{a="x",b="y"}`` with labels sorted: how :meth:`PrometheusServer.expected` finds it."""
        if not self.labels:
            return self.name
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(self.labels.items()))
        return f"{self.name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _as_metric_series(series: Sequence[MetricSeries] | Mapping[str, pd.Series]) -> list[MetricSeries]:
    if isinstance(series, Mapping):
        return [MetricSeries(name, values) for name, values in series.items()]
    return list(series)


def write_openmetrics(series: Sequence[MetricSeries] | Mapping[str, pd.Series], path: Path) -> int:
    """Write ``series`` as OpenMetrics text with Unix-second timestamps; returns the number of samples."""
    items = _as_metric_series(series)
    families: dict[str, list[MetricSeries]] = {}
    kinds: dict[str, str] = {}
    for item in items:
        if kinds.setdefault(item.family, item.kind) != item.kind:
            raise ValueError(f"metric family {item.family!r} is both a gauge and a counter")
        families.setdefault(item.family, []).append(item)
    lines: list[str] = []
    count = 0
    for family, members in families.items():
        # OpenMetrics wants each family's samples together, right after its TYPE line.
        lines.append(f"# TYPE {family} {kinds[family]}")
        for item in members:
            values = item.values.dropna()
            index = pd.DatetimeIndex(values.index)
            if index.tz is not None:
                index = index.tz_convert("UTC").tz_localize(None)
            if not index.is_monotonic_increasing or index.has_duplicates:
                raise ValueError(f"{item.key}: timestamps must be strictly increasing")
            seconds = index.as_unit("ns").asi8 / 1e9
            prefix = item.key
            lines.extend(
                f"{prefix} {float(v)!r} {int(t) if t == math.floor(t) else t!r}"
                for t, v in zip(seconds.tolist(), values.to_numpy(dtype=float).tolist(), strict=True)
            )
            count += len(values)
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")
    return count


@dataclass
class PrometheusServer:
    """A running Prometheus on 127.0.0.1 serving the backfilled ``series``."""

    url: str
    pid: int
    port: int
    data_dir: Path
    log_path: Path
    series: tuple[MetricSeries, ...]
    _process: subprocess.Popen | None = field(default=None, repr=False)

    def expected(self, key: str) -> pd.Series:
        """The series that was backfilled under ``key`` (``name`` or ``name{k="v",...}``, labels sorted)."""
        for item in self.series:
            if item.key == key:
                values = item.values.copy()
                values.index = pd.DatetimeIndex(values.index).as_unit("ns")  # the package's series contract
                return values
        raise KeyError(f"{key!r} not backfilled; have {[s.key for s in self.series]}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Terminate by PID, wait, kill if it does not go; safe to call twice."""
        proc, self._process = self._process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=_STOP_TIMEOUT_S)

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def require_prometheus() -> tuple[str, str]:
    """Paths of ``prometheus`` and ``promtool``; skips the test when missing, fails under CI."""
    prometheus = os.environ.get("PROMETHEUS_BIN") or shutil.which("prometheus")
    promtool = os.environ.get("PROMTOOL_BIN") or shutil.which("promtool")
    if prometheus and promtool:
        return prometheus, promtool
    missing = " and ".join(n for n, p in (("prometheus", prometheus), ("promtool", promtool)) if not p)
    reason = f"{missing} not on PATH (apt-get install prometheus, or run the project's test command)"
    if _ci():
        pytest.fail(f"CI must run the Prometheus tests: {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:  # noqa: S310 (127.0.0.1 only)
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_prometheus(
    tmp_dir: str | Path,
    series: Sequence[MetricSeries] | Mapping[str, pd.Series],
    *,
    ready_timeout_s: float = _READY_TIMEOUT_S,
    backfill_timeout_s: float = _BACKFILL_TIMEOUT_S,
) -> PrometheusServer:
    """Backfill ``series`` into a fresh TSDB under ``tmp_dir`` and start Prometheus on it (127.0.0.1)."""
    prometheus, promtool = require_prometheus()
    root = Path(tmp_dir)
    root.mkdir(parents=True, exist_ok=True)
    items = tuple(_as_metric_series(series))
    data_dir = root / "tsdb"
    data_dir.mkdir(exist_ok=True)
    om_path = root / "series.om.txt"
    write_openmetrics(items, om_path)
    cmd = [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(om_path), str(data_dir)]
    try:
        backfill = subprocess.run(
            cmd, capture_output=True, text=True, timeout=backfill_timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise PrometheusUnavailable(
            f"promtool backfill of {om_path.stat().st_size / 1e6:.1f} MB did not finish within "
            f"{backfill_timeout_s:.0f}s (pass backfill_timeout_s= for a slower machine or fewer samples): "
            + " ".join(cmd)
        ) from exc
    if backfill.returncode != 0:
        raise PrometheusUnavailable(
            f"promtool backfill failed ({backfill.returncode}): {backfill.stderr[-2000:] or backfill.stdout}"
        )
    config = root / "prometheus.yml"
    # No scrape targets: the server only serves what was backfilled.
    config.write_text("global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\nscrape_configs: []\n")
    log_path = root / "prometheus.log"
    last_error = ""
    for _attempt in range(3):  # another process may grab the free port between probe and bind
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={data_dir}",
            # Backfilled blocks lie in the past; time retention counts back from the newest block, keep all.
            "--storage.tsdb.retention.time=100y",
            # promtool writes 2h blocks; a max of 2h stops background compaction eating the test's CPU.
            "--storage.tsdb.max-block-duration=2h",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=info",
        ]
        with log_path.open("ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        server = PrometheusServer(
            url=url,
            pid=proc.pid,
            port=port,
            data_dir=data_dir,
            log_path=log_path,
            series=items,
            _process=proc,
        )
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _ready(url):
                return server
            time.sleep(0.05)
        last_error = server.log_tail()
        server.stop()
        if "address already in use" not in last_error:
            break
    raise PrometheusUnavailable(
        f"prometheus did not become ready within {ready_timeout_s:.0f}s: {' '.join(cmd)}\n{last_error}"
    )


def standard_series() -> list[MetricSeries]:
    """The data set of the shared ``prometheus_server`` (see the module docstring)."""
    from forecaster.sources.synthetic import live_streaming

    rps = live_streaming(days=21, step="1m", seed=0, start=STANDARD_START).rename("forecaster_test_rps")
    assert len(rps) == STANDARD_POINTS and rps.index[-1] == STANDARD_END
    step_s = STANDARD_STEP.total_seconds()
    # Requests counted in the step ending at each sample; the counter is their running sum.
    counts_a = np.cumsum(0.6 * rps.to_numpy() * step_s)
    counts_b_raw = 0.4 * rps.to_numpy() * step_s
    reset_at = int(rps.index.get_loc(COUNTER_RESET_AT))
    counts_b = np.cumsum(counts_b_raw)
    counts_b[reset_at:] -= counts_b[reset_at - 1] + counts_b_raw[reset_at] * 0.5  # restart: small value
    minutes = np.arange(24 * 60)
    gappy_index = pd.date_range(_GAPPY_START, periods=len(minutes), freq=STANDARD_STEP)
    gappy = pd.Series(100.0 + 50.0 * np.sin(2 * np.pi * minutes / (24 * 60)), index=gappy_index)
    for first, last in (SHORT_GAP, LONG_GAP):
        gappy[first:last] = np.nan
    return [
        MetricSeries("forecaster_test_rps", rps),
        MetricSeries(
            "http_requests_total",
            pd.Series(counts_a, index=rps.index),
            labels={"service": "live", "pod": "a"},
            kind="counter",
        ),
        MetricSeries(
            "http_requests_total",
            pd.Series(counts_b, index=rps.index),
            labels={"service": "live", "pod": "b"},
            kind="counter",
        ),
        MetricSeries("forecaster_test_gappy", gappy),
    ]


@pytest.fixture(scope="session")
def prometheus_binaries() -> tuple[str, str]:
    """``(prometheus, promtool)`` paths, or skip (fail under CI)."""
    return require_prometheus()


# One standard server per test session even when several modules import the fixture: pytest then holds one
# session-scoped fixture definition per importing module, so the server itself is shared and refcounted.
class _Shared:
    server: PrometheusServer | None = None
    users = 0


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """One Prometheus per test session serving :func:`standard_series`."""
    require_prometheus()
    server = _Shared.server
    if server is None or not server.running():
        server = start_prometheus(tmp_path_factory.mktemp("prometheus-standard"), standard_series())
        _Shared.server = server
    _Shared.users += 1
    try:
        yield server
    finally:
        _Shared.users -= 1
        if _Shared.users == 0:
            server.stop()
            _Shared.server = None


@pytest.fixture(scope="module")
def prometheus_factory(tmp_path_factory: pytest.TempPathFactory):
    """``start(series) -> PrometheusServer``; every server started is stopped when the module ends."""
    require_prometheus()
    started: list[PrometheusServer] = []

    def start(series: Sequence[MetricSeries] | Mapping[str, pd.Series]) -> PrometheusServer:
        server = start_prometheus(tmp_path_factory.mktemp("prometheus"), series)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
