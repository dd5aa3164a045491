"""``forecaster prescale`` as an operator runs it: flags checked before anything starts (one clear line, exit
2), what ``--once`` reads and returns, and what a run without a cluster can and cannot do.

Through :func:`forecaster.cli.main` against the fake API server; no Prometheus is needed for these paths.
"""

from __future__ import annotations

import json

import pytest
import yaml

from forecaster.cli import main
from tests import prescaler_helpers
from tests.prescaler_helpers import deployment, policy

fake_api = prescaler_helpers.fake_api  # fixture


@pytest.fixture
def no_cluster(monkeypatch, tmp_path):
    """No in-cluster config and no default kubeconfig."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))


def _policies(tmp_path, *objs):
    path = tmp_path / "policies.yaml"
    path.write_text(yaml.safe_dump_all(list(objs)))
    return str(path)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--interval", "often"], "cannot parse duration 'often'"),
        (["--lease-duration", "x"], "cannot parse duration 'x'"),
        (["--renew-period", "15s"], "--renew-period (15s) must be shorter than --lease-duration (15s)"),
        (["--forecast-deadline", "soon"], "cannot parse duration 'soon'"),
        (["--status-refresh", "x"], "cannot parse duration 'x'"),
        (["--forecast-workers", "0"], "workers must be at least 1"),
        (["--reconcile-workers", "0"], "workers must be at least 1"),
    ],
)
def test_bad_flags_are_one_clear_line_and_exit_2(fake_api, tmp_path, capsys, flags, says):
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig")
    code = main(["prescale", "--kubeconfig", str(kubeconfig), "--once", *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert says in err
    assert fake_api.writes() == []


def test_once_with_nothing_to_do_exits_0_and_reads_only_its_namespace(fake_api, tmp_path, capsys):
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig")
    code = main(
        [
            "prescale",
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            "shop",
            "--once",
            "--status-refresh",
            "0",
        ]
    )
    assert code == 0 and capsys.readouterr().out == ""
    lists = fake_api.requests_matching(verb="list", resource="prescalepolicies")
    assert [r.namespace for r in lists] == ["shop"]
    assert fake_api.writes() == []  # --once does not elect a leader


def test_once_exits_1_when_a_policy_is_not_ready_and_prints_each_outcome(fake_api, tmp_path, capsys):
    fake_api.put(deployment(replicas=3))
    fake_api.put(policy("bad", capacityPerReplica=0))
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig")
    code = main(["prescale", "--kubeconfig", str(kubeconfig), "--once"])
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert line["key"] == "live/bad" and line["ready"] is False and line["reason"] == "InvalidPolicy"
    status = fake_api.get("prescalepolicies", "live", "bad")["status"]
    assert {c["type"]: c["reason"] for c in status["conditions"]}["Ready"] == "InvalidPolicy"


def test_without_a_cluster_policy_files_still_run(no_cluster, tmp_path, capsys):
    path = _policies(tmp_path, policy("bad", capacityPerReplica=0))
    code = main(["prescale", "--policies", path, "--once"])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert lines[0]["key"] == "live/bad" and lines[0]["reason"] == "InvalidPolicy"
    assert (
        lines[1]["policy"] == "live/bad" and lines[1]["status"]["conditions"][0]["reason"] == "InvalidPolicy"
    )


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        ([], "cannot load kubeconfig"),  # nothing to read policies from
        (["--policies", "{p}", "--targets-from-cluster"], "--targets-from-cluster needs a cluster"),
        (["--policies", "{p}", "--leader-elect"], "--leader-elect needs a cluster"),
    ],
)
def test_what_needs_a_cluster_says_so(no_cluster, tmp_path, capsys, flags, says):
    path = _policies(tmp_path, policy())
    code = main(["prescale", "--once", *[f.format(p=path) for f in flags]])
    assert code == 2 and says in capsys.readouterr().err


def test_a_missing_kubeconfig_named_on_the_command_line_is_an_error(tmp_path, capsys):
    code = main(["prescale", "--kubeconfig", str(tmp_path / "missing"), "--once"])
    assert code == 2 and "kubeconfig" in capsys.readouterr().err


@pytest.mark.parametrize("once", [["--once"], []])
def test_a_missing_or_empty_policy_file_is_an_error_before_anything_runs(no_cluster, tmp_path, capsys, once):
    code = main(["prescale", "--policies", str(tmp_path / "missing.yaml"), "--metrics-port", "0", *once])
    assert code == 2 and "cannot read policies" in capsys.readouterr().err
    (tmp_path / "empty.yaml").write_text("")
    code = main(["prescale", "--policies", str(tmp_path / "empty.yaml"), "--metrics-port", "0", *once])
    assert code == 2 and "no PrescalePolicy in the file" in capsys.readouterr().err
