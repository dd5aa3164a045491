"""Compatibility shim: the Kubernetes wrapper moved to :mod:`forecaster.prescaler.kube`."""

from forecaster.prescaler.kube import *  # noqa: F403
from forecaster.prescaler.kube import __all__  # noqa: F401
