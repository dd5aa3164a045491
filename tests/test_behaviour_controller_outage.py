"""What the prescaler acts on while its forecast is unusable: the last good forecast (never the stale history's
load), what the status says about the peak, the last action and the calendar meanwhile, and what a dry run
reports.

Through :class:`~forecaster.prescaler.loop.Controller` against the fake API server, scripted forecasts and a
fixed clock.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from forecaster.prescaler.forecasts import ForecastResult
from tests import prescaler_helpers
from tests.prescaler_helpers import (
    NOW,
    NS,
    FakeForecasts,
    conditions,
    deployment,
    forecast_frame,
    history,
    policy,
    replicas,
    status,
)

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)

make = prescaler_helpers.controller


class Script:
    """A provider answering what ``answer(now)`` says, changed by the test between ticks."""

    def __init__(self, answer) -> None:
        self.answer = answer

    def __call__(self, now: pd.Timestamp) -> Any:
        return self.answer(now)


def fresh(p90: float, *, load: float) -> Any:
    return lambda now: ForecastResult(frame=forecast_frame(now, p90=p90), history=history(now, value=load))


def stale(p90: float, *, load: float, minutes_old: int = 30) -> Any:
    """A forecast made from a history whose last point is ``minutes_old`` minutes old (Prometheus lagging)."""
    return lambda now: ForecastResult(
        frame=forecast_frame(now, p90=p90),
        history=history(now - minutes_old * MIN, value=load),
    )


def test_a_stale_historys_last_load_is_no_floor_while_acting_on_the_last_good_forecast(fake_api, kube):
    # Replicas (no autoscaler underneath): the load observed now bounds the decision, but only a load that is
    # observed now. A stale history's last point is not: acting on the last good forecast, the 1000 seen 30
    # minutes ago must not size the workload.
    fake_api.put(deployment(replicas=2))
    fake_api.put(policy())
    script = Script(fresh(250.0, load=120.0))
    ctl = make(kube, FakeForecasts(**{"live-api": script}))
    [first] = ctl.tick(NOW)
    assert first.desired == 3 and replicas(fake_api) == 3
    script.answer = stale(250.0, load=1000.0)
    [outcome] = ctl.tick(NOW + MIN)
    assert conditions(fake_api)["Ready"]["reason"] == "HoldingLastForecast"
    assert "stale" in conditions(fake_api)["Ready"]["message"]
    assert outcome.desired == 3 and replicas(fake_api) == 3


def test_a_fresh_load_above_the_forecast_is_a_floor(fake_api, kube):
    # The control: the same load, observed now, does size the workload.
    fake_api.put(deployment(replicas=2))
    fake_api.put(policy())
    ctl = make(kube, FakeForecasts(**{"live-api": fresh(250.0, load=1000.0)}))
    [outcome] = ctl.tick(NOW)
    assert outcome.desired == 10 and outcome.reason == "observed_load" and replicas(fake_api) == 10


def test_a_forecast_reaching_back_before_now_is_judged_from_now_on(fake_api, kube):
    # Prometheus lags: the model forecasts from its last sample, so the frame's first steps are already past.
    # A peak there is over: neither the decision nor the exported forecast peak may count it.
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy(leadTime="3m", interval="1m", minReplicas=1))
    index = pd.date_range(NOW - 3 * MIN, periods=30, freq="1min")
    frame = pd.DataFrame({"p50": 80.0, "p90": 100.0}, index=index)
    frame.loc[NOW - 2 * MIN, "p90"] = 900.0
    result = ForecastResult(frame=frame, history=history(NOW - 3 * MIN, value=50.0, minutes=120))
    ctl = make(kube, FakeForecasts(**{"live-api": result}))
    [outcome] = ctl.tick(NOW)
    assert outcome.ready, outcome.message
    assert outcome.desired == 1 and status(fake_api)["forecastPeak"] == 100.0
    peak = ctl.metrics.registry.get_sample_value(
        "forecaster_prescaler_forecast", {"namespace": NS, "policy": "live-api", "quantile": "p90"}
    )
    assert peak == 100.0


def test_a_forecast_outage_keeps_what_the_status_says_about_the_calendar(fake_api, kube):
    # An outage of the forecast says nothing about the calendar: its condition and its status block stay as
    # the last forecast left them (same transition time), instead of vanishing and coming back.
    from forecaster.events import parse_calendar_csv
    from forecaster.prescaler.calendars import READ, CalendarReading

    fake_api.put(deployment(replicas=2))
    fake_api.put(policy())
    calendar = parse_calendar_csv("start,kind\n2024-05-01T21:00:00Z,football\n")
    reading = CalendarReading(source="calendar file events.csv", reason=READ, calendar=calendar, read_at=NOW)
    script = Script(
        lambda now: ForecastResult(
            frame=forecast_frame(now, p90=250.0), history=history(now, value=120.0), calendar=reading
        )
    )
    ctl = make(kube, FakeForecasts(**{"live-api": script}))
    ctl.tick(NOW)
    before = conditions(fake_api)["CalendarAvailable"]
    block = status(fake_api)["calendar"]
    assert before["status"] == "True" and block["available"] is True and block["inUse"] is True
    script.answer = lambda now: None  # no forecast at all
    for minutes in (1, 2):
        [outcome] = ctl.tick(NOW + minutes * MIN)
        assert not outcome.ready
        assert conditions(fake_api)["CalendarAvailable"] == before
        assert status(fake_api)["calendar"] == block


def test_an_event_named_by_an_unusable_forecast_is_not_announced_while_holding_the_last_good_one(
    fake_api, kube
):
    # preparingFor says what the capacity in effect is for. While the prescaler acts on the last good
    # forecast, an event only the stale forecast knows of is not what it prepares for; the control (a usable
    # forecast naming the event) announces it.
    from forecaster.events import Event

    fake_api.put(deployment(replicas=2))
    fake_api.put(policy())
    match = Event(start=(NOW + 7 * MIN).tz_localize("UTC"), kind="football")

    def with_match(history_end: pd.Timestamp) -> Any:
        return lambda now: ForecastResult(
            frame=forecast_frame(now, p90=250.0),
            history=history(history_end, value=120.0),
            upcoming=(match,),
            events_seen={"football": 11},
        )

    script = Script(fresh(250.0, load=120.0))
    ctl = make(kube, FakeForecasts(**{"live-api": script}))
    ctl.tick(NOW)
    assert "preparingFor" not in status(fake_api)
    script.answer = with_match(NOW - 30 * MIN)  # stale: the last good forecast is acted on
    ctl.tick(NOW + MIN)
    assert conditions(fake_api)["Ready"]["reason"] == "HoldingLastForecast"
    assert "preparingFor" not in status(fake_api)
    script.answer = with_match(NOW + 2 * MIN)  # usable again
    ctl.tick(NOW + 2 * MIN)
    assert status(fake_api)["preparingFor"]["kind"] == "football"


def test_a_policy_deleted_and_created_again_does_not_act_on_its_predecessors_forecast(fake_api, kube):
    # What the controller remembers about a policy (its last good forecast, the guard's log) goes with it:
    # a new policy of the same name, maybe for another workload, starts from nothing.
    fake_api.put(deployment(replicas=2))
    fake_api.put(policy())
    script = Script(fresh(1000.0, load=120.0))
    ctl = make(kube, FakeForecasts(**{"live-api": script}))
    ctl.tick(NOW)
    assert replicas(fake_api) == 10
    fake_api.remove("prescalepolicies", NS, "live-api")
    assert ctl.tick(NOW + MIN) == []
    fake_api.put(policy())
    script.answer = lambda now: None
    [outcome] = ctl.tick(NOW + 2 * MIN)
    assert conditions(fake_api)["Ready"]["reason"] == "ForecastUnavailable", outcome.message
    assert "last good forecast" not in outcome.message
