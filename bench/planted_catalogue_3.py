"""Campaign 3 of the planted-bug benchmark: a fresh catalogue, run with ``bench/planted_bugs.py --campaign 3``.

Issue 15's target is measured on a *fresh* campaign: bugs different from campaign 1 (bench/planted_bugs.py's
:data:`CATALOGUE`), campaign 2 (bench/planted_catalogue_2.py) and the behaviours listed in the issue, planted
against the suite as it is before any test is written for them. Every bug here was chosen by reading the code
(not the tests): a plausible one-line slip (an off-by-one, a wrong comparison, swapped arguments, a wrong unit,
a missing clamp, a wrong default, an inverted condition, a wrong column, a dropped retry, a wrong sign) that
changes what a user sees, with that harm written down. Lines touched by campaigns 1 and 2 were avoided, or, where
a line holds two independent decisions, the other decision is the one changed.

The modules are those of campaigns 1 and 2, weighted by how much users lean on them: the decision, the HPA model,
the replay and its oracle, the store and promotion, the series layer, windows, the prescaler's fail-safe paths
(forecast staleness, the last good forecast, the accuracy guard, retries and conflicts, leader election,
calendar outages, policy defaults), the API's auth and validation, events and their profile, templates and
fleet training.

Plain data (no import of planted_bugs.py, which runs as a script): ``(id, file, original, replacement, harm)``.
"""

from __future__ import annotations

from planted_catalogue_2 import (  # the same files and test groups as campaign 2
    _API,
    _EVENTS,
    _FLEET,
    _PRESCALER,
    HPA,
    MODULES_2,
    ORACLE,
    PROMOTION,
    SCALING,
    SERIES,
    SIMULATE,
    STORE,
    TESTS_2,
    WINDOWS,
    A,
    P,
)

CATALOGUE_3: tuple[tuple[str, str, str, str, str], ...] = (
    # -- the decision (scaling.py) ---------------------------------------------------------------------------
    (
        "scaling3-window-ends-at-lead",
        SCALING,
        "end = now_ns + int((policy.lead_time_s + policy.interval_s) * 1e9)",
        "end = now_ns + int(policy.lead_time_s * 1e9)",
        "the planning window stops at the lead time instead of lasting until the next decision: a peak due in "
        "the last interval gets no capacity",
    ),
    (
        "scaling3-partial-nan-planned",
        SCALING,
        "if not np.isfinite(window).all():",
        "if not np.isfinite(window).any():",
        "a forecast with some NaN steps in the planning window is planned on: the decision crashes or plans "
        "on a NaN peak instead of failing safe",
    ),
    (
        "scaling3-min-replicas-not-a-floor",
        SCALING,
        "bounded = min(max(raw if rising else policy.min_replicas, policy.min_replicas), policy.max_replicas)",
        "bounded = min(raw if rising else policy.min_replicas, policy.max_replicas)",
        "a quiet forecast recommends fewer replicas than min_replicas: the floor drops below its minimum",
    ),
    (
        "scaling3-rate-limit-period-inclusive",
        SCALING,
        "if last_down is not None and now - last_down < period:",
        "if last_down is not None and now - last_down <= period:",
        "a scale-down exactly one period after the last is blocked: with a 60 s interval and a 60 s period "
        "capacity comes down every other tick",
    ),
    (
        "scaling3-rise-base-last-step",
        SCALING,
        'base = float(first.iloc[0]) if len(first) else float("nan")',
        'base = float(first.iloc[-1]) if len(first) else float("nan")',
        "plan=rise compares the lead-time median with the forecast's last step instead of the next one: "
        "rises the HPA cannot follow are missed",
    ),
    (
        "scaling3-observed-load-lowers",
        SCALING,
        "if observed_need is not None and min(observed_need, policy.max_replicas) > bounded:",
        "if observed_need is not None and min(observed_need, policy.max_replicas) < bounded:",
        "a low observed load overrides the forecast's need (and a surge is ignored): the Replicas actuator "
        "drops capacity just before a forecast peak",
    ),
    (
        "scaling3-min-nodes-ignored",
        SCALING,
        "nodes = max(math.ceil(int(replicas) / per_node), int(min_nodes))",
        "nodes = math.ceil(int(replicas) / per_node)",
        "the node group is sized below its minNodes when few pods are needed",
    ),
    (
        "scaling3-pods-per-node-rounded-up",
        SCALING,
        "per_node = math.floor(node_allocatable / pod_request + 1e-9)",
        "per_node = math.ceil(node_allocatable / pod_request - 1e-9)",
        "a node that fits 2.5 pods is counted as fitting 3: too few nodes, pods stay pending",
    ),
    (
        "scaling3-no-forecast-current-not-last",
        SCALING,
        "keep = state.last_desired if state.last_desired is not None else int(current_replicas)",
        "keep = int(current_replicas)",
        "without a forecast the floor falls to the replicas running now instead of holding the last desired "
        "value: scales down because data went missing",
    ),
    (
        "scaling3-min-equals-max-refused",
        SCALING,
        "if self.min_replicas > self.max_replicas:",
        "if self.min_replicas >= self.max_replicas:",
        "a pinned workload (min_replicas == max_replicas) is refused as an invalid policy",
    ),
    # -- the HPA model (hpa.py) ------------------------------------------------------------------------------
    (
        "hpa3-proposal-rounded",
        HPA,
        "return math.ceil(ratio * ready - 1e-9)",
        "return round(ratio * ready)",
        "the replayed HPA rounds its proposal instead of taking the ceiling: it runs short by a pod at every "
        "fractional need, unlike Kubernetes",
    ),
    (
        "hpa3-scale-down-counts-starting",
        HPA,
        "new_ratio, pods = ratio, ready",
        "new_ratio, pods = ratio, ready + unready",
        "on a scale-down the replayed HPA multiplies the ratio by starting pods too: it keeps pods Kubernetes "
        "would remove",
    ),
    (
        "hpa3-up-stabilisation-highest",
        HPA,
        "up_rec = min(up_rec, rec)",
        "up_rec = max(up_rec, rec)",
        "a scale-up stabilisation window keeps the highest proposal instead of the lowest: one spike reading "
        "scales the replayed HPA up",
    ),
    (
        "hpa3-stabilised-ignores-current",
        HPA,
        "stabilised = min(max(current, up_rec), down_rec)",
        "stabilised = min(up_rec, down_rec)",
        "with a scale-up stabilisation window the replayed HPA scales down to the window's lowest proposal, "
        "bypassing the scale-down window",
    ),
    (
        "hpa3-policy-period-inclusive",
        HPA,
        "return sum(change for t, change in events if t > cutoff)",
        "return sum(change for t, change in events if t >= cutoff)",
        "a scale event exactly one policy period old still uses up the limit: the replayed HPA scales slower "
        "than Kubernetes",
    ),
    (
        "hpa3-no-ready-pods-divides",
        HPA,
        "    if ready <= 0:\n        return current  # no metrics",
        "    if ready < 0:\n        return current  # no metrics",
        "with every pod still starting the replayed HPA divides by zero instead of keeping the scale",
    ),
    (
        "hpa3-floor-above-max-kept",
        HPA,
        "    lo = min(lo, hi)\n",
        "    lo = lo\n",
        "a prescaler floor above maxReplicas makes the replayed HPA flap between the floor and the maximum",
    ),
    (
        "hpa3-percent-up-rounds-down",
        HPA,
        'start + policy.value if policy.type == "Pods" else math.ceil(start * (1 + policy.value / 100))',
        'start + policy.value if policy.type == "Pods" else int(start * (1 + policy.value / 100))',
        "a Percent scale-up policy rounds its limit down: one pod at +50% can never grow",
    ),
    # -- the replay simulator (simulate.py, oracle.py) -------------------------------------------------------
    (
        "replay3-negative-load-accepted",
        SIMULATE,
        "if (regular < 0).any():",
        "if (regular < 0).all():",
        "a trace with negative loads (a counter reset read as a rate) is replayed instead of refused",
    ),
    (
        "replay3-pods-on-booting-nodes",
        SIMULATE,
        "ready_nodes = sum(1 for r in self.node_ready if r <= t)",
        "ready_nodes = len(self.node_ready)",
        "pods are scheduled on nodes still booting: node start-up vanishes from every replay",
    ),
    (
        "replay3-ready-at-minute-end",
        SIMULATE,
        "            if k == 0:\n                ready[m] = ready_now",
        "            if k == subs - 1:\n                ready[m] = ready_now",
        "ready pods are counted at the end of each minute: capacity is credited up to a minute before it exists",
    ),
    (
        "replay3-oracle-below-min",
        SIMULATE,
        "need = np.clip(np.ceil(load / cap - 1e-9), config.hpa.min_replicas, config.hpa.max_replicas).astype(",
        "need = np.clip(np.ceil(load / cap - 1e-9), 0, config.hpa.max_replicas).astype(",
        "the oracle may drop below minReplicas: its cost floor is lower than any allowed schedule",
    ),
    (
        "replay3-peak-truncated",
        SIMULATE,
        '"peak_replicas": int(np.ceil(pods.max())) if len(pods) else 0,',
        '"peak_replicas": int(pods.max()) if len(pods) else 0,',
        "a minute averaging 4.25 pods reports a peak of 4: the peak is under-reported",
    ),
    (
        "replay3-metric-wraps-to-end",
        SIMULATE,
        "start = np.clip(end - width, 0, None)",
        "start = end - width",
        "at the start of a replay with little history the HPA's metric window wraps to the trace's end",
    ),
    (
        "replay3-precomputed-reads-now",
        SIMULATE,
        "frame = forecast_fn(history.iloc[:m], index[m])",
        "frame = forecast_fn(history.iloc[: m + 1], index[m])",
        "precomputed forecasts (tuning) read the sample at the tick: tuned settings are scored with a look at "
        "the future",
    ),
    (
        "oracle3-starting-pods-ready",
        ORACLE,
        "ready += covered",
        "ready += layer_exist",
        "the oracle counts its starting pods as ready: its timeline shows capacity before it exists",
    ),
    # -- the model store (store.py) --------------------------------------------------------------------------
    (
        "store3-unreadable-is-absent",
        STORE,
        "except (FileNotFoundError, NotADirectoryError):",
        "except OSError:",
        "a pointer that cannot be read (permissions, I/O error) reads as 'nothing promoted': the service falls "
        "back to a baseline and the next training overwrites it silently",
    ),
    (
        "store3-stale-temp-oldest-mtime",
        STORE,
        "age_s = now_s - max(touched)",
        "age_s = now_s - min(touched)",
        "a slow writer whose folder is old but whose files are fresh has its temporary removed mid-write",
    ),
    (
        "store3-pointer-version-unchecked",
        STORE,
        "if not isinstance(version, str) or not _VERSION_RE.match(version):",
        "if not isinstance(version, str):",
        "a pointer naming a bogus version is not reported as damaged: promotion cannot replace it and readers "
        "get 'no model' instead of the damaged-pointer fallback",
    ),
    (
        "store3-extra-file-overwrites-manifest",
        STORE,
        'if clash or any("/" in name or name.startswith(".") for name in extra_files or ()):',
        'if any("/" in name or name.startswith(".") for name in extra_files or ()):',
        "an extra file named manifest.json or weights.safetensors replaces the model's own: a version that "
        "does not load",
    ),
    # -- promotion (promotion.py) ----------------------------------------------------------------------------
    (
        "promotion3-tie-promoted",
        PROMOTION,
        "elif not new < scores[best_name].wape:",
        "elif new > scores[best_name].wape:",
        "a candidate that only ties the best baseline is promoted",
    ),
    (
        "promotion3-tuning-on-training-range",
        PROMOTION,
        "cfg, bind_calendar(model, events), series, tune_start=holdout_index[0], store=store, now=now",
        "cfg, bind_calendar(model, events), series, tune_start=series.index[0], store=store, now=now",
        "the prescaler is tuned on the range the model was trained on: its recommendation is optimistic",
    ),
    (
        "promotion3-holdout-in-minutes",
        PROMOTION,
        "n = int(holdout / step)",
        "n = int(holdout / pd.Timedelta(minutes=1))",
        "the held-out range is counted in minutes, not steps: on a 5-minute series it is five times too long "
        "(or silently replaced by the last fifth)",
    ),
    (
        "promotion3-failed-tuning-drops-previous",
        PROMOTION,
        '            if previous is None:\n                return {}, f"{failed}; no recommendation stored"',
        '            if previous is not None:\n                return {}, f"{failed}; no recommendation stored"',
        "a failed tuning drops the last good recommendation instead of carrying it forward (and crashes the "
        "training when there was none)",
    ),
    # -- the series layer (series.py) ------------------------------------------------------------------------
    (
        "series3-infinite-input-accepted",
        SERIES,
        "if np.isinf(arr).any():",
        "if np.isinf(arr).all():",
        "an input series with an infinite value is accepted: training and forecasts run on Infinity",
    ),
    (
        "series3-gap-limit-in-seconds",
        SERIES,
        "limit = int(parse_duration(max_interp_gap) / step_td)",
        "limit = int(parse_duration(max_interp_gap).total_seconds())",
        "the interpolation limit is counted in seconds, not steps: a 15m limit fills gaps of 900 steps",
    ),
    (
        "series3-step-truncated",
        SERIES,
        "step = pd.Timedelta(seconds=max(1, round(step_ns / 1e9)))",
        "step = pd.Timedelta(seconds=max(1, int(step_ns / 1e9)))",
        "a 1-minute source that reports a few ms early gets a 59 s step: the series is put on the wrong grid",
    ),
    (
        "series3-zero-duration-accepted",
        SERIES,
        '        if value <= 0:\n            raise DataError(f"duration {value!r} must be positive"',
        '        if value < 0:\n            raise DataError(f"duration {value!r} must be positive"',
        "a duration of 0 seconds is accepted: a zero step divides by zero later instead of a clear error",
    ),
    # -- windows (windows.py) --------------------------------------------------------------------------------
    (
        "windows3-newest-origin-dropped",
        WINDOWS,
        "t = np.arange(need, last + 1)",
        "t = np.arange(need, last)",
        "the newest origin is never valid: a forecast cannot be made from the latest data, training loses its "
        "last window",
    ),
    (
        "windows3-time-in-microseconds",
        WINDOWS,
        "seconds = ns / 1e9",
        "seconds = ns / 1e6",
        "the calendar inputs read nanoseconds as microseconds: time of day and day of week are garbage",
    ),
    (
        "windows3-level-spread-unfloored",
        WINDOWS,
        "log_level_std=max(std, _MIN_LOG_LEVEL_STD),",
        "log_level_std=std,",
        "on a very steady training series a later level shift lands dozens of deviations out: wild forecasts",
    ),
    (
        "windows3-event-start-not-started",
        WINDOWS,
        'nxt = np.searchsorted(starts, t, side="right")  # [T] first start after t',
        'nxt = np.searchsorted(starts, t, side="left")  # [T] first start after t',
        "at the step an event starts the model reads it as still to come (and the previous one as the last)",
    ),
    (
        "windows3-idle-yesterday-nan",
        WINDOWS,
        "lag_scale = np.maximum(np.mean(np.abs(lag_raw), axis=1), scaler.floor)  # [N]",
        "lag_scale = np.mean(np.abs(lag_raw), axis=1)  # [N]",
        "a day-ago window of zeros (yesterday's outage) divides by zero: NaN inputs, NaN forecasts",
    ),
    # -- the controller: forecasts and their fail-safe paths (forecasts.py, guard.py, loop.py) ---------------
    (
        "forecasts3-staleness-in-minutes",
        P + "forecasts.py",
        "if age > pd.Timedelta(seconds=policy.forecast.max_staleness_s):",
        "if age > pd.Timedelta(minutes=policy.forecast.max_staleness_s):",
        "history 60 times older than maxStaleness is still trusted: the prescaler acts on a stale forecast",
    ),
    (
        "forecasts3-partial-nan-used",
        P + "forecasts.py",
        "if frame.isna().any().any():",
        "if frame.isna().all().all():",
        "a forecast with NaN in it is reported usable (Ready, not Degraded) and kept as the last good one",
    ),
    (
        "forecasts3-last-good-never-covers",
        P + "forecasts.py",
        "return pd.Timestamp(pd.DatetimeIndex(self.frame.index).max()) - reach",
        "return pd.Timestamp(pd.DatetimeIndex(self.frame.index).min()) - reach",
        "the last good forecast never bridges an outage: a Prometheus blip lets the floor go at once",
    ),
    (
        "forecasts3-token-to-other-url",
        P + "forecasts.py",
        "        bearer_token_file=None,\n",
        "",
        "a policy's own prometheusUrl receives the operator's bearer token file: credentials leak to any server "
        "a policy names",
    ),
    (
        "forecasts3-guard-window-ignored",
        P + "forecasts.py",
        "window = max(lookback, pd.Timedelta(seconds=policy.guard.window_s) if policy.guard else lookback)",
        "window = lookback",
        "the history read is only the model's lookback: an accuracy guard with a longer window judges on part "
        "of it",
    ),
    (
        "guard3-signed-errors",
        P + "guard.py",
        'errs.extend(np.abs(both["f"] - both["a"]).tolist())',
        'errs.extend((both["f"] - both["a"]).tolist())',
        "over- and under-forecasts cancel in the guard's error: a model wrong both ways is never switched off",
    ),
    (
        "guard3-min-samples-off-by-one",
        P + "guard.py",
        "if samples >= spec.min_samples:",
        "if samples > spec.min_samples:",
        "the guard needs one sample more than minSamples before it acts",
    ),
    (
        "loop3-holding-inverted",
        P + "loop.py",
        "if holding is not None and not holding.covers(policy, now):",
        "if holding is not None and holding.covers(policy, now):",
        "during an outage the last good forecast is dropped while it still covers the window: the floor goes "
        "at the first failed read",
    ),
    (
        "loop3-acts-on-stale-forecast",
        P + "loop.py",
        "fresh = result.frame if result is not None and problem is None else None",
        "fresh = result.frame if result is not None else None",
        "a forecast judged stale or NaN is acted on (and kept as the last good one): the prescaler scales on "
        "data it just said it cannot trust",
    ),
    (
        "loop3-observed-load-oldest",
        P + "loop.py",
        "return float(observed.iloc[-1]) if len(observed) else None",
        "return float(observed.iloc[0]) if len(observed) else None",
        "the observed-load bound reads the oldest point of the history window, not the load now",
    ),
    (
        "loop3-tuned-keeps-lower",
        P + "loop.py",
        "if fallback is not None and floor.units > plan.units:",
        "if fallback is not None and floor.units < plan.units:",
        "when a tuned recommendation cannot be used safely the lower of the two floors is applied",
    ),
    # -- the controller: acting (actuators.py, kube.py) ------------------------------------------------------
    (
        "actuators3-unset-restored-as-zero",
        P + "actuators.py",
        "    if recorded == UNSET:\n        return None",
        "    if recorded == UNSET:\n        return 0",
        "a floor that was unset before the prescaler raised it is restored as an explicit 0 (an HPA refuses "
        "minReplicas 0; KEDA scales the workload to zero)",
    ),
    (
        "actuators3-keda-kind-default",
        P + "actuators.py",
        'kind = ref.get("kind", "Deployment" if default_api_version else None)',
        'kind = ref.get("kind")',
        "a ScaledObject whose scaleTargetRef omits kind (KEDA's default Deployment) is not found",
    ),
    (
        "actuators3-never-scales-down",
        P + "actuators.py",
        "            if before == units:\n                return None, Applied(units)",
        "            if before >= units:\n                return None, Applied(units)",
        "the Replicas actuator never lowers replicas: capacity raised for a peak is paid for forever",
    ),
    (
        "kube3-conflict-same-copy",
        P + "kube.py",
        "            obj = None\n    raise ConflictError(",
        "            pass\n    raise ConflictError(",
        "after a 409 the patch is retried with the same stale resourceVersion: every conflict fails the tick",
    ),
    (
        "kube3-last-retry-dropped",
        P + "kube.py",
        "                if attempt >= len(schedule):",
        "                if attempt >= len(schedule) - 1:",
        "the last retry of the backoff schedule is never made: a brief API-server blip fails the tick",
    ),
    (
        "kube3-status-times-local",
        P + "kube.py",
        't = t.tz_convert("UTC").tz_localize(None)\n    return t.strftime("%Y-%m-%dT%H:%M:%SZ")',
        't = t.tz_localize(None)\n    return t.strftime("%Y-%m-%dT%H:%M:%SZ")',
        "times with an offset are written with a Z but in their local wall clock: status times hours off",
    ),
    # -- the controller: policies, leader, calendars ---------------------------------------------------------
    (
        "policy3-shift-on-auto",
        P + "policy.py",
        'if scaling.plan == "shift" and not (actuator != "Auto" and _registry()[actuator].floor):',
        'if scaling.plan == "shift" and actuator == "Replicas":',
        "plan shift is accepted with actuator Auto, which resolves to Replicas without an HPA: nothing keeps "
        "the pods the load needs now",
    ),
    (
        "policy3-mode-default-forecast",
        P + "policy.py",
        'mode = spec.get("mode", "Scale")',
        'mode = spec.get("mode", "Forecast")',
        "a policy without spec.mode only publishes forecasts: nothing is ever scaled",
    ),
    (
        "policy3-quantile-default-median",
        P + "policy.py",
        'quantile=_number(spec, "quantile", where, 0.9),',
        'quantile=_number(spec, "quantile", where, 0.5),',
        "a policy without spec.quantile plans on the median: short half the time",
    ),
    (
        "leader3-standby-timer-reset",
        P + "leader.py",
        "        if rv != self._observed_rv:\n            self._observe(lease, now)",
        "        if True:\n            self._observe(lease, now)",
        "a standby restarts its expiry timer at every read: it never takes over from a dead leader",
    ),
    (
        "leader3-read-error-keeps-leading",
        P + "leader.py",
        '            log.warning("cannot read lease %s/%s: %s", self.namespace, self.name, exc)\n'
        "            return self._set(False)",
        '            log.warning("cannot read lease %s/%s: %s", self.namespace, self.name, exc)\n'
        "            return self._set(self.leading)",
        "a leader that cannot read its lease keeps acting: two leaders once another replica takes over",
    ),
    (
        "calendars3-file-age-swapped",
        P + "calendars.py",
        "age_s = (_utc(now) - _utc(updated_at)).total_seconds()",
        "age_s = (_utc(updated_at) - _utc(now)).total_seconds()",
        "a calendar file nobody updated for weeks is never judged stale: the forecast trusts an old schedule",
    ),
    (
        "calendars3-hold-with-calendar-in-use",
        P + "calendars.py",
        "if reading is None or reading.calendar is not None:",
        "if reading is None:",
        "with the calendar read fine, an event it no longer lists (cancelled) still holds capacity from the "
        "status",
    ),
    # -- the API: auth and validation ------------------------------------------------------------------------
    (
        "deps3-no-www-authenticate",
        A + "deps.py",
        '            headers={"WWW-Authenticate": \'Bearer realm="forecaster"\'},\n',
        "",
        "a 401 carries no WWW-Authenticate header: clients are not told which scheme to use (RFC 6750)",
    ),
    (
        "settings3-empty-env-token",
        A + "settings.py",
        "return os.environ.get(self.auth_token_env) or None",
        "return os.environ.get(self.auth_token_env)",
        "an empty token variable turns auth on with an empty token: 'Authorization: Bearer ' is accepted",
    ),
    (
        "forecast3-offsets-not-utc",
        A + "routes/forecast.py",
        "body.history.values, index=pd.DatetimeIndex(pd.to_datetime(body.history.timestamps, utc=True))",
        "body.history.values, index=pd.DatetimeIndex(pd.to_datetime(body.history.timestamps))",
        "a history whose timestamps change offset (across a DST change) fails with a 500 instead of a forecast",
    ),
    (
        "cache3-overdue-in-seconds",
        A + "cache.py",
        "        limit = state.step * self.stale_after_steps\n        if now - entry.generated_at > limit:",
        "        limit = pd.Timedelta(seconds=self.stale_after_steps)\n"
        "        if now - entry.generated_at > limit:",
        "stale_after_steps is read as seconds: a forecast is called stale seconds after it is made",
    ),
    (
        "cache3-history-gap-nan",
        A + "cache.py",
        "return [None if math.isnan(v) else round(v, 3) for v in values.tolist()]",
        "return [round(v, 3) for v in values.tolist()]",
        "a gap in the served history is written as NaN: invalid JSON for every client",
    ),
    (
        "selectors3-value-unchecked",
        A + "selectors.py",
        "if not _VALUE.match(value) or len(value) > 63:",
        "if len(value) > 63:",
        "a selector value that is no label value (spaces, quotes) is accepted instead of a 422 naming it",
    ),
    (
        "selectors3-token-not-validated",
        A + "selectors.py",
        'raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)',
        'raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_")',
        "a mangled continue token is decoded anyway: the page starts somewhere else instead of a clear error",
    ),
    # -- the model: events and their profile (events.py, event_profile.py) -----------------------------------
    (
        "events3-upcoming-excludes-now",
        "forecaster/events.py",
        "return [e for e in self.events if e.start >= now and (last is None or e.start < last)]",
        "return [e for e in self.events if e.start > now and (last is None or e.start < last)]",
        "an event starting exactly now is not upcoming: it is left out of the status and the API's events",
    ),
    (
        "events3-default-duration-minute",
        "forecaster/events.py",
        "DEFAULT_DURATION = pd.Timedelta(hours=1)",
        "DEFAULT_DURATION = pd.Timedelta(minutes=1)",
        "an event without an end counts as running for one minute, not an hour: held capacity is released "
        "at once",
    ),
    (
        "events3-zero-length-event",
        "forecaster/events.py",
        "if end <= start:",
        "if end < start:",
        "an event that ends when it starts is accepted: it never counts as running",
    ),
    (
        "profile3-cancelled-kept",
        "forecaster/event_profile.py",
        'return StartState("cancelled", 0.0, announced_s, False)',
        'return StartState("cancelled", 1.0, announced_s, False)',
        "a stream that never started keeps its full uplift: the extra capacity for it is never released",
    ),
    (
        "profile3-young-start-capped",
        "forecaster/event_profile.py",
        'return StartState("started", 1.0, real_s, True, upper=upper)',
        'return StartState("started", min(scale, 1.0), real_s, True, upper=upper)',
        "a stream that looks smaller than announced in its first minutes is cut to that size at once",
    ),
    (
        "profile3-band-below-median",
        "forecaster/event_profile.py",
        "ratio[row, h] = float(np.clip(np.quantile(r, profile.upper_quantile), 1.0, 3.0))",
        "ratio[row, h] = float(np.clip(np.quantile(r, profile.upper_quantile), 0.0, 3.0))",
        "around an event the upper band can fall below the median: p90 under p50",
    ),
    # -- templates and fleet training (templates.py, fleet.py) -----------------------------------------------
    (
        "templates3-hash-joins-with-dash",
        "forecaster/templates.py",
        'suffix = hashlib.sha256("\\0".join(values).encode("utf-8")).hexdigest()[:8]',
        'suffix = hashlib.sha256("-".join(values).encode("utf-8")).hexdigest()[:8]',
        "label values ('a-b', 'c') and ('a', 'b-c') get the same member name: one target trains over another's",
    ),
    (
        "templates3-max-targets-zero",
        "forecaster/templates.py",
        "if not 1 <= template.max_targets <= LIMIT_MAX_TARGETS:",
        "if not 0 <= template.max_targets <= LIMIT_MAX_TARGETS:",
        "maxTargets 0 is accepted: the template silently trains nothing",
    ),
    (
        "fleet3-cpu-quota-rounded-up",
        "forecaster/fleet.py",
        "cpus = min(cpus, math.floor(quota_cpus))",
        "cpus = min(cpus, math.ceil(quota_cpus))",
        "a pod limited to 1.5 CPUs runs 2 training processes: throttled, slower than one",
    ),
    (
        "fleet3-v1-unlimited-quota",
        "forecaster/fleet.py",
        "if quota_us > 0 and period_us > 0:",
        "if period_us > 0:",
        "on cgroup v1 an unlimited quota (-1) is read as a limit: training runs on one process",
    ),
    (
        "fleet3-shard-index-equal-count",
        "forecaster/fleet.py",
        "if self.count < 1 or not 0 <= self.index < self.count:",
        "if self.count < 1 or not 0 <= self.index <= self.count:",
        "--shard 4/4 is accepted: that pod owns no target and the Job looks successful",
    ),
    (
        "fleet3-env-swapped",
        "forecaster/fleet.py",
        "index, count = int(raw_index), int(raw_count)",
        "count, index = int(raw_index), int(raw_count)",
        "the Indexed Job's index and completions are swapped: pods refuse to start or train the wrong shard",
    ),
)

EQUIVALENT_3: dict[str, str] = {}
"""Bugs found, after the first run, to change nothing a user can see on today's code (each with its reason)."""

_SCALING = (
    "tests/test_scaling.py",
    "tests/test_guarantees_scaling.py",
    "tests/test_prescaler_equivalence.py",
)
_REPLAY = (
    "tests/test_simulate.py",
    "tests/test_guarantees_replay.py",
    "tests/test_guarantees_simulate.py",
    "tests/test_prescaler_equivalence.py",
)

TESTS_3: dict[str, tuple[str, ...]] = {
    **TESTS_2,
    # The files campaign 1 maps, with the tests of today's suite a developer would also run for them (the
    # mutation-testing files and the edge-case guarantees written since campaign 1's mapping).
    SCALING: (*_SCALING, "tests/test_mutants_scaling.py"),
    HPA: ("tests/test_hpa.py", "tests/test_guarantees_hpa.py", *_REPLAY),
    ORACLE: ("tests/test_guarantees_oracle.py", "tests/test_guarantees_oracle_edges.py", *_REPLAY),
    SIMULATE: _REPLAY,
    STORE: (
        "tests/test_guarantees_store.py",
        "tests/test_model_store_load_for.py",
        "tests/test_guarantees_promotion_rules.py",
        "tests/test_model_store.py",
        "tests/test_guarantees_promotion.py",
        "tests/test_store_s3.py",
        "tests/test_mutants_store.py",
    ),
    PROMOTION: (
        "tests/test_guarantees_promotion_rules.py",
        "tests/test_guarantees_promotion.py",
        "tests/test_guarantees_promotion_edges.py",
        "tests/test_model_store.py",
        "tests/test_mutants_promotion.py",
    ),
    SERIES: (
        "tests/test_series.py",
        "tests/test_guarantees_series.py",
        "tests/test_files.py",
        "tests/test_mutants_series.py",
    ),
    WINDOWS: (
        "tests/test_windows_and_metrics.py",
        "tests/test_guarantees_windows.py",
        "tests/test_event_model.py",
        "tests/test_committed_models.py",
        "tests/test_mutants_windows.py",
    ),
    P + "forecasts.py": ("tests/test_prescaler_calendar.py", *_PRESCALER),
    A + "settings.py": ("tests/test_mutants_api_settings.py", *_API),
    A + "cache.py": ("tests/test_api_fastpath.py", *_API),
    "forecaster/events.py": _EVENTS,
    "forecaster/event_profile.py": _EVENTS,
    "forecaster/templates.py": _FLEET,
    "forecaster/fleet.py": _FLEET,
}
"""The tests run for each planted file (the prescaler's and the API's other files: their subsystem's tests)."""

MODULES_3: dict[str, str] = dict(MODULES_2)
"""Modules of the files campaign 1 has no name for (the report's rows)."""
