"""A floor held for an expected event while the calendar is unavailable, then released: the capacity held is what
the decision state remembers, so once the calendar is back the floor comes down through the scale-down
step limit like any other scale-down (from what was held, not from the lower decision made meanwhile).

Through the controller against the fake API server; the forecast carries its calendar reading.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from forecaster.events import Event, parse_calendar_csv
from forecaster.prescaler.calendars import READ, UNAVAILABLE, CalendarReading
from forecaster.prescaler.forecasts import ForecastResult
from tests import prescaler_helpers
from tests.prescaler_helpers import (
    NOW,
    FakeForecasts,
    controller,
    deployment,
    floor,
    forecast_frame,
    history,
    hpa,
    policy,
)

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)
MATCH = Event(start=pd.Timestamp("2024-05-01 21:00:00", tz="UTC"), kind="football")
DOWN = CalendarReading(
    source="calendar file events.csv",
    reason=UNAVAILABLE,
    calendar=None,
    problem="cannot read the calendar file events.csv: gone",
    read_at=NOW - 2 * pd.Timedelta(hours=1),
    expected=(MATCH,),
)
BACK = CalendarReading(
    source="calendar file events.csv",
    reason=READ,
    calendar=parse_calendar_csv("start,kind\n2024-05-01T21:00:00Z,football\n"),
    read_at=NOW,
)


def test_a_floor_held_for_an_expected_event_comes_down_from_what_was_held(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    fake_api.put(hpa(min_replicas=2))
    fake_api.put(
        policy(actuator="HPAFloor", scaleDown={"stabilizationWindow": "0", "maxStep": 2, "period": "1m"})
    )
    answer: dict[str, Any] = {"p90": 1000.0, "calendar": BACK}

    def forecast(now):
        return ForecastResult(
            frame=forecast_frame(now, p90=answer["p90"]),
            history=history(now, value=400.0),
            calendar=answer["calendar"],
        )

    ctl = controller(kube, FakeForecasts(**{"live-api": forecast}))
    ctl.tick(NOW)
    assert floor(fake_api) == 10

    # The forecast falls (3 pods) while the calendar is down and a match is expected: the floor is held.
    answer.update(p90=300.0, calendar=DOWN)
    ctl.tick(NOW + MIN)
    assert floor(fake_api) == 10

    # The calendar is back: the fall is now a plain scale-down from the 10 held, 2 pods a minute at most.
    answer["calendar"] = BACK
    floors = []
    for minutes in (2, 3, 4, 5, 6):
        ctl.tick(NOW + minutes * MIN)
        floors.append(floor(fake_api))
    assert floors == [8, 6, 4, 3, 3]
