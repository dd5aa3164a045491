"""Compatibility shim: the PrescalePolicy parser moved to :mod:`forecaster.prescaler.policy`."""

from forecaster.prescaler.policy import *  # noqa: F403
from forecaster.prescaler.policy import __all__  # noqa: F401
