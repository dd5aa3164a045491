"""Is the matched-cost target (issue 13: prescaler + HPA <= 0.5x the HPA alone's short minutes at equal
replica-minutes, +5/+10/+20% over the oracle) reachable at all? The same protocol as ``bench/replay.py``'s
matched-cost table (each trace's second half, held out, replayed with ``forecaster tune``'s grid; per trace
and budget, the prescaler's best setting in hindsight against the HPA alone's frontier over target
utilisation, both interpolated), once on the LSTM's cached forecasts and once per known-error forecast of the
true future (``bench/replay.py``'s :func:`known_error_forecasts`: each minute's true load times
exp(sigma x e), a p90 calibrated for that error; sigma 0 is perfect foresight through the same policies).

Also records, per setting, where its short minutes come from (``short_minute_causes``) and what the HPA alone
at 1.0 costs over the oracle (a prescaler only adds pods to its HPA's, so a budget below that cost leaves the
prescaler nothing to spend), and, with ``--levers``, settings the grid lacks (the HPA's own scale-down window,
an HPA target above a pod's full use under the floor, more headroom on the median) on every forecast source.

    python bench/replay_bound.py --cache /tmp/tune10/cache [--only a,b] [--sigmas 0,0.05,0.1,0.2]
        [--levers] [--out bench/results/replay-bound.json] [--render-only]
    python bench/replay_bound.py --check-cache NAME   # refit NAME's LSTM on the current code, compare

One process, one trace at a time; results are merged into ``--out`` trace by trace, so a stopped run keeps
what it finished and a rerun skips the traces already there (``--force`` to redo them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import replay as R  # noqa: E402  (bench/replay.py: the same split, scale, forecasts and frontiers)

from forecaster.simulate import precompute_forecasts  # noqa: E402
from forecaster.tuning import SLO, Setting, default_grid, evaluate, joint_grid, oracle_cost  # noqa: E402

SIGMAS = (0.0, 0.05, 0.1, 0.2)


def lever_settings() -> list[Setting]:
    """Settings the joint grid lacks that perfect foresight could use (see the report)."""
    out = []
    # The HPA's scale-down window: the HPA alone gets it too (on its frontier), so the comparison stays fair.
    for window in (60.0, 0.0):
        out += [Setting(t, hpa_scale_down_s=window) for t in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)]
        out += [
            Setting(1.0, "shift", 0.5, hpa_scale_down_s=window),
            Setting(1.0, "shift", 0.5, headroom=0.1, hpa_scale_down_s=window),
            Setting(1.0, "shift", 0.5, headroom=0.2, hpa_scale_down_s=window),
            Setting(1.0, "shift", 0.9, hpa_scale_down_s=window),
            Setting(1.0, "shift", 0.9, max_over_median=0.4, hpa_scale_down_s=window),
            # Both levers: the lead window's peak with no hold, on an HPA that lets go sooner.
            Setting(1.0, "peak", 0.5, hpa_scale_down_s=window),
            Setting(1.0, "peak", 0.5, headroom=0.1, hpa_scale_down_s=window),
            Setting(1.0, "peak", 0.9, hpa_scale_down_s=window),
        ]
    # More headroom on the median and the lead window's peak on the median, with the HPA's default window.
    out += [
        Setting(1.0, "shift", 0.5, headroom=0.3),
        Setting(1.0, "peak", 0.5),
        Setting(1.0, "peak", 0.5, headroom=0.1),
        Setting(1.0, "peak", 0.9),
    ]
    return out


def second_half_points(trace, table, *, mid, cap, slo, settings, causes: bool) -> list[dict]:
    seen: dict[str, dict] = {}

    def inspect(setting, result) -> None:
        if setting.prescaler:
            seen[setting.label] = R.short_minute_causes(result)

    t0 = time.process_time()
    points = evaluate(
        trace,
        settings=settings,
        forecasts=table,
        replay_start=mid,
        capacity_per_replica=cap,
        pod_startup_s=180.0,
        slo=slo,
        max_replicas=200,
        inspect=inspect if causes else None,
    )
    spent = time.process_time() - t0
    default_labels = {s.label for s in default_grid()}
    joint_labels = {s.label for s in joint_grid()}
    out = []
    for p in points:
        d = R._point_dict(p)
        for k in ("block_short", "block_total", "bounds"):
            d.pop(k)
        d["default"] = p.setting.label in default_labels
        d["joint"] = p.setting.label in joint_labels
        d["hpa_scale_down_s"] = p.setting.hpa_scale_down_s
        if p.setting.label in seen:
            d["causes"] = seen[p.setting.label]
        out.append(d)
    return out, spent


def run_trace(
    name,
    native,
    *,
    cache: Path,
    sigmas,
    levers: bool,
    slo: SLO,
    previous: dict | None = None,
    lstm_too: bool = True,
    lstm_now: Path | None = None,
) -> dict:
    """One trace's second half on every forecast source; with ``previous`` (an earlier run's result for it),
    only the settings it lacks are replayed, and merged into it."""
    previous = previous or {"hpa": [], "sources": {}}
    native, trace, split, cap = R.prepare(name, native, replay_fraction=0.2)
    _, mid = R.halves(trace, split)
    lstm = R.forecasts(name, native, trace, split, model="lstm", cache=cache)
    oracle = oracle_cost(
        trace, capacity_per_replica=cap, pod_startup_s=180.0, replay_start=mid, max_replicas=200
    )
    grid = joint_grid()
    extra = lever_settings() if levers else []
    hpa_settings = [s for s in grid + extra if not s.prescaler]
    pre_settings = [s for s in grid + extra if s.prescaler]
    have = {p["label"] for p in previous["hpa"]}
    hpa_settings = [s for s in hpa_settings if s.label not in have]
    hpa_points, hpa_s = (
        second_half_points(trace, None, mid=mid, cap=cap, slo=slo, settings=hpa_settings, causes=False)
        if hpa_settings
        else ([], 0.0)
    )
    hpa_points = previous["hpa"] + hpa_points
    sources = dict(previous["sources"])
    now = ["lstm-now"] * (lstm_now is not None)
    for source in ["lstm"] * lstm_too + [f"sigma-{s:g}" for s in sigmas] + now:
        old = sources.get(source, {"points": [], "cpu_s": 0.0, "table_cpu_s": 0.0})
        have = {p["label"] for p in old["points"]}
        todo = [s for s in pre_settings if s.label not in have]
        if not todo:
            continue
        t0 = time.process_time()
        if source == "lstm":
            table = lstm
        elif source == "lstm-now":
            table = R.forecasts(name, native, trace, split, model="lstm", cache=lstm_now)
        else:
            sigma = float(source.split("-", 1)[1])
            table = precompute_forecasts(
                trace, forecast_fn=R.known_error_forecasts(trace, sigma=sigma), replay_start=split
            )
        made = time.process_time() - t0
        points, spent = second_half_points(
            trace, table, mid=mid, cap=cap, slo=slo, settings=todo, causes=True
        )
        sources[source] = {
            "points": old["points"] + points,
            "cpu_s": old["cpu_s"] + spent,
            "table_cpu_s": old["table_cpu_s"] + made,
        }
        print(f"  {name} {source}: {len(points)} settings, {spent:.0f} CPU s (+{made:.0f} table)", flush=True)
    return {
        "capacity_per_replica": cap,
        "oracle_replica_minutes": oracle,
        "minutes": hpa_points[0]["minutes"],
        "hpa": hpa_points,
        "hpa_cpu_s": hpa_s,
        "sources": sources,
    }


# -- the report ----------------------------------------------------------------------------------------------


GRIDS = {
    "default": "default grid",
    "joint": "joint grid",
    "joint+plan": "joint grid + plan lever",
    "joint+window": "joint grid + HPA window lever",
    "levers": "joint grid + every lever",
}
"""Views of the same replays: ``joint+plan`` adds the prescaler settings with the HPA's default scale-down
window (``peak`` with no hold, more median headroom: the HPA alone's frontier is unchanged);
``joint+window`` adds the HPA's own scale-down window (60 s, 0 s), on the HPA alone's frontier too."""


def keep(p: dict, grid: str) -> bool:
    if grid in ("default", "joint"):
        return p[grid]
    if grid == "joint+plan":
        return p["joint"] or p["hpa_scale_down_s"] is None
    if grid == "joint+window":
        return p["joint"] or p["hpa_scale_down_s"] is not None
    return True


def view(res: dict, source: str, grid: str) -> dict:
    """A trace's points (one forecast source, one of GRIDS) as bench/replay.py's frontiers read them."""
    pts = [
        p
        for p in res["hpa"] + res["sources"][source]["points"]
        if keep(p, grid) and not (p["label"].startswith("peak") and p["hpa_scale_down_s"] is not None)
    ]
    return {"grid": pts, "oracle_replica_minutes": res["oracle_replica_minutes"]}


def matched(results: dict, names: list[str], source: str, grid: str, budgets=R.BUDGETS) -> dict:
    """bench/replay.py's :func:`matched_cost` on one forecast source and grid, at any budgets."""
    views = {name: view(results[name], source, grid) for name in names}
    return R.matched_cost(views, names, budgets)


def hpa_base(res: dict) -> dict:
    return next(p for p in res["hpa"] if p["target_utilisation"] == 1.0 and p["hpa_scale_down_s"] is None)


def best_within(res: dict, source: str, grid: str, budget: float) -> dict:
    """The prescaler + HPA point (the HPA at 1.0 included) with the fewest short minutes within the budget
    (the cheapest point when none is): the setting the interpolated frontier stands for, without interpolating."""
    v = view(res, source, grid)
    pts = [p for p in v["grid"] if p["prescaler"]] + [hpa_base(res)]
    limit = res["oracle_replica_minutes"] * (1 + budget)
    within = [p for p in pts if p["replica_minutes"] <= limit] or [
        min(pts, key=lambda p: p["replica_minutes"])
    ]
    return min(within, key=lambda p: (p["short_minutes"], p["replica_minutes"]))


def label_of(source: str) -> str:
    if source == "lstm":
        return "LSTM (cached)"
    if source == "lstm-now":
        return "LSTM refitted on the current code"
    if source == "sigma-0":
        return "perfect foresight (sigma 0)"
    return f"known error, sigma {source[6:]}"


def ratio_table(results: dict, names: list[str], sources: list[str], grid: str) -> list[str]:
    lines = [
        "| forecasts | +5% together | +5% median | +10% together | +10% median | +20% together | +20% median "
        "| target <= 0.5x |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for source in sources:
        mc = matched(results, names, source, grid)
        ok = all(mc[b]["ratio"] <= 0.5 and mc[b]["median_ratio"] <= 0.5 for b in R.BUDGETS)
        cells = " | ".join(
            f"{R._ratio(mc[b]['ratio'])} | {R._ratio(mc[b]['median_ratio'])}" for b in R.BUDGETS
        )
        lines.append(f"| {label_of(source)} | {cells} | {'met' if ok else 'not met'} |")
    return lines


def sources_of(results: dict, names: list[str]) -> list[str]:
    every = ["lstm", "lstm-now", *(f"sigma-{x:g}" for x in SIGMAS)]
    return [s for s in every if all(s in results[n]["sources"] for n in names)]


def report(results: dict, *, command: str, load: str, notes: str | None = None) -> str:
    names = sorted(results)
    sources = sources_of(results, names)
    levers = all(any(not p["joint"] for p in results[n]["hpa"]) for n in names)
    notes = [] if notes is None else [notes.rstrip(), ""]
    lines = [
        "# Matched cost: is <= 0.5x reachable at all? (issue 13)",
        "",
        f"Tables rendered by `{command}`. {load}",
        "",
        f"Traces: {len(names)} ({', '.join(names)}).",
        "",
        *notes,
        "## Protocol",
        "",
        " `bench/replay.py`'s matched-cost table, unchanged. Each trace scaled so the replayed part's "
        "peak needs 30 pods, pods ready 3 minutes after start; the second half of the replayed part (held out) "
        "replayed with `forecaster tune`'s grid; per trace and budget (+5/+10/+20% over the oracle's "
        "replica-minutes on that half), the prescaler + HPA frontier (its best setting in hindsight, "
        "interpolated; it starts at the HPA at 1.0) against the HPA alone's frontier over target utilisation "
        "1.0 ... 0.5. Together: summed short minutes; median: the median trace's ratio. Forecasts: the LSTM's "
        "(cached, `/tmp/tune10/cache`), or `bench/replay.py`'s known-error forecasts of the true future "
        "(`known_error_forecasts`, the what-if table's instrument: each minute's true load times "
        "exp(sigma x e), p90 = p50 x exp(1.28 sigma), a fresh 30-minute forecast every minute; sigma 0 is "
        "perfect foresight, 0.05 / 0.1 / 0.2 put the p50 off by a median 3% / 7% / 13%).",
        "",
    ]
    for grid, title in (
        ("default", "Default grid (6 HPA-alone, 20 prescaler settings; the README's matched-cost table)"),
        ("joint", "Joint grid (the default one and 8 more prescaler settings)"),
    ):
        lines += [f"## {title}", "", *ratio_table(results, names, sources, grid), ""]
    # Absolute short minutes (default grid).
    lines += [
        "Short minutes summed over the traces, default grid (HPA alone -> prescaler + HPA at the same budget):",
        "",
        "| forecasts | +5% | +10% | +20% |",
        "|---|---:|---:|---:|",
    ]
    for source in sources:
        mc = matched(results, names, source, "default")
        lines.append(
            f"| {label_of(source)} | "
            + " | ".join(f"{mc[b]['hpa']:,.0f} -> {mc[b]['prescaler']:,.0f}" for b in R.BUDGETS)
            + " |"
        )
    lines += ["", *mechanism(results, names, sources), "", *hold_table(results, names)]
    if levers:
        lines += ["", *levers_report(results, names, sources)]
    refitted = [n for n in names if "lstm-now" in results[n]["sources"]]
    if refitted and "lstm-now" not in sources:
        lines += ["", *refit_report(results, refitted)]
    return "\n".join(lines) + "\n"


def zero_from(res: dict, grid: str, source: str = "sigma-0") -> str:
    """The cheapest prescaler + HPA setting with no short minute on ``source``'s forecasts, over the oracle."""
    pts = [p for p in view(res, source, grid)["grid"] if p["prescaler"] and p["short_minutes"] == 0]
    if not pts:
        return "none"
    p = min(pts, key=lambda p: p["replica_minutes"])
    return f"{p['replica_minutes'] / res['oracle_replica_minutes'] - 1:+.1%} ({p['label']})"


def mechanism(results: dict, names: list[str], sources: list[str]) -> list[str]:
    """Why perfect foresight does (not) reach 0.5x: per trace, the HPA alone at 1.0's cost over the oracle (a
    prescaler only adds pods to its HPA's: below that cost it cannot spend anything), and the short minutes
    at each budget of the HPA alone, and of prescaler + HPA on the LSTM and on the true future, on the
    default grid and with the plan lever; then where the prescaler's short minutes come from at the best
    setting within each budget (short_minute_causes, summed)."""
    lines = [
        "## Per trace (short minutes at the budget: HPA alone / prescaler + HPA on the LSTM / on the true future, "
        "default grid / on the true future with the plan lever)",
        "",
        "| trace | HPA at 1.0 vs oracle | its short minutes | true future: no short minute from (grid / any lever) | "
        + " | ".join(f"+{b:.0%}" for b in R.BUDGETS)
        + " |",
        "|---|---:|---:|---:|" + "---:|" * len(R.BUDGETS),
    ]
    mcs = {
        (src, grid): matched(results, names, src, grid)
        for src in ("lstm", "sigma-0")
        if src in sources
        for grid in ("default", "joint+plan")
    }
    for name in names:
        res = results[name]
        base = hpa_base(res)
        cells = []
        for b in R.BUDGETS:
            h = mcs[("lstm", "default")][b]["per_trace"][name][0]
            lstm = mcs[("lstm", "default")][b]["per_trace"][name][1]
            fs = mcs[("sigma-0", "default")][b]["per_trace"][name][1]
            fp = mcs[("sigma-0", "joint+plan")][b]["per_trace"][name][1]
            cells.append(f"{h:,.0f} / {lstm:,.0f} / {fs:,.0f} / {fp:,.0f}")
        lines.append(
            f"| {name} | {base['replica_minutes'] / res['oracle_replica_minutes'] - 1:+.1%} | "
            f"{base['short_minutes']:,} | {zero_from(res, 'joint')} / {zero_from(res, 'levers')} | "
            + " | ".join(cells)
            + " |"
        )
    lines += [
        "",
        "Where the prescaler + HPA's short minutes come from, at each trace's best setting within the budget "
        "(fewest short minutes at no more than the budget, not interpolated; summed over the traces; "
        "`bench/replay.py`'s `short_minute_causes`: `forecast_low` = the floor planned a start-up ahead was "
        "under the need, `scaled_down` = pods ready within the start-up before were taken away, `ready_lag` = "
        "planned in time, not ready; `hpa` = traces where the HPA at 1.0 alone is best):",
        "",
        "| forecasts | grid | budget | short minutes | forecast_low | scaled_down | ready_lag | hpa at 1.0 | "
        "settings picked (traces) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for src in [s for s in ("lstm", "sigma-0", "sigma-0.1") if s in sources]:
        for grid in ("default", "joint+plan"):
            for b in R.BUDGETS:
                tot = dict.fromkeys(R.CAUSES, 0)
                alone = short = 0
                picked: dict[str, int] = {}
                for name in names:
                    p = best_within(results[name], src, grid, b)
                    short += p["short_minutes"]
                    picked[p["label"]] = picked.get(p["label"], 0) + 1
                    if "causes" in p:
                        for k in R.CAUSES:
                            tot[k] += p["causes"][k]
                    else:
                        alone += p["short_minutes"]
                top = ", ".join(f"{k} ({v})" for k, v in sorted(picked.items(), key=lambda kv: -kv[1])[:3])
                lines.append(
                    f"| {label_of(src)} | {GRIDS[grid]} | +{b:.0%} | {short:,} | {tot['forecast_low']:,} | "
                    f"{tot['scaled_down']:,} | {tot['ready_lag']:,} | {alone:,} | {top} |"
                )
    return lines


def hold_table(results: dict, names: list[str], source: str = "sigma-0") -> list[str]:
    """What the HPA's scale-down hold costs a floor that knows the future: replica-minutes over the oracle's
    (summed over the traces; the median trace's in brackets) and short minutes, of the HPA alone at 1.0 and of
    the cheapest floors on the true future, under the HPA's 300 s (Kubernetes' default) / 60 s / 0 s window."""
    rows = [
        ("HPA alone at 1.0", None),
        ("shift on p50", ("shift", 0.0)),
        ("peak on p50 (no hold)", ("peak", 0.0)),
    ]
    rows += [("peak on p50 + 10% (no hold)", ("peak", 0.1))]
    lines = [
        f"What the HPA's scale-down window costs a floor on {label_of(source)} (replica-minutes over the oracle, "
        "summed over the traces, median trace in brackets; short minutes summed):",
        "",
        "| setting (HPA at 1.0) | window 300 s (default) | 60 s | 0 s |",
        "|---|---:|---:|---:|",
    ]
    for title, plan in rows:
        cells = []
        for window in (None, 60.0, 0.0):
            cost = oracle = short = 0.0
            overs = []
            for name in names:
                res = results[name]
                pts = res["hpa"] if plan is None else res["sources"][source]["points"]
                match = [
                    p
                    for p in pts
                    if p["target_utilisation"] == 1.0
                    and p["hpa_scale_down_s"] == window
                    and (
                        plan is None
                        or (
                            p["label"].startswith(f"{plan[0]}-p50")
                            and p["label"].split(" ")[0]
                            == (f"{plan[0]}-p50" + (f"-+{plan[1] * 100:g}%" if plan[1] else ""))
                        )
                    )
                ]
                if not match:
                    break
                p = match[0]
                cost += p["replica_minutes"]
                oracle += res["oracle_replica_minutes"]
                short += p["short_minutes"]
                overs.append(p["replica_minutes"] / res["oracle_replica_minutes"] - 1)
            else:
                cells.append(f"{cost / oracle - 1:+.1%} ({float(np.median(overs)):+.1%}), {short:,.0f} short")
                continue
            cells.append("n/a")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines


def refit_report(results: dict, names: list[str]) -> list[str]:
    """The cached LSTM against the LSTM refitted on the current code, on the traces refitted."""
    lines = [
        f"## The cached LSTM against the LSTM refitted on the current code ({len(names)} traces: "
        f"{', '.join(names)})",
        "",
        "| grid | forecasts | +5% together | +5% median | +10% together | +10% median | +20% together | "
        "+20% median |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for grid in ("default", "joint", "joint+window"):
        for src in ("lstm", "lstm-now"):
            mc = matched(results, names, src, grid)
            cells = " | ".join(
                f"{R._ratio(mc[b]['ratio'])} | {R._ratio(mc[b]['median_ratio'])}" for b in R.BUDGETS
            )
            lines.append(f"| {GRIDS[grid]} | {label_of(src)} | {cells} |")
    return lines


def levers_report(results: dict, names: list[str], sources: list[str]) -> list[str]:
    lines = [
        "## Levers the grid lacks (every forecast source)",
        "",
        "- **plan**: prescaler settings on the HPA's default scale-down window that the grid lacks: `peak` "
        "(the lead window's peak) on p50, p50 + 10% and p90 with no hold of its own, and the median + 30%; "
        "the HPA alone's frontier is the grid's.",
        "- **HPA window**: the HPA's own scale-down stabilisation at 60 s and 0 s instead of Kubernetes' 300 s "
        "(`behavior.scaleDown.stabilizationWindowSeconds`), for the HPA alone over target utilisation 1.0 ... "
        "0.5 too (so it is on both frontiers), and under `shift` on p50 (+0/10/20%), p90 and p90 capped at "
        "+40% (`lever_settings` also has `peak` with no hold under those windows; session 12's run replayed them "
        "on two traces only, see the findings, so these tables do not use them).",
        "",
    ]
    for grid in ("joint+plan", "joint+window", "levers"):
        lines += [f"### {GRIDS[grid]}", "", *ratio_table(results, names, sources, grid), ""]
    return lines


def plot(results: dict, names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = sources_of(results, names)
    budgets = [b / 100 for b in range(0, 41)]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    every = ["lstm", "lstm-now", *(f"sigma-{x:g}" for x in SIGMAS)]
    palette = ["black", "grey", "tab:blue", "tab:green", "tab:orange", "tab:red", "tab:purple"]
    colours = dict(zip(every, palette, strict=False))
    for ax, grid in zip(axes, ("default", "joint+window"), strict=True):
        for src in sources:
            mc = matched(results, names, src, grid, budgets)
            xs = [b * 100 for b in budgets]
            ax.plot(
                xs, [mc[b]["ratio"] for b in budgets], color=colours[src], label=f"{label_of(src)}, together"
            )
            ax.plot(xs, [mc[b]["median_ratio"] for b in budgets], color=colours[src], ls="--", lw=1)
        ax.axhline(0.5, color="grey", lw=0.8)
        for b in R.BUDGETS:
            ax.axvline(b * 100, color="grey", lw=0.5, ls=":")
        ax.set_title(f"{GRIDS[grid]} (dashed: median trace)")
        ax.set_xlabel("budget: replica-minutes over the oracle (%)")
        ax.set_ylim(0, 1.1)
    axes[0].set_ylabel("prescaler + HPA short minutes / HPA alone's")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(
        f"Matched cost on {len(names)} real traces (second halves): LSTM against known-error forecasts"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traffic", type=Path, default=R.HERE.parent.parent / "shared" / "data" / "traffic")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/tune10/cache"))
    ap.add_argument("--only", default="")
    ap.add_argument("--sigmas", default=",".join(f"{s:g}" for s in SIGMAS))
    ap.add_argument("--levers", action="store_true")
    ap.add_argument("--force", action="store_true", help="redo the traces already in --out")
    ap.add_argument(
        "--add", action="store_true", help="replay only the settings the traces in --out lack (new levers)"
    )
    ap.add_argument("--no-lstm", action="store_true", help="known-error sources only (with --add)")
    ap.add_argument(
        "--lstm-now",
        type=Path,
        default=None,
        help="also the LSTM fitted on the current code (source lstm-now), its tables cached in this folder",
    )
    ap.add_argument("--out", type=Path, default=R.HERE / "results" / "replay-bound.json")
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--check-cache", default="")
    ap.add_argument("--md", type=Path, default=R.HERE / "results" / "replay-bound.md")
    ap.add_argument("--notes", type=Path, default=None, help="markdown put above the tables (the findings)")
    ap.add_argument("--load", default="", help="how loaded the machine was, for the report")
    args = ap.parse_args()
    if args.check_cache:
        return check_cache(args)
    stored = json.loads(args.out.read_text()) if args.out.exists() else {"results": {}}
    results = stored["results"]
    if not args.render_only:
        series = R.traces(args.traffic)
        names = [n for n in series if n != "synthetic_live_streaming"]
        if args.only:
            names = [n for n in names if n in args.only.split(",")]
        sigmas = [float(s) for s in args.sigmas.split(",") if s]
        for name in names:
            if name in results and not (args.force or args.add):
                continue
            t0 = time.process_time()
            before = results[name].get("cpu_s", 0.0) if args.add and name in results else 0.0
            results[name] = run_trace(
                name,
                series[name],
                cache=args.cache,
                sigmas=sigmas,
                levers=args.levers,
                slo=SLO.parse(R.DEFAULT_SLO),
                previous=results.get(name) if args.add else None,
                lstm_too=not args.no_lstm,
                lstm_now=args.lstm_now,
            )
            results[name]["cpu_s"] = before + time.process_time() - t0
            print(f"{name}: {results[name]['cpu_s']:.0f} CPU s", flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(stored))
    names = sorted(results)
    if not names:
        return 1
    argv = sys.argv[1:]
    if "--load" in argv:  # the load note is printed apart
        i = argv.index("--load")
        argv = argv[:i] + argv[i + 2 :]
    command = " ".join(["python bench/replay_bound.py", *argv])
    notes = args.notes.read_text() if args.notes else None
    args.md.write_text(report(results, command=command, load=args.load, notes=notes))
    plot(results, names, args.md.with_suffix(".png"))
    print(f"wrote {args.md} and {args.md.with_suffix('.png')}")
    return 0


def check_cache(args) -> int:
    """Refit one trace's LSTM on the current code and compare its forecast table with the cached one."""
    name = args.check_cache
    series = R.traces(args.traffic)
    native, trace, split, _ = R.prepare(name, series[name], replay_fraction=0.2)
    t0 = time.process_time()
    fresh = R.forecasts(name, native, trace, split, model="lstm", cache=None)
    spent = time.process_time() - t0
    cached = R.load_table(args.cache / f"{name}.npz")
    worst = 0.0
    same_shape = len(fresh.frames) == len(cached.frames)
    for a, b in zip(fresh.frames, cached.frames, strict=False):
        if (a is None) != (b is None):
            same_shape = False
            continue
        if a is None:
            continue
        if not a.index.equals(b.index):
            same_shape = False
            continue
        worst = max(worst, float(np.max(np.abs(a[["p50", "p90"]].to_numpy() - b[["p50", "p90"]].to_numpy()))))
    print(f"{name}: refit {spent:.0f} CPU s; same frames: {same_shape}; largest difference {worst:.3g}")
    return 0 if same_shape and worst == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
