"""Reading histories from CSV and Parquet files: good files load, bad ones get errors naming the row."""

import pandas as pd
import pytest

from forecaster.errors import DataError, SourceError
from forecaster.sources.files import read_series, write_csv
from tests.helpers import daily_sine


def test_csv_round_trip(tmp_path):
    s = daily_sine(days=1)
    write_csv(s, tmp_path / "a.csv")
    out = read_series(tmp_path / "a.csv")
    pd.testing.assert_index_equal(out.index, s.index, check_names=False)
    assert out.to_numpy() == pytest.approx(s.to_numpy())


def test_parquet(tmp_path):
    s = daily_sine(days=1)
    pd.DataFrame({"timestamp": s.index, "value": s.to_numpy()}).to_parquet(tmp_path / "a.parquet")
    out = read_series(tmp_path / "a.parquet")
    assert len(out) == len(s) and out.index.freq == pd.Timedelta("5min")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,val\n2026-01-01,1\n", "expected columns 'timestamp,value'"),
        (
            "timestamp,value\n2026-01-01 00:00,1\nyesterday,2\n",
            "row 3: timestamp .yesterday. cannot be parsed",
        ),
        (
            "timestamp,value\n2026-01-01 00:00,1\n2026-01-01 00:01,lots\n",
            "row 3: value 'lots' is not a number",
        ),
        ("timestamp,value\n", "no rows"),
        ("timestamp,value\n2026-01-01 00:01,1\n2026-01-01 00:00,2\n2026-01-01 00:02,2\n", "not sorted"),
    ],
)
def test_malformed_csv(tmp_path, content, message):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(DataError, match=message) as err:
        read_series(p)
    assert str(p) in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        read_series(tmp_path / "nope.csv")


@pytest.mark.parametrize(("scale", "unit"), [(1, "seconds"), (1000, "milliseconds")])
def test_unix_timestamps_in_a_csv(tmp_path, scale, unit):
    s = daily_sine(days=1)
    epoch = (s.index - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1) * scale
    p = tmp_path / f"{unit}.csv"
    pd.DataFrame({"timestamp": epoch, "value": s.to_numpy()}).to_csv(p, index=False)
    assert p.read_text().splitlines()[1].startswith("1772409600")  # 2026-03-02 00:00 UTC
    out = read_series(p)
    pd.testing.assert_index_equal(out.index, s.index, check_names=False)
    assert out.index.freq == pd.Timedelta("5min")
    assert out.to_numpy() == pytest.approx(s.to_numpy())


def test_unix_seconds_in_a_parquet_file(tmp_path):
    s = daily_sine(days=1)
    epoch = (s.index - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    pd.DataFrame({"timestamp": epoch, "value": s.to_numpy()}).to_parquet(tmp_path / "a.parquet")
    assert read_series(tmp_path / "a.parquet").index[0] == s.index[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "timestamp,value\n1700000000,1\n1700000300000,2\n1700000600,3\n",
            "row 3: timestamp '1700000300000' looks like Unix milliseconds, row 2 like Unix seconds",
        ),
        (
            "timestamp,value\n1700000000,1\n1700000300,2\n99999999999,3\n",
            "row 4: timestamp '99999999999' read as Unix seconds is outside the years 1677-2262",
        ),
        ("timestamp,value\n1700000000,1\n2023-11-14 22:18:20,2\n", "row 2: timestamp '1700000000' cannot be"),
    ],
)
def test_bad_unix_timestamps_name_the_row(tmp_path, content, message):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(DataError, match=message):
        read_series(p)
