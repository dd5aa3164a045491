"""Scheduled-events benchmark: the prescaler with the calendar vs the same model without it vs the HPA alone.

For each seed, the synthetic live-streaming scenario with irregularly scheduled streams
(:func:`forecaster.sources.synthetic.live_streaming_events`: three kinds, sizes varying per event, ~7% of the
entries cancelled, ~30% starting late, unannounced spikes on top) at 5 minutes, ``--days`` long; the last
``--replay-days`` are replayed minute by minute (pods ready 3 minutes after start, the prescaler's lead 3
minutes, policy ``shift-p90`` as in bench/replay.py), the LSTM (15 epochs by default) fitted on
everything before, once with the calendar and once without. Scaled so that the replayed peak of the 5-minute
samples needs 30 replicas. The replayed minutes are the scenario's own 1-minute load (:func:`minute_load`:
equal to the 5-minute series at its samples, a stream coming at its real minute);
``--linear-minutes`` replays a straight line between the 5-minute samples instead (as before, to compare).

Measured against the issue-12 targets:

- under-provisioned minutes in the first 30 minutes after each scheduled start (entries that were not
  cancelled): with the calendar vs the HPA alone and vs the model without the calendar;
- p50 WAPE in the 30-minute windows after scheduled starts (every origin from a horizon before the start),
  and outside them, with vs without the calendar;
- replica-minutes vs the HPA alone and vs the perfect-foresight oracle;
- what each cancelled entry costs: entries that never happen are added to the calendar in quiet hours of the
  replay (4 a seed; the scenario's own cancelled entries rarely fall into the replayed days) and the replay
  is run again with them: the replica-minutes it spends more in [start - 30 min, start + 60 min), before
  and after the announced start, and when its extra pods go, each against its allowance "the lead time's
  worth": lead minutes x the extra pods raised for that entry (its peak);
- where the short minutes in the windows are: minutes since the scheduled start, streams on time or late;
- the same network without the event profile (``calendar_network_only``), and a plot of the largest
  announced start of the first seed (``events.png``).

Writes ``bench/results/events.md`` and ``events.json``.

    python bench/events.py [--seeds 0,1,2] [--days 28] [--replay-days 8] [--epochs 15] [--cache DIR]
                           [--late-s SECONDS] [--hold-share] [--judge-every-step] [--dump]
    python bench/events.py --merge DIR [DIR ...] --out OUT

One process per seed uses every core: run each seed with its own ``--out DIR``, then ``--merge`` their
folders into one report. ``--dump`` also writes every replayed minute of the runs (``seedN.npz``: load, and
ready pods, pods and floor of each run) and the seed's calendar (``seedN-calendar.json``), to trace a
short minute or a cancelled entry's pods afterwards.

A waiting entry (its start passed, no rise yet) holds its whole uplift until the learnt late-start time;
``--hold-share`` holds only the learnt P(the stream still comes) share of it (``fit_event_profile(hold_share=
True)``, to compare the two holds). ``--late-s`` replaces the late-start time each
profile learnt from its calendar's past entries (how long an entry is held without a rise before it counts
as cancelled), with the whole uplift held: to measure that trade-off, not to tune.
The runs with the calendar judge entries from every minute of load (``judged_by_minute``);
``--judge-every-step`` judges them only at the model's 5-minute origins, to compare.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecaster.event_profile import fit_event_profile, judged_by_minute, marking_event_steps
from forecaster.event_scores import EVENT_WINDOW, event_window_mask, event_window_wape
from forecaster.events import Calendar, Event, bind_calendar
from forecaster.hpa import HPAConfig
from forecaster.model import Forecaster
from forecaster.scaling import ScalingPolicy
from forecaster.settings import ModelSettings, TrainSettings
from forecaster.simulate import ClusterConfig, ReplayConfig, predictor_forecasts, prepare_trace, replay
from forecaster.sources.synthetic import LiveStreamingShape, live_streaming_events
from forecaster.training import fit_forecaster

HERE = Path(__file__).resolve().parent
REPLICAS_AT_PEAK = 30
LEAD_S = 180.0
QUANTILE_OUTSIDE_EVENTS = 0.78
"""The policy's ``quantile_outside_events``: p90 at the steps scheduled starts reach, this quantile (linear
between the networks' p50 and p90) elsewhere; 0.8 was the best of 0.6-0.9 on the development seeds 0-2, 6-8
(README, Scheduled events), 0.78 since session 14 pays for :data:`EVENT_BAND_SCALE`. ``--quantile-outside-events
0.9`` plans on the p90 everywhere, as before."""
EVENT_LOOKAHEAD_S = 180.0
"""The policy's ``event_lookahead_s``: at the event steps, plan the largest planned load of the event steps up
to this long ahead (README, Scheduled events: 60-600 s measured on the development seeds with
bench/event_policies.py; 180 s, one pod start-up, is the longest that kept +10% over the HPA on both groups).
``--event-lookahead 0``: each step its own value, as before."""
EVENT_LOOKBEHIND_S = 120.0
"""The policy's ``event_lookbehind_s``: at the event steps, also the largest planned load of the event steps up
to this long before (a started stream's capacity steps down that much later than its forecast falls; README,
Scheduled events, session 13: 60-300 s measured on the development seeds with bench/event_policies.py).
``--event-lookbehind 0``: none, as before."""
EVENT_BAND_SCALE = 1.15
"""The policy's ``event_band_scale``: at the event steps, plan p50 + this x (p90 - p50): the size of a start is
what the short minutes after on-time starts lack on the development seeds (README, Scheduled events, session 14:
0-2 16 -> 14, 6-8 25 -> 14 short minutes with p78 outside events). ``--event-band-scale 1``: the p90, as before."""


def _config(
    cap: float,
    quantile_outside_events: float | None = QUANTILE_OUTSIDE_EVENTS,
    event_lookahead_s: float = EVENT_LOOKAHEAD_S,
    event_lookbehind_s: float = EVENT_LOOKBEHIND_S,
    event_band_scale: float = EVENT_BAND_SCALE,
) -> ReplayConfig:
    return ReplayConfig(
        hpa=HPAConfig(capacity_per_replica=cap, max_replicas=200),
        policy=ScalingPolicy(
            capacity_per_replica=cap,
            max_replicas=200,
            quantile_outside_events=quantile_outside_events,
            event_lookahead_s=event_lookahead_s,
            event_lookbehind_s=event_lookbehind_s,
            event_band_scale=event_band_scale,
            lead_time_s=LEAD_S,
            plan="shift",
            scale_down_stabilization_s=0.0,
        ),
        cluster=ClusterConfig(pod_startup_s=180),
    )


def minute_load(native: pd.Series, *, days: float, seed: int) -> pd.Series:
    """The scenario's load every minute, equal to ``native`` (its 5-minute series, what the models train on)
    at each 5-minute instant.

    The generator's noise is drawn per step, so a 1-minute scenario has other noise (and other 5-minute
    values) than the 5-minute one. The same seed draws the same events before any noise, so the clean load
    (daily cycle, streams, spikes) is computed every minute: a stream starts at its real minute, not on a
    straight line from the 5-minute sample before it. Only the noise factor (``native`` / clean load at
    5 minutes) is interpolated between the samples, linearly in its logarithm. The grid ends at the last
    5-minute instant, as :func:`forecaster.simulate.prepare_trace` ends its interpolation."""
    quiet = LiveStreamingShape(noise=0.0)
    clean = live_streaming_events(days=days, step="1m", seed=seed, shape=quiet).series
    clean_native = live_streaming_events(days=days, step="5m", seed=seed, shape=quiet).series
    if not clean_native.index.equals(native.index):
        raise ValueError("minute_load: native is not the scenario's 5-minute series for these days")
    clean = clean.loc[: native.index[-1]]
    log_noise = np.log(native.to_numpy(dtype=float) / clean_native.to_numpy(dtype=float))
    minutes = clean.index.as_unit("ns").asi8
    factor = np.exp(np.interp(minutes, native.index.as_unit("ns").asi8, log_noise))
    out = pd.Series(clean.to_numpy(dtype=float) * factor, index=clean.index, name=native.name)
    out.loc[native.index] = native.to_numpy(dtype=float)  # exactly the samples (not just to rounding)
    return out


def _fit(  # noqa: ANN202
    train_part: pd.Series,
    *,
    settings: TrainSettings,
    name: str,
    events,  # noqa: ANN001
    cache: Path | None,
    late_s: float | None = None,
    hold_share: bool = False,
):
    """Train (or, with ``cache``, load the network trained before and refit only the event profile)."""
    model = _fit_or_load(
        train_part, settings=settings, name=name, events=events, cache=cache, hold_share=hold_share
    )
    if late_s is not None and model.event_profile is not None:
        # A fixed hold: the whole uplift until late_s, not the learnt P(still comes) (still_comes=None).
        model.event_profile = dataclasses.replace(model.event_profile, late_s=float(late_s), still_comes=None)
    return model


def _fit_or_load(  # noqa: ANN202
    train_part: pd.Series,
    *,
    settings: TrainSettings,
    name: str,
    events,  # noqa: ANN001
    cache: Path | None,
    hold_share: bool = False,
):
    if cache is not None:
        where = cache / f"seed{settings.seed}-{len(train_part)}-{settings.epochs}-{name}"
        if where.exists():
            model = Forecaster.load(where)
            if events is not None:
                model.event_profile = fit_event_profile(
                    train_part.to_numpy(dtype=float),
                    pd.DatetimeIndex(train_part.index),
                    events,
                    season=model.spec.season,
                    horizon=model.spec.horizon,
                    upper_quantile=max(model.quantiles),
                    hold_share=hold_share,
                )
            return model
    model = fit_forecaster(train_part, model=ModelSettings(), train=settings, name=name, events=events)
    if hold_share and model.event_profile is not None:
        model.event_profile = fit_event_profile(
            train_part.to_numpy(dtype=float),
            pd.DatetimeIndex(train_part.index),
            events,
            season=model.spec.season,
            horizon=model.spec.horizon,
            upper_quantile=max(model.quantiles),
            hold_share=True,
        )
    if cache is not None:
        kept = copy.copy(model)
        kept.event_profile = None  # refitted on load: the profile's code may change between runs
        kept.save(where)
    return model


def _forecasts(  # noqa: ANN202
    model,  # noqa: ANN001
    native: pd.Series,
    *,
    start: pd.Timestamp,
    by_minute: bool = True,
    judged_marks: bool = True,
):
    """The replay's forecast function for ``model``: its forecasts on its own grid and, for a model with an
    event profile and a calendar, revised with every minute of load the prescaler reads
    (:func:`forecaster.event_profile.judged_by_minute`)."""
    fn = predictor_forecasts(model, native, start=start)
    profile = getattr(model, "event_profile", None)
    calendar = getattr(model, "calendar", None)
    if calendar is not None:
        if by_minute and profile is not None:
            fn = judged_by_minute(fn, profile=profile, calendar=calendar)
        # The steps the calendar's entries reach, for a policy with quantile_outside_events: with the profile,
        # only those of the entries still live as judged from the load read so far (a cancelled one marks none).
        fn = marking_event_steps(fn, calendar, profile=profile if judged_marks else None)
    return fn


def run_seed(
    seed: int,
    *,
    days: float,
    replay_days: float,
    epochs: int,
    cache: Path | None = None,
    ghosts_per_seed: int = 4,
    late_s: float | None = None,
    by_minute: bool = True,
    judged_marks: bool = True,
    hold_share: bool = False,
    dump: Path | None = None,
    quantile_outside_events: float | None = QUANTILE_OUTSIDE_EVENTS,
    linear_minutes: bool = False,
    event_lookahead_s: float = EVENT_LOOKAHEAD_S,
    event_lookbehind_s: float = EVENT_LOOKBEHIND_S,
    event_band_scale: float = EVENT_BAND_SCALE,
) -> dict:
    started = time.perf_counter()
    cpu_started = time.process_time()
    scenario = live_streaming_events(days=days, step="5m", seed=seed)
    native, calendar = scenario.series, scenario.calendar
    split = native.index[-1] - pd.Timedelta(days=replay_days) + pd.Timedelta(minutes=5)
    # The replay's load every minute: the scenario's own (a start at 19:07 comes at 19:07), or, with
    # linear_minutes, a straight line between the 5-minute samples (as before). The models read ``native``.
    trace = prepare_trace(
        native if linear_minutes else minute_load(native, days=days, seed=seed), name=f"seed {seed}"
    )
    # The 5-minute samples' replayed peak = 30 replicas (the same capacity per replica for both loads).
    cap = float(native.loc[split:].max()) / REPLICAS_AT_PEAK
    config = _config(cap, quantile_outside_events, event_lookahead_s, event_lookbehind_s, event_band_scale)
    out: dict = {
        "seed": seed,
        "replay_start": str(split),
        "replay_end": str(trace.index[-1]),
        "quantile_outside_events": quantile_outside_events,
        "event_lookahead_s": event_lookahead_s,
        "event_lookbehind_s": event_lookbehind_s,
        "event_band_scale": event_band_scale,
        "judged_marks": judged_marks,
        "linear_minutes": linear_minutes,
        "minute_peak_replicas": float(trace.loc[split:].max()) / cap,
    }
    # The same settings as `forecaster simulate` (make_forecast_fn): a few epochs on a bounded sample.
    settings = TrainSettings(seed=seed, epochs=epochs, max_windows_per_epoch=8000)
    train_part = native.loc[native.index < split]
    models = {
        name: bind_calendar(
            _fit(
                train_part,
                settings=settings,
                name=name,
                events=events,
                cache=cache,
                late_s=late_s,
                hold_share=hold_share,
            ),
            events,
        )
        for name, events in (("calendar", calendar), ("no_calendar", None))
    }
    profile = models["calendar"]._inner.event_profile
    out["late_s"] = profile.late_s if profile is not None else None
    # The same network without the event profile: what the network's event inputs achieve alone.
    network_only = copy.copy(models["calendar"]._inner)
    network_only.event_profile = None
    network_only.reset()
    models["calendar_network_only"] = bind_calendar(network_only, calendar)
    # Entries that never happen, added to the calendar in quiet hours of the replay: what each one costs.
    ghosts = _ghost_entries(scenario, start=split, seed=seed, count=ghosts_per_seed)
    models["calendar_with_ghosts"] = bind_calendar(
        models["calendar"]._inner, Calendar.of([*calendar.events, *ghosts])
    )
    fns = {
        name: _forecasts(model, native, start=split, by_minute=by_minute, judged_marks=judged_marks)
        for name, model in models.items()
    }
    results = {
        "calendar": replay(trace, config=config, forecast_fn=fns["calendar"], replay_start=split),
        **{
            name: replay(
                trace, config=config, forecast_fn=fns[name], replay_start=split, include=("prescaler",)
            )
            for name in ("no_calendar", "calendar_network_only", "calendar_with_ghosts")
        },
    }
    base = results["calendar"]
    runs = {
        "hpa": base.runs["hpa"],
        "oracle": base.runs["oracle"],
        "prescaler_calendar": base.runs["prescaler"],
        "prescaler_no_calendar": results["no_calendar"].runs["prescaler"],
        "prescaler_calendar_network_only": results["calendar_network_only"].runs["prescaler"],
    }
    index = pd.DatetimeIndex(base.load.index)
    load = base.load.to_numpy()
    cancelled = {e.start for e in scenario.cancelled}
    held = Calendar.of([e for e in calendar.events if e.start not in cancelled])
    in_window = event_window_mask(index, held, window=EVENT_WINDOW)
    starts_replayed = [e for e in held.events if index[0] <= e.start.tz_localize(None) <= index[-1]]
    out["scheduled_starts"] = len(starts_replayed)
    out["cancelled_entries"] = sum(
        1 for e in scenario.cancelled if index[0] <= e.start.tz_localize(None) <= index[-1]
    )
    out["replayed_minutes"] = len(index)
    out["runs"] = {}
    for name, run in runs.items():
        short = run.ready * cap < load - 1e-9
        out["runs"][name] = {
            "short_minutes": int(short.sum()),
            "short_minutes_in_event_windows": int((short & in_window).sum()),
            "replica_minutes": float(run.pods.sum()),
        }
    # Cancelled entries: what the calendar run spends more than the run without it around each one.
    lead_min = int(LEAD_S / 60)
    extra = []
    for e in scenario.cancelled:
        at = e.start.tz_localize(None)
        sel = (index >= at - pd.Timedelta(minutes=30)) & (index < at + pd.Timedelta(minutes=30))
        if sel.sum() < 60:
            continue
        extra.append(
            float(runs["prescaler_calendar"].pods[sel].sum() - runs["prescaler_no_calendar"].pods[sel].sum())
        )
    # The lead time's worth: lead minutes x the replicas a real event adds at its peak (oracle, over the hour before).
    adds = []
    for e in starts_replayed:
        at = e.start.tz_localize(None)
        before = (index >= at - pd.Timedelta(minutes=30)) & (index < at)
        after = (index >= at) & (index < at + EVENT_WINDOW)
        if before.any() and after.any():
            adds.append(float(runs["oracle"].ready[after].max() - runs["oracle"].ready[before].mean()))
    out["cancelled_extra_replica_minutes"] = extra
    ghost_run = results["calendar_with_ghosts"].runs["prescaler"]
    out["ghosts"] = [
        _ghost_cost(
            e, index=index, load=load, cap=cap, with_ghosts=ghost_run, without=runs["prescaler_calendar"]
        )
        for e in ghosts
    ]
    # Where the short minutes in the windows are: minutes since the scheduled start, on time or late streams.
    out["short_by_offset"] = _short_by_offset(
        held, scenario.actual_starts, index=index, short=runs["prescaler_calendar"].ready * cap < load - 1e-9
    )
    out["lead_time_worth_replica_minutes"] = lead_min * float(np.mean(adds)) if adds else float("nan")
    out["still_comes"] = list(profile.still_comes) if profile is not None and profile.still_comes else None
    out["short_causes"] = _short_causes(
        held, scenario.actual_starts, index=index, load=load, cap=cap, run=runs["prescaler_calendar"]
    )
    out["replica_minutes_by_zone"] = _replica_minutes_by_zone(
        scenario, index=index, runs={k: runs[k] for k in ("hpa", "oracle", "prescaler_calendar")}
    )

    if dump is not None:
        # Every replayed minute of the runs, to trace a short minute or a cancelled entry's pods afterwards.
        dump.mkdir(parents=True, exist_ok=True)
        arrays = {"minutes_ns": index.as_unit("ns").asi8, "load": load, "cap": np.array([cap])}
        for name, run in {**runs, "prescaler_calendar_with_ghosts": ghost_run}.items():
            for field in ("ready", "pods", "floor"):
                if getattr(run, field, None) is not None:
                    arrays[f"{name}.{field}"] = np.asarray(getattr(run, field))
        np.savez_compressed(dump / f"seed{seed}.npz", **arrays)
        (dump / f"seed{seed}-calendar.json").write_text(
            json.dumps(
                {
                    "held": [[str(e.start), e.kind, e.expected] for e in held.events],
                    "cancelled": [[str(e.start), e.kind, e.expected] for e in scenario.cancelled],
                    "actual_starts": [[str(a), k] for a, k in scenario.actual_starts],
                    "ghosts": [[str(e.start), e.kind, e.expected] for e in ghosts],
                    "surprises": [str(a) for a in scenario.surprises],
                }
            )
        )

    # One event to plot: the largest announced start of the replay (needed replicas and ready capacity).
    biggest = max(starts_replayed, key=lambda e: e.expected or 0.0, default=None)
    if biggest is not None:
        at = biggest.start.tz_localize(None)
        sel = (index >= at - pd.Timedelta(minutes=30)) & (index < at + pd.Timedelta(minutes=90))
        out["plot"] = {
            "start": str(biggest.start),
            "kind": biggest.kind,
            "expected": biggest.expected,
            "minutes": ((index[sel] - at).total_seconds() / 60).tolist(),
            "needed": (load[sel] / cap).tolist(),
            **{name: runs[name].ready[sel].astype(float).tolist() for name in runs if name != "oracle"},
        }

    # Forecast accuracy around scheduled starts (5-minute grid, the replayed range), with and without calendar.
    start_pos = int(native.index.searchsorted(split))
    del models["calendar_with_ghosts"]
    for name, model in models.items():
        score = event_window_wape(model, native, held, start=start_pos)
        out[f"wape_{name}"] = {"in_windows": score.wape_in_windows, "outside": score.wape_outside}
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["cpu_seconds"] = round(time.process_time() - cpu_started, 1)
    return out


OFFSET_BUCKETS = ((0, 5), (5, 10), (10, 30))
"""Minutes after a scheduled start that the short-minute breakdown groups."""


def _short_by_offset(held: Calendar, actual_starts, *, index: pd.DatetimeIndex, short: np.ndarray) -> dict:  # noqa: ANN001
    """Short minutes in the windows after scheduled starts, by minutes since the start and by whether the
    stream started on time or late (its real start from the scenario, the same kind within 10 minutes)."""
    out = {f"{lo}-{hi} min, {late}": 0 for lo, hi in OFFSET_BUCKETS for late in ("on time", "late")}
    for e in held.events:
        at = e.start.tz_localize(None)
        real = [
            a for a, kind in actual_starts if kind == e.kind and 0 <= (a - e.start).total_seconds() <= 600
        ]
        late = "late" if real and min(real) > e.start else "on time"
        for lo, hi in OFFSET_BUCKETS:
            sel = (index >= at + pd.Timedelta(minutes=lo)) & (index < at + pd.Timedelta(minutes=hi))
            out[f"{lo}-{hi} min, {late}"] += int(short[sel].sum())
    return out


SHORT_CAUSES = (
    "late stream: released while waiting",
    "forecast below the load",
    "raised less than a start-up before",
    "raised in time, pods not ready",
)
"""Why a minute in a window after a scheduled start is short (:func:`_short_causes`)."""


def _real_start(e: Event, actual_starts) -> pd.Timestamp:  # noqa: ANN001
    real = [a for a, kind in actual_starts if kind == e.kind and 0 <= (a - e.start).total_seconds() <= 600]
    return min(real) if real else e.start


def _short_causes(
    held: Calendar,
    actual_starts,  # noqa: ANN001
    *,
    index: pd.DatetimeIndex,
    load: np.ndarray,
    cap: float,
    run,  # noqa: ANN001
) -> dict:
    """Each short minute in the windows after scheduled starts, by cause (a minute in two windows counts once,
    for the first): a late stream whose floor fell while it was awaited (the minute within 8 minutes of its
    real start); else the prescaler's floor below the load that minute (the forecast too low: size or
    level); else a floor that reached the load less than a pod start-up before; else pods not ready."""
    out = dict.fromkeys(SHORT_CAUSES, 0)
    if run.floor is None:
        return out
    need = load / cap
    short = run.ready * cap < load - 1e-9
    startup = int(LEAD_S / 60)
    counted: set[int] = set()
    for e in held.events:
        at = e.start.tz_localize(None)
        s0 = int(index.searchsorted(at))
        if not (0 < s0 < len(index)):
            continue
        real_min = (_real_start(e, actual_starts) - e.start).total_seconds() / 60
        for m in range(s0, min(s0 + int(EVENT_WINDOW / pd.Timedelta(minutes=1)), len(index))):
            if not short[m] or m in counted:
                continue
            counted.add(m)
            off = m - s0
            dipped = run.floor[s0 : m + 1].min() < run.floor[s0 - 1] - 0.5  # fell after the announced start
            if real_min > 0 and real_min - 1 <= off < real_min + 8 and dipped:
                out[SHORT_CAUSES[0]] += 1
            elif run.floor[m] < need[m]:
                out[SHORT_CAUSES[1]] += 1
            elif m >= startup and run.floor[m - startup] < need[m]:
                out[SHORT_CAUSES[2]] += 1
            else:
                out[SHORT_CAUSES[3]] += 1
    return out


ZONES = ("around starts", "around cancelled entries", "around unannounced spikes", "elsewhere")
"""Where replica-minutes are spent (:func:`_replica_minutes_by_zone`)."""


def _replica_minutes_by_zone(scenario, *, index: pd.DatetimeIndex, runs: dict) -> dict:  # noqa: ANN001
    """Replica-minutes of each run from 30 minutes before to 60 after each scheduled start that happened, the
    same around the scenario's cancelled entries, from 10 minutes before to 60 after unannounced spikes, and
    elsewhere (a minute in two zones counts in the first)."""
    zone = np.full(len(index), len(ZONES) - 1)
    cancelled = {e.start for e in scenario.cancelled}

    def mark(at: pd.Timestamp, before_min: int, after_min: int, z: int) -> None:
        lo, hi = index.searchsorted(
            [at - pd.Timedelta(minutes=before_min), at + pd.Timedelta(minutes=after_min)]
        )
        zone[lo:hi] = np.minimum(zone[lo:hi], z)

    for e in scenario.calendar.events:
        mark(e.start.tz_localize(None), 30, 60, 1 if e.start in cancelled else 0)
    for at in scenario.surprises:
        mark(at.tz_localize(None), 10, 60, 2)
    return {
        name: {z: float(run.pods[zone == i].sum()) for i, z in enumerate(ZONES)} for name, run in runs.items()
    }


def _ghost_cost(
    e: Event, *, index: pd.DatetimeIndex, load: np.ndarray, cap: float, with_ghosts, without
) -> dict:  # noqa: ANN001
    """What one entry that never happens costs: pods of the run with it minus the run without it in
    [start - 30 min, start + 60 min), before and after the announced start, against its allowance: the lead
    time x the extra pods raised for it (its peak)."""
    at = e.start.tz_localize(None)
    sel = (index >= at - pd.Timedelta(minutes=30)) & (index < at + pd.Timedelta(minutes=60))
    diff = with_ghosts.pods[sel] - without.pods[sel]
    offset = ((index[sel] - at).total_seconds() / 60).to_numpy()
    peak = float(diff.max())
    after = offset >= 0
    # Released: the first minute after the start with fewer than half its extra pods still up.
    low = np.nonzero(after & (diff < 0.5 * peak))[0] if peak > 0 else np.array([], dtype=int)
    # Where the pods after the start come from: the prescaler's floor still raised for the entry (waiting for
    # a late stream), or the HPA holding them after the floor went (its scale-down stabilisation and pacing).
    floor_with, floor_without = getattr(with_ghosts, "floor", None), getattr(without, "floor", None)
    if floor_with is not None and floor_without is not None:
        down = np.nonzero(after & (floor_with[sel] - floor_without[sel] <= 0))[0]
        floor_off = float(offset[down[0]]) if len(down) else float("inf")
    else:
        floor_off = float("nan")
    held = after & (offset < floor_off)
    gone = after & (offset >= floor_off)
    return {
        "floor_released_min_after_start": floor_off,
        "while_floor_held": float(diff[held].sum()),
        "after_floor_released": float(np.clip(diff[gone], 0.0, None).sum()),
        "start": str(e.start),
        "kind": e.kind,
        "extra_replica_minutes": float(diff.sum()),
        "before_start": float(diff[~after].sum()),
        "after_start": float(diff[after].sum()),
        "peak_extra_pods": peak,
        "allowance_replica_minutes": LEAD_S / 60 * max(peak, 0.0),
        "released_min_after_start": float(offset[low[0]]) if len(low) else float("nan"),
        "minutes_with_extra_pods": int((diff > 0).sum()),
        "short_minutes_added": int(
            (with_ghosts.ready[sel] * cap < load[sel] - 1e-9).sum()
            - (without.ready[sel] * cap < load[sel] - 1e-9).sum()
        ),
    }


def _ghost_entries(scenario, *, start: pd.Timestamp, seed: int, count: int) -> list[Event]:  # noqa: ANN001
    """``count`` calendar entries that never happen, in the replayed range, at least three hours from any
    real entry or unannounced spike, of the scenario's kinds with hints drawn from that kind's entries."""
    rng = np.random.default_rng(10_000 + seed)
    busy = [e.start for e in scenario.calendar.events] + list(scenario.surprises)
    end = scenario.series.index[-1] - pd.Timedelta(hours=2)
    kinds = scenario.calendar.kinds
    out: list[Event] = []
    for _ in range(2000):
        if len(out) >= count:
            break
        day = start.normalize() + pd.Timedelta(days=int(rng.integers(0, max(1, (end - start).days + 1))))
        at = (day + pd.Timedelta(minutes=int(rng.integers(9 * 60, 23 * 60)))).tz_localize("UTC")
        if not (start.tz_localize("UTC") + pd.Timedelta(hours=3) <= at <= end.tz_localize("UTC")):
            continue
        if any(abs((at - b).total_seconds()) < 3 * 3600 for b in [*busy, *(g.start for g in out)]):
            continue
        kind = kinds[int(rng.integers(len(kinds)))]
        hints = [e.expected for e in scenario.calendar.events if e.kind == kind and e.expected is not None]
        expected = float(rng.choice(hints)) if hints else None
        out.append(Event(start=at, kind=kind, end=at + pd.Timedelta(hours=1), expected=expected))
    return out


def _outside(results: list[dict]) -> str:
    """How the runs planned outside the steps calendar entries reach (their ``quantile_outside_events``)."""
    qs = sorted({r.get("quantile_outside_events") for r in results}, key=lambda q: -1 if q is None else q)
    if qs in ([None], [0.9]):
        return ""
    marks = {r.get("judged_marks") for r in results}
    steps = (
        "the event steps: from the start of each entry still live as judged from the load"
        if marks == {True}
        else "the event steps: 30 minutes before each announced start to an hour after it"
        if marks <= {False, None}
        else "the event steps (mixed runs)"
    )
    return " (" + ", ".join("p90" if q is None else f"p{q * 100:g}" for q in qs) + f" outside {steps})"


def _lookahead(results: list[dict]) -> str:
    """The runs' ``event_lookahead_s``, when any is set."""
    found = sorted({float(r.get("event_lookahead_s") or 0.0) for r in results})
    behind = sorted({float(r.get("event_lookbehind_s") or 0.0) for r in results})
    text = ""
    if found != [0.0]:
        text = (
            ", each event step planned on the largest of the event steps up to "
            + " / ".join(f"{v / 60:g}" for v in found)
            + " minutes after it"
        )
    band = sorted({float(r.get("event_band_scale") or 1.0) for r in results})
    if behind != [0.0]:
        text += (
            (" and " if text else ", each event step planned on the largest of the event steps ")
            + "up to "
            + " / ".join(f"{v / 60:g}" for v in behind)
            + " minutes before it"
        )
    if band != [1.0]:
        text += ", the event steps on p50 + " + " / ".join(f"{v:g}" for v in band) + " x (p90 - p50)"
    return text


def _pct_cut(before: float, after: float) -> str:
    return f"{(1 - after / before):.1%}" if before else "-"


def report(results: list[dict], args: argparse.Namespace) -> str:
    total = {
        k: sum(r["runs"][k]["short_minutes_in_event_windows"] for r in results) for k in results[0]["runs"]
    }
    cost = {k: sum(r["runs"][k]["replica_minutes"] for r in results) for k in results[0]["runs"]}
    wape = {
        n: {w: float(np.mean([r[f"wape_{n}"][w] for r in results])) for w in ("in_windows", "outside")}
        for n in ("calendar", "no_calendar", "calendar_network_only")
    }
    extra = [x for r in results for x in r["cancelled_extra_replica_minutes"]]
    ghost_extra = [g["extra_replica_minutes"] for r in results for g in r["ghosts"]]
    ghosts = [{**g, "seed": r["seed"]} for r in results for g in r["ghosts"]]
    ghost_allow = [g["allowance_replica_minutes"] for g in ghosts]
    ghost_ok = sum(1 for g in ghosts if g["extra_replica_minutes"] <= g["allowance_replica_minutes"])
    worth = float(np.nanmean([r["lead_time_worth_replica_minutes"] for r in results]))
    days = sum(r["replayed_minutes"] for r in results) / 1440
    starts = sum(r["scheduled_starts"] for r in results)
    cal, nocal, hpa, oracle = (
        total[k] for k in ("prescaler_calendar", "prescaler_no_calendar", "hpa", "oracle")
    )
    lines = [
        "# Scheduled events benchmark (bench/events.py)",
        "",
        f"Synthetic live-streaming scenario with irregularly scheduled streams, seeds {args.seeds}; each "
        f"{args.days:g} days at 5 minutes, the last {args.replay_days:g} replayed minute by minute "
        f"({days:.1f} replayed days, {starts} scheduled starts that happened); LSTM {args.epochs} epochs trained "
        "on everything before the replay, once with the calendar and once without; pods ready 3 minutes after "
        f"start, prescaler lead 3 minutes, policy shift-p90{_outside(results)}{_lookahead(results)}; replayed "
        "peak of the 5-minute "
        "samples = 30 replicas. Replayed load: "
        + (
            "a straight line between the 5-minute samples (`--linear-minutes`)."
            if results[0].get("linear_minutes")
            else "the scenario's 1-minute load (the 5-minute samples at theirs, the noise interpolated "
            f"between them); its replayed peak needs {max(r['minute_peak_replicas'] for r in results):.1f} "
            "replicas."
        ),
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| short minutes in the 30 min after scheduled starts: >= 95% fewer than the HPA alone | "
        f"{_pct_cut(hpa, cal)} ({hpa} -> {cal}) | {'yes' if hpa and cal <= 0.05 * hpa else 'no'} |",
        f"| ... and >= 80% fewer than the same model without the calendar | {_pct_cut(nocal, cal)} "
        f"({nocal} -> {cal}) | {'yes' if nocal and cal <= 0.2 * nocal else 'no'} |",
        f"| WAPE in those windows <= 0.5x without the calendar | {wape['calendar']['in_windows']:.3f} vs "
        f"{wape['no_calendar']['in_windows']:.3f} "
        f"({wape['calendar']['in_windows'] / wape['no_calendar']['in_windows']:.2f}x) | "
        f"{'yes' if wape['calendar']['in_windows'] <= 0.5 * wape['no_calendar']['in_windows'] else 'no'} |",
        f"| WAPE outside the windows within 2% of without | {wape['calendar']['outside']:.3f} vs "
        f"{wape['no_calendar']['outside']:.3f} | "
        f"{'yes' if wape['calendar']['outside'] <= 1.02 * wape['no_calendar']['outside'] else 'no'} |",
        f"| replica-minutes <= +10% over the HPA alone | "
        f"{cost['prescaler_calendar'] / cost['hpa'] - 1:+.1%} | "
        f"{'yes' if cost['prescaler_calendar'] <= 1.1 * cost['hpa'] else 'no'} |",
        f"| replica-minutes <= +10% over the oracle | {cost['prescaler_calendar'] / cost['oracle'] - 1:+.1%} | "
        f"{'yes' if cost['prescaler_calendar'] <= 1.1 * cost['oracle'] else 'no'} |",
        f"| a cancelled entry costs at most the lead time's worth of extra pods (allowance per entry: "
        f"{LEAD_S / 60:.0f} lead minutes x the extra pods raised for it) | "
        f"{ghost_ok} of {len(ghosts)} entries within; mean "
        f"{np.mean(ghost_extra) if ghost_extra else float('nan'):.1f} extra replica-minutes per entry "
        f"(before the start {np.mean([g['before_start'] for g in ghosts]) if ghosts else float('nan'):.1f}, "
        f"after it {np.mean([g['after_start'] for g in ghosts]) if ghosts else float('nan'):.1f}) vs mean "
        f"allowance {np.mean(ghost_allow) if ghost_allow else float('nan'):.1f}; extra pods released "
        f"{np.nanmean([g['released_min_after_start'] for g in ghosts]) if ghosts else float('nan'):.1f} "
        f"minutes after the start on average | {'yes' if ghosts and ghost_ok == len(ghosts) else 'no'} |",
        "",
        f"The same network without the event profile (`calendar_network_only`): WAPE in the windows "
        f"{wape['calendar_network_only']['in_windows']:.3f}, outside {wape['calendar_network_only']['outside']:.3f}; "
        f"short minutes in the windows {total['prescaler_calendar_network_only']}, replica-minutes "
        f"{cost['prescaler_calendar_network_only'] / cost['hpa'] - 1:+.1%} over the HPA. "
        f"Cancelled entries of the scenario itself in the replayed ranges: {len(extra)} "
        f"({', '.join(f'{x:.0f}' for x in extra) or '-'} extra replica-minutes against the run without the "
        "calendar, the hour around each).",
        "",
        "All runs (summed over seeds):",
        "",
        "| run | short minutes (all) | short minutes in event windows | replica-minutes |",
        "|---|---:|---:|---:|",
    ]
    for k in results[0]["runs"]:
        lines.append(
            f"| {k} | {sum(r['runs'][k]['short_minutes'] for r in results)} | {total[k]} | {cost[k]:.0f} |"
        )
    lines += ["", f"Oracle short minutes in event windows: {oracle} (never short by construction).", ""]
    lines += [
        "Late-start time (how long an entry is held without a rise, then dropped), learnt from each seed's "
        "calendar: "
        + ", ".join(f"seed {r['seed']}: {r['late_s'] / 60:.0f} min" for r in results if r.get("late_s"))
        + (
            f" (overridden with --late-s {args.late_s:g})"
            if getattr(args, "late_s", None) is not None
            else ""
        )
        + ".",
        "",
        "P(the stream still comes | no start yet m minutes after the announced time), m = 0, 1, ..., learnt "
        "from each seed's calendar with `--hold-share` (a waiting entry then holds that share of its uplift, "
        "then is dropped; '-': the whole uplift held until the late-start time): "
        + "; ".join(
            f"seed {r['seed']}: "
            + (", ".join(f"{p:.2f}" for p in r["still_comes"]) if r.get("still_comes") else "-")
            for r in results
        )
        + ".",
        "",
        "Why the prescaler with the calendar is short in the windows (summed over seeds; each minute once):",
        "",
        "| cause | short minutes |",
        "|---|---:|",
        *(
            f"| {c} | {sum(r['short_causes'][c] for r in results if 'short_causes' in r)} |"
            for c in SHORT_CAUSES
        ),
        "",
        "Where the replica-minutes go (summed over seeds; zones: 30 min before to 60 after each start that "
        "happened, the same around the scenario's cancelled entries, 10 before to 60 after unannounced spikes):",
        "",
        "| zone | minutes' share | HPA | oracle | prescaler (calendar) | over the HPA | share of the excess | "
        "over the oracle |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *_zone_rows(results),
        "",
        "Where the prescaler with the calendar is short in the windows (minutes since the scheduled start; "
        "late: the stream started after its announced time):",
        "",
        "| minutes after the start | on time | late |",
        "|---|---:|---:|",
    ]
    for lo, hi in OFFSET_BUCKETS:
        on = sum(r["short_by_offset"][f"{lo}-{hi} min, on time"] for r in results)
        late = sum(r["short_by_offset"][f"{lo}-{hi} min, late"] for r in results)
        lines.append(f"| {lo}-{hi} | {on} | {late} |")
    lines += [
        "",
        f"Entries that never happen, added to the calendar (4 a seed in quiet hours; cost = pods of the run "
        f"with them minus the run without, start - 30 min to start + 60 min; allowance = {LEAD_S / 60:.0f} "
        f"lead minutes x the peak extra pods; for scale, a real start adds {worth / (LEAD_S / 60):.1f} "
        "replicas on average):",
        "",
        "| seed | entry | kind | extra pods (peak) | before start | after start | of which: floor held | "
        "after the floor went | total | allowance | floor released (min after start) | within |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for g in ghosts:
        lines.append(
            f"| {g['seed']} | {g['start'][:16]} | {g['kind']} | {g['peak_extra_pods']:.0f} | "
            f"{g['before_start']:.1f} | {g['after_start']:.1f} | {g.get('while_floor_held', float('nan')):.1f} | "
            f"{g.get('after_floor_released', float('nan')):.1f} | {g['extra_replica_minutes']:.1f} | "
            f"{g['allowance_replica_minutes']:.1f} | {g.get('floor_released_min_after_start', float('nan')):.0f} | "
            f"{'yes' if g['extra_replica_minutes'] <= g['allowance_replica_minutes'] else 'no'} |"
        )
    if ghosts:
        lines += [
            "",
            "Mean per entry: before the start "
            f"{np.mean([g['before_start'] for g in ghosts]):.1f}, while the floor was held for it after the start "
            f"{np.nanmean([g.get('while_floor_held', np.nan) for g in ghosts]):.1f}, after the floor went "
            f"(the HPA holding pods) {np.nanmean([g.get('after_floor_released', np.nan) for g in ghosts]):.1f} "
            "replica-minutes; the floor went "
            f"{np.nanmean([g.get('floor_released_min_after_start', np.nan) for g in ghosts]):.1f} minutes after "
            "the announced start on average. Entries judged "
            + (
                "only at the model's origins (every 5 minutes)"
                if getattr(args, "judge_every_step", False)
                else "every minute (`judged_by_minute`)"
            )
            + ".",
        ]
    lines.append("")
    return "\n".join(lines)


def _zone_rows(results: list[dict]) -> list[str]:
    runs = ("hpa", "oracle", "prescaler_calendar")
    by = {z: {k: sum(r["replica_minutes_by_zone"][k][z] for r in results) for k in runs} for z in ZONES}
    excess = sum(by[z]["prescaler_calendar"] - by[z]["hpa"] for z in ZONES)
    total_hpa = sum(by[z]["hpa"] for z in ZONES)
    rows = []
    for z in ZONES:
        h, o, p = (by[z][k] for k in runs)
        if not h:  # nothing in this zone (e.g. no cancelled entry in a one-seed replay)
            rows.append(f"| {z} | 0.0% | 0 | {o:.0f} | {p:.0f} | - | - | - |")
            continue
        rows.append(
            f"| {z} | {h / total_hpa:.1%} | {h:.0f} | {o:.0f} | {p:.0f} | {p / h - 1:+.1%} | "
            f"{(p - h) / excess if excess else float('nan'):.0%} | {p / o - 1:+.1%} |"
        )
    return rows


def _plot(data: dict, path: Path, *, seed: int) -> None:
    """One event of the replay: replicas needed, the HPA's and the prescaler's ready capacity, the entry."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    t = data["minutes"]
    ax.plot(t, data["needed"], color="black", lw=1.5, label="replicas needed (load / capacity per replica)")
    ax.step(t, data["hpa"], where="post", color="tab:red", label="HPA alone: ready replicas")
    ax.step(
        t,
        data["prescaler_no_calendar"],
        where="post",
        color="tab:orange",
        alpha=0.7,
        label="prescaler, model without calendar",
    )
    ax.step(
        t,
        data["prescaler_calendar"],
        where="post",
        color="tab:blue",
        lw=2,
        label="prescaler, model with calendar",
    )
    ax.axvline(0, color="gray", ls="--")
    ax.text(
        0.5, ax.get_ylim()[1] * 0.97, f"calendar: {data['kind']}, expected {data['expected']:g}", va="top"
    )
    ax.set_xlabel(f"minutes from the scheduled start ({data['start']}, seed {seed})")
    ax.set_ylabel("replicas")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--days", type=float, default=28)
    p.add_argument("--replay-days", type=float, default=8)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--cache", type=Path, default=None, help="keep trained networks here (iterating)")
    p.add_argument("--late-s", type=float, default=None, help="override the learnt late-start time (seconds)")
    p.add_argument(
        "--quantile-outside-events",
        type=float,
        default=QUANTILE_OUTSIDE_EVENTS,
        help="the policy's quantile at steps no calendar entry reaches (0.9: the p90 everywhere, as before)",
    )
    p.add_argument(
        "--event-lookahead",
        type=float,
        default=EVENT_LOOKAHEAD_S,
        help="the policy's event_lookahead_s (seconds; 0: each event step its own value, as before)",
    )
    p.add_argument(
        "--event-lookbehind",
        type=float,
        default=EVENT_LOOKBEHIND_S,
        help="the policy's event_lookbehind_s (seconds; 0: none, as before session 13)",
    )
    p.add_argument(
        "--event-band-scale",
        type=float,
        default=EVENT_BAND_SCALE,
        help="the policy's event_band_scale (at event steps p50 + this x (p90 - p50); 1: the p90, as before)",
    )
    p.add_argument(
        "--hold-share",
        action="store_true",
        help="a waiting entry holds the learnt P(the stream still comes) share of its uplift (not all of it)",
    )
    p.add_argument(
        "--dump", action="store_true", help="also write every replayed minute of the runs (OUT/seedN.npz)"
    )
    p.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="write one report from the events.json of runs made one seed per process (their --out folders)",
    )
    p.add_argument(
        "--announced-marks",
        action="store_true",
        help="mark every announced entry's steps for the event quantile, cancelled or not (as before; to compare)",
    )
    p.add_argument(
        "--judge-every-step",
        action="store_true",
        help="judge entries only at the model's origins (every 5 minutes), not every minute (to compare)",
    )
    p.add_argument(
        "--linear-minutes",
        action="store_true",
        help="replay a straight line between the 5-minute samples, not the scenario's 1-minute load (as before)",
    )
    args = p.parse_args()
    torch.set_num_threads(1)
    results = []
    if args.merge:
        # One process per seed (the machine's cores in parallel), then one report: the runs' own settings.
        results = [r for folder in args.merge for r in json.loads((folder / "events.json").read_text())]
        args.seeds = ",".join(str(r["seed"]) for r in results)
    for seed in () if args.merge else (int(s) for s in args.seeds.split(",")):
        results.append(
            run_seed(
                seed,
                days=args.days,
                replay_days=args.replay_days,
                epochs=args.epochs,
                cache=args.cache,
                late_s=args.late_s,
                hold_share=args.hold_share,
                by_minute=not args.judge_every_step,
                judged_marks=not args.announced_marks,
                dump=args.out if args.dump else None,
                quantile_outside_events=args.quantile_outside_events,
                linear_minutes=args.linear_minutes,
                event_lookahead_s=args.event_lookahead,
                event_lookbehind_s=args.event_lookbehind,
                event_band_scale=args.event_band_scale,
            )
        )
        print(
            json.dumps(
                {k: v for k, v in results[-1].items() if k not in ("cancelled_extra_replica_minutes", "plot")}
            ),
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "events.json").write_text(json.dumps(results, indent=2, default=str))
    if results[0].get("plot"):
        _plot(results[0]["plot"], args.out / "events.png", seed=results[0]["seed"])
    text = report(results, args)
    (args.out / "events.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
