"""Label selectors and page tokens for ``/v1/targets``: pure parsing, no I/O.

A selector is Kubernetes' equality-based syntax: comma-separated ``key=value``, ``key==value``, ``key!=value``,
``key`` (has the label) and ``!key`` (has not). A page token is the last name of the previous page,
base64url-encoded: targets are listed in name order, so a page never repeats or skips a target that
existed on both requests, however the set changes in between.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping

from forecaster.errors import DataError

__all__ = ["parse_selector", "encode_token", "decode_token", "MAX_SELECTOR_TERMS"]

MAX_SELECTOR_TERMS = 20
"""More terms than any real selector needs; bounds the work one request can ask for."""

_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")

Match = Callable[[Mapping[str, str]], bool]


def parse_selector(text: str) -> Match:
    """A predicate on a label mapping; DataError naming the bad term."""
    terms = [t.strip() for t in text.split(",") if t.strip()]
    if len(terms) > MAX_SELECTOR_TERMS:
        raise DataError(
            f"the selector has {len(terms)} terms, more than {MAX_SELECTOR_TERMS}",
            hint="e.g. team=payments,tier!=batch",
        )
    checks: list[Match] = []
    for term in terms:
        if "!=" in term:
            key, value = (p.strip() for p in term.split("!=", 1))
            _check(term, key, value)
            checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
        elif "=" in term:
            key, value = (p.strip() for p in re.split(r"==?", term, maxsplit=1))
            _check(term, key, value)
            checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif term.startswith("!"):
            key = term[1:].strip()
            _check(term, key, "")
            checks.append(lambda labels, k=key: k not in labels)
        else:
            _check(term, term, "")
            checks.append(lambda labels, k=term: k in labels)
    return lambda labels: all(check(labels) for check in checks)


def _check(term: str, key: str, value: str) -> None:
    if not _KEY.match(key) or len(key) > 317:
        raise DataError(f"{term!r}: {key!r} is not a label key", hint="e.g. team=payments,tier!=batch")
    if not _VALUE.match(value) or len(value) > 63:
        raise DataError(f"{term!r}: {value!r} is not a label value", hint="e.g. team=payments")


def encode_token(last_name: str) -> str:
    return base64.urlsafe_b64encode(last_name.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    """The last name of the previous page; DataError for a token this service did not make."""
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise DataError(
            "not a continue token from this service", hint="pass the continue value of the previous page"
        ) from None
