"""Error types shared by the whole package.

Every error says what was wrong and what to do about it; the CLI prints ``str(err)`` as one line and exits
non-zero. Nothing here does I/O.
"""

from __future__ import annotations

__all__ = [
    "ForecasterError",
    "DataError",
    "ConfigError",
    "SourceError",
    "ModelStoreError",
    "NonFiniteForecastError",
]


class ForecasterError(Exception):
    """Base class: ``problem`` says what went wrong, ``hint`` what the user can do."""

    def __init__(self, problem: str, *, hint: str | None = None) -> None:
        self.problem = problem
        self.hint = hint
        super().__init__(f"{problem} ({hint})" if hint else problem)


class DataError(ForecasterError, ValueError):
    """A series or request body is unusable: malformed, too short, duplicated timestamps, NaN..."""


class ConfigError(ForecasterError, ValueError):
    """A config file, policy or command-line option is invalid."""


class SourceError(ForecasterError):
    """A history source (Prometheus, a file) could not be read, or answered something unusable."""


class ModelStoreError(ForecasterError):
    """A model artifact is missing, damaged or does not match what was asked for."""


class NonFiniteForecastError(DataError):
    """A forecast came out infinite or NaN (history values so large that the arithmetic overflows)."""
