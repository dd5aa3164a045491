"""The recommendation stored with each model version (:mod:`forecaster.recommendation`), as the training job
relies on it between re-tunings: the newest readable one is the one carried forward (after a re-tuning, never
the older one), it keeps naming the version it was tuned with however often it is carried, and it is due again
exactly ``every`` after it was tuned or as soon as its inputs change.

A stand-in store (versions in time order, files per version): no model, no training.
"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from forecaster import recommendation
from forecaster.settings import TuningSettings

SETTINGS = TuningSettings(slo="short-minutes=1%", capacity_per_replica=50.0, pod_startup="2m", every="12h")


def _doc(tuned_at: str, label: str, *, carried: str | None = None) -> dict:
    return {
        "format": recommendation.FORMAT,
        "tunedAt": tuned_at,
        "carriedFrom": carried,
        "inputs": recommendation.inputs_of(SETTINGS),
        "result": {"recommended": None, "label_for_the_test": label},
    }


class Store:
    """Versions named in time order (as the store names them), each with its files."""

    def __init__(self, files: dict[str, bytes | None]) -> None:
        self.files = files

    def versions(self, target: str) -> list[str]:
        return sorted(self.files)

    def read_file(self, target: str, version: str, name: str) -> bytes | None:
        assert name == recommendation.TUNING_FILE
        return self.files.get(version)


def _v(i: int) -> str:
    return f"20260301T{i:02d}0000Z-0000000{i % 10}"


def test_after_a_re_tuning_the_newest_recommendation_is_the_one_found():
    store = Store(
        {
            _v(1): json.dumps(_doc("2026-03-01T01:00:00Z", "first")).encode(),
            _v(2): json.dumps(_doc("2026-03-01T01:00:00Z", "first", carried=_v(1))).encode(),
            _v(3): json.dumps(_doc("2026-03-01T13:00:00Z", "second")).encode(),
            _v(4): None,  # a version saved without one (tuning failed and nothing was carried)
        }
    )
    found = recommendation.latest(store, "svc")
    assert found is not None
    version, doc = found
    assert version == _v(3) and doc["result"]["label_for_the_test"] == "second"


def test_a_damaged_newest_file_falls_back_to_the_one_before():
    store = Store(
        {
            _v(1): json.dumps(_doc("2026-03-01T01:00:00Z", "first")).encode(),
            _v(2): b'{"format": 1, "tunedAt": ',  # truncated
        }
    )
    assert recommendation.latest(store, "svc")[0] == _v(1)


def test_many_versions_later_the_newest_is_still_found():
    store = Store({_v(i): json.dumps(_doc("2026-03-01T01:00:00Z", f"n{i}")).encode() for i in range(1, 16)})
    version, doc = recommendation.latest(store, "svc")
    assert version == _v(15) and doc["result"]["label_for_the_test"] == "n15"


def test_carrying_again_keeps_naming_the_version_it_was_tuned_with():
    tuned = _doc("2026-03-01T01:00:00Z", "first")
    once = recommendation.carried_document(tuned, version=_v(1))
    twice = recommendation.carried_document(once, version=_v(2))
    assert once["carriedFrom"] == twice["carriedFrom"] == _v(1)
    assert twice["tunedAt"] == tuned["tunedAt"] and twice["result"] == tuned["result"]
    assert recommendation.parse(twice).carried_from == _v(1)


@pytest.mark.parametrize(
    ("now", "due"),
    [
        ("2026-03-01T12:59:59Z", False),
        ("2026-03-01T13:00:00Z", True),  # exactly every after the tuning
        ("2026-03-03T01:00:00Z", True),
    ],
)
def test_a_recommendation_is_due_exactly_every_after_it_was_tuned(now, due):
    previous = _doc("2026-03-01T01:00:00Z", "first")
    assert recommendation.due(previous, SETTINGS, now=pd.Timestamp(now))[0] is due


@pytest.mark.parametrize(
    "change",
    [
        {"slo": "short-minutes=2%"},
        {"capacity_per_replica": 60.0},
        {"pod_startup": "3m"},
        {"min_replicas": 2},
        {"max_replicas": 50},
    ],
)
def test_a_change_of_any_tuning_input_is_due_at_once(change):
    previous = _doc("2026-03-01T01:00:00Z", "first")
    changed = dataclasses.replace(SETTINGS, **change)
    due, why = recommendation.due(previous, changed, now=pd.Timestamp("2026-03-01T01:05:00Z"))
    assert due and why == "the tuning inputs changed"
    assert recommendation.due(previous, SETTINGS, now=pd.Timestamp("2026-03-01T01:05:00Z"))[0] is False


def test_the_reason_not_to_tune_says_how_long_ago_in_hours_then_days():
    previous = _doc("2026-03-01T01:00:00Z", "first")
    weekly = dataclasses.replace(SETTINGS, every="7d")
    _, hours = recommendation.due(previous, weekly, now=pd.Timestamp("2026-03-02T07:00:00Z"))
    _, days = recommendation.due(previous, weekly, now=pd.Timestamp("2026-03-04T13:00:00Z"))
    assert "tuned 30.0h ago" in hours
    assert "tuned 3.5d ago" in days


def test_a_time_with_an_offset_is_read_in_utc():
    previous = _doc("2026-03-01T03:00:00+02:00", "first")  # 01:00 UTC
    assert recommendation.due(previous, SETTINGS, now=pd.Timestamp("2026-03-01T13:00:00Z"))[0] is True
    assert recommendation.due(previous, SETTINGS, now=pd.Timestamp("2026-03-01T12:59:00Z"))[0] is False


def test_the_hpa_alone_choice_keeps_its_own_target_utilisation():
    """The status shows both the recommended setting and the cheapest HPA-alone one: each with its own HPA."""
    from tests.test_prescaler_tuning import tuning_doc

    doc = tuning_doc(hpa_target=1.0)
    alone = doc["result"]["hpa_alone"]
    assert alone is not None
    alone["hpa"]["targetUtilisation"] = 0.7
    rec = recommendation.parse(doc)
    assert rec.hpa_target_utilisation == 1.0
    assert rec.hpa_alone is not None and rec.hpa_alone["targetUtilisation"] == 0.7
