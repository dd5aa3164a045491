"""Mutation testing of the pure core and the API's auth and validation, one module at a time (a benchmark, not CI).

Why mutmut (3.x) rather than cosmic-ray: mutmut records which tests reach each mutated function and runs only
those for each mutant, forking a warm interpreter instead of starting one per mutant, so a module's campaign
costs minutes on a shared 2-core machine; cosmic-ray needs a session database and a worker process per mutant,
and re-imports torch/pandas for every one. mutmut's mutants are plain diffs (``mutmut show NAME``), which is what
``bench/results/mutation.md`` has to list.

For each module the campaign runs in a scratch copy of the repository (``mutants/`` is mutmut's working tree,
and each module gets its own ``[tool.mutmut]`` section: the module to mutate and only the test files that cover
it), then the scores and every surviving mutant's diff are written to ``bench/results/mutation.md``. Survivors
are explained in ``bench/mutation_notes.yaml`` (mutant name -> why it is equivalent or harmless); a survivor
without a note is marked UNEXPLAINED in the report.

    python bench/mutation.py                      # every module, in priority order
    python bench/mutation.py hpa oracle           # some modules
    python bench/mutation.py --budget-min 40      # stop starting new modules after 40 minutes
    python bench/mutation.py --report-only        # rebuild the report from the saved per-module results
    python bench/mutation.py simulate --work /tmp/mut   # keep mutmut's copy; rerun after new tests: survivors only
    python bench/mutation.py simulate --carry     # source changed since the saved run: rerun only changed functions
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RAW = RESULTS / "mutation-raw"
NOTES = ROOT / "bench" / "mutation_notes.yaml"


@dataclass(frozen=True)
class Module:
    name: str
    path: str
    tests: tuple[str, ...]
    pure_core: bool = True


# Priority order: the decision and replay models first, then the store and the data layer, then the API.
MODULES = (
    # quantile_outside_events' own tests, but its replay equivalence (5 s a mutant; decide's cases cover it).
    Module(
        "scaling",
        "forecaster/scaling.py",
        (
            "tests/test_scaling.py",
            "tests/test_guarantees_scaling.py",
            *(
                f"tests/test_quantile_outside_events.py::{name}"
                for name in (
                    "test_a_quantile_between_two_columns_is_read_linearly_between_them",
                    "test_a_quantile_outside_the_columns_is_a_clear_error",
                    "test_outside_events_the_lower_quantile_at_events_the_policy_quantile",
                    "test_quantile_outside_events_must_be_a_fraction",
                    "test_event_steps_are_the_profile_steps_of_each_entry",
                    "test_marking_a_forecast_function_keeps_a_repeated_frame_one_object",
                    "test_the_policy_spec_carries_quantile_outside_events",
                )
            ),
            # event_lookahead_s: all but the batched replay's equivalence (seconds a mutant).
            *(
                f"tests/test_event_lookahead.py::{name}"
                for name in (
                    "test_an_event_step_holds_the_largest_of_the_event_steps_ahead",
                    "test_steps_outside_events_and_forecasts_without_marks_are_unchanged",
                    "test_a_quantile_outside_events_and_the_look_ahead_combine",
                    "test_an_unknown_step_stays_unknown_and_an_unknown_later_step_is_not_counted",
                    "test_the_look_ahead_equals_the_brute_force_on_regular_and_irregular_grids",
                    "test_planned_values_looks_ahead_only_with_the_times_and_the_setting",
                    "test_event_lookahead_must_be_seconds_in_range",
                )
            ),
            # event_lookbehind_s: the same, but the batched replay's equivalence.
            *(
                f"tests/test_event_lookbehind.py::{name}"
                for name in (
                    "test_an_event_step_holds_the_largest_of_the_event_steps_before_it",
                    "test_steps_outside_events_and_forecasts_without_marks_are_unchanged",
                    "test_the_look_behind_and_the_look_ahead_combine",
                    "test_the_look_behind_equals_the_brute_force_on_regular_and_irregular_grids",
                    "test_event_lookbehind_must_be_seconds_in_range",
                )
            ),
            # event_band_scale: the same, but the batched replay's equivalence.
            *(
                f"tests/test_event_band_scale.py::{name}"
                for name in (
                    "test_an_event_step_plans_the_p50_plus_the_scaled_margin",
                    "test_the_outside_quantile_is_not_widened_and_the_look_ahead_reads_the_widened_band",
                    "test_a_forecast_without_the_median_is_a_clear_error",
                    "test_a_missing_column_error_names_what_this_forecast_and_policy_need",
                    "test_event_band_scale_from_1_to_10_is_accepted",
                    "test_event_band_scale_must_be_a_factor_in_range",
                    "test_the_policy_spec_carries_event_band_scale",
                )
            ),
        ),
    ),
    Module(
        "hpa",
        "forecaster/hpa.py",
        ("tests/test_hpa.py", "tests/test_guarantees_hpa.py", "tests/test_guarantees_replay.py"),
    ),
    # The oracle's own tests (brute force on small cases); the replay tests reach it too, at ~10 s a mutant.
    Module(
        "oracle",
        "forecaster/oracle.py",
        (
            *(
                f"tests/test_simulate.py::{name}"
                for name in (
                    "test_oracle_is_never_short_and_as_cheap_as_brute_force",
                    "test_oracle_random_small_cases_match_brute_force",
                    "test_oracle_nodes_cover_pods",
                )
            ),
            "tests/test_guarantees_oracle.py",
            "tests/test_guarantees_oracle_edges.py",
        ),
    ),
    Module("series", "forecaster/series.py", ("tests/test_series.py", "tests/test_guarantees_series.py")),
    # The store's own tests (one tiny model); the promotion tests reach it too, training models per mutant.
    Module(
        "store",
        "forecaster/store.py",
        (
            "tests/test_guarantees_store.py",
            # load_for, and the store's crash safety and damaged-pointer handling with one small model
            # (the promotion tests in the same file train several and are left out).
            "tests/test_model_store_load_for.py",
            *(
                f"tests/test_model_store.py::{name}"
                for name in (
                    "test_crash_while_writing_a_version_leaves_the_store_as_it_was",
                    "test_a_killed_writers_temporaries_are_removed_by_the_next_writer",
                    "test_damaged_pointer_and_bad_names",
                    "test_promotion_replaces_a_damaged_pointer_and_keeps_every_version",
                    "test_store_save_promote_load_current",
                    "test_readers_pick_up_a_new_promotion_without_restart",
                )
            ),
        ),
    ),
    # The promotion rules with a one-second training budget; tests/test_guarantees_promotion.py and
    # test_model_store.py train real models (half a minute a mutant) and are left out here.
    Module(
        "promotion",
        "forecaster/promotion.py",
        (
            "tests/test_guarantees_promotion_rules.py",
            "tests/test_guarantees_promotion_edges.py",
            # The tuning the training job stores with a version (_tuning_files, _carried): about half a
            # minute a mutant, for the ~90 mutants in that code.
            "tests/test_tuning_training.py",
        ),
    ),
    Module(
        "windows",
        "forecaster/windows.py",
        ("tests/test_windows_and_metrics.py", "tests/test_guarantees_windows.py"),  # fast: no training
    ),
    # The simulator's contract tests and the replay tests; the CLI's end-to-end run (seconds per mutant, and
    # what it checks is pinned by the contract tests) is left out.
    Module(
        "simulate",
        "forecaster/simulate.py",
        (
            "tests/test_guarantees_simulate.py",
            "tests/test_guarantees_replay.py",
            *(
                f"tests/test_simulate.py::{name}"
                for name in (
                    "test_prescaler_is_ready_before_the_spike_and_hpa_is_not",
                    "test_shift_plan_costs_about_what_the_hpa_does_on_flat_noisy_load",
                    "test_hpa_spare_capacity_absorbs_a_rise_that_a_full_target_misses",
                    "test_forecast_band_has_one_p50_column_when_planning_on_p50",
                    "test_replay_is_deterministic_for_a_seed_with_jitter",
                    "test_nodes_delay_pods_and_the_node_floor_prepares_them",
                    "test_json_has_the_contract_keys",
                    "test_no_forecast_never_lowers_capacity_below_the_hpa",
                    "test_run_metrics_by_hand",
                    "test_prepare_trace_interpolates_5_minute_data",
                    "test_prepare_trace_rejects_bad_traces",
                    "test_startup_longer_than_the_trace_is_an_error",
                )
            ),
        ),
    ),
    Module("api-auth", "forecaster/api/deps.py", ("tests/test_guarantees_auth.py",), pure_core=False),
    Module(
        "api-settings",
        "forecaster/api/settings.py",
        ("tests/test_api_units.py", "tests/test_guarantees_serve_settings.py"),
        pure_core=False,
    ),
)
BY_NAME = {m.name: m for m in MODULES}

# mutmut's exit-code statuses that count as killed, survived, or not tested at all.
KILLED = {"killed", "timeout", "caught by type check", "segfault"}
SURVIVED = {"survived"}


def _existing(tests: tuple[str, ...]) -> list[str]:
    """The test files (or node ids) that exist in this checkout."""
    return [t for t in tests if (ROOT / t.split("::")[0]).exists()]


def _campaign_tests(module: Module) -> list[str]:
    """The module's test files, plus ``tests/test_mutants_<module>.py`` (the tests written to kill its
    survivors) when it exists."""
    extra = f"tests/test_mutants_{module.name.replace('-', '_')}.py"
    return _existing((*module.tests, extra))


def _mutmut_section(module: Module) -> str:
    tests = _campaign_tests(module)
    lines = [
        "[tool.mutmut]",
        'source_paths = ["forecaster"]',
        f'only_mutate = ["{module.path}"]',
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-m", "not prometheus and not slow"]',
        "max_stack_depth = -1",
        "",
    ]
    return "\n".join(lines)


def _scratch_copy(module: Module, *, work: Path | None = None) -> Path:
    """A copy of the sources and tests with the module's ``[tool.mutmut]`` section; into ``work`` if given
    (refreshing an earlier copy there: mutmut's ``mutants/`` and its results are kept)."""
    if work is None:
        work = Path(tempfile.mkdtemp(prefix=f"mutation-{module.name}-"))
    work.mkdir(parents=True, exist_ok=True)
    for name in ("forecaster", "tests"):
        shutil.rmtree(work / name, ignore_errors=True)
        # Fresh modification times (copy, not copy2): mutmut regenerates a module's mutants only when its
        # source is newer than them, and then keeps the results of the functions whose code did not change.
        shutil.copytree(
            ROOT / name,
            work / name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "static"),
            copy_function=shutil.copy,
        )
    static = ROOT / "forecaster" / "api" / "static"
    if static.exists():
        shutil.copytree(static, work / "forecaster" / "api" / "static")
    text = (ROOT / "pyproject.toml").read_text()
    text = re.sub(r"\[tool\.mutmut\].*?(?=\n\[|\Z)", "", text, flags=re.S)
    (work / "pyproject.toml").write_text(text.rstrip() + "\n\n" + _mutmut_section(module))
    return work


def _mutmut(work: Path, *args: str, timeout_s: float | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the scratch copy's mutants/, never the checkout, must be imported
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"})
    exe = Path(sys.executable).with_name("mutmut")
    return subprocess.run(
        [str(exe), *args], cwd=work, env=env, capture_output=True, text=True, timeout=timeout_s
    )


_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
names, path = json.loads(sys.stdin.read())
out = {}
for name in names:
    try:
        out[name] = get_diff_for_mutant(name, path=path)
    except Exception as exc:  # noqa: BLE001 - one unreadable mutant must not lose the others
        out[name] = f"(no diff: {exc})"
print(json.dumps(out))
"""


def _diffs(work: Path, names: list[str], path: str) -> dict[str, str]:
    """Every listed mutant's diff, in one process (``mutmut show`` per mutant costs a second each)."""
    if not names:
        return {}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", _DIFFS],
        cwd=work,
        env=env,
        input=json.dumps([names, path]),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return {name: f"(no diff: {proc.stderr.strip()[-300:]})" for name in names}
    return json.loads(proc.stdout)


def _statuses(work: Path) -> dict[str, str]:
    results = _mutmut(work, "results", "--all", "true")
    statuses: dict[str, str] = {}
    for line in results.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name:
            statuses[name] = status
    return statuses


def _functions(source: str) -> dict[str, str]:
    """mutmut's name for each top-level function and method (``x_name``, ``xǁClassǁname``) -> its code (an AST
    dump: comments and layout do not count, as they make no mutants)."""
    import ast

    out: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out[f"x_{node.name}"] = ast.dump(node)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    out[f"x\u01c1{node.name}\u01c1{item.name}"] = ast.dump(item)
    return out


def _source_at(path: str, sha256: str) -> tuple[str, str] | None:
    """(commit, text) of the last commit whose ``path`` has this sha256, searching its git history."""
    import hashlib

    revs = subprocess.run(
        ["git", "log", "--format=%H", "-n", "300", "--", path], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    for rev in revs:
        blob = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True).stdout
        if hashlib.sha256(blob).hexdigest() == sha256:
            return rev, blob.decode()
    return None


def _carry_plan(module: Module) -> dict | None:
    """For a module whose saved results came from an older source: the results of the functions whose code is
    unchanged (their mutants are the same, by name) and the mutant patterns of the functions to check again."""
    path = RAW / f"{module.name}.json"
    if not path.exists():
        return None
    old = json.loads(path.read_text())
    if old.get("source_sha256") in (None, _source_hash(module.path)):
        return None
    found = _source_at(module.path, old["source_sha256"])
    if found is None:
        return None
    commit, old_source = found
    before, now = _functions(old_source), _functions((ROOT / module.path).read_text())
    changed = sorted(name for name, code in now.items() if before.get(name) != code)
    prefix = module.path.removesuffix(".py").replace("/", ".")
    keep = {
        n: s
        for n, s in old["statuses"].items()
        if n.rsplit("__mutmut_", 1)[0][len(prefix) + 1 :] not in changed
    }
    return {
        "commit": commit,
        "statuses": keep,
        "diffs": {n: d for n, d in old.get("diffs", {}).items() if n in keep},
        "changed": changed,
        "patterns": [f"{prefix}.{name}__mutmut_*" for name in changed],
    }


def run_module(
    module: Module,
    *,
    max_children: int,
    timeout_s: float,
    work: Path | None = None,
    run: bool = True,
    carry: bool = False,
) -> dict:
    """One module's campaign. With ``work`` (a directory kept between runs) an interrupted campaign resumes
    where it stopped, and after new tests only the mutants that survived or went untested are checked again;
    with ``run=False`` the results already in ``work`` are only collected. With ``carry`` (and saved results
    from an older source in git) only the functions changed since are checked; the others keep their results."""
    keep = work is not None
    plan = _carry_plan(module) if carry and run else None
    resumed = keep and (work / "mutants").exists()
    if run or work is None:
        work = _scratch_copy(module, work=work)
    started = time.monotonic()
    try:
        args = ["run", "--max-children", str(max_children)]
        proc = subprocess.CompletedProcess(args, 0, "", "")
        try:
            if plan is not None and plan["patterns"]:
                proc = _mutmut(work, *args, *plan["patterns"], timeout_s=timeout_s)
            elif run and plan is None:
                proc = _mutmut(work, *args, timeout_s=timeout_s)
                again = [n for n, s in _statuses(work).items() if s not in KILLED and s != "not checked"]
                if resumed and again:  # results stand unless named: name the ones the new tests may kill now
                    proc = _mutmut(work, *args, *again, timeout_s=timeout_s)
        except subprocess.TimeoutExpired as exc:  # keep what was checked; report the rest as not checked
            out = exc.stdout or b""
            proc = subprocess.CompletedProcess(exc.cmd, -9, out if isinstance(out, str) else out.decode(), "")
        if plan is not None and not plan["patterns"]:
            # No function changed (a new class attribute, a docstring): mutmut was not run, every result stands.
            statuses = dict.fromkeys(plan["statuses"], "not checked")
        else:
            statuses = _statuses(work)
        carried = {}
        if plan is not None:  # the unchanged functions' mutants were not run here: their results stand
            carried = {
                n: plan["statuses"][n]
                for n, s in statuses.items()
                if s == "not checked" and n in plan["statuses"]
            }
            statuses.update(carried)
        diffs = _diffs(
            work,
            [n for n, s in statuses.items() if s not in KILLED | {"not checked"} and n not in carried],
            module.path,
        )
        diffs.update({n: plan["diffs"][n] for n in carried if n in plan["diffs"]})
        killed = sum(1 for s in statuses.values() if s in KILLED)
        survived = sum(1 for s in statuses.values() if s in SURVIVED)
        other = len(statuses) - killed - survived
        tested = killed + survived
        out = {
            "module": module.name,
            "path": module.path,
            "source_sha256": _source_hash(module.path),
            "tests": _campaign_tests(module),
            "mutants": len(statuses),
            "killed": killed,
            "survived": survived,
            "not_tested": other,
            "score": round(100.0 * killed / tested, 1) if tested else None,
            "statuses": statuses,
            "diffs": diffs,
            "minutes": round((time.monotonic() - started) / 60, 1) if run else None,
            "mutmut_rc": proc.returncode,
            "mutmut_tail": (proc.stdout + proc.stderr)[-2000:] if proc.returncode else "",
        }
        if plan is not None:
            out["carried"] = {
                "from_commit": plan["commit"],
                "mutants": len(carried),
                "rerun": plan["changed"],
            }
            out["remarks"] = (
                f"Functions changed since the results of commit {plan['commit'][:10]} were checked again "
                f"({', '.join(plan['changed']) or 'none'}); the results of the {len(carried)} mutants of the "
                "unchanged functions were carried over (same code, same mutants; the tests have only grown since)."
            )
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    RAW.mkdir(parents=True, exist_ok=True)
    (RAW / f"{module.name}.json").write_text(json.dumps(out, indent=1, sort_keys=True))
    return out


def _source_hash(path: str) -> str:
    import hashlib

    return hashlib.sha256((ROOT / path).read_bytes()).hexdigest()


def _freshness(r: dict) -> str:
    """Whether the module's source is still the one the results came from."""
    recorded = r.get("source_sha256")
    if recorded is None:
        return "not recorded"
    return "current" if recorded == _source_hash(r["path"]) else "changed since"


def _carried(r: dict) -> str:
    carried = r.get("carried")
    return f" ({carried['mutants']} carried over)" if carried else ""


def _notes() -> dict[str, dict[str, str | None]]:
    """Mutant name -> {"why": the reason, "line": None or text the mutant's changed line must contain}.

    A note is either the reason alone or ``{why: ..., line: ...}``: mutmut numbers a function's mutants in
    order, so after an edit to that function a name can denote another mutant; a note with ``line`` applies
    only while the mutant's diff still adds a line containing it (else the survivor is reported as
    unexplained, with the note shown as not matching)."""
    if not NOTES.exists():
        return {}
    out: dict[str, dict[str, str | None]] = {}
    for key, value in (yaml.safe_load(NOTES.read_text()) or {}).items():
        if isinstance(value, dict):
            out[str(key)] = {
                "why": str(value["why"]),
                "line": str(value["line"]) if value.get("line") else None,
            }
        else:
            out[str(key)] = {"why": str(value), "line": None}
    return out


def _explanation(name: str, diff: str, notes: dict[str, dict[str, str | None]]) -> tuple[str | None, str]:
    """(the reason if a note applies to this survivor, the text for the report)."""
    note = notes.get(name)
    if note is None:
        return None, "UNEXPLAINED"
    line = note["line"]
    added = [row[1:] for row in diff.splitlines() if row.startswith("+") and not row.startswith("+++")]
    if line is not None and not any(line in row for row in added):
        return None, f"UNEXPLAINED (the note for this name was written for another mutant: {note['why']})"
    return note["why"], note["why"]


def write_report() -> Path:
    notes = _notes()
    rows, sections = [], []
    for module in MODULES:
        path = RAW / f"{module.name}.json"
        if not path.exists():
            rows.append(f"| {module.name} | `{module.path}` | not run | | | | | | | | |")
            continue
        r = json.loads(path.read_text())
        score = "n/a" if r["score"] is None else f"{r['score']:.1f}%"
        survivors = {n: s for n, s in r["statuses"].items() if s not in KILLED | {"not checked"}}
        reasons = {n: _explanation(n, r["diffs"].get(n, ""), notes) for n in survivors}
        equivalent = sum(
            1
            for n, s in survivors.items()
            if s in SURVIVED and (reasons[n][0] or "").startswith("equivalent")
        )
        unexplained = sum(1 for n in survivors if reasons[n][0] is None)
        counted = r["killed"] + r["survived"] - equivalent
        adjusted = f"{100.0 * r['killed'] / counted:.1f}%" if counted else "n/a"
        rows.append(
            f"| {module.name} | `{module.path}` | {score} | {adjusted} | {r['killed']} | {r['survived']} | "
            f"{equivalent} | {unexplained} | {r['not_tested']} | {r['minutes'] or 'resumed'} | {_freshness(r)}{_carried(r)} |"
        )
        unchecked = sum(1 for s in r["statuses"].values() if s == "not checked")
        if not survivors and not unchecked:
            continue
        sections.append(f"\n### {module.name} ({module.path})\n\nTests: {', '.join(r['tests'])}\n")
        if r.get("remarks"):
            sections.append(f"{r['remarks']}\n")
        if unchecked:
            sections.append(
                f"- {unchecked} mutants not checked: the campaign stopped (its time limit) before reaching them;"
                " they count in neither score.\n"
            )
        for name, status in sorted(survivors.items()):
            why = reasons[name][1]
            sections.append(f"- `{name}` ({status}): {why}\n")
            diff = r["diffs"].get(name, "").strip()
            body = "\n".join(line for line in diff.splitlines() if line.startswith(("+", "-")))
            if body:
                sections.append(f"\n  ```diff\n{_indent(body)}\n  ```\n")
    text = "\n".join(
        [
            "# Mutation testing (mutmut 3)",
            "",
            "Generated by `python bench/mutation.py` (each module in a scratch copy, with only the test files",
            "that cover it). Score = killed / (killed + survived), timeouts counted as killed, as mutmut does;",
            "without equivalent = the same with the survivors explained as equivalent (they cannot change",
            "behaviour) left out. Survivors are explained in `bench/mutation_notes.yaml` and listed below;",
            "unexplained = survivors with no note. Modules marked 'not run' were not run in this campaign.",
            "source: 'current' when the module is unchanged since its run; 'changed since' or 'not recorded' (runs",
            "before the check existed) mean its row may be stale: rerun it with `python bench/mutation.py MODULE`.",
            "",
            "| module | file | score | without equivalent | killed | survived | equivalent | unexplained | not tested | minutes | source |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "How to run: `pip install -e '.[dev,bench]'`, then `python bench/mutation.py` (every module, one",
            "mutant at a time) or `python bench/mutation.py hpa oracle`; `--report-only` rebuilds this file from",
            "`bench/results/mutation-raw/`. On the shared 2-core machine a module takes 1 to 11 minutes, simulate longer.",
            "",
            "Scope of this campaign: each module ran against the test files listed with it below (the fast ones",
            "that pin its behaviour). The oracle ran against its brute-force and edge tests, the store against its",
            "contract tests, promotion against the one-second-budget rules and edges, windows against the by-hand",
            "tests, simulate against its contract tests (tests/test_guarantees_simulate.py) and the replay tests",
            "(without the CLI's end-to-end run); the slower tests that train full models or replay whole traces",
            "also cover these modules but were not used here. `--work DIR` keeps mutmut's copy: after new tests,",
            "a rerun checks only the survivors again (simulate has ~1,100 mutants, about an hour on a busy machine).",
            "Each campaign also runs `tests/test_mutants_<module>.py` when it exists: behaviour tests written to kill",
            "that module's survivors (adding such a file changes the test selection, so mutmut then reruns every mutant).",
            "`--carry`: when a module changed since its saved run, only the functions whose code changed (compared with",
            "the run's source, found in git) are run again; the others' results are carried over, and the row says how many.",
            "A note in `bench/mutation_notes.yaml` may name the mutated line (`line:`): it then explains a survivor only",
            "while that survivor's diff adds that line (mutmut renumbers a function's mutants when the function changes).",
            "",
            "## Surviving and untested mutants",
            *sections,
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "mutation.md"
    out.write_text(text.rstrip() + "\n")
    return out


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"modules to run (default all): {', '.join(BY_NAME)}")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutants (default 1)")
    parser.add_argument("--budget-min", type=float, default=0, help="start no module after this (0: none)")
    parser.add_argument(
        "--module-timeout-min", type=float, default=60, help="give up on one module after this"
    )
    parser.add_argument(
        "--carry",
        action="store_true",
        help="when the saved results came from an older source: check only the functions changed since (found "
        "in git) and carry over the results of the others",
    )
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from saved results")
    parser.add_argument(
        "--collect-only",
        action="store_true",
        help="with --work: collect the results already in WORK/<module> (after an interrupted run), run nothing",
    )
    parser.add_argument(
        "--work",
        type=Path,
        help="keep each module's mutmut copy in WORK/<module> and resume from it (after adding tests, only the "
        "survivors are checked again); default: a temporary copy, removed after the module",
    )
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in BY_NAME]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    if args.collect_only and not args.work:
        parser.error("--collect-only needs --work (the directory of the interrupted run)")
    if not args.report_only:
        started = time.monotonic()
        for module in [BY_NAME[m] for m in args.modules] or list(MODULES):
            if args.budget_min and (time.monotonic() - started) / 60 > args.budget_min:
                print(f"{module.name}: skipped (budget of {args.budget_min:g} min spent)", flush=True)
                continue
            r = run_module(
                module,
                max_children=args.max_children,
                timeout_s=args.module_timeout_min * 60,
                work=args.work / module.name if args.work else None,
                run=not args.collect_only,
                carry=args.carry,
            )
            print(
                f"{module.name}: score {r['score']}% ({r['killed']} killed, {r['survived']} survived, "
                f"{r['not_tested']} not tested) in {r['minutes']} min",
                flush=True,
            )
    print(write_report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
