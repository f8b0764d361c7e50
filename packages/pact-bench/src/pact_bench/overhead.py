"""Halting overhead at equal iterations: pact's engine against a bare cell and a textbook ACT.

``python -m pact_bench.overhead`` times steps of the published parity configuration
(64-bit parity, batch 128, a 128-unit tanh ``nn.RNNCell``, Adam) in which every element
runs exactly ``K`` iterations: the halting bias is -20 and the cap is ``K``, so no element
halts early and no execution can skip work. What differs is only the cost of halting:

* ``bare``: a plain loop of ``K`` cell steps (the first with the step flag);
* ``naive-act``: the masked ACT loop everyone writes first, written here: the halting
  head, the cumulative sum, the remainder, the weights, the weighted output and the
  freezing as separate tensor operations at every iteration;
* ``pact``: :class:`pact_seq.SequenceModel` on :func:`pact_core.adaptive_loop`, for ACT
  and PACT (relaxed, discrete, thresholded), in each execution asked for.

In training a step is the forward pass, the loss (task plus ``tau`` times the cost),
the backward pass and the Adam step; in evaluation it is the forward pass under
``torch.no_grad()``. Timings are interleaved: every round times every variant once,
so a change in the machine's speed hits all of them alike, and the overhead of a
variant is the median over rounds of its time over the bare cell's time in the same
round, minus one, with the range over rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pact_bench.environment import describe_environment
from pact_core import (
    EXECUTIONS,
    Halting,
    HaltingSettings,
    Method,
    adaptive_loss,
    resolve_execution,
)
from pact_core.runs import (
    COUNT,
    WHOLE,
    OneLineParser,
    UsageError,
    check_output_file,
    integer,
    parse_device,
    retain_freed_memory,
    run_main,
    write_json,
)
from pact_seq import ParityTask, SequenceModel

#: The ``torch.compile`` modes the benchmarks accept (``--compile``).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
#: Compiled graphs Dynamo may keep per code object while measuring (its default is 8).
RECOMPILE_LIMIT = 64

__all__ = ["OverheadRow", "Variant", "main", "measure_overhead", "variants"]

BITS, HIDDEN, BATCH = 64, 128, 128
#: The penalty weight of the adaptive variants' loss (its value does not change the time).
TAU = 0.01
#: Halting bias that keeps every element running to the cap: sigmoid(-20) ~ 2e-9.
NEVER_HALT = -20.0
#: The (method, halting) pairs timed, and whether each trains or only evaluates.
PACT_VARIANTS: tuple[tuple[Method, Halting, bool], ...] = (
    ("act", "act", True),
    ("pact", "relaxed", True),
    ("pact-reinforce", "discrete", True),
    ("act", "act", False),
    ("pact", "thresholded", False),
    ("pact", "discrete", False),
    ("pact", "relaxed", False),
)


@dataclass(frozen=True)
class Variant:
    """One way of running ``K`` iterations.

    Attributes:
        name: ``bare``, ``naive-act`` or ``pact``.
        halting: The halting (``-`` for the bare cell).
        execution: The engine's execution (``-`` outside pact).
        training: A training step (forward, backward, Adam) or an evaluation pass.
    """

    name: str
    halting: str
    execution: str
    training: bool

    @property
    def label(self) -> str:
        """``pact act (masked)``, ``bare``, ..."""
        if self.name == "bare":
            return "bare cell"
        if self.name == "naive-act":
            return "naive ACT loop"
        return f"pact {self.halting} ({self.execution})"


@dataclass(frozen=True)
class OverheadRow:
    """The time of one variant at one ``K``, and its overhead over the bare cell.

    Attributes:
        k: Iterations per element.
        mode: ``train`` or ``eval``.
        variant: What ran (:attr:`Variant.label`).
        ms: Median milliseconds per step over the rounds.
        overhead: Median over rounds of ``time / bare time - 1``.
        overhead_low: The smallest per-round overhead.
        overhead_high: The largest per-round overhead.
        vs_naive: Median over rounds of ``naive ACT time / time`` (how many times faster
            than the textbook loop; 1 for the naive loop itself).
    """

    k: int
    mode: str
    variant: str
    ms: float
    overhead: float
    overhead_low: float
    overhead_high: float
    vs_naive: float


def _batches(count: int, device: torch.device) -> list[tuple[Tensor, Tensor]]:
    """``count`` parity batches drawn in advance, so data generation is not timed."""
    task = ParityTask(BITS)
    generator = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(count):
        batch = task.sample(BATCH, generator)
        batches.append((batch.x.to(device), batch.y.to(device)))
    return batches


class _Bare(nn.Module):
    """The cell, its readout and ``K`` plain steps: what the halting is measured against."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k
        self.cell = nn.RNNCell(BITS + 1, HIDDEN, nonlinearity="tanh")
        self.readout = nn.Linear(HIDDEN, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        flat = x[:, 0]
        first = torch.cat([flat, flat.new_ones(flat.shape[0], 1)], dim=-1)
        later = torch.cat([flat, flat.new_zeros(flat.shape[0], 1)], dim=-1)
        u = flat.new_zeros(flat.shape[0], HIDDEN)
        for level in range(self.k):
            u = self.cell(first if level == 0 else later, u)
        return self.readout(u), flat.new_zeros(flat.shape[0])


class _NaiveACT(_Bare):
    """The textbook masked ACT loop (Graves 2016), one tensor operation at a time."""

    def __init__(self, k: int, eps: float = 0.01) -> None:
        super().__init__(k)
        self.eps = eps
        self.head = nn.Linear(HIDDEN, 1)
        nn.init.constant_(self.head.bias, NEVER_HALT)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        flat = x[:, 0]
        batch = flat.shape[0]
        first = torch.cat([flat, flat.new_ones(batch, 1)], dim=-1)
        later = torch.cat([flat, flat.new_zeros(batch, 1)], dim=-1)
        state = flat.new_zeros(batch, HIDDEN)
        output = torch.zeros_like(state)
        cumulative = flat.new_zeros(batch)
        remainder = flat.new_ones(batch)
        steps = flat.new_zeros(batch)
        running = torch.ones(batch, dtype=torch.bool, device=flat.device)
        for level in range(self.k):
            new = self.cell(first if level == 0 else later, state)
            state = torch.where(running.unsqueeze(-1), new, state)
            h = torch.sigmoid(self.head(state)).squeeze(-1)
            if level == self.k - 1:
                h = torch.ones_like(h)
            halting = running & (cumulative + h >= 1 - self.eps)
            weight = torch.where(halting, remainder, h) * running
            output = output + weight.unsqueeze(-1) * state
            remainder = remainder - torch.where(halting, torch.zeros_like(h), h * running)
            cumulative = cumulative + h
            steps = steps + running
            running = running & ~halting
        return self.readout(output), steps + remainder


class _Pact(nn.Module):
    """A :class:`pact_seq.SequenceModel` that runs ``K`` iterations under ``halting``."""

    def __init__(self, k: int, method: Method, halting: Halting, execution: str) -> None:
        super().__init__()
        settings = HaltingSettings(method, max_iterations=k, tau=TAU, halting_bias=NEVER_HALT)
        self.model = SequenceModel(BITS, 1, HIDDEN, settings, init="torch", execution=execution)
        self.halting = halting

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        # The halting noise comes from torch's global generator: a torch.Generator
        # argument would break a compiled graph at every draw.
        out = self.model(x, halting=self.halting)
        return out.logits[:, 0], out.recurrent.cost[:, 0]


def _step_function(
    module: nn.Module, batches: list[tuple[Tensor, Tensor]], training: bool
) -> Callable[[int], None]:
    """One training step (forward, loss, backward, Adam) or one evaluation pass."""
    if not training:
        module.eval()

        def evaluate(index: int) -> None:
            x, _ = batches[index % len(batches)]
            with torch.no_grad():
                module(x)

        return evaluate
    module.train()
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)

    def train(index: int) -> None:
        x, y = batches[index % len(batches)]
        logits, cost = module(x)
        nll = F.binary_cross_entropy_with_logits(logits.squeeze(-1), y.view(-1), reduction="none")
        loss = adaptive_loss(nll, cost, tau=TAU).total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return train


def variants(executions: Sequence[str], training: bool) -> list[Variant]:
    """The bare cell, the naive ACT loop and every pact variant of one mode."""
    found = [Variant("bare", "-", "-", training), Variant("naive-act", "act", "-", training)]
    for _, halting, trains in PACT_VARIANTS:
        if trains == training:
            found += [Variant("pact", halting, execution, training) for execution in executions]
    return found


def _module(variant: Variant, k: int) -> nn.Module:
    torch.manual_seed(0)
    if variant.name == "bare":
        return _Bare(k)
    if variant.name == "naive-act":
        return _NaiveACT(k)
    method = next(m for m, h, t in PACT_VARIANTS if h == variant.halting and t == variant.training)
    return _Pact(k, method, variant.halting, variant.execution)  # type: ignore[arg-type]


def _compiled(module: nn.Module, mode: str | None) -> nn.Module:
    """``module`` with its forward compiled (``mode``), or itself in eager mode."""
    if mode is None:
        return module
    module.forward = torch.compile(module.forward, mode=mode)
    return module


def _sync_free(execution: str) -> bool:
    return resolve_execution(execution).sync_free


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_overhead(
    *,
    ks: Sequence[int] = (5, 20),
    executions: Sequence[str] = EXECUTIONS,
    rounds: int = 5,
    steps: int = 20,
    warmup: int = 3,
    device: torch.device | str = "cpu",
    modes: Sequence[str] = ("train", "eval"),
    progress: Callable[[str], None] | None = None,
    compile_mode: str | None = None,
) -> list[OverheadRow]:
    """Time every variant at every ``K`` in interleaved rounds; see the module docstring.

    Args:
        ks: Iterations per element.
        executions: The engine's executions to time.
        rounds: Rounds; each times every variant once for ``steps`` steps.
        steps: Timed steps per variant and round.
        warmup: Untimed steps per variant first.
        device: Where to run.
        modes: ``train`` and/or ``eval``.
        progress: Called with a line per finished (K, mode).
        compile_mode: ``torch.compile`` every variant's model with this mode (e.g.
            ``"default"``, or ``"reduce-overhead"`` for CUDA graphs); only sync-free
            executions (``masked``, ``unrolled``) can be compiled. ``None``: eager.

    Returns:
        One :class:`OverheadRow` per variant, ``K`` and mode.
    """
    syncing = [e for e in executions if not resolve_execution(e).sync_free]
    if compile_mode is not None and syncing:
        raise ValueError(
            f"compile_mode={compile_mode!r} needs sync-free executions (masked, unrolled); "
            f"got {', '.join(syncing)}"
        )
    device = torch.device(device)
    batches = _batches(8, device)
    rows: list[OverheadRow] = []
    # Every pact variant is another instance behind the same compiled ``forward``: let
    # Dynamo keep one graph per variant instead of falling back to eager after eight.
    with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
        for k in ks:
            for mode in modes:
                rows += _measure_one(
                    k, mode, executions, rounds, steps, warmup, device, batches, compile_mode
                )
                if progress is not None:
                    progress(f"K={k} {mode}: timed")
    return rows


def _measure_one(
    k: int,
    mode: str,
    executions: Sequence[str],
    rounds: int,
    steps: int,
    warmup: int,
    device: torch.device,
    batches: list[tuple[Tensor, Tensor]],
    compile_mode: str | None,
) -> list[OverheadRow]:
    """The rows of one ``K`` and mode: every variant timed in ``rounds`` rounds."""
    rows: list[OverheadRow] = []
    training = mode == "train"
    runs = variants(executions, training)
    steps_of = {
        v: _step_function(_compiled(_module(v, k).to(device), compile_mode), batches, training)
        for v in runs
    }
    for step in steps_of.values():
        for index in range(warmup):
            step(index)
    seconds: dict[Variant, list[float]] = {v: [] for v in runs}
    for _ in range(rounds):
        for variant, step in steps_of.items():
            _synchronize(device)
            start = time.perf_counter()
            for index in range(steps):
                step(index)
            _synchronize(device)
            seconds[variant].append((time.perf_counter() - start) / steps)
    bare, naive = seconds[runs[0]], seconds[runs[1]]
    for variant in runs:
        times = seconds[variant]
        ratios = [t / b - 1 for t, b in zip(times, bare, strict=True)]
        speedups = [n / t for n, t in zip(naive, times, strict=True)]
        rows.append(
            OverheadRow(
                k=k,
                mode=mode,
                variant=variant.label,
                ms=1000 * statistics.median(times),
                overhead=statistics.median(ratios),
                overhead_low=min(ratios),
                overhead_high=max(ratios),
                vs_naive=statistics.median(speedups),
            )
        )
    return rows


def table(rows: Sequence[OverheadRow]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| K | mode | variant | ms / step | overhead over bare (range) | x faster than naive ACT |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        low, high = 100 * r.overhead_low, 100 * r.overhead_high
        spread = f"{100 * r.overhead:+.0f}% ({low:+.0f} to {high:+.0f})"
        lines.append(
            f"| {r.k} | {r.mode} | {r.variant} | {r.ms:.2f} | {spread} | {r.vs_naive:.2f} |"
        )
    return "\n".join(lines)


def _parser() -> OneLineParser:
    parser = OneLineParser(prog="pact_bench.overhead", description=__doc__.splitlines()[0])
    count = integer(COUNT)
    add = parser.add_argument
    add("--k", type=count, nargs="+", default=[5, 20], help="iterations per element")
    add("--executions", nargs="+", choices=EXECUTIONS, default=None,
        help="default: all (with --compile: masked, unrolled)")  # fmt: skip
    add("--modes", nargs="+", choices=("train", "eval"), default=["train", "eval"])
    add("--rounds", type=count, default=5, help="interleaved rounds")
    add("--steps", type=count, default=20, help="timed steps per variant and round")
    add("--warmup", type=integer(WHOLE), default=3, help="untimed steps per variant first")
    add("--threads", type=count, default=1, help="torch CPU threads")
    add("--device", type=parse_device, default="auto", help="auto, cpu, cuda, cuda:N")
    add("--compile", dest="compile_mode", default=None, choices=COMPILE_MODES,
        help="torch.compile every model (sync-free executions only)")  # fmt: skip
    add("--json", default=None, help="also write the rows and the machine here")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print the overhead table and the machine; 2 on bad input."""
    return run_main("pact_bench.overhead", lambda: _overhead(argv))


def _overhead(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    json_path = check_output_file(args.json, "--json")
    retain_freed_memory()  # time the computation, not page faults (pact_core.runs)
    torch.set_num_threads(args.threads)
    environment = describe_environment(args.device)

    def report(line: str) -> None:
        print(line, flush=True)

    executions = args.executions
    if executions is None:  # every execution, or every one that compiles
        executions = [e for e in EXECUTIONS if args.compile_mode is None or _sync_free(e)]
    elif args.compile_mode is not None and not all(_sync_free(e) for e in executions):
        raise UsageError(
            "--compile needs sync-free --executions (masked, unrolled); got "
            + ", ".join(executions)
        )
    rows = measure_overhead(
        ks=args.k,
        executions=executions,
        rounds=args.rounds,
        steps=args.steps,
        warmup=args.warmup,
        device=args.device,
        modes=args.modes,
        progress=report,
        compile_mode=args.compile_mode,
    )
    print(table(rows))
    print(f"\n{environment.summary()}")
    if json_path is not None:
        record: dict[str, Any] = {
            "rows": [asdict(r) for r in rows],
            "machine": environment.as_dict(),
            "settings": {
                "rounds": args.rounds,
                "steps": args.steps,
                "warmup": args.warmup,
                "compile": args.compile_mode,
            },
        }
        write_json(json_path, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
