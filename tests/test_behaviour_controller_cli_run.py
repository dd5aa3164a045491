"""``forecaster prescale`` as a Deployment runs it (no ``--once``): every flag, and every default an operator relies
on, reaches the controller, the leader election, the policy and target watches and the metrics server.

Through :func:`forecaster.cli.main` against the fake API server, with the long-running pieces replaced by
recorders (the loop returns at once, no watch thread or HTTP server starts, no signal handler is installed).
"""

from __future__ import annotations

import signal
import socket
from typing import Any

import pytest

from forecaster.cli import main
from forecaster.prescaler import metrics as prescaler_metrics
from forecaster.prescaler.informer import WatchCache
from forecaster.prescaler.loop import Controller
from tests import prescaler_helpers

fake_api = prescaler_helpers.fake_api  # fixture


@pytest.fixture
def started(monkeypatch) -> dict[str, Any]:
    seen: dict[str, Any] = {"caches": [], "signals": []}

    def run(self: Controller, *, stop: Any, interval_s: float, renew_s: float, **kw: Any) -> None:
        seen["controller"], seen["interval_s"], seen["renew_s"] = self, interval_s, renew_s

    def serve(metrics: Any, *, port: int, addr: str, health: Any) -> None:
        seen["metrics"] = (addr, port, health)

    def start(self: WatchCache, stop: Any) -> None:
        seen["caches"].append((self.resource.plural, self.namespace))

    monkeypatch.setattr(Controller, "run", run)
    monkeypatch.setattr(prescaler_metrics, "serve_metrics", serve)
    monkeypatch.setattr(WatchCache, "start", start)
    monkeypatch.setattr(signal, "signal", lambda signum, handler: seen["signals"].append(signum))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return seen


def test_the_defaults_an_operator_relies_on(fake_api, tmp_path, started):
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig")
    assert main(["prescale", "--kubeconfig", str(kubeconfig)]) == 0
    ctl: Controller = started["controller"]
    assert (started["interval_s"], started["renew_s"]) == (60.0, 5.0)
    # Leader election is on in a cluster: a Lease in 'forecaster' (no pod namespace here), 15 s, the hostname.
    elector = ctl.elector
    assert elector is not None
    assert (elector.namespace, elector.name) == ("forecaster", "forecaster-prescaler")
    assert elector.identity == socket.gethostname() == ctl.identity
    assert elector.lease_duration_s == 15.0
    fleet = ctl.fleet
    assert (fleet.forecast_workers, fleet.reconcile_workers) == (8, 1)
    assert fleet.forecast_deadline_s is None, "half of each policy's interval"
    assert fleet.status_refresh_s == 300.0
    assert ctl.dry_run is False
    provider = ctl.forecasts
    assert str(provider.training_dir) == "training" and provider.store_root is None
    assert provider.targets is None and provider.predict_workers == 2
    assert started["caches"] == [("prescalepolicies", None)], "policies of every namespace, watched"
    addr, port, health = started["metrics"]
    assert (addr, port) == ("0.0.0.0", 9102) and health == ctl.health
    assert set(started["signals"]) == {signal.SIGTERM, signal.SIGINT}


def test_every_flag_reaches_what_it_sets(fake_api, tmp_path, started):
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig")
    code = main(
        [
            "prescale",
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            "live",
            "--interval",
            "30s",
            "--renew-period",
            "2s",
            "--lease-duration",
            "10s",
            "--lease-name",
            "my-lease",
            "--lease-namespace",
            "ops",
            "--identity",
            "replica-a",
            "--forecast-workers",
            "3",
            "--reconcile-workers",
            "4",
            "--predict-workers",
            "5",
            "--forecast-deadline",
            "20s",
            "--status-refresh",
            "2m",
            "--store",
            str(tmp_path / "models"),
            "--training-dir",
            str(tmp_path / "targets"),
            "--targets-from-cluster",
            "--targets-namespace",
            "fc",
            "--metrics-port",
            "9300",
            "--metrics-address",
            "127.0.0.1",
            "--dry-run",
        ]
    )
    assert code == 0
    ctl: Controller = started["controller"]
    assert (started["interval_s"], started["renew_s"]) == (30.0, 2.0)
    elector = ctl.elector
    assert (elector.namespace, elector.name, elector.identity) == ("ops", "my-lease", "replica-a")
    assert elector.lease_duration_s == 10.0 and ctl.identity == "replica-a"
    fleet = ctl.fleet
    assert (fleet.forecast_workers, fleet.reconcile_workers) == (3, 4)
    assert (fleet.forecast_deadline_s, fleet.status_refresh_s) == (20.0, 120.0)
    assert ctl.dry_run is True
    provider = ctl.forecasts
    assert provider.store_root == str(tmp_path / "models") and provider.predict_workers == 5
    assert str(provider.training_dir) == str(tmp_path / "targets")
    assert provider.targets is not None and provider.targets.cache.namespace == "fc"
    assert started["caches"] == [("prescalepolicies", "live"), ("forecasttargets", "fc")]
    assert started["metrics"][:2] == ("127.0.0.1", 9300)


@pytest.mark.parametrize(
    ("flags", "elected", "metrics"),
    [
        (["--no-leader-elect", "--metrics-port", "0"], False, False),
        (["--status-refresh", "0"], True, True),
    ],
)
def test_switches(fake_api, tmp_path, started, flags, elected, metrics):
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig")
    assert main(["prescale", "--kubeconfig", str(kubeconfig), *flags]) == 0
    ctl: Controller = started["controller"]
    assert (ctl.elector is not None) is elected
    assert ("metrics" in started) is metrics
    if "--status-refresh" in flags:
        assert ctl.fleet.status_refresh_s == 0.0, "0: write every change at once"


def test_policy_files_run_without_a_leader_and_without_watching_the_cluster(fake_api, tmp_path, started):
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig")
    path = tmp_path / "policies.yaml"
    path.write_text(
        "apiVersion: prescaling.forecaster.io/v1alpha1\nkind: PrescalePolicy\nmetadata: {name: a, namespace: live}\n"
        "spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: a}, forecast: {target: x}, "
        "capacityPerReplica: 10, maxReplicas: 5}\n"
    )
    assert main(["prescale", "--kubeconfig", str(kubeconfig), "--policies", str(path)]) == 0
    ctl: Controller = started["controller"]
    assert ctl.elector is None, "policy files: one replica reads them, nothing to elect"
    assert started["caches"] == []
