"""The forecast service's settings refuse bad values with the field, the source and what to do, and read booleans,
numbers, lists and 'unset' the same way from YAML and from the environment (table-driven, no server)."""

from __future__ import annotations

import pytest

from forecaster.api.settings import ServeSettings, load_serve_settings
from forecaster.errors import ConfigError

POSITIVE = "tick_s, stale_after_steps, demo_epochs and torch_threads must be positive"
LIMITS = "max_body_bytes must be >= 1024 and max_points >= 10"


def _env(**values: str) -> dict[str, str]:
    return {f"FORECASTER_SERVE_{k.upper()}": v for k, v in values.items()}


def _refusal(**values: str) -> tuple[str, str | None]:
    with pytest.raises(ConfigError) as err:
        load_serve_settings(environ=_env(**values))
    return err.value.problem, err.value.hint


@pytest.mark.parametrize(
    ("values", "problem", "hint"),
    [
        (
            {"demo_train": "maybe"},
            "environment FORECASTER_SERVE_DEMO_TRAIN: demo_train: not a boolean: 'maybe'",
            "see ServeSettings.demo_train",
        ),
        (
            {"port": "abc"},
            "environment FORECASTER_SERVE_PORT: port: invalid literal for int() with base 10: 'abc'",
            "see ServeSettings.port",
        ),
        (
            {"tick_s": "abc"},
            "environment FORECASTER_SERVE_TICK_S: tick_s: could not convert string to float: 'abc'",
            "see ServeSettings.tick_s",
        ),
        ({"port": "0"}, "serve settings: port 0 is not a TCP port", "use 1-65535"),
        ({"port": "65536"}, "serve settings: port 65536 is not a TCP port", "use 1-65535"),
        ({"max_body_bytes": "1023"}, f"serve settings: {LIMITS}", None),
        ({"max_points": "9"}, f"serve settings: {LIMITS}", None),
        ({"tick_s": "0"}, f"serve settings: {POSITIVE}", None),
        ({"stale_after_steps": "0"}, f"serve settings: {POSITIVE}", None),
        ({"demo_epochs": "0"}, f"serve settings: {POSITIVE}", None),
        ({"torch_threads": "0"}, f"serve settings: {POSITIVE}", None),
        (
            {"refresh_delay": "soon"},
            "serve settings: cannot parse duration 'soon'",
            "use forms like '90s', '5m', '1h30m', '28d'",
        ),
        (
            {"default_history": "2d", "max_history": "1d"},
            "serve settings: default_history 2d exceeds max_history 1d",
            None,
        ),
    ],
)
def test_bad_values_name_the_source_the_field_and_what_to_do(values, problem, hint):
    assert _refusal(**values) == (problem, hint)


def test_boundaries_are_accepted():
    s = load_serve_settings(
        environ=_env(
            port="1",
            max_body_bytes="1024",
            max_points="10",
            tick_s="0.01",
            stale_after_steps="1",
            demo_epochs="1",
            torch_threads="1",
            default_history="24h",
            max_history="24h",
        )
    )
    assert (s.port, s.max_body_bytes, s.max_points, s.stale_after_steps, s.demo_epochs) == (1, 1024, 10, 1, 1)
    assert load_serve_settings(environ=_env(port="65535")).port == 65535


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", True),
        ("true", True),
        ("Yes", True),
        (" ON ", True),
        ("0", False),
        ("FALSE", False),
        ("no", False),
        ("Off", False),
    ],
)
def test_booleans_from_the_environment(text, value):
    assert load_serve_settings(environ=_env(demo_train=text, auth_metrics=text)).demo_train is value


@pytest.mark.parametrize("text", ["", "none", "NULL", " None "])
def test_unset_optional_values(text):
    s = load_serve_settings(environ=_env(auth_token_env=text, store=text))
    assert s.auth_token_env is None and s.store is None


def test_lists_numbers_and_strings(tmp_path):
    s = load_serve_settings(
        environ=_env(cors_origins=" https://a.example, ,https://b.example ", tick_s="2.5", store="s3://b/p")
    )
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert s.tick_s == 2.5 and s.store == "s3://b/p"
    path = tmp_path / "serve.yaml"
    path.write_text("cors_origins: [https://c.example, '']\ndemo_train: no\nport: 9000\nstore: null\n")
    from_file = load_serve_settings(path, environ={})
    assert from_file.cors_origins == ("https://c.example",) and from_file.demo_train is False
    assert from_file.port == 9000 and from_file.store is None


@pytest.mark.parametrize(
    ("yaml_text", "problem", "hint"),
    [
        ("port: true\n", "{p}: port: not an integer", "see ServeSettings.port"),
        ("store: [a, b]\n", "{p}: store: expected a single value", "see ServeSettings.store"),
        ("prot: 1\nzz: 2\n", "{p}: unknown key(s) prot, zz", None),
        ("- a\n", "{p}: expected a mapping at the top level", None),
        ("max_history: 1h\ndefault_history: 6h\n", "{p}: default_history 6h exceeds max_history 1h", None),
        ("port: 0\n", "{p}: port 0 is not a TCP port", "use 1-65535"),
    ],
)
def test_bad_files_name_the_file_and_the_field(tmp_path, yaml_text, problem, hint):
    path = tmp_path / "serve.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_serve_settings(path, environ={})
    assert err.value.problem == problem.format(p=path)
    if hint is not None:  # (the unknown-key hint lists every field; checked below)
        assert err.value.hint == hint


def test_unknown_keys_list_the_known_ones(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("prot: 1\n")
    with pytest.raises(ConfigError) as err:
        load_serve_settings(path, environ={})
    assert err.value.hint.startswith("known keys: host, port, targets_dir, store, ")


def test_unreadable_and_invalid_files(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as err:
        load_serve_settings(missing, environ={})
    assert (err.value.problem, err.value.hint) == (
        f"cannot read serve config {missing}: No such file or directory",
        "check the path",
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("port: [\n")
    with pytest.raises(ConfigError) as err:
        load_serve_settings(bad, environ={})
    assert err.value.problem.startswith(f"{bad}: invalid YAML (")


def test_token_files_say_what_to_do(tmp_path):
    with pytest.raises(ConfigError) as err:
        ServeSettings(auth_token_file=str(tmp_path / "missing")).auth_token()
    assert (err.value.problem, err.value.hint) == (
        f"cannot read auth_token_file {tmp_path / 'missing'}: No such file or directory",
        "mount the Secret there, or unset auth_token_file",
    )
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError) as err:
        ServeSettings(auth_token_file=str(tmp_path / "empty")).auth_token()
    assert (err.value.problem, err.value.hint) == (
        f"auth_token_file {tmp_path / 'empty'} is empty",
        "put the token in it",
    )
