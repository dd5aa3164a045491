"""Every short minute in the 30 minutes after scheduled starts, by cause, from ``bench/events.py --dump`` folders.

    python bench/event_shorts.py PREFIX 0,1,2 [-v]

reads ``PREFIX-sN/seedN.npz`` and ``PREFIX-sN/seedN-calendar.json`` for each seed N and counts each short minute
of the prescaler with the calendar in a window after a start that happened (a minute in two windows once), in
this order: a late stream released early (the minute within [real start - 1, + 8) and the floor fell after the
announced start); the ramp too slow (the floor covers the load that minute but not a pod start-up before); the
size under-forecast in a rise (the floor below the load and no floor since 5 minutes before the start as high,
in the stream's first 10 minutes), or later; the floor fell below the load after its peak (it was as high
earlier in the window); else pods not ready. ``-v`` prints every minute. Finer than bench/events.py's own
``short_causes`` (session 13, bench/results/events-lookbehind.md).
"""

from __future__ import annotations

import json
import statistics
import sys

import numpy as np
import pandas as pd

STARTUP_MIN = 3
WINDOW_MIN = 30


def classify(prefix: str, seed: str, *, verbose: bool = False) -> list[tuple[str, str, str, float]]:
    """(cause, "on time" or "late", kind, replicas short) for each short minute in the windows of one seed."""
    z = np.load(f"{prefix}-s{seed}/seed{seed}.npz")
    with open(f"{prefix}-s{seed}/seed{seed}-calendar.json") as f:
        cal = json.load(f)
    idx = pd.DatetimeIndex(z["minutes_ns"])
    need = z["load"] / float(z["cap"][0])
    ready, floor = z["prescaler_calendar.ready"], z["prescaler_calendar.floor"]
    short = ready < need - 1e-9
    actual = [(pd.Timestamp(a), k) for a, k in cal["actual_starts"]]
    counted: set[int] = set()
    out = []
    for st, kind, _ in cal["held"]:
        announced = pd.Timestamp(st)
        s0 = int(idx.searchsorted(announced.tz_localize(None)))
        if not 0 < s0 < len(idx):
            continue
        real = [a for a, k in actual if k == kind and 0 <= (a - announced).total_seconds() <= 600]
        late = (min(real) - announced).total_seconds() / 60 if real else 0.0
        for m in range(s0, min(s0 + WINDOW_MIN, len(idx))):
            if not short[m] or m in counted:
                continue
            counted.add(m)
            off = m - s0
            dipped = floor[s0 : m + 1].min() < floor[s0 - 1] - 0.5
            if late > 0 and late - 1 <= off < late + 8 and dipped:
                cause = "late stream released early"
            elif floor[m] >= need[m]:
                cause = "ramp too slow" if floor[m - STARTUP_MIN] < need[m] else "other (pods not ready)"
            elif floor[max(s0 - 5, 0) : m].max() < need[m]:
                cause = "size under-forecast, rise" if off - late < 10 else "size under-forecast, later"
            else:
                cause = "floor fell below the load after its peak"
            out.append((cause, "late" if late > 0 else "on time", kind, float(need[m] - ready[m])))
            if verbose:
                print(
                    seed,
                    st[:16],
                    kind,
                    f"late {late:.1f} min, minute {off}: {cause}, short {need[m] - ready[m]:.2f}",
                )
    return out


def main() -> None:
    prefix, seeds = sys.argv[1], sys.argv[2].split(",")
    rows = [r for s in seeds for r in classify(prefix, s, verbose="-v" in sys.argv[3:])]
    print(f"{len(rows)} short minutes in the windows, seeds {','.join(seeds)}\n")
    print("| cause | minutes | on time / late | median short (replicas) |")
    print("|---|---:|---|---:|")
    for cause in sorted({r[0] for r in rows}):
        got = [r for r in rows if r[0] == cause]
        on = sum(1 for r in got if r[1] == "on time")
        print(
            f"| {cause} | {len(got)} | {on} / {len(got) - on} | {statistics.median(r[3] for r in got):.2f} |"
        )


if __name__ == "__main__":
    main()
