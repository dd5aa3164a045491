"""The prescaler: a Kubernetes controller that raises capacity ahead of forecast load, one module per activity.

==================  ===================================================================================
``loop``            the reconcile pipeline: fetch -> predict -> decide -> act -> report (:class:`Controller`)
``policy``          the PrescalePolicy spec, parsed and validated (pure)
``policy_sources``  where policies come from: the cluster's custom resources, or YAML files
``forecasts``       the forecast provider (model store + Prometheus), its usability check, the last good one
``calendars``       the target's calendar across ticks: good reads, the last good copy, outages (pure)
``guard``           the accuracy guard (pure)
``actuators``       the :class:`Actuator` protocol and registry: one class per way of raising capacity
``status``          conditions, status, Events and the tick's Outcome (pure)
``report``          writes status and Events
``problems``        errors classified by type into conditions
``leader``          leader election on a Lease
``kube``            the Kubernetes API: the only module that imports the ``kubernetes`` client
``asg``             EC2 Auto Scaling groups: the only module that imports boto3's autoscaling
``metrics``         the prescaler's Prometheus metrics and its /metrics, /healthz, /readyz server
==================  ===================================================================================

The capacity decision itself is :func:`forecaster.scaling.decide`, shared with the replay simulator.
Nothing is imported eagerly here: ``from forecaster.prescaler import Controller`` loads the loop on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Controller",
    "CrdPolicySource",
    "FilePolicySource",
    "LeaderElector",
    "StoreForecastProvider",
    "ForecastResult",
    "Outcome",
]

_WHERE = {
    "Controller": "loop",
    "CrdPolicySource": "policy_sources",
    "FilePolicySource": "policy_sources",
    "LeaderElector": "leader",
    "StoreForecastProvider": "forecasts",
    "ForecastResult": "forecasts",
    "Outcome": "status",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"forecaster.prescaler.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'forecaster.prescaler' has no attribute {name!r}")
