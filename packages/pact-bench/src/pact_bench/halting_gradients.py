"""``python -m pact_bench.halting_gradients``: what steers the ponder of a sequence model.

The halting bias of an ACT or PACT model gets two gradients: from the task loss, which
asks for whatever number of steps helps the prediction, and from the penalty
``tau * cost`` (eqs. 25-27), which always asks for fewer. Which one wins decides whether
the ponder falls, stays or climbs. For a ``pact_seq.train`` checkpoint this command
draws ``--batches`` fresh training batches and, on each, takes the gradient of the two
parts of the model's own training loss (:func:`pact_seq.objective.training_loss`, in
training mode with the training halting) with respect to the halting head's bias. It
prints their mean and standard deviation over the batches, the ratio of the task
gradient's mean and spread to the penalty's mean, and the mean iterations per input. A
negative gradient on the bias raises ``h``, so it asks for *fewer* steps.

``--tau`` sets the penalty weight (default: the run's), and ``--initial`` measures the
model as initialised by the run's seed instead of the trained weights.

Example::

    python -m pact_bench.halting_gradients --checkpoint runs/p15/act_tau0.001_warm_s0
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pact_core import Interval
from pact_core.runs import COUNT, OneLineParser, UsageError, integer, number, run_main
from pact_seq import TrainConfig, build_model, build_task
from pact_seq.evaluation import load_seq_checkpoint
from pact_seq.objective import training_loss
from pact_seq.task import Task

__all__ = ["GradientSplit", "halting_gradients", "main"]


@dataclass(frozen=True)
class GradientSplit:
    """The halting bias's gradients from the task loss and from the penalty.

    Attributes:
        task_mean: Mean over batches of ``d(task loss) / d(bias)``.
        task_sd: Their standard deviation.
        penalty_mean: Mean over batches of ``d(tau * cost) / d(bias)``.
        penalty_sd: Their standard deviation.
        ponder: Mean iterations per input over the batches.
        batches: Batches drawn.
    """

    task_mean: float
    task_sd: float
    penalty_mean: float
    penalty_sd: float
    ponder: float
    batches: int


def halting_gradients(
    model: nn.Module, task: Task, config: TrainConfig, *, tau: float, batches: int, seed: int = 0
) -> GradientSplit:
    """Split the halting bias's gradient into its task and penalty parts.

    Args:
        model: A pact-seq model with a halting head (``model.halting_head``).
        task: Its task.
        config: Its training configuration (penalty reduction, batch size, PonderNet's
            constants).
        tau: The penalty weight.
        batches: Training batches to draw (at least 2).
        seed: Seed of the batches and of the halting noise.

    Raises:
        ValueError: If the model has no halting head or ``batches < 2``.
    """
    head = getattr(model, "halting_head", None)
    if head is None or head.bias is None:
        raise ValueError("the model has no halting head (Repeat-RNN or the plain RNN)")
    if batches < 2:
        raise ValueError(f"batches must be >= 2, got {batches}")
    bias = head.bias
    data = torch.Generator().manual_seed(seed)
    noise = torch.Generator().manual_seed(seed + 1)
    model.train()
    task_grads: list[float] = []
    penalty_grads: list[float] = []
    ponders: list[float] = []
    for _ in range(batches):
        batch = task.sample(config.batch_size, data)
        output = model(batch.x, generator=noise)
        loss = training_loss(
            output, batch, task, tau=tau, reduction=config.penalty_reduction,
            beta=config.halting.beta, lambda_p=config.halting.lambda_p,
        )  # fmt: skip
        (from_task,) = torch.autograd.grad(loss.task, bias, retain_graph=True)
        from_penalty = None  # tau = 0: the penalty is a constant
        if loss.penalty.requires_grad:
            (from_penalty,) = torch.autograd.grad(loss.penalty, bias, allow_unused=True)
        task_grads.append(float(from_task.sum()))
        penalty_grads.append(0.0 if from_penalty is None else float(from_penalty.sum()))
        ponders.append(float(output.recurrent.iterations.double().mean()))
    return GradientSplit(
        task_mean=statistics.fmean(task_grads),
        task_sd=statistics.stdev(task_grads),
        penalty_mean=statistics.fmean(penalty_grads),
        penalty_sd=statistics.stdev(penalty_grads),
        ponder=statistics.fmean(ponders),
        batches=batches,
    )


PROG = "pact_bench.halting_gradients"


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        description="The halting bias's gradient from the task loss against the one from "
        "the ponder penalty, on fresh training batches.",
    )
    add = parser.add_argument
    add("--checkpoint", type=Path, required=True,
        help="a pact_seq.train checkpoint, or the run directory holding it")  # fmt: skip
    add("--batches", type=integer(Interval(2.0, integer=True)), default=40,
        help="training batches drawn (40)")  # fmt: skip
    add("--tau", type=number(Interval(0.0)), default=None,
        help="penalty weight (default: the run's)")  # fmt: skip
    add("--initial", action="store_true",
        help="measure the model as the run's seed initialises it, not the trained one")  # fmt: skip
    add("--seed", type=integer(COUNT), default=123, help="seed of the batches (123)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print the split.

    Returns:
        0; 2 on bad input, 1 on a missing or foreign checkpoint (one line on stderr).
    """
    return run_main(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    path: Path = args.checkpoint
    if path.is_dir():
        path = path / "checkpoint.pt"
    data = load_seq_checkpoint(path)
    config = TrainConfig.from_dict(data["config"])
    torch.manual_seed(config.seed)
    task = build_task(config)
    model = build_model(config, task)
    if not args.initial:
        model.load_state_dict(data["model"])
    tau = config.halting.tau if args.tau is None else args.tau
    torch.set_num_threads(1)
    try:
        split = halting_gradients(model, task, config, tau=tau, batches=args.batches,
                                  seed=args.seed)  # fmt: skip
    except ValueError as error:
        raise UsageError(f"--checkpoint {args.checkpoint}: {error}") from None
    state = "as initialised" if args.initial else f"at step {data.get('step')}"
    batches = f"{split.batches} batches of {config.batch_size}"
    print(f"{config.halting.method} on {config.task}, {state}, tau={tau:g}, {batches}, "
          f"mean ponder {split.ponder:.2f}")  # fmt: skip
    print("| gradient on the halting bias | mean | sd |\n|---|---|---|")
    print(f"| task loss | {split.task_mean:+.2e} | {split.task_sd:.2e} |")
    print(f"| penalty tau * cost | {split.penalty_mean:+.2e} | {split.penalty_sd:.2e} |")
    if split.penalty_mean:
        ratio = split.task_mean / split.penalty_mean
        spread = split.task_sd / abs(split.penalty_mean)
        print(f"\ntask mean / penalty mean: {ratio:+.1f}; task sd / |penalty mean|: {spread:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
