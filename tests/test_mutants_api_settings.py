"""The forecast service's refresher settings, found unpinned by mutation testing (bench/mutation.py api-settings).

``refresher`` is ``local`` or ``elected``; an elected refresher needs the shared ``snapshot_path`` it writes; the
Lease duration must be positive. Each refusal names the source, the field and what to do; each accepted
combination loads as given (table-driven, no server).
"""

from __future__ import annotations

import pytest

from forecaster.api.settings import load_serve_settings
from forecaster.errors import ConfigError

SNAPSHOT_HINT = "a file on a volume every replica mounts, e.g. /var/lib/forecaster/models/.snapshots/api.json"


def _env(**values: str) -> dict[str, str]:
    return {f"FORECASTER_SERVE_{k.upper()}": v for k, v in values.items()}


@pytest.mark.parametrize(
    ("description", "values", "problem", "hint"),
    [
        (
            "an unknown refresher",
            {"refresher": "leader"},
            "serve settings: refresher is 'leader'",
            "local or elected",
        ),
        (
            "the refresher's name is exact",
            {"refresher": "ELECTED", "snapshot_path": "/shared/api.json"},
            "serve settings: refresher is 'ELECTED'",
            "local or elected",
        ),
        (
            "elected without a snapshot path",
            {"refresher": "elected"},
            "serve settings: refresher elected needs snapshot_path",
            SNAPSHOT_HINT,
        ),
        (
            "elected with an empty snapshot path",
            {"refresher": "elected", "snapshot_path": ""},
            "serve settings: refresher elected needs snapshot_path",
            SNAPSHOT_HINT,
        ),
        (
            "a zero lease",
            {"lease_duration_s": "0"},
            "serve settings: lease_duration_s must be positive",
            None,
        ),
        (
            "a negative lease",
            {"lease_duration_s": "-5"},
            "serve settings: lease_duration_s must be positive",
            None,
        ),
    ],
)
def test_bad_refresher_settings_are_refused_by_name(description, values, problem, hint):
    with pytest.raises(ConfigError) as err:
        load_serve_settings(environ=_env(**values))
    assert (err.value.problem, err.value.hint) == (problem, hint), description


@pytest.mark.parametrize(
    ("description", "values", "expected"),
    [
        ("the default: local", {}, ("local", None, 15.0)),
        ("local needs no snapshot", {"refresher": "local"}, ("local", None, 15.0)),
        (
            "elected with its snapshot and a short lease",
            {"refresher": "elected", "snapshot_path": "/shared/api.json", "lease_duration_s": "0.5"},
            ("elected", "/shared/api.json", 0.5),
        ),
        ("a one-second lease", {"lease_duration_s": "1"}, ("local", None, 1.0)),
    ],
)
def test_good_refresher_settings_load_as_given(description, values, expected):
    s = load_serve_settings(environ=_env(**values))
    assert (s.refresher, s.snapshot_path, s.lease_duration_s) == expected, description


def test_one_refresh_worker_is_enough_and_none_is_refused():
    assert load_serve_settings(environ=_env(refresh_workers="1")).refresh_workers == 1
    with pytest.raises(ConfigError) as err:
        load_serve_settings(environ=_env(refresh_workers="0"))
    assert "refresh_workers must be >= 1, got 0" in str(err.value.problem)
