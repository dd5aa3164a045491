"""``Forecaster``: a trained LSTM with everything needed to use it, saved as safetensors + a JSON manifest.

This is the Predictor the rest of the system uses (``Forecaster.load(path).predict(history)``). Loading
never unpickles anything: the weights are a safetensors file and every other fact (architecture, scaler,
step, horizon, quantiles, training range, metrics) is JSON. Loading checks the manifest against the
weights (format, checksum, tensor shapes) and refuses a mismatched or damaged artifact with a clear message.
Training lives in :mod:`forecaster.training`; the store that versions and promotes models in
:mod:`forecaster.store`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from forecaster import __version__
from forecaster.errors import DataError, ModelStoreError
from forecaster.nn import QuantileLSTM
from forecaster.predictors import HoltWinters, future_index, quantile_label
from forecaster.series import format_duration, infer_step
from forecaster.windows import Scaler, WindowSpec, make_windows

__all__ = [
    "Forecaster",
    "MANIFEST_FILE",
    "WEIGHTS_FILE",
    "FORMAT",
    "BLEND_MEMBERS",
    "baseline_points",
    "blend_points",
]

MANIFEST_FILE = "manifest.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT = "forecaster.quantile-lstm/1"
BLEND_MEMBERS = ("lstm", "last_value", "seasonal_naive", "holt_winters")
_PAST_FEATURES = 6
_FUTURE_FEATURES = 5


class Forecaster:
    """A trained quantile LSTM for one target. Implements :class:`forecaster.predictors.Predictor`."""

    def __init__(
        self,
        *,
        name: str,
        step: pd.Timedelta,
        spec: WindowSpec,
        scaler: Scaler,
        quantiles: tuple[float, ...],
        network: QuantileLSTM,
        architecture: Mapping[str, Any],
        info: Mapping[str, Any] | None = None,
        blend: Mapping[str, float] | None = None,
        holt_winters: HoltWinters | None = None,
    ) -> None:
        self.name = name
        self.step = step
        self.spec = spec
        self.scaler = scaler
        self.quantiles = tuple(quantiles)
        self.network = network.eval()
        self.architecture = dict(architecture)
        self.info: dict[str, Any] = dict(info or {})
        self.blend: dict[str, float] = dict(blend or {"lstm": 1.0})
        """Weights of the p50 combination (see :func:`blend_points`), fitted on the validation split."""
        self.holt_winters = holt_winters
        """The Holt-Winters blend member (weights and seasonal profile fitted on the training range)."""

    # -- Predictor protocol -------------------------------------------------------------------------------
    @property
    def horizon_steps(self) -> int:
        return self.spec.horizon

    @property
    def lookback_steps(self) -> int:
        """Points of history ``predict`` needs (the lookback, plus a day when daily lags are used)."""
        return self.spec.history_needed

    @property
    def columns(self) -> list[str]:
        return [quantile_label(q) for q in self.quantiles]

    def predict(self, history: pd.Series) -> pd.DataFrame:
        """Forecast the ``horizon_steps`` steps after the last timestamp of ``history``."""
        return self.predict_many(history, origins=None)[0]

    def predict_many(self, history: pd.Series, *, origins: np.ndarray | None) -> list[pd.DataFrame]:
        """Forecasts for several origins of one series in one batch (backtests). ``None``: after the end.

        An origin ``t`` forecasts ``history.iloc[t : t + H]`` from ``history.iloc[:t]`` only.
        """
        values, index = self._check_history(history)
        if origins is None:
            origins = np.array([len(values)])
        out = self._run(values, index, np.asarray(origins, dtype=np.int64))  # [N, H, Q]
        frames = []
        for i, t in enumerate(origins):
            # The steps after the origin's last observed point (t - 1), whatever the history's anchor.
            future = future_index(history.iloc[: int(t)], self.horizon_steps, self.step)
            frames.append(pd.DataFrame(out[i], index=future, columns=self.columns))
        return frames

    def _check_history(self, history: pd.Series) -> tuple[np.ndarray, pd.DatetimeIndex]:
        if not isinstance(history.index, pd.DatetimeIndex):
            raise DataError(
                "history must be indexed by timestamps", hint="pass a pandas Series with a DatetimeIndex"
            )
        need = self.lookback_steps
        if len(history) < need:
            raise DataError(
                f"model {self.name!r} needs {need} points ({format_duration(self.step * need)}) of history, "
                f"got {len(history)}",
                hint="fetch a longer history",
            )
        index = pd.DatetimeIndex(history.index).as_unit("ns")
        step = (
            pd.Timedelta(index.freq) if index.freq is not None else infer_step(index[-min(len(index), 50) :])
        )
        if step != self.step:
            raise DataError(
                f"history step {format_duration(step)} does not match the model's step {format_duration(self.step)}",
                hint="query Prometheus with the step the model was trained on",
            )
        values = history.to_numpy(dtype=float)
        if np.isinf(values).any():
            raise DataError("history contains infinite values")
        if np.isnan(values).any():
            # Masked gaps: carry the last value so an outage does not produce garbage; callers that care
            # (the prescaler) check staleness themselves.
            values = pd.Series(values).ffill().bfill().to_numpy()
        return values, index

    @torch.no_grad()
    def _run(
        self, values: np.ndarray, index: pd.DatetimeIndex, origins: np.ndarray, *, blend: bool = True
    ) -> np.ndarray:
        w = make_windows(
            values,
            index,
            spec=self.spec,
            scaler=self.scaler,
            origins=origins,
            with_target=False,
            step=self.step,
        )
        device = next(self.network.parameters()).device
        out = self.network(
            torch.from_numpy(w.past).to(device),
            torch.from_numpy(w.future).to(device),
            torch.from_numpy(w.level).to(device),
        )  # [N, H, Q]
        pred = out.cpu().numpy().astype(np.float64) * w.scale[:, None, None]  # [N, H, Q]
        if blend and self.blend.get("lstm", 1.0) != 1.0:
            members = baseline_points(
                values,
                origins,
                horizon=self.spec.horizon,
                season=self.spec.season,
                index=index,
                holt_winters=self.holt_winters if self.blend.get("holt_winters") else None,
            )
            members["lstm"] = pred[..., self.quantiles.index(0.5)]
            # Shift every quantile by the same amount: the band keeps the LSTM's width around the blend.
            pred = pred + (blend_points(members, self.blend) - members["lstm"])[..., None]
        if self.scaler.nonnegative:
            pred = np.maximum(pred, 0.0)
        return pred

    # -- persistence ----------------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "package_version": __version__,
            "name": self.name,
            "step_s": self.step.total_seconds(),
            "horizon_steps": self.spec.horizon,
            "lookback_steps": self.spec.lookback,
            "season_steps": self.spec.season,
            "quantiles": list(self.quantiles),
            "architecture": self.architecture,
            "scaler": self.scaler.to_dict(),
            "blend": self.blend,
            "holt_winters": self.holt_winters.to_state() if self.holt_winters is not None else None,
            **self.info,
        }

    def to_bytes(self) -> dict[str, bytes]:
        """The artifact's files: ``{"manifest.json": ..., "weights.safetensors": ...}``."""
        state = {k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}
        weights = save_safetensors(state, metadata={"format": FORMAT})
        manifest = self.manifest()
        manifest["weights"] = {"file": WEIGHTS_FILE, "sha256": hashlib.sha256(weights).hexdigest()}
        return {MANIFEST_FILE: json.dumps(manifest, indent=2, sort_keys=True).encode(), WEIGHTS_FILE: weights}

    def save(self, path: str | Path) -> Path:
        """Write the artifact to directory ``path`` atomically (a temporary directory, then a rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and any(target.iterdir()):
            raise ModelStoreError(f"{target} already exists and is not empty", hint="choose a new directory")
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        for name, data in self.to_bytes().items():
            (tmp / name).write_bytes(data)
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
        return target

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """Load a model directory written by :meth:`save` (or by the model store)."""
        p = Path(path)
        try:
            files = {
                MANIFEST_FILE: (p / MANIFEST_FILE).read_bytes(),
                WEIGHTS_FILE: (p / WEIGHTS_FILE).read_bytes(),
            }
        except FileNotFoundError as exc:
            raise ModelStoreError(
                f"{p} is not a model directory: {Path(exc.filename).name} is missing",
                hint="point at a directory written by 'forecaster train'",
            ) from exc
        return cls.from_bytes(files, where=str(p))

    @classmethod
    def from_bytes(cls, files: Mapping[str, bytes], *, where: str = "model") -> Forecaster:
        try:
            manifest = json.loads(files[MANIFEST_FILE])
        except (KeyError, ValueError) as exc:
            raise ModelStoreError(
                f"{where}: manifest.json is missing or not valid JSON", hint="retrain the model"
            ) from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else None
            raise ModelStoreError(
                f"{where}: unsupported model format {found!r} (this version reads {FORMAT!r})",
                hint="retrain the model with this version of forecaster",
            )
        weights = files.get(WEIGHTS_FILE)
        if weights is None:
            raise ModelStoreError(f"{where}: {WEIGHTS_FILE} is missing", hint="retrain the model")
        expected = (manifest.get("weights") or {}).get("sha256")
        if expected != hashlib.sha256(weights).hexdigest():
            raise ModelStoreError(
                f"{where}: {WEIGHTS_FILE} does not match the checksum in the manifest (damaged or replaced)",
                hint="restore the artifact or retrain",
            )
        try:
            arch = manifest["architecture"]
            spec = WindowSpec(
                lookback=int(manifest["lookback_steps"]),
                horizon=int(manifest["horizon_steps"]),
                season=int(manifest["season_steps"]),
            )
            scaler = Scaler(**manifest["scaler"])
            quantiles = tuple(float(q) for q in manifest["quantiles"])
            step = pd.Timedelta(seconds=float(manifest["step_s"]))
            network = cls.build_network(spec=spec, n_quantiles=len(quantiles), architecture=arch)
            blend = _check_blend(manifest.get("blend"), where=where)
            hw_state = manifest.get("holt_winters")
            holt_winters = (
                HoltWinters.from_state(hw_state, step=step, horizon_steps=spec.horizon) if hw_state else None
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelStoreError(
                f"{where}: manifest is incomplete ({exc})", hint="retrain the model"
            ) from exc
        if blend.get("holt_winters") and holt_winters is None:
            raise ModelStoreError(
                f"{where}: the blend uses Holt-Winters but the manifest has no Holt-Winters state",
                hint="retrain the model",
            )
        try:
            state = load_safetensors(weights)
            network.load_state_dict(state, strict=True)
        except (RuntimeError, ValueError) as exc:
            raise ModelStoreError(
                f"{where}: weights do not fit the architecture in the manifest ({str(exc).splitlines()[0]})",
                hint="the manifest and weights come from different models; retrain",
            ) from exc
        info = {
            k: v
            for k, v in manifest.items()
            if k
            not in {
                "format",
                "name",
                "step_s",
                "horizon_steps",
                "lookback_steps",
                "season_steps",
                "quantiles",
                "architecture",
                "scaler",
                "weights",
                "package_version",
                "blend",
                "holt_winters",
            }
        }
        return cls(
            name=str(manifest.get("name", "model")),
            step=step,
            spec=spec,
            scaler=scaler,
            quantiles=quantiles,
            network=network,
            architecture=arch,
            info=info,
            blend=blend,
            holt_winters=holt_winters,
        )

    @staticmethod
    def build_network(*, spec: WindowSpec, n_quantiles: int, architecture: Mapping[str, Any]) -> QuantileLSTM:
        return QuantileLSTM(
            past_features=_PAST_FEATURES,
            future_features=_FUTURE_FEATURES,
            horizon=spec.horizon,
            n_quantiles=n_quantiles,
            hidden_size=int(architecture["hidden_size"]),
            num_layers=int(architecture["num_layers"]),
            dropout=float(architecture.get("dropout", 0.0)),
        )


def baseline_points(
    values: np.ndarray,
    origins: np.ndarray,
    *,
    horizon: int,
    season: int,
    index: pd.DatetimeIndex | None = None,
    holt_winters: HoltWinters | None = None,
) -> dict[str, np.ndarray]:
    """Point forecasts ``[N, H]`` of the baseline blend members for each origin (data before it only).

    Holt-Winters is computed only when given (it costs a pass over a few days of history per origin).
    """
    last = values[origins - 1]  # [N]
    out = {"last_value": np.repeat(last[:, None], horizon, axis=1)}
    if season:
        idx = origins[:, None] + np.arange(horizon)[None, :] - season  # [N, H]
        idx = np.where(idx >= origins[:, None], idx - season, idx)
        out["seasonal_naive"] = values[idx]
    else:
        out["seasonal_naive"] = out["last_value"]
    if holt_winters is not None and index is not None:
        need = holt_winters.min_history
        out["holt_winters"] = np.stack(
            [
                holt_winters._point_at(values[max(0, t - 2 * need) : t], index[t - 1])
                if t >= need
                else np.repeat(values[t - 1], horizon)
                for t in origins
            ]
        )
    return out


def blend_points(members: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The weighted p50: ``sum(weight * member)`` over the members named in ``weights``."""
    return sum(float(w) * members[name] for name, w in weights.items() if w)  # type: ignore[return-value]


def _check_blend(raw: Any, *, where: str) -> dict[str, float]:
    if raw is None:
        return {"lstm": 1.0}
    if (
        not isinstance(raw, dict)
        or set(raw) - set(BLEND_MEMBERS)
        or any(not isinstance(v, int | float) or v < 0 for v in raw.values())
        or abs(sum(raw.values()) - 1.0) > 1e-6
    ):
        raise ModelStoreError(f"{where}: manifest blend {raw!r} is invalid", hint="retrain the model")
    return {k: float(v) for k, v in raw.items()}
