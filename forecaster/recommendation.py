"""The prescaler tuning stored with a model version: ``tuning.json``, written by the training job, read by the
controller.

The training job (:func:`forecaster.promotion.train_target`) tunes a target whose config has a ``tuning``
section (:class:`~forecaster.settings.TuningSettings`): it replays the held-out backtest range, which the new
model did not see, with that model over the tuning grid (:func:`forecaster.tuning.recommend_for_model`) and
writes the answer into the new version, together with its weights (all or nothing, like the rest of the
store; JSON only, never pickled). It re-tunes at most every ``tuning.every``: in between (and when tuning
fails) the new version carries the last recommendation forward, marked ``carriedFrom``, so the controller
finds one for whichever version is promoted. A change of the tuning inputs (SLO, capacity, pod start-up,
replica bounds) re-tunes at once.

:func:`parse` turns the stored document into a :class:`Recommendation` or raises
:class:`RecommendationError` naming what is wrong (the controller then keeps the spec's settings).

I/O: only the :class:`~forecaster.store.ModelStore` passed in; no clock (``now`` is passed in).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from forecaster.errors import ForecasterError
from forecaster.series import parse_duration
from forecaster.settings import TuningSettings

__all__ = [
    "TUNING_FILE",
    "FORMAT",
    "RecommendationError",
    "Recommendation",
    "inputs_of",
    "latest",
    "due",
    "tune_document",
    "carried_document",
    "encode",
    "parse",
    "read",
]

log = logging.getLogger(__name__)

TUNING_FILE = "tuning.json"
FORMAT = 1
LOOK_BACK_VERSIONS = 10
"""How many of the newest versions :func:`latest` reads for the last recommendation (each version carries
the last one forward, so the newest with a file has it; older ones only matter after failed saves)."""


class RecommendationError(ForecasterError):
    """A stored recommendation that cannot be used (unreadable, another format, a field missing)."""


def inputs_of(settings: TuningSettings) -> dict[str, Any]:
    """What a recommendation depends on besides the data: a change of any of these re-tunes at once."""
    from forecaster.tuning import SLO

    return {
        "slo": str(SLO.parse(str(settings.slo))),
        "capacityPerReplica": float(settings.capacity_per_replica or 0.0),
        "podStartup": settings.pod_startup,
        "minReplicas": settings.min_replicas,
        "maxReplicas": settings.max_replicas,
    }


def _naive(ts: Any) -> pd.Timestamp:
    """UTC without a zone (the store's and the controller's convention)."""
    t = pd.Timestamp(ts)
    return t.tz_convert("UTC").tz_localize(None) if t.tzinfo is not None else t


def _stamp(ts: Any) -> str:
    return _naive(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def latest(store: Any, target: str) -> tuple[str, dict[str, Any]] | None:
    """(version, document) of the newest version holding a readable recommendation, or None."""
    for version in reversed(store.versions(target)[-LOOK_BACK_VERSIONS:]):
        raw = store.read_file(target, version, TUNING_FILE)
        if raw is None:
            continue
        try:
            doc = json.loads(raw)
            parse(doc)
        except (ValueError, RecommendationError) as exc:
            log.warning(
                "target %s: %s/%s is unusable (%s); looking further back", target, version, TUNING_FILE, exc
            )
            continue
        return version, doc
    return None


def due(
    previous: Mapping[str, Any] | None, settings: TuningSettings, *, now: pd.Timestamp
) -> tuple[bool, str]:
    """Whether to tune now, and why (or why not)."""
    if previous is None:
        return True, "no earlier recommendation"
    if previous.get("inputs") != inputs_of(settings):
        return True, "the tuning inputs changed"
    age = _naive(now) - _naive(previous["tunedAt"])
    every = parse_duration(settings.every)
    if age >= every:
        return True, f"the last tuning ({previous['tunedAt']}) is {_age(age)} old, every is {settings.every}"
    return False, f"tuned {_age(age)} ago ({previous['tunedAt']}), every is {settings.every}"


def _age(age: pd.Timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours:.1f}h" if hours < 48 else f"{hours / 24:.1f}d"


def tune_document(
    model: Any,
    series: pd.Series,
    *,
    settings: TuningSettings,
    tune_start: pd.Timestamp,
    now: pd.Timestamp,
) -> dict[str, Any]:
    """Tune on ``series`` from ``tune_start`` with ``model`` (a Predictor) and wrap the answer for the store."""
    from forecaster.tuning import recommend_for_model

    inputs = inputs_of(settings)
    if series.isna().any():
        # A gap weeks before the held-out range (a Prometheus outage) must not stop the tuning: keep only what
        # the replay reads, the range and the model's lookback before it (a gap there is still refused).
        step = pd.Timedelta(model.step)
        lookback = step * int(getattr(model, "lookback_steps", 1))
        series = series.loc[pd.Timestamp(tune_start) - lookback - step :]
    result = recommend_for_model(
        model,
        series,
        tune_start=tune_start,
        capacity_per_replica=inputs["capacityPerReplica"],
        pod_startup_s=parse_duration(settings.pod_startup).total_seconds(),
        slo=inputs["slo"],
        min_replicas=settings.min_replicas,
        max_replicas=settings.max_replicas,
    )
    return {"format": FORMAT, "tunedAt": _stamp(now), "carriedFrom": None, "inputs": inputs, "result": result}


def carried_document(previous: Mapping[str, Any], *, version: str) -> dict[str, Any]:
    """``previous`` (found in ``version``) for a new version: the same recommendation, saying where it was made."""
    return {**previous, "carriedFrom": previous.get("carriedFrom") or version}


def encode(doc: Mapping[str, Any]) -> bytes:
    """Strict JSON (no NaN: a recommendation that cannot be written as JSON is a bug, not a file)."""
    return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False).encode()


@dataclass(frozen=True)
class Recommendation:
    """A stored recommendation, checked: what the controller shows and (in Apply mode) uses."""

    slo: str
    capacity_per_replica: float
    tuned_at: pd.Timestamp
    carried_from: str | None
    tuned_on: dict[str, Any]
    label: str | None
    """The recommended setting's label; None when no setting of the grid met the SLO."""
    policy: dict[str, Any] | None
    """PrescalePolicy spec fields (plan, quantile, headroomPercent, maxOverMedian, leadTime, scaleDown);
    None when the cheapest setting meeting the SLO is the HPA alone (or none meets it)."""
    hpa_target_utilisation: float | None
    expected: dict[str, Any] = field(default_factory=dict)
    hpa_alone: dict[str, Any] | None = None
    """The cheapest HPA-alone setting meeting the SLO: label, targetUtilisation, its expected numbers."""


def _need(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise RecommendationError(f"{TUNING_FILE}: {where}{key} is missing or not a {_names(kind)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise RecommendationError(f"{TUNING_FILE}: {where}{key} is not finite")
    return value


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


_NUMBER = (int, float)


def _choice(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise RecommendationError(f"{TUNING_FILE}: {where} is not a mapping")
    expected = _need(data, "expected", Mapping, f"{where}.")
    out = {
        key: float(_need(expected, key, _NUMBER, f"{where}.expected."))
        for key in ("slo_rate", "slo_rate_upper", "short_minute_rate", "unserved_fraction", "replica_minutes")
    }
    vs = expected.get("cost_vs_hpa_alone")
    out["cost_vs_hpa_alone"] = float(vs) if isinstance(vs, _NUMBER) and not isinstance(vs, bool) else None
    return out


def parse(doc: Any) -> Recommendation:
    """Check a stored document; :class:`RecommendationError` names the first problem."""
    if not isinstance(doc, Mapping):
        raise RecommendationError(f"{TUNING_FILE} is not a JSON object")
    if doc.get("format") != FORMAT:
        raise RecommendationError(
            f"{TUNING_FILE} has format {doc.get('format')!r}, this version reads {FORMAT}",
            hint="the next tuning by the training job writes the current format",
        )
    inputs = _need(doc, "inputs", Mapping, "")
    result = _need(doc, "result", Mapping, "")
    try:
        tuned_at = _naive(_need(doc, "tunedAt", str, ""))
    except ValueError as exc:
        raise RecommendationError(f"{TUNING_FILE}: tunedAt {doc.get('tunedAt')!r} is not a time") from exc
    carried = doc.get("carriedFrom")
    rec = result.get("recommended")
    label = policy = hpa_target = None
    expected: dict[str, Any] = {}
    if rec is not None:
        expected = _choice(rec, "recommended")
        label = str(_need(rec, "label", str, "recommended."))
        policy = rec.get("policy")
        if policy is not None and not isinstance(policy, Mapping):
            raise RecommendationError(f"{TUNING_FILE}: recommended.policy is not a mapping")
        hpa = _need(rec, "hpa", Mapping, "recommended.")
        hpa_target = float(_need(hpa, "targetUtilisation", _NUMBER, "recommended.hpa."))
    alone = result.get("hpa_alone")
    hpa_alone = None
    if alone is not None:
        hpa_alone = {
            "label": str(_need(alone, "label", str, "hpa_alone.")),
            "targetUtilisation": float(
                _need(
                    _need(alone, "hpa", Mapping, "hpa_alone."), "targetUtilisation", _NUMBER, "hpa_alone.hpa."
                )
            ),
            **_choice(alone, "hpa_alone"),
        }
    return Recommendation(
        slo=str(_need(inputs, "slo", str, "inputs.")),
        capacity_per_replica=float(_need(inputs, "capacityPerReplica", _NUMBER, "inputs.")),
        tuned_at=tuned_at,
        carried_from=str(carried) if carried else None,
        tuned_on=dict(result.get("tuned_on") or {}),
        label=label,
        policy=dict(policy) if policy is not None else None,
        hpa_target_utilisation=hpa_target,
        expected=expected,
        hpa_alone=hpa_alone,
    )


def read(store: Any, target: str, version: str) -> Recommendation | None:
    """The recommendation stored with ``version``, None when it has none; :class:`RecommendationError` when
    it is there but unusable."""
    raw = store.read_file(target, version, TUNING_FILE)
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise RecommendationError(f"{target}/{version}/{TUNING_FILE} is not valid JSON ({exc})") from exc
    return parse(doc)
