"""Which of a target's quantiles a request asks for: one parser for the query string and the JSON body.

``GET /v1/targets/{target}/forecast?quantiles=p50,p90`` and ``POST /v1/forecast {"quantiles": [...]}`` both
come here, so both accept the same labels, refuse the same ones with the same message, and answer in the
same (canonical) order. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from forecaster.api.handlers import RequestFieldError
from forecaster.errors import DataError
from forecaster.predictors import parse_quantile_label, quantile_label

__all__ = ["select_quantiles"]


def select_quantiles(
    asked: str | Sequence[str] | None, available: Sequence[str], *, location: Literal["query", "body"]
) -> tuple[str, ...]:
    """The ``available`` labels that ``asked`` names (``p90``, ``P90``, ``p90.0``...), in ``available``'s order.

    ``asked`` is the query's comma-separated text or the body's list; None or empty asks for all. Errors are
    :class:`RequestFieldError` (422) naming ``quantiles`` in a query and ``quantiles.<i>`` in a body.
    """
    labels = asked.split(",") if isinstance(asked, str) else list(asked or ())
    labels = [label.strip() for label in labels if label.strip()]
    if not labels:
        return tuple(available)

    def field(i: int) -> str:
        return f"quantiles.{i}" if location == "body" else "quantiles"

    if len(labels) > len(available):
        raise RequestFieldError(
            location, "quantiles", f"at most {len(available)} quantiles: {', '.join(available)}"
        )
    chosen: set[str] = set()
    for i, label in enumerate(labels):
        try:
            normal = quantile_label(parse_quantile_label(label))
        except DataError as exc:
            raise RequestFieldError(location, field(i), exc.problem) from None
        if normal not in available:
            raise RequestFieldError(
                location,
                field(i),
                f"{label!r} is not forecast for this target; available: {', '.join(available)}",
            )
        chosen.add(normal)
    # Canonical order, so p90,p50 and p50,p90 share one cached body and ETag.
    return tuple(q for q in available if q in chosen)
