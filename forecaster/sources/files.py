"""Read a history from a CSV (``timestamp,value``) or Parquet file into a regular series.

The only place that reads series files. Problems name the file, the row and what to fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.errors import DataError, SourceError
from forecaster.series import DuplicatePolicy, format_duration, parse_duration, regularize

__all__ = ["read_series", "write_csv", "STEP_TOLERANCE"]

STEP_TOLERANCE = 0.1
"""How far a file's own step may be from the one asked for (timestamps jitter) before it is refused."""


_TIMESTAMP_HINT = "use 'YYYY-MM-DD HH:MM:SS', ISO 8601, Unix seconds or Unix milliseconds"
_EPOCH_MS_FROM = 1e11
"""Epoch numbers this large are milliseconds: 1e11 seconds is the year 5138, 1e11 milliseconds is 1973."""
_EPOCH_RANGE_S = (pd.Timestamp.min.value / 1e9 + 1, pd.Timestamp.max.value / 1e9 - 1)
"""Seconds a timestamp can hold (1677 to 2262); outside it pandas overflows instead of refusing."""
_NUMBER_RE = r"^\s*[+-]?[0-9]+(\.[0-9]*)?\s*$"


def _bad_row(stamps: pd.Series, row: int, *, path: Path, why: str = "cannot be parsed") -> DataError:
    return DataError(f"{path}: row {row + 2}: timestamp {stamps.iloc[row]!r} {why}", hint=_TIMESTAMP_HINT)


def _parse_epoch(stamps: pd.Series, *, path: Path) -> pd.Series:
    """Unix seconds, or milliseconds when every number is at least ``_EPOCH_MS_FROM``, as tz-naive UTC."""
    numbers = pd.to_numeric(stamps, errors="coerce").to_numpy(dtype=float)
    if np.isnan(numbers).any():
        raise _bad_row(stamps, int(np.isnan(numbers).argmax()), path=path)
    is_ms = numbers >= _EPOCH_MS_FROM
    unit = "milliseconds" if is_ms[0] else "seconds"
    if is_ms.any() and not is_ms.all():
        # One file, one unit: guessing per row would silently misplace rows by a factor of 1000.
        row = int(np.argmax(is_ms != is_ms[0]))
        other = "seconds" if is_ms[0] else "milliseconds"
        raise _bad_row(stamps, row, path=path, why=f"looks like Unix {other}, row 2 like Unix {unit}")
    seconds = numbers / 1000.0 if is_ms[0] else numbers
    outside = (seconds < _EPOCH_RANGE_S[0]) | (seconds > _EPOCH_RANGE_S[1])
    if outside.any():
        why = f"read as Unix {unit} is outside the years 1677-2262"
        raise _bad_row(stamps, int(outside.argmax()), path=path, why=why)
    # Whole milliseconds: float seconds would put 1700000000.3 at ...000.29999995.
    return pd.Series(pd.to_datetime(np.rint(seconds * 1000).astype(np.int64), unit="ms"), index=stamps.index)


def _parse_timestamps(stamps: pd.Series, *, path: Path) -> pd.Series:
    """Timestamps as tz-naive UTC: date strings (any offset), or Unix seconds / milliseconds."""
    if pd.api.types.is_numeric_dtype(stamps):
        return _parse_epoch(stamps, path=path)
    if pd.api.types.is_datetime64_any_dtype(stamps):
        parsed = pd.to_datetime(stamps, utc=True)
    else:
        text = stamps.astype(str)
        # CSV columns are read as text: a column of plain numbers is epoch time, not a date format.
        if len(text) and text.str.match(_NUMBER_RE).all():
            return _parse_epoch(text, path=path)
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    if parsed.isna().any():
        raise _bad_row(stamps, int(parsed.isna().to_numpy().argmax()), path=path)
    return parsed.dt.tz_localize(None)


def _from_frame(frame: pd.DataFrame, *, path: Path) -> pd.Series:
    cols = [c.strip().lower() for c in frame.columns]
    frame.columns = cols
    if "timestamp" not in cols or "value" not in cols:
        raise DataError(
            f"{path}: expected columns 'timestamp,value', found {','.join(cols) or 'none'}",
            hint="the first line must be the header timestamp,value",
        )
    parsed = _parse_timestamps(frame["timestamp"], path=path)
    values = pd.to_numeric(frame["value"], errors="coerce")
    if values.isna().any():
        row = int(values.isna().to_numpy().argmax())
        raise DataError(
            f"{path}: row {row + 2}: value {frame['value'].iloc[row]!r} is not a number",
            hint="every value must be a finite number; drop rows you do not have",
        )
    return pd.Series(values.to_numpy(dtype=float), index=pd.DatetimeIndex(parsed), name=path.stem)


def read_series(
    path: str | Path,
    *,
    step: str | pd.Timedelta | None = None,
    duplicates: DuplicatePolicy = "error",
    max_interp_gap: str | pd.Timedelta = "15m",
) -> pd.Series:
    """Load ``path`` (``.csv`` or ``.parquet``) and regularize it (see :func:`forecaster.series.regularize`).

    ``step`` (a model's) is checked, not imposed: a file sampled at another step is refused with a
    :class:`DataError`; one within ``STEP_TOLERANCE`` of it (jittered timestamps) is snapped onto it.
    """
    p = Path(path)
    if not p.is_file():
        raise SourceError(f"{p}: no such file", hint="check the path")
    try:
        if p.suffix.lower() in {".parquet", ".pq"}:
            frame = pd.read_parquet(p)
        else:
            frame = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(
            f"{p}: cannot read the file ({exc})", hint="give a CSV with header timestamp,value"
        ) from exc
    if len(frame) == 0:
        raise DataError(f"{p}: the file has no rows", hint="give at least a few days of history")
    raw = _from_frame(frame, path=p)
    series = regularize(raw, duplicates=duplicates, max_interp_gap=max_interp_gap, name=str(p))
    if step is None:
        return series
    want, got = parse_duration(step), pd.Timedelta(series.index.freq)
    if abs(got - want) > want * STEP_TOLERANCE:
        # Snapping onto a coarser grid would keep one sample per slot and shift the grid; averaging or
        # summing depends on what the values mean (a rate or a count), which only the user knows.
        raise DataError(
            f"{p}: the file's step is {format_duration(got)}; the model forecasts in steps of "
            f"{format_duration(want)}",
            hint=f"resample the file to {format_duration(want)}: the mean for rates, the sum for counts; "
            f"or use a model trained on {format_duration(got)} data",
        )
    if got == want:
        return series
    return regularize(raw, step=want, duplicates=duplicates, max_interp_gap=max_interp_gap, name=str(p))


def write_csv(series: pd.Series, path: str | Path) -> None:
    """Write ``series`` as ``timestamp,value`` (the format :func:`read_series` reads)."""
    frame = pd.DataFrame(
        {"timestamp": series.index.strftime("%Y-%m-%d %H:%M:%S"), "value": series.to_numpy()}
    )
    frame.to_csv(path, index=False)
