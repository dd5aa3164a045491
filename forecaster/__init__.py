"""forecaster: capacity forecasting and pre-scaling for Kubernetes.

Public API: ``Forecaster`` (a trained LSTM: ``Forecaster.load(path).predict(history)``), the baselines and
the model store. Importing the package does nothing else: no settings read, no client built, no model loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Forecaster", "ModelStore", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.model import Forecaster
    from forecaster.store import ModelStore


def __getattr__(name: str) -> Any:
    # Lazy: torch is imported only when the model is actually used.
    if name == "Forecaster":
        from forecaster.model import Forecaster

        return Forecaster
    if name == "ModelStore":
        from forecaster.store import ModelStore

        return ModelStore
    raise AttributeError(f"module 'forecaster' has no attribute {name!r}")
