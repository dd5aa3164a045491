"""What the prescaler promises operators, checked on the fake Kubernetes API server through the real client.

- ``--dry-run`` writes nothing but its own status and events, even when an earlier real run raised a floor that
  a non-dry run would now put back, and even when the policy is being deleted;
- a 409 while the finalizers are patched keeps every other controller's finalizer;
- the accuracy guard has hysteresis: an error between ``maxError x recoverRatio`` and ``maxError`` neither
  switches it on nor off, so it does not flap at its threshold;
- the HPA's original floor survives a second raise and is what is restored.

The controller is driven through its public entry points only (``Controller.tick`` with scripted forecasts, and
the ``forecaster prescale --once`` command), so these tests survive the controller's move into a package: only
the import line below names where the controller lives.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
import yaml

from forecaster.cli import main
from forecaster.prescaler.actuators import ORIGINAL_FLOOR_ANNOTATION
from forecaster.prescaler.forecasts import ForecastResult
from forecaster.prescaler.kube import KubeClient
from forecaster.prescaler.loop import Controller
from forecaster.prescaler.policy_sources import FINALIZER
from tests import prescaler_helpers
from tests.fake_kube_api import FakeKubeApiServer
from tests.prescaler_helpers import (
    NOW,
    NS,
    FakeForecasts,
    deployment,
    forecast_frame,
    history,
    hpa,
    policy,
    prometheus_down,
)

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures

MIN = pd.Timedelta(minutes=1)
OTHER_FINALIZER = "backup.example.com/protect"
LATE_FINALIZER = "audit.example.com/hold"


make = prescaler_helpers.controller


def hpa_of(fake: FakeKubeApiServer) -> dict[str, Any]:
    obj = fake.get("horizontalpodautoscalers", NS, "live-api")
    assert obj is not None
    return obj


def floor_and_original(fake: FakeKubeApiServer) -> tuple[int, str | None]:
    h = hpa_of(fake)
    return h["spec"]["minReplicas"], (h["metadata"].get("annotations") or {}).get(ORIGINAL_FLOOR_ANNOTATION)


def seed(fake: FakeKubeApiServer, **policy_spec: Any) -> None:
    fake.put(deployment(replicas=3))
    fake.put(hpa(min_replicas=2))
    fake.put(policy(**policy_spec))


def after_list(kube: KubeClient, plural: str, change) -> None:
    """Run ``change`` once, right after the controller lists ``plural``: another client writes in between."""
    real_list = kube.list
    done = {"once": False}

    def listing(resource, **kw):
        items = real_list(resource, **kw)
        if resource.plural == plural and not done["once"]:
            done["once"] = True
            change()
        return items

    kube.list = listing  # type: ignore[method-assign]


# -- dry run ----------------------------------------------------------------------------------------------------

ONLY_OWN_STATUS = {("patch", "prescalepolicies", "status"), ("create", "events", None)}


@pytest.mark.parametrize(
    ("description", "next_forecast", "delete_policy"),
    [
        ("the forecast is gone: a real run would restore the original floor", prometheus_down(), False),
        ("the forecast fell: a real run would lower the floor", 300.0, False),
        ("the forecast rose: a real run would raise the floor", 2000.0, False),
        ("the policy is being deleted: a real run would restore and drop its finalizer", 1000.0, True),
    ],
)
def test_dry_run_writes_nothing_after_a_real_run_raised_the_floor(
    fake_api, kube, description, next_forecast, delete_policy
):
    seed(fake_api)
    make(kube, FakeForecasts(**{"live-api": 1000.0})).tick(NOW)  # a real run earlier
    assert floor_and_original(fake_api) == (10, "2")
    if delete_policy:
        fake_api.delete("prescalepolicies", NS, "live-api")
    hpa_before = hpa_of(fake_api)
    target_before = fake_api.get("deployments", NS, "live-api")
    policy_meta_before = fake_api.get("prescalepolicies", NS, "live-api")["metadata"]
    writes_before = len(fake_api.writes())

    dry = make(kube, FakeForecasts(**{"live-api": next_forecast}), dry_run=True)
    for k in range(1, 4):
        dry.tick(NOW + k * MIN)

    writes = {(w.verb, w.resource, w.subresource) for w in fake_api.writes()[writes_before:]}
    assert writes <= ONLY_OWN_STATUS, (description, writes)
    assert hpa_of(fake_api) == hpa_before, description
    assert fake_api.get("deployments", NS, "live-api") == target_before, description
    after = fake_api.get("prescalepolicies", NS, "live-api")
    assert after is not None, description  # the finalizer was not released: the policy is still there
    assert after["metadata"]["finalizers"] == policy_meta_before["finalizers"]


def _cli_training_dir(tmp_path) -> str:
    training = tmp_path / "training"
    training.mkdir()
    (training / "live-streaming.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "live-streaming",
                "prometheus": {"url": "http://127.0.0.1:9", "query": "sum(up)", "retries": 0},
            }
        )
    )
    return str(training)


@pytest.mark.parametrize("dry_run", [True, False])
def test_prescale_once_dry_run_leaves_a_raised_floor_alone(fake_api, tmp_path, capsys, dry_run):
    """The command line: an HPA whose floor an earlier run raised, and no forecast now (no promoted model).

    A real run fails safe by restoring the original floor; ``--dry-run`` must not write even that."""
    fake_api.put(deployment(replicas=10))
    raised = hpa(min_replicas=10)
    raised["metadata"]["annotations"] = {
        ORIGINAL_FLOOR_ANNOTATION: "2",
        "prescaling.forecaster.io/owner": f"{NS}/live-api",
    }
    fake_api.put(raised)
    policies = tmp_path / "policies.yaml"
    policies.write_text(yaml.safe_dump(policy()))
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig")
    args = ["prescale", "--kubeconfig", str(kubeconfig), "--policies", str(policies), "--once"]
    args += ["--training-dir", _cli_training_dir(tmp_path), "--store", str(tmp_path / "empty-store")]

    code = main(args + (["--dry-run"] if dry_run else []))

    assert code == 1  # no forecast either way
    [outcome] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"key"' in line]
    assert outcome["mode"] == ("Forecast" if dry_run else "Scale")
    hpa_writes = [w for w in fake_api.writes() if w.resource != "events"]
    if dry_run:
        assert hpa_writes == []
        assert floor_and_original(fake_api) == (10, "2")
    else:  # the control: the same situation without --dry-run does write
        assert [(w.verb, w.resource) for w in hpa_writes] == [("patch", "horizontalpodautoscalers")]
        assert floor_and_original(fake_api) == (2, None)


# -- finalizers and 409 ---------------------------------------------------------------------------------------------


def test_a_409_while_adding_our_finalizer_keeps_the_other_controllers_finalizers(fake_api, kube):
    seed(fake_api)
    fake_api.set_field("prescalepolicies", NS, "live-api", "metadata.finalizers", [OTHER_FINALIZER])
    # Between our read and our write another controller adds its finalizer: our write is a stale 409.
    after_list(
        kube,
        "prescalepolicies",
        lambda: fake_api.set_field(
            "prescalepolicies", NS, "live-api", "metadata.finalizers", [OTHER_FINALIZER, LATE_FINALIZER]
        ),
    )
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))

    [outcome] = ctl.tick(NOW)

    assert outcome.ready
    finalizers = fake_api.get("prescalepolicies", NS, "live-api")["metadata"]["finalizers"]
    assert sorted(finalizers) == sorted([OTHER_FINALIZER, LATE_FINALIZER, FINALIZER])
    patches = [
        r
        for r in fake_api.requests_matching(verb="patch", resource="prescalepolicies")
        if r.subresource is None
    ]
    assert len(patches) == 2  # the 409, then the retry on the fresh object


def test_a_409_while_removing_our_finalizer_keeps_the_other_controllers_finalizers(fake_api, kube):
    seed(fake_api)
    ctl = make(kube, FakeForecasts(**{"live-api": 1000.0}))
    ctl.tick(NOW)  # adds our finalizer
    fake_api.set_field(
        "prescalepolicies", NS, "live-api", "metadata.finalizers", [OTHER_FINALIZER, FINALIZER]
    )
    fake_api.delete("prescalepolicies", NS, "live-api")
    # While we restore the floor, another client touches the policy (a label): our finalizer patch is stale.
    after_list(
        kube,
        "prescalepolicies",
        lambda: fake_api.set_field("prescalepolicies", NS, "live-api", "metadata.labels", {"team": "live"}),
    )

    [outcome] = ctl.tick(NOW + MIN)

    assert outcome.reason == "Deleted"
    left = fake_api.get("prescalepolicies", NS, "live-api")
    assert left is not None  # still held by the other controller
    assert left["metadata"]["finalizers"] == [OTHER_FINALIZER]
    assert left["metadata"]["labels"] == {"team": "live"}
    assert floor_and_original(fake_api) == (2, None)


# -- the accuracy guard's hysteresis ----------------------------------------------------------------------------------

GUARD = {"maxError": 0.3, "window": "10m", "minSamples": 5, "recoverRatio": 0.8}
ACTUAL = 500.0


def _guarded(kube: KubeClient, error: dict[str, float]) -> Controller:
    """A controller whose p50 forecast is off by ``error["value"]`` (a WAPE fraction) against flat actuals."""

    def scripted(now: pd.Timestamp) -> ForecastResult:
        p50 = ACTUAL * (1 + error["value"])
        return ForecastResult(
            frame=forecast_frame(now, p90=p50 * 1.2, p50=p50), history=history(now, value=ACTUAL)
        )

    return make(kube, FakeForecasts(**{"live-api": scripted}))


def _run(ctl: Controller, start: pd.Timestamp, ticks: int) -> tuple[list[str], pd.Timestamp]:
    modes = []
    for k in range(ticks):
        [outcome] = ctl.tick(start + k * MIN)
        modes.append(outcome.mode)
    return modes, start + ticks * MIN


def test_the_accuracy_guard_does_not_flap_between_its_two_thresholds(fake_api, kube):
    seed(fake_api, accuracyGuard=GUARD)
    error = {"value": 1.0}  # far off: the guard trips
    ctl = _guarded(kube, error)
    modes, t = _run(ctl, NOW, 12)
    assert modes[-1] == "Forecast"

    # Now the error sits between maxError x recoverRatio (0.24) and maxError (0.3): still not good enough.
    error["value"] = 0.27
    modes, t = _run(ctl, t, 20)
    assert modes == ["Forecast"] * 20
    obj = fake_api.get("prescalepolicies", NS, "live-api")
    assert 0.24 < obj["status"]["accuracy"]["error"] <= 0.3  # the window holds only the 0.27 forecasts
    assert obj["status"]["accuracy"]["guardActive"] is True
    assert floor_and_original(fake_api) == (2, None)  # the floor stays handed back to the HPA

    # Clearly good again (below 0.24): Scale mode returns, and stays.
    error["value"] = 0.1
    modes, t = _run(ctl, t, 20)
    assert modes[-1] == "Scale" and modes[-5:] == ["Scale"] * 5
    assert modes.count("Scale") == len(modes) - modes.index("Scale")  # switched once, never back


def test_the_accuracy_guard_does_not_trip_below_its_threshold(fake_api, kube):
    seed(fake_api, accuracyGuard=GUARD)
    ctl = _guarded(kube, {"value": 0.27})  # worse than the recovery bar, better than the trip bar

    modes, _ = _run(ctl, NOW, 20)

    assert modes == ["Scale"] * 20
    assert fake_api.get("prescalepolicies", NS, "live-api")["status"]["accuracy"]["guardActive"] is False
    assert not any(e["reason"] == "AccuracyGuard" for e in fake_api.events())


# -- the original floor ------------------------------------------------------------------------------------------


def test_the_original_floor_survives_a_second_raise_and_is_what_is_restored(fake_api, kube):
    seed(fake_api)
    forecasts = FakeForecasts(**{"live-api": 1000.0})
    ctl = make(kube, forecasts)

    ctl.tick(NOW)
    assert floor_and_original(fake_api) == (10, "2")
    forecasts.by_policy["live-api"] = 2000.0
    ctl.tick(NOW + MIN)
    assert floor_and_original(fake_api) == (20, "2")  # not the 10 the first raise set
    forecasts.by_policy["live-api"] = 3000.0
    ctl.tick(NOW + 2 * MIN)
    assert floor_and_original(fake_api) == (30, "2")

    forecasts.by_policy["live-api"] = prometheus_down()
    # The last good forecast is acted on for the part of its horizon not yet passed; past it, the original
    # floor (not any of the raised ones) comes back.
    [outcome] = ctl.tick(NOW + 62 * MIN)
    assert outcome.action == "FloorRestored HPA live-api minReplicas 30 -> 2 (original)"
    assert floor_and_original(fake_api) == (2, None)
