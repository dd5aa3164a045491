"""Regular time grids: the one shape every source yields and every model consumes (pure, no I/O).

A *series* here is a ``pandas.Series`` of float64 indexed by a tz-naive UTC ``DatetimeIndex`` with a fixed
``freq`` (the step). Short gaps are interpolated linearly; longer gaps stay NaN so that windowing can mask
them (nothing is invented as zero). This module validates and converts; it never reads files or networks.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from forecaster.errors import DataError

__all__ = [
    "parse_duration",
    "infer_step",
    "regularize",
    "format_duration",
    "require_finite_forecast",
    "DuplicatePolicy",
]

DuplicatePolicy = Literal["error", "mean", "last"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: str | int | float | pd.Timedelta) -> pd.Timedelta:
    """Parse ``"30m"``, ``"1h30m"``, ``"28d"``, ``"90s"`` or seconds as a number into a Timedelta."""
    if isinstance(value, pd.Timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            raise DataError(f"duration {value!r} must be positive", hint="give seconds > 0 or e.g. '5m'")
        return pd.Timedelta(seconds=float(value))
    text = str(value).strip().lower()
    total = 0
    number = ""
    for ch in text:
        if ch.isdigit():
            number += ch
        elif ch in _UNITS and number:
            total += int(number) * _UNITS[ch]
            number = ""
        else:
            raise DataError(
                f"cannot parse duration {value!r}", hint="use forms like '90s', '5m', '1h30m', '28d'"
            )
    if number or total <= 0:
        raise DataError(f"cannot parse duration {value!r}", hint="use forms like '90s', '5m', '1h30m', '28d'")
    return pd.Timedelta(seconds=total)


def format_duration(td: pd.Timedelta) -> str:
    """The inverse of :func:`parse_duration` for whole seconds: ``Timedelta(minutes=90)`` -> ``"1h30m"``."""
    seconds = int(td.total_seconds())
    if seconds <= 0:
        return "0s"
    out = ""
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out


def infer_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The sampling step of a series: the median spacing, rounded to whole seconds."""
    if len(index) < 3:
        raise DataError(f"cannot infer the step from {len(index)} timestamps", hint="give at least 3 points")
    diffs = np.diff(pd.DatetimeIndex(index).as_unit("ns").asi8)
    step_ns = float(np.median(diffs))
    step = pd.Timedelta(seconds=max(1, round(step_ns / 1e9)))
    return step


def _as_utc_naive(index: pd.Index) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(index)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    # pandas >= 3 infers s/ms/us resolutions; the grid arithmetic below is in nanoseconds.
    return idx.as_unit("ns")


def regularize(
    raw: pd.Series,
    *,
    step: pd.Timedelta | str | None = None,
    max_interp_gap: pd.Timedelta | str = "15m",
    duplicates: DuplicatePolicy = "error",
    name: str | None = None,
) -> pd.Series:
    """Put ``raw`` on a regular grid of ``step`` (inferred when None), anchored at its first timestamp.

    Timestamps are snapped to the nearest grid point (sources such as CloudWatch jitter by seconds). Gaps up to
    ``max_interp_gap`` are linearly interpolated; longer ones stay NaN. Raises :class:`DataError` for an empty
    series, non-finite or non-numeric values, unsorted timestamps, and duplicated timestamps unless
    ``duplicates`` says how to merge them.
    """
    label = name or (str(raw.name) if raw.name is not None else "series")
    if len(raw) == 0:
        raise DataError(f"{label}: the series is empty", hint="check the query or file")
    try:
        index = _as_utc_naive(raw.index)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{label}: the index is not made of timestamps ({exc})") from exc
    values = pd.to_numeric(pd.Series(raw.to_numpy(), index=index), errors="coerce")
    bad = values.isna() & pd.Series(raw.to_numpy(), index=index).notna()
    if bad.any():
        first = bad.idxmax()
        raise DataError(
            f"{label}: non-numeric value {raw.iloc[int(np.argmax(bad.to_numpy()))]!r} at {first}",
            hint="every value must be a number",
        )
    arr = values.to_numpy(dtype=float)
    if np.isinf(arr).any():
        at = index[int(np.argmax(np.isinf(arr)))]
        raise DataError(f"{label}: infinite value at {at}", hint="remove or fix that row")
    if np.isnan(arr).any():
        at = index[int(np.argmax(np.isnan(arr)))]
        raise DataError(
            f"{label}: missing (NaN) value at {at}",
            hint="drop that row; gaps in the timestamps are handled for you",
        )
    order = np.diff(index.asi8)
    if (order < 0).any():
        i = int(np.argmax(order < 0))
        raise DataError(
            f"{label}: timestamps are not sorted: {index[i + 1]} comes after {index[i]}",
            hint="sort the rows by timestamp",
        )
    if (order == 0).any():
        i = int(np.argmax(order == 0))
        if duplicates == "error":
            raise DataError(
                f"{label}: duplicated timestamp {index[i]}",
                hint="remove duplicates, or merge them (--on-duplicate mean|last)",
            )
        grouped = pd.Series(arr, index=index).groupby(level=0)
        merged = grouped.mean() if duplicates == "mean" else grouped.last()
        index, arr = merged.index, merged.to_numpy(dtype=float)

    step_td = parse_duration(step) if step is not None else infer_step(index)
    start = index[0]
    # Snap to the grid anchored at the first sample; later samples win when two snap to one slot.
    slots = np.rint((index.asi8 - start.value) / step_td.value).astype(np.int64)
    n = int(slots[-1]) + 1
    grid_values = np.full(n, np.nan)
    grid_values[slots] = arr
    grid = pd.date_range(start, periods=n, freq=step_td, unit="ns")
    out = pd.Series(grid_values, index=grid, name=raw.name)
    limit = int(parse_duration(max_interp_gap) / step_td)
    if limit > 0 and out.isna().any():
        out = _interpolate_short_gaps(out, limit)
    return out


def _interpolate_short_gaps(series: pd.Series, limit: int) -> pd.Series:
    """Linearly fill NaN runs of at most ``limit`` points; longer runs are left untouched."""
    isna = series.isna().to_numpy()
    run_id = np.cumsum(~isna)
    run_len = pd.Series(isna).groupby(run_id).transform("sum").to_numpy()
    fillable = isna & (run_len <= limit)
    filled = series.interpolate(method="linear", limit_area="inside")
    out = series.copy()
    out[fillable] = filled[fillable]
    return out


def require_finite_forecast(forecast: pd.DataFrame, *, history: pd.Series | None = None) -> pd.DataFrame:
    """``forecast`` unchanged when every value is a finite number, else a :class:`DataError` naming the first.

    The output layers (the CLI, the API, the cached forecasts) call this before serialising, whatever the
    model does: JSON has no NaN or Infinity, and a table of NaN is not a forecast.
    """
    values = forecast.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if not bad.any():
        return forecast
    row, col = np.argwhere(bad)[0]
    where = f"{forecast.columns[col]} at {forecast.index[row]} is {values[row, col]}"
    cause = ""
    if history is not None and history.notna().any():
        largest = float(np.nanmax(np.abs(history.to_numpy(dtype=float))))
        cause = f": the history's values reach {largest:.3g}, beyond what the model can forecast"
    raise DataError(
        f"the forecast is not a finite number ({where}){cause}",
        hint="check the history's values and their unit; a model forecasts values of the size it was trained on",
    )
