"""The prescaler's template read alone: CPU of reading the whole window every tick against reading the new
points only (forecaster.prescaler.template_window.TemplateWindows), N members, 6 ticks a minute apart, both
answers checked equal every tick; windows of 2 hours and 1 day per member.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/fleet_template_read.py 200 1.2   # members, days backfilled
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import fleet  # noqa: E402

from forecaster.prescaler.template_window import TemplateWindows  # noqa: E402
from forecaster.settings import PrometheusSettings  # noqa: E402
from forecaster.sources.prometheus import fetch_history_split  # noqa: E402
from tests.prometheus_fixture import start_prometheus  # noqa: E402


def main() -> None:
    n, days = int(sys.argv[1]), float(sys.argv[2])
    work = Path(tempfile.mkdtemp(prefix="template-read-"))
    end = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("1min") - pd.Timedelta(minutes=1)
    server = start_prometheus(work / "prom", fleet.fleet_series(n, days=days, end=end))
    try:
        settings = PrometheusSettings(url=server.url, query=fleet.TEMPLATE_QUERY, step="1m", history="2d")
        for window in ("2h", "1d"):
            ticks = [end + pd.Timedelta(seconds=30) - pd.Timedelta(minutes=k) for k in range(6, -1, -1)]
            whole, new = [], []
            windows = TemplateWindows()
            for at in ticks:
                kw = {"now": at, "split_by": ("service",), "max_series": n + 1, "history": window}
                started = time.process_time()
                a = fetch_history_split(settings, **kw)
                whole.append(time.process_time() - started)
                started = time.process_time()
                b = windows(settings, **kw)
                new.append(time.process_time() - started)
                assert list(a) == list(b) and all(a[k].equals(b[k]) for k in a), "different answers"
            print(
                f"N={n} window {window}: whole read CPU s per tick {[round(x, 3) for x in whole[1:]]}; "
                f"new points only {[round(x, 3) for x in new[1:]]} (the first, whole: {new[0]:.3f}); "
                f"reads whole={windows.reads} new points={windows.tail_reads}",
                flush=True,
            )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
