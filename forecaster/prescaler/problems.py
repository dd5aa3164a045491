"""Failures of one policy in one tick, classified by type: a :class:`Problem` becomes a condition, not a crash.

Every error from the edges (:mod:`forecaster.prescaler.kube`, :mod:`forecaster.prescaler.asg`, the policy
parser) is turned into a :class:`Problem` here, by its *type*, never by matching its message text: the reason
shown in the policy's conditions and the ``kind`` label of ``forecaster_prescaler_errors_total``.

This module must not talk to anything.
"""

from __future__ import annotations

from forecaster.errors import ConfigError, ForecasterError
from forecaster.prescaler.asg import AsgError, AsgNotFoundError
from forecaster.prescaler.kube import ConflictError, ForbiddenError, KubeError, NotFoundError

__all__ = ["Problem", "error_kind", "as_problem"]


class Problem(Exception):
    """A policy-level failure: ``reason`` (a condition reason), ``message`` and ``kind`` (a metrics label)."""

    def __init__(self, reason: str, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.reason, self.message, self.kind = reason, message, kind


def error_kind(exc: BaseException) -> str:
    """The ``kind`` label for an error (one of :data:`forecaster.prescaler.metrics.ERROR_KINDS`)."""
    if isinstance(exc, Problem):
        return exc.kind
    if isinstance(exc, ForbiddenError):
        return "forbidden"
    if isinstance(exc, ConflictError):
        return "conflict"
    if isinstance(exc, NotFoundError | AsgNotFoundError):
        return "target_not_found"
    if isinstance(exc, KubeError):
        return "api_temporary" if exc.temporary else "api"
    if isinstance(exc, AsgError):
        return "cloud"
    if isinstance(exc, ConfigError):
        return "invalid_policy"
    return "internal"


def as_problem(exc: ForecasterError, *, target: str = "", doing: str = "") -> Problem:
    """The condition for an error met while ``doing`` something to ``target`` (both only for the message)."""
    kind = error_kind(exc)
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, ForbiddenError):
        return Problem("Forbidden", f"missing permission: {exc.permission} ({exc.problem})", kind=kind)
    if isinstance(exc, ConflictError):
        return Problem("Conflict", str(exc), kind=kind)
    if isinstance(exc, NotFoundError):
        text = f"{target}: {exc.problem}" if target else str(exc)
        return Problem("TargetNotFound", text, kind=kind)
    if isinstance(exc, AsgNotFoundError):
        return Problem("TargetNotFound", str(exc), kind=kind)
    if isinstance(exc, AsgError):
        return Problem("CloudError", str(exc), kind=kind)
    if isinstance(exc, ConfigError):
        return Problem("InvalidPolicy", str(exc), kind=kind)
    prefix = f"cannot {doing}: " if doing else ""
    return Problem("APIError", f"{prefix}{exc}", kind=kind)
