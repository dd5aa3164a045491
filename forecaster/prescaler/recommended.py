"""``spec.tuning``: which settings a policy decides with, given the recommendation stored with its model version
(pure: no cluster, no store, no clock).

:func:`use_recommendation` takes the policy object, the parsed :class:`~forecaster.prescaler.policy.PrescalePolicy`,
the :class:`~forecaster.recommendation.Recommendation` read for the model version in use (or why there is
none) and ``now``, and returns a :class:`TuningUse`:

- ``Recommend`` mode: the spec's own settings, always; the status shows the recommendation.
- ``Apply`` mode: the recommended plan, quantile, headroom, cap over the median, lead time and scale-down
  stabilisation replace the spec's, each clamped to ``spec.tuning.bounds`` (the status lists what was
  clamped). ``capacityPerReplica``, the replica bounds and the interval stay the spec's.
- A recommendation that cannot be used (missing, unreadable, tuned for another SLO or capacity, stale, out of
  bounds, nothing meets the SLO, or settings this actuator cannot take) leaves the spec's settings in place,
  with the ``TuningApplied`` condition saying why. If one was applied before, its settings stay a candidate
  (``fallback``): the controller decides with both and keeps the higher, so losing a recommendation never
  scales down by itself.

This module must not talk to anything; the controller (:mod:`forecaster.prescaler.loop`) reads and writes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pandas as pd

from forecaster.errors import ConfigError
from forecaster.prescaler.kube import rfc3339
from forecaster.prescaler.policy import PrescalePolicy, parse_policy
from forecaster.prescaler.status import condition
from forecaster.recommendation import Recommendation
from forecaster.series import format_duration, parse_duration

__all__ = ["CONDITION", "TuningUse", "use_recommendation", "STALE_AFTER_PERIODS"]

CONDITION = "TuningApplied"
STALE_AFTER_PERIODS = 2
"""A recommendation older than this many ``spec.tuning.every`` periods is stale: one missed re-tuning (a
failed nightly run) is tolerated, a training job that stopped tuning is not."""

_APPLIED_KEYS = ("plan", "quantile", "headroomPercent", "maxOverMedian", "leadTime", "stabilizationWindow")


@dataclass(frozen=True)
class TuningUse:
    policy: PrescalePolicy
    """The policy to decide with: the spec's, or the spec's with the recommended settings in Apply mode."""
    fallback: PrescalePolicy | None
    """Apply mode, recommendation unusable: the last applied settings, a second candidate (take the higher)."""
    status: dict[str, Any]
    """``status.tuning``."""
    condition: dict[str, str]


def use_recommendation(
    obj: dict[str, Any],
    policy: PrescalePolicy,
    *,
    recommendation: Recommendation | None,
    problem: str | None,
    model_version: str | None,
    now: pd.Timestamp,
    old_status: dict[str, Any] | None,
    columns: tuple[str, ...] | None = None,
    actuator: str | None = None,
) -> TuningUse | None:
    """What ``policy`` decides with this tick (see the module docstring); None when it has no ``spec.tuning``.

    ``problem``: why no recommendation could be read (None: ``recommendation`` is what the store holds for
    ``model_version``, possibly None for none). ``columns``: the forecast's quantiles, when there is one (a
    quantile the model does not predict is not applied). ``actuator``: the one ``spec.actuator: Auto``
    resolved to this tick (a ``shift`` plan needs a floor under an autoscaler, which Auto alone does not say).
    """
    spec = policy.tuning
    if spec is None:
        return None
    status: dict[str, Any] = {"mode": spec.mode, "slo": spec.slo}
    if model_version:
        status["modelVersion"] = model_version
    if recommendation is not None:
        status.update(_shown(recommendation, model_version))
    reason, why = _unusable(policy, recommendation, problem=problem, model_version=model_version, now=now)
    fields: dict[str, Any] | None = None
    clamped: list[str] = []
    if reason is None:
        assert recommendation is not None and recommendation.policy is not None
        fields, clamped = _clamped(recommendation.policy, policy)
        if clamped:
            status["clamped"] = clamped
    if spec.mode == "Recommend":
        if reason is None:
            assert recommendation is not None
            reason, why = (
                "ModeRecommend",
                f"recommended {recommendation.label}; spec.tuning.mode Apply uses it",
            )
        status["message"] = why
        return TuningUse(policy, None, status, condition(CONDITION, False, reason, why))
    before = (old_status or {}).get("tuning")
    last = (before.get("applied") or before.get("lastApplied")) if isinstance(before, dict) else None
    if reason is None:
        assert fields is not None
        try:
            tuned = _with_fields(obj, fields, actuator=actuator)
        except ConfigError as exc:
            reason, why = "NotApplicable", f"the recommended settings do not fit this policy: {exc.problem}"
        else:
            if columns is not None and tuned.scaling.column not in columns:
                reason = "NotApplicable"
                why = (
                    f"the model predicts {', '.join(columns)}, not the {tuned.scaling.column} to apply: "
                    "set spec.tuning.bounds to quantiles the target's model predicts"
                )
        if reason is None:
            status["applied"] = fields
            assert recommendation is not None
            text = f"applying {recommendation.label}"
            if clamped:
                text += f", clamped to spec.tuning.bounds: {'; '.join(clamped)}"
            status["message"] = text
            return TuningUse(tuned, None, status, condition(CONDITION, True, "Applied", text))
    fallback = None
    if isinstance(last, dict):
        try:
            fallback = _with_fields(obj, {k: last[k] for k in _APPLIED_KEYS if k in last}, actuator=actuator)
        except ConfigError:
            fallback = None
        if fallback is not None and columns is not None and fallback.scaling.column not in columns:
            fallback = None  # the model changed its quantiles: that plan cannot be made any more
        if fallback is not None:
            status["lastApplied"] = {k: last[k] for k in _APPLIED_KEYS if k in last}
            why += "; the spec's own settings are used, never planning below the last applied recommendation"
    if fallback is None:
        why += "; the spec's own settings are used"
    status["message"] = why
    return TuningUse(policy, fallback, status, condition(CONDITION, False, reason, why))


def _unusable(
    policy: PrescalePolicy,
    rec: Recommendation | None,
    *,
    problem: str | None,
    model_version: str | None,
    now: pd.Timestamp,
) -> tuple[str | None, str]:
    """(reason, message) when the recommendation cannot be used; (None, "") when it can."""
    spec = policy.tuning
    assert spec is not None
    target = policy.forecast.target
    if problem is not None:
        return "RecommendationUnreadable", problem
    if model_version is None:
        return "NoModelVersion", "no forecast yet, so no model version to read the recommendation of"
    if rec is None:
        return "NoRecommendation", (
            f"model version {model_version} has no tuning recommendation: set tuning.slo and "
            f"tuning.capacityPerReplica in target {target}'s config (training/{target}.yaml or its "
            "ForecastTarget); the training job tunes after its next run"
        )
    if rec.slo != spec.slo:
        return "SLOMismatch", (
            f"the recommendation of {model_version} is tuned for {rec.slo}, spec.tuning.slo is {spec.slo}: "
            f"set tuning.slo: {spec.slo} in target {target}'s config"
        )
    if abs(rec.capacity_per_replica - policy.scaling.capacity_per_replica) > 1e-9 * max(
        1.0, policy.scaling.capacity_per_replica
    ):
        return "CapacityMismatch", (
            f"the recommendation of {model_version} is tuned for capacityPerReplica "
            f"{rec.capacity_per_replica:g}, the policy's is {policy.scaling.capacity_per_replica:g}: "
            f"make target {target}'s tuning.capacityPerReplica the same"
        )
    if spec.every_s is not None:
        age = pd.Timestamp(now) - rec.tuned_at
        if age > pd.Timedelta(seconds=STALE_AFTER_PERIODS * spec.every_s):
            return "RecommendationStale", (
                f"tuned at {rfc3339(rec.tuned_at)}, more than {STALE_AFTER_PERIODS} x spec.tuning.every "
                f"({format_duration(pd.Timedelta(seconds=spec.every_s))}) ago: is the training job tuning "
                f"(target {target}'s tuning.every)?"
            )
    if rec.label is None:
        return "NoSettingMeetsSLO", f"no setting of the tuning grid met {rec.slo} on the replayed history"
    if rec.policy is None:
        return "HPAAloneCheapest", (
            f"the cheapest setting meeting {rec.slo} is the HPA alone ({rec.label}): set the HPA's target "
            f"utilisation to {rec.hpa_target_utilisation:g}; the prescaler keeps the spec's settings"
        )
    bound = spec.bounds.min_hpa_target_utilization
    if bound is not None and rec.hpa_target_utilisation is not None and rec.hpa_target_utilisation < bound:
        return "OutOfBounds", (
            f"{rec.label} was tuned with the HPA at target utilisation {rec.hpa_target_utilisation:g}, below "
            f"spec.tuning.bounds.minHPATargetUtilization {bound:g}"
        )
    return None, ""


def _shown(rec: Recommendation, model_version: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tunedAt": rfc3339(rec.tuned_at),
        "tunedWith": rec.carried_from or model_version or "",
    }
    if rec.tuned_on:
        out["tunedOn"] = (
            f"{rec.tuned_on.get('start')} .. {rec.tuned_on.get('end')} ({rec.tuned_on.get('minutes')} minutes)"
        )
    if rec.label is not None:
        shown: dict[str, Any] = {"setting": rec.label}
        if rec.policy is not None:
            shown.update(_fields(rec.policy))
        if rec.hpa_target_utilisation is not None:
            shown["hpaTargetUtilization"] = rec.hpa_target_utilisation
        out["recommended"] = shown
        out["expected"] = _expected(rec.expected)
    if rec.hpa_alone is not None:
        out["hpaAlone"] = {
            "setting": rec.hpa_alone["label"],
            "targetUtilization": rec.hpa_alone["targetUtilisation"],
            "shortMinuteRate": _round(rec.hpa_alone["short_minute_rate"]),
            "replicaMinutes": _round(rec.hpa_alone["replica_minutes"]),
        }
    return out


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def _expected(e: dict[str, Any]) -> dict[str, Any]:
    out = {
        "sloRate": _round(e["slo_rate"]),
        "sloRateUpper": _round(e["slo_rate_upper"]),
        "shortMinuteRate": _round(e["short_minute_rate"]),
        "unservedFraction": _round(e["unserved_fraction"]),
        "replicaMinutes": _round(e["replica_minutes"]),
    }
    if e.get("cost_vs_hpa_alone") is not None:
        out["costVsHPAAlone"] = _round(e["cost_vs_hpa_alone"])
    return out


def _fields(policy_spec: dict[str, Any]) -> dict[str, Any]:
    """The recommended PrescalePolicy spec fields, flat (``scaleDown.stabilizationWindow`` as
    ``stabilizationWindow``), only those Apply may set."""
    out: dict[str, Any] = {}
    for key in ("plan", "quantile", "headroomPercent", "maxOverMedian", "leadTime"):
        if key in policy_spec:
            out[key] = policy_spec[key]
    window = (policy_spec.get("scaleDown") or {}).get("stabilizationWindow")
    if window is not None:
        out["stabilizationWindow"] = window
    return out


def _seconds(text: Any) -> float:
    return 0.0 if str(text) in ("0", "0s") else parse_duration(str(text)).total_seconds()


def _clamped(policy_spec: dict[str, Any], policy: PrescalePolicy) -> tuple[dict[str, Any], list[str]]:
    """The recommended fields within ``spec.tuning.bounds``, and a line per clamped value."""
    assert policy.tuning is not None
    b = policy.tuning.bounds
    fields = _fields(policy_spec)
    notes: list[str] = []

    def clamp(key: str, value: Any, shown: str, bound_name: str) -> None:
        notes.append(f"{key} {fields[key]} -> {shown} (bounds.{bound_name})")
        fields[key] = value

    q = fields.get("quantile")
    if isinstance(q, int | float):
        if b.min_quantile is not None and q < b.min_quantile:
            clamp("quantile", b.min_quantile, f"{b.min_quantile:g}", "minQuantile")
        elif b.max_quantile is not None and q > b.max_quantile:
            clamp("quantile", b.max_quantile, f"{b.max_quantile:g}", "maxQuantile")
    h = fields.get("headroomPercent")
    if isinstance(h, int | float) and b.max_headroom_percent is not None and h > b.max_headroom_percent:
        clamp("headroomPercent", b.max_headroom_percent, f"{b.max_headroom_percent:g}", "maxHeadroomPercent")
    for key, limit, name in (
        ("leadTime", b.max_lead_time_s, "maxLeadTime"),
        ("stabilizationWindow", b.max_stabilization_s, "maxStabilizationWindow"),
    ):
        if key in fields and limit is not None and _seconds(fields[key]) > limit:
            text = format_duration(pd.Timedelta(seconds=limit)) if limit else "0"
            clamp(key, text, text, name)
    return fields, notes


def _with_fields(obj: dict[str, Any], fields: dict[str, Any], *, actuator: str | None) -> PrescalePolicy:
    """The policy ``obj`` with ``fields`` replacing its spec's, validated like any policy (a plan this
    actuator cannot take is a :class:`ConfigError`); ``Auto`` becomes the actuator it resolved to."""
    tuned = copy.deepcopy(obj)
    spec = tuned.setdefault("spec", {})
    if actuator and spec.get("actuator", "Auto") == "Auto":
        spec["actuator"] = actuator
    for key, value in fields.items():
        if key == "stabilizationWindow":
            spec.setdefault("scaleDown", {})["stabilizationWindow"] = value
        else:
            spec[key] = value
    return parse_policy(tuned)
