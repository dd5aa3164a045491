"""A policy's metrics live as long as the policy: once it is deleted no series of any family still names it
(a fleet's churn of policies must not grow /metrics without bound), and the other policies' series stay.

Through :class:`~forecaster.prescaler.loop.Controller` against the fake API server; the policy to delete has
every family the controller exports per policy: an accuracy guard with samples, a calendar, a forecast.
"""

from __future__ import annotations

import pandas as pd

from forecaster.events import parse_calendar_csv
from forecaster.prescaler.calendars import READ, CalendarReading
from forecaster.prescaler.forecasts import ForecastResult
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, NS, FakeForecasts, deployment, forecast_frame, history, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)


def series_of(ctl, name: str) -> set[str]:
    """The metric families with a sample labelled ``policy=name``."""
    return {
        family.name
        for family in ctl.metrics.registry.collect()
        for sample in family.samples
        if sample.labels.get("policy") == name and sample.labels.get("namespace") == NS
    }


def test_a_deleted_policy_leaves_no_series_behind_and_the_others_keep_theirs(fake_api, kube):
    calendar = parse_calendar_csv("start,kind\n2024-05-01T21:00:00Z,football\n")
    reading = CalendarReading(source="calendar file events.csv", reason=READ, calendar=calendar, read_at=NOW)

    def answer(now: pd.Timestamp) -> ForecastResult:
        return ForecastResult(
            frame=forecast_frame(now, p90=400.0, p50=300.0),
            history=history(now, value=200.0),
            calendar=reading,
        )

    for name in ("live-api", "other"):
        fake_api.put(deployment(name, replicas=3))
        fake_api.put(policy(name, target=name, accuracyGuard={"maxError": 5.0, "minSamples": 1}))
    ctl = prescaler_helpers.controller(kube, FakeForecasts(**{"live-api": answer, "other": answer}))
    for k in range(3):
        ctl.tick(NOW + k * MIN)
    families = series_of(ctl, "other")
    assert {
        "forecaster_prescaler_desired_replicas",
        "forecaster_prescaler_forecast",
        "forecaster_prescaler_forecast_error",
        "forecaster_prescaler_decisions",
        "forecaster_prescaler_calendar_up",
        "forecaster_prescaler_calendar_entries",
    } <= families, families
    fake_api.remove("prescalepolicies", NS, "other")
    ctl.tick(NOW + 3 * MIN)
    assert series_of(ctl, "other") == set()
    assert series_of(ctl, "live-api") == families
