"""Campaign 4 of the planted-bug benchmark: a fresh catalogue, run with ``bench/planted_bugs.py --campaign 4``.

Issue 15's target is measured on a *fresh* campaign: bugs different from campaigns 1-3 (bench/planted_bugs.py's
:data:`CATALOGUE`, bench/planted_catalogue_2.py, bench/planted_catalogue_3.py) and from the behaviours the issue
lists, planted against the suite as it stands after the behaviour tests (tests/test_behaviour_<group>*.py) were
written by an engineer who never saw this catalogue. Every bug here was chosen by reading the code and its
docstrings, never the tests: a plausible one-line slip (an off-by-one, a wrong comparison, swapped arguments, a
wrong unit, a missing clamp, a wrong default, an inverted condition, a wrong key, a dropped argument or line, a
wrong sign, a wrong time zone) that changes what a user sees, with that harm written down. No line planted by
campaigns 1-3 is planted again; where an issue-listed behaviour sits on a line (the auth_metrics default, the
dry-run write, the guard's hysteresis, the NaN promotion, the sample staleness) that line was left alone.
Two first choices were replaced before any run counted, as unreachable on today's code: a NaN load in
``hpa_step`` (its one caller, the replay, only ever passes finite means of a validated trace) and a
tz-aware time in ``kube.micro_time`` (its one caller, leader election, passes ``utc_naive`` times).

Weighted by what users rely on: the decision, the HPA model, the replay and its oracle, the store and
promotion, the series layer, windows, about a quarter in the prescaler (policy parsing, the accuracy guard, the
reconcile loop, the Kubernetes wrapper, leader election, forecasts and their staleness, calendars, batched
prediction, the floor actuators), the API (settings, routes, the cache and its fast path), the model code
(band calibration, skill-weighted combination, the event calendar and event profile), templates and fleet
training.

Plain data (no import of planted_bugs.py, which runs as a script): ``(id, file, original, replacement, harm)``.
"""

from __future__ import annotations

from planted_catalogue_3 import (  # the same files and test groups as campaign 3
    HPA,
    MODULES_3,
    ORACLE,
    PROMOTION,
    SCALING,
    SERIES,
    SIMULATE,
    STORE,
    TESTS_3,
    WINDOWS,
    A,
    P,
)

CAL = "forecaster/calibration.py"
COMBINE = "forecaster/combine.py"
EVENTS = "forecaster/events.py"
PROFILE = "forecaster/event_profile.py"
TEMPLATES = "forecaster/templates.py"
FLEET = "forecaster/fleet.py"

CATALOGUE_4: tuple[tuple[str, str, str, str, str], ...] = (
    # -- the decision (scaling.py) ---------------------------------------------------------------------------
    (
        "scaling4-shift-plans-from-now",
        SCALING,
        'start = now_ns + int(policy.lead_time_s * 1e9 if policy.plan in ("rise", "shift") else 0)',
        'start = now_ns + int(policy.lead_time_s * 1e9 if policy.plan == "rise" else 0)',
        "plan=shift plans over [now, now + lead + interval] like peak: the cheapest plan holds the forecast's "
        "upper band over the whole lead window and costs as much as peak",
    ),
    (
        "scaling4-peak-is-trough",
        SCALING,
        "top = int(np.argmax(window))",
        "top = int(np.argmin(window))",
        "the decision plans on the smallest load of the planning window instead of its peak: capacity for the "
        "trough arrives before the spike",
    ),
    (
        "scaling4-rise-ahead-min",
        SCALING,
        'ahead = float(np.nanmax(window_median)) if np.isfinite(window_median).any() else float("nan")',
        'ahead = float(np.nanmin(window_median)) if np.isfinite(window_median).any() else float("nan")',
        "plan=rise compares the lowest median of the lead window with the next step: a rise inside the window "
        "is missed and the floor released before the spike",
    ),
    (
        "scaling4-bound-max-at-max",
        SCALING,
        "elif raw > policy.max_replicas:",
        "elif raw >= policy.max_replicas:",
        "a need of exactly max_replicas is reported as capped (reason bound_max): the status and metrics say the "
        "maximum was hit when it was not",
    ),
    (
        "scaling4-stabilisation-minutes",
        SCALING,
        "cutoff = now - pd.Timedelta(seconds=policy.scale_down_stabilization_s)",
        "cutoff = now - pd.Timedelta(minutes=policy.scale_down_stabilization_s)",
        "the scale-down stabilisation window is read in minutes: a 300 s window holds a raised floor for five "
        "hours",
    ),
    (
        "scaling4-no-forecast-forgets-window",
        SCALING,
        "                recommendations=_prune(state.recommendations, now, policy),\n                last_desired=keep,",
        "                recommendations=(),\n                last_desired=keep,",
        "one tick without a forecast empties the stabilisation window: when the forecast returns the floor drops "
        "at once instead of being held",
    ),
    (
        "scaling4-no-forecast-forgets-rate-limit",
        SCALING,
        "                last_desired=keep,\n                last_scale_down_at=state.last_scale_down_at,",
        "                last_desired=keep,\n                last_scale_down_at=None,",
        "a tick without a forecast forgets when the last scale-down happened: the next one ignores "
        "scale_down_period_s and removes capacity faster than configured",
    ),
    (
        "scaling4-nodes-max-raises",
        SCALING,
        "return min(nodes, int(max_nodes)) if max_nodes is not None else nodes",
        "return max(nodes, int(max_nodes)) if max_nodes is not None else nodes",
        "a node group with max_nodes is always scaled to its maximum: pays for every node the group may hold",
    ),
    # -- the HPA model (hpa.py) ------------------------------------------------------------------------------
    (
        "hpa4-starting-pods-busy-on-scale-up",
        HPA,
        "new_ratio = load / ((ready + unready) * target)",
        "new_ratio = load / (ready * target)",
        "on a scale-up the replayed HPA counts pods still starting as busy: it asks for them a second time and "
        "overshoots (the reactive baseline looks more expensive than Kubernetes)",
    ),
    (
        "hpa4-unready-swapped",
        HPA,
        "unready = max(current - int(ready_replicas), 0)",
        "unready = max(int(ready_replicas) - current, 0)",
        "pods still starting are never seen as unready: every sync during a scale-up asks for them again",
    ),
    (
        "hpa4-recommendations-pruned-by-shortest",
        HPA,
        "keep_after = min(up_cut, down_cut)",
        "keep_after = max(up_cut, down_cut)",
        "recommendations are kept only for the shorter (scale-up) window: the 300 s scale-down stabilisation "
        "never sees older proposals and the replayed HPA drops pods at once",
    ),
    (
        "hpa4-stuck-at-max",
        HPA,
        "if current > hi:",
        "if current >= hi:",
        "at exactly max_replicas the replayed HPA skips its metrics: it never scales down after a spike that "
        "reached the maximum, and the reactive baseline looks more expensive than Kubernetes",
    ),
    (
        "hpa4-scale-down-select-inverted",
        HPA,
        '    return min(proposals) if rules.select == "Max" else max(proposals)',
        '    return max(proposals) if rules.select == "Max" else min(proposals)',
        "selectPolicy Max on scale-down picks the smallest change: the replayed HPA scales down slower than the "
        "real one",
    ),
    (
        "hpa4-up-window-from-down-rules",
        HPA,
        "up_cut = now - pd.Timedelta(seconds=config.scale_up.stabilization_window_s)",
        "up_cut = now - pd.Timedelta(seconds=config.scale_down.stabilization_window_s)",
        "the scale-up stabilisation uses the scale-down window (300 s): the replayed HPA waits five minutes "
        "before following a surge",
    ),
    (
        "hpa4-scale-down-events-negative",
        HPA,
        "downs += ((now, current - desired),)",
        "downs += ((now, desired - current),)",
        "scale-down events are recorded as negative: a Pods scale-down policy never runs out within its period "
        "and the replayed HPA removes more pods per period than allowed",
    ),
    # -- the replay simulator and oracle (simulate.py, oracle.py) --------------------------------------------
    (
        "oracle4-layer-strict",
        ORACLE,
        "on = need >= k",
        "on = need > k",
        "the oracle covers one pod less than needed at every minute: its cost floor is too low and it is "
        "under-provisioned",
    ),
    (
        "oracle4-first-change-uncounted",
        ORACLE,
        "return int((np.diff(np.concatenate([[initial], counts])) != 0).sum())",
        "return int((np.diff(counts) != 0).sum())",
        "a change of the oracle's pod count in the first minute is not counted as a scaling action",
    ),
    (
        "replay4-starting-pods-serve",
        SIMULATE,
        "capacity = ready * capacity_per_replica",
        "capacity = pods * capacity_per_replica",
        "pods still starting count as serving: under-provisioned minutes and unserved load are hidden for every "
        "run that scales late",
    ),
    (
        "replay4-nodes-start-like-pods",
        SIMULATE,
        "self.node_ready.extend([t + self.cluster.node_startup_s] * (need - len(self.node_ready)))",
        "self.node_ready.extend([t + self.cluster.pod_startup_s] * (need - len(self.node_ready)))",
        "replayed nodes are ready after the pod start-up instead of the node start-up: node groups look faster "
        "than they are",
    ),
    (
        "replay4-ready-nodes-retired-first",
        SIMULATE,
        "                self.node_ready.sort()\n",
        "                self.node_ready.sort(reverse=True)\n",
        "on node scale-down the replay retires ready nodes and keeps ones still starting: capacity drops below "
        "what the node count says",
    ),
    (
        "replay4-band-at-now",
        SIMULATE,
        "at = int(np.searchsorted(band_of[1], (now + lead).value))",
        "at = int(np.searchsorted(band_of[1], now.value))",
        "the replay's forecast band is read at now instead of now + lead time: plots and coverage compare the "
        "load with the wrong forecast step",
    ),
    (
        "replay4-startup-minutes-floor",
        SIMULATE,
        "startup_min = math.ceil(cluster.pod_startup_s / 60)",
        "startup_min = int(cluster.pod_startup_s // 60)",
        "a 90 s pod start-up is one minute for the oracle: it starts pods too late and its cost floor is too low",
    ),
    (
        "replay4-refit-sees-future",
        SIMULATE,
        "model = refit(series.iloc[: int(index.searchsorted(block_start))])",
        "model = refit(series)",
        "a replay with refit trains every block's model on the whole trace, future included: the prescaler is "
        "scored on forecasts that saw the answer",
    ),
    (
        "replay4-interpolation-from-next-point",
        SIMULATE,
        "last_at, last_value = index[t - 1], values[t - 1]",
        "last_at, last_value = index[t - 1], values[t]",
        "a native forecast is interpolated from the next, not yet observed point: the replayed forecast reads "
        "the future",
    ),
    # -- the model store and promotion (store.py, promotion.py) ----------------------------------------------
    (
        "store4-cleanup-any-entry",
        STORE,
        'for entry in folder.glob(f"{prefix}*"):',
        'for entry in folder.glob("*"):',
        "a writer's clean-up of stale temporaries removes every entry untouched for an hour: old model "
        "versions (and pointers) are deleted",
    ),
    (
        "store4-load-current-previous",
        STORE,
        'return self.load(target, str(pointer["version"]))',
        'return self.load(target, str(pointer["previous"]))',
        "load_current loads the rollback target, not the promoted version (or fails on a first promotion)",
    ),
    (
        "store4-metrics-key",
        STORE,
        'return dict(self.manifest.get("metrics") or {})',
        'return dict(self.manifest.get("metric") or {})',
        "a version's backtest metrics are read from a key that does not exist: the API and the dashboard show "
        "none",
    ),
    (
        "store4-location-path",
        STORE,
        'return f"{base}/{target}/versions/{version}"',
        'return f"{base}/{target}/{version}"',
        "a version's location names a folder that does not exist: messages point at the wrong place and "
        "ModelRef.path (loading a target directory) fails",
    ),
    (
        "promotion4-holdout-is-training-range",
        PROMOTION,
        "holdout_index = series.index[split:]",
        "holdout_index = series.index[:split]",
        "the backtest range recorded with the version is the training range, and the prescaler tuning runs on "
        "data the model was trained on",
    ),
    (
        "promotion4-tuning-enabled-inverted",
        PROMOTION,
        "if not cfg.tuning.enabled:",
        "if cfg.tuning.enabled:",
        "prescaler tuning runs for targets that did not ask for it and never for those that did",
    ),
    (
        "promotion4-short-history-holdout-half",
        PROMOTION,
        "n = len(series) // 5  # short histories: hold out the last fifth rather than fail",
        "n = len(series) // 2  # short histories: hold out the last fifth rather than fail",
        "a short history holds out half of itself: the candidate trains on half the data it could and loses "
        "promotions it would win",
    ),
    # -- the series layer (series.py) ------------------------------------------------------------------------
    (
        "series4-format-subtracts-once",
        SERIES,
        "            seconds %= size",
        "            seconds -= size",
        "format_duration(2h) says '2h60m': durations written to reports and configs read back wrong",
    ),
    (
        "series4-duplicates-read-as-unsorted",
        SERIES,
        "if (order < 0).any():",
        "if (order <= 0).any():",
        "duplicated timestamps are refused as unsorted even with --on-duplicate mean/last",
    ),
    (
        "series4-one-step-gap-not-filled",
        SERIES,
        "if limit > 0 and out.isna().any():",
        "if limit > 1 and out.isna().any():",
        "with max_interp_gap equal to one step a single missing point is never interpolated",
    ),
    (
        "series4-trailing-gap-filled",
        SERIES,
        'filled = series.interpolate(method="linear", limit_area="inside")',
        'filled = series.interpolate(method="linear")',
        "missing points at the end of a series are filled with the last value: a source that stopped reporting "
        "looks like a flat, fresh series",
    ),
    # -- windows (windows.py) --------------------------------------------------------------------------------
    (
        "windows4-since-scaled-by-until-cap",
        WINDOWS,
        "since = np.where(has_last, (t - starts[np.maximum(last, 0)]) / spec.since_cap_s, 1.0)",
        "since = np.where(has_last, (t - starts[np.maximum(last, 0)]) / spec.until_cap_s, 1.0)",
        "the time since an event's start is scaled by the 2 h cap instead of 3 h: committed event models read "
        "inputs they were not trained on",
    ),
    (
        "windows4-future-lags-unchecked",
        WINDOWS,
        "ok &= clean(t - spec.lookback - spec.season, np.minimum(t + spec.horizon - spec.season, n))",
        "ok &= clean(t - spec.lookback - spec.season, t - spec.season)",
        "training windows whose forecast steps' daily lags fall in a gap are kept: NaN inputs and NaN losses",
    ),
    (
        "windows4-level-times-std",
        WINDOWS,
        "level = (np.log(scale) - scaler.log_level_mean) / scaler.log_level_std",
        "level = (np.log(scale) - scaler.log_level_mean) * scaler.log_level_std",
        "the level input is multiplied by the spread instead of divided: committed models forecast from a "
        "wrong level",
    ),
    (
        "windows4-until-cap-key",
        WINDOWS,
        'until_cap_s=float(data.get("until_cap_s", 2 * 3600.0)),  # type: ignore[arg-type]',
        'until_cap_s=float(data.get("since_cap_s", 2 * 3600.0)),  # type: ignore[arg-type]',
        "a saved event model is loaded with the 3 h cap for the time until the next start: its forecasts "
        "change after a reload",
    ),
    # -- the controller (forecaster/prescaler) ---------------------------------------------------------------
    (
        "policy4-staleness-default-hours",
        P + "policy.py",
        'max_staleness_s=_seconds(spec, "maxStaleness", path, "5m"),',
        'max_staleness_s=_seconds(spec, "maxStaleness", path, "5h"),',
        "by default a forecast made from a history five hours old counts as fresh: the prescaler acts on stale "
        "data",
    ),
    (
        "policy4-max-step-wrong-level",
        P + "policy.py",
        'scale_down_max_step=_int(scale_down, "maxStep", f"{where}.scaleDown", 0) or 0,',
        'scale_down_max_step=_int(spec, "maxStep", f"{where}.scaleDown", 0) or 0,',
        "spec.scaleDown.maxStep is ignored: capacity comes down at once however the SRE limited it",
    ),
    (
        "policy4-milli-unit",
        P + "policy.py",
        '    "m": 1e-3,',
        '    "m": 1e-6,',
        "500m of CPU is read as 0.0005 cores: a node of 3800m is read as 3.8 cores and holds 7,600 pods of 500m, "
        "so node groups are planned far too small",
    ),
    (
        "guard4-idle-is-perfect",
        P + "guard.py",
        "            return None, len(errs)",
        "            return 0.0, len(errs)",
        "on an idle service (all actuals 0) any forecast scores a perfect error of 0: the guard never trips "
        "and a wildly wrong model keeps scaling",
    ),
    (
        "guard4-window-minutes",
        P + "guard.py",
        "start = now - pd.Timedelta(seconds=window_s)",
        "start = now - pd.Timedelta(minutes=window_s)",
        "the guard judges forecasts from the last 60 hours instead of the last hour: a recovered model stays "
        "distrusted for days",
    ),
    (
        "leader4-transitions-every-renew",
        P + "leader.py",
        '"leaseTransitions": int(spec.get("leaseTransitions") or 0) + (1 if taking_over and spec else 0),',
        '"leaseTransitions": int(spec.get("leaseTransitions") or 0) + 1,',
        "leaseTransitions grows at every renewal: kubectl and alerts see a leader change every few seconds",
    ),
    (
        "leader4-release-inverted",
        P + "leader.py",
        "        if not self.leading:\n            return",
        "        if self.leading:\n            return",
        "a leader shutting down never gives the lease up: the standby waits the whole lease duration before "
        "taking over",
    ),
    (
        "forecasts4-password-sent-to-other-url",
        P + "forecasts.py",
        "        basic_auth_password_env=None,",
        "        basic_auth_password_env=settings.basic_auth_password_env,",
        "a policy's prometheusUrl pointing elsewhere still gets the configured basic-auth password: anyone who "
        "may create a policy can collect it",
    ),
    (
        "forecasts4-template-guard-window",
        P + "forecasts.py",
        "window = max(window, lookback, guard)",
        "window = max(window, lookback)",
        "template members read only their lookback: the accuracy guard of a member has no history to judge "
        "with over its window",
    ),
    (
        "forecasts4-group-by-target-only",
        P + "forecasts.py",
        "return (policy.forecast, window)",
        "return (policy.forecast.target, window)",
        "every inline-query policy (no target) falls in one forecast group: policy B acts on policy A's forecast",
    ),
    (
        "kube4-transport-errors-permanent",
        P + "kube.py",
        "            raise TemporaryKubeError(\n"
        "                f\"{what['verb']} {what['resource']}: {type(exc).__name__} talking to the API server\",",
        "            raise PermanentKubeError(\n"
        "                f\"{what['verb']} {what['resource']}: {type(exc).__name__} talking to the API server\",",
        "a dropped connection or timeout to the API server is not retried: one network blip fails the tick",
    ),
    (
        "kube4-list-keeps-last-page",
        P + "kube.py",
        'items.extend(page.get("items") or [])',
        'items = list(page.get("items") or [])',
        "a paged list keeps only its last page: policies (and HPAs) of the earlier pages are never reconciled",
    ),
    (
        "kube4-list-named-get",
        P + "kube.py",
        'verb = _VERBS[method] if method != "GET" or name is not None else "list"',
        "verb = _VERBS[method]",
        "a list the ServiceAccount may not do is reported as a missing get permission: the SRE grants the wrong "
        "verb and the policy stays broken",
    ),
    (
        "loop4-deadline-two-intervals",
        P + "loop.py",
        "deadline_s = self.fleet.forecast_deadline_s or policy.scaling.interval_s / 2",
        "deadline_s = self.fleet.forecast_deadline_s or policy.scaling.interval_s * 2",
        "a slow forecast is waited for two intervals instead of half of one: one slow target delays the tick "
        "past its interval for every policy",
    ),
    (
        "loop4-wake-longest",
        P + "loop.py",
        "self._wake_s = min(renew_s, interval_s) if self.elector is not None else interval_s",
        "self._wake_s = max(renew_s, interval_s) if self.elector is not None else interval_s",
        "a leader renews its lease once per interval (60 s) instead of every 5 s: a 15 s lease expires and "
        "leadership flaps",
    ),
    (
        "loop4-forgets-new-policies",
        P + "loop.py",
        "for gone in self._known - seen:",
        "for gone in seen - self._known:",
        "deleted policies' metrics stay exported forever, and a new policy's memory (last good forecast, guard "
        "log) is dropped after its first tick",
    ),
    (
        "loop4-own-state-after-failover",
        P + "loop.py",
        "if memory.state is not None and saved == memory.persisted:",
        "if memory.state is not None:",
        "after another replica led for a while, this one decides from its own old state and ignores the newer "
        "one in the status: stabilisation and rate limits start from stale values",
    ),
    (
        "calendars4-stale-inverted",
        P + "calendars.py",
        "if age_s > settings.stale_after_s:",
        "if age_s < settings.stale_after_s:",
        "a calendar file rewritten recently is judged stale and an old one fresh: the forecast drops a current "
        "calendar and trusts a dead one",
    ),
    (
        "calendars4-in-use-means-read",
        P + "calendars.py",
        '"inUse": reading.calendar is not None,',
        '"inUse": reading.available,',
        "the status says no calendar is in use while the forecast runs on the last good copy",
    ),
    (
        "batched4-scale-dropped",
        P + "batched.py",
        "outs[j].append(out[j, :n].numpy().astype(np.float64) * r.scale[v][:, None, None])  # [N, H, Q]",
        "outs[j].append(out[j, :n].numpy().astype(np.float64))  # [N, H, Q]",
        "a template's members predicted in one batch forecast in per-window units (around 1) instead of "
        "requests/s",
    ),
    (
        "batched4-anchor-swapped",
        P + "batched.py",
        "anchor = (1 - mix) * last + mix * lag  # [M, N, H]",
        "anchor = mix * last + (1 - mix) * lag  # [M, N, H]",
        "the batched forward pass mixes the last value and the daily lag the other way round: batched members "
        "forecast differently from their own model",
    ),
    (
        "actuators4-keda-max-default",
        P + "actuators.py",
        "    implicit_max = 100  # KEDA's default maxReplicaCount",
        "    implicit_max = None  # KEDA's default maxReplicaCount",
        "a ScaledObject without maxReplicaCount gets a floor above KEDA's default maximum of 100",
    ),
    (
        "actuators4-owner-by-name",
        P + "actuators.py",
        "annotations = {ORIGINAL_FLOOR_ANNOTATION: keep, OWNER_ANNOTATION: policy.key}",
        "annotations = {ORIGINAL_FLOOR_ANNOTATION: keep, OWNER_ANNOTATION: policy.name}",
        "a raised floor is annotated with the policy's name instead of namespace/name: deleting the policy "
        "never finds it, and the floor stays raised",
    ),
    # -- the API (forecaster/api) ----------------------------------------------------------------------------
    (
        "settings4-listens-everywhere",
        A + "settings.py",
        'host: str = "127.0.0.1"',
        'host: str = "0.0.0.0"',
        "outside a container the service listens on every interface by default: forecasts are exposed to the "
        "network",
    ),
    (
        "settings4-list-split-on-space",
        A + "settings.py",
        'items = value.split(",") if isinstance(value, str) else list(value)',
        'items = value.split(" ") if isinstance(value, str) else list(value)',
        "FORECASTER_SERVE_CORS_ORIGINS=a,b becomes one origin 'a,b': no browser origin is allowed",
    ),
    (
        "routes4-history-in-seconds",
        A + "routes/targets.py",
        "rendered = service.render(state, quantiles=qs, history_steps=int(hist / state.step), now=now)",
        "rendered = service.render(state, quantiles=qs, history_steps=int(hist.total_seconds()), now=now)",
        "?history=1h returns all the actuals kept (3600 steps asked) instead of one hour",
    ),
    (
        "routes4-continue-first",
        A + "routes/targets.py",
        "targets=out, total=len(matching), continue_=encode_token(page[-1]) if more and page else None",
        "targets=out, total=len(matching), continue_=encode_token(page[0]) if more and page else None",
        "the continue token names a page's first target: the next page repeats all but one of this page",
    ),
    (
        "cache4-fetch-shortest",
        A + "cache.py",
        "return max(self.max_history, need)",
        "return min(self.max_history, need)",
        "each refresh fetches only the model's lookback (or 2 days): the actuals served shrink, or a model "
        "needing more than max_history gets too little",
    ),
    (
        "cache4-bucket-ahead",
        A + "cache.py",
        "return int((now - self.refresh_delay).value // state.step.value)",
        "return int((now + self.refresh_delay).value // state.step.value)",
        "a target is refreshed refresh_delay before the step ends: Prometheus has not scraped the step's last "
        "sample and each forecast misses it",
    ),
    (
        "cache4-error-kept-after-success",
        A + "cache.py",
        "        state.last_error = None\n        state.last_error_at = None\n        self.changes += 1",
        "        state.last_error_at = None\n        self.changes += 1",
        "after one failed refresh a successful one still reports the old error: the forecast stays marked "
        "stale for good",
    ),
    (
        "cache4-last-actual-oldest",
        A + "cache.py",
        "self.last_actual = float(valid.iloc[-1])",
        "self.last_actual = float(valid.iloc[0])",
        "the last actual reported is the oldest one in the window, not the latest",
    ),
    (
        "fastpath4-public-with-auth",
        A + "fastpath.py",
        'b"%s, max-age=%d" % (b"private" if expected is not None else b"public", int(max_age_s)),',
        'b"%s, max-age=%d" % (b"public" if expected is not None else b"private", int(max_age_s)),',
        "with auth on, cached forecasts are marked public: a shared proxy serves them to callers without the "
        "token",
    ),
    # -- the model (calibration.py, combine.py, events.py, event_profile.py) ---------------------------------
    (
        "calibration4-half-life-multiplied",
        CAL,
        "recent_w = np.broadcast_to((0.5 ** (j / cal.half_life_steps))[None, None, :], recent_d.shape)",
        "recent_w = np.broadcast_to((0.5 ** (j * cal.half_life_steps))[None, None, :], recent_d.shape)",
        "recent errors decay per step by the half-life's power: only the last one or two origins count and the "
        "band jumps with each error",
    ),
    (
        "calibration4-cap-widens",
        CAL,
        "k = np.minimum(k, np.where(size > 0, cap / np.where(size > 0, size, 1.0), np.inf))",
        "k = np.maximum(k, np.where(size > 0, cap / np.where(size > 0, size, 1.0), np.inf))",
        "the cap meant to bound the band by the errors themselves widens it to infinity (then MAX_SCALE): every "
        "band is 100x the network's",
    ),
    (
        "calibration4-prior-unnormalised",
        CAL,
        "prior_w = np.broadcast_to(PRIOR_WEIGHT * np.maximum(total, 1.0) / max(m, 1), (N, H, m))",
        "prior_w = np.broadcast_to(PRIOR_WEIGHT * np.maximum(total, 1.0), (N, H, m))",
        "each validation score weighs a quarter of the whole recent window: the band never follows a regime "
        "change",
    ),
    (
        "combine4-seasonal-reads-unobserved",
        COMBINE,
        "seasonal = np.where(seasonal - h[:, None] >= 1, seasonal, -1)  # -1: skipped",
        "seasonal = np.where(seasonal - h[:, None] >= 0, seasonal, -1)  # -1: skipped",
        "same-time errors whose target is the origin itself are judged: the weighting reads a value not yet "
        "observed",
    ),
    (
        "combine4-guard-window-hours",
        COMBINE,
        "guard_window=max(1, int(round(GUARD_DAYS * 86400.0 / step_s))),",
        "guard_window=max(1, int(round(GUARD_DAYS * 3600.0 / step_s))),",
        "the guard judges the components over two hours instead of two days: a daily spike is never in its "
        "window",
    ),
    (
        "combine4-best-is-worst",
        COMBINE,
        "best = np.nanmin(np.where(np.isfinite(L), L, np.inf), axis=0)  # [N, H]",
        "best = np.nanmax(np.where(np.isfinite(L), L, np.inf), axis=0)  # [N, H]",
        "errors are measured against the worst component: the ratios fall below 1 and the worst component gets "
        "the most weight",
    ),
    (
        "combine4-guard-window-reads-unobserved",
        COMBINE,
        "hi = np.clip(origins[:, None] - h[None, :] - first, 0, S)  # [N, H] exclusive: s <= t - 1 - h",
        "hi = np.clip(origins[:, None] - h[None, :] - first + 1, 0, S)  # [N, H] exclusive: s <= t - 1 - h",
        "the guard judges a forecast whose target is not observed yet at the origin: it reads the value being "
        "forecast",
    ),
    (
        "events4-offset-dropped",
        EVENTS,
        '    return t.tz_convert("UTC")\n\n\ndef _parse_row',
        '    return t.tz_localize(None).tz_localize("UTC")\n\n\ndef _parse_row',
        "a start written 21:07+01:00 is read as 21:07 UTC: every event with an offset is an hour off",
    ),
    (
        "events4-now-counts-past",
        EVENTS,
        "return sum(1 for e in self.events if e.start < now)",
        "return sum(1 for e in self.events if e.start <= now)",
        "an event starting exactly now counts as past and as upcoming: the status's counts add up to more than "
        "the calendar",
    ),
    (
        "events4-batched-without-calendar",
        EVENTS,
        "return self._inner.predict_many(history, origins=origins, events=self.calendar)",
        "return self._inner.predict_many(history, origins=origins)",
        "backtests and replays of a calendar model forecast without the calendar: promotion and tuning score a "
        "model that ignores scheduled events",
    ),
    (
        "event-profile4-late-rounded-down",
        PROFILE,
        "late_s = float(np.ceil(late / _DELAY_STEP_S - 1e-9) * _DELAY_STEP_S)",
        "late_s = float(np.floor(late / _DELAY_STEP_S) * _DELAY_STEP_S)",
        "the learnt lateness is rounded down a minute: a stream as late as the usual late one is dropped as "
        "cancelled before it starts",
    ),
    (
        "event-profile4-band-rows-swapped",
        PROFILE,
        "upper = np.where(pending > 0.05 * point, profile.upper_ratio[0, :H], profile.upper_ratio[1, :H])",
        "upper = np.where(pending > 0.05 * point, profile.upper_ratio[1, :H], profile.upper_ratio[0, :H])",
        "an unconfirmed start gets the narrow band of confirmed ones and vice versa: capacity for a start of "
        "unknown size is planned too low",
    ),
    # -- templates and fleet training (templates.py, fleet.py) -----------------------------------------------
    (
        "templates4-hashed-name-too-long",
        TEMPLATES,
        'base = name[: 63 - len(suffix) - 1].rstrip("-")',
        'base = name[: 63 - len(suffix)].rstrip("-")',
        "a member whose name is shortened gets 64 characters: not a DNS label, its ForecastTarget status and "
        "labels are refused",
    ),
    (
        "templates4-single-dash-hashed",
        TEMPLATES,
        'unambiguous = len(values) == 1 or not any("-" in v for v in values)',
        'unambiguous = len(values) == 1 and not any("-" in v for v in values)',
        "a single label value with a dash (api-gateway) gets a hash suffix: member names change and their "
        "models are trained again under new names",
    ),
    (
        "fleet4-cgroup-ratio-swapped",
        FLEET,
        "quota_cpus = int(quota) / int(period)",
        "quota_cpus = int(period) / int(quota)",
        "a pod limited to 2 CPUs reads 0.5: --jobs auto trains one target at a time",
    ),
    (
        "fleet4-total-is-owned",
        FLEET,
        "summary = FleetSummary(shard=shard, total_declared=len(entries))",
        "summary = FleetSummary(shard=shard, total_declared=len(mine))",
        "a shard's summary says '3 of 3 targets' instead of '3 of 10': the log hides how the fleet is split",
    ),
    (
        "fleet4-cpu-last-only",
        FLEET,
        "self.summary.cpu_s += cpu_s",
        "self.summary.cpu_s = cpu_s",
        "a shard reports the CPU seconds of its last target only: what training the fleet costs is understated",
    ),
)

EQUIVALENT_4: dict[str, str] = {
    "series4-trailing-gap-filled": "regularize's grid ends at the last sample, which is always a number (NaN "
    "is refused before), so a series never has a trailing gap, and inside gaps linear interpolation with or "
    "without limit_area='inside' gives the same values",
    "combine4-seasonal-reads-unobserved": "no model trained today has seasonal memory (training.py builds its "
    "SkillWeighting without season_steps, so offsets() returns before that line), and where it is switched on "
    "(with_seasonal_memory) every same-time offset is at least season_steps - horizon > horizon > h, so "
    ">= 1 and >= 0 never differ",
}
"""Bugs found, after the run, to change nothing a user can see on today's code (each with its reason)."""

TESTS_4: dict[str, tuple[str, ...]] = dict(TESTS_3)
"""Campaign 3's test groups; files it does not name fall back to planted_bugs.TESTS and the subsystem groups.
planted_bugs.tests_for adds every tests/test_behaviour_<group>*.py of the planted file's group."""

MODULES_4: dict[str, str] = dict(MODULES_3)
"""Modules of the files campaign 1 has no name for (the report's rows)."""
