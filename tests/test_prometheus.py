"""The Prometheus history source against a real Prometheus (backfilled with promtool, on 127.0.0.1).

One shared server (the ``prometheus_server`` fixture from :mod:`tests.prometheus_fixture`, registered in
``tests/conftest.py``) holds 21 days at 1 minute;
the clock is fixed at ``STANDARD_NOW``. No test sleeps: the backoff sleep is injected.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import SourceError
from forecaster.settings import PrometheusSettings
from forecaster.sources.prometheus import PrometheusSource, fetch_history
from tests.prometheus_fixture import (
    COUNTER_RESET_AT,
    LONG_GAP,
    SHORT_GAP,
    STANDARD_END,
    STANDARD_NOW,
    STANDARD_START,
    MetricSeries,
)

pytestmark = pytest.mark.prometheus

STEP = pd.Timedelta(minutes=1)
LOOKBACK = pd.Timedelta(minutes=5)  # Prometheus' default lookback delta


def _source(server, query: str, **overrides) -> tuple[PrometheusSource, list, list]:
    """A source whose range queries and backoff sleeps are recorded."""
    sleeps: list[float] = []
    settings = PrometheusSettings(url=server.url, query=query, **overrides)
    source = PrometheusSource(settings, sleep=sleeps.append)
    calls: list[tuple[datetime, datetime]] = []
    original = source.client.custom_query_range

    def recording(query, start_time, end_time, step, params=None, timeout=None):
        calls.append((start_time, end_time))
        return original(query, start_time=start_time, end_time=end_time, step=step, params=params)

    source.client.custom_query_range = recording
    return source, calls, sleeps


def _utc(ts: pd.Timestamp) -> datetime:
    return ts.tz_localize("UTC").to_pydatetime()


def test_21_days_at_1_minute_come_back_whole_in_order_in_chunks(prometheus_server):
    source, calls, _ = _source(prometheus_server, "forecaster_test_rps", max_points_per_query=10_000)
    with source:
        series = source.fetch_recent(duration="21d", now=STANDARD_NOW)

    assert len(series) == 30_240
    assert series.index[0] == STANDARD_START and series.index[-1] == STANDARD_END
    assert series.index.freq == STEP and series.index.is_monotonic_increasing and series.index.is_unique
    assert series.dtype == np.float64 and not series.isna().any()
    expected = prometheus_server.expected("forecaster_test_rps")
    np.testing.assert_array_equal(series.to_numpy(), expected.to_numpy())
    # 30,240 points under a 10,000-point limit: four queries, back to back, never overlapping.
    assert len(calls) == 4
    assert calls[0][0] == _utc(STANDARD_START) and calls[-1][1] == _utc(STANDARD_END)
    for (_, prev_end), (next_start, _) in zip(calls, calls[1:], strict=False):
        assert next_start - prev_end == STEP
    assert all((end - start) / STEP + 1 <= 10_000 for start, end in calls)


@pytest.mark.parametrize(
    ("max_points", "queries"),
    [(1, 120), (7, 18), (60, 2), (119, 2), (120, 1), (11_000, 1)],
)
def test_chunk_edges_are_neither_lost_nor_duplicated(prometheus_server, max_points, queries):
    start = STANDARD_START + pd.Timedelta(days=3)
    end = start + 119 * STEP
    source, calls, _ = _source(prometheus_server, "forecaster_test_rps", max_points_per_query=max_points)
    with source:
        series = source.fetch(start=start, end=end)
    assert len(calls) == queries
    pd.testing.assert_series_equal(
        series,
        prometheus_server.expected("forecaster_test_rps")[start:end],
        check_names=False,
        check_freq=False,
    )
    assert series.index.freq == STEP


def test_fetch_history_reads_settings_history_before_now(prometheus_server):
    settings = PrometheusSettings(url=prometheus_server.url, query="forecaster_test_rps", history="2h")
    series = fetch_history(settings, now=STANDARD_NOW)
    assert len(series) == 120 and series.index[-1] == STANDARD_END
    # A timezone-aware clock means the same instant.
    aware = fetch_history(settings, now=STANDARD_NOW.tz_localize("UTC").tz_convert("Europe/Paris"))
    pd.testing.assert_series_equal(series, aware)
    longer = fetch_history(settings, now=STANDARD_NOW, history="3h")
    assert len(longer) == 180


def test_gaps_long_stay_nan_short_are_interpolated_never_zero(prometheus_server):
    with PrometheusSource(
        PrometheusSettings(url=prometheus_server.url, query="forecaster_test_gappy")
    ) as source:
        series = source.fetch_recent(duration="1d", now=STANDARD_NOW)
    assert len(series) == 1440 and series.index.freq == STEP
    backfilled = prometheus_server.expected("forecaster_test_gappy")

    # Long gap (3 h): Prometheus repeats the last sample for its 5-minute lookback, the rest stays NaN.
    long_first, long_last = LONG_GAP
    before_long = backfilled[long_first - STEP]
    np.testing.assert_array_equal(series[long_first : long_first + LOOKBACK - STEP], before_long)
    assert series[long_first + LOOKBACK : long_last].isna().all()
    assert series.isna().sum() == len(series[long_first + LOOKBACK : long_last])

    # Short gap (10 min): lookback fills 5 minutes, the other 5 are interpolated linearly.
    short_first, short_last = SHORT_GAP
    gap = series[short_first:short_last]
    assert not gap.isna().any()
    held = backfilled[short_first - STEP]
    np.testing.assert_array_equal(gap[: short_first + LOOKBACK - STEP], held)
    after = backfilled[short_last + STEP]
    ramp = series[short_first + LOOKBACK - STEP : short_last + STEP]
    np.testing.assert_allclose(ramp.to_numpy(), np.linspace(held, after, len(ramp)))

    # Everything that was backfilled comes back as it was; nothing is invented as zero.
    present = backfilled.dropna()
    np.testing.assert_array_equal(series[present.index].to_numpy(), present.to_numpy())
    assert (series.dropna() > 0).all()


def test_gaps_longer_than_max_interp_gap_stay_nan(prometheus_server):
    settings = PrometheusSettings(url=prometheus_server.url, query="forecaster_test_gappy")
    with PrometheusSource(settings, max_interp_gap="2m") as source:
        series = source.fetch_recent(duration="1d", now=STANDARD_NOW)
    short_first, short_last = SHORT_GAP
    assert series[short_first + LOOKBACK : short_last].isna().all()


def test_counter_reset_under_rate_stays_positive_and_close_to_the_true_rate(prometheus_server):
    counter = prometheus_server.expected('http_requests_total{pod="b",service="live"}')
    assert counter[COUNTER_RESET_AT] < counter[COUNTER_RESET_AT - STEP]  # the data really has a reset
    true_rate = 0.4 * prometheus_server.expected("forecaster_test_rps")

    query = 'rate(http_requests_total{service="live",pod="b"}[5m])'
    with PrometheusSource(PrometheusSettings(url=prometheus_server.url, query=query)) as source:
        rate = source.fetch(
            start=COUNTER_RESET_AT - pd.Timedelta(hours=1), end=COUNTER_RESET_AT + pd.Timedelta(hours=1)
        )
    assert len(rate) == 121 and not rate.isna().any()
    assert (rate > 0).all()
    # rate() over 5 minutes estimates the mean of the last 5 minutes' true rate.
    truth = true_rate.rolling(5).mean()[rate.index]
    relative = (rate - truth).abs() / truth
    assert relative.max() < 0.15
    assert relative.median() < 0.03


def test_sum_of_rates_over_pods_is_one_series_matching_the_traffic(prometheus_server):
    query = 'sum(rate(http_requests_total{service="live"}[5m]))'
    with PrometheusSource(PrometheusSettings(url=prometheus_server.url, query=query)) as source:
        total = source.fetch_recent(duration="1d", now=STANDARD_NOW)
    truth = prometheus_server.expected("forecaster_test_rps").rolling(5).mean()[total.index]
    assert len(total) == 1440
    assert ((total - truth).abs() / truth).median() < 0.02


def test_bad_promql_is_a_source_error_naming_the_query_and_not_retried(prometheus_server):
    query = "sum(rate(http_requests_total[5m]"
    source, calls, sleeps = _source(prometheus_server, query)
    with source, pytest.raises(SourceError) as err:
        source.fetch_recent(duration="1h", now=STANDARD_NOW)
    message = str(err.value)
    assert query in message and "HTTP 400" in message and "parse error" in message
    assert len(calls) == 1 and sleeps == []


def test_execution_error_422_is_not_retried(prometheus_server):
    # Many-to-many matching fails at evaluation time (HTTP 422), not at parse time.
    query = "http_requests_total + on(service) http_requests_total"
    source, calls, sleeps = _source(prometheus_server, query)
    with source, pytest.raises(SourceError, match="HTTP 422") as err:
        source.fetch_recent(duration="1h", now=STANDARD_NOW)
    assert query in str(err.value) and "many-to-many" in str(err.value)
    assert len(calls) == 1 and sleeps == []


def test_several_series_name_the_label_sets_and_suggest_sum(prometheus_server):
    query = 'rate(http_requests_total{service="live"}[5m])'
    with (
        PrometheusSource(PrometheusSettings(url=prometheus_server.url, query=query)) as source,
        pytest.raises(SourceError) as err,
    ):
        source.fetch_recent(duration="1h", now=STANDARD_NOW)
    message = str(err.value)
    assert query in message and "2 series" in message
    assert '{pod="a",service="live"}' in message and '{pod="b",service="live"}' in message
    assert "sum(" in message


@pytest.mark.parametrize(
    ("query", "now"),
    [
        ("forecaster_metric_that_does_not_exist", STANDARD_NOW),
        ("forecaster_test_rps", STANDARD_START - pd.Timedelta(days=2)),  # before the history begins
    ],
)
def test_empty_result_names_the_query(prometheus_server, query, now):
    with (
        PrometheusSource(PrometheusSettings(url=prometheus_server.url, query=query)) as source,
        pytest.raises(SourceError, match="returned no data") as err,
    ):
        source.fetch_recent(duration="1d", now=now)
    assert repr(query) in str(err.value)


def test_nan_values_become_gaps_and_infinite_values_are_an_error(prometheus_server):
    # 1 where traffic is above 1500 rps, 0/0 = NaN elsewhere: NaN must turn into gaps, never zeros.
    query = "(forecaster_test_rps > bool 1500) / (forecaster_test_rps > bool 1500)"
    with PrometheusSource(PrometheusSettings(url=prometheus_server.url, query=query)) as source:
        series = source.fetch_recent(duration="2d", now=STANDARD_NOW)
    assert series.isna().any() and (series.dropna() == 1.0).all()

    with (
        PrometheusSource(
            PrometheusSettings(url=prometheus_server.url, query="forecaster_test_rps / 0")
        ) as source,
        pytest.raises(SourceError, match="infinite value"),
    ):
        source.fetch_recent(duration="1h", now=STANDARD_NOW)


def test_prometheus_down_is_a_source_error_after_the_retries(prometheus_factory):
    tiny = pd.Series(np.arange(1.0, 61.0), index=pd.date_range(STANDARD_START, periods=60, freq=STEP))
    server = prometheus_factory([MetricSeries("forecaster_test_tiny", tiny)])
    source, calls, sleeps = _source(server, "forecaster_test_tiny", retries=3, backoff_s=0.25)
    with source:
        assert len(source.fetch(start=STANDARD_START, end=STANDARD_START + 59 * STEP)) == 60
        server.stop()
        calls.clear()
        with pytest.raises(SourceError) as err:
            source.fetch(start=STANDARD_START, end=STANDARD_START + 59 * STEP)
    message = str(err.value)
    assert "forecaster_test_tiny" in message and server.url in message
    assert "4 attempt(s)" in message and "Connection refused" in message
    assert len(calls) == 4 and sleeps == [0.25, 0.5, 1.0]


def test_a_server_that_never_answers_times_out_instead_of_hanging():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (kernel backlog) but never answers
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    outcome: list[BaseException] = []
    sleeps: list[float] = []

    def fetch() -> None:
        settings = PrometheusSettings(url=url, query="up", timeout_s=0.2, retries=1, backoff_s=0.1)
        try:
            fetch_history(settings, now=STANDARD_NOW, history="1h", sleep=sleeps.append)
        except BaseException as exc:  # noqa: BLE001 (handed to the test thread)
            outcome.append(exc)

    worker = threading.Thread(target=fetch, daemon=True)
    try:
        worker.start()
        worker.join(timeout=30)  # a bound against a hang, far above the 2 x 0.2 s it needs
        assert not worker.is_alive(), "the fetch hung on a server that never answers"
    finally:
        listener.close()
    assert len(outcome) == 1 and isinstance(outcome[0], SourceError)
    assert "timed out after 0.2s" in str(outcome[0]) and "2 attempt(s)" in str(outcome[0])
    assert sleeps == [0.1]


def test_requests_are_sent_in_utc_whatever_the_clock_type(prometheus_server):
    source, calls, _ = _source(prometheus_server, "forecaster_test_rps")
    with source:
        a = source.fetch_recent(duration="10m", now=STANDARD_NOW.to_pydatetime())
        b = source.fetch_recent(duration="10m", now=_utc(STANDARD_NOW))
    pd.testing.assert_series_equal(a, b)
    assert a.index[-1] == STANDARD_END and calls[0] == calls[1]
    assert calls[0][1] == datetime(2026, 1, 25, 23, 59, tzinfo=UTC)


def test_a_backfill_that_runs_past_its_limit_says_so_and_how_to_give_it_longer(tmp_path, prometheus_binaries):
    from tests.prometheus_fixture import PrometheusUnavailable, start_prometheus

    minutes = pd.date_range("2026-01-01", periods=20_000, freq="1min")
    with pytest.raises(PrometheusUnavailable, match=r"did not finish within 0s \(pass backfill_timeout_s="):
        start_prometheus(
            tmp_path, {"forecaster_slow_backfill": pd.Series(1.0, index=minutes)}, backfill_timeout_s=0.001
        )
