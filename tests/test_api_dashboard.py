"""The Grafana dashboard (``k8s/dashboards/forecaster.json``): valid JSON, every query parses as PromQL (checked
by ``promtool``), and every metric it reads is one the forecast service or the prescaler actually exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import yaml

from forecaster.api.cache import ForecastService, ServingModel, TargetState
from forecaster.api.metrics import ServiceMetrics
from forecaster.prescaler.metrics import PrescalerMetrics
from forecaster.settings import PrometheusSettings, TargetConfig

DASHBOARD = Path(__file__).resolve().parents[1] / "k8s" / "dashboards" / "forecaster.json"
VARIABLES = {
    "$target": "live",
    "$horizon": "30m",
    "$namespace": "default",
    "$policy": "web",
    "${datasource}": "prom",
}


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _expressions(dashboard: dict) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if v.get("definition")]
    return exprs


def _substitute(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    # label_values() is Grafana's, not PromQL: check the selector inside it.
    match = re.fullmatch(r"label_values\((.*), *\w+\)", expr)
    return match.group(1) if match else expr


def test_dashboard_structure():
    d = _dashboard()
    assert d["uid"] == "forecaster" and d["schemaVersion"] >= 36
    names = [v["name"] for v in d["templating"]["list"]]
    assert {"datasource", "target", "horizon", "policy"} <= set(names)
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(p["title"] for p in d["panels"])
    for needle in ("actual vs forecast", "forecast error", "Desired vs current", "Prescaler mode"):
        assert needle in titles
    # The band: p90 fills down to p50.
    band = next(p for p in d["panels"] if "actual vs forecast" in p["title"])
    fills = [
        prop
        for o in band["fieldConfig"]["overrides"]
        for prop in o["properties"]
        if prop["id"] == "custom.fillBelowTo"
    ]
    assert fills == [{"id": "custom.fillBelowTo", "value": "p50"}]


def test_every_query_parses(tmp_path, prometheus_binaries):
    _, promtool = prometheus_binaries
    exprs = [_substitute(e) for e in _expressions(_dashboard())]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:q{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _exported_names() -> set[str]:
    """Sample names the service and the prescaler expose (with a forecast in the cache)."""
    from prometheus_client import generate_latest

    series = pd.Series(1.0 + pd.Series(range(3000)) % 60, dtype=float)
    series.index = pd.date_range("2026-01-01", periods=3000, freq="1min")

    class Source:
        def fetch_recent(self, *, duration, now):
            return series

    cfg = TargetConfig(name="live", prometheus=PrometheusSettings(query="up"))
    state = TargetState(
        config=cfg,
        source=Source(),
        model=ServingModel(
            predictor=None, kind="baseline", name="seasonal_naive_daily", trained_at="2026-01-01T00:00:00Z"
        ),
    )
    metrics = ServiceMetrics()
    svc = ForecastService(
        [state],
        clock=lambda: series.index[-1],
        max_history=pd.Timedelta("6h"),
        refresh_delay=pd.Timedelta("0s"),
        retry_interval=pd.Timedelta("10s"),
        stale_after_steps=3,
        metrics=metrics,
    )
    metrics.attach(svc)
    assert svc.refresh("live")
    metrics.request_duration.labels("/healthz", "GET", "200").observe(0.001)
    metrics.cache_requests.labels("live", "hit").inc()
    metrics.source_errors.labels("live").inc()
    prescaler = PrescalerMetrics()
    prescaler.desired.labels("default", "web").set(3)
    prescaler.current.labels("default", "web").set(2)
    prescaler.forecast_only.labels("default", "web").set(0)
    prescaler.degraded.labels("default", "web").set(0)
    prescaler.decisions.labels("default", "web", "forecast").inc()
    text = (metrics.render() + generate_latest(prescaler.registry)).decode()  # what each /metrics serves
    return {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")
    }


def test_dashboard_reads_only_exported_metrics():
    exported = _exported_names()
    used: set[str] = set()
    for expr in _expressions(_dashboard()):
        used |= set(re.findall(r"\b(forecaster_[a-z_]+)\b", expr))
    missing = sorted(used - exported)
    assert not missing, f"the dashboard queries metrics nobody exports: {missing}"
    assert {"forecaster_actual", "forecaster_forecast", "forecaster_prescaler_desired_replicas"} <= used
