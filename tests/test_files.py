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
        ("timestamp,value\n2026-01-01 00:00,1\nyesterday,2\n", "row 3: cannot parse timestamp"),
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
