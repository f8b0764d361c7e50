"""Train an adaptive RNN on parity or addition, resumably, and write a summary.

Command line::

    python -m pact_seq.train --task parity --model pact --tau 1e-3 --out runs/pact

Defaults are the published settings (Graves 2016; Fojo et al. 2018): parity with a
128-unit tanh RNN, batch 128 and at most 100 ponder steps; addition with a 512-unit LSTM,
batch 32 and at most 20 ponder steps; Adam with learning rate 1e-3. The run writes to
``--out``:

* ``log.jsonl``: every ``--log-every`` steps the training-batch accuracy, mean ponder
  steps, loss and steps/s;
* ``checkpoint.pt``: written atomically every ``--checkpoint-every`` steps and at the
  end; ``--resume`` continues from it and ends with bit-identical weights;
* ``summary.json``: the configuration, ``steps_to_solve`` (Savitzky-Golay smoothed
  accuracy reaching 98%), and accuracy and mean ponder on 10,000 fresh samples.

``--stop-when-solved`` ends the run before ``--steps`` once ``steps_to_solve`` can no
longer change (35 log points after the smoothed accuracy reaches 98%, at the earliest
at the 71st log point; see
:func:`pact_seq.smoothing.steps_to_solve`), with the same ``steps_to_solve`` as
the full run. ``steps_to_solve_fojo`` then covers only the steps run.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from pact_core import METHODS, REDUCTIONS, Interval, WarmUp, parse_method
from pact_core.runs import (
    COUNT,
    LEARNING_RATE,
    WHOLE,
    OneLineParser,
    add_halting_arguments,
    halting_fields,
    integer,
    number,
    parse_device,
    retain_freed_memory,
    run_main,
    to_json,
)
from pact_seq.config import (
    ARCHS,
    DEFAULT_REPEATS,
    TASK_DEFAULTS,
    TASKS,
    ConfigError,
    TrainConfig,
    settings_for,
)
from pact_seq.trainer import run_training

__all__ = ["MODEL_CHOICES", "main", "parse_config"]


#: ``--model`` choices: the methods, and Fojo et al.'s two baselines (``repeat`` is the
#: fixed method with ``L = --repeats``, ``plain`` the fixed method with ``L = 1``).
MODEL_CHOICES = (*METHODS, "repeat", "plain")


def _parser() -> OneLineParser:
    parser = OneLineParser(prog="pact_seq.train", description=__doc__.splitlines()[0])
    add = parser.add_argument
    count, whole = integer(COUNT), integer(WHOLE)
    add("--task", choices=TASKS, default="parity", help="parity, addition or prefix-parity")
    add("--arch", choices=ARCHS, default="recurrent",
        help="recurrent (a cell per timestep) or transformer (per-token depth)")  # fmt: skip
    add("--heads", type=count, default=4, help="attention heads of the transformer")
    add("--length", type=count, default=8, help="prefix-parity sequence length")
    add("--model", choices=MODEL_CHOICES, required=True,
        help="act, pact, pact-reinforce, pondernet, fixed; repeat (Repeat-RNN), plain")  # fmt: skip
    add("--repeats", type=count, default=None, help=f"Repeat-RNN rho (default {DEFAULT_REPEATS})")
    add_halting_arguments(parser, defaults={"max_iterations": "100 parity, 20 addition"})
    add("--steps", type=count, default=None, help="training steps (default: 200k / 1M)")
    add("--seed", type=integer(), default=0, help="seed of weights, data and noise")
    add("--device", type=parse_device, default="auto", help="auto (CUDA if available), cpu, cuda:N")
    add(
        "--out",
        required=True,
        help="run directory; one that holds a run needs --resume or --overwrite",
    )
    add("--resume", action="store_true", help="continue the run in --out")
    add("--overwrite", action="store_true", help="replace the run that --out holds")
    add("--log-every", type=count, default=None,
        help="steps between log points (task default: 1000, prefix parity 100)")  # fmt: skip
    add("--checkpoint-every", type=count, default=5000, help="steps between checkpoints")
    add("--cell", choices=("rnn", "lstm", "gru"), default=None, help="cell (task default)")
    add("--hidden-size", type=count, default=None, help="hidden units (task default)")
    add("--batch-size", type=count, default=None, help="batch size (task default)")
    add("--lr", type=number(LEARNING_RATE), default=1e-3,
        help="Adam learning rate (at most 1e30)")  # fmt: skip
    add("--bits", type=count, default=64, help="parity input length")
    add("--random-positions", action="store_true", help="parity nonzeros anywhere")
    add("--numbers", type=integer(Interval(2.0, integer=True)), default=5,
        help="addition sequence length")  # fmt: skip
    add("--digits", type=count, default=5, help="addition max digits per number")
    add("--penalty-reduction", choices=REDUCTIONS, default="mean",
        help="cost over timesteps: mean (Fojo et al.'s code) or sum (pact < 0.2)")  # fmt: skip
    add("--warmup-steps", type=whole, default=0,
        help="halting warm-up (a deviation from the papers): tau 0, head frozen")  # fmt: skip
    add("--ramp-steps", type=whole, default=0, help="linear tau ramp after the warm-up")
    add("--warmup-freeze", action=argparse.BooleanOptionalAction, default=True,
        help="freeze the halting head during the warm-up")  # fmt: skip
    add("--warmup-max-iterations", "--warmup-max-ponder", type=count, default=None,
        help="cap L during the warm-up")  # fmt: skip
    add("--warmup-recenter", action=argparse.BooleanOptionalAction, default=False,
        help="at the end of the warm-up, shift the halting bias back to its initial "
             "mean first-step logit")  # fmt: skip
    add("--eval-samples", type=count, default=10_000, help="fresh evaluation samples")
    add("--init", choices=("tf", "torch"), default="tf", help="weight init (tf: published code)")
    add("--stop-when-solved", action="store_true",
        help="end once steps_to_solve is settled (35 log points after 98%%)")  # fmt: skip
    add("--threads", type=count, default=None, help="torch CPU threads")
    add("--quiet", action="store_true", help="no progress bar")
    return parser


def _fixed_depth(model: str, repeats: int | None, max_iterations: int | None) -> int | None:
    """The depth of a fixed model: ``--repeats``, else ``--max-iterations``, else None.

    For ``fixed`` and ``repeat`` the cap L is the depth, so ``--max-iterations`` alone
    sets it; with both, ``--repeats`` must fit under the cap.
    """
    if model == "plain" or max_iterations is None or parse_method(model) != "fixed":
        return repeats
    if repeats is None:
        return max_iterations
    if repeats > max_iterations:
        raise ConfigError(
            f"--repeats {repeats} exceeds --max-iterations {max_iterations}: a {model} "
            "model runs exactly --repeats iterations, at most the cap"
        )
    return repeats


def parse_config(argv: list[str] | None) -> tuple[TrainConfig, argparse.Namespace]:
    """Parse the command line into a :class:`TrainConfig`.

    Raises:
        UsageError: On a bad argument, with a one-line message naming it.
    """
    args = _parser().parse_args(argv)
    defaults = TASK_DEFAULTS[args.task]

    def pick(value: Any, name: str) -> Any:
        return defaults[name] if value is None else value

    fields = halting_fields(args)
    repeats = _fixed_depth(args.model, args.repeats, fields.get("max_iterations"))
    fields.setdefault("max_iterations", defaults["max_iterations"])
    halting = settings_for(args.model, repeats=repeats, **fields)
    config = TrainConfig(
        task=args.task,
        halting=halting,
        steps=pick(args.steps, "steps"),
        seed=args.seed,
        cell=pick(args.cell, "cell"),
        hidden_size=pick(args.hidden_size, "hidden_size"),
        batch_size=pick(args.batch_size, "batch_size"),
        lr=args.lr,
        bits=args.bits,
        random_positions=args.random_positions,
        numbers=args.numbers,
        digits=args.digits,
        log_every=pick(args.log_every, "log_every"),
        checkpoint_every=args.checkpoint_every,
        eval_samples=args.eval_samples,
        init=args.init,
        arch=args.arch,
        heads=args.heads,
        length=args.length,
        stop_when_solved=args.stop_when_solved,
        penalty_reduction=args.penalty_reduction,
        warmup=WarmUp(
            steps=args.warmup_steps,
            ramp_steps=args.ramp_steps,
            freeze_head=args.warmup_freeze,
            max_iterations=args.warmup_max_iterations,
            recenter=args.warmup_recenter,
        ),
    )
    return config, args


def main(argv: list[str] | None = None) -> int:
    """Train, write ``OUT/summary.json`` and return 0; 2 on bad input, 1 on a failed run."""
    return run_main("pact_seq.train", lambda: _train(argv))


def _train(argv: list[str] | None) -> int:
    config, args = parse_config(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    retain_freed_memory()  # no page faults per step (pact_core.runs); results unchanged
    summary = run_training(
        config,
        args.out,
        device=args.device,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    if not args.quiet:
        keys = ("steps_to_solve", "accuracy", "mean_ponder", "eval_halting")
        print(to_json({k: summary[k] for k in keys}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
