"""Plots mark the calendar's scheduled starts: the demo's backtest plot and :func:`forecaster.plots.mark_events`."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from forecaster import plots  # noqa: E402
from forecaster.evaluation import backtest  # noqa: E402
from forecaster.events import parse_calendar_csv  # noqa: E402
from forecaster.predictors import LastValue  # noqa: E402

CALENDAR = parse_calendar_csv(
    "start,kind\n"
    "2024-05-01T08:00:00Z,football\n"  # before the range
    "2024-05-01T12:07:00Z,football\n"
    "2024-05-01T13:30:00+02:00,concert\n"  # 11:30 UTC
    "2024-05-01T15:00:00Z,football\n"
    "2024-05-02T12:00:00Z,concert\n"  # after it
)


def _vertical_lines(ax):
    """(x as a naive UTC timestamp, colour, label) of each vertical line on ``ax``."""
    out = []
    for line in ax.lines:
        xs = line.get_xdata()
        if len(xs) == 2 and xs[0] == xs[1]:
            x = xs[0]
            x = (
                pd.Timestamp(mdates.num2date(x)).tz_localize(None)
                if isinstance(x, float)
                else pd.Timestamp(x)
            )
            out.append((x, line.get_color(), line.get_label()))
    return out


def test_mark_events_draws_the_starts_in_range_one_colour_and_one_legend_entry_per_kind():
    fig, ax = plt.subplots()
    try:
        marked = plots.mark_events(
            ax, CALENDAR, start=pd.Timestamp("2024-05-01 10:00"), end=pd.Timestamp("2024-05-01 18:00")
        )
        lines = _vertical_lines(ax)
    finally:
        plt.close(fig)
    assert [(e.kind, e.start.strftime("%H:%M")) for e in marked] == [
        ("concert", "11:30"),
        ("football", "12:07"),
        ("football", "15:00"),
    ]
    assert [x.strftime("%H:%M") for x, _, _ in lines] == ["11:30", "12:07", "15:00"]
    colours = {label: colour for _, colour, label in lines if not label.startswith("_")}
    assert set(colours) == {"scheduled: concert", "scheduled: football"}  # each kind labelled once
    assert lines[1][1] == lines[2][1] != lines[0][1]  # one colour per kind


def test_the_backtest_plot_marks_the_calendar(tmp_path, monkeypatch):
    index = pd.date_range("2024-05-01 00:00", periods=24 * 60, freq="1min")
    series = pd.Series(100 + 10 * np.sin(np.arange(len(index)) / 60), index=index)
    result = backtest(
        [LastValue(step=pd.Timedelta("1min"), horizon_steps=30)],
        series,
        origins=np.arange(10 * 60, 17 * 60, 60),
    )
    figures = []
    real_save = plots.save_figure

    def keep(fig, path):
        figures.append(fig)
        return real_save(fig, path)

    monkeypatch.setattr(plots, "save_figure", keep)
    path = plots.plot_backtest(result, tmp_path / "b.png", model="last_value", events=CALENDAR)
    assert path.read_bytes()[:4] == b"\x89PNG"
    [ax] = figures[0].axes
    assert [x.strftime("%H:%M") for x, _, _ in _vertical_lines(ax)] == ["11:30", "12:07", "15:00"]
    assert "3 scheduled starts marked" in ax.get_title()
    plots.plot_backtest(result, tmp_path / "c.png", model="last_value")
    assert _vertical_lines(figures[1].axes[0]) == [] and "scheduled" not in figures[1].axes[0].get_title()
