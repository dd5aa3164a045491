"""`forecaster prescale` end to end (real provider, fake API server), the real forecast provider's wiring,
and the /metrics, /healthz, /readyz server."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
import yaml
from prometheus_client import CollectorRegistry

from forecaster.cli import main
from forecaster.prescaler.forecasts import StoreForecastProvider
from forecaster.prescaler.loop import Controller
from forecaster.prescaler.metrics import PrescalerMetrics, serve_metrics
from forecaster.prescaler.policy import parse_policy
from forecaster.prescaler.policy_sources import FilePolicySource
from forecaster.settings import PrometheusSettings
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, NS, FakeForecasts, deployment, hpa, policy

fake_api = prescaler_helpers.fake_api  # fixture


def write_policies(tmp_path, *objs) -> str:
    path = tmp_path / "policies.yaml"
    path.write_text(yaml.safe_dump_all(list(objs)))
    return str(path)


def test_once_with_policy_files_fails_safe_when_no_model_is_promoted(fake_api, tmp_path, capsys):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig")
    training = tmp_path / "training"
    training.mkdir()
    (training / "live-streaming.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "live-streaming",
                "prometheus": {"url": "http://127.0.0.1:9", "query": "sum(up)", "retries": 0},
            }
        )
    )
    policies = write_policies(tmp_path, policy(), policy("bad", capacityPerReplica=0))

    code = main(
        [
            "prescale",
            "--kubeconfig",
            str(kubeconfig),
            "--policies",
            policies,
            "--training-dir",
            str(training),
            "--store",
            str(tmp_path / "empty-store"),
            "--once",
        ]
    )

    assert code == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    outcomes = {line["key"]: line for line in lines if "key" in line}
    assert "no promoted model for target 'live-streaming'" in outcomes[f"{NS}/live-api"]["message"]
    assert "capacityPerReplica: must be > 0" in outcomes[f"{NS}/bad"]["message"]
    statuses = {line["policy"]: line["status"] for line in lines if "policy" in line}
    ready = {c["type"]: c for c in statuses[f"{NS}/live-api"]["conditions"]}["Ready"]
    assert ready["reason"] == "ForecastUnavailable"
    # Nothing touched but events: no HPA change, no policy object in the cluster to write.
    assert fake_api.get("horizontalpodautoscalers", NS, "live-api")["spec"]["minReplicas"] == 2
    assert {w.resource for w in fake_api.writes()} == {"events"}


def test_cli_rejects_inconsistent_leader_settings(fake_api, tmp_path, capsys):
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig")
    code = main(
        ["prescale", "--kubeconfig", str(kubeconfig), "--lease-duration", "5s", "--renew-period", "10s"]
    )
    assert code == 2
    assert "--renew-period (10s) must be shorter than --lease-duration (5s)" in capsys.readouterr().err


class TinyModel:
    """Predicts the last value, flat (stands in for a trained Forecaster)."""

    step = pd.Timedelta(minutes=1)
    lookback_steps = 30
    horizon_steps = 10

    def predict(self, history: pd.Series) -> pd.DataFrame:
        index = pd.date_range(history.index[-1] + self.step, periods=self.horizon_steps, freq=self.step)
        last = float(history.iloc[-1])
        return pd.DataFrame({"p50": np.full(10, last), "p90": np.full(10, last * 1.2)}, index=index)


def test_store_provider_runs_the_policy_query_through_the_model():
    calls = []

    def fetch(settings: PrometheusSettings, *, now, history):
        calls.append((settings, now, history))
        index = pd.date_range(end=now - pd.Timedelta(minutes=1), periods=120, freq="1min")
        return pd.Series(np.linspace(100, 500, 120), index=index)

    provider = StoreForecastProvider(fetch=fetch, load_model=lambda path: TinyModel())
    pol = parse_policy(
        policy(
            forecast={
                "query": 'sum(rate(http_requests_total{service="live-api"}[1m]))',
                "modelPath": "/models/x",
                "prometheusUrl": "http://prom:9090",
            },
            accuracyGuard={"maxError": 0.3, "window": "1h"},
        )
    )
    result = provider.forecast(pol, NOW)

    [(settings, now, window)] = calls
    assert settings.query == 'sum(rate(http_requests_total{service="live-api"}[1m]))'
    assert settings.url == "http://prom:9090" and now == NOW
    assert window == pd.Timedelta(hours=1)  # the guard's window is longer than the model's 30-minute lookback
    assert result.frame["p90"].iloc[0] == pytest.approx(600.0)
    assert result.history is not None and len(result.history) == 120


def test_controller_with_file_policies_and_no_cluster_reports_the_problem(tmp_path):
    source = FilePolicySource(write_policies(tmp_path, policy()))
    ctl = Controller(
        policies=source, forecasts=FakeForecasts(), kube=None, metrics=PrescalerMetrics(CollectorRegistry())
    )
    [outcome] = ctl.tick(NOW)
    assert not outcome.ready and "pass --kubeconfig" in outcome.message


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode()
        exc.close()
        return exc.code, body


def test_metrics_and_probes_are_served():
    metrics = PrescalerMetrics(CollectorRegistry())
    metrics.desired.labels(namespace=NS, policy="live-api").set(11)
    state = {"healthz": (True, "leader"), "readyz": (False, "first pass running")}
    server = serve_metrics(metrics, port=0, addr="127.0.0.1", health=lambda probe: state[probe])
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        status, body = get(base + "/metrics")
        assert status == 200
        assert 'forecaster_prescaler_desired_replicas{namespace="live",policy="live-api"} 11.0' in body
        assert 'forecaster_prescaler_errors_total{kind="forbidden"} 0.0' in body
        assert get(base + "/healthz") == (200, "leader")
        assert get(base + "/readyz") == (503, "first pass running")
        assert get(base + "/nope")[0] == 404
    finally:
        server.shutdown()
        server.server_close()


def test_health_follows_the_loop():
    ctl = Controller(policies=FilePolicySource(), forecasts=FakeForecasts(), kube=None)
    assert ctl.health("healthz") == (True, "starting") and ctl.health("readyz")[0] is False
    ctl._heartbeat, ctl._turns = time.monotonic(), 1
    assert ctl.health("readyz") == (True, "leader")
    ctl._heartbeat -= 10_000  # the loop has not turned for hours
    assert ctl.health("healthz")[0] is False


def test_inline_query_policies_keep_the_full_prometheus_settings(tmp_path):
    """Auth, TLS, timeouts and retries come from the controller's settings; the policy gives query, step, url."""
    from forecaster.errors import ConfigError
    from forecaster.prescaler.forecasts import load_prometheus_settings

    path = tmp_path / "prometheus.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "prometheus": {
                    "url": "https://thanos:10902",
                    "bearer_token_env": "PROM_TOKEN",
                    "ca_file": "/etc/ssl/prom-ca.pem",
                    "timeout_s": 7.5,
                    "retries": 1,
                }
            }
        )
    )
    calls = []

    def fetch(settings: PrometheusSettings, *, now, history):
        calls.append(settings)
        index = pd.date_range(end=now - pd.Timedelta(minutes=1), periods=60, freq="1min")
        return pd.Series(np.full(60, 100.0), index=index)

    provider = StoreForecastProvider(
        prometheus=load_prometheus_settings(path), fetch=fetch, load_model=lambda p: TinyModel()
    )
    inline = {"query": "sum(up)", "modelPath": "/models/x", "step": "1m"}
    provider.forecast(parse_policy(policy(forecast=inline)), NOW)
    provider.forecast(parse_policy(policy(forecast={**inline, "prometheusUrl": "http://prom:9090"})), NOW)

    for settings in calls:
        assert settings.query == "sum(up)" and settings.step == "1m"
        assert settings.ca_file == "/etc/ssl/prom-ca.pem"
        assert settings.timeout_s == 7.5 and settings.retries == 1
    assert [s.url for s in calls] == ["https://thanos:10902", "http://prom:9090"]
    # The operator's token goes to the operator's Prometheus only: a policy naming another URL (anyone who
    # may create a policy could name their own server) gets no credentials.
    assert calls[0].bearer_token_env == "PROM_TOKEN"
    assert calls[1].bearer_token_env is None and calls[1].bearer_token_file is None
    assert calls[1].basic_auth_user is None

    path.write_text(yaml.safe_dump({"url": "http://x:9090", "bearer_token": "inline-secret"}))
    with pytest.raises(ConfigError, match="unknown key\\(s\\) bearer_token"):
        load_prometheus_settings(path)
