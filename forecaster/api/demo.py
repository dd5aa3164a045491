"""The embedded default target: synthetic live-streaming traffic on the wall clock, and its demo model.

With no target configs ``forecaster serve`` serves this one target so a new user sees forecasts at once. The
synthetic generator is a function of calendar time (hour of day, day of week), so it is laid onto the real
timeline: the series starts on a Monday two to three weeks before ``now`` and is cut at ``now``. The demo
model is trained in a background thread (the seasonal baseline serves meanwhile, and responses say so).
This module must not contact anything: no Prometheus, no network.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pandas as pd

from forecaster.api.cache import ServingModel
from forecaster.series import parse_duration
from forecaster.settings import ModelSettings, PrometheusSettings, TargetConfig, TrainSettings

__all__ = ["DEMO_TARGET", "SyntheticSource", "demo_target", "train_demo_model", "DemoTrainer"]

log = logging.getLogger(__name__)

DEMO_TARGET = "live-streaming-demo"
_SPAN_DAYS = 28
_TRAIN_DAYS = 10


def demo_target(*, store: str, epochs: int) -> TargetConfig:
    """The demo target's config: 1-minute steps, 30-minute horizon, a small LSTM that trains in seconds."""
    return TargetConfig(
        name=DEMO_TARGET,
        description="Synthetic live-streaming traffic (the embedded demo: no Prometheus needed)",
        prometheus=PrometheusSettings(query="", step="1m", history=f"{_TRAIN_DAYS}d"),
        model=ModelSettings(lookback="2h", horizon="30m", quantiles=(0.5, 0.9), hidden_size=32),
        train=TrainSettings(epochs=epochs, patience=2, max_windows_per_epoch=3000, batch_size=256),
        store=store,
    )


class SyntheticSource:
    """``live_streaming`` traffic anchored on the calendar, answering like a Prometheus source would."""

    def __init__(self, *, step: str = "1m", seed: int = 0) -> None:
        self.step = parse_duration(step)
        self.seed = seed
        self._lock = threading.Lock()
        self._anchor: pd.Timestamp | None = None
        self._series: pd.Series | None = None

    def _series_for(self, now: pd.Timestamp) -> pd.Series:
        from forecaster.sources.synthetic import live_streaming

        # A Monday between 14 and 21 days back: the generator's weekday pattern lines up with the calendar,
        # and 28 days from it reach past now. It moves once a week, so the series is regenerated weekly.
        back = (now - pd.Timedelta(days=14)).normalize()
        anchor = back - pd.Timedelta(days=int(back.day_of_week))
        with self._lock:
            if self._anchor != anchor or self._series is None:
                self._series = live_streaming(days=_SPAN_DAYS, step=self.step, seed=self.seed, start=anchor)
                self._anchor = anchor
            return self._series

    def fetch_recent(self, *, duration: pd.Timedelta, now: pd.Timestamp) -> pd.Series:
        series = self._series_for(now)
        out = series.loc[now - duration + pd.Timedelta(1, "ns") : now]
        out.index.freq = self.step
        return out


def train_demo_model(
    source: SyntheticSource, cfg: TargetConfig, *, now: pd.Timestamp, torch_threads: int = 1
) -> ServingModel:
    """Train the demo LSTM on the synthetic history up to ``now``, store and promote it, and return it."""
    import torch

    from forecaster.store import ModelStore
    from forecaster.training import fit_forecaster

    torch.set_num_threads(torch_threads)
    started = time.perf_counter()
    history = source.fetch_recent(duration=parse_duration(cfg.prometheus.history), now=now)
    model = fit_forecaster(history, model=cfg.model, train=cfg.train, name=cfg.name)
    seconds = round(time.perf_counter() - started, 1)
    store = ModelStore(cfg.store)
    ref = store.save(cfg.name, model, metrics={"demo": True, "train_seconds": seconds}, now=now)
    store.promote(cfg.name, ref.version, reason="demo model trained at startup", now=now)
    log.info("demo model %s trained in %.1fs", ref.version, seconds)
    return ServingModel.from_store(model, ref, note="demo model trained at startup on synthetic traffic")


class DemoTrainer:
    """Runs :func:`train_demo_model` in a daemon thread and hands the result to ``on_done``.

    A daemon thread because torch training cannot be interrupted; the service stops without waiting for it.
    """

    def __init__(
        self,
        train: Callable[[], ServingModel],
        *,
        on_done: Callable[[ServingModel], None],
        on_error: Callable[[str], None],
    ) -> None:
        self._train = train
        self._on_done = on_done
        self._on_error = on_error
        self.thread = threading.Thread(target=self._run, name="demo-trainer", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            model = self._train()
        except Exception as exc:  # noqa: BLE001 - the baseline keeps serving; say why in /readyz
            log.exception("demo model training failed")
            self._on_error(f"demo model training failed ({type(exc).__name__}: {exc}); baseline serving")
            return
        self._on_done(model)
