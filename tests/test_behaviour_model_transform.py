"""The value transform a model reads its series in (:mod:`forecaster.model`): a count-like series (requests,
events per interval: non-negative whole numbers) is read through the Anscombe transform, anything else as it
is; the inverse never forecasts below zero for a count, and round-trips every count.
"""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.model import choose_value_transform, from_network_scale, to_network_scale


@pytest.mark.parametrize(
    ("values", "transform"),
    [
        (np.array([0.0, 3.0, 12.0, 7.0, np.nan]), "anscombe"),  # counts, a gap ignored
        (np.array([0.5, 1.25, 2.0]), "none"),  # CPU cores
        (np.array([-2.0, 3.0, 12.0]), "none"),  # whole numbers but negative: not counts
        (np.array([5.0, 5.0, 5.0]), "none"),  # constant: nothing to stabilise
        (np.array([np.nan, np.nan]), "none"),
        (np.r_[np.arange(99.0), 0.5], "anscombe"),  # 99% whole numbers: counts with one odd sample
        (np.r_[np.arange(98.0), 0.5, 1.5], "none"),  # 98%: not counts
    ],
)
def test_a_count_like_series_is_read_through_the_anscombe_transform(values, transform):
    assert choose_value_transform(values) == transform


def test_the_inverse_round_trips_counts_and_never_goes_below_zero():
    counts = np.array([0.0, 1.0, 7.0, 250.0, 1e6])
    np.testing.assert_allclose(from_network_scale(to_network_scale(counts, "anscombe"), "anscombe"), counts)
    # A network output below the transform's range (below 2 sqrt(3/8)) is a forecast of zero, not more.
    np.testing.assert_array_equal(from_network_scale(np.array([-3.0, -0.1, 0.0, 1.0]), "anscombe"), 0.0)
    assert np.isnan(to_network_scale(np.array([np.nan]), "anscombe")).all()
    np.testing.assert_array_equal(to_network_scale(np.array([-1.0, 2.0]), "none"), [-1.0, 2.0])
    np.testing.assert_array_equal(from_network_scale(np.array([-1.0, 2.0]), "none"), [-1.0, 2.0])
