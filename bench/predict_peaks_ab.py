"""CPU cost of ``Forecaster.predict`` on a saved model, A/B in one process (a benchmark, not a test).

CPU milliseconds per call through the public ``Forecaster.predict``, one torch thread, on the last
``--days`` of history (14 by default), as the service and the prescaler call it: once a step, each call's
history one step later than the last (``--step``), the median of ``--calls`` calls after a warm-up call;
and cold (what the model kept dropped before each call: a restart). Compared in the same process, calls
alternating so that both sides see the same machine load:

- the model as saved and the same model with the recurring-excursion judging switched off
  (``peak_days=0``; ``--no-peaks-ab`` skips it);
- with ``--against SRC``: this checkout's code and another commit's (``SRC`` holds its ``forecaster``
  package, e.g. ``mkdir /tmp/base && git archive 3054bea forecaster | tar -x -C /tmp/base``), imported
  under another name; the largest difference between their forecasts is printed too.

    python bench/predict_peaks_ab.py --model DIR --csv ../shared/data/traffic/nasa_http_requests_jul95.csv
    python bench/predict_peaks_ab.py --model DIR --csv FILE --against /tmp/base

``DIR`` is a model directory, e.g. one kept by ``python bench/accuracy.py --only nasa --save-models DIRS``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecaster.model import Forecaster


def _code_of(src: Path, into: Path) -> type:
    """``Forecaster`` from the checkout at ``src``, imported as package ``forecaster_base``."""
    package = into / "forecaster_base"
    shutil.copytree(src / "forecaster", package)
    pattern = re.compile(r"^(\s*)(from|import) forecaster(?=[. ])", re.MULTILINE)
    for path in package.rglob("*.py"):
        path.write_text(pattern.sub(r"\1\2 forecaster_base", path.read_text()))
    sys.path.insert(0, str(into))
    from forecaster_base.model import Forecaster as Base  # noqa: PLC0415

    return Base


def compare(
    models: dict[str, object], series: pd.Series, *, days: float, calls: int, step: int, cold: bool
) -> tuple[dict[str, list[float]], float]:
    """CPU seconds of each model's ``calls`` predict calls (after a warm-up call), alternating which goes
    first, and the largest absolute difference between their forecasts."""
    first = next(iter(models.values()))
    n = int(pd.Timedelta(days=days) / first.step)
    end0 = len(series) - step * (calls + 1)
    cpu: dict[str, list[float]] = {name: [] for name in models}
    largest = 0.0
    for k in range(calls + 1):
        history = series.iloc[end0 + step * k - n : end0 + step * k]
        order = list(models) if k % 2 else list(models)[::-1]
        out = {}
        for name in order:
            model = models[name]
            if cold:
                model.reset()
            start = time.process_time()
            out[name] = model.predict(history).to_numpy()
            if k:
                cpu[name].append(time.process_time() - start)
        ref = out[list(models)[0]]
        largest = max(largest, *(float(np.max(np.abs(o - ref))) for o in out.values()))
    return cpu, largest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="a saved model directory")
    parser.add_argument("--csv", required=True, help="timestamp,value at the model's step")
    parser.add_argument("--days", type=float, default=14.0)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--step", type=int, default=1, help="steps between calls (the service: 1)")
    parser.add_argument(
        "--against", type=Path, help="a directory holding another commit's forecaster package"
    )
    parser.add_argument("--no-peaks-ab", action="store_true", help="skip the peak_days=0 comparison")
    args = parser.parse_args()
    torch.set_num_threads(1)
    frame = pd.read_csv(args.csv)
    series = pd.Series(frame["value"].to_numpy(float), index=pd.to_datetime(frame["timestamp"]))
    model = Forecaster.load(args.model)
    print(f"{args.model}: {model.weighting}")
    print(f"{args.calls} calls, {args.days:g} days of history, {args.step} step(s) apart, one torch thread")
    runs = []
    if not args.no_peaks_ab:
        off = Forecaster.load(args.model)
        off.weighting = dataclasses.replace(off.weighting, peak_days=0)
        runs.append({"as saved": model, "peak_days=0": off})
    tmp = tempfile.TemporaryDirectory()  # the other code's package, imported from there until the end
    if args.against is not None:
        base = _code_of(args.against, Path(tmp.name)).load(args.model)
        runs.append({"this checkout": Forecaster.load(args.model), f"code of {args.against}": base})
    for models in runs:
        for cold in (False, True):
            load0 = os.getloadavg()[0]
            cpu, largest = compare(
                models, series, days=args.days, calls=args.calls, step=args.step, cold=cold
            )
            kind = "cold (reset before each call)" if cold else "warm"
            print(f"{kind}, load average {load0:.1f} -> {os.getloadavg()[0]:.1f}:")
            for name, seconds in cpu.items():
                ms = 1000.0 * np.asarray(seconds)
                print(f"  {name}: median {np.median(ms):.2f} CPU ms (p90 {np.quantile(ms, 0.9):.2f})")
            print(f"  largest |difference| between their forecasts: {largest:.3g}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
