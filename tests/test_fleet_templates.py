"""Fleet templates against a real Prometheus: one ``by (service)`` query yields one target per service, fetched
in as few range queries as the 11,000-point limit allows (not one per service), capped, and trained from the
cluster with each template's status saying what it expanded to (or why it did not)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import forecaster.sources.prometheus as prometheus_module
from forecaster.cli import main
from forecaster.settings import PrometheusSettings
from forecaster.sources.prometheus import (
    NoSeriesError,
    TooManySeriesError,
    fetch_history,
    fetch_history_split,
)
from forecaster.sources.synthetic import live_streaming
from forecaster.store import ModelStore
from forecaster.templates import member_name, member_query
from tests.fake_kube_api import FakeKubeApiServer
from tests.prometheus_fixture import MetricSeries

pytestmark = pytest.mark.prometheus

SERVICES = [f"svc-{i}" for i in range(5)]
METRIC = "fleet_requests_rate"
QUERY = f"sum by (service) ({METRIC})"
NOW = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("h")
DAYS = 3


def _traffic(i: int) -> pd.Series:
    start = NOW - pd.Timedelta(days=DAYS)
    series = live_streaming(days=DAYS, step="1m", seed=i, start=start) * (1 + i)
    return series[series.index < NOW]


@pytest.fixture(scope="module")
def prometheus(prometheus_factory):
    return prometheus_factory(
        [
            MetricSeries(METRIC, _traffic(i), labels={"service": s, "zone": "a"})
            for i, s in enumerate(SERVICES)
        ]
    )


@pytest.fixture
def queries(monkeypatch):
    """Every query sent to Prometheus (retries included)."""
    sent: list[str] = []
    original = prometheus_module.PrometheusSource._query_range_once

    def counting(self, start_s, end_s, step_s, *, query):
        sent.append(query)
        return original(self, start_s, end_s, step_s, query=query)

    monkeypatch.setattr(prometheus_module.PrometheusSource, "_query_range_once", counting)
    return sent


def _settings(prometheus, **overrides) -> PrometheusSettings:
    fields = {"url": prometheus.url, "query": QUERY, "step": "1m", "history": "2d", "retries": 0}
    return PrometheusSettings(**(fields | overrides))


def test_every_series_in_the_same_few_range_queries(prometheus, queries):
    split = fetch_history_split(
        _settings(prometheus, max_points_per_query=1000), now=NOW, split_by=("service",), max_series=10
    )
    assert sorted(split) == [(s,) for s in SERVICES]
    points = 2 * 24 * 60
    assert queries[1:] == [QUERY] * -(-points // 1000), "chunked in time only, not one query per service"
    assert queries[0].startswith(f"count(last_over_time(({QUERY})[")
    for i, service in enumerate(SERVICES):
        got = split[(service,)]
        assert len(got) == points
        expected = _traffic(i).reindex(got.index)
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-9)


def test_a_member_query_selects_exactly_its_own_series(prometheus):
    settings = _settings(prometheus, query=member_query(QUERY, ("service",), ("svc-3",)))
    series = fetch_history(settings, now=NOW)  # raises if the query yielded more than one series
    expected = _traffic(3).reindex(series.index)
    np.testing.assert_allclose(series.to_numpy(), expected.to_numpy(), rtol=1e-9)


def test_too_many_series_stop_before_fetching_history(prometheus, queries):
    with pytest.raises(TooManySeriesError, match="yields 5 series, more than the cap of 3") as err:
        fetch_history_split(_settings(prometheus), now=NOW, split_by=("service",), max_series=3)
    assert err.value.count == 5 and len(queries) == 1 and queries[0].startswith("count("), (
        "no history fetched"
    )


def test_a_template_matching_nothing_is_an_error_naming_the_query(prometheus):
    settings = _settings(prometheus, query='sum by (service) (fleet_requests_rate{service="gone"})')
    with pytest.raises(NoSeriesError, match="matches no series"):
        fetch_history_split(settings, now=NOW, split_by=("service",), max_series=10)


def _template(name: str, prometheus, query: str = QUERY, **spec) -> dict:
    return {
        "apiVersion": "forecasting.forecaster.io/v1alpha1",
        "kind": "ForecastTarget",
        "metadata": {"name": name, "namespace": "forecaster", "generation": 1},
        "spec": {
            "prometheus": {
                "url": prometheus.url,
                "query": query,
                "step": "5m",
                "history": "2d",
                "retries": 0,
            },
            "model": {"lookback": "2h", "horizon": "30m", "hiddenSize": 8},
            "train": {"epochs": 1, "maxWindowsPerEpoch": 256, "backtest": "12h", "blend": False},
            "splitBy": ["service"],
            **spec,
        },
    }


@pytest.mark.slow
def test_templates_train_one_target_per_service_and_report_in_status(prometheus, tmp_path, capsys):
    with FakeKubeApiServer(rbac_checked=False) as fake:
        fake.put(_template("web", prometheus))
        fake.put(_template("capped", prometheus, maxTargets=2))
        fake.put(
            _template("empty", prometheus, query='sum by (service) (fleet_requests_rate{service="gone"})')
        )
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        models = tmp_path / "models"
        code = main(
            [
                "train",
                "--all",
                "--jobs",  # the members train in two worker processes, as in a pod of 2 CPUs
                "2",
                "--from-cluster",
                "--kubeconfig",
                str(kubeconfig),
                "--namespace",
                "forecaster",
                "--out",
                str(models),
            ]
        )
        statuses = {
            n: fake.get("forecasttargets", "forecaster", n)["status"] for n in ("web", "capped", "empty")
        }
    out = capsys.readouterr().out
    assert code == 3, out  # two templates could not expand

    web = statuses["web"]
    members = [member_name("web", (s,)) for s in SERVICES]
    assert web["generatedTargets"] == 5
    expanded = next(c for c in web["conditions"] if c["type"] == "Expanded")
    assert expanded["status"] == "True" and "5 series by (service)" in expanded["message"]
    assert web["lastTraining"]["outcome"] in {"Promoted", "NotPromoted"} and "lastError" not in web
    store = ModelStore(models)
    assert sorted(store.targets()) == members
    for name in members:
        assert len(store.versions(name)) == 1 and f"{name}: " in out

    capped = next(c for c in statuses["capped"]["conditions"] if c["type"] == "Expanded")
    assert (capped["status"], capped["reason"]) == ("False", "TooManySeries")
    assert "5 series, more than the cap of 2" in capped["message"]
    assert (
        statuses["capped"]["generatedTargets"] == 0
        and statuses["capped"]["lastTraining"]["outcome"] == "Failed"
    )
    empty = next(c for c in statuses["empty"]["conditions"] if c["type"] == "Expanded")
    assert (empty["status"], empty["reason"]) == ("False", "NoSeries") and "matches no series" in empty[
        "message"
    ]
