"""``python -m pact_bench.speedup``: do saved FLOPs become saved milliseconds?

For a PSACT ResNet evaluated thresholded, it times three executions of the same model
on the same images:

* **dense**: every unit everywhere (``model.halting = "fixed"``), the reference;
* **masked**: every unit everywhere, multiplied by the halting masks
  (``execution="masked"``, what SACT's code does);
* **sparse**: only the active tiles of each unit (``execution="sparse"``,
  :mod:`pact_vision.sparse`),

and reports the **ideal speedup** (dense FLOPs / the FLOPs the masks need, counted as
REFERENCE §2 says) beside the **achieved** one (dense latency / sparse latency) and
their ratio. Model and images are channels-last unless ``--memory-format contiguous``
(on CPU channels-last is faster for dense execution too). Halting is controlled
(:mod:`pact_bench.halting_maps`: random or clustered maps at each ``--active``
fraction) or, with ``--checkpoint``, a trained model's own on real test images. With
``--seq-checkpoint`` it also times pact-seq evaluation of a trained halting model with
and without batch compaction (``execution="compact"`` against ``"early-exit"``, the
masked loop that stops once every row has halted).

Example::

    python -m pact_bench.speedup --arch resnet32 --batch 1,64 --active 0.1,0.25,0.5,0.75,1.0
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from pact_bench.environment import describe_environment
from pact_bench.flops import load_vision_model
from pact_bench.halting_maps import MAP_KINDS, control_halting, depth_maps
from pact_bench.latency import measure_latency
from pact_bench.overhead import COMPILE_MODES
from pact_core import Halting, Interval, resolve_execution
from pact_core.runs import (
    COUNT,
    POSITIVE,
    OneLineParser,
    RunError,
    UsageError,
    check_output_file,
    integer,
    integer_list,
    number,
    number_list,
    parse_device,
    retain_freed_memory,
    run_main,
    write_json,
)
from pact_seq import (
    SequenceModel,
    TrainConfig,
    build_task,
    load_model,
    load_seq_checkpoint,
    train_step,
)
from pact_vision import AdaptiveResNet, load_dataset, max_iterations_of, resnet, standardize
from pact_vision.datasets import DATASETS

__all__ = ["main", "profile_executions", "time_executions", "time_seq_compaction"]


@contextlib.contextmanager
def _restored_execution(model: AdaptiveResNet) -> Iterator[None]:
    """Give the model back with the halting and execution it came with."""
    previous = model.halting, model.execution
    try:
        yield
    finally:
        model.halting, model.execution = previous


def _ms(fn: Callable[[], object], min_run_time: float) -> float:
    return measure_latency(fn, min_run_time=min_run_time).median_ms


def time_executions(
    model: AdaptiveResNet, images: Tensor, *, min_run_time: float
) -> dict[str, Any]:
    """Dense, masked and sparse latency of ``model`` on ``images``, with FLOPs and checks.

    The model's halting (learned, or controlled by hooks) decides the masks. Returns the
    fields of one result row; ``max_abs_diff`` is the largest logit difference between
    sparse and masked execution (they compute the same function).
    """
    model.eval()
    units = model.max_iterations
    results: dict[str, Any] = {}
    with _restored_execution(model), torch.no_grad():
        model.halting, model.execution = "fixed", "masked"
        dense_flops = float(model(images).flops.double().mean())
        results["dense_ms"] = _ms(lambda: model(images), min_run_time)
        model.halting = "thresholded"
        masked = model(images)
        results["masked_ms"] = _ms(lambda: model(images), min_run_time)
        model.execution = "sparse"
        sparse = model(images)
        results["sparse_ms"] = _ms(lambda: model(images), min_run_time)
    flops = float(masked.flops.double().mean())
    executed = torch.stack([e.double().mean() for e in masked.executed]).mean()
    results.update(
        active_fraction=float((executed - 1) / (units - 1)) if units > 1 else 1.0,
        dense_flops=dense_flops,
        active_flops=flops,
        ideal_speedup=dense_flops / flops,
        achieved_speedup=results["dense_ms"] / results["sparse_ms"],
        max_abs_diff=float((sparse.logits - masked.logits).abs().max()),
    )
    results["share_of_ideal"] = results["achieved_speedup"] / results["ideal_speedup"]
    return results


def profile_executions(
    model: AdaptiveResNet, images: Tensor, *, passes: int = 5, top: int = 15
) -> str:
    """``torch.profiler`` tables of dense and sparse thresholded passes on ``images``.

    The tables list the ``top`` operators by self CPU time over ``passes`` passes each
    (after one warm-up pass), so where sparse execution spends the time that dense does
    not is visible operator by operator. The model's halting and execution are restored.
    """
    from torch.profiler import profile

    sections = []
    runs: tuple[tuple[Halting, str], ...] = (("fixed", "masked"), ("thresholded", "sparse"))
    with _restored_execution(model), torch.no_grad():
        for halting, execution in runs:
            model.halting, model.execution = halting, execution
            model(images)
            with profile() as prof:
                for _ in range(passes):
                    model(images)
            table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)
            label = "dense" if halting == "fixed" else "sparse (thresholded)"
            sections.append(f"{label}, {passes} passes:\n{table}")
    return "\n".join(sections)


def time_seq_compaction(
    checkpoint: Path,
    *,
    samples: int,
    device: torch.device,
    min_run_time: float,
    compile_mode: str | None = None,
) -> dict[str, Any]:
    """Evaluation and training-step latency of a pact-seq halting model, masked and compacted.

    "Masked" is the layer's ``"early-exit"`` execution (every row steps, halted rows are
    frozen, the loop stops once all have halted), "compacted" its ``"compact"`` one (the
    cell steps only the rows still active). Evaluation runs ``samples`` fresh examples at
    once in the model's evaluation halting.
    A training step is one Adam step on a batch of the run's training batch size, in the
    training halting (relaxed PACT, ACT), from the checkpoint's weights each time (the
    weights are restored afterwards). ``ideal_speedup`` is the evaluation's cell
    row-steps of the masked loop (every row at every iteration the loop runs) over those
    of the compacted one (each row until it halts).

    With ``compile_mode``, the evaluation is also timed compiled (``torch.compile`` of
    the model in the ``"masked"`` execution, the one without host syncs, which runs all
    ``L`` iterations): ``compiled_masked_ms``, None otherwise.
    """
    config, model = load_model(checkpoint, device)
    if not isinstance(model, SequenceModel):
        raise ValueError(f"{checkpoint} is a {config.arch} model; compaction is of recurrent ones")
    layer = model.recurrent
    if not layer.has_halting:
        raise ValueError(
            f"{checkpoint} is a {config.halting.method!r} model; compaction needs halting"
        )
    model.eval()
    task = build_task(config)
    batch = task.sample(samples, torch.Generator(device).manual_seed(12345))
    train_batch = task.sample(config.batch_size, torch.Generator(device).manual_seed(54321))
    weights = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    noise = torch.Generator(device).manual_seed(0)
    tau = config.halting.tau

    def training_step() -> None:
        model.train()
        train_step(model, optimizer, task, train_batch, tau=tau, baseline=None, generator=noise)

    executions = {False: resolve_execution("early-exit"), True: resolve_execution("compact")}
    times, train_times = {}, {}
    previous = layer.execution
    try:
        with torch.no_grad():
            layer.execution = executions[False]
            out = model(batch.x)
            for compact, execution in executions.items():
                layer.execution = execution
                times[compact] = _ms(lambda: model(batch.x), min_run_time)
            compiled_ms = None
            if compile_mode is not None:
                layer.execution = resolve_execution("masked")
                compiled = torch.compile(model, mode=compile_mode)
                compiled(batch.x)  # compile outside the timing
                compiled_ms = _ms(lambda: compiled(batch.x), min_run_time)
        for compact, execution in executions.items():
            layer.execution = execution
            train_times[compact] = _ms(training_step, min_run_time)
    finally:
        layer.execution = previous
        model.load_state_dict(weights)
        model.eval()
    row_steps = sum(out.recurrent.loop_steps) * samples
    return {
        "checkpoint": str(checkpoint),
        "method": config.halting.method,
        "halting": out.recurrent.halting,
        "samples": samples,
        "mean_ponder": float(out.recurrent.iterations.double().mean()),
        "loop_steps": list(out.recurrent.loop_steps),
        "masked_ms": times[False],
        "compact_ms": times[True],
        "compiled_masked_ms": compiled_ms,
        "ideal_speedup": row_steps / float(out.recurrent.iterations.sum()),
        "achieved_speedup": times[False] / times[True],
        "train_batch": config.batch_size,
        "train_masked_ms": train_times[False],
        "train_compact_ms": train_times[True],
        "train_speedup": train_times[False] / train_times[True],
    }


MEMORY_FORMATS = {"channels-last": torch.channels_last, "contiguous": torch.contiguous_format}


def _controlled_rows(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    n = max_iterations_of(args.arch)
    layout = MEMORY_FORMATS[args.memory_format]
    model = resnet(n).to(device).eval().to(memory_format=layout)  # type: ignore[call-overload]
    generator = torch.Generator().manual_seed(args.seed)
    rows = []
    for batch in args.batch:
        images = torch.randn(batch, 3, 32, 32, generator=generator).to(device)
        images = images.contiguous(memory_format=layout)
        sizes = [(32, 32), (16, 16), (8, 8)]
        for kind in args.masks:
            for fraction in args.active:
                maps = [
                    depth_maps(kind, batch, h, w, n, fraction, generator).to(device)
                    for h, w in sizes
                ]
                handles = control_halting(model, maps)
                try:
                    row = time_executions(model, images, min_run_time=args.min_run_time)
                    if args.profile:
                        args.profiles.append(
                            f"{kind} maps, batch {batch}, active {fraction}:\n"
                            + profile_executions(model, images)
                        )
                finally:
                    for handle in handles:
                        handle.remove()
                row.update(source="controlled", masks=kind, batch=batch, target=fraction)
                row["memory_format"] = args.memory_format
                _progress(row)
                rows.append(row)
    return rows


def _vision_checkpoints(args: argparse.Namespace) -> list[tuple[Path, AdaptiveResNet, Tensor]]:
    """Every ``--checkpoint`` with its test images, checked before any timing.

    Raises:
        UsageError: For ``--checkpoint`` without ``--data``.
        RunError: For a missing, unreadable or foreign checkpoint, missing data, a
            checkpoint trained on images of another shape than ``--data``'s, or one
            without halting heads.
    """
    if not args.checkpoint:
        return []
    if args.data is None:
        raise UsageError("--checkpoint needs --data (cifar10 or fashion-mnist)")
    for checkpoint in args.checkpoint:  # a missing or foreign checkpoint: before the data
        load_vision_model(checkpoint)
    test = load_dataset(args.data, args.data_dir).test
    checked = []
    for checkpoint in args.checkpoint:
        shape = test.images.shape[1:]
        model = load_vision_model(checkpoint, data_shape=shape, data_name=args.data)
        if not model.settings.has_halting:
            raise RunError(f"{checkpoint} has no halting heads; give a PSACT or SACT checkpoint")
        checked.append((checkpoint, model, test.images))
    return checked


def _check_seq_checkpoint(path: Path) -> None:
    """Refuse a ``--seq-checkpoint`` that is not a pact-seq model with halting, in one line.

    Raises:
        RunError: For a missing, unreadable or foreign (pact-vision) checkpoint, or a
            model that is not recurrent or has no halting.
    """
    config = TrainConfig.from_dict(load_seq_checkpoint(path)["config"])
    if config.arch != "recurrent":
        raise RunError(
            f"--seq-checkpoint {path} is a {config.arch} model; batch compaction is timed for "
            "recurrent ones"
        )
    if not config.has_halting:
        raise RunError(
            f"--seq-checkpoint {path} is a {config.halting.method!r} model; compaction needs "
            "a model with halting (act, pact or pact-reinforce)"
        )


def _checkpoint_rows(
    args: argparse.Namespace,
    checkpoints: Sequence[tuple[Path, AdaptiveResNet, Tensor]],
    device: torch.device,
) -> list[dict[str, Any]]:
    layout = MEMORY_FORMATS[args.memory_format]
    rows = []
    for checkpoint, model, test_images in checkpoints:
        model = model.to(device).to(memory_format=layout)  # type: ignore[call-overload]
        for batch in args.batch:
            images = standardize(test_images[:batch].to(device)).contiguous(memory_format=layout)
            row = time_executions(model, images, min_run_time=args.min_run_time)
            row.update(source=str(checkpoint), masks="learned", batch=batch, target=None)
            row["memory_format"] = args.memory_format
            _progress(row)
            rows.append(row)
    return rows


def _progress(row: dict[str, Any]) -> None:
    print(
        f"  {row['masks']:>9} batch {row['batch']:>3} active {row['active_fraction']:.2f}: "
        f"sparse {row['sparse_ms']:.1f} ms vs dense {row['dense_ms']:.1f} ms",
        file=sys.stderr,
        flush=True,
    )


def vision_table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of :func:`time_executions` rows."""
    lines = [
        "| halting | batch | active | dense ms | masked ms | sparse ms | ideal | achieved "
        "| share of ideal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        source = (
            r["masks"] if r["masks"] != "learned" else f"learned ({Path(r['source']).parent.name})"
        )
        lines.append(
            f"| {source} | {r['batch']} | {r['active_fraction']:.2f} | {r['dense_ms']:.2f} "
            f"| {r['masked_ms']:.2f} | {r['sparse_ms']:.2f} | {r['ideal_speedup']:.2f}x "
            f"| {r['achieved_speedup']:.2f}x | {100 * r['share_of_ideal']:.0f}% |"
        )
    return "\n".join(lines)


def seq_table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of :func:`time_seq_compaction` rows."""
    lines = [
        "| checkpoint | halting | samples | mean ponder | masked ms | compacted ms "
        "| ideal | achieved | compiled masked ms | train step masked ms | compacted ms "
        "| achieved |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        compiled = r.get("compiled_masked_ms")
        lines.append(
            f"| {Path(r['checkpoint']).parent.name} | {r['halting']} | {r['samples']} "
            f"| {r['mean_ponder']:.2f} | {r['masked_ms']:.2f} | {r['compact_ms']:.2f} "
            f"| {r['ideal_speedup']:.2f}x | {r['achieved_speedup']:.2f}x "
            f"| {'-' if compiled is None else f'{compiled:.2f}'} "
            f"| {r['train_masked_ms']:.2f} | {r['train_compact_ms']:.2f} "
            f"| {r['train_speedup']:.2f}x |"
        )
    return "\n".join(lines)


def _map_kinds(text: str) -> list[str]:
    """``--masks``: comma-separated kinds of :data:`MAP_KINDS` (empty: none)."""
    kinds = [kind.strip() for kind in text.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in MAP_KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown kind {unknown[0]!r}; use {', '.join(MAP_KINDS)} (comma-separated)"
        )
    return kinds


PROG = "pact_bench.speedup"


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG, description="Dense vs masked vs sparse PSACT latency, and seq batch compaction."
    )
    add = parser.add_argument
    add("--arch", default="resnet32", help="resnet<6n+2> for controlled maps")
    add("--batch", type=integer_list(COUNT), default=[1, 64], help="batch sizes, e.g. 1,64")
    add("--active", type=number_list(Interval(0.0, 1.0)), default=[0.1, 0.25, 0.5, 0.75, 1.0],
        help="active fractions of the controlled maps")  # fmt: skip
    add("--masks", type=_map_kinds, default=list(MAP_KINDS),
        help="controlled map kinds: random,clustered (empty: none)")  # fmt: skip
    add("--checkpoint", type=Path, nargs="*", default=[],
        help="trained PSACT checkpoints, timed on real test images")  # fmt: skip
    add("--data", choices=DATASETS, default=None)
    add("--data-dir", type=Path, default=None)
    add("--memory-format", choices=tuple(MEMORY_FORMATS), default="channels-last",
        help="layout of model and images, for all three executions")  # fmt: skip
    add("--profile", action="store_true",
        help="also print profiler tables of dense and sparse passes for every controlled "
        "setting")  # fmt: skip
    add("--seq-checkpoint", type=Path, nargs="*", default=[],
        help="trained pact-seq halting checkpoints (compaction)")  # fmt: skip
    add("--seq-samples", type=integer(COUNT), default=1000, help="seq evaluation batch")
    add("--compile", dest="compile_mode", default=None, choices=COMPILE_MODES,
        help="also time seq evaluation compiled (masked execution)")  # fmt: skip
    add("--min-run-time", type=number(POSITIVE), default=1.0, help="seconds per timing")
    add("--threads", type=integer(COUNT), default=None, help="torch CPU threads")
    add("--device", type=parse_device, default="auto", help="auto, cpu, cuda, cuda:N")
    add("--seed", type=integer(), default=0)
    add("--json", default=None, help="write all rows here (strict JSON)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the measurements, print Markdown tables and the machine.

    Returns:
        0; 2 on bad input, 1 on a missing, unreadable or mismatched checkpoint or data
        set (one line on stderr, before any timing).
    """
    return run_main(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    json_path = check_output_file(args.json, "--json")  # before any work
    try:
        max_iterations_of(args.arch)
    except ValueError as error:
        raise UsageError(f"--arch: {error}") from None
    checkpoints = _vision_checkpoints(args)
    for path in args.seq_checkpoint:
        _check_seq_checkpoint(path)
    retain_freed_memory()  # time the computation, not page faults (pact_core.runs)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device: torch.device = args.device
    args.profiles = []
    vision = _controlled_rows(args, device) + _checkpoint_rows(args, checkpoints, device)
    seq = [
        time_seq_compaction(
            path,
            samples=args.seq_samples,
            device=device,
            min_run_time=args.min_run_time,
            compile_mode=args.compile_mode,
        )
        for path in args.seq_checkpoint
    ]
    environment = describe_environment(device)
    print(f"Machine: {environment.summary()}.\n")
    if vision:
        print(vision_table(vision))
    if seq:
        print("\n" + seq_table(seq))
    for text in args.profiles:
        print("\n" + text)
    if json_path is not None:
        write_json(json_path, {"environment": environment.as_dict(), "vision": vision, "seq": seq})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
