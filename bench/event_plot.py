"""Plot one scheduled event from a replay timeline: load, the HPA's and the prescaler's ready capacity and
the calendar entry (the README's figure).

By default it makes its own inputs: the synthetic live-streaming scenario with irregularly scheduled streams
(:func:`forecaster.sources.synthetic.live_streaming_events`, ``--days`` at 5 minutes, ``--seed``), written as
``load.csv`` and ``events.csv``, then replayed by the real command

    forecaster simulate --csv load.csv --events events.csv --capacity-per-replica CAP --train-fraction F \\
        --epochs N --timeline timeline.csv --json result.json

(pods ready 3 minutes after start, the simulator's default policy; CAP puts the trace's peak at 30 replicas;
the LSTM trains on the first ``F`` of the days, 15 epochs as in bench/events.py). From the timeline it picks
the scheduled start (an entry that was not cancelled) whose first 30 minutes the HPA alone was short for
longest (ties: the larger load rise) and draws [start - 45 min, start + 90 min]. ``--timeline``/``--events``
plot an existing replay instead, ``--start`` picks the entry. Prints the window's numbers; writes the PNG
(default ``bench/results/event-plot.png``).

    python bench/event_plot.py [--seed 0] [--days 14] [--epochs 15] [--out bench/results/event-plot.png]
    python bench/event_plot.py --timeline T.csv --events E.csv [--start 2026-01-16T20:07:00Z]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from forecaster.events import Calendar, Event, calendar_to_csv, read_calendar  # noqa: E402
from forecaster.plots import save_figure  # noqa: E402

HERE = Path(__file__).resolve().parent
BEFORE = pd.Timedelta(minutes=45)
AFTER = pd.Timedelta(minutes=90)
WINDOW = pd.Timedelta(minutes=30)
"""The issue's measure: under-provisioned minutes in the first 30 minutes after a scheduled start."""
REPLICAS_AT_PEAK = 30


def make_replay(
    work: Path, *, seed: int, days: float, epochs: int, train_fraction: float
) -> tuple[Path, Path, dict]:
    """Write the scenario and replay it with ``forecaster simulate``; the timeline, the calendar and facts."""
    from forecaster.cli import main
    from forecaster.sources.files import write_csv
    from forecaster.sources.synthetic import live_streaming_events

    scenario = live_streaming_events(days=days, step="5m", seed=seed)
    write_csv(scenario.series, work / "load.csv")
    (work / "events.csv").write_text(calendar_to_csv(scenario.calendar))
    cap = float(scenario.series.max()) / REPLICAS_AT_PEAK
    argv = ["simulate", "--csv", str(work / "load.csv"), "--events", str(work / "events.csv")]
    argv += ["--capacity-per-replica", f"{cap:.6g}", "--train-fraction", str(train_fraction)]
    argv += ["--epochs", str(epochs), "--seed", str(seed)]
    argv += ["--timeline", str(work / "timeline.csv"), "--json", str(work / "result.json")]
    print("forecaster " + " ".join(argv))
    if main(argv) != 0:
        raise SystemExit("forecaster simulate failed")
    facts = {
        "cancelled": {(e.kind, e.start) for e in scenario.cancelled},
        "actual": {
            start.tz_localize("UTC") if start.tzinfo is None else start for start, _ in scenario.actual_starts
        },
        "command": "forecaster " + " ".join(a.replace(f"{work}/", "") for a in argv),
        "capacity_per_replica": cap,
    }
    return work / "timeline.csv", work / "events.csv", facts


def read_timeline(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    index = pd.to_datetime(frame.pop("timestamp"), utc=True)
    frame.index = pd.DatetimeIndex(index)
    for column in ("load", "hpa_ready_capacity", "prescaler_ready_capacity"):
        if column not in frame:
            raise SystemExit(f"{path}: no column {column!r} (write it with forecaster simulate --timeline)")
    return frame


def short_minutes(frame: pd.DataFrame, run: str, start: pd.Timestamp) -> int:
    """Minutes in [start, start + 30 min) whose load exceeded ``run``'s ready capacity."""
    part = frame.loc[(frame.index >= start) & (frame.index < start + WINDOW)]
    return int((part[f"{run}_ready_capacity"] < part["load"] - 1e-9).sum())


def pick_event(frame: pd.DataFrame, calendar: Calendar, *, skip: set | None = None) -> Event:
    """The scheduled start inside the replay (not cancelled) the HPA alone was short for longest."""
    first, last = frame.index[0] + BEFORE, frame.index[-1] - AFTER
    candidates = [
        e for e in calendar.events if first <= e.start <= last and (e.kind, e.start) not in (skip or set())
    ]
    if not candidates:
        raise SystemExit("no scheduled start inside the replayed range: replay more days")

    def rise(e: Event) -> float:
        before = frame.loc[(frame.index >= e.start - WINDOW) & (frame.index < e.start), "load"].mean()
        after = frame.loc[(frame.index >= e.start) & (frame.index < e.start + WINDOW), "load"].max()
        return float(after - before)

    return max(candidates, key=lambda e: (short_minutes(frame, "hpa", e.start), rise(e)))


def plot_event(
    frame: pd.DataFrame,
    event: Event,
    path: Path,
    *,
    actual_start: pd.Timestamp | None = None,
    capacity_per_replica: float | None = None,
) -> dict:
    """Draw the window around ``event``; the numbers shown in the title."""
    part = frame.loc[(frame.index >= event.start - BEFORE) & (frame.index <= event.start + AFTER)]
    x = part.index.tz_convert("UTC").tz_localize(None)
    numbers = {
        "event": {
            "kind": event.kind,
            "start": event.start.isoformat(),
            "end": event.end.isoformat() if event.end else None,
        },
        "short_minutes_first_30": {
            run: short_minutes(frame, run, event.start) for run in ("hpa", "prescaler")
        },
        "replica_minutes_window": {},
    }
    if capacity_per_replica:
        for run in ("hpa", "prescaler"):
            numbers["replica_minutes_window"][run] = round(
                float(part[f"{run}_ready_capacity"].sum()) / capacity_per_replica
            )
    fig, ax = plt.subplots(figsize=(11, 4.6))
    start = event.start.tz_localize(None)
    end = min(event.until, part.index[-1]).tz_localize(None)
    ax.axvspan(start, end, color="tab:purple", alpha=0.08, lw=0)
    ax.axvline(start, color="tab:purple", lw=1.6, label=f"calendar entry: {event.kind} at {start:%H:%M} UTC")
    if actual_start is not None and actual_start != event.start:
        late = (actual_start - event.start).total_seconds() / 60
        ax.axvline(
            actual_start.tz_localize(None),
            color="tab:purple",
            lw=1,
            ls="--",
            label=f"stream really started ({late:+.0f} min)",
        )
    ax.fill_between(x, 0, part["load"], color="0.85", lw=0)
    ax.plot(x, part["load"], color="black", lw=1.2, label="load")
    ax.step(
        x,
        part["hpa_ready_capacity"],
        where="post",
        color="tab:orange",
        lw=1.6,
        label="HPA alone: ready capacity",
    )
    ax.step(
        x,
        part["prescaler_ready_capacity"],
        where="post",
        color="tab:blue",
        lw=1.6,
        label="prescaler + HPA: ready capacity",
    )
    short = numbers["short_minutes_first_30"]
    ax.set_title(
        f"One scheduled {event.kind} stream, replayed minute by minute (pods ready 3 minutes after start)\n"
        f"under-provisioned minutes in the first 30 after the start: HPA alone {short['hpa']}, "
        f"prescaler with the calendar {short['prescaler']}",
        fontsize=10,
    )
    ax.set_ylabel("requests/s (capacity: ready pods x load per pod)")
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return numbers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeline", type=Path, help="an existing forecaster simulate --timeline CSV")
    ap.add_argument("--events", type=Path, help="its calendar (with --timeline)")
    ap.add_argument("--start", help="the calendar entry to plot (its start); default: picked as described")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--days", type=float, default=14)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--train-fraction", type=float, default=0.7)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "event-plot.png")
    args = ap.parse_args()
    facts: dict = {}
    with tempfile.TemporaryDirectory(prefix="event-plot-") as tmp:
        if args.timeline:
            if not args.events:
                ap.error("--timeline needs --events (the calendar it was replayed with)")
            timeline, events = args.timeline, args.events
        else:
            timeline, events, facts = make_replay(
                Path(tmp),
                seed=args.seed,
                days=args.days,
                epochs=args.epochs,
                train_fraction=args.train_fraction,
            )
        frame = read_timeline(timeline)
        calendar = read_calendar(events)
        if args.start:
            at = pd.Timestamp(args.start)
            at = at.tz_convert("UTC") if at.tzinfo else at.tz_localize("UTC")
            found = [e for e in calendar.events if e.start == at]
            if not found:
                raise SystemExit(f"no calendar entry starts at {at.isoformat()}")
            event = found[0]
        else:
            event = pick_event(frame, calendar, skip=facts.get("cancelled"))
        actual = None
        if facts.get("actual"):
            near = [t for t in facts["actual"] if abs(t - event.start) <= pd.Timedelta(minutes=30)]
            actual = min(near, key=lambda t: abs(t - event.start)) if near else None
        numbers = plot_event(
            frame,
            event,
            args.out,
            actual_start=actual,
            capacity_per_replica=facts.get("capacity_per_replica"),
        )
    if facts.get("command"):
        numbers["command"] = facts["command"]
    print(json.dumps(numbers, indent=2, default=str))
    print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
