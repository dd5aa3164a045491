"""What the tuner recommends is what the controller applies (:mod:`forecaster.tuning`): each grid setting's
PrescalePolicy spec fields, read by the controller's own parser, give exactly the scaling policy the tuning
replayed, and its HPA the target utilisation it replayed; and the choice among replayed points is the
cheapest one whose upper bound meets the SLO.

Pure: no replay needed except where a test says so.
"""

from __future__ import annotations

import numpy as np
import pytest

from forecaster import tuning
from forecaster.errors import ConfigError
from forecaster.prescaler.policy import parse_policy
from forecaster.tuning import SLO, Point, Setting
from tests.prescaler_helpers import policy

CAP = 50.0
STARTUP = 150.0  # 2.5 minutes: a lead time that is not whole minutes


SETTINGS = [
    Setting(1.0, "shift", 0.5, headroom=0.2),
    Setting(1.0, "shift", 0.9, max_over_median=0.4),
    Setting(1.0, "peak", 0.9, stabilization_s=300.0),
    Setting(0.9, "shift", 0.9, lead_extra_s=120.0),
    Setting(1.0, "shift", 0.5, headroom=0.1, lead_extra_s=45.0),
    Setting(1.0, "shift", 0.9, max_step_down=2, stabilization_s=90.0),
]


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.label)
def test_the_recommended_spec_fields_give_the_policy_the_tuning_replayed(setting):
    spec = setting.policy_spec(capacity_per_replica=CAP, pod_startup_s=STARTUP)
    assert spec is not None
    obj = policy(actuator="HPAFloor", minReplicas=1, maxReplicas=100, **spec)

    applied = parse_policy(obj).scaling
    replayed = setting.policy(capacity_per_replica=CAP, pod_startup_s=STARTUP)

    assert applied.lead_time_s == pytest.approx(STARTUP + setting.lead_extra_s)
    assert applied.headroom == pytest.approx(setting.headroom)
    assert applied == replayed


def test_the_hpa_alone_has_no_policy_spec_and_its_hpa_keeps_the_replayed_spare():
    alone = Setting(0.7)
    assert alone.policy_spec(capacity_per_replica=CAP, pod_startup_s=STARTUP) is None
    hpa = alone.hpa_config(capacity_per_replica=CAP, min_replicas=2, max_replicas=30)
    assert (hpa.target_utilisation, hpa.min_replicas, hpa.max_replicas) == (0.7, 2, 30)
    assert hpa.scale_down.stabilization_window_s == 300.0  # Kubernetes' default unless the setting says
    shorter = Setting(0.7, hpa_scale_down_s=60.0).hpa_config(capacity_per_replica=CAP)
    assert shorter.scale_down.stabilization_window_s == 60.0


def _point(label_util: float, *, cost: float, upper: float, rate: float = 0.0, short: int = 0) -> Point:
    return Point(
        setting=Setting(label_util),
        minutes=1000,
        short_minutes=short,
        unserved_fraction=0.0,
        replica_minutes=cost,
        rate=rate,
        rate_upper=upper,
        meets=upper <= 0.01,
    )


def test_the_cheapest_setting_meeting_the_slo_wins_and_its_bound_breaks_a_tie():
    pts = [
        _point(0.5, cost=900.0, upper=0.0),
        _point(0.8, cost=600.0, upper=0.009),
        _point(0.7, cost=600.0, upper=0.004),
        _point(1.0, cost=400.0, upper=0.02),  # cheapest, but its bound is above the SLO
    ]
    assert tuning._cheapest(pts) is pts[2]
    assert tuning._cheapest([p for p in pts if p.setting.target_utilisation == 1.0]) is None


def test_the_pareto_front_keeps_only_points_no_cheaper_one_beats_on_short_minutes():
    pts = [
        _point(1.0, cost=400.0, upper=0.0, short=30),
        _point(0.9, cost=500.0, upper=0.0, short=30),  # costs more for no fewer short minutes
        _point(0.8, cost=600.0, upper=0.0, short=10),
        _point(0.7, cost=700.0, upper=0.0, short=12),  # costs more and is short more
        _point(0.5, cost=900.0, upper=0.0, short=0),
    ]
    front = tuning.pareto(pts)
    assert [p.setting.target_utilisation for p in front] == [1.0, 0.8, 0.5]


@pytest.mark.parametrize(
    ("text", "limit"),
    [("short-minutes=99.9%", 0.999), ("unserved=0.999", 0.999), ("unserved=0.0001%", 1e-6)],
)
def test_slo_limits_just_inside_the_range_are_accepted(text, limit):
    assert SLO.parse(text).limit == pytest.approx(limit)


@pytest.mark.parametrize("text", ["short-minutes=100%", "unserved=1", "unserved=1.0"])
def test_an_slo_of_everything_is_refused(text):
    with pytest.raises(ConfigError, match="must be above 0 and below 100%"):
        SLO.parse(text)


@pytest.mark.parametrize(("margin", "scale"), [("hours", 1.0), ("confidence", 1.0), ("prediction", 2**0.5)])
def test_the_margin_is_students_t_on_the_sample_spread_of_the_block_rates(margin, scale):
    """The bound on the mean rate uses the blocks' sample standard deviation (n - 1: the mean is estimated
    from the same blocks) and t at n - 1 degrees of freedom; the prediction bound is sqrt(2) wider."""
    import statistics

    per = [0.0, 0.01, 0.02, 0.05]
    n = len(per)
    expected = 0.02 + tuning.t_quantile(0.9, n - 1) * statistics.stdev(per) / n**0.5 * scale
    got = tuning.upper_bound(0.02, np.array(per), confidence=0.9, margin=margin)
    assert got == pytest.approx(expected, rel=1e-12)


def test_every_replayed_setting_keeps_the_workloads_minimum_replicas():
    """A quiet workload with minReplicas 3 costs at least 3 pods a minute under every setting the tuner replays,
    the HPA alone included (its replayed HPA has the same minimum as the policy)."""
    import pandas as pd

    from forecaster.simulate import precompute_forecasts

    index = pd.date_range("2026-03-02 00:00", periods=240, freq="1min")
    trace = pd.Series(10.0, index=index)  # a tenth of one pod's capacity
    start = index[60]

    def flat(history, now):
        future = pd.date_range(now, periods=30, freq="1min")
        return pd.DataFrame({"p50": 10.0, "p90": 12.0}, index=future)

    table = precompute_forecasts(trace, forecast_fn=flat, replay_start=start)
    points = tuning.evaluate(
        trace,
        settings=[Setting(1.0), Setting(0.7), Setting(1.0, "shift", 0.9)],
        forecasts=table,
        capacity_per_replica=100.0,
        pod_startup_s=60.0,
        slo=SLO.parse("short-minutes=1%"),
        replay_start=start,
        min_replicas=3,
        max_replicas=20,
    )
    for p in points:
        assert p.replica_minutes == pytest.approx(3 * p.minutes), p.setting.label
        assert p.short_minutes == 0


def test_a_setting_whose_bound_is_exactly_the_slo_meets_it():
    """``short-minutes=10%`` is met by a run short on exactly 10% of its minutes in every block (no spread, so
    the bound is the rate itself); one more short minute and it is not."""
    import pandas as pd

    from forecaster.hpa import HPAConfig
    from forecaster.scaling import ScalingPolicy
    from forecaster.simulate import ReplayConfig, ReplayResult, RunResult, run_metrics

    def point(short_at):
        n = 480  # four 2-hour blocks
        load = np.full(n, 100.0)
        ready = np.ones(n)
        ready[short_at] = 0.0
        run = RunResult(name="hpa", ready=ready, pods=ready.copy(), nodes=np.zeros(n), actions=0)
        run.metrics = run_metrics(
            load=load, capacity_per_replica=100.0, ready=ready, pods=ready, nodes=run.nodes, actions=0
        )
        config = ReplayConfig(hpa=HPAConfig(capacity_per_replica=100.0), policy=ScalingPolicy(100.0))
        index = pd.date_range("2026-03-02", periods=n, freq="1min")
        result = ReplayResult(
            load=pd.Series(load, index=index), runs={"hpa": run}, forecast=None, config=config
        )
        return tuning.point_from(result, setting=Setting(1.0), slo=SLO.parse("short-minutes=10%"))

    exact = point(np.arange(0, 480, 10))  # 48 of 480, 12 in each block
    assert exact.rate == exact.rate_upper == 0.1 and exact.meets is True
    over = point(np.append(np.arange(0, 480, 10), 5))
    assert over.meets is False
