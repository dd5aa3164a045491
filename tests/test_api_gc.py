"""The service and Python's garbage collector: the models loaded at start-up are frozen out of its reach, and
its pauses are exported.

Why it matters: at 1,000 targets the objects of every loaded model made a full collection take 0.1-1 s, and
no request is answered during one (every thread waits), so one collection during a load burst decides the
cached forecast's p99. No timing asserts: these check which objects the collector still scans.
"""

from __future__ import annotations

import gc
import urllib.request

import pandas as pd
import pytest

from forecaster.api.app import create_app
from forecaster.api.cache import ServingModel
from forecaster.api.settings import ServeSettings
from forecaster.settings import PrometheusSettings, TargetConfig
from tests.test_api_support import ServerThread

NOW = pd.Timestamp("2026-02-02 00:00:30")


def configs(count: int) -> list[TargetConfig]:
    return [
        TargetConfig(
            name=f"svc-{i}",
            prometheus=PrometheusSettings(
                url="http://127.0.0.1:9", query=f'up{{i="{i}"}}', step="1m", retries=0
            ),
        )
        for i in range(count)
    ]


def scanned(obj: object) -> bool:
    """Whether the collector's generations hold ``obj`` (frozen objects are in none of them)."""
    return any(o is obj for o in gc.get_objects())


@pytest.mark.parametrize("freeze", [True, False])
def test_the_models_loaded_at_start_up_are_out_of_the_collectors_reach_while_serving(freeze):
    loaded: list[ServingModel] = []

    def loader(cfg: TargetConfig) -> ServingModel:
        model = ServingModel.baseline(f"test model of {cfg.name}")
        loaded.append(model)
        return model

    app = create_app(
        ServeSettings(tick_s=3600, auth_token_env=None, gc_freeze=freeze),
        clock=lambda: NOW,
        targets=configs(3),
        model_loader=loader,
    )
    assert gc.get_freeze_count() == 0
    server = ServerThread(app).start()
    try:
        # The models loaded at start-up (the model refresher may load more later: those are not frozen).
        loaded = loaded[:3]
        assert len(loaded) == 3 and all(gc.is_tracked(m) for m in loaded)
        if freeze:
            assert gc.get_freeze_count() > 0
            assert not any(scanned(m) for m in loaded), "a full collection would scan every model again"
        else:
            assert gc.get_freeze_count() == 0
            assert all(scanned(m) for m in loaded)
    finally:
        server.stop()
    # Shut down: nothing stays frozen (the next app in this process, or a test, starts clean).
    assert gc.get_freeze_count() == 0
    assert all(scanned(m) for m in loaded)


def test_the_collectors_pauses_are_exported_by_generation():
    app = create_app(
        ServeSettings(tick_s=3600, auth_token_env=None),
        clock=lambda: NOW,
        targets=configs(1),
        model_loader=lambda cfg: None,
    )
    with ServerThread(app) as server:
        gc.collect()  # a full collection while the service runs
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as resp:  # noqa: S310
            body = resp.read().decode()
    counts = {
        line.split('generation="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("forecaster_gc_pause_seconds_count{")
    }
    assert counts.get("2", 0) >= 1, body[:2000]
    # Stopped: the service no longer hears of collections.
    assert not any(getattr(cb, "__self__", None) is app.state.service.metrics for cb in gc.callbacks)
