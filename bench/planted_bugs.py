"""Planted-bug campaign: does the test suite catch the one-line bugs that would hurt users? (a benchmark, not CI).

Each entry of :data:`CATALOGUE` is a plausible one-line bug a person could write (an off-by-one, a wrong
comparison, swapped arguments, a missing clamp, a wrong unit, a dropped condition, a wrong default, an inverted
boolean, a wrong key, an early return), written against a behaviour users rely on, with the harm it would do.
The campaign plants each bug alone in a scratch copy of the repository (the working tree is never edited),
runs the tests that cover the planted file (:data:`TESTS`, stopping at the first failure, with a per-bug
timeout), records whether a test failed (caught) or everything passed (slipped), and puts the line back.

Before planting anything, every test group used is run once unplanted: a group that fails on the clean code
would "catch" every bug, so the campaign stops instead. A planted line that is not found exactly once in its
file also stops it (the catalogue must follow the code as it changes).

    nice -n 10 python bench/planted_bugs.py                  # the whole catalogue
    nice -n 10 python bench/planted_bugs.py --jobs 2         # two scratch copies in parallel
    python bench/planted_bugs.py --only store-previous,api-any-selector   # some bugs
    python bench/planted_bugs.py --module api                # one module
    python bench/planted_bugs.py --check                     # only check that every planted line is found
    nice -n 10 python bench/planted_bugs.py --campaign 3 --before   # a fresh catalogue, before its own tests

Writes ``bench/results/planted.md`` (score per module, overall, every slipped bug with its harm) and
``bench/results/planted.json`` (one record per bug). A partial run (``--only``/``--module``) writes
``planted.partial.json`` and leaves the report alone unless ``--report`` is given. ``--campaign N`` runs the
fresh catalogue of bench/planted_catalogue_N.py instead and writes ``plantedN*.md/json``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable


@dataclass(frozen=True)
class Bug:
    id: str
    file: str
    original: str
    """The exact text replaced; must occur exactly once in ``file``."""
    replacement: str
    harm: str
    """What a user would see if this bug shipped."""


def _b(id_: str, file: str, original: str, replacement: str, harm: str) -> Bug:
    return Bug(id_, file, original, replacement, harm)


SCALING = "forecaster/scaling.py"
HPA = "forecaster/hpa.py"
ORACLE = "forecaster/oracle.py"
SIMULATE = "forecaster/simulate.py"
STORE = "forecaster/store.py"
PROMOTION = "forecaster/promotion.py"
SERIES = "forecaster/series.py"
WINDOWS = "forecaster/windows.py"
REPLAY_BATCH = "forecaster/replay_batch.py"
HPA_BATCH = "forecaster/hpa_batch.py"
CLI_PRESCALE = "forecaster/cli_prescale.py"
CLI_SERVE = "forecaster/cli_serve.py"
P = "forecaster/prescaler/"
A = "forecaster/api/"

CATALOGUE: tuple[Bug, ...] = (
    # -- the decision (scaling.py) ---------------------------------------------------------------------------
    _b(
        "scaling-window-start-open",
        SCALING,
        "inside = (times >= start) & (times <= end)",
        "inside = (times > start) & (times <= end)",
        "the forecast step at the start of the planning window is ignored: a peak due exactly then gets no capacity",
    ),
    _b(
        "scaling-round-not-ceil",
        SCALING,
        "return max(0, math.ceil(load * (1 + policy.headroom) / policy.capacity_per_replica - 1e-9))",
        "return max(0, round(load * (1 + policy.headroom) / policy.capacity_per_replica))",
        "2.4 replicas' worth of load gets 2 replicas: under-provisioned at every fractional need",
    ),
    _b(
        "scaling-observed-above-max",
        SCALING,
        'bounded, reason = min(observed_need, policy.max_replicas), "observed_load"',
        'bounded, reason = observed_need, "observed_load"',
        "a surge in the observed load scales the workload past max_replicas",
    ),
    _b(
        "scaling-rate-limit-period-forgotten",
        SCALING,
        "        if desired < last:\n            last_down = now",
        "        if desired < last:\n            pass",
        "scale_down_max_step is applied per tick instead of per scale_down_period_s: capacity drains faster than configured",
    ),
    _b(
        "scaling-no-forecast-above-max",
        SCALING,
        "keep = min(max(keep, policy.min_replicas), policy.max_replicas)",
        "keep = max(keep, policy.min_replicas)",
        "without a forecast, a previous value above a lowered max_replicas is kept above the maximum",
    ),
    _b(
        "scaling-nodes-max-pods-ignored",
        SCALING,
        "per_node = min(per_node, int(max_pods_per_node))",
        "per_node = max(per_node, int(max_pods_per_node))",
        "max_pods_per_node is ignored when the node could fit more by size: too few nodes, pods stay pending",
    ),
    _b(
        "scaling-rise-threshold-sign",
        SCALING,
        "ahead > base * (1 + policy.rise_threshold)",
        "ahead > base * (1 - policy.rise_threshold)",
        "plan=rise raises the floor for a flat or slightly falling forecast: pays for capacity the HPA would handle",
    ),
    # -- the HPA model (hpa.py) ------------------------------------------------------------------------------
    _b(
        "hpa-target-utilisation-ignored",
        HPA,
        "target = config.capacity_per_replica * config.target_utilisation",
        "target = config.capacity_per_replica",
        "the replayed HPA keeps pods 100% busy whatever its target: the reactive baseline looks cheaper than it is",
    ),
    _b(
        "hpa-rate-base-sign",
        HPA,
        "start = current - added + removed",
        "start = current + added - removed",
        "scale events inside a policy period raise the limit instead of using it up: the replayed HPA scales up faster than Kubernetes",
    ),
    _b(
        "hpa-select-max-inverted",
        HPA,
        'return max(proposals) if rules.select == "Max" else min(proposals)',
        'return min(proposals) if rules.select == "Max" else max(proposals)',
        "selectPolicy Max picks the smallest scale-up: the replayed HPA is slower than the real one",
    ),
    _b(
        "hpa-down-stabilisation-min",
        HPA,
        "down_rec = max(down_rec, rec)",
        "down_rec = min(down_rec, rec)",
        "the scale-down stabilisation window keeps the lowest proposal: the replayed HPA drops pods at once",
    ),
    _b(
        "hpa-events-forgotten",
        HPA,
        "cutoff = now - pd.Timedelta(minutes=30)",
        "cutoff = now - pd.Timedelta(seconds=30)",
        "scale events are forgotten after 30 s: policies with a longer period (e.g. 4 pods per 60 s) do not limit",
    ),
    # -- the oracle (oracle.py) ------------------------------------------------------------------------------
    _b(
        "oracle-started-late",
        ORACLE,
        "layer_exist[max(0, s - startup_min) : s] = True",
        "layer_exist[max(0, s - startup_min + 1) : s] = True",
        "the oracle starts pods one minute short of their start-up: its cost floor is too low",
    ),
    _b(
        "oracle-last-initial-pod",
        ORACLE,
        "prev_end = 0 if k <= initial else None",
        "prev_end = 0 if k < initial else None",
        "the last pod that exists at the start is treated as absent: the oracle pays a start-up it does not need",
    ),
    # -- the replay simulator (simulate.py) ------------------------------------------------------------------
    _b(
        "replay-metric-window-ignored",
        SIMULATE,
        "width = max(1, int(round(hpa.metric_window_s / 60)))",
        "width = 1",
        "the replayed HPA reads a one-minute metric whatever metric_window_s says: it reacts faster than the real one",
    ),
    _b(
        "replay-cost-ready-only",
        SIMULATE,
        '"replica_minutes": float(pods.sum()),',
        '"replica_minutes": float(ready.sum()),',
        "replica-minutes leave out starting pods: runs that start many pods look cheaper",
    ),
    _b(
        "replay-cold-start",
        SIMULATE,
        "initial = int(need[: warm_min + 1].max())",
        "initial = int(need[0])",
        "every run starts with the first minute's need only: a rise in the first start-up counts against every run",
    ),
    _b(
        "replay-node-lead-time",
        SIMULATE,
        "lead_time_s=self.cluster.node_startup_s + self.cluster.pod_startup_s,",
        "lead_time_s=self.cluster.node_startup_s,",
        "the node group is planned without the pods' own start-up: nodes arrive too late for the spike",
    ),
    _b(
        "replay-decides-every-minute",
        SIMULATE,
        "if tick_forecast is not None and m % interval_min == 0:",
        "if tick_forecast is not None:",
        "the replay decides every minute whatever the policy's interval: it measures a controller that does not exist",
    ),
    _b(
        "replay-metric-reads-future",
        SIMULATE,
        "end = np.floor(t / 60).astype(np.int64) + offset",
        "end = np.ceil(t / 60).astype(np.int64) + offset",
        "the replayed HPA's metric includes the minute not finished yet: the reactive baseline sees the future",
    ),
    _b(
        "replay-resample-sum",
        SIMULATE,
        "return regular.resample(TICK, origin=regular.index[0]).mean().astype(float)",
        "return regular.resample(TICK, origin=regular.index[0]).sum().astype(float)",
        "a 15-second trace is summed per minute: four times the load is replayed",
    ),
    _b(
        "replay-forecast-reads-now",
        SIMULATE,
        't = int(index.searchsorted(pd.Timestamp(now), side="left"))',
        't = int(index.searchsorted(pd.Timestamp(now), side="right"))',
        "the replayed forecast at a tick reads the sample at that tick: the prescaler is scored with a look at the future",
    ),
    # -- the model store (store.py) --------------------------------------------------------------------------
    _b(
        "store-version-minutes",
        STORE,
        'version = f"{created:%Y%m%dT%H%M%S}Z-{digest}"',
        'version = f"{created:%Y%m%dT%H%M}Z-{digest}"',
        "version names drop the seconds: saved versions are not listed or promotable",
    ),
    _b(
        "store-previous-lost",
        STORE,
        '"previous": previous["version"] if previous else None,',
        '"previous": version,',
        "the pointer names itself as previous: the rollback target is lost",
    ),
    _b(
        "store-promotion-not-picked-up",
        STORE,
        "if promoted is None or promoted.ref.version != version:",
        "if promoted is None:",
        "a newly promoted model is never picked up by the running service or prescaler (needs a restart)",
    ),
    _b(
        "store-quantile-check-swapped",
        STORE,
        "missing = {quantile_label(q) for q in quantiles or ()} - {quantile_label(q) for q in model.quantiles}",
        "missing = {quantile_label(q) for q in model.quantiles} - {quantile_label(q) for q in quantiles or ()}",
        "a model lacking the quantile the config plans on is accepted; one with extra quantiles is refused",
    ),
    _b(
        "store-live-temp-removed",
        STORE,
        "if age_s < self.stale_temp_age_s:",
        "if age_s > self.stale_temp_age_s:",
        "a writer removes another live writer's temporary files mid-write (and keeps a killed writer's forever)",
    ),
    _b(
        "store-damaged-bytes-lost",
        STORE,
        'self.backend.put_atomic(f"{target}/{DAMAGED_POINTER_FILE}", raw)',
        'self.backend.put_atomic(f"{target}/{DAMAGED_POINTER_FILE}", b"")',
        "a damaged pointer's bytes are thrown away when a promotion replaces it (nothing to investigate)",
    ),
    # -- promotion (promotion.py) ----------------------------------------------------------------------------
    _b(
        "promotion-trains-on-holdout",
        PROMOTION,
        "series.iloc[:split], model=cfg.model, train=cfg.train",
        "series, model=cfg.model, train=cfg.train",
        "the candidate trains on the range it is then scored on: it wins its backtest unfairly and gets promoted",
    ),
    _b(
        "promotion-metrics-not-saved",
        PROMOTION,
        "saved = store.save(cfg.name, model, metrics=metrics, now=now, extra_files=extra)",
        "saved = store.save(cfg.name, model, now=now, extra_files=extra)",
        "the backtest scores are not stored with the version: the API and dashboard show no metrics",
    ),
    _b(
        "promotion-daily-origins",
        PROMOTION,
        "BACKTEST_EVERY = pd.Timedelta(hours=1)",
        "BACKTEST_EVERY = pd.Timedelta(days=1)",
        "the backtest has one origin a day: promotion decided on a handful of forecasts",
    ),
    # -- the series layer (series.py) ------------------------------------------------------------------------
    _b(
        "series-long-gaps-filled",
        SERIES,
        "fillable = isna & (run_len <= limit)",
        "fillable = isna",
        "gaps longer than max_interp_gap are interpolated: hours of invented data are trained and replayed on",
    ),
    _b(
        "series-snap-floor",
        SERIES,
        "slots = np.rint((index.asi8 - start.value) / step_td.value).astype(np.int64)",
        "slots = np.floor((index.asi8 - start.value) / step_td.value).astype(np.int64)",
        "a sample a second early is put one step back: jittered sources (CloudWatch) get holes and overwrites",
    ),
    _b(
        "series-duplicates-last-is-first",
        SERIES,
        'merged = grouped.mean() if duplicates == "mean" else grouped.last()',
        'merged = grouped.mean() if duplicates == "mean" else grouped.first()',
        "--on-duplicate last keeps the first value of each duplicated timestamp",
    ),
    _b(
        "series-week-unit",
        SERIES,
        '"w": 7 * 86400}',
        '"w": 7 * 3600}',
        "'2w' of history means 14 hours",
    ),
    # -- windows (windows.py) --------------------------------------------------------------------------------
    _b(
        "windows-history-needed-no-season",
        WINDOWS,
        "return max(self.lookback, self.season + self.lookback if self.season else 0)",
        "return self.lookback",
        "origins without a day of history read their daily lags from before the series start (wrapping to its end)",
    ),
    _b(
        "windows-lag-reads-target",
        WINDOWS,
        "fut_lag_idx = np.where(fut_lag_idx >= origins[:, None], fut_lag_idx - m, fut_lag_idx)",
        "fut_lag_idx = np.where(fut_lag_idx > origins[:, None], fut_lag_idx - m, fut_lag_idx)",
        "with a horizon of a full season, the lag input of one step is the value being forecast: leaks the target",
    ),
    _b(
        "windows-target-gap-unchecked",
        WINDOWS,
        "ok &= clean(t, t + spec.horizon)",
        "ok &= clean(t, t + spec.horizon - 1)",
        "training windows whose last target step is missing are kept: NaN losses",
    ),
    _b(
        "windows-week-phase",
        WINDOWS,
        "week = 2 * np.pi * ((seconds + 3 * _DAY_S) % _WEEK_S) / _WEEK_S",
        "week = 2 * np.pi * ((seconds - 3 * _DAY_S) % _WEEK_S) / _WEEK_S",
        "the day-of-week input is shifted by six days: committed models forecast Monday as if it were Tuesday",
    ),
    # -- the controller (forecaster/prescaler) ---------------------------------------------------------------
    _b(
        "actuators-placeholder-negative",
        P + "actuators.py",
        "return max(0, decision.desired_replicas - int(target.workload_pods or 0))",
        "return decision.desired_replicas - int(target.workload_pods or 0)",
        "a workload already above the need asks for negative placeholder replicas (rejected by the API server)",
    ),
    _b(
        "actuators-floor-below-original",
        P + "actuators.py",
        "floor = min(max(desired, original), ceiling)",
        "floor = min(desired, ceiling)",
        "the prescaler lowers an HPA's minReplicas below what its owner set",
    ),
    _b(
        "actuators-ceiling-ignored",
        P + "actuators.py",
        "ceiling = int(spec.get(self.max_field, self.implicit_max or desired))",
        "ceiling = int(self.implicit_max or desired)",
        "the floor is raised above the HPA's maxReplicas (an invalid HPA)",
    ),
    _b(
        "actuators-release-not-owned",
        P + "actuators.py",
        '(o["metadata"].get("annotations") or {}).get(OWNER_ANNOTATION) == policy.key',
        '(o["metadata"].get("annotations") or {}).get(ORIGINAL_FLOOR_ANNOTATION)',
        "deleting one policy restores floors raised by other policies in the namespace",
    ),
    _b(
        "actuators-target-kind-ignored",
        P + "actuators.py",
        'kind == policy.target.kind and ref.get("name") == policy.target.name and group == policy.target.group',
        'ref.get("name") == policy.target.name and group == policy.target.group',
        "a policy on Deployment web raises the floor of the HPA of StatefulSet web",
    ),
    _b(
        "actuators-restore-inverted",
        P + "actuators.py",
        "            if recorded is None:\n                return None, Applied(now)",
        "            if recorded is not None:\n                return None, Applied(now)",
        "a raised floor is never put back when the prescaler lets go (and restore rewrites floors it never raised)",
    ),
    _b(
        "loop-replicas-lowered-on-old-forecast",
        P + "loop.py",
        "if holding is not None and not actuator.floor:",
        "if holding is not None and actuator.floor:",
        "the Replicas actuator scales down on a stale forecast during an outage",
    ),
    _b(
        "loop-floor-kept-without-forecast",
        P + "loop.py",
        "letting_go = plan.forecast_only or (plan.problem is not None and plan.holding is None)",
        "letting_go = plan.forecast_only",
        "when the forecast is lost for good the raised floor stays instead of handing back to the HPA",
    ),
    _b(
        "loop-guard-ignored",
        P + "loop.py",
        "            spec_only or guard.active,",
        "            spec_only,",
        "the accuracy guard reports a bad model but the prescaler keeps scaling on it",
    ),
    _b(
        "loop-observed-load-inverted",
        P + "loop.py",
        "if fresh is not None and tick.actuator.uses_observed_load else None",
        "if fresh is not None and not tick.actuator.uses_observed_load else None",
        "the Replicas actuator ignores the load observed now (a surge the forecast missed is not followed)",
    ),
    _b(
        "loop-dry-run-releases",
        P + "loop.py",
        "if FINALIZER in policy.finalizers and not self.dry_run:",
        "if FINALIZER in policy.finalizers:",
        "a --dry-run prescaler writes to the cluster when a policy is deleted",
    ),
    _b(
        "forecasts-reach-interval-only",
        P + "forecasts.py",
        "reach = pd.Timedelta(seconds=policy.scaling.lead_time_s + policy.scaling.interval_s)",
        "reach = pd.Timedelta(seconds=policy.scaling.interval_s)",
        "during an outage the last good forecast is acted on after it stopped covering the lead-time window",
    ),
    _b(
        "forecasts-nan-tail-fresh",
        P + "forecasts.py",
        "observed = result.history.dropna()",
        "observed = result.history",
        "a history whose recent points are all missing counts as fresh: the prescaler acts on stale data",
    ),
    _b(
        "guard-wape-over-forecast",
        P + "guard.py",
        'totals.extend(np.abs(both["a"]).tolist())',
        'totals.extend(np.abs(both["f"]).tolist())',
        "the guard's error divides by the forecast: a model that over-forecasts wildly looks accurate",
    ),
    _b(
        "kube-retry-after-uncapped",
        P + "kube.py",
        "delay = max(delay, min(exc.retry_after_s, self.settings.max_retry_after_s))",
        "delay = exc.retry_after_s",
        "a busy API server's Retry-After stalls a whole tick (no cap)",
    ),
    _b(
        "kube-429-not-retried",
        P + "kube.py",
        "elif status == 429 or status >= 500 or status == 408:",
        "elif status >= 500:",
        "throttled requests (429) are not retried: a busy API server fails ticks",
    ),
    _b(
        "kube-no-resource-version",
        P + "kube.py",
        'patch.setdefault("metadata", {})["resourceVersion"] = obj["metadata"].get("resourceVersion")',
        'patch.setdefault("metadata", {})',
        "patches carry no resourceVersion: a concurrent change by another controller is overwritten",
    ),
    _b(
        "kube-last-retry-dropped",
        P + "kube.py",
        "for attempt in range(len(schedule) + 1):",
        "for attempt in range(len(schedule)):",
        "the last retry of the schedule never happens (and a run of failures ends in an AssertionError)",
    ),
    _b(
        "policy-headroom-percent",
        P + "policy.py",
        "headroom=headroom / 100.0,",
        "headroom=headroom,",
        "headroomPercent: 10 means +1000%",
    ),
    _b(
        "policy-floor-stabilisation-default",
        P + "policy.py",
        '"0" if str(spec.get("plan", "shift" if floor else "peak")) == "shift" else "5m",',
        '"5m",',
        "HPA floors hold every raise 5 more minutes by default: the measured-best plan costs more",
    ),
    _b(
        "policy-min-samples-ignored",
        P + "policy.py",
        'min_samples=max(1, _int(spec, "minSamples", path, 10) or 1),',
        "min_samples=1,",
        "the accuracy guard judges a model on a single point",
    ),
    _b(
        "policy-recover-ratio-unbounded",
        P + "policy.py",
        "if not 0 < recover <= 1:",
        "if not 0 < recover:",
        "a recoverRatio above 1 is accepted: the guard switches off above its own threshold and flaps",
    ),
    _b(
        "policy-deletion-missed",
        P + "policy.py",
        'deleting=bool(meta.get("deletionTimestamp")),',
        'deleting=bool(meta.get("deletionGracePeriodSeconds")),',
        "a deleted policy is never finalized: its floor stays raised and the policy hangs in Terminating",
    ),
    _b(
        "policy-mebibyte-unit",
        P + "policy.py",
        '"Mi": 2**20,',
        '"Mi": 10**6,',
        "memory quantities in Mi are read 5% too small: node counts are off",
    ),
    _b(
        "leader-never-takes-over",
        P + "leader.py",
        "if holder and holder != self.identity and now < self._observed_at + duration:",
        "if holder and holder != self.identity:",
        "a standby never takes over an expired lease: no prescaler runs after the leader dies",
    ),
    _b(
        "status-transition-time-moves",
        P + "status.py",
        'rfc3339(now) if changed else before.get("lastTransitionTime", rfc3339(now))',
        "rfc3339(now)",
        "every condition's lastTransitionTime moves every tick: kubectl shows no history",
    ),
    _b(
        "status-state-forgotten",
        P + "status.py",
        "last_desired=int(last) if last is not None else None,",
        "last_desired=None,",
        "a new leader (or restart) forgets the last desired value: stabilisation and rate limits start over",
    ),
    _b(
        "asg-cooldown-honoured",
        P + "asg.py",
        "AutoScalingGroupName=name, DesiredCapacity=target, HonorCooldown=False",
        "AutoScalingGroupName=name, DesiredCapacity=target, HonorCooldown=True",
        "a scale-up the prescaler planned ahead waits for the group's cooldown: nodes arrive after the spike",
    ),
    _b(
        "asg-5xx-not-retried",
        P + "asg.py",
        "temporary = code in _THROTTLING or status >= 500",
        "temporary = code in _THROTTLING",
        "an AWS 5xx fails the tick instead of being retried",
    ),
    # -- the API (forecaster/api) ----------------------------------------------------------------------------
    _b(
        "auth-scheme-case",
        A + "deps.py",
        'if scheme.lower() != "bearer" or not',
        'if scheme != "Bearer" or not',
        "clients sending 'bearer <token>' (lowercase, valid per RFC 9110) are refused",
    ),
    _b(
        "auth-token-file-newline",
        A + "settings.py",
        "token = Path(self.auth_token_file).read_text().strip()",
        "token = Path(self.auth_token_file).read_text()",
        "a token file ending in a newline (kubectl create secret --from-file) locks every client out",
    ),
    _b(
        "settings-yaml-over-env",
        A + "settings.py",
        "        if key in env:",
        "        if key in env and name not in values:",
        "an environment variable no longer overrides the YAML file",
    ),
    _b(
        "handlers-errors-uncapped",
        A + "handlers.py",
        "fields = [_field_error(err) for err in errors[:MAX_LISTED_ERRORS]]",
        "fields = [_field_error(err) for err in errors]",
        "50,000 bad timestamps answer with a multi-megabyte error body",
    ),
    # Replaced "handlers-source-error-500" (SourceError answered 500 instead of 502): no request path raises a
    # SourceError today (the refresher catches source failures and serves the last forecast as stale), so that
    # bug could not reach a user; this one does.
    _b(
        "handlers-http-headers-dropped",
        A + "handlers.py",
        'return _error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))',
        "return _error(exc.status_code, str(exc.detail))",
        "a 401 loses its WWW-Authenticate header: clients are not told how to authenticate",
    ),
    _b(
        "handlers-chunked-body-unlimited",
        A + "handlers.py",
        'seen += len(message.get("body", b""))',
        'seen = len(message.get("body", b""))',
        "a chunked body of any size is accepted as long as each chunk is small (memory exhaustion)",
    ),
    _b(
        "forecast-fewer-values",
        A + "routes/forecast.py",
        "if len(body.history.values) != n:",
        "if len(body.history.values) > n:",
        "a history with fewer values than timestamps gets a 500 instead of a 422 naming history.values",
    ),
    _b(
        "forecast-step-coarser-accepted",
        A + "routes/forecast.py",
        "if step != state.step:",
        "if step < state.step:",
        "a history at a coarser step is forecast by a model trained on another step: wrong numbers, no error",
    ),
    _b(
        "forecast-nan-served",
        A + "routes/forecast.py",
        "frame = require_finite_forecast(frame[wanted], history=history)  # the response holds only numbers",
        "frame = frame[wanted]",
        "a history of huge values gets a 500 (NaN in JSON) instead of a 422 saying why",
    ),
    _b(
        "targets-page-repeats",
        A + "routes/targets.py",
        "start = bisect.bisect_right(matching, after) if after is not None else 0",
        "start = bisect.bisect_left(matching, after) if after is not None else 0",
        "each page of /v1/targets repeats the last target of the previous page",
    ),
    _b(
        "targets-extra-page",
        A + "routes/targets.py",
        "more = start + limit < len(matching)",
        "more = start + limit <= len(matching)",
        "a listing that ends exactly at a page boundary hands out a continue token to an empty page",
    ),
    _b(
        "targets-history-limit-default",
        A + "routes/targets.py",
        "if hist > settings.max_history_td:",
        "if hist > settings.default_history_td:",
        "asking for more than the default history (e.g. 12h of 24h allowed) is refused",
    ),
    _b(
        "targets-cache-public",
        A + "routes/targets.py",
        'cache_control = "private" if request.app.state.auth_token is not None else "public"',
        'cache_control = "public"',
        "token-protected forecasts are marked cacheable by shared proxies",
    ),
    _b(
        "cache-refresh-every-tick",
        A + "cache.py",
        "return state.last_success_bucket is None or self._bucket(state, now) > state.last_success_bucket",
        "return state.last_success_bucket is None or self._bucket(state, now) >= state.last_success_bucket",
        "every target is refreshed on every tick (once a second) instead of once a step: Prometheus is hammered",
    ),
    _b(
        "cache-retry-inverted",
        A + "cache.py",
        "return now - state.last_error_at >= self.retry_interval",
        "return now - state.last_error_at <= self.retry_interval",
        "after a failed refresh the source is queried every tick for retry_interval, then never again",
    ),
    _b(
        "cache-zero-history-everything",
        A + "cache.py",
        "actual = entry.actual.iloc[-history_steps:] if history_steps > 0 else entry.actual.iloc[:0]",
        "actual = entry.actual.iloc[-history_steps:]",
        "asking for less history than one step returns the whole day of actuals",
    ),
    _b(
        "cache-stale-body-cached",
        A + "cache.py",
        "key = (quantiles, history_steps, stale)",
        "key = (quantiles, history_steps)",
        "a body rendered while fresh keeps being served after the forecast went stale (stale: false)",
    ),
    _b(
        "selectors-or",
        A + "selectors.py",
        "return lambda labels: all(check(labels) for check in checks)",
        "return lambda labels: any(check(labels) for check in checks)",
        "labelSelector team=payments,tier!=batch lists targets matching either term",
    ),
    _b(
        "quantiles-order-as-asked",
        A + "quantiles.py",
        "return tuple(q for q in available if q in chosen)",
        "return tuple(dict.fromkeys(quantile_label(parse_quantile_label(x)) for x in labels))",
        "quantiles come back in the order asked: p90,p50 and p50,p90 get different ETags and cache entries",
    ),
)


# -- which tests cover which file ---------------------------------------------------------------------------
# The tests a developer would run for a change to the file (the suite's own tests of that module and the
# guarantees written for it), not the whole suite. Prometheus-backed API tests are included: they are how the
# service is tested end to end.
_REPLAY_TESTS = (
    "tests/test_simulate.py",
    "tests/test_guarantees_replay.py",
    "tests/test_guarantees_simulate.py",
    "tests/test_prescaler_equivalence.py",
)
_PRESCALER_TESTS = (
    "tests/test_prescaler_units.py",
    "tests/test_prescaler_loop.py",
    "tests/test_prescaler_failsafe.py",
    "tests/test_prescaler_kube.py",
    "tests/test_prescaler_keda.py",
    "tests/test_prescaler_policy.py",
    "tests/test_prescaler_leader.py",
    "tests/test_prescaler_events.py",
    "tests/test_prescaler_asg.py",
    "tests/test_prescaler_fleet.py",
    "tests/test_prescaler_cli.py",
    "tests/test_guarantees_prescaler.py",
    "tests/test_rbac.py",
)
_API_TESTS = (
    "tests/test_api_bad_input.py",
    "tests/test_api_support.py",
    "tests/test_api_units.py",
    "tests/test_api_events.py",
    "tests/test_guarantees_auth.py",
    "tests/test_guarantees_forecasts.py",
    "tests/test_guarantees_serve_settings.py",
    "tests/test_api.py",
    "tests/test_api_fleet.py",
    "tests/test_api_dashboard.py",
)
TESTS: dict[str, tuple[str, ...]] = {
    SCALING: (
        "tests/test_scaling.py",
        "tests/test_guarantees_scaling.py",
        "tests/test_prescaler_equivalence.py",
    ),
    HPA: ("tests/test_hpa.py", "tests/test_guarantees_hpa.py", *_REPLAY_TESTS),
    ORACLE: ("tests/test_guarantees_oracle.py", *_REPLAY_TESTS),
    SIMULATE: _REPLAY_TESTS,
    # The lockstep grid replay and the vectorised HPAs: held equal to replay / hpa_step by their own tests.
    REPLAY_BATCH: ("tests/test_replay_batch.py", *_REPLAY_TESTS),
    HPA_BATCH: ("tests/test_hpa_batch.py", "tests/test_hpa.py", "tests/test_replay_batch.py"),
    CLI_PRESCALE: _PRESCALER_TESTS,
    CLI_SERVE: _API_TESTS,
    STORE: (
        "tests/test_guarantees_store.py",
        "tests/test_model_store_load_for.py",
        "tests/test_guarantees_promotion_rules.py",
        "tests/test_model_store.py",
        "tests/test_guarantees_promotion.py",
        "tests/test_store_s3.py",
    ),
    PROMOTION: (
        "tests/test_guarantees_promotion_rules.py",
        "tests/test_guarantees_promotion.py",
        "tests/test_model_store.py",
    ),
    SERIES: ("tests/test_series.py", "tests/test_guarantees_series.py", "tests/test_files.py"),
    WINDOWS: (
        "tests/test_windows_and_metrics.py",
        "tests/test_guarantees_windows.py",
        "tests/test_event_model.py",
        "tests/test_committed_models.py",
    ),
}


WITH_PLANTED_TESTS = True
"""Whether the guarantees written for this campaign (tests/test_guarantees_planted_*.py) run too;
``--before`` turns them off to measure the suite as it was."""

CAMPAIGN = 1
"""Which catalogue runs: 1 (:data:`CATALOGUE`) or N >= 2 (bench/planted_catalogue_N.py, a fresh one each).
Campaign N's own guarantees are tests/test_guarantees_plantedN_*.py (``--before`` leaves those out); the
guarantees of the campaigns before it (tests/test_guarantees_planted_*.py for campaign 1) are part of the suite
it is measured against."""


def campaigns() -> tuple[int, ...]:
    """1, and every N with a bench/planted_catalogue_N.py."""
    found = (re.fullmatch(r"planted_catalogue_(\d+)\.py", p.name) for p in Path(__file__).parent.iterdir())
    return (1, *sorted(int(m.group(1)) for m in found if m))


def _load_campaign(
    n: int,
) -> tuple[tuple[Bug, ...], dict[str, tuple[str, ...]], dict[str, str], dict[str, str]]:
    """Campaign ``n``'s catalogue, its tests per file, its module names per file and its equivalent bugs, from
    bench/planted_catalogue_<n>.py (``CATALOGUE_<n>``, ``TESTS_<n>``, ``MODULES_<n>``, ``EQUIVALENT_<n>``)."""
    import importlib

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    data = importlib.import_module(f"planted_catalogue_{n}")
    return (
        tuple(Bug(*entry) for entry in getattr(data, f"CATALOGUE_{n}")),
        dict(getattr(data, f"TESTS_{n}")),
        dict(getattr(data, f"MODULES_{n}")),
        dict(getattr(data, f"EQUIVALENT_{n}")),
    )


CAMPAIGN_TESTS: dict[str, tuple[str, ...]] = {}
"""The running campaign's tests per planted file (campaigns >= 2); files it does not name use :data:`TESTS`."""
CAMPAIGN_MODULES: dict[str, str] = {}
"""The running campaign's module names of the files campaign 1 has none for (the report's rows)."""


def _guarantee_pattern(n: int) -> str:
    """The file names of the guarantees written for campaign ``n``."""
    return "test_guarantees_planted_*.py" if n == 1 else f"test_guarantees_planted{n}_*.py"


def tests_for(path: str) -> tuple[str, ...]:
    if CAMPAIGN >= 2 and path in CAMPAIGN_TESTS:
        found = CAMPAIGN_TESTS[path]
    elif path in TESTS:
        found = TESTS[path]
    elif path.startswith(P):
        found = _PRESCALER_TESTS
    elif path.startswith(A):
        found = _API_TESTS
    else:
        raise SystemExit(f"planted_bugs: no tests mapped for {path}; add it to TESTS")

    def planted(pattern: str) -> tuple[str, ...]:
        found = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob(pattern))
        # The planted-bug guarantees are grouped by module: each file's name says which ones it covers.
        return tuple(t for t in found if _planted_group(path) in t)

    # This campaign's own guarantees unless --before; the earlier campaigns' are part of the suite.
    mine = planted(_guarantee_pattern(CAMPAIGN)) if WITH_PLANTED_TESTS else ()
    for earlier in range(1, CAMPAIGN):
        mine += planted(_guarantee_pattern(earlier))
    # The behaviour tests of the planted file's module group (tests/test_behaviour_<group>.py and
    # tests/test_behaviour_<group>_<topic>.py, issue 15), for every campaign: they are part of the suite a
    # developer runs for a change to that group, whichever catalogue is planted.
    mine += behaviour_tests(module_of(path))
    # The planted-bug guarantees first: they are fast, and a bug the older tests missed fails there at once.
    return tuple(dict.fromkeys(t for t in (*mine, *found) if (ROOT / t).exists()))


def behaviour_tests(group: str) -> tuple[str, ...]:
    """Every tests/test_behaviour_<group>.py and tests/test_behaviour_<group>_*.py present now."""
    names = {
        p
        for pattern in (f"test_behaviour_{group}.py", f"test_behaviour_{group}_*.py")
        for p in (ROOT / "tests").glob(pattern)
    }
    return tuple(sorted(str(p.relative_to(ROOT)) for p in names))


def _planted_group(path: str) -> str:
    return module_of(path)


def module_of(path: str) -> str:
    if path in CAMPAIGN_MODULES:
        return CAMPAIGN_MODULES[path]
    if path.startswith(P):
        return "controller"
    if path.startswith(A):
        return "api"
    return {
        SCALING: "scaling",
        HPA: "hpa",
        ORACLE: "replay",
        SIMULATE: "replay",
        REPLAY_BATCH: "replay",
        HPA_BATCH: "hpa",
        CLI_PRESCALE: "controller",
        CLI_SERVE: "api",
        STORE: "store",
        PROMOTION: "store",
        SERIES: "series",
        WINDOWS: "windows",
    }[path]


# -- planting -------------------------------------------------------------------------------------------------


def check_catalogue(bugs: tuple[Bug, ...], root: Path = ROOT) -> None:
    """Every planted line found exactly once, ids unique, replacement different: else stop loudly."""
    problems = []
    seen: set[str] = set()
    for bug in bugs:
        if bug.id in seen:
            problems.append(f"{bug.id}: duplicated id")
        seen.add(bug.id)
        path = root / bug.file
        if not path.is_file():
            problems.append(f"{bug.id}: {bug.file} does not exist")
            continue
        count = path.read_text().count(bug.original)
        if count != 1:
            problems.append(
                f"{bug.id}: the planted line is found {count} times in {bug.file}: {bug.original!r}"
            )
        if bug.original == bug.replacement:
            problems.append(f"{bug.id}: the replacement is the original")
    if problems:
        raise SystemExit("planted_bugs: the catalogue does not match the code:\n  " + "\n  ".join(problems))


def _copy_tree(dest: Path) -> None:
    """The working tree as git sees it (tracked and untracked, not ignored) into ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        src = ROOT / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            target.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, target)
    shared = ROOT / "shared"
    if shared.exists() and not (dest / "shared").exists():
        (dest / "shared").symlink_to(shared.resolve())


@dataclass
class Outcome:
    id: str
    module: str
    file: str
    harm: str
    status: str
    """caught, slipped or timeout."""
    seconds: float
    caught_by: str = ""
    tests: str = ""


def _run_tests(repo: Path, tests: tuple[str, ...], *, timeout_s: float, tmp: Path) -> tuple[str, str, float]:
    """(status, first failing test, seconds): status passed, failed or timeout."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(repo),
        PYTHONDONTWRITEBYTECODE="1",  # a planted file and its restored twin may share size and mtime second
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        MPLBACKEND="Agg",
    )
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = [PYTHON, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", f"--basetemp={tmp}", "-rf", *tests]
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "timeout", "", time.perf_counter() - started
    seconds = time.perf_counter() - started
    text = out.decode("utf-8", "replace")
    if proc.returncode == 0:
        return "passed", "", seconds
    if proc.returncode in (4, 5):  # a usage error or no test collected: nothing was tested
        return "unusable", text.strip().splitlines()[-1:][0] if text.strip() else "", seconds
    # "FAILED tests/x.py::test_y[a description with spaces] - AssertionError: ..."
    failed = re.findall(r"^(?:FAILED|ERROR) (tests/.+?)(?: - .*)?$", text, flags=re.M)
    first = failed[0] if failed else f"pytest exit {proc.returncode}: {text.strip().splitlines()[-1:]}"
    return "failed", first, seconds


def _plant(repo: Path, bug: Bug) -> str:
    path = repo / bug.file
    original = path.read_text()
    if original.count(bug.original) != 1:
        raise SystemExit(f"planted_bugs: {bug.id}: planted line not found exactly once in the copy")
    path.write_text(original.replace(bug.original, bug.replacement))
    return original


def run_campaign(
    bugs: tuple[Bug, ...],
    *,
    jobs: int,
    timeout_s: float,
    baseline: bool,
    keep: bool,
    tests: tuple[str, ...] | None = None,
    progress: Path | None = None,
    tests_by_bug: dict[str, tuple[str, ...]] | None = None,
) -> list[Outcome]:
    """Plant each bug alone and run its tests (``tests`` overrides the mapping for every bug, ``tests_by_bug``
    for the bugs it names).

    ``progress``: a JSON file rewritten after every bug with the outcomes so far, so that a run stopped
    before its end (a deadline, a reboot) leaves what it measured."""

    def tests_of(bug: Bug) -> tuple[str, ...]:
        if tests_by_bug is not None and bug.id in tests_by_bug:
            return tests_by_bug[bug.id]
        return tests if tests is not None else tests_for(bug.file)

    begun = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="planted-"))
    print(f"scratch copies under {scratch}", flush=True)
    repos = []
    for i in range(jobs):
        repo = scratch / f"w{i}" / "repo"
        _copy_tree(repo)
        repos.append(repo)
    check_catalogue(bugs, repos[0])
    try:
        if baseline:
            groups = sorted({tests_of(b) for b in bugs})
            print(f"baseline: {len(groups)} test group(s) on the unplanted code", flush=True)

            def clean_run(i: int, group: tuple[str, ...]) -> None:
                for _attempt in range(2):  # once more for a flaky test
                    status, first, seconds = _run_tests(
                        repos[i], group, timeout_s=timeout_s * 2, tmp=scratch / f"w{i}" / "tmp"
                    )
                    if status == "passed":
                        break
                print(f"  {status:8s} {seconds:6.0f}s  {' '.join(group)}", flush=True)
                if status != "passed":
                    raise SystemExit(
                        f"planted_bugs: the tests fail without any planted bug ({first or status}); fix them first"
                    )

            todo: queue.Queue[tuple[str, ...]] = queue.Queue()
            for group in groups:
                todo.put(group)

            def clean_worker(i: int) -> None:
                while True:
                    try:
                        group = todo.get_nowait()
                    except queue.Empty:
                        return
                    clean_run(i, group)

            with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
                list(pool.map(clean_worker, range(jobs)))
        work: queue.Queue[Bug] = queue.Queue()
        for bug in interleaved(bugs) if INTERLEAVE else bugs:
            work.put(bug)
        outcomes: list[Outcome] = []
        lock = threading.Lock()

        def worker(i: int) -> None:
            repo = repos[i]
            while True:
                try:
                    bug = work.get_nowait()
                except queue.Empty:
                    return
                tests = tests_of(bug)
                tmp = scratch / f"w{i}" / "tmp"
                for _attempt in range(3):
                    original = _plant(repo, bug)
                    try:
                        status, first, seconds = _run_tests(repo, tests, timeout_s=timeout_s, tmp=tmp)
                    finally:
                        (repo / bug.file).write_text(original)
                    if status != "failed" or "::" not in first:
                        break
                    # A test that also fails on the unplanted code is flaky, not a catch: plant again.
                    again, _, _ = _run_tests(repo, (first,), timeout_s=timeout_s, tmp=tmp)
                    if again != "failed":  # passes unplanted (or cannot be rerun by its id alone)
                        break
                    print(f"  {bug.id}: {first} also fails unplanted (flaky); planting again", flush=True)
                    status = "flaky"
                # "unusable": pytest collected nothing or stopped on a usage error (a mapped test file missing
                # from the scratch copy): nothing was tested, so not a catch; reported, and the run goes on.
                verdict = {
                    "passed": "slipped",
                    "failed": "caught",
                    "timeout": "timeout",
                    "flaky": "flaky",
                    "unusable": "unusable",
                }[status]
                outcome = Outcome(
                    id=bug.id,
                    module=module_of(bug.file),
                    file=bug.file,
                    harm=bug.harm,
                    status=verdict,
                    seconds=round(seconds, 1),
                    caught_by=first,
                    tests=" ".join(tests),
                )
                with lock:
                    outcomes.append(outcome)
                    done = len(outcomes)
                    if progress is not None:
                        _write_progress(
                            progress, outcomes, total=len(bugs), wall_s=time.perf_counter() - begun
                        )
                print(f"[{done}/{len(bugs)}] {verdict:8s} {seconds:6.0f}s {bug.id} {first}", flush=True)

        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            list(pool.map(worker, range(jobs)))
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
    order = {b.id: i for i, b in enumerate(bugs)}
    return sorted(outcomes, key=lambda o: order[o.id])


INTERLEAVE = False
"""Plant the bugs module by module in turn (``--interleave``) rather than in catalogue order, so that a run
stopped early has measured every module a little rather than the first modules whole."""


def interleaved(bugs: tuple[Bug, ...]) -> list[Bug]:
    """``bugs`` taken one module at a time, round robin, each module's in catalogue order."""
    by_module: dict[str, list[Bug]] = defaultdict(list)
    for bug in bugs:
        by_module[module_of(bug.file)].append(bug)
    queues = list(by_module.values())
    out: list[Bug] = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def _write_progress(path: Path, outcomes: list[Outcome], *, total: int, wall_s: float) -> None:
    """The outcomes so far, in the results' JSON shape plus how many bugs the run has in all."""
    caught = sum(o.status in ("caught", "timeout") for o in outcomes)
    payload = {
        "caught": caught,
        "total": len(outcomes),
        "planned": total,
        "wall_s": round(wall_s),
        "bugs": [asdict(o) for o in outcomes],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)


MODULE_ORDER = (
    "scaling",
    "hpa",
    "replay",
    "store",
    "series",
    "windows",
    "controller",
    "api",
    "model",
    "fleet",
)
MODULE_NAMES = {
    "scaling": "decision (scaling.py)",
    "hpa": "HPA model (hpa.py)",
    "replay": "replay simulator (simulate.py, oracle.py)",
    "store": "model store and promotion (store.py, promotion.py)",
    "series": "series layer (series.py)",
    "windows": "windows (windows.py)",
    "controller": "controller (forecaster/prescaler)",
    "api": "API (forecaster/api)",
    "model": "model (calibration.py, combine.py, events.py, event_profile.py)",
    "fleet": "templates and fleet training (templates.py, fleet.py)",
}


def report(
    outcomes: list[Outcome], *, previous: dict | None, command: str, wall_s: float, notes: list[str] = ()
) -> str:
    by_module: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_module[o.module].append(o)
    caught_total = sum(o.status in ("caught", "timeout") for o in outcomes)
    lines = [
        "# Planted bugs: how many one-line bugs the tests catch",
        "",
        f"`{command}` (bench/planted_bugs.py): {len(outcomes)} plausible one-line bugs, each planted alone in a",
        "scratch copy of the repository, against the tests that cover the planted file (stopping at the first",
        "failure). A bug is *caught* when a test fails (or the run hangs past its timeout, which CI also reports),",
        "*slipped* when every test passes. A catch is confirmed by running the failing test again on the",
        "unplanted code: when it fails there too the test is flaky and the bug is planted again (three times at",
        f"most; still undecided counts as not caught). Wall time {wall_s / 60:.0f} min.",
        "",
        f"**Overall: {caught_total} of {len(outcomes)} caught ({100 * caught_total / max(1, len(outcomes)):.0f}%).**",
        "",
    ]
    if previous:
        lines += [previous["line"], ""]
    for note in notes:
        lines += [note, ""]
    lines += ["| module | bugs | caught | score |", "|---|---:|---:|---:|"]
    for module in MODULE_ORDER:
        items = by_module.get(module, [])
        if not items:
            continue
        c = sum(o.status in ("caught", "timeout") for o in items)
        lines.append(f"| {MODULE_NAMES[module]} | {len(items)} | {c} | {100 * c / len(items):.0f}% |")
    slipped = [o for o in outcomes if o.status == "slipped"]
    lines += ["", f"## Slipped ({len(slipped)})", ""]
    if not slipped:
        lines.append("None.")
    for o in slipped:
        lines.append(f"- `{o.id}` ({o.file}): {o.harm}")
    flaky = [o for o in outcomes if o.status == "flaky"]
    if flaky:
        lines += ["", "## Undecided (the failing test also failed on the unplanted code, three times)", ""]
        lines += [f"- `{o.id}` ({o.file}): {o.caught_by}" for o in flaky]
    unusable = [o for o in outcomes if o.status == "unusable"]
    if unusable:
        lines += [
            "",
            "## Not tested (pytest collected nothing or refused its arguments: fix the test map)",
            "",
        ]
        lines += [f"- `{o.id}` ({o.file}): {o.caught_by}" for o in unusable]
    timeouts = [o for o in outcomes if o.status == "timeout"]
    if timeouts:
        lines += ["", "## Caught by a timeout (the tests hang)", ""]
        lines += [f"- `{o.id}` ({o.file}): {o.harm}" for o in timeouts]
    lines += ["", "## Every bug", "", "| bug | file | verdict | caught by | s |", "|---|---|---|---|---:|"]
    for o in outcomes:
        lines.append(f"| `{o.id}` | {o.file} | {o.status} | {o.caught_by or '-'} | {o.seconds:.0f} |")
    return "\n".join(lines) + "\n"


def _changed_files(rev: str) -> set[str]:
    """Paths (relative to the repository) that differ between ``rev`` and the working tree."""
    out = subprocess.run(
        ["git", "diff", "--name-only", rev], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


def _changed_with_helpers(rev: str) -> set[str]:
    """:func:`_changed_files`, plus the test files that import a changed test helper (tests/<name>.py, not
    conftest): a helper's change reaches exactly the tests that import it."""
    changed = _changed_files(rev)
    helpers = [
        f
        for f in changed
        if re.fullmatch(r"tests/[^/]*\.py", f) and not re.fullmatch(r"tests/(test_[^/]*|conftest)\.py", f)
    ]
    for helper in helpers:
        stem = re.escape(Path(helper).stem)
        importing = re.compile(rf"^\s*(from|import)\s+[\w.]*\b{stem}\b", re.M)
        changed |= {
            str(t.relative_to(ROOT))
            for t in (ROOT / "tests").glob("test_*.py")
            if importing.search(t.read_text())
        }
    return changed


def _new_tests_only(
    bugs: tuple[Bug, ...], earlier: dict, rev: str
) -> tuple[dict[str, tuple[str, ...]], list[Outcome]]:
    """For ``--slipped-new-tests-only``: the tests to plant each bug that slipped in ``earlier`` against (its
    group's test files new or changed since ``rev``), and the outcomes kept as they were (no such file).

    Valid because a slipped bug's run passed every test file of its group with the bug planted: only a file
    that changed (or imports a test helper that changed) can fail now, as long as nothing else the tests run
    (the product code, conftest, test data) changed; when something did, every bug keeps its whole group."""
    changed = _changed_with_helpers(rev)
    others = sorted(
        f
        for f in changed
        if not f.startswith("bench/") and not re.fullmatch(r"tests/[^/]*\.py", f) or f == "tests/conftest.py"
    )
    if others:
        print(
            f"--slipped-new-tests-only: {', '.join(others)} changed since {rev}: whole groups planted",
            flush=True,
        )
        return {}, []
    slipped_then = {b["id"]: b for b in earlier["bugs"] if b["status"] == "slipped"}
    by_bug: dict[str, tuple[str, ...]] = {}
    kept: list[Outcome] = []
    for bug in bugs:
        if bug.id not in slipped_then or bug.file in changed:
            continue
        new = tuple(t for t in tests_for(bug.file) if t in changed)
        if new:
            by_bug[bug.id] = new
        else:
            kept.append(Outcome(**{**slipped_then[bug.id], "tests": f"(no test file changed since {rev})"}))
    print(
        f"--slipped-new-tests-only: {len(by_bug)} slipped bug(s) planted against their group's new or changed "
        f"test files only; {len(kept)} keep their verdict (no test of their group changed)",
        flush=True,
    )
    return by_bug, kept


def _test_file(caught_by: str) -> str:
    """The test file of a ``caught_by`` (``tests/x.py::test_y[...] (carried over)`` -> ``tests/x.py``)."""
    return caught_by.split("::", 1)[0].removesuffix(" (carried over)").strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1, help="scratch copies run in parallel (default 1)")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="per planted bug (default 600)")
    parser.add_argument("--only", default="", help="comma-separated bug ids")
    parser.add_argument("--module", default="", help="only this module: " + ", ".join(MODULE_ORDER))
    parser.add_argument("--check", action="store_true", help="only check the catalogue against the code")
    parser.add_argument("--list", action="store_true", help="list the bugs and their tests")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the unplanted run of each test group"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies")
    parser.add_argument(
        "--carry-caught",
        default="",
        metavar="JSON",
        help="take the caught bugs of an earlier run (e.g. bench/results/planted-before.json) as caught and "
        "replant only the others (valid when only tests were added since)",
    )
    parser.add_argument(
        "--replant-changed-since",
        default="",
        metavar="REV",
        help="with --carry-caught: replant a caught bug after all when its planted file, or the test file that "
        "caught it, differs between REV (e.g. the commit the earlier run measured) and the working tree",
    )
    parser.add_argument(
        "--before",
        action="store_true",
        help="leave out the guarantees written for this campaign (tests/test_guarantees_planted_*.py for "
        "campaign 1, tests/test_guarantees_plantedN_*.py for campaign N): the suite before this campaign's tests",
    )
    parser.add_argument(
        "--tests",
        default="",
        help="comma-separated test paths to run instead of the mapped ones (to try a new test)",
    )
    parser.add_argument("--report", action="store_true", help="write planted.md/json even for a partial run")
    parser.add_argument(
        "--campaign",
        type=int,
        choices=campaigns(),
        default=1,
        help="1: this file's catalogue; N: the fresh one of bench/planted_catalogue_N.py (writes plantedN*.md/json)",
    )
    parser.add_argument(
        "--report-from",
        default="",
        metavar="JSON",
        help="only write the report (plantedN.md) from the outcomes of a run, e.g. the progress file of a run "
        "stopped before its end (the report then says how many bugs were not planted)",
    )
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="plant the modules' bugs in turn (a run stopped early has measured every module a little)",
    )
    parser.add_argument(
        "--slipped-new-tests-only",
        action="store_true",
        help="with --carry-caught and --replant-changed-since REV: a bug that slipped in the earlier run is "
        "planted again against only the test files of its group that are new or changed since REV (the others "
        "passed with it planted and have not changed), and keeps its verdict when there are none; the whole "
        "group when its planted file, or any file outside tests/test_*.py and bench/, changed since REV",
    )
    parser.add_argument("--note", action="append", default=[], help="a paragraph to add to the report")
    parser.add_argument(
        "--first-run",
        default="",
        help="a line about an earlier run to quote in the report (e.g. the score before new tests)",
    )
    args = parser.parse_args(argv)

    global WITH_PLANTED_TESTS, CAMPAIGN, CAMPAIGN_TESTS, CAMPAIGN_MODULES, INTERLEAVE
    CAMPAIGN = args.campaign
    catalogue = CATALOGUE
    equivalent: dict[str, str] = {}
    if CAMPAIGN >= 2:
        catalogue, CAMPAIGN_TESTS, CAMPAIGN_MODULES, equivalent = _load_campaign(CAMPAIGN)
    check_catalogue(CATALOGUE)  # campaign 1 must keep matching the code whichever runs
    check_catalogue(catalogue)
    stem = f"planted{CAMPAIGN}" if CAMPAIGN >= 2 else "planted"
    WITH_PLANTED_TESTS = not args.before
    INTERLEAVE = args.interleave
    bugs = catalogue
    if args.only:
        wanted = {x.strip() for x in args.only.split(",") if x.strip()}
        unknown = wanted - {b.id for b in bugs}
        if unknown:
            raise SystemExit(f"planted_bugs: unknown bug id(s): {', '.join(sorted(unknown))}")
        bugs = tuple(b for b in bugs if b.id in wanted)
    if args.module:
        bugs = tuple(b for b in bugs if module_of(b.file) == args.module)
    if equivalent and not args.only:
        # Found to change nothing users see: left out (the first run's figure, which planted them, stays).
        bugs = tuple(b for b in bugs if b.id not in equivalent)
        args.note = [
            *args.note,
            "Left out as equivalent on today's code (not counted here, whatever an earlier run found): "
            + "; ".join(f"`{k}`: {v}" for k, v in equivalent.items())
            + ".",
        ]
    if args.check:
        counts = defaultdict(int)
        for b in catalogue:
            counts[module_of(b.file)] += 1
        print(
            f"campaign {CAMPAIGN}: {len(catalogue)} bugs, every planted line found once: "
            + ", ".join(f"{m} {counts[m]}" for m in MODULE_ORDER)
        )
        return 0
    if args.report_from:
        data = json.loads(Path(args.report_from).read_text())
        order = {b.id: i for i, b in enumerate(catalogue)}
        wanted = {b.id for b in bugs}  # a bug since replaced, or found equivalent, is left out
        done = [Outcome(**b) for b in data["bugs"] if b["id"] in wanted]
        done.sort(key=lambda o: order[o.id])
        left = [b.id for b in bugs if b.id not in {o.id for o in done}]
        notes = list(args.note)
        if left:
            notes.append(
                f"Partial run: {len(done)} of {len(done) + len(left)} bugs planted before it was stopped; not "
                "planted: " + ", ".join(f"`{i}`" for i in left) + "."
            )
        command = "nice -n 10 python bench/planted_bugs.py" + (
            f" --campaign {CAMPAIGN}" if CAMPAIGN != 1 else ""
        )
        command += (" --before" if args.before else "") + f" (report from {args.report_from})"
        out = RESULTS / (f"{stem}-before.md" if args.before else f"{stem}.md")
        out.write_text(
            report(
                done,
                previous={"line": args.first_run} if args.first_run else None,
                command=command,
                wall_s=float(data.get("wall_s", 0)),
                notes=notes,
            )
        )
        print(
            f"wrote {out.relative_to(ROOT)} from {args.report_from}: {len(done)} bugs, {len(left)} not planted"
        )
        return 0
    if args.list:
        for b in bugs:
            print(f"{b.id:42s} {b.file:38s} {' '.join(tests_for(b.file))}")
        return 0
    partial = bool(args.only or args.module or args.tests)
    chosen = tuple(t.strip() for t in args.tests.split(",") if t.strip()) or None
    carried: list[Outcome] = []
    tests_by_bug: dict[str, tuple[str, ...]] | None = None
    if args.slipped_new_tests_only and not (args.carry_caught and args.replant_changed_since):
        raise SystemExit(
            "planted_bugs: --slipped-new-tests-only needs --carry-caught and --replant-changed-since"
        )
    if args.carry_caught:
        # Tests were only added since that run and the code is the same: what was caught stays caught.
        # Replant the rest only (a full run without this flag checks the claim).
        earlier = json.loads(Path(args.carry_caught).read_text())
        caught_then = {b["id"]: b for b in earlier["bugs"] if b["status"] in ("caught", "timeout")}
        if args.replant_changed_since:
            changed = _changed_with_helpers(args.replant_changed_since)
            stale = sorted(
                i
                for i, b in caught_then.items()
                if b["file"] in changed or _test_file(b["caught_by"]) in changed
            )
            if stale:
                print(
                    f"replanting {len(stale)} caught bug(s) whose file or catching test changed since "
                    f"{args.replant_changed_since}: {', '.join(stale)}",
                    flush=True,
                )
            caught_then = {i: b for i, b in caught_then.items() if i not in stale}
        carried = [
            Outcome(**{**caught_then[b.id], "caught_by": caught_then[b.id]["caught_by"] + " (carried over)"})
            for b in bugs
            if b.id in caught_then
        ]
        bugs = tuple(b for b in bugs if b.id not in caught_then)
        print(f"carried over {len(carried)} caught bugs from {args.carry_caught}; planting {len(bugs)}")
        if args.slipped_new_tests_only:
            by_bug, kept = _new_tests_only(bugs, earlier, args.replant_changed_since)
            carried += kept
            bugs = tuple(b for b in bugs if b.id not in {o.id for o in kept})
            tests_by_bug = by_bug
    progress = RESULTS / (f"{stem}-before.progress.json" if args.before else f"{stem}.progress.json")
    print(f"outcomes so far are written to {progress.relative_to(ROOT)} after every bug", flush=True)
    started = time.perf_counter()
    outcomes = run_campaign(
        bugs,
        jobs=max(1, args.jobs),
        timeout_s=args.timeout_s,
        baseline=not args.no_baseline,
        keep=args.keep,
        tests=chosen,
        progress=progress,
        tests_by_bug=tests_by_bug,
    )
    if carried:
        order = {b.id: i for i, b in enumerate(catalogue)}
        outcomes = sorted([*outcomes, *carried], key=lambda o: order[o.id])
    wall_s = time.perf_counter() - started
    caught = sum(o.status in ("caught", "timeout") for o in outcomes)
    print(
        f"caught {caught} of {len(outcomes)} ({100 * caught / max(1, len(outcomes)):.0f}%) in {wall_s / 60:.0f} min"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"{stem}.partial.json" if partial else (f"{stem}-before.json" if args.before else f"{stem}.json")
    payload = {
        "caught": caught,
        "total": len(outcomes),
        "wall_s": round(wall_s),
        "bugs": [asdict(o) for o in outcomes],
    }
    (RESULTS / name).write_text(json.dumps(payload, indent=2) + "\n")
    if not partial or args.report:
        command = (
            "nice -n 10 python bench/planted_bugs.py"
            + (f" --campaign {CAMPAIGN}" if CAMPAIGN != 1 else "")
            + (f" --jobs {args.jobs}" if args.jobs > 1 else "")
        )
        if args.before:
            command += " --before"
        if args.carry_caught:
            command += f" --carry-caught {args.carry_caught}"
        if args.replant_changed_since:
            command += f" --replant-changed-since {args.replant_changed_since}"
        previous = {"line": args.first_run} if args.first_run else None
        before_path = RESULTS / f"{stem}-before.json"
        if previous is None and not args.before and before_path.exists():
            before = json.loads(before_path.read_text())
            missed = [b["id"] for b in before["bugs"] if b["status"] not in ("caught", "timeout")]
            previous = {
                "line": f"First run, before the tests written for this campaign (`--before`, same catalogue, "
                f"bench/results/{stem}-before.md): {before['caught']} of {before['total']} caught "
                f"({100 * before['caught'] / max(1, before['total']):.0f}%); slipped then: "
                + ", ".join(f"`{m}`" for m in missed)
                + "."
            }
        out = f"{stem}-before.md" if args.before else f"{stem}.md"
        (RESULTS / out).write_text(
            report(outcomes, previous=previous, command=command, wall_s=wall_s, notes=list(args.note))
        )
    slipped = [o.id for o in outcomes if o.status in ("slipped", "flaky", "unusable")]
    if slipped:
        print("slipped: " + ", ".join(slipped))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
