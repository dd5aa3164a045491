"""Read a history from a CSV (``timestamp,value``) or Parquet file into a regular series.

The only place that reads series files. Problems name the file, the row and what to fix.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecaster.errors import DataError, SourceError
from forecaster.series import DuplicatePolicy, regularize

__all__ = ["read_series", "write_csv"]


def _from_frame(frame: pd.DataFrame, *, path: Path) -> pd.Series:
    cols = [c.strip().lower() for c in frame.columns]
    frame.columns = cols
    if "timestamp" not in cols or "value" not in cols:
        raise DataError(
            f"{path}: expected columns 'timestamp,value', found {','.join(cols) or 'none'}",
            hint="the first line must be the header timestamp,value",
        )
    stamps = frame["timestamp"]
    if pd.api.types.is_numeric_dtype(stamps):
        parsed = pd.to_datetime(stamps, unit="s", errors="coerce")
    else:
        parsed = pd.to_datetime(stamps, errors="coerce", utc=True, format="mixed")
        parsed = parsed.dt.tz_localize(None)
    if parsed.isna().any():
        row = int(parsed.isna().to_numpy().argmax())
        raise DataError(
            f"{path}: row {row + 2}: cannot parse timestamp {frame['timestamp'].iloc[row]!r}",
            hint="use 'YYYY-MM-DD HH:MM:SS', ISO 8601 or Unix seconds",
        )
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
    """Load ``path`` (``.csv`` or ``.parquet``) and regularize it (see :func:`forecaster.series.regularize`)."""
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
    return regularize(raw, step=step, duplicates=duplicates, max_interp_gap=max_interp_gap, name=str(p))


def write_csv(series: pd.Series, path: str | Path) -> None:
    """Write ``series`` as ``timestamp,value`` (the format :func:`read_series` reads)."""
    frame = pd.DataFrame(
        {"timestamp": series.index.strftime("%Y-%m-%d %H:%M:%S"), "value": series.to_numpy()}
    )
    frame.to_csv(path, index=False)
