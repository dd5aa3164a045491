"""``forecaster serve``: run the forecast API (FastAPI under uvicorn).

Settings come from ``--config`` (a YAML of :class:`forecaster.api.settings.ServeSettings` fields), then
``FORECASTER_SERVE_*`` environment variables, then ``--host``/``--port``/``--targets``. With no targets it
serves the embedded synthetic demo. uvicorn and FastAPI are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import dataclasses

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve forecasts over HTTP (JSON API, Prometheus /metrics, a page at /)",
        description="Serve cached forecasts for every target in --targets (training/*.yaml), or the synthetic "
        "demo when none is given. Settings: --config FILE, then FORECASTER_SERVE_* environment variables.",
    )
    p.add_argument("--config", metavar="FILE", help="serve settings YAML (see forecaster/api/settings.py)")
    p.add_argument("--host", help="listen address (default 127.0.0.1; 0.0.0.0 in a container)")
    p.add_argument("--port", type=int, help="listen port (default 8080)")
    p.add_argument("--targets", metavar="DIR", help="directory of target YAMLs (default: the embedded demo)")
    p.add_argument(
        "--store", metavar="DIR_OR_URL", help="model store for every target (overrides the configs)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from forecaster.api.app import create_app
    from forecaster.api.settings import load_serve_settings
    from forecaster.errors import ConfigError
    from forecaster.settings import load_target_configs

    settings = load_serve_settings(args.config)
    overrides = {
        name: value
        for name, value in (
            ("host", args.host),
            ("port", args.port),
            ("targets_dir", args.targets),
            ("store", args.store),
        )
        if value is not None
    }
    settings = dataclasses.replace(settings, **overrides)
    # Fail here with one clear line, not inside uvicorn's startup with a traceback.
    if settings.targets_dir is not None and not load_target_configs(settings.targets_dir):
        raise ConfigError(
            f"no target configs (*.yaml) in {settings.targets_dir}",
            hint="point --targets at training/, or leave it out to serve the demo",
        )
    # The service's own process: no `_created` twin of every per-target counter (a third of /metrics at 1,000
    # targets, and Prometheus ignores it in the text format anyway).
    import prometheus_client

    prometheus_client.disable_created_metrics()
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        # Our own handlers answer errors; uvicorn must not add a Server header or print the app's internals.
        server_header=False,
        proxy_headers=False,
    )
    return 0
