"""Cost of the streaming halting logic per ponder step, against the cell it wraps.

``python -m pact_bench.halting`` times one recurrent cell step and, for every halting
with a halting head (act, relaxed, discrete, thresholded), the extra work an adaptive
layer does per ponder step: the halting head, one :meth:`pact_core.HaltingStream.step`
and the ``all_halted()`` check. The default shape is the published parity configuration
(batch 128, 128 tanh units, 64 inputs + the first-step flag).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pact_bench.environment import describe_environment
from pact_bench.latency import measure_latency
from pact_core import STREAM_HALTINGS, Halting, HaltingStream
from pact_core.runs import (
    COUNT,
    POSITIVE,
    OneLineParser,
    check_output_file,
    integer,
    number,
    parse_device,
    retain_freed_memory,
    run_main,
    write_json,
)

__all__ = ["HaltingCost", "main", "measure_halting_cost"]

CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}


@dataclass(frozen=True)
class HaltingCost:
    """Per-step times of one halting, in milliseconds."""

    halting: str
    cell_ms: float
    halting_ms: float

    @property
    def overhead(self) -> float:
        """Halting time as a fraction of the cell step."""
        return self.halting_ms / self.cell_ms


def measure_halting_cost(
    *,
    batch: int = 128,
    inputs: int = 65,
    hidden: int = 128,
    cell: str = "rnn",
    device: torch.device | str = "cpu",
    threads: int | None = None,
    min_run_time: float = 0.5,
) -> list[HaltingCost]:
    """Time a cell step and the halting work of each halting at one shape.

    Raises:
        ValueError: On an unknown cell or a non-positive size.
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    for name, value in (("batch", batch), ("inputs", inputs), ("hidden", hidden)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(0)
    module = CELLS[cell](inputs, hidden).to(device)
    head = nn.Linear(hidden, 1).to(device)
    x = torch.randn(batch, inputs, device=device, generator=generator)
    state = torch.randn(batch, hidden, device=device, generator=generator)

    with torch.no_grad():
        cell_time = measure_latency(
            lambda: module(x, (state, state) if cell == "lstm" else state),
            threads=threads,
            min_run_time=min_run_time,
        )
        results = []
        for halting in STREAM_HALTINGS:
            stream = _endless_stream(halting, batch, device, generator)

            def halting_step(stream: HaltingStream = stream) -> None:
                stream.step(state, logits=head(state).squeeze(-1))
                stream.all_halted()

            step_time = measure_latency(halting_step, threads=threads, min_run_time=min_run_time)
            results.append(HaltingCost(halting, cell_time.median_ms, step_time.median_ms))
    return results


def _endless_stream(
    halting: Halting, batch: int, device: torch.device, generator: torch.Generator
) -> HaltingStream:
    # A cap no benchmark reaches, so every timed call is an ordinary (non-final) step.
    return HaltingStream(
        halting,
        2**62,
        (batch,),
        device=device,
        delta=0.01,
        generator=generator,
        validate_args=False,
    )


PROG = "pact_bench.halting"


def _parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, description=__doc__)
    count = integer(COUNT)
    parser.add_argument("--batch", type=count, default=128)
    parser.add_argument("--inputs", type=count, default=65, help="input size incl. the step flag")
    parser.add_argument("--hidden", type=count, default=128)
    parser.add_argument("--cell", choices=sorted(CELLS), default="rnn")
    parser.add_argument("--device", type=parse_device, default="auto", help="auto, cpu, cuda:N")
    parser.add_argument("--threads", type=count, default=None, help="torch CPU threads")
    parser.add_argument(
        "--min-run-time", type=number(POSITIVE), default=0.5, help="seconds per timing"
    )
    parser.add_argument("--json", help="also write results here (strict JSON)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a Markdown table beside the environment.

    Returns:
        0; 2 on bad input (one line on stderr).
    """
    return run_main(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    json_path = check_output_file(args.json, "--json")  # before any work
    retain_freed_memory()  # time the computation, not page faults (pact_core.runs)
    device = args.device
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    results = measure_halting_cost(
        batch=args.batch,
        inputs=args.inputs,
        hidden=args.hidden,
        cell=args.cell,
        device=device,
        min_run_time=args.min_run_time,
    )
    environment = describe_environment(device)
    print(f"# Halting cost per ponder step ({args.cell}, batch {args.batch}, hidden {args.hidden})")
    print(f"\n{environment.summary()}\n")
    print("| halting | cell step (ms) | halting head + step (ms) | overhead |")
    print("|---|---|---|---|")
    for result in results:
        print(
            f"| {result.halting} | {result.cell_ms:.4f} | {result.halting_ms:.4f} | "
            f"{result.overhead:.0%} |"
        )
    if json_path is not None:
        payload = {
            "environment": environment.as_dict(),
            "config": {
                "batch": args.batch,
                "inputs": args.inputs,
                "hidden": args.hidden,
                "cell": args.cell,
                "dtype": str(torch.get_default_dtype()),
            },
            "results": [{**vars(r), "overhead": r.overhead} for r in results],
        }
        write_json(json_path, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
