"""The GPU check in one command: CUDA tests, halting overhead, ResNet speed, sparse and seq.

``python -m pact_bench.gpu_check --out DIR`` (or ``nox -s gpu``) runs, on a machine with
CUDA, within about 8 minutes:

1. the CUDA test subset (``pytest -m cuda`` of every package);
2. the halting-overhead benchmark of :mod:`pact_bench.overhead` at ``K`` = 5 and 20, in
   eager mode and with ``torch.compile`` (``mode="reduce-overhead"``: CUDA graphs) of
   the whole step on the sync-free executions;
3. ResNet-32 training throughput (images/s) with AMP and channels-last on synthetic
   CIFAR-shaped data, dense and relaxed PSACT;
4. dense, masked and sparse PSACT evaluation latency at batch 64 and 256
   (:func:`pact_bench.speedup.time_executions`, controlled masks);
5. pact-seq batch compaction against the masked loop, evaluation and training.

It writes ``gpu_check.json`` and ``gpu_check.md`` into ``--out``. Without CUDA every
section runs at smoke sizes on the CPU instead (the tests are skipped), so that CI
proves the command does not rot; the numbers are then labelled ``cpu smoke`` and mean
nothing about a GPU.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pact_bench.environment import describe_environment
from pact_bench.overhead import OverheadRow, measure_overhead, table
from pact_bench.speedup import time_executions
from pact_core import HaltingSettings
from pact_core.runs import (
    OneLineParser,
    check_output_dir,
    parse_device,
    retain_freed_memory,
    run_main,
    write_json,
    write_text_atomic,
)
from pact_vision import AdaptiveResNet

__all__ = ["main", "run_checks"]

PACKAGES = ("pact-core", "pact-vision", "pact-seq", "pact-bench")


def _tests(root: Path, cuda: bool) -> dict[str, Any]:
    """``pytest -m cuda`` of every package (skipped without CUDA)."""
    if not cuda:
        return {"skipped": "no CUDA device"}
    results = {}
    for package in PACKAGES:
        tests = root / "packages" / package / "tests"
        if not tests.is_dir():
            results[package] = "no tests directory (run from the repository root)"
            continue
        command = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", str(tests)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        tail = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
        # pytest's 5: nothing selected, which is a result here, not a failure
        results[package] = f"exit {done.returncode}: {tail[0]}"
    return results


def _overhead(device: torch.device, smoke: bool) -> dict[str, Any]:
    """Eager against compiled steps of the overhead benchmark."""
    ks = (5,) if smoke else (5, 20)
    rounds, steps = (2, 2) if smoke else (5, 20)
    modes = ("train",) if smoke else ("train", "eval")
    executions = ("masked", "unrolled")

    def measure(compile_mode: str | None) -> list[OverheadRow]:
        return measure_overhead(
            ks=ks,
            executions=executions,
            device=device,
            modes=modes,
            rounds=rounds,
            steps=steps,
            warmup=1,
            compile_mode=compile_mode,
        )

    eager = measure(None)
    rows = [asdict(r) for r in eager]
    if not smoke:  # the whole step compiled, with CUDA graphs
        graphs = measure("reduce-overhead")
        rows += [{**asdict(r), "variant": f"{r.variant} compiled"} for r in graphs]
    return {"rows": rows, "markdown": table(eager)}


def _resnet_throughput(device: torch.device, smoke: bool) -> dict[str, Any]:
    """Training images/s of ResNet-32, dense and relaxed PSACT, AMP and channels-last."""
    batch, steps = (8, 2) if smoke else (128, 30)
    amp = device.type == "cuda"
    results = {}
    for method in ("fixed", "pact"):
        seconds = _timed(_training_step(method, batch, device, amp), steps, device)
        results[method] = {"batch": batch, "images_per_s": batch / seconds, "amp": amp}
    return results


def _training_step(method: str, batch: int, device: torch.device, amp: bool) -> Callable[[], None]:
    """One SGD step of ResNet-32 (``method``) on a synthetic CIFAR-shaped batch."""
    torch.manual_seed(0)
    settings = HaltingSettings(method, max_iterations=5)  # type: ignore[arg-type]
    model = AdaptiveResNet(settings).to(device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    images = torch.randn(batch, 3, 32, 32, device=device)
    images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch,), device=device)
    dtype = torch.bfloat16 if amp else torch.float32

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            out = model(images)
        loss = F.cross_entropy(out.logits.float(), labels) + 0.01 * out.cost.float().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _timed(fn: Callable[[], None], steps: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` after one untimed call."""
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps


def _sparse(device: torch.device, smoke: bool) -> list[dict[str, Any]]:
    """Dense, masked and sparse PSACT latency at batch 64 and 256, a quarter of units active."""
    rows = []
    for batch in (2,) if smoke else (64, 256):
        torch.manual_seed(0)
        model = AdaptiveResNet(HaltingSettings("pact", max_iterations=5)).to(device).eval()
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        with torch.no_grad():
            for block in model.stages:
                for index, head in enumerate(block.halting_heads):  # a quarter of the units
                    head.bias.fill_(50.0 if index == 0 else -50.0)
        images = torch.randn(batch, 3, 32, 32, device=device)
        images = images.contiguous(memory_format=torch.channels_last)
        row = time_executions(model, images, min_run_time=0.05 if smoke else 1.0)
        rows.append({"batch": batch, **row})
    return rows


def _seq_compaction(device: torch.device, smoke: bool) -> dict[str, Any]:
    """pact-seq training speed with compaction against the early-exit (masked) loop."""
    from pact_seq import TrainConfig, settings_for
    from pact_seq.benchmark import measure_training_speed

    config = TrainConfig(
        task="parity",
        halting=settings_for("act", tau=0.01, max_iterations=20 if smoke else 100),
        bits=8 if smoke else 64,
        hidden_size=16 if smoke else 128,
        batch_size=16 if smoke else 128,
    )
    steps = 2 if smoke else 100
    results = {}
    for execution in ("early-exit", "compact"):
        speed = measure_training_speed(
            config, steps=steps, warmup=1, rounds=1, device=device, execution=execution
        )
        results[execution] = asdict(speed)
    return results


def run_checks(root: Path, device: torch.device) -> dict[str, Any]:
    """Every section; smoke sizes on the CPU. Each section records its own failure."""
    smoke = device.type != "cuda"
    report: dict[str, Any] = {
        "mode": "cpu smoke" if smoke else "cuda",
        "machine": describe_environment(device).as_dict(),
    }
    sections: dict[str, Callable[[], Any]] = {
        "tests": lambda: _tests(root, not smoke),
        "overhead": lambda: _overhead(device, smoke),
        "resnet32_training": lambda: _resnet_throughput(device, smoke),
        "sparse_latency": lambda: _sparse(device, smoke),
        "seq_compaction": lambda: _seq_compaction(device, smoke),
    }
    for name, section in sections.items():
        start = time.perf_counter()
        try:
            report[name] = section()
        except Exception as error:  # a broken section must not lose the others
            report[name] = {"error": f"{type(error).__name__}: {error}"}
        report.setdefault("seconds", {})[name] = round(time.perf_counter() - start, 1)
    return report


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables."""
    lines = [f"# GPU check ({report['mode']})", "", f"Machine: {report['machine']}", ""]
    lines += ["## Tests", ""]
    tests = report.get("tests", {})
    lines += [f"- {k}: {v}" for k, v in tests.items()] + [""]
    overhead = report.get("overhead", {})
    lines += ["## Halting overhead (eager)", "", overhead.get("markdown", str(overhead)), ""]
    lines += [
        "## ResNet-32 training",
        "",
        "| model | batch | images/s | AMP |",
        "|---|---|---|---|",
    ]
    for name, row in report.get("resnet32_training", {}).items():
        if isinstance(row, dict) and "images_per_s" in row:
            lines.append(f"| {name} | {row['batch']} | {row['images_per_s']:.1f} | {row['amp']} |")
    lines += ["", "## Sparse PSACT latency", ""]
    lines += ["| batch | dense ms | masked ms | sparse ms | active | share of ideal |"]
    lines += ["|---|---|---|---|---|---|"]
    sparse = report.get("sparse_latency", [])
    for row in sparse if isinstance(sparse, list) else []:
        lines.append(
            f"| {row['batch']} | {row['dense_ms']:.2f} | {row['masked_ms']:.2f} | "
            f"{row['sparse_ms']:.2f} | {row['active_fraction']:.2f} | {row['share_of_ideal']:.2f} |"
        )
    lines += ["", "## Seq compaction", ""]
    for name, row in report.get("seq_compaction", {}).items():
        if isinstance(row, dict) and "steps_per_s" in row:
            lines.append(f"- {name}: {row['steps_per_s']:.1f} steps/s")
    lines += ["", f"Seconds per section: {report.get('seconds')}", ""]
    return "\n".join(lines)


def _parser() -> OneLineParser:
    parser = OneLineParser(prog="pact_bench.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu-check", help="output directory")
    parser.add_argument("--device", type=parse_device, default="auto", help="auto, cpu, cuda:N")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository (tests)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the checks and write ``gpu_check.json`` and ``gpu_check.md``."""
    return run_main("pact_bench.gpu_check", lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    out = check_output_dir(args.out, "--out", files=("gpu_check.json", "gpu_check.md"))
    json_path = out / "gpu_check.json"
    retain_freed_memory()
    report = run_checks(args.root, args.device)
    write_json(json_path, report)
    text = markdown(report)
    write_text_atomic(out / "gpu_check.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
