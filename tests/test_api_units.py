"""Pure parts of the forecast service, driven with a fixed clock: settings, refresh scheduling, staleness,
rendering and ETags, the synthetic demo source; and the demo mode end to end (no config, no Prometheus)."""

from __future__ import annotations

import json
import threading

import httpx
import numpy as np
import pandas as pd
import pytest

from forecaster.api.cache import ForecastService, ServingModel, TargetState
from forecaster.api.demo import DEMO_TARGET, SyntheticSource
from forecaster.api.handlers import RequestFieldError
from forecaster.api.metrics import ServiceMetrics
from forecaster.api.quantiles import select_quantiles
from forecaster.api.routes.targets import _etag_matches
from forecaster.api.schemas import ForecastResponse
from forecaster.api.settings import ServeSettings, load_serve_settings
from forecaster.errors import ConfigError, SourceError
from forecaster.settings import ModelSettings, PrometheusSettings, TargetConfig
from tests.test_api_support import MutableClock, ServerThread, wait_for

T0 = pd.Timestamp("2026-02-02 12:00:00")


# -- settings -------------------------------------------------------------------------------------------------
def test_settings_file_then_environment(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("port: 9000\ncors_origins: [https://a.example]\nmax_history: 12h\ndemo_train: false\n")
    s = load_serve_settings(
        path, environ={"FORECASTER_SERVE_PORT": "9100", "FORECASTER_SERVE_TARGETS_DIR": "training"}
    )
    assert s.port == 9100  # the environment wins over the file
    assert s.cors_origins == ("https://a.example",) and s.max_history == "12h" and s.demo_train is False
    assert s.targets_dir == "training"
    env = load_serve_settings(
        environ={"FORECASTER_SERVE_CORS_ORIGINS": "https://x, https://y", "FORECASTER_SERVE_STORE": "none"}
    )
    assert env.cors_origins == ("https://x", "https://y") and env.store is None
    assert load_serve_settings(environ={}) == ServeSettings()


@pytest.mark.parametrize(
    ("yaml_text", "env", "needle"),
    [
        ("prot: 9000\n", {}, "unknown key(s) prot"),
        ("port: many\n", {}, "port"),
        ("", {"FORECASTER_SERVE_DEMO_TRAIN": "maybe"}, "FORECASTER_SERVE_DEMO_TRAIN: demo_train"),
        ("max_history: 1h\ndefault_history: 6h\n", {}, "default_history 6h exceeds max_history 1h"),
        ("refresh_delay: soon\n", {}, "cannot parse duration 'soon'"),
        ("port: 70000\n", {}, "not a TCP port"),
        ("- a\n- b\n", {}, "expected a mapping"),
    ],
)
def test_bad_settings_name_the_field(tmp_path, yaml_text, env, needle):
    path = tmp_path / "serve.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_serve_settings(path, environ=env)
    assert needle in str(err.value)


def test_auth_token_from_file_or_env(tmp_path, monkeypatch):
    assert ServeSettings(auth_token_env=None).auth_token() is None
    monkeypatch.setenv("MY_TOKEN", "abc")
    assert ServeSettings(auth_token_env="MY_TOKEN").auth_token() == "abc"
    (tmp_path / "t").write_text("  xyz\n")
    assert ServeSettings(auth_token_file=str(tmp_path / "t")).auth_token() == "xyz"
    with pytest.raises(ConfigError, match="cannot read auth_token_file"):
        ServeSettings(auth_token_file=str(tmp_path / "missing")).auth_token()


# -- the cache, with a fixed clock and a fake source --------------------------------------------------------
class CountingSource:
    def __init__(self, series: pd.Series) -> None:
        self.series = series
        self.calls = 0
        self.fail = False

    def fetch_recent(self, *, duration, now):
        self.calls += 1
        if self.fail:
            raise SourceError("Prometheus at http://127.0.0.1:1 unreachable", hint="check it")
        return self.series.loc[now - duration + pd.Timedelta(1, "ns") : now - pd.Timedelta("1min")]


def _service(clock, *, source=None):
    series = pd.Series(
        100 + 50 * np.sin(np.arange(4 * 1440) * 2 * np.pi / 1440),
        index=pd.date_range(T0 - pd.Timedelta(days=3), periods=4 * 1440, freq="1min"),
    )
    source = source or CountingSource(series)
    cfg = TargetConfig(
        name="web", prometheus=PrometheusSettings(query="up", step="1m"), model=ModelSettings()
    )
    state = TargetState(config=cfg, source=source, model=ServingModel.baseline("no trained model"))
    svc = ForecastService(
        [state],
        clock=clock,
        max_history=pd.Timedelta("24h"),
        refresh_delay=pd.Timedelta("10s"),
        retry_interval=pd.Timedelta("15s"),
        stale_after_steps=3,
        metrics=ServiceMetrics(),
    )
    svc.models_loaded = True
    return svc, state, source


@pytest.mark.parametrize(
    ("description", "advance", "fail", "due"),
    [
        ("same step, before the refresh delay has passed", "5s", False, False),
        ("same step, after the delay: still the same bucket", "9s", False, False),
        ("next step plus the delay", "70s", False, True),
        ("failure, retry interval not over", "10s", True, False),
        ("failure, retry interval over", "16s", True, True),
    ],
)
def test_refresh_is_due_once_per_step(description, advance, fail, due):
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, source = _service(clock)
    assert svc.due(state, clock()) and svc.refresh("web")
    if fail:
        source.fail = True
        svc.refresh("web")
    clock.advance(advance)
    assert svc.due(state, clock()) is due, description


def test_failed_refresh_keeps_last_forecast_and_says_why():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, source = _service(clock)
    svc.refresh("web")
    entry = state.entry
    assert svc.stale_reason(state, clock()) is None
    source.fail = True
    clock.advance("1min")
    assert svc.refresh("web") is False
    assert state.entry is entry  # the last good forecast stays
    reason = svc.stale_reason(state, clock())
    assert reason.startswith("history query failed: Prometheus at http://127.0.0.1:1 unreachable")
    ready, reasons, degraded = svc.readiness()
    assert ready and reasons == [] and any("stale" in d for d in degraded)
    assert svc.metrics.source_errors.labels("web")._value.get() == 1


def test_overdue_forecast_is_stale_without_errors():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, _ = _service(clock)
    svc.refresh("web")
    clock.advance("3min")
    assert svc.stale_reason(state, clock()) is None
    clock.advance("1s")
    assert svc.stale_reason(state, clock()) == "not refreshed for more than 3m"


def test_rendered_body_splices_age_and_matches_schema():
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, state, _ = _service(clock)
    assert svc.render(state, quantiles=("p50",), history_steps=60, now=clock()) is None  # nothing yet
    svc.refresh("web")
    a = svc.render(state, quantiles=("p50", "p90"), history_steps=60, now=clock())
    b = svc.render(state, quantiles=("p50", "p90"), history_steps=60, now=clock())
    assert a is b  # rendered once per view
    body = ForecastResponse.model_validate(json.loads(a.body(12.25)))
    assert body.age_s == 12.2 or body.age_s == 12.3
    assert (
        len(body.actual.values) == 60
        and body.model.kind == "baseline"
        and body.model.note == "no trained model"
    )
    assert body.model.name == "seasonal_naive_daily"
    # The seasonal naive forecast of a daily sine is the sine a day earlier.
    expected = 100 + 50 * np.sin(np.arange(30) * 2 * np.pi / 1440)
    np.testing.assert_allclose(body.forecast.values["p50"], expected, atol=0.01)
    other = svc.render(state, quantiles=("p90",), history_steps=60, now=clock())
    assert other.etag != a.etag


def test_not_ready_before_models_load_or_first_forecast():
    clock = MutableClock(T0)
    svc, _state, _ = _service(clock)
    svc.models_loaded = False
    assert svc.readiness() == (False, ["models are still loading"], [])
    svc.models_loaded = True
    ready, reasons, _ = svc.readiness()
    assert not ready and reasons == ["web: no forecast yet: first refresh has not finished"]


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('W/"abc"', True),
        ('"abc"', True),
        ('"x", W/"abc"', True),
        ("*", True),
        ('W/"abd"', False),
        ("", False),
    ],
)
def test_etag_weak_comparison(header, matches):
    assert _etag_matches(header, 'W/"abc"') is matches


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, ("p50", "p90")),
        ("", ("p50", "p90")),
        ("p90", ("p90",)),
        ("P90, p50", ("p50", "p90")),
        ("p90,p90", ("p90",)),
    ],
)
def test_quantiles_parameter(text, expected):
    assert select_quantiles(text, ["p50", "p90"], location="query") == expected
    # The body's list is read by the same rule.
    as_list = None if text is None else text.split(",")
    assert select_quantiles(as_list, ["p50", "p90"], location="body") == expected


@pytest.mark.parametrize(
    ("asked", "location", "field", "message"),
    [
        ("p33", "query", "quantiles", "'p33' is not forecast for this target; available: p50, p90"),
        (["p50", "p33"], "body", "quantiles.1", "'p33' is not forecast for this target; available: p50, p90"),
        ("median", "query", "quantiles", "quantile 'median' is not of the form p50, p90"),
        (["median"], "body", "quantiles.0", "quantile 'median' is not of the form p50, p90"),
        ("p50,p90,p95", "query", "quantiles", "at most 2 quantiles: p50, p90"),
        (["p50", "p90", "p95"], "body", "quantiles", "at most 2 quantiles: p50, p90"),
    ],
)
def test_quantiles_refused_alike_in_query_and_body(asked, location, field, message):
    with pytest.raises(RequestFieldError) as err:
        select_quantiles(asked, ["p50", "p90"], location=location)
    assert (err.value.location, err.value.field, err.value.message) == (location, field, message)


# -- the demo -----------------------------------------------------------------------------------------------
def test_synthetic_source_lies_on_the_calendar():
    source = SyntheticSource()
    now = pd.Timestamp("2026-03-04 20:30:00")  # a Wednesday, during the evening show
    recent = source.fetch_recent(duration=pd.Timedelta("2h"), now=now)
    assert len(recent) == 120 and recent.index[-1] == now and recent.index.freq == pd.Timedelta("1min")
    # The scheduled 20:00 show is a jump at 20:00 on the real clock.
    assert recent.loc["2026-03-04 20:05"] > 1.4 * recent.loc["2026-03-04 19:55"]
    # Same timestamp, same value, whatever "now" asks for it (within the anchor week).
    later = source.fetch_recent(duration=pd.Timedelta("3h"), now=now + pd.Timedelta("1h"))
    assert later.loc["2026-03-04 20:00"] == recent.loc["2026-03-04 20:00"]


@pytest.mark.slow
def test_demo_mode_serves_at_once_then_switches_to_its_trained_model(monkeypatch):
    """No config at all: the synthetic target serves the baseline at once, then its freshly trained model."""
    import forecaster.api.app as app_module

    settings = ServeSettings(tick_s=0.05, demo_epochs=1, auth_token_env=None)
    # Training is held until the baseline has been seen, so the "serves at once" case is always the one tested
    # (without the hold, training could finish before the first request on a fast machine).
    release = threading.Event()
    train = app_module.train_demo_model

    def held_training(*args, **kwargs):
        assert release.wait(timeout=60), "the test never released the demo training"
        return train(*args, **kwargs)

    monkeypatch.setattr(app_module, "train_demo_model", held_training)
    with ServerThread(app_module.create_app(settings)) as server:
        client = httpx.Client(base_url=server.url, timeout=30)
        url = f"/v1/targets/{DEMO_TARGET}/forecast"
        wait_for(lambda: client.get("/readyz").status_code == 200, what="ready")
        first = client.get(url).json()
        assert first["model"]["kind"] == "baseline"
        assert first["model"]["note"] == "the demo model is training; seasonal baseline serves meanwhile"
        assert len(first["forecast"]["values"]["p50"]) == 30
        assert any("demo model is training" in d for d in client.get("/readyz").json()["degraded"])
        release.set()
        trained = wait_for(
            lambda: (body := client.get(url).json())["model"]["kind"] == "model" and body,
            timeout_s=120,
            what="demo model",
        )
        assert trained["model"]["version"] and trained["model"]["name"] == "quantile_lstm"
        assert len(trained["forecast"]["values"]["p50"]) == 30
        targets = client.get("/v1/targets").json()["targets"]
        assert [t["name"] for t in targets] == [DEMO_TARGET]
        assert targets[0]["metrics"]["demo"] is True
        client.close()


def test_serve_command_fails_with_one_clear_line(tmp_path, capsys):
    from forecaster.cli import main

    assert main(["serve", "--targets", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("forecaster serve: error: no target configs (*.yaml) in") and "\n" not in err
    bad = tmp_path / "serve.yaml"
    bad.write_text("port: lots\n")
    assert main(["serve", "--config", str(bad)]) == 2
    assert "port" in capsys.readouterr().err
