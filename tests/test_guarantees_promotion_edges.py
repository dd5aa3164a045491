"""Promotion when the current model cannot be used: what the verdict and the CronJob's log say.

A damaged pointer or a current version whose files are gone must neither stop the training job nor pass
silently: the verdict carries the reason, a warning names the target and the problem, and the new model is
judged against the baselines alone. One-second training budget, as in tests/test_guarantees_promotion_rules.py.
"""

from __future__ import annotations

import logging

import pandas as pd
import pytest
import torch

from forecaster.promotion import train_target
from forecaster.store import ModelStore
from forecaster.training import fit_forecaster
from tests.helpers import daily_sine
from tests.test_guarantees_promotion_rules import CFG, FAST, NOW, _drifting


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "forecaster.promotion" and r.levelno == logging.WARNING
    ]


def test_a_damaged_pointer_is_logged_with_the_target_and_the_problem(tmp_path, caplog):
    store = ModelStore(tmp_path)
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "current.json").write_text("garbage")

    with caplog.at_level(logging.WARNING, logger="forecaster.promotion"):
        result = train_target(CFG, _drifting(), store=store, now=NOW)

    [warning] = _warnings(caplog)
    assert warning.startswith("target svc: ") and warning.endswith("; treating it as absent")
    problem = warning.removeprefix("target svc: ").removesuffix("; treating it as absent")
    assert problem and f"this promotion replaces it: {problem})" in result.reason


def test_a_current_model_whose_files_are_gone_is_reported_and_replaced(tmp_path, caplog):
    store = ModelStore(tmp_path)
    old = store.save(
        "svc", fit_forecaster(daily_sine(days=3), model=CFG.model, train=FAST, name="svc"), now=NOW
    )
    store.promote("svc", old.version, reason="seeded", now=NOW)
    (tmp_path / "svc" / "versions" / old.version / "weights.safetensors").unlink()
    store = ModelStore(tmp_path)  # the next CronJob run: nothing cached

    with caplog.at_level(logging.WARNING, logger="forecaster.promotion"):
        result = train_target(CFG, _drifting(), store=store, now=NOW + pd.Timedelta(days=1))

    # Judged against the baselines alone, and the verdict says why the current model was not in the race.
    assert "current" not in result.backtest.scores
    assert " (the current model could not be loaded: " in result.reason
    assert result.reason.endswith(f"/svc/versions/{old.version}: weights.safetensors missing)")
    assert result.promoted is True and store.current("svc").version == result.saved.version
    assert result.previous_version == old.version
    [warning] = _warnings(caplog)
    assert warning.startswith("target svc: ") and "weights.safetensors missing" in warning
