"""The real forecast provider's wiring (:class:`~forecaster.prescaler.forecasts.StoreForecastProvider`) for a
model-store target: which config, store, Prometheus settings and history window a policy's forecast uses,
how each missing piece becomes a reason (never an exception), and the recommendations read once per version.

Through its seams (``fetch``, ``stores``) with a stand-in model; no Prometheus, no training.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from forecaster.errors import ConfigError, ModelStoreError
from forecaster.prescaler.forecasts import StoreForecastProvider, fetch_forecast
from forecaster.prescaler.policy import parse_policy
from forecaster.recommendation import RecommendationError
from forecaster.settings import PrometheusSettings
from tests.prescaler_helpers import NOW, forecast_frame, policy
from tests.prescaler_helpers import history as recent
from tests.test_prescaler_tuning import V1, tuning_doc


class _Model:
    step = pd.Timedelta(minutes=1)
    lookback_steps = 20
    horizon_steps = 30
    events = None

    def predict(self, h):
        return forecast_frame(pd.Timestamp(h.index[-1]), p90=321.0)


class _Store:
    def __init__(self, root, *, promoted=True, fails=None, files=None):
        self.root, self.promoted, self.fails = root, promoted, fails
        self.files = files or {}
        self.asked = []
        self.reads = 0
        self.backend = SimpleNamespace(describe=lambda: root)

    def load_for(self, target, *, step, quantiles):
        self.asked.append((target, pd.Timedelta(step), tuple(quantiles)))
        if self.fails:
            raise self.fails
        if not self.promoted:
            return None
        return SimpleNamespace(model=_Model(), ref=SimpleNamespace(version=V1))

    def read_file(self, target, version, name):
        self.reads += 1
        return self.files.get((target, version, name))


@pytest.fixture
def training(tmp_path):
    (tmp_path / "live-streaming.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "live-streaming",
                "store": str(tmp_path / "store-of-config"),
                "prometheus": {
                    "url": "http://prom.monitoring:9090",
                    "query": "sum(rate(requests_total[1m]))",
                    "step": "1m",
                    "bearer_token_env": "PROM_TOKEN",
                },
                "model": {"quantiles": [0.5, 0.9]},
            }
        )
    )
    return tmp_path


def _provider(training, *, store=None, **store_kw):
    stores: dict[str, _Store] = {}
    fetched = []

    def fetch(settings, *, now, history: pd.Timedelta):
        fetched.append((settings, now, history))
        return recent(now, minutes=120)

    def make_store(root):
        stores[root] = _Store(root, **store_kw)
        return stores[root]

    provider = StoreForecastProvider(training_dir=training, store=store, fetch=fetch, stores=make_store)
    return provider, stores, fetched


@pytest.mark.parametrize(
    ("guard", "window"),
    [(None, pd.Timedelta(minutes=20)), ({"maxError": 0.3, "window": "2h"}, pd.Timedelta(hours=2))],
)
def test_a_store_target_uses_its_configs_prometheus_store_step_and_quantiles(training, guard, window):
    provider, stores, fetched = _provider(training)
    spec = {"accuracyGuard": guard} if guard else {}
    result, problem = fetch_forecast(provider, parse_policy(policy(**spec)), NOW)

    assert problem is None and result.model_version == V1
    assert float(result.frame["p90"].iloc[0]) == 321.0
    [(settings, now, length)] = fetched
    assert (settings.url, settings.query, settings.bearer_token_env) == (
        "http://prom.monitoring:9090",
        "sum(rate(requests_total[1m]))",
        "PROM_TOKEN",
    )
    assert now == NOW and length == window
    [(root, store)] = stores.items()
    assert root == str(training / "store-of-config")
    assert store.asked == [("live-streaming", pd.Timedelta(minutes=1), (0.5, 0.9))]
    assert provider.queries == 1


def test_the_store_flag_overrides_the_configs_store(training):
    provider, stores, _ = _provider(training, store="s3://bucket/models")
    fetch_forecast(provider, parse_policy(policy()), NOW)
    assert list(stores) == ["s3://bucket/models"]


@pytest.mark.parametrize(
    ("url", "keeps_token"),
    [
        ("http://prom.monitoring:9090/", True),
        ("http://other:9090", False),
        # URLs that only start like the configured one name other servers (another path, another port).
        ("http://prom.monitoring:9090/tenant-b", False),
        ("http://prom.monitoring:90901", False),
    ],
)
def test_a_policys_own_prometheus_url_gets_the_token_only_if_it_is_the_configured_one(
    training, url, keeps_token
):
    provider, _, fetched = _provider(training)
    obj = policy(forecast={"target": "live-streaming", "prometheusUrl": url})
    fetch_forecast(provider, parse_policy(obj), NOW)
    [(settings, _, _)] = fetched
    assert settings.url.rstrip("/") == url.rstrip("/")
    assert (settings.bearer_token_env == "PROM_TOKEN") is keeps_token
    assert settings.query == "sum(rate(requests_total[1m]))"


@pytest.mark.parametrize(
    ("target", "store_kw", "says"),
    [
        ("unknown-target", {}, "forecast target 'unknown-target' has no"),
        ("live-streaming", {"promoted": False}, "no promoted model for target 'live-streaming'"),
        ("live-streaming", {"fails": ModelStoreError("model v1 forecasts in steps of 5m")}, "steps of 5m"),
    ],
)
def test_every_missing_piece_is_a_reason_and_nothing_is_fetched(training, target, store_kw, says):
    provider, _, fetched = _provider(training, **store_kw)
    obj = policy(forecast={"target": target})
    result, problem = fetch_forecast(provider, parse_policy(obj), NOW)
    assert result is None and problem.startswith("forecast failed: ") and says in problem
    assert fetched == []


def test_recommendations_are_read_once_per_version(training):
    files = {("live-streaming", V1, "tuning.json"): json.dumps(tuning_doc()).encode()}
    provider, stores, _ = _provider(training, files=files)
    p = parse_policy(policy(tuning={"slo": "short-minutes=0.5%"}))
    first = provider.recommendation(p, V1)
    again = provider.recommendation(p, V1)
    assert first is again and first.slo == "short-minutes=0.5%"
    [store] = stores.values()
    assert store.reads == 1
    assert provider.recommendation(p, "20240502T000000Z-00000000") is None
    assert store.reads == 2
    assert (
        provider.recommendation(parse_policy(policy(forecast={"query": "q", "modelPath": "/m"})), V1) is None
    )


def test_an_unusable_recommendation_is_raised_every_time_but_read_once(training):
    files = {("live-streaming", V1, "tuning.json"): b"{not json"}
    provider, stores, _ = _provider(training, files=files)
    p = parse_policy(policy(tuning={"slo": "short-minutes=0.5%"}))
    for _ in range(2):
        with pytest.raises(RecommendationError, match="not valid JSON"):
            provider.recommendation(p, V1)
    [store] = stores.values()
    assert store.reads == 1


@pytest.mark.parametrize("kw", [{"predict_workers": 0}, {"predict_chunk": 0}])
def test_worker_and_chunk_counts_below_one_are_refused(kw):
    with pytest.raises(ConfigError):
        StoreForecastProvider(**kw)


def test_defaults_of_a_provider():
    provider = StoreForecastProvider()
    assert provider.prometheus == PrometheusSettings()
    assert provider.queries == 0 and provider.predict_workers == 1 and provider.predict_chunk == 128
