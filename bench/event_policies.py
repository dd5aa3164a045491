"""Many prescaler policies on bench/events.py's replays, each seed's forecasts computed once.

For each seed, the calendar model of ``bench/events.py`` (trained, or loaded from ``--cache`` with its event
profile refitted, exactly as that bench does), its forecasts judged every minute, asked once per replayed
minute (:func:`forecaster.simulate.precompute_forecasts`, kept in ``--tables``), then replayed under each
policy in ``--variants``: a JSON object ``name -> changes``, where ``changes`` may hold

- ``"q"``: plan on this quantile, read linearly between the p50 and p90 the networks predict;
- ``"cap"``: cap that at the p50 x (1 + cap);
- ``"split": 1``: only at the steps no calendar entry reaches, the p90 at those (what
  ``ScalingPolicy.quantile_outside_events`` does): the table's own event column (the entries judged live from
  the load, as ``bench/events.py`` marks them), or for a table without it every announced entry's steps;
- ``"stab"``: the policy's ``scale_down_stabilization_s`` (``bench/events.py``: 0);
- ``"ahead"``: the policy's ``event_lookahead_s`` (seconds; the table's event column says which steps);
- ``"behind"``: the policy's ``event_lookbehind_s`` (seconds; the same steps);
- ``"evk"``: at the table's event steps, plan the p50 + this x (p90 - p50) (1: the p90; above 1 a wider band
  than the networks' p90, to measure what the size of a start's upper band is worth);

Prints, per policy, the short minutes in the 30 minutes after scheduled starts and over every replayed
minute, and the replica-minutes against the HPA alone and the oracle. The baseline (``{}``) and the kept
setting equal ``bench/events.py``'s runs to the replica-minute (checked on seed 0 with the straight line;
the kept setting with the scenario's minute load, bench/events.py's default since session 11, on seed 6).
Replays the same minute load as ``bench/events.py``; ``--linear-minutes`` the straight line, as before.

    python bench/event_policies.py --seeds 0,1,2,6,7,8 --cache DIR --tables DIR \\
        --variants '{"base": {}, "s80": {"q": 0.8, "split": 1}}'
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import events as bench_events  # noqa: E402
from replay import load_table, save_table  # noqa: E402

from forecaster.event_profile import with_event_steps  # noqa: E402
from forecaster.event_scores import EVENT_WINDOW, event_window_mask  # noqa: E402
from forecaster.events import Calendar, bind_calendar  # noqa: E402
from forecaster.scaling import EVENT_COLUMN, ScalingPolicy, planned_values  # noqa: E402
from forecaster.settings import TrainSettings  # noqa: E402
from forecaster.simulate import ForecastTable, precompute_forecasts, prepare_trace, replay  # noqa: E402
from forecaster.sources.synthetic import live_streaming_events  # noqa: E402


def setup(seed: int, *, cache: Path | None, tables: Path, linear_minutes: bool = False) -> tuple:
    scenario = live_streaming_events(days=28, step="5m", seed=seed)
    native, calendar = scenario.series, scenario.calendar
    split = native.index[-1] - pd.Timedelta(days=8) + pd.Timedelta(minutes=5)
    # The replayed minutes as bench/events.py replays them (the forecasts are judged from them, so a table is
    # kept per load: ``seedN.npz`` for the straight line, as before, ``seedN-1m.npz`` for the minute load).
    load = native if linear_minutes else bench_events.minute_load(native, days=28, seed=seed)
    trace = prepare_trace(load, name=f"seed {seed}")
    cap = float(native.loc[split:].max()) / bench_events.REPLICAS_AT_PEAK
    kept = tables / (f"seed{seed}.npz" if linear_minutes else f"seed{seed}-1m.npz")
    marks = kept.with_name(kept.stem + "-marks.npz")
    if kept.exists() and marks.exists():
        table = _with_marks(load_table(kept), marks)  # plain arrays (no pickle), written below
    else:
        settings = TrainSettings(seed=seed, epochs=15, max_windows_per_epoch=8000)
        train_part = native.loc[native.index < split]
        model = bench_events._fit(
            train_part, settings=settings, name="calendar", events=calendar, cache=cache
        )
        fn = bench_events._forecasts(bind_calendar(model, calendar), native, start=split)
        started = time.process_time()
        table = precompute_forecasts(trace, forecast_fn=fn, replay_start=split)
        print(f"seed {seed}: forecasts in {time.process_time() - started:.0f} CPU s", file=sys.stderr)
        tables.mkdir(parents=True, exist_ok=True)
        save_table(table, kept)
        _save_marks(table, marks)
    return scenario, trace, split, cap, table


def _unique_frames(table: ForecastTable) -> list[pd.DataFrame]:
    """The table's frames once each, in the order ``replay.save_table`` writes them."""
    seen: dict[int, pd.DataFrame] = {}
    for frame in table.frames:
        if frame is not None and id(frame) not in seen:
            seen[id(frame)] = frame
    return list(seen.values())


def _save_marks(table: ForecastTable, path: Path) -> None:
    """The frames' event column (the entries judged live when the table was made), which ``save_table`` does
    not keep: a table read back without it would be marked from the announced entries, not as judged."""
    frames = _unique_frames(table)
    np.savez_compressed(
        path,
        event=np.concatenate(
            [
                f[EVENT_COLUMN].to_numpy(dtype=float)
                if EVENT_COLUMN in f.columns
                else np.full(len(f), np.nan)
                for f in frames
            ]
        )
        if frames
        else np.zeros(0),
    )


def _with_marks(table: ForecastTable, path: Path) -> ForecastTable:
    """``table`` (read back) with each frame's event column from :func:`_save_marks`."""
    event = np.load(path)["event"]
    at = 0
    for frame in _unique_frames(table):
        values = event[at : at + len(frame)]
        at += len(frame)
        if not np.isnan(values).all():
            frame[EVENT_COLUMN] = values  # the frames are the table's own, shared where they were
    if at != len(event):
        raise ValueError(f"{path}: {len(event)} marks for {at} forecast rows: remake the table")
    return table


def transformed(table: ForecastTable, change: dict, calendar: Calendar) -> ForecastTable:
    """The table with its p90 column replaced by what ``change`` plans on (each frame once): the quantile read
    as the prescaler reads it (:func:`forecaster.scaling.planned_values`), capped, and with ``split`` the p90
    at the steps the calendar's entries reach (:func:`forecaster.event_profile.with_event_steps`)."""
    policy = ScalingPolicy(capacity_per_replica=1.0, quantile=change["q"])
    done: dict[int, pd.DataFrame] = {}

    def one(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        p50, p90 = out["p50"].to_numpy(float), out["p90"].to_numpy(float)
        planned = planned_values({"p50": p50, "p90": p90}, policy)
        if change.get("cap") is not None:
            planned = np.minimum(planned, p50 * (1 + change["cap"]))
        if change.get("split"):
            marked = frame if EVENT_COLUMN in frame.columns else with_event_steps(frame, calendar)
            near = marked[EVENT_COLUMN].to_numpy() > 0
            planned = np.where(near, p90, planned)
        if change.get("evk") is not None and EVENT_COLUMN in frame.columns:
            near = frame[EVENT_COLUMN].to_numpy() > 0
            planned = np.where(near, p50 + float(change["evk"]) * (p90 - p50), planned)
        out["p90"] = planned
        return out

    frames = []
    for frame in table.frames:
        if frame is not None and id(frame) not in done:
            done[id(frame)] = one(frame)
        frames.append(None if frame is None else done[id(frame)])
    return ForecastTable(start=table.start, frames=tuple(frames))


def evaluate(scenario, trace, split, cap, table, fixed: dict, change: dict | None = None) -> dict:  # noqa: ANN001
    # The p90 column, replaced by what a variant plans on: no quantile split, look-ahead, look-behind or band.
    config = bench_events._config(cap, None, 0.0, 0.0, 1.0)
    if change and change.get("stab") is not None:
        config = dataclasses.replace(
            config, policy=config.policy.replace(scale_down_stabilization_s=float(change["stab"]))
        )
    if change and change.get("ahead") is not None:
        config = dataclasses.replace(
            config, policy=config.policy.replace(event_lookahead_s=float(change["ahead"]))
        )
    if change and change.get("behind") is not None:
        config = dataclasses.replace(
            config, policy=config.policy.replace(event_lookbehind_s=float(change["behind"]))
        )
    include = ("prescaler",) if fixed else ("hpa", "prescaler", "oracle")
    result = replay(
        trace, config=config, forecast_fn=None, forecasts=table, replay_start=split, include=include
    )
    if not fixed:
        fixed.update(hpa=result.runs["hpa"], oracle=result.runs["oracle"])
    run, hpa, oracle = result.runs["prescaler"], fixed["hpa"], fixed["oracle"]
    index, load = pd.DatetimeIndex(result.load.index), result.load.to_numpy()
    cancelled = {e.start for e in scenario.cancelled}
    held = Calendar.of([e for e in scenario.calendar.events if e.start not in cancelled])
    windows = event_window_mask(index, held, window=EVENT_WINDOW)
    short, hpa_short = run.ready * cap < load - 1e-9, hpa.ready * cap < load - 1e-9
    return {
        "short_in_windows": int((short & windows).sum()),
        "hpa_short_in_windows": int((hpa_short & windows).sum()),
        "short": int(short.sum()),
        "hpa_short": int(hpa_short.sum()),
        "replica_minutes": float(run.pods.sum()),
        "hpa_replica_minutes": float(hpa.pods.sum()),
        "oracle_replica_minutes": float(oracle.pods.sum()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--cache", type=Path, default=None, help="bench/events.py's --cache (trained networks)")
    p.add_argument("--tables", type=Path, required=True, help="keep each seed's forecasts here")
    p.add_argument("--variants", default='{"base": {}, "s80": {"q": 0.8, "split": 1}}')
    p.add_argument(
        "--linear-minutes",
        action="store_true",
        help="replay a straight line between the 5-minute samples (bench/events.py --linear-minutes)",
    )
    args = p.parse_args()
    variants = json.loads(args.variants)
    rows: dict[str, list[dict]] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        scenario, trace, split, cap, table = setup(
            seed, cache=args.cache, tables=args.tables, linear_minutes=args.linear_minutes
        )
        fixed: dict = {}
        for name, change in variants.items():
            planned = table if "q" not in change else transformed(table, change, scenario.calendar)
            row = evaluate(scenario, trace, split, cap, planned, fixed, change)
            rows.setdefault(name, []).append(row)
            print(seed, name, json.dumps(row), flush=True)
    print("\n| policy | short in windows (HPA) | short, all minutes (HPA) | over the HPA | over the oracle |")
    print("|---|---:|---:|---:|---:|")
    for name, found in rows.items():
        total = {k: sum(r[k] for r in found) for k in found[0]}
        print(
            f"| {name} | {total['short_in_windows']} ({total['hpa_short_in_windows']}) | {total['short']} "
            f"({total['hpa_short']}) | {total['replica_minutes'] / total['hpa_replica_minutes'] - 1:+.2%} | "
            f"{total['replica_minutes'] / total['oracle_replica_minutes'] - 1:+.2%} |"
        )


if __name__ == "__main__":
    main()
