"""Campaign 5 of the planted-bug benchmark: a fresh catalogue, run with ``bench/planted_bugs.py --campaign 5``.

Issue 15's target (>= 95% of a fresh campaign caught) measured once more: bugs different from campaigns 1-4
(bench/planted_bugs.py's :data:`CATALOGUE`, bench/planted_catalogue_{2,3,4}.py) and from the behaviours the
issue lists, written before the tests of this round (tests/test_behaviour_<group>*.py by two engineers who
never saw this catalogue) were merged. Every bug was chosen by reading the code and its docstrings, never the
tests: a plausible one-line slip (an off-by-one, a wrong comparison, a wrong default, a dropped condition or
line, a wrong argument or key, a wrong unit, an inverted choice, a copy-paste of the neighbouring line) that
changes what a user sees, with that harm written down, and checked against the product for an input it
accepts on which the bug changes the behaviour. No (line, change) of campaigns 1-4 is planted again; lines
that carry an issue-listed behaviour (the bearer-token check, auth_metrics, the dry-run write, the guard's
hysteresis, the NaN promotion, the worse-than-current promotion, the pointer write, the sample staleness, the
idle-service scale, the 409 on finalizers, the HPA's metric lag, the starting pods in the tolerance band, the
scale-down order of pods, crossing bands) were left alone.

Spread as campaign 4: the decision, the HPA model, the replay and its oracle, the store and promotion, the
series layer, windows, about a quarter in the prescaler (policy parsing, the accuracy guard, leader election,
the reconcile loop, forecasts, the Kubernetes wrapper, calendars, batched prediction, the floor actuators),
the API (settings, routes, selectors, the cache and its fast path, the error handlers), the model code (band
calibration, skill-weighted combination, the event calendar and event profile), templates and fleet training.

Plain data (no import of planted_bugs.py, which runs as a script): ``(id, file, original, replacement, harm)``.
"""

from __future__ import annotations

from planted_catalogue_4 import (  # the same files and test groups as campaign 4
    HPA,
    MODULES_4,
    ORACLE,
    PROMOTION,
    SCALING,
    SERIES,
    SIMULATE,
    STORE,
    TESTS_4,
    WINDOWS,
    A,
    P,
)

CATALOGUE_5: tuple[tuple[str, str, str, str, str], ...] = (
    # -- the decision (scaling.py) ---------------------------------------------------------------------------
    (
        "scaling5-no-step-limit-freezes",
        SCALING,
        "if desired < last and policy.scale_down_max_step > 0:",
        "if desired < last and policy.scale_down_max_step >= 0:",
        "scale_down_max_step 0 (the default: no limit) limits every scale-down to 0 pods: a floor once raised is "
        "never lowered and the workload pays for its peak capacity for ever",
    ),
    (
        "scaling5-nan-observed-load-crashes",
        SCALING,
        "    if load is None or not math.isfinite(load):\n        return None",
        "    if load is None:\n        return None",
        "a NaN observed load (a Prometheus gap at the current minute) crashes the decision with a ValueError "
        "instead of being ignored: the Replicas actuator stops deciding for that workload",
    ),
    (
        "scaling5-replace-ignores-changes",
        SCALING,
        "        values.update(changes)\n",
        "",
        "ScalingPolicy.replace returns the policy unchanged: the replay's node group plans with the pod lead "
        "time instead of node + pod start-up, and a tuning grid replays one setting under every label",
    ),
    (
        "scaling5-peak-time-window-start",
        SCALING,
        "    peak_at = pd.Timestamp(int(times[top]))",
        "    peak_at = pd.Timestamp(int(times[0]))",
        "the decision reports the start of the planning window as the time of the peak: the status' "
        "forecastPeakTime and the message tell an operator the spike comes minutes earlier than forecast",
    ),
    (
        "scaling5-nodes-zero-replicas-refused",
        SCALING,
        "if isinstance(replicas, bool) or int(replicas) != replicas or replicas < 0:",
        "if isinstance(replicas, bool) or int(replicas) != replicas or replicas < 1:",
        "nodes_needed refuses 0 replicas: a workload scaled to zero (or a node decision asking for none) stops "
        "the node planning with a ConfigError instead of answering min_nodes",
    ),
    (
        "scaling5-max-replicas-zero-accepted",
        SCALING,
        "        if self.max_replicas < 1:",
        "        if self.max_replicas < 0:",
        "a policy with max_replicas 0 is accepted: the prescaler caps every workload it manages at zero replicas "
        "(a typo or an unset field scales the service away) instead of refusing the policy",
    ),
    (
        "scaling5-zero-seconds-refused",
        SCALING,
        '            if not _finite(value) or value < 0:\n                raise bad(name, f"must be seconds >= 0',
        '            if not _finite(value) or value <= 0:\n                raise bad(name, f"must be seconds >= 0',
        "a lead time or scale-down stabilisation of 0 s is refused: plan=shift's own default (no stabilisation, "
        "the HPA's holds the pods) and a zero lead time cannot be configured",
    ),
    (
        "scaling5-bound-min-at-min",
        SCALING,
        "    elif raw < policy.min_replicas:",
        "    elif raw <= policy.min_replicas:",
        "a forecast needing exactly min_replicas is reported as 'raised to min_replicas' (bound_min): the status "
        "and the reason metrics say the forecast was overridden when it was followed",
    ),
    (  # replaces scaling5-nan-observed-load-crashes, found equivalent before any catch counted
        "scaling5-stores-unstabilised",
        SCALING,
        "        state=ScalingState(recommendations=recs, last_desired=int(desired), last_scale_down_at=last_down),",
        "        state=ScalingState(recommendations=recs, last_desired=int(bounded), last_scale_down_at=last_down),",
        "the state keeps the raw recommendation as the last desired value, not what was decided: a floor held "
        "by the stabilisation window is dropped at the next tick, and the rate limit counts from the wrong value",
    ),
    # -- the HPA model (hpa.py) ------------------------------------------------------------------------------
    (
        "hpa5-direction-flip-not-dropped",
        HPA,
        "if abs(1.0 - new_ratio) <= config.tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):",
        "if abs(1.0 - new_ratio) <= config.tolerance or (ratio < 1.0 < new_ratio):",
        "on a scale-up with starting pods, counting them as idle can turn the proposal into a scale-down, which "
        "Kubernetes drops and the model now proposes: the replayed HPA shrinks while the load rises",
    ),
    (
        "hpa5-ratio-over-spec-replicas",
        HPA,
        "    ratio = load / (ready * target)",
        "    ratio = load / (current * target)",
        "the usage ratio divides the load by every spec pod, starting ones included: during a scale-up the "
        "replayed HPA under-reads the load and adds too few pods, unlike Kubernetes",
    ),
    (
        "hpa5-records-stabilised",
        HPA,
        "    recs = tuple((t, r) for t, r in state.recommendations if t > keep_after) + ((now, proposal),)",
        "    recs = tuple((t, r) for t, r in state.recommendations if t > keep_after) + ((now, stabilised),)",
        "the stabilised value is recorded instead of the raw proposal: a held value keeps re-entering the "
        "window and the replayed HPA never scales down after a peak",
    ),
    (
        "hpa5-scale-down-below-min",
        HPA,
        "        bottom = max(\n            lo, min(",
        "        bottom = min(\n            lo, min(",
        "a scale-down is bounded by the rate limit only, not by minReplicas: a low load takes the replayed HPA "
        "below min_replicas and below the prescaler's floor",
    ),
    (
        "hpa5-up-event-total",
        HPA,
        "        ups += ((now, desired - current),)",
        "        ups += ((now, desired),)",
        "a scale-up event records the new replica count instead of the pods added: the rate-limit policies "
        "count far more added pods and the replayed HPA scales up slower than Kubernetes",
    ),
    (
        "hpa5-policy-period-minutes",
        HPA,
        "    cutoff = now - pd.Timedelta(seconds=period_s)",
        "    cutoff = now - pd.Timedelta(minutes=period_s)",
        "a 15 s policy period counts the scale events of the last 15 minutes: after one scale-up the replayed "
        "HPA is held to its limit for a quarter of an hour",
    ),
    (
        "hpa5-removed-from-up-events",
        HPA,
        "        removed = _changes_in(state.scale_down_events, now, policy.period_s)",
        "        removed = _changes_in(state.scale_up_events, now, policy.period_s)",
        "pods added in the period are counted as removed too, so they cancel out: the rate-limit policies never "
        "limit and the replayed HPA scales up without any policy bound",
    ),
    # -- the replay simulator (simulate.py, oracle.py) -------------------------------------------------------
    (
        "replay5-schedules-past-slots",
        SIMULATE,
        "            if i >= slots:\n                break",
        "            if i > slots:\n                break",
        "one pending pod more than the ready nodes can hold is started: with a node model, every scale-up gets "
        "a pod without waiting for its node and the replay looks faster than the cluster",
    ),
    (
        "replay5-metric-mean-over-full-width",
        SIMULATE,
        "    return (csum[end] - csum[start]) / (end - start)",
        "    return (csum[end] - csum[start]) / width",
        "near the start of the trace the HPA's metric is a sum over fewer minutes divided by the full window: "
        "it under-reads the load and the reactive baseline starts short",
    ),
    (
        "replay5-node-floor-from-pod-decision",
        SIMULATE,
        "                    replicas=nd.desired_replicas,",
        "                    replicas=d.desired_replicas,",
        "the node group's floor follows the pod decision (pod lead time) instead of the node decision: nodes "
        "are added a node start-up too late and prescaled pods wait for them",
    ),
    (
        "replay5-syncs-share-a-time",
        SIMULATE,
        "                now=now + sync_offsets[k],",
        "                now=now,",
        "every HPA sync inside a minute runs at the minute's start: scale events of one minute all fall inside "
        "each 15 s policy period, the stabilisation windows are off by up to a minute, and the replayed HPA "
        "scales more slowly than the real one",
    ),
    (
        "replay5-irregular-trace-accepted",
        SIMULATE,
        "    if step != TICK or (np.diff(trace.index.asi8) != TICK.value).any():",
        "    if step != TICK:",
        "a trace with a missing minute (or one resampled badly) is replayed as if it were continuous: minutes "
        "shift and every replay metric is computed on a time axis that is wrong",
    ),
    (
        "replay5-initial-nodes-floor",
        SIMULATE,
        "        n0 = math.ceil(initial / cluster.pods_per_node) if cluster.has_nodes else 0",
        "        n0 = initial // cluster.pods_per_node if cluster.has_nodes else 0",
        "with a node model every run starts a node short when the initial pods do not fill whole nodes: runs "
        "pay a node start-up at minute 0 and node-minutes are misreported",
    ),
    (
        "replay5-under-provisioned-by-a-pod",
        SIMULATE,
        '"under_provisioned_minutes": int((short > 1e-9 * max(1.0, capacity_per_replica)).sum()),',
        '"under_provisioned_minutes": int((short > capacity_per_replica).sum()),',
        "a minute short by less than one pod's capacity is not counted as under-provisioned: the headline SLO "
        "metric hides most short minutes of the reactive HPA and of the prescaler",
    ),
    (
        "oracle5-one-minute-gap-merged",
        ORACLE,
        "        breaks = np.flatnonzero(np.diff(idx) > 1)",
        "        breaks = np.flatnonzero(np.diff(idx) > 2)",
        "a one-minute dip splits no run: the oracle's pod disappears for that minute and comes back ready "
        "without a start-up, so its cost floor is too low",
    ),
    (
        "oracle5-gap-from-previous-start",
        ORACLE,
        "            prev_end = e",
        "            prev_end = s",
        "gaps are measured from the previous run's start, not its end: the oracle keeps pods through long "
        "gaps or restarts them through short ones, and its cost floor is wrong",
    ),
    # -- the model store and promotion (store.py, promotion.py) ----------------------------------------------
    (
        "store5-targets-unfiltered",
        STORE,
        '        return [t for t in self.backend.list_children("") if TARGET_NAME_RE.match(t)]',
        '        return self.backend.list_children("")',
        "every folder of the store is a target, lost+found of a fresh volume included: the API lists it and "
        "whatever walks the targets trips over a name that is not one",
    ),
    (
        "store5-trained-at-key",
        STORE,
        '        return self.manifest.get("created_at")',
        '        return self.manifest.get("trained_at")',
        "a model's training time is always unknown: the API and the status cannot say how old the served model "
        "is",
    ),
    (
        "store5-step-not-checked",
        STORE,
        "        _check_fits(promoted, step=step, quantiles=quantiles)",
        "        _check_fits(promoted, step=None, quantiles=quantiles)",
        "a model trained for another step (5 min) is served for a 1-minute target without complaint: its "
        "forecast steps are read as minutes and the prescaler plans on a forecast that is 5x too short in time",
    ),
    (
        "store5-unpromoted-counted-as-promoted",
        STORE,
        "        promoted = [t for t in targets if store.pointer(t)]",
        "        promoted = targets",
        "a store directory holding one promoted target and one only trained is refused as 'several promoted "
        "targets': forecaster serve --model DIR fails on a store that names its model unambiguously",
    ),
    (
        "promotion5-quantiles-not-compared",
        PROMOTION,
        "                and tuple(loaded.quantiles) == tuple(model.quantiles)\n",
        "",
        "after the config adds a quantile, the current model (without it) still competes: a candidate that "
        "does not beat it is not promoted and the served model lacks the quantile the prescaler plans on",
    ),
    (
        "promotion5-retunes-every-night",
        PROMOTION,
        "    go, why = recommendation.due(previous[1] if previous else None, cfg.tuning, now=now)",
        "    go, why = recommendation.due(None, cfg.tuning, now=now)",
        "the prescaler tuning ignores the stored recommendation's date: every training re-tunes (hours of CPU "
        "per target every night) instead of re-tuning when due",
    ),
    (
        "promotion5-summary-says-promoted",
        PROMOTION,
        '        verdict = "promoted" if self.promoted else "saved, NOT promoted"',
        '        verdict = "promoted" if self.saved else "saved, NOT promoted"',
        "the training log says 'promoted' for every saved version, also the ones that lost to the baseline or "
        "the current model: an operator believes a worse model is serving",
    ),
    # -- the series layer (series.py) ------------------------------------------------------------------------
    (
        "series5-unit-without-number",
        SERIES,
        "        elif ch in _UNITS and number:",
        "        elif ch in _UNITS:",
        "a duration such as 'h' or '5mm' crashes with a bare ValueError instead of 'cannot parse duration': the "
        "config error does not say which setting is wrong",
    ),
    (
        "series5-long-gaps-filled",
        SERIES,
        "    out[fillable] = filled[fillable]\n    return out",
        "    return filled",
        "gaps longer than max_interp_gap are interpolated too: a day of missing data becomes a straight line "
        "that training learns and the replay counts as real load",
    ),
    (
        "series5-duration-case",
        SERIES,
        "    text = str(value).strip().lower()",
        "    text = str(value).strip()",
        "'1H' or '30M' in a config is refused as unparseable: a setting written in capitals stops training or "
        "the service",
    ),
    # -- windows (windows.py) --------------------------------------------------------------------------------
    (
        "windows5-no-event-reads-starting-now",
        WINDOWS,
        "            out[:, cols] = [1.0, 1.0, 0.0, 0.0, 0.0]",
        "            out[:, cols] = [0.0, 0.0, 0.0, 0.0, 0.0]",
        "a known kind with nothing scheduled reads as 'an event starts right now': an event model forecasts a "
        "spike whenever the calendar is empty for a kind",
    ),
    (
        "windows5-target-one-step-late",
        WINDOWS,
        "        tgt_idx = origins[:, None] + np.arange(H)[None, :]",
        "        tgt_idx = origins[:, None] + np.arange(1, H + 1)[None, :]",
        "the model is trained on targets one step later than their inputs say: every forecast arrives a step "
        "late, and the last origin reads past the series",
    ),
    (
        "windows5-shortest-series-no-origin",
        WINDOWS,
        "    if last < need:",
        "    if last <= need:",
        "a history exactly as long as the lookback (and horizon) has no valid origin: a new target with just "
        "enough data gets 'not enough history' instead of a forecast",
    ),
    (
        "windows5-events-seen-all-kinds",
        WINDOWS,
        "            counts.append(sum(1 for e in seen.events if e.kind == kind))",
        "            counts.append(len(seen.events))",
        "every kind is recorded as learnt from all the training events: a kind seen once is trusted as if it "
        "were seen often, and the prescaler does not warn that its effect is a guess",
    ),
    # -- the controller (forecaster/prescaler) ---------------------------------------------------------------
    (
        "policy5-interval-default-5m",
        P + "policy.py",
        '            interval_s=_seconds(spec, "interval", where, "1m"),',
        '            interval_s=_seconds(spec, "interval", where, "5m"),',
        "a policy without spec.interval decides every 5 minutes instead of the documented 1: floors move five "
        "times later than the operator expects and a spike between two decisions is missed",
    ),
    (
        "policy5-pod-filling-a-node-refused",
        P + "policy.py",
        "    if pod > node:",
        "    if pod >= node:",
        "a node group whose pods request exactly a node's allocatable (one pod per node, a common layout for "
        "big workers) is refused as 'does not fit'",
    ),
    (
        "policy5-max-pods-per-node-required",
        P + "policy.py",
        "    if per_node == 0:",
        "    if not per_node:",
        "maxPodsPerNode becomes required: every node-group policy that leaves it out (it is optional in the "
        "CRD) is refused with 'must be at least 1'",
    ),
    (
        "guard5-trips-at-threshold",
        P + "guard.py",
        "                if not active and err > spec.max_error:",
        "                if not active and err >= spec.max_error:",
        "the accuracy guard takes over when the error equals maxError, though the policy says 'above it': a "
        "model exactly at its allowed error loses control of the floor",
    ),
    (
        "leader5-own-duration-for-others",
        P + "leader.py",
        '        duration = pd.Timedelta(seconds=float(spec.get("leaseDurationSeconds") or self.lease_duration_s))',
        "        duration = pd.Timedelta(seconds=float(self.lease_duration_s))",
        "the holder's declared lease duration is ignored: a replica with a shorter setting takes over a lease "
        "still held (60 s) after its own 15 s, and two prescalers act at once",
    ),
    (
        "leader5-writes-without-resource-version",
        P + "leader.py",
        '        if rv:\n            meta["resourceVersion"] = rv\n',
        "",
        "lease writes carry no resourceVersion: of two replicas racing for a free lease both writes succeed and "
        "both believe they lead",
    ),
    (
        "loop5-finalizer-without-finalizer-support",
        P + "loop.py",
        "        if not self.policies.uses_finalizers or FINALIZER in policy.finalizers:",
        "        if FINALIZER in policy.finalizers:",
        "policies read from a file (no finalizers there) get a finalizer write on every reconcile: each one "
        "fails with 'add the finalizer' and the policy is never applied",
    ),
    (
        "loop5-current-from-last-desired",
        P + "loop.py",
        "        pods = target.pods if target.pods is not None else state.last_desired",
        "        pods = state.last_desired",
        "a policy without a decision yet (new, or its status lost) that meets a forecast outage decides from "
        "min_replicas instead of the pods running: in Forecast mode or under the accuracy guard its status "
        "publishes min_replicas as the desired value and says it keeps that many",
    ),
    (
        "loop5-new-leader-waits-an-interval",
        P + "loop.py",
        "                if leading and (time.monotonic() >= next_tick or not was_leading):",
        "                if leading and time.monotonic() >= next_tick:",
        "a replica that led, lost the lease and takes it back waits out the rest of its old interval before "
        "reconciling: after such a failover and back, no decision is made for up to an interval",
    ),
    (
        "loop5-liveness-never-fails",
        P + "loop.py",
        '        if probe == "healthz" and age > stale_s:',
        '        if probe == "readyz" and age > stale_s:',
        "a stuck reconcile loop makes the pod unready but never fails its liveness probe: Kubernetes never "
        "restarts the prescaler and the floors freeze",
    ),
    (
        "loop5-inflight-reads-never-cleared",
        P + "loop.py",
        "        self._inflight = {k: g for k, g in self._inflight.items() if not g.task.done()}",
        "        self._inflight = {k: g for k, g in self._inflight.items()}",
        "finished forecast reads are kept as 'still running': from the second tick on every policy acts on the "
        "answer of the first tick, never on a new forecast",
    ),
    (
        "forecasts5-credentials-by-url-prefix",
        P + "forecasts.py",
        '    if url.rstrip("/") == settings.url.rstrip("/"):',
        '    if url.startswith(settings.url.rstrip("/")):',
        "a policy naming another Prometheus whose URL starts like the configured one (http://prom:9090/tenant-b, "
        "http://prom:90901) silently reads the configured server instead of the one it names",
    ),
    (
        "forecasts5-template-group-ignores-url",
        P + "forecasts.py",
        '            return ("template", template, policy.forecast.prometheus_url, window)',
        '            return ("template", template, window)',
        "members of one template whose policies name different Prometheus servers share one read: every member "
        "gets the series of the first policy's server",
    ),
    (
        "forecasts5-member-recommendation-by-member-name",
        P + "forecasts.py",
        "            cfg = self.targets.config_for(self._member_of(policy) or target)",
        "            cfg = self.targets.config_for(target)",
        "a template member's tuning recommendation is looked up as a ForecastTarget of the member's name, which "
        "does not exist: tuning never applies to template members",
    ),
    (
        "kube5-merge-patch-sent-as-json",
        P + "kube.py",
        '            headers["Content-Type"] = content_type or "application/json"',
        '            headers["Content-Type"] = "application/json"',
        "merge patches are sent as application/json, which the API server refuses for PATCH (415): no floor, "
        "status or finalizer is ever written",
    ),
    (
        "kube5-401-not-a-permission-error",
        P + "kube.py",
        "    if status in (401, 403):",
        "    if status == 403:",
        "an expired or revoked ServiceAccount token (401) is reported as a generic error without the hint to "
        "fix credentials and counted as another kind of error",
    ),
    (
        "kube5-backoff-always-first",
        P + "kube.py",
        "                delay = schedule[attempt]",
        "                delay = schedule[0]",
        "every retry waits the shortest backoff: an overloaded API server is retried at full speed instead of "
        "with growing pauses",
    ),
    (
        "calendars5-outage-forgets-expected",
        P + "calendars.py",
        "        expected = expected_events(last.calendar, now=now, horizon=horizon) if last is not None else ()",
        "        expected = ()",
        "once the last good calendar is older than maxAge, an announced match in the last copy no longer holds "
        "capacity: a calendar outage before the match lowers the floor",
    ),
    (
        "calendars5-recent-entries-not-rejudged",
        P + "calendars.py",
        "    if not any(-RECENT_S <= (e.start - at).total_seconds() <= USE_BEFORE_S for e in calendar.events):",
        "    if not any(0 <= (e.start - at).total_seconds() <= USE_BEFORE_S for e in calendar.events):",
        "an entry whose announced start has just passed is no longer judged every minute: a late stream's rise "
        "or a cancellation is seen only at the model's next origin, minutes later",
    ),
    (
        "batched5-anchor-first-lookback-step",
        P + "batched.py",
        "    last = past[:, :, -1:, 0]  # [M, N, 1]",
        "    last = past[:, :, :1, 0]  # [M, N, 1]",
        "the batched forecast anchors on the oldest point of the lookback instead of the newest: template "
        "members forecast from where the load was hours ago",
    ),
    (
        "batched5-quantiles-not-cumulative",
        P + "batched.py",
        "    return torch.cat([base, base + torch.cumsum(steps_q, dim=-1)], dim=-1)  # [M, N, H, Q]",
        "    return torch.cat([base, base + steps_q], dim=-1)  # [M, N, H, Q]",
        "batched quantiles are each one step above the lowest instead of stacked: p90 can fall below p75 and "
        "the planned quantile of template members is too low",
    ),
    (
        "actuators5-keda-implicit-min-one",
        P + "actuators.py",
        "    implicit_min = 0\n",
        "    implicit_min = 1\n",
        "a ScaledObject without minReplicaCount (KEDA's default 0) is read as 1: its floor is never lowered to "
        "zero, and a scale-to-zero workload keeps a pod while the policy exists",
    ),
    (
        "actuators5-owned-listed-cluster-wide",
        P + "actuators.py",
        "            objs = self.ctx.require_kube().list(self.resource, namespace=policy.namespace)",
        "            objs = self.ctx.require_kube().list(self.resource, namespace=None)",
        "deleting a policy lists HPAs / ScaledObjects cluster-wide, which the namespaced RBAC forbids: the "
        "finalizer cannot restore the floor and the deletion hangs",
    ),
    (  # replaces loop5-finalizer-without-finalizer-support, found equivalent before any catch counted
        "status5-restart-forgets-last-scale-down",
        P + "status.py",
        "            last_scale_down_at=utc_naive(down) if down else None,",
        "            last_scale_down_at=None,",
        "after a restart or a failover the scale-down rate limit starts afresh: a policy limited to one step "
        "per period steps down again at once, draining capacity faster than configured",
    ),
    # -- the API (forecaster/api) ----------------------------------------------------------------------------
    (
        "api5-etag-weak-never-matches",
        A + "routes/targets.py",
        '    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))',
        '    return any(tag.strip() == bare for tag in header.split(","))',
        "a client sending back the weak ETag it received never gets a 304 from the route: every poll downloads "
        "the whole forecast again",
    ),
    (
        "api5-selector-empty-label-value",
        A + "selectors.py",
        "            checks.append(lambda labels, k=term: k in labels)",
        "            checks.append(lambda labels, k=term: bool(labels.get(k)))",
        "labelSelector=team (has the label) leaves out targets whose label value is empty: a dashboard listing "
        "by label misses them",
    ),
    (
        "api5-fast-path-forgets-refresh-delay",
        A + "cache.py",
        "        wait_ns = (bucket + 1) * state.step_ns + delay_ns - now_ns",
        "        wait_ns = (bucket + 1) * state.step_ns - now_ns",
        "the fast path's Cache-Control max-age ends before the next refresh can have happened: clients poll "
        "again too early and get the same forecast (and it differs from the route's header)",
    ),
    (
        "api5-degraded-makes-unready",
        A + "cache.py",
        "        return not reasons, reasons, degraded",
        "        return not (reasons or degraded), reasons, degraded",
        "a stale target (a Prometheus hiccup) makes every replica unready: the Service drops all endpoints and "
        "the cached forecasts of every other target stop being served",
    ),
    (
        "api5-fast-path-skips-history-limit",
        A + "fastpath.py",
        "        if history > settings.max_history_td:\n            return None\n",
        "",
        "a request for more history than max_history is answered by the fast path (200, with whatever history "
        "is cached) instead of the documented 422 naming the limit",
    ),
    (
        "api5-default-history-equal-to-max-refused",
        A + "settings.py",
        "    if s.default_history_td > s.max_history_td:",
        "    if s.default_history_td >= s.max_history_td:",
        "a serve config whose default_history equals max_history (serve the whole window by default) is "
        "refused at start-up",
    ),
    (
        "api5-latency-label-raw-path",
        A + "handlers.py",
        '                "/static" if scope["path"].startswith("/static/") else "unmatched"',
        '                "/static" if scope["path"].startswith("/static/") else scope["path"]',
        "requests to unknown paths are labelled by their raw path in the latency histogram: any client sending "
        "random URLs grows the service's memory and Prometheus' series without bound",
    ),
    (
        "api5-model-kind-ignores-fallback",
        A + "cache.py",
        '    kind = model.kind if ran in (None, model.name) else "baseline"',
        "    kind = model.kind",
        "when the trained model fell back to a baseline (history too short), the API still says kind 'model': "
        "clients trust a baseline forecast as the model's",
    ),
    (
        "api5-store-outage-is-500",
        A + "handlers.py",
        "        elif isinstance(exc, ModelStoreError):\n            code = status.HTTP_503_SERVICE_UNAVAILABLE",
        "        elif isinstance(exc, ModelStoreError):\n            code = status.HTTP_500_INTERNAL_SERVER_ERROR",
        "a model store that cannot be read answers 500 (a server bug, not retried) instead of 503 (retry "
        "later): clients give up on a passing outage",
    ),
    (  # replaces api5-store-outage-is-500, found equivalent before any catch counted
        "api5-empty-config-refused",
        A + "settings.py",
        "            data = yaml.safe_load(p.read_text()) or {}",
        "            data = yaml.safe_load(p.read_text())",
        "an empty serve config file (every setting left at its default, or all of them commented out) stops "
        "the service at start-up with 'expected a mapping at the top level'",
    ),
    # -- the model (calibration, combine, events, event profile) ---------------------------------------------
    (
        "calibration5-band-not-carried-to-point",
        "forecaster/calibration.py",
        "    return np.where(relative[..., None], rel * np.abs(point)[..., None], dist)",
        "    return np.where(relative[..., None], rel * np.abs(p50)[..., None], dist)",
        "the network's band keeps the network's level instead of following the combined forecast: when the "
        "combination forecasts higher than the network, the band is too narrow for its level",
    ),
    (
        "calibration5-too-few-scores-threshold",
        "forecaster/calibration.py",
        "    k = np.where(total[..., 0] * (1 - at) < 1.0 - _COUNT_TOLERANCE, -np.inf, k)",
        "    k = np.where(total[..., 0] * at < 1.0 - _COUNT_TOLERANCE, -np.inf, k)",
        "with a history that scores only 2 to 9 past origins (a new target, after a gap), the band scale is "
        "read from that handful plus the conformal +infinity and jumps to MAX_SCALE: the p90 band is 100x wide "
        "and a floor planned on it asks for max_replicas (checked: 3 scores give 100, not the validation scale)",
    ),
    (
        "combine5-nan-actual-kills-weighting",
        "forecaster/combine.py",
        "    ok &= np.isfinite(y)\n    wts = np.where(ok, decay[None, None, :], 0.0)",
        "    wts = np.where(ok, decay[None, None, :], 0.0)",
        "training on a series with a long gap (left NaN): every origin whose recent window holds a gap scores "
        "every component NaN, so the skill weighting is chosen as if nothing could be judged there and the "
        "model ships a weighting picked on the wrong evidence (the service fills gaps before combining)",
    ),
    (
        "combine5-anchor-always-network",
        "forecaster/combine.py",
        '    anchor = "blend" if "blend" in forecasts else "lstm"',
        '    anchor = "lstm"',
        "the prior weight goes to the raw network even when the model has a validated blend: where recent "
        "errors cannot tell (a new model, after a gap) the forecast falls back to the network, not the blend",
    ),
    (
        "calibration5-relative-threshold-unscaled",
        "forecaster/calibration.py",
        "    return np.abs(p50) > 10 * floor",
        "    return np.abs(p50) > 10",
        "the band is carried relative to the level only above 10 units: for a series of small values (CPU "
        "cores, 0.5 to 3) the band never follows the forecast's level and is too narrow at its peaks",
    ),
    (
        "events5-blank-line-refused",
        "forecaster/events.py",
        "        if not any(c.strip() for c in cells):\n            continue\n",
        "",
        "a calendar CSV with a blank line (an empty last line, a separator) is refused: 'start is missing', "
        "and the whole calendar is unavailable",
    ),
    (
        "events5-yml-read-as-csv",
        "forecaster/events.py",
        '    if p.suffix.lower() in (".yaml", ".yml"):',
        '    if p.suffix.lower() == ".yaml":',
        "a calendar named calendar.yml is parsed as CSV and refused: the documented .yml extension does not work",
    ),
    (
        "events5-header-case-sensitive",
        "forecaster/events.py",
        "    header = [h.strip().lower() for h in header]",
        "    header = [h.strip() for h in header]",
        "a calendar CSV with a header 'Start,Kind' (as spreadsheets write it) is refused as having no 'start' "
        "column",
    ),
    (
        "event-profile5-start-step-no-uplift",
        "forecaster/event_profile.py",
        "            ok = (lag >= 0) & (lag <= knots[-1])",
        "            ok = (lag > 0) & (lag <= knots[-1])",
        "the step at an event's start gets no uplift: the forecast misses the first minutes of every match, "
        "exactly when the load jumps",
    ),
    (
        "event-profile5-cancelled-holds-last-share",
        "forecaster/event_profile.py",
        "        share = float(min(still_comes[minute], 1.0)) if minute < len(still_comes) else 0.0",
        "        share = float(min(still_comes[minute], 1.0)) if minute < len(still_comes) else still_comes[-1]",
        "an entry whose stream never comes is never dropped after the learnt table's end: capacity for a "
        "cancelled match is held at the last share until the entry leaves the window",
    ),
    (  # replaces event-profile5-cancelled-holds-last-share, found equivalent before any catch counted
        "event-profile5-level-mean",
        "forecaster/event_profile.py",
        "            level = float(np.nanmedian(y / shape_past)) if len(y) else 1.0",
        "            level = float(np.nanmean(y / shape_past)) if len(y) else 1.0",
        "the base level of an event forecast is the mean of the last two hours instead of their median: a match "
        "that just ran lifts the level, and the next match's uplift is added on top of it (over-provisioned)",
    ),
    (
        "event-profile5-revision-needs-every-entry",
        "forecaster/event_profile.py",
        "    used = ((lag >= -USE_BEFORE_S) & (lag < USE_AFTER_S)).any(axis=1)",
        "    used = ((lag >= -USE_BEFORE_S) & (lag < USE_AFTER_S)).all(axis=1)",
        "with more than one entry in the calendar no step is revised by the minute: a cancelled or late match "
        "is seen only at the next origin",
    ),
    # -- templates and fleet training (templates.py, fleet.py) -----------------------------------------------
    (
        "templates5-by-case-sensitive",
        "forecaster/templates.py",
        '_BY_RE = re.compile(r"\\bby\\s*\\(([^)]*)\\)", re.IGNORECASE)',
        '_BY_RE = re.compile(r"\\bby\\s*\\(([^)]*)\\)")',
        "a template query written 'sum BY (service)' (PromQL keywords are case-insensitive) is refused as not "
        "aggregating by its splitBy label",
    ),
    (
        "templates5-labels-not-stripped",
        "forecaster/templates.py",
        '    return {label.strip() for group in _BY_RE.findall(query) for label in group.split(",") if label.strip()}',
        '    return {label for group in _BY_RE.findall(query) for label in group.split(",") if label.strip()}',
        "a template splitting by two labels written 'sum by (service, zone)' is refused: ' zone' with its space "
        "is not 'zone'",
    ),
    (
        "fleet5-declared-only-own-shard",
        "forecaster/fleet.py",
        "    declared = {e.name for e in entries}",
        "    declared = {e.name for e in mine}",
        "a template member whose name is also declared on its own in another shard is trained twice, by two "
        "shards: they race to write the same target's versions and status",
    ),
    (
        "fleet5-worker-lost-not-flagged",
        "forecaster/fleet.py",
        "            self.summary.worker_lost = True\n",
        "",
        "a training worker killed (OOM) is reported as an ordinary failure (exit 3): the Indexed Job fails the "
        "index for good instead of retrying it (exit 4)",
    ),
    (
        "fleet5-member-refetches-history",
        "forecaster/fleet.py",
        "        result = train_one(cfg) if series is None else train_one(cfg, series)",
        "        result = train_one(cfg)",
        "every template member fetches its own history again instead of using the template's one fetch: a "
        "template of 1,000 members sends 1,000 queries to Prometheus",
    ),
)

EQUIVALENT_5: dict[str, str] = {
    "loop5-finalizer-without-finalizer-support": "the only policy source without finalizers "
    "(FilePolicySource, uses_finalizers False) has a set_finalizers that does nothing and its policies never "
    "hold the finalizer, so calling it every reconcile changes nothing; found by reading the code while the "
    "first run was under way, replaced by status5-restart-forgets-last-scale-down",
    "event-profile5-cancelled-holds-last-share": "still_comes is learnt only with fit_event_profile("
    "hold_share=True), which only bench/events.py passes: training.py never sets it, so no model trained by "
    "the product has the table and judge_start never reaches that line; found while the first run was under "
    "way, replaced by event-profile5-level-mean",
    "scaling5-nan-observed-load-crashes": "decide's one caller that passes observed_load (the reconcile "
    "loop, prescaler/loop.py _observed_load) passes the last non-NaN point of the history or None, and the "
    "Prometheus source refuses infinite values, so a non-finite observed load never reaches decide; found "
    "while the first run was under way, replaced by scaling5-stores-unstabilised",
    "api5-store-outage-is-500": "no route lets a ModelStoreError reach the handler today: the model loader "
    "(api/app.py _load_model) and the refresher (ForecastService.refresh) catch every ForecasterError and "
    "serve the baseline, and the routes only read the cache or predict with an already loaded model; found "
    "while the first run was under way, replaced by api5-empty-config-refused",
}
"""Bugs found, after the run, to change nothing a user can see on today's code (each with its reason)."""

TESTS_5: dict[str, tuple[str, ...]] = dict(TESTS_4)
"""Campaign 4's test groups; files it does not name fall back to planted_bugs.TESTS and the subsystem groups.
planted_bugs.tests_for adds every tests/test_behaviour_<group>*.py of the planted file's group."""

MODULES_5: dict[str, str] = dict(MODULES_4)
"""Modules of the files campaign 1 has no name for (the report's rows)."""
