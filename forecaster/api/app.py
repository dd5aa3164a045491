"""``create_app``: the forecast service's FastAPI app, its lifespan (models loaded, refresher started) and seams.

Everything heavy happens in the lifespan, never at import or in ``create_app``: target configs are read,
models loaded from the store (torch imported), sources built, and the background refresher started. The
seams are keyword arguments with production defaults: ``clock`` (tests pass a fixed one), ``source_factory``
(tests wrap the Prometheus source to count queries), ``model_loader``, ``targets`` and ``registry``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry
from starlette.middleware import Middleware

from forecaster import __version__
from forecaster.api.cache import Clock, ForecastService, ServingModel, Source, TargetState, utc_now
from forecaster.api.demo import DEMO_TARGET, DemoTrainer, SyntheticSource, demo_target, train_demo_model
from forecaster.api.fastpath import CachedForecastFastPath
from forecaster.api.handlers import BodyLimitMiddleware, LatencyMiddleware, install_handlers
from forecaster.api.metrics import ServiceMetrics
from forecaster.api.routes import forecast, health, metrics, page
from forecaster.api.routes import targets as targets_routes
from forecaster.api.settings import ServeSettings, get_settings
from forecaster.errors import ConfigError, ForecasterError
from forecaster.settings import TargetConfig, load_target_configs

__all__ = ["create_app", "StoreModels", "default_source_factory", "SharedConnectionSources"]

log = logging.getLogger(__name__)

SourceFactory = Callable[[TargetConfig], Source]
ModelLoader = Callable[[TargetConfig], ServingModel | None]


def default_source_factory(cfg: TargetConfig, *, pools: Any = None) -> Source:
    """The demo target reads synthetic traffic; every other target its configured PromQL, nothing else.
    ``pools``: the :class:`~forecaster.sources.prometheus.ConnectionPools` the Prometheus source's connections
    come from (None: a pool of its own; the service uses :class:`SharedConnectionSources`, which gives the
    targets of one Prometheus one pool)."""
    if cfg.name == DEMO_TARGET and not cfg.prometheus.query:
        return SyntheticSource(step=cfg.prometheus.step)
    from forecaster.sources.prometheus import PrometheusSource

    if not cfg.prometheus.query:
        raise ConfigError(f"target {cfg.name}: prometheus.query is empty", hint="set the PromQL in its YAML")
    return PrometheusSource(cfg.prometheus, pools=pools)


class SharedConnectionSources:
    """The service's source factory: :func:`default_source_factory`'s sources, with every Prometheus target
    of one server sharing one HTTP connection pool of at most ``pool_size`` kept-alive connections
    (:class:`~forecaster.sources.prometheus.ConnectionPools`, one pool per URL).

    Why: a source's client keeps its connection open between refreshes, and Prometheus serves at most
    ``--web.max-connections`` (512 by default) at once: with a pool per target, the 513th target's first
    query waited for a free connection until it timed out (``timeout_s``, then its retries, then
    ``retry_interval``), and connections only came free when Prometheus closed idle ones (its 5-minute
    read timeout), so a service of 1,000 targets took many minutes to become ready while its CPU idled.
    The refresher runs at most as many queries at once as it has worker threads, so a shared pool of that
    size holds every connection the service needs, whatever the number of targets.
    """

    def __init__(self, *, pool_size: int = 32) -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_size}")
        from forecaster.sources.prometheus import ConnectionPools

        self.pool_size = pool_size
        self.connection_pools = ConnectionPools(pool_maxsize=pool_size)

    def __call__(self, cfg: TargetConfig) -> Source:
        return default_source_factory(cfg, pools=self.connection_pools)

    def pools(self) -> int:
        """How many shared pools exist (one per Prometheus URL)."""
        return len(self.connection_pools)

    def close(self) -> None:
        """Close the pools' kept-alive connections (at the service's shutdown)."""
        self.connection_pools.close()


class StoreModels:
    """Loads each target's promoted model from its store; ``store_override`` replaces every config's store."""

    def __init__(self, store_override: str | None = None) -> None:
        self.store_override = store_override
        self._stores: dict[str, Any] = {}
        self._lock = threading.Lock()

    def root(self, cfg: TargetConfig) -> str:
        return self.store_override or cfg.store

    def _store(self, cfg: TargetConfig) -> Any:
        from forecaster.store import ModelStore

        root = self.root(cfg)
        with self._lock:
            if root not in self._stores:
                self._stores[root] = ModelStore(root)
            return self._stores[root]

    def __call__(self, cfg: TargetConfig) -> ServingModel | None:
        promoted = self._store(cfg).load_for(cfg.name, step=cfg.step, quantiles=cfg.model.quantiles)
        if promoted is None:
            return None
        return ServingModel.from_store(promoted.model, promoted.ref)


def _load_model(cfg: TargetConfig, loader: ModelLoader, *, where: str) -> ServingModel:
    try:
        model = loader(cfg)
    except ForecasterError as exc:
        log.warning("target %s: model unusable: %s", cfg.name, exc)
        return ServingModel.baseline(
            f"the stored model is unusable ({exc.problem}); seasonal baseline serves"
        )
    if model is None:
        return ServingModel.baseline(
            f"no trained model in {where}; seasonal baseline serves "
            f"(train one: forecaster train --config training/{cfg.name}.yaml)"
        )
    return model


def _model_refresher(loader: ModelLoader) -> Callable[[TargetState], ServingModel | None]:
    """Re-reads the store's small pointer each refresh so a newly promoted model serves without a restart."""

    def check(state: TargetState) -> ServingModel | None:
        model = loader(state.config)
        if model is not None and model.version != state.model.version:
            log.info("target %s: now serving model %s", state.name, model.version)
            return model
        return None

    return check


def _elector(settings: ServeSettings) -> Any:
    """The Lease elector of ``refresher: elected`` (the prescaler's, through the one Kubernetes wrapper)."""
    import os
    import socket

    from forecaster.prescaler.kube import KubeClient
    from forecaster.prescaler.leader import LeaderElector

    if settings.kubeconfig:
        kube = KubeClient.from_kubeconfig(settings.kubeconfig)
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        kube = KubeClient.in_cluster()
    else:
        raise ConfigError(
            "refresher elected needs a cluster for its Lease", hint="set kubeconfig, or refresher: local"
        )
    namespace = settings.lease_namespace
    if namespace is None:
        try:
            with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as fh:
                namespace = fh.read().strip() or "forecaster"
        except OSError:
            namespace = "forecaster"
    return LeaderElector(
        kube,
        namespace=namespace,
        name=settings.lease_name,
        identity=settings.identity or socket.gethostname(),
        lease_duration_s=settings.lease_duration_s,
    )


def labels_in(directory: str) -> dict[str, dict[str, str]]:
    """``metadata.labels`` of the ForecastTarget manifests in ``directory``, by target name (plain target
    YAML has none). Read once at startup; ``/v1/targets?labelSelector=`` filters on them."""
    from pathlib import Path

    import yaml

    from forecaster.settings import KUSTOMIZATION_FILES

    out: dict[str, dict[str, str]] = {}
    for path in sorted(Path(directory).glob("*.y*ml")):
        if path.name in KUSTOMIZATION_FILES:
            continue
        try:
            # The C loader when libyaml is there: a tenth of the pure-Python one's CPU, which at 1,000 target
            # files was a fifth of the start-up before the first refresh (0.41 of 1.9 CPU s at 300).
            doc = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
        except (OSError, yaml.YAMLError):
            continue  # load_target_configs has already reported a bad file
        if isinstance(doc, dict) and doc.get("kind") == "ForecastTarget":
            meta = doc.get("metadata") or {}
            found = meta.get("labels") or {}
            if isinstance(found, dict):
                out[str(meta.get("name"))] = {str(k): str(v) for k, v in found.items()}
    return out


def create_app(
    settings: ServeSettings | None = None,
    *,
    clock: Clock | None = None,
    source_factory: SourceFactory | None = None,
    model_loader: ModelLoader | None = None,
    targets: list[TargetConfig] | None = None,
    labels: dict[str, dict[str, str]] | None = None,
    registry: CollectorRegistry | None = None,
    elector: Any = None,
) -> FastAPI:
    """Build the app; nothing is loaded until the lifespan starts (uvicorn, or ``TestClient`` as a context)."""
    settings = settings or get_settings()
    clock = clock or utc_now
    service_metrics = ServiceMetrics(registry)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        demo = targets is None and settings.targets_dir is None
        cleanup: str | None = None
        if targets is not None:
            configs = list(targets)
        elif settings.targets_dir is not None:
            configs = list(load_target_configs(settings.targets_dir).values())
            if not configs:
                raise ConfigError(
                    f"no target configs (*.yaml) in {settings.targets_dir}",
                    hint="point targets_dir at training/, or unset it to serve the demo",
                )
        else:
            store = settings.demo_store or settings.store
            if store is None:
                store = cleanup = tempfile.mkdtemp(prefix="forecaster-demo-")
            configs = [demo_target(store=store, epochs=settings.demo_epochs)]
        target_labels = dict(labels or {})
        if targets is None and settings.targets_dir is not None:
            target_labels = labels_in(settings.targets_dir)
        loader = model_loader or StoreModels(settings.store if not demo else None)
        make_source = source_factory or SharedConnectionSources()

        def load_all() -> list[TargetState]:
            if settings.torch_threads:
                import torch

                torch.set_num_threads(settings.torch_threads)
            states = []
            for cfg in configs:
                where = f"the model store {getattr(loader, 'root', lambda c: c.store)(cfg)}"
                model = _load_model(cfg, loader, where=where)
                if demo and model.predictor is None:
                    model = ServingModel.baseline(
                        "the demo model is training; seasonal baseline serves meanwhile"
                        if settings.demo_train
                        else "demo_train is off; seasonal baseline serves"
                    )
                states.append(
                    TargetState(
                        config=cfg,
                        source=make_source(cfg),
                        model=model,
                        labels=dict(target_labels.get(cfg.name) or {}),
                    )
                )
            return states

        states = await asyncio.to_thread(load_all)
        service = ForecastService(
            states,
            clock=clock,
            max_history=settings.max_history_td,
            refresh_delay=settings.refresh_delay_td,
            retry_interval=settings.retry_interval_td,
            stale_after_steps=settings.stale_after_steps,
            metrics=service_metrics,
            model_refresher=_model_refresher(loader),
            refresh_workers=settings.refresh_workers,
        )
        service.models_loaded = True
        service_metrics.attach(service)
        service_metrics.watch_gc()
        frozen = settings.gc_freeze
        if frozen:
            # Every model is loaded: what is alive now lives as long as the service. A full collection
            # would scan it all again (0.1-1 s at 1,000 targets, no request answered meanwhile).
            gc.collect()
            gc.freeze()
        app.state.service = service
        shared = None
        if settings.refresher == "elected":
            from forecaster.api.shared import SharedRefresher, SnapshotFile

            assert settings.snapshot_path is not None  # _validate
            shared = SharedRefresher(
                service,
                elector=elector or await asyncio.to_thread(_elector, settings),
                snapshot=SnapshotFile(settings.snapshot_path),
                metrics=service_metrics,
            )
            app.state.shared_refresher = shared
            loop_task = shared.run(tick_s=settings.tick_s)
        else:
            loop_task = service.run(tick_s=settings.tick_s)
        refresher = asyncio.create_task(loop_task, name="forecast-refresher")

        if demo and settings.demo_train and states[0].model.predictor is None:
            state = states[0]
            loop = asyncio.get_running_loop()
            service.notes[DEMO_TARGET] = "the demo model is training"

            def done(model: ServingModel) -> None:
                def apply() -> None:
                    service.notes.pop(DEMO_TARGET, None)
                    service.set_model(DEMO_TARGET, model)

                loop.call_soon_threadsafe(apply)

            def failed(reason: str) -> None:
                loop.call_soon_threadsafe(service.notes.__setitem__, DEMO_TARGET, reason)

            trainer = DemoTrainer(
                lambda: train_demo_model(
                    state.source,  # type: ignore[arg-type]
                    state.config,
                    now=clock(),
                    torch_threads=settings.torch_threads,
                ),
                on_done=done,
                on_error=failed,
            )
            trainer.start()
            app.state.demo_trainer = trainer
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            service.close()
            service_metrics.unwatch_gc()
            if frozen:
                gc.unfreeze()
            if isinstance(make_source, SharedConnectionSources):
                make_source.close()
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)

    app = FastAPI(
        title="forecaster",
        version=__version__,
        summary="30-minute traffic forecasts with quantiles, for dashboards and capacity planning",
        lifespan=lifespan,
        # FastAPI's OpenTelemetry bridge looks up three global providers on every request (14% of a cached
        # forecast's CPU, measured in-process) to find none configured: the service exports its own
        # Prometheus metrics (api/metrics.py), so the bridge stays off.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.clock = clock
    app.state.metrics = service_metrics
    app.state.settings = settings
    token = settings.auth_token()
    app.state.auth_token = token.encode() if token else None

    install_handlers(app)
    for module in (targets_routes.router, forecast.router, metrics.router, health.router, page.router):
        app.include_router(module)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Age"],
        )
    if settings.cached_fast_path:
        route = next(r for r in targets_routes.router.routes if r.path == "/v1/targets/{target}/forecast")
        # Innermost of ours: CORS, the body limit and the latency histogram see its answers as the route's.
        app.user_middleware.append(Middleware(CachedForecastFastPath, app_state=app.state, route=route))
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(LatencyMiddleware, histogram=service_metrics.request_duration)
    return app
