r"""Train a dense ResNet, SACT or PSACT on CIFAR-10 or Fashion-MNIST.

Usage::

    python -m pact_vision.train --arch resnet32 --method pact --tau 0.01 \\
        --data cifar10 --data-dir data --init runs/dense/checkpoint.pt --out runs/psact

Methods (``--method``, :class:`pact_core.HaltingSettings`): ``fixed`` (a plain dense
ResNet; ``dense`` is accepted too), ``act`` (SACT with ponder cost), ``pact`` (PSACT
trained relaxed, eq. 27; ``relaxed`` is accepted too) and ``pact-reinforce`` (discrete
PSACT with REINFORCE and an EMA baseline, eq. 26). The loss is
:func:`pact_core.adaptive_loss`: cross-entropy plus ``tau * sum_k mean_positions N_k``.
The schedule is the paper's (supplement B): batch 128, SGD with momentum 0.9 and weight
decay 2e-4, learning rate 0.1 divided by 10 at 60%, 75% and 90% of ``--steps``;
REINFORCE uses Adam with learning rate 1e-3 and the same decay. Data stay on the device
as one uint8 tensor and are augmented there a batch at a time.

Data-parallel training runs under ``torchrun`` (NCCL on GPUs, gloo on CPUs); the global
batch is split across processes. Rank 0 shows a progress bar on stderr, appends JSON
lines to ``OUT/log.jsonl`` and writes ``OUT/checkpoint.pt`` atomically; ``--resume``
continues from it (model, optimizer, RNG states and step). Nothing in the step loop
reads a tensor on the host except at ``--log-every`` intervals.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from pact_core import (
    GROUP_SIZES,
    METHOD_ALIASES,
    METHODS,
    EMABaseline,
    HaltingSettings,
    Interval,
    adaptive_loss,
    check_choice,
    parse_method,
)
from pact_core.runs import (
    COUNT,
    LEARNING_RATE,
    NONNEGATIVE,
    WHOLE,
    DivergedError,
    DivergenceGuard,
    JsonlLog,
    OneLineParser,
    ProgressBar,
    UsageError,
    add_halting_arguments,
    changed_settings,
    checkpoint_header,
    halting_fields,
    integer,
    number,
    parse_device,
    prepare_run_dir,
    resolve_device,
    retain_freed_memory,
    rng_state,
    run_main,
    set_rng_state,
)
from pact_vision.augment import augment
from pact_vision.checkpoint import (
    CHECKPOINT_KIND,
    CHECKPOINT_VERSIONS,
    CheckpointError,
    load_backbone,
    load_checkpoint,
    model_config,
    save_checkpoint,
)
from pact_vision.datasets import DATASETS, DatasetName, ImageSet, load_dataset
from pact_vision.distributed import Runtime, setup_runtime
from pact_vision.evaluation import evaluate_model
from pact_vision.gradients import GradientVariance
from pact_vision.models import AdaptiveResNet, max_iterations_of
from pact_vision.schedule import BatchSampler, learning_rate

__all__ = [
    "TrainConfig",
    "TrainResult",
    "main",
    "run",
]


CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"
#: The files of a run directory (what ``--overwrite`` replaces).
RUN_FILES = (CHECKPOINT_NAME, LOG_NAME)
#: Settings that may change when a run is resumed: where and how it runs, how often it
#: logs, checkpoints and evaluates, and ``steps`` (which also stretches the remaining
#: learning-rate schedule, whose drops sit at 60%, 75% and 90% of ``steps``).
RESUMABLE_CHANGES = frozenset(
    {
        "steps",
        "out",
        "resume",
        "overwrite",
        "device",
        "threads",
        "progress",
        "grad_variance",
        "log_every",
        "checkpoint_every",
        "eval_every",
        "eval_limit",
        "stop_at",
        "data_dir",
        "download",
        "halting.eval_halting",
    }
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; saved in its checkpoints.

    Every field is a command-line flag of the same name (``halting`` gathers the flags
    of :class:`pact_core.HaltingSettings`); :meth:`check` validates them.
    """

    arch: str = "resnet32"
    halting: HaltingSettings = field(
        default_factory=lambda: HaltingSettings("fixed", max_iterations=5)
    )
    data: DatasetName = "cifar10"
    data_dir: str | None = None
    download: bool = False
    out: str = "runs/default"
    steps: int = 100_000
    batch_size: int = 128
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 2e-4
    init: str | None = None
    resume: bool = False
    overwrite: bool = False
    device: str = "auto"
    amp: str = "auto"
    channels_last: str = "auto"
    group: int = 1
    baseline_decay: float = 0.99
    seed: int = 0
    log_every: int = 100
    checkpoint_every: int = 1000
    eval_every: int = 0
    eval_limit: int = 0
    train_limit: int = 0
    stop_at: int = 0
    threads: int = 0
    progress: bool = True
    grad_variance: bool = False

    @property
    def base_lr(self) -> float:
        """The initial learning rate: ``--lr``, else 0.1 (SGD) or 1e-3 (Adam, REINFORCE)."""
        if self.lr is not None:
            return self.lr
        return 1e-3 if self.halting.method == "pact-reinforce" else 0.1

    #: What each numeric field may be; the command line checks its flags with these.
    CONSTRAINTS: ClassVar[dict[str, Interval]] = {
        "steps": COUNT,
        "batch_size": COUNT,
        "log_every": COUNT,
        "checkpoint_every": COUNT,
        "lr": LEARNING_RATE,
        "momentum": Interval(0.0, 1.0, high_closed=False),
        "weight_decay": NONNEGATIVE,
        "baseline_decay": Interval(0.0, 1.0, high_closed=False),
        "eval_every": WHOLE,
        "eval_limit": WHOLE,
        "train_limit": WHOLE,
        "stop_at": WHOLE,
        "threads": WHOLE,
        "seed": Interval(integer=True),
    }

    def check(self) -> None:
        """Raise :class:`~pact_core.runs.UsageError` with a one-line message for a bad field."""
        try:
            units = max_iterations_of(self.arch)
            check_choice("data", self.data, DATASETS)
            check_choice("amp", self.amp, ("auto", "on", "off"))
            check_choice("channels_last", self.channels_last, ("auto", "on", "off"))
            for name, allowed in self.CONSTRAINTS.items():
                value = getattr(self, name)
                if value is not None:
                    allowed.check(f"--{name.replace('_', '-')}", value)
            resolve_device(self.device)
        except ValueError as error:
            raise UsageError(str(error)) from None
        if self.halting.max_iterations != units:
            raise UsageError(
                f"{self.arch} has {units} units per block, but the halting settings have "
                f"max_iterations={self.halting.max_iterations}"
            )
        if self.group not in GROUP_SIZES:
            raise UsageError(f"--group must be one of {GROUP_SIZES}, got {self.group}")
        if self.init is not None and not self.halting.has_halting:
            raise UsageError("--init loads a dense ResNet into a SACT/PSACT model; not for fixed")


@dataclass
class TrainResult:
    """What :func:`run` returns: the trained (unwrapped) model and the last metrics."""

    model: AdaptiveResNet
    step: int
    metrics: dict[str, float]


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on convolution and linear weights only, as TF's L2 regularisers."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def _optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    groups = _param_groups(model, config.weight_decay)
    if config.halting.method == "pact-reinforce":
        return torch.optim.Adam(groups, lr=config.base_lr)
    return torch.optim.SGD(groups, lr=config.base_lr, momentum=config.momentum)


def _seed(runtime: Runtime, seed: int) -> torch.Generator:
    """Seed this rank's noise (global RNG) and augmentation generator; ranks differ."""
    torch.manual_seed(seed * 7919 + 104_729 * (runtime.rank + 1))
    generator = torch.Generator(device=runtime.device)
    generator.manual_seed(seed * 7919 + runtime.rank)
    return generator


def _gather_rng(runtime: Runtime, state: dict[str, Tensor]) -> list[dict[str, Tensor]]:
    if not runtime.distributed:
        return [state]
    gathered: list[Any] = [None] * runtime.world_size
    dist.all_gather_object(gathered, {k: v.cpu() for k, v in state.items()})
    return gathered


def _load_data(config: TrainConfig, runtime: Runtime) -> tuple[ImageSet, ImageSet, int]:
    splits = load_dataset(config.data, config.data_dir, download=config.download)
    train = splits.train
    if config.train_limit:
        train = ImageSet(train.images[: config.train_limit], train.labels[: config.train_limit])
    test = splits.test
    if config.eval_limit:
        test = ImageSet(test.images[: config.eval_limit], test.labels[: config.eval_limit])
    return train.to(runtime.device), test, len(splits.classes)


def _build(config: TrainConfig, image_shape: Sequence[int], num_classes: int) -> AdaptiveResNet:
    torch.manual_seed(config.seed)  # identical initial weights on every rank
    model = AdaptiveResNet(
        config.halting, num_classes=num_classes, in_channels=image_shape[0], group=config.group
    )
    if config.init is not None:
        dense = load_checkpoint(config.init, data_shape=image_shape, data_name=config.data)
        load_backbone(model, dense["model"])
    return model


def run(config: TrainConfig) -> TrainResult:
    """Train as ``config`` says; under ``torchrun``, one call per process.

    Raises:
        UsageError: On an invalid configuration or device, or an ``out`` that already
            holds a run (without ``resume`` or ``overwrite``), or changed settings on
            resume.
        DataError: If the data set is missing or corrupt.
        CheckpointError: If ``--init`` or ``--resume`` cannot be loaded.
        DivergedError: If the loss or a weight stops being finite.
    """
    config.check()
    prepare_run_dir(
        config.out, resume=config.resume, overwrite=config.overwrite, run_files=RUN_FILES
    )
    if config.threads:
        torch.set_num_threads(config.threads)
    runtime = setup_runtime(config.device, config.amp, config.channels_last)
    try:
        result = _train(config, runtime)
    except BaseException:
        runtime.shutdown(synchronize=False)
        raise
    runtime.shutdown()
    return result


def _train(config: TrainConfig, runtime: Runtime) -> TrainResult:
    out = Path(config.out)
    checkpoint_path = out / CHECKPOINT_NAME
    train, test, num_classes = _load_data(config, runtime)
    sampler = BatchSampler(
        len(train), config.batch_size, config.seed, runtime.rank, runtime.world_size
    )
    model = runtime.prepare(_build(config, train.images.shape[1:], num_classes))
    network = runtime.wrap(model)
    optimizer = _optimizer(config, model)
    scaler = runtime.grad_scaler()
    baseline = EMABaseline(config.baseline_decay).to(runtime.device)
    generator = _seed(runtime, config.seed)
    step = 0
    if config.resume and checkpoint_path.exists():
        payload = load_checkpoint(checkpoint_path, data_shape=train.images.shape[1:])
        if "config" not in payload:
            raise CheckpointError(
                f"cannot resume {checkpoint_path}: it was written by pact < 0.2 (no header)"
            )
        changed = changed_settings(payload["config"], asdict(config), safe=RESUMABLE_CHANGES)
        if changed:
            raise UsageError(f"the checkpoint was trained with other settings ({changed})")
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scaler.load_state_dict(payload["scaler"])
        baseline.load_state_dict(payload["baseline"])
        step = int(payload["step"])
        states = payload["rng"]
        if len(states) == runtime.world_size:
            set_rng_state(states[runtime.rank], {"augment": generator})
        else:  # another world size: fresh, step-dependent seeds
            generator = _seed(runtime, config.seed + step)
    log = JsonlLog(out / LOG_NAME, enabled=runtime.is_main)
    progress = ProgressBar(config.steps, step, enabled=runtime.is_main and config.progress)
    if step == 0:
        log.write({"event": "start", "config": asdict(config), "world_size": runtime.world_size})
    else:
        log.write({"event": "resume", "step": step})

    guard = DivergenceGuard(runtime.device)
    variance = GradientVariance(list(model.parameters())) if config.grad_variance else None
    zero = torch.zeros((), dtype=torch.float64, device=runtime.device)
    sums = {"loss": zero.clone(), "ce": zero.clone(), "cost": zero.clone(), "correct": zero.clone()}
    sums["flops"] = zero.clone()
    sums["images"] = zero.clone()
    window = 0
    last_time = time.monotonic()
    metrics: dict[str, float] = {}
    model.train()
    while step < config.steps:
        lr = learning_rate(step, config.steps, config.base_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        index = sampler.indices(step).to(runtime.device)
        x = augment(train.images[index], generator)
        y = train.labels[index]
        if runtime.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with runtime.autocast():
            out_ = network(x)
        ce = F.cross_entropy(out_.logits.float(), y, reduction="none")
        cost = out_.cost.float()
        loss = adaptive_loss(  # eq. 26 or 27: ce + tau * sum_k mean N_k (+ REINFORCE)
            ce,
            out_.cost_maps,
            tau=config.halting.tau if config.halting.has_halting else 0.0,
            log_prob=out_.log_prob,
            baseline=baseline,
        ).total
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if variance is not None:
            scaler.unscale_(optimizer)  # the true gradients (a no-op without AMP scaling)
            variance.observe()
        scaler.step(optimizer)
        scaler.update()
        step += 1
        guard.observe(loss, step)  # on the device: no sync

        with torch.no_grad():
            sums["loss"] += loss.detach().double()
            sums["ce"] += ce.detach().double().sum()
            sums["cost"] += cost.detach().double().sum()
            sums["correct"] += (out_.logits.argmax(dim=1) == y).double().sum()
            sums["flops"] += out_.flops.double().sum()
            sums["images"] += y.shape[0]
        window += 1
        progress.update(step)

        stopping = step == config.stop_at
        saving = step % config.checkpoint_every == 0 or step == config.steps or stopping
        if step % config.log_every == 0 or step == config.steps or saving:
            try:
                guard.check(model.parameters(), step)
            except DivergedError as error:
                log.write({"event": "diverged", "step": error.step, "reason": error.reason})
                raise
        if step % config.log_every == 0 or step == config.steps:
            metrics = _log_metrics(runtime, sums, window, step, lr, last_time)
            spread = None if variance is None else variance.log10_variance()
            if spread is not None:
                metrics["grad_variance_log10"] = spread
            log.write({"event": "train", **metrics})
            progress.update(step, {k: metrics[k] for k in ("loss", "accuracy", "mflops")})
            for value in sums.values():
                value.zero_()
            window, last_time = 0, time.monotonic()
        if step == config.steps and runtime.distributed:
            for buffer in model.buffers():  # BN statistics of rank 0 everywhere
                dist.broadcast(buffer, 0)
        if saving:
            rng = _gather_rng(runtime, rng_state({"augment": generator}))
            if runtime.is_main:
                save_checkpoint(
                    checkpoint_path,
                    {
                        **checkpoint_header(
                            CHECKPOINT_KIND,
                            CHECKPOINT_VERSIONS[-1],
                            asdict(config),
                            list(train.images.shape[1:]),
                        ),
                        "model": model.state_dict(),
                        "model_config": model_config(model),
                        "optimizer": optimizer.state_dict(),
                        "scaler": scaler.state_dict(),
                        "baseline": baseline.state_dict(),
                        "step": step,
                        "rng": rng,
                    },
                )
        if runtime.is_main and (
            (config.eval_every and step % config.eval_every == 0) or step == config.steps
        ):
            eval_halting = config.halting.eval_default
            result = evaluate_model(model, test, eval_halting, device=runtime.device)
            log.write(
                {
                    "event": "eval",
                    "step": step,
                    "halting": eval_halting,
                    "test_accuracy": result.accuracy,
                    "test_loss": result.loss,
                    "test_mflops": result.mean_flops / 1e6,
                    "units_per_block": result.units_per_block,
                }
            )
            metrics["test_accuracy"] = result.accuracy
        if stopping:
            log.write({"event": "stop", "step": step})
            break
    progress.close()
    return TrainResult(model, step, metrics)


def _log_metrics(
    runtime: Runtime, sums: dict[str, Tensor], steps: int, step: int, lr: float, since: float
) -> dict[str, float]:
    """Reduce the running sums of the last ``steps`` steps over ranks; one host sync.

    ``sums["loss"]`` holds one batch-mean loss per step (and rank); the other sums hold
    one value per image.
    """
    keys = sorted(sums)
    packed = torch.stack([sums[k] for k in keys])
    if runtime.distributed:
        dist.all_reduce(packed)
    values = dict(zip(keys, packed.tolist(), strict=True))
    images = max(values.pop("images"), 1.0)
    elapsed = max(time.monotonic() - since, 1e-9)
    return {
        "step": float(step),
        "lr": lr,
        "loss": values["loss"] / max(steps * runtime.world_size, 1),
        "ce": values["ce"] / images,
        "cost": values["cost"] / images,
        "accuracy": values["correct"] / images,
        "mflops": values["flops"] / images / 1e6,
        "images_per_s": images / elapsed,
    }


def _flag(parser: OneLineParser, name: str, **options: Any) -> None:
    """Add ``--name`` for a numeric :class:`TrainConfig` field, checked as it declares."""
    allowed = TrainConfig.CONSTRAINTS[name]
    kind = integer(allowed) if allowed.integer else number(allowed)
    parser.add_argument(f"--{name.replace('_', '-')}", type=kind, **options)


def _parser() -> OneLineParser:
    defaults = TrainConfig()
    parser = OneLineParser(
        prog="pact_vision.train",
        description="Train a dense ResNet, SACT or PSACT (relaxed or REINFORCE).",
    )
    add = parser.add_argument
    add("--arch", default=defaults.arch, help="resnet<6n+2>: resnet32, resnet110, ...")
    add("--method", "--mode", default="fixed", choices=(*METHODS, *METHOD_ALIASES),
        help="fixed (dense ResNet), act (SACT), pact (PSACT, relaxed), pact-reinforce")  # fmt: skip
    add_halting_arguments(parser, skip=("max_iterations",))
    add("--data", default=defaults.data, choices=DATASETS)
    add("--data-dir", default=None, help="data directory (Fashion-MNIST: Debian's by default)")
    add("--download", action="store_true", help="fetch CIFAR-10 with torchvision")
    add(
        "--out", default=defaults.out, help="run directory (holding a run: --resume or --overwrite)"
    )
    add("--resume", action="store_true", help="continue the run in --out")
    add("--overwrite", action="store_true", help="replace the run that --out holds")
    _flag(parser, "steps", default=defaults.steps)
    _flag(parser, "batch_size", default=defaults.batch_size, help="global batch size")
    _flag(parser, "lr", default=None, help="initial learning rate (0.1 SGD, 1e-3 Adam)")
    _flag(parser, "momentum", default=defaults.momentum)
    _flag(parser, "weight_decay", default=defaults.weight_decay)
    add("--init", default=None, help="dense checkpoint to start SACT/PSACT from")
    add("--device", type=parse_device, default=defaults.device, help="auto, cpu, cuda, cuda:N")
    add("--amp", default=defaults.amp, choices=("auto", "on", "off"))
    add("--channels-last", default=defaults.channels_last, choices=("auto", "on", "off"))
    add("--group", type=integer(COUNT), choices=GROUP_SIZES, default=defaults.group,
        help="halting patch side")  # fmt: skip
    _flag(parser, "baseline_decay", default=defaults.baseline_decay)
    _flag(parser, "seed", default=defaults.seed)
    _flag(parser, "log_every", default=defaults.log_every)
    _flag(parser, "checkpoint_every", default=defaults.checkpoint_every)
    _flag(parser, "eval_every", default=defaults.eval_every, help="0: only at the end")
    _flag(parser, "eval_limit", default=0, help="evaluate on the first N test images")
    _flag(parser, "train_limit", default=0, help="train on the first N training images")
    _flag(parser, "stop_at", default=0, help="stop with a checkpoint after this step")
    _flag(parser, "threads", default=0, help="CPU threads (0: torch's default)")
    add("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    add("--grad-variance", action="store_true",
        help="log log10 of the gradient variance over each log window (fig. 4)")  # fmt: skip
    return parser


def parse_config(argv: Sequence[str] | None = None) -> TrainConfig:
    """Parse command-line arguments into a checked :class:`TrainConfig`.

    Raises:
        UsageError: On a bad argument, with a one-line message naming it.
    """
    namespace = _parser().parse_args(argv)
    args = vars(namespace)
    args["device"] = str(namespace.device)
    names = {f.name for f in fields(TrainConfig)}
    try:
        units = max_iterations_of(namespace.arch)
        halting = HaltingSettings(
            parse_method(namespace.method), max_iterations=units, **halting_fields(namespace)
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    config = TrainConfig(halting=halting, **{k: v for k, v in args.items() if k in names})
    config.check()
    return config


def main(argv: list[str] | None = None) -> int:
    """Train as the command line says; 2 on bad input, 1 on a failed run."""
    return run_main("pact_vision.train", lambda: _train_main(argv))


def _train_main(argv: list[str] | None) -> int:
    config = parse_config(argv)
    retain_freed_memory()  # no page faults per step (pact_core.runs); results unchanged
    run(config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
