"""The prescaler's forecasts as a policy author and an operator rely on them (:mod:`forecaster.prescaler.forecasts`):
credentials go only to the Prometheus they were configured for, a forecast with any missing value is not acted
on, and the history read covers what the model and the accuracy guard need.

Through the public provider and :func:`fetch_forecast` with seams for Prometheus and the model (no network).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecaster.prescaler.forecasts import (
    ForecastResult,
    StoreForecastProvider,
    fetch_forecast,
    forecast_problem,
)
from forecaster.prescaler.policy import parse_policy
from forecaster.settings import PrometheusSettings
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, forecast_frame, history, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

INLINE = {"query": "sum(rate(http_requests_total[1m]))", "modelPath": "/models/web", "step": "1m"}


class _Model:
    step = pd.Timedelta(minutes=1)
    lookback_steps = 10

    def predict(self, history):
        return forecast_frame(pd.Timestamp(history.index[-1]), p90=300.0)


def _provider(configured: PrometheusSettings, asked: list) -> StoreForecastProvider:
    def fetch(settings, *, now, history):
        asked.append(settings)
        return history_of(now)

    return StoreForecastProvider(prometheus=configured, fetch=fetch, load_model=lambda path: _Model())


def history_of(now):
    return history(now, minutes=60)


CREDENTIALS = (
    PrometheusSettings(url="https://prom.ops:9090", bearer_token_file="/var/run/secrets/prom/token"),
    PrometheusSettings(url="https://prom.ops:9090", bearer_token_env="PROM_TOKEN"),
    PrometheusSettings(url="https://prom.ops:9090", basic_auth_user="ops", basic_auth_password_env="PROM_PW"),
)


def _secrets(s: PrometheusSettings) -> tuple:
    return (s.bearer_token_file, s.bearer_token_env, s.basic_auth_user, s.basic_auth_password_env)


@pytest.mark.parametrize("configured", CREDENTIALS, ids=["token file", "token env", "basic auth"])
def test_a_policy_naming_another_prometheus_gets_none_of_the_operators_credentials(configured):
    """Anyone who may create a policy may name their own server: it must receive no token, no token file's
    content and no basic-auth user or password, whichever of them the operator configured."""
    asked: list[PrometheusSettings] = []
    provider = _provider(configured, asked)
    elsewhere = parse_policy(policy(forecast={**INLINE, "prometheusUrl": "http://attacker.example:9090"}))

    result, problem = fetch_forecast(provider, elsewhere, NOW)

    assert problem is None and result is not None
    assert asked[0].url == "http://attacker.example:9090"
    assert _secrets(asked[0]) == (None, None, None, None)
    # Everything that is no secret still applies (TLS, timeouts, retries).
    assert (asked[0].timeout_s, asked[0].retries, asked[0].ca_file) == (
        configured.timeout_s,
        configured.retries,
        configured.ca_file,
    )


@pytest.mark.parametrize("configured", CREDENTIALS, ids=["token file", "token env", "basic auth"])
@pytest.mark.parametrize("url", ["https://prom.ops:9090", "https://prom.ops:9090/"])
def test_a_policy_naming_the_configured_prometheus_keeps_its_credentials(configured, url):
    asked: list[PrometheusSettings] = []
    provider = _provider(configured, asked)
    same = parse_policy(policy(forecast={**INLINE, "prometheusUrl": url}))

    result, problem = fetch_forecast(provider, same, NOW)

    assert problem is None and result is not None
    assert _secrets(asked[0]) == _secrets(configured)


@pytest.mark.parametrize(
    "where",
    [
        ("p90", 0),  # the first minute of the planned quantile
        ("p90", 29),  # its last minute
        ("p50", 12),  # one minute of the median only
    ],
)
def test_a_forecast_with_any_missing_value_is_not_acted_on(where):
    column, row = where
    frame = forecast_frame(NOW, p90=300.0)
    frame.iloc[row, frame.columns.get_loc(column)] = np.nan
    result = ForecastResult(frame=frame, history=history(NOW))
    p = parse_policy(policy())

    assert forecast_problem(result, p, NOW) == "the forecast contains NaN"


def _target_yaml(directory, *, store: str) -> None:
    (directory / "live-streaming.yaml").write_text(
        "name: live-streaming\n"
        f"store: {store}\n"
        "prometheus:\n  url: http://127.0.0.1:9090\n  query: sum(rate(http_requests_total[1m]))\n  step: 1m\n"
    )


@pytest.mark.parametrize(
    ("override", "read_from"), [(None, "/stores/config"), ("/stores/cli", "/stores/cli")]
)
def test_a_versions_recommendation_is_read_from_the_store_the_forecast_comes_from(
    tmp_path, override, read_from
):
    """``--store`` replaces every target's own store, for its models and for the recommendations stored with
    them alike; without it, the target's config names the store."""
    from tests.test_prescaler_tuning import V1, tuning_doc

    _target_yaml(tmp_path, store="/stores/config")
    opened: list[str] = []

    class Store:
        def __init__(self, root: str) -> None:
            opened.append(root)
            self.root = root

        def read_file(self, target, version, name):
            if self.root != read_from or (target, version) != ("live-streaming", V1):
                return None
            return json.dumps(tuning_doc()).encode()

    provider = StoreForecastProvider(training_dir=tmp_path, store=override, stores=Store)
    p = parse_policy(policy(tuning={"slo": "short-minutes=0.5%", "mode": "Recommend"}))

    rec = provider.recommendation(p, V1)

    assert rec is not None and rec.label == "shift-p50-+20% hpa@1"
    assert opened == [read_from]


@pytest.mark.parametrize(("override", "loaded_from"), [(None, "/models/web"), ("/models/cli", "/models/cli")])
def test_template_members_models_come_from_the_store_override_or_the_templates_store(
    fake_api, kube, override, loaded_from
):
    """``--store`` replaces the store every target names, template members included; without it the members'
    models come from the store their template's ForecastTarget names."""
    from forecaster.prescaler.forecasts import ClusterTargetConfigs
    from forecaster.prescaler.informer import WatchCache
    from forecaster.prescaler.kube import FORECAST_TARGETS
    from tests.test_behaviour_controller_templates import _Store, _template

    members = _template(fake_api, ["cart"], store="/models/web")
    roots: list[str] = []

    def stores(root):
        roots.append(root)
        return _Store()

    def fetch_split(settings, *, now, split_by, max_series, history):
        return {("cart",): history_of(now)}

    provider = StoreForecastProvider(
        targets=ClusterTargetConfigs(WatchCache(kube, FORECAST_TARGETS, namespace="forecaster")),
        store=override,
        stores=stores,
        fetch_split=fetch_split,
    )
    p = parse_policy(policy("p0", forecast={"target": members[0]}))

    result, problem = fetch_forecast(provider, p, NOW)

    assert problem is None and result is not None and result.model_version == f"{members[0]}-v1"
    assert roots == [loaded_from]
