"""A floor that was not set before the prescaler raised it (an HPA without ``minReplicas``: Kubernetes' implicit 1)
is put back as not set when the prescaler lets go: the field is removed again, not written as some number.

Through the controller against the fake API server.
"""

from __future__ import annotations

import pandas as pd

from forecaster.prescaler.actuators import ORIGINAL_FLOOR_ANNOTATION
from tests import prescaler_helpers
from tests.prescaler_helpers import NOW, NS, FakeForecasts, controller, deployment, hpa, policy

fake_api, kube = prescaler_helpers.fake_api, prescaler_helpers.kube  # fixtures


def test_an_unset_hpa_floor_is_unset_again_when_the_prescaler_lets_go(fake_api, kube):
    fake_api.put(deployment(replicas=3))
    bare = hpa()
    del bare["spec"]["minReplicas"]
    fake_api.put(bare)
    fake_api.put(policy(actuator="HPAFloor"))
    ctl = controller(kube, FakeForecasts(**{"live-api": 1000.0}))
    ctl.tick(NOW)
    raised = fake_api.get("horizontalpodautoscalers", NS, "live-api")
    assert raised["spec"]["minReplicas"] == 10
    assert raised["metadata"]["annotations"][ORIGINAL_FLOOR_ANNOTATION] == "unset"

    edited = fake_api.get("prescalepolicies", NS, "live-api")
    edited["spec"]["mode"] = "Forecast"  # the prescaler lets go
    fake_api.put(edited)
    ctl.tick(NOW + pd.Timedelta(minutes=1))

    restored = fake_api.get("horizontalpodautoscalers", NS, "live-api")
    assert "minReplicas" not in restored["spec"]
    assert ORIGINAL_FLOOR_ANNOTATION not in (restored["metadata"].get("annotations") or {})
