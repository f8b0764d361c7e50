"""The vision half of the comparison: FLOPs, latency and peak memory of dense, SACT, PSACT.

Dense rows run the ``"fixed"`` halting (every unit everywhere), SACT rows ``"act"`` and
PSACT rows ``"thresholded"`` (:data:`pact_core.HALTINGS`); one ResNet with halting heads
runs them all.

Without a trained model, halting is *controlled*: every halting head is set (weights 0,
bias +-20) so that each position runs exactly ``k`` of the ``n`` units of every block,
for SACT and PSACT alike. That isolates what the execution costs at a known active
fraction from what a model learns. With a checkpoint and a data set, the model's own
halting on real test images is measured instead, with its accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from pact_bench.flops import load_vision_model
from pact_bench.halting_maps import set_controlled_halting
from pact_bench.latency import measure_latency
from pact_bench.memory import measure_peak_memory
from pact_bench.results import Row
from pact_core import REPORT_HALTINGS, Halting, Method
from pact_vision import (
    AdaptiveResNet,
    ImageSet,
    evaluate_model,
    load_dataset,
    max_iterations_of,
    resnet,
    standardize,
)

__all__ = [
    "SPARSE_NAME",
    "VisionPreset",
    "read_vision_run",
    "run_vision_comparison",
]

#: What the comparison calls thresholded PSACT under ``execution="sparse"``.
SPARSE_NAME = "psact-sparse"
#: What the comparison calls a model evaluated with each halting.
MODEL_NAMES: dict[Halting, str] = {
    "fixed": "dense",
    "act": "sact",
    "thresholded": "psact",
    "discrete": "psact",
    "relaxed": "psact",
}
#: What the comparison calls a model trained by each method.
METHOD_NAMES: dict[Method, str] = {
    "fixed": "dense",
    "act": "sact",
    "pact": "psact",
    "pact-reinforce": "psact",
}


@dataclass(frozen=True)
class VisionPreset:
    """What the vision half measures.

    Attributes:
        arch: ``resnet<6n+2>``.
        batches: Batch sizes for latency and memory.
        units: Units per block each position runs under controlled halting (``1..n``).
        min_run_time: Seconds of timed calls per latency measurement.
        eval_images: Test images for accuracy when a checkpoint is given.
    """

    arch: str
    batches: tuple[int, ...]
    units: tuple[int, ...]
    min_run_time: float
    eval_images: int = 2000


def _timing(model: AdaptiveResNet, images: Tensor, min_run_time: float) -> dict[str, Any]:
    """Row fields of one forward pass: FLOPs per image, latency and peak memory."""
    with torch.no_grad():
        flops = float(model(images).flops.double().mean())

        def forward() -> None:
            model(images)

        memory = measure_peak_memory(forward, images.device)
        latency = measure_latency(forward, min_run_time=min_run_time)
    return {
        "flops": flops,
        "batch": int(images.shape[0]),
        "latency_ms": latency.median_ms,
        "latency_iqr_ms": latency.iqr_s * 1e3,
        "peak_memory_mib": memory.mebibytes,
    }


def _evaluation(
    model: AdaptiveResNet, data: ImageSet, halting: Halting, device: torch.device
) -> dict[str, Any]:
    """Row fields of a test-set evaluation with ``halting``: accuracy, units, FLOPs."""
    result = evaluate_model(model, data, halting, device=device)
    ponder = sum(result.units_per_block) / len(result.units_per_block)
    return {
        "accuracy": result.accuracy,
        "mean_ponder": ponder,
        "flops": result.mean_flops,
        "active_fraction": ponder / model.max_iterations,
    }


def _identity(run: str, model: str, halting: Halting, setting: str, source: str) -> dict[str, Any]:
    """Row fields naming ``model`` (``dense``, ``sact``, ``psact``) run with ``halting``."""
    return {
        "part": "vision",
        "run": f"{run} {model}",
        "model": model,
        "halting": None if halting == "fixed" else halting,
        "setting": setting,
        "source": source,
    }


def run_vision_comparison(
    preset: VisionPreset,
    *,
    device: torch.device,
    seed: int,
    status: Callable[[str], None],
    checkpoint: Path | None = None,
    data: str | None = None,
    data_dir: Path | None = None,
) -> list[Row]:
    """Measure dense, SACT and thresholded PSACT at every batch size of ``preset``.

    PSACT is timed twice: masked (every position computed, as SACT's code does) and
    sparse (``execution="sparse"``: only the tiles with an active position). Model and
    images are channels-last.

    Raises:
        ValueError: On a bad preset, or a checkpoint without ``data``.
        CheckpointError: If the checkpoint is not a pact-vision one, or was trained on
            images of another shape than ``data``'s (one line).
        DataError: If the data set is missing.
    """
    torch.manual_seed(seed)
    if checkpoint is not None:
        if data is None:
            raise ValueError("--vision-checkpoint needs --data (cifar10 or fashion-mnist)")
        return _checkpoint_rows(preset, checkpoint, data, data_dir, device, status)
    n = max_iterations_of(preset.arch)
    model = resnet(n).to(device).eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    generator = torch.Generator(device="cpu").manual_seed(seed)
    rows: list[Row] = []
    settings: list[tuple[Halting, int, str]] = [("fixed", n, "masked")]
    settings += [(halting, k, "masked") for halting in ("act", "thresholded") for k in preset.units]
    settings += [("thresholded", k, "sparse") for k in preset.units]
    total = len(settings) * len(preset.batches)
    done = 0
    for batch in preset.batches:
        images = torch.randn(batch, 3, 32, 32, generator=generator).to(device)
        images = images.contiguous(memory_format=torch.channels_last)
        for halting, units, execution in settings:
            done += 1
            status(
                f"[vision {done}/{total}] {preset.arch} {halting} {execution}, "
                f"{units}/{n} units, batch {batch}"
            )
            model.halting, model.execution = halting, execution
            if halting != "fixed":
                set_controlled_halting(model, units)
            source = "fixed" if halting == "fixed" else "controlled halting"
            name = MODEL_NAMES[halting]
            identity = _identity(preset.arch, name, halting, f"{units}/{n} units", source)
            if execution == "sparse":
                identity.update(run=f"{preset.arch} {SPARSE_NAME}", model=SPARSE_NAME)
            rows.append(
                Row(
                    **identity,
                    **_timing(model, images, preset.min_run_time),
                    active_fraction=units / n,
                )
            )
    return rows


def _checkpoint_rows(
    preset: VisionPreset,
    checkpoint: Path,
    data: str,
    data_dir: Path | None,
    device: torch.device,
    status: Callable[[str], None],
) -> list[Row]:
    load_vision_model(checkpoint)  # a missing or foreign checkpoint: before the data
    test = load_dataset(data, data_dir).test  # type: ignore[arg-type]
    shape = test.images.shape[1:]
    model = load_vision_model(checkpoint, data_shape=shape, data_name=data).to(device)
    subset = ImageSet(test.images[: preset.eval_images], test.labels[: preset.eval_images])
    arch = f"resnet{6 * model.max_iterations + 2}"
    haltings: Sequence[Halting] = ("fixed",)
    if model.settings.has_halting:
        haltings = ("fixed", "act", "thresholded")
    rows = []
    for halting in haltings:
        status(f"[vision] {checkpoint}: evaluating {halting} on {len(subset)} test images")
        evaluation = _evaluation(model, subset, halting, device)
        model.halting = halting
        identity = _identity(checkpoint.name, MODEL_NAMES[halting], halting, arch, "checkpoint")
        for batch in preset.batches:
            images = standardize(subset.images[:batch].to(device))
            timing = _timing(model, images, preset.min_run_time)
            timing["flops"] = evaluation["flops"]  # the test-set mean, not this batch's
            rows.append(Row(**identity, **{**evaluation, **timing}))
    return rows


def read_vision_run(
    directory: Path, data: str | None, data_dir: Path | None, device: torch.device
) -> list[Row]:
    """Evaluate a pact_vision.train run with the haltings its method is reported with.

    Those are :data:`pact_core.REPORT_HALTINGS` of the method the checkpoint's model
    was built for (a SACT run also thresholded, PACT fig. 8).

    Raises:
        ValueError: If ``directory`` holds no checkpoint or ``data`` is missing.
        CheckpointError: If the checkpoint is not a pact-vision one, or was trained on
            images of another shape than ``data``'s (one line).
        DataError: If the data set is missing.
    """
    checkpoint = directory / "checkpoint.pt" if directory.is_dir() else directory
    if not checkpoint.is_file():
        raise ValueError(
            f"{directory} is neither a pact_seq.train run (no summary.json) nor a "
            "pact_vision.train run (no checkpoint.pt)"
        )
    if data is None:
        raise ValueError(f"the vision run {directory} needs --data (cifar10 or fashion-mnist)")
    load_vision_model(checkpoint)  # a missing or foreign checkpoint: before the data
    test = load_dataset(data, data_dir).test  # type: ignore[arg-type]
    shape = test.images.shape[1:]
    model = load_vision_model(checkpoint, data_shape=shape, data_name=data).to(device)
    method = model.settings.method
    arch = f"resnet{6 * model.max_iterations + 2}"
    return [
        Row(
            **_identity(directory.name, METHOD_NAMES[method], halting, arch, "run directory"),
            **_evaluation(model, test, halting, device),
        )
        for halting in REPORT_HALTINGS[method]
    ]
