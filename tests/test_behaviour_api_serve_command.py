"""``forecaster serve``: where it listens and what it serves by default, and how the file, the environment and the
flags override each other on the way to uvicorn.

Through ``forecaster.cli.main`` with uvicorn's ``run`` and the app factory replaced by recorders (nothing
listens); the environment is emptied of ``FORECASTER_SERVE_*`` first.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from forecaster.api.settings import ENV_PREFIX, load_serve_settings
from forecaster.cli import main


@pytest.fixture
def served(monkeypatch) -> dict[str, Any]:
    import prometheus_client
    import uvicorn

    import forecaster.api.app

    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    seen: dict[str, Any] = {}

    def run(app: Any, **kw: Any) -> None:
        seen["app"], seen["uvicorn"] = app, kw

    def create_app(settings: Any) -> str:
        seen["settings"] = settings
        return "the app"

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setattr(forecaster.api.app, "create_app", create_app)
    # Process-wide and irreversible: keep it out of the test process.
    monkeypatch.setattr(
        prometheus_client, "disable_created_metrics", lambda: seen.setdefault("no_created", 1)
    )
    return seen


def test_by_default_the_service_listens_on_loopback_only_and_serves_the_demo(served):
    assert main(["serve"]) == 0
    assert served["app"] == "the app"
    assert served["uvicorn"]["host"] == "127.0.0.1", (
        "outside a container nothing beyond this machine may call"
    )
    assert served["uvicorn"]["port"] == 8080
    assert served["settings"].targets_dir is None and served["settings"].store is None
    kw = served["uvicorn"]
    assert kw["server_header"] is False and kw["access_log"] is False and kw["log_level"] == "info"
    assert kw["proxy_headers"] is False, "X-Forwarded-* from any caller must not be trusted"
    assert load_serve_settings(environ={}).host == "127.0.0.1"


def test_the_container_listens_everywhere_through_its_environment(served, monkeypatch):
    monkeypatch.setenv(ENV_PREFIX + "HOST", "0.0.0.0")
    monkeypatch.setenv(ENV_PREFIX + "PORT", "9000")
    assert main(["serve"]) == 0
    assert (served["uvicorn"]["host"], served["uvicorn"]["port"]) == ("0.0.0.0", 9000)


def test_flags_win_over_the_environment_which_wins_over_the_file(served, monkeypatch, tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text("host: 10.0.0.1\nport: 7000\nlog_level: warning\naccess_log: true\n")
    monkeypatch.setenv(ENV_PREFIX + "PORT", "7100")
    assert main(["serve", "--config", str(config)]) == 0
    kw = served["uvicorn"]
    assert (kw["host"], kw["port"], kw["log_level"], kw["access_log"]) == ("10.0.0.1", 7100, "warning", True)
    store = tmp_path / "models"
    assert (
        main(
            ["serve", "--config", str(config), "--host", "127.0.0.2", "--port", "7200", "--store", str(store)]
        )
        == 0
    )
    assert (served["uvicorn"]["host"], served["uvicorn"]["port"]) == ("127.0.0.2", 7200)
    assert served["settings"].store == str(store)


def test_a_targets_directory_is_served_without_the_created_twin_of_every_counter(served, tmp_path):
    import shutil
    from pathlib import Path

    targets = tmp_path / "targets"
    targets.mkdir()
    shutil.copy(Path(__file__).parents[1] / "training" / "live-streaming.yaml", targets)
    assert main(["serve", "--targets", str(targets)]) == 0
    assert served["settings"].targets_dir == str(targets) and served["settings"].store is None
    # Each per-target counter would otherwise export a `_created` series too (a third of /metrics at 1,000
    # targets).
    assert served.get("no_created") == 1
