"""Compatibility shim: the controller moved to :mod:`forecaster.prescaler` (split by activity).

Kept only so code written against the old path (tests on other branches) keeps importing; new code imports
from :mod:`forecaster.prescaler.loop` and its sibling modules.
"""

from forecaster.prescaler.actuators import ORIGINAL_FLOOR_ANNOTATION, OWNER_ANNOTATION
from forecaster.prescaler.forecasts import ForecastProvider, ForecastResult, StoreForecastProvider
from forecaster.prescaler.leader import LeaderElector
from forecaster.prescaler.loop import Controller, utcnow
from forecaster.prescaler.policy_sources import FINALIZER, CrdPolicySource, FilePolicySource, PolicySource
from forecaster.prescaler.status import Outcome

__all__ = [
    "FINALIZER",
    "ORIGINAL_FLOOR_ANNOTATION",
    "OWNER_ANNOTATION",
    "ForecastResult",
    "ForecastProvider",
    "StoreForecastProvider",
    "PolicySource",
    "CrdPolicySource",
    "FilePolicySource",
    "LeaderElector",
    "Controller",
    "Outcome",
    "utcnow",
]
