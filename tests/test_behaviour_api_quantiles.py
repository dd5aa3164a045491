"""Which quantiles a request gets (:func:`forecaster.api.quantiles.select_quantiles`): naming every quantile a
target forecasts, in any order or case, is answered with all of them in canonical order, not refused as too many.
"""

from __future__ import annotations

import pytest

from forecaster.api.quantiles import select_quantiles

AVAILABLE = ("p10", "p50", "p90")


@pytest.mark.parametrize(
    ("asked", "location"),
    [("p10,p50,p90", "query"), (["p90", "p10", "p50"], "body"), ("P90, p10 ,p50", "query")],
)
def test_asking_for_every_quantile_by_name_is_answered(asked, location):
    assert select_quantiles(asked, AVAILABLE, location=location) == AVAILABLE
