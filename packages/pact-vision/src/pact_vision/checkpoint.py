"""Checkpoints: atomic writes, model configuration, and dense-to-adaptive loading.

A checkpoint is a ``torch.save``'d dict of tensors and plain Python values, loadable
with ``weights_only=True``. It holds a header (:func:`pact_core.runs.checkpoint_header`:
kind ``pact-vision``, format version, the training config and the input shape of the
data it was trained on), ``"model"`` (a state dict) and ``"model_config"`` (the keyword
arguments that rebuild the model). Checkpoints written by pact 0.1 have no header; they
still load for evaluation and ``--init``, with their channel count checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from torch import Tensor

from pact_core import HaltingSettings, parse_method, runs
from pact_core.runs import RunError, save_atomic
from pact_vision.models import AdaptiveResNet

__all__ = [
    "CHECKPOINT_KIND",
    "CHECKPOINT_VERSIONS",
    "CheckpointError",
    "build_model",
    "load_backbone",
    "load_checkpoint",
    "model_config",
    "run_config",
    "save_checkpoint",
]


#: What pact-vision checkpoints say they are, and the format versions this code reads.
CHECKPOINT_KIND = "pact-vision"
CHECKPOINT_VERSIONS = (2,)


class CheckpointError(RunError):
    """A checkpoint is missing, unreadable or does not fit the model or data; one line."""


def save_checkpoint(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (:func:`pact_core.runs.save_atomic`).

    A reader never sees a half-written file, even if the writer is killed.
    """
    save_atomic(dict(payload), path)


def load_checkpoint(
    path: str | Path,
    *,
    data_shape: Sequence[int] | None = None,
    data_name: str | None = None,
) -> dict[str, Any]:
    """Load a checkpoint onto the CPU, and check that it fits the data.

    Args:
        path: The file.
        data_shape: ``[C, H, W]`` of the images it is about to see, if known.
        data_name: The data set's name, for the message.

    Raises:
        CheckpointError: If the file is missing, unreadable, of another kind (a pact-seq
            checkpoint) or version, or trained on images of another shape.
    """
    try:
        payload = runs.load_checkpoint(path, kind=CHECKPOINT_KIND, versions=CHECKPOINT_VERSIONS)
    except (FileNotFoundError, ValueError) as error:
        raise CheckpointError(str(error)) from None
    if "model" not in payload or "model_config" not in payload:
        raise CheckpointError(f"{path} is not a pact-vision checkpoint (no model/model_config)")
    if data_shape is not None:
        trained = payload.get("input_shape")
        got = [int(s) for s in data_shape]
        channels = payload["model_config"].get("in_channels")
        if (trained is not None and list(trained) != got) or (
            trained is None and channels is not None and channels != got[0]
        ):
            shape = "x".join(map(str, trained)) if trained else f"{channels}-channel"
            name = f" ({data_name})" if data_name else ""
            raise CheckpointError(
                f"{path} was trained on {shape} images; these data{name} are "
                f"{'x'.join(map(str, got))}"
            )
    return payload


def run_config(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The training config a checkpoint holds (``{}`` if none)."""
    config = payload.get("config", payload.get("train_config", {}))
    return dict(config) if isinstance(config, Mapping) else {}


def model_config(model: AdaptiveResNet) -> dict[str, Any]:
    """The keyword arguments that rebuild ``model`` with :func:`build_model`."""
    return {
        "settings": asdict(model.settings),
        "num_classes": model.num_classes,
        "in_channels": model.in_channels,
        "widths": list(model.widths),
        "group": model.group,
    }


#: The evaluation haltings a pre-engine PACT model could be saved in; its other modes
#: (``dense``, ``act``, ``relaxed``) are method names or aliases (``parse_method``).
#: Their ``model_config`` was flat: ``units_per_block``, ``halting``, ``mode``, the
#: constants. A REINFORCE-trained model was saved in a PACT mode; it evaluates as PACT.
_PRE_ENGINE_PACT_MODES = ("discrete", "thresholded")


def _pre_engine_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`~pact_core.HaltingSettings` fields of a flat pre-engine config."""
    mode = str(config["mode"])
    method = "pact" if mode in _PRE_ENGINE_PACT_MODES else parse_method(mode)
    fields: dict[str, Any] = {
        "method": method if config["halting"] else "fixed",
        "max_iterations": int(config["units_per_block"]),
    }
    for name in ("temperature", "delta", "eps", "threshold"):
        if name in config:
            fields[name] = float(config[name])
    return fields


def build_model(config: Mapping[str, Any]) -> AdaptiveResNet:
    """Rebuild a model from :func:`model_config`'s dict (weights not loaded).

    The flat configs of checkpoints written before the halting engine are read too.
    """
    try:
        widths = tuple(int(w) for w in config["widths"])
        settings = config["settings"] if "settings" in config else _pre_engine_settings(config)
        return AdaptiveResNet(
            HaltingSettings(**settings),
            num_classes=int(config["num_classes"]),
            in_channels=int(config["in_channels"]),
            widths=(widths[0], widths[1], widths[2]),
            group=int(config["group"]),
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise CheckpointError(f"bad model_config in checkpoint: {exc}") from None


def _is_head(key: str) -> bool:
    return ".heads." in key


def load_backbone(model: AdaptiveResNet, state_dict: Mapping[str, Tensor]) -> list[str]:
    """Load every weight but the halting heads, which keep their new initialisation.

    This is how a pretrained dense ResNet starts a PSACT or SACT model (PACT
    supplement B): the heads start at bias -3 whether or not the checkpoint has heads.

    Returns:
        The head parameter names left as they were.

    Raises:
        CheckpointError: If a non-head weight is missing, unexpected or mis-shaped.
    """
    backbone = {k: v for k, v in state_dict.items() if not _is_head(k)}
    own = model.state_dict()
    missing = sorted(k for k in own if not _is_head(k) and k not in backbone)
    unexpected = sorted(k for k in backbone if k not in own)
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(f"checkpoint does not fit the model: {detail}")
    for key, value in backbone.items():
        if own[key].shape != value.shape:
            raise CheckpointError(
                f"checkpoint does not fit the model: {key} has shape {tuple(value.shape)}, "
                f"expected {tuple(own[key].shape)}"
            )
    model.load_state_dict(backbone, strict=False)
    return sorted(k for k in own if _is_head(k))
