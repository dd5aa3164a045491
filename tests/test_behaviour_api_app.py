"""How the forecast service is put together from an operator's files (:mod:`forecaster.api.app`,
:mod:`forecaster.api.shared`): ``--store`` replaces every target's own store, a target's labels come from its
ForecastTarget manifest only (not from another kind of object that happens to share its name), and an elected
leader rewrites the shared snapshot only when a forecast changed.
"""

from __future__ import annotations

import asyncio

import pandas as pd

from forecaster.api.app import StoreModels, labels_in
from forecaster.api.shared import SharedRefresher, SnapshotFile
from forecaster.settings import ModelSettings, PrometheusSettings, TargetConfig
from tests.test_api_support import MutableClock
from tests.test_behaviour_api import T0, _service


def _cfg(store: str) -> TargetConfig:
    return TargetConfig(
        name="web", prometheus=PrometheusSettings(query="up", step="1m"), model=ModelSettings(), store=store
    )


def test_the_store_override_replaces_every_targets_own_store():
    assert StoreModels("/stores/cli").root(_cfg("/stores/own")) == "/stores/cli"
    assert StoreModels(None).root(_cfg("/stores/own")) == "/stores/own"


TARGET = """\
apiVersion: forecasting.forecaster.io/v1alpha1
kind: ForecastTarget
metadata:
  name: web
  labels: {team: shop, tier: frontend}
spec:
  prometheus: {url: "http://127.0.0.1:9090", query: up, step: 1m}
"""

SAME_NAME_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web
  labels: {team: platform}
data: {note: not a target}
"""


def test_labels_come_from_forecast_target_manifests_only(tmp_path):
    (tmp_path / "a-web.yaml").write_text(TARGET)
    (tmp_path / "b-web-dashboard.yaml").write_text(SAME_NAME_CONFIGMAP)  # read after the target
    (tmp_path / "kustomization.yaml").write_text("resources: [a-web.yaml]\n")
    (tmp_path / "plain.yaml").write_text("name: plain\nprometheus: {query: up}\n")

    assert labels_in(str(tmp_path)) == {"web": {"team": "shop", "tier": "frontend"}}


class _Elector:
    def ensure(self, now):
        return True

    def release(self, now):
        pass


class _CountingFile(SnapshotFile):
    def __init__(self, path):
        super().__init__(path)
        self.writes = 0

    def write(self, doc):
        self.writes += 1
        super().write(doc)


def test_the_leader_rewrites_the_snapshot_only_when_a_forecast_changed(tmp_path):
    clock = MutableClock(T0 + pd.Timedelta("10s"))
    svc, _, _ = _service(clock)
    snapshot = _CountingFile(tmp_path / "api.json")
    leader = SharedRefresher(svc, elector=_Elector(), snapshot=snapshot)

    asyncio.run(leader.step())  # the first refresh: written
    asyncio.run(leader.step())  # the same minute: nothing due, nothing changed, nothing written
    clock.advance("20s")
    asyncio.run(leader.step())  # still the same step
    assert snapshot.writes == 1

    clock.advance("1min")  # the next step is due: a new forecast, written
    asyncio.run(leader.step())
    assert snapshot.writes == 2
