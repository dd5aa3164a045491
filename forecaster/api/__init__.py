"""The forecast service: a FastAPI app that serves cached forecasts, Prometheus gauges and a small page.

``create_app`` (in :mod:`forecaster.api.app`) builds the app; ``forecaster serve`` runs it under uvicorn.
Importing this package does nothing: no settings read, no model loaded, no client built.
"""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from forecaster.api.app import create_app

        return create_app
    raise AttributeError(f"module 'forecaster.api' has no attribute {name!r}")
