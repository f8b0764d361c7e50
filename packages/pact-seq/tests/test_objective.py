"""The training loss of a sequence model: task loss plus ``tau`` times the mean cost."""

from __future__ import annotations

import re

import pytest
import torch
from helpers import unroll
from torch import Tensor

from pact_core import HaltingSettings
from pact_seq.addition import AdditionTask
from pact_seq.layer import AdaptiveRecurrent
from pact_seq.model import SequenceModel
from pact_seq.objective import training_loss

L = 5


def thresholded_costs_by_hand(layer: AdaptiveRecurrent, x: Tensor) -> Tensor:
    """``N`` ``[B, T]`` of thresholded halting, from the unfrozen cell.

    Each element halts at the first ``l < L`` with ``h^l > 1/2`` (logit > 0), else at
    ``L``, and ``N = 1 + sum_{l=2}^{L} prod_{i<l} (1 - h^i)`` (Alg. 3), a halted
    element's ``h`` staying that of its frozen state ``u^z`` (whether or not the loop
    ran those iterations). The next timestep starts from ``u^z``.
    """
    batch, steps = x.shape[0], x.shape[1]
    rows = torch.arange(batch)
    state = None
    costs = []
    for t in range(steps):
        states, logits = unroll(layer, x[:, t], L, state)
        fired = logits[:, :-1] > 0
        z = torch.where(fired.any(dim=1), fired.long().argmax(dim=1) + 1, L)
        frozen = torch.minimum(torch.arange(L), (z - 1).unsqueeze(-1))
        h = torch.sigmoid(logits.gather(1, frozen))
        cost = torch.ones(batch)
        survival = torch.ones(batch)
        for level in range(1, L):  # P(z >= level + 1)
            survival = survival * (1 - h[:, level - 1])
            cost = cost + survival
        costs.append(cost)
        state = states[rows, z - 1]
    return torch.stack(costs, dim=1)


@torch.no_grad()
def test_penalty_is_tau_times_the_mean_over_two_timesteps() -> None:
    torch.manual_seed(0)
    task = AdditionTask(numbers=2, digits=1)  # two timesteps, one target sum
    settings = HaltingSettings("pact", max_iterations=L)
    model = SequenceModel(task.input_size, task.output_size, 8, settings, execution="early-exit")
    head = model.recurrent.halting_head
    assert head is not None
    head.weight.normal_(0.0, 3.0)  # elements halt at different steps
    head.bias.fill_(1.0)
    model.eval()  # thresholded halting: deterministic, so it can be redone by hand
    batch = task.sample(64, torch.Generator().manual_seed(1))
    out = model(batch.x)
    assert out.recurrent.halting == "thresholded"
    assert out.recurrent.cost.shape == (64, 2)
    z = out.recurrent.iterations
    assert bool((z.min(dim=0).values < z.max(dim=0).values).all()), "needs uneven halting"
    assert out.recurrent.loop_steps[0] < L, "needs an early exit (N still covers all L)"
    cost = thresholded_costs_by_hand(model.recurrent, batch.x)
    torch.testing.assert_close(out.recurrent.cost, cost)
    first, second = cost[:, 0], cost[:, 1]
    assert not torch.allclose(first, second), "the two timesteps' costs must differ"
    assert float((first - second).mean().abs()) > 1e-3, "so must their batch means"

    tau = 0.03
    loss = training_loss(out, batch, task, tau=tau)
    task_loss = (task.nll(out.logits, batch.y) / task.num_targets).mean()
    torch.testing.assert_close(loss.task, task_loss)
    torch.testing.assert_close(loss.penalty, tau * ((first + second) / 2).mean())
    torch.testing.assert_close(loss.total, task_loss + tau * ((first + second) / 2).mean())
    assert float(loss.reinforce) == 0.0
    default = training_loss(out, batch, task, tau=tau, reduction="mean")
    torch.testing.assert_close(default.penalty, loss.penalty, rtol=0, atol=0)

    summed = training_loss(out, batch, task, tau=tau, reduction="sum")
    torch.testing.assert_close(summed.task, task_loss)
    torch.testing.assert_close(summed.penalty, tau * (first + second).mean())
    torch.testing.assert_close(summed.total, task_loss + tau * (first + second).mean())

    free = training_loss(out, batch, task, tau=0.0)  # tau = 0: the warm-up, no penalty
    assert float(free.penalty) == 0.0
    torch.testing.assert_close(free.total, task_loss)


@pytest.mark.parametrize(
    ("tau", "reduction", "message"),
    [
        (-0.01, "mean", "tau must be a finite number >= 0, got -0.01"),
        (float("inf"), "mean", "tau must be a finite number >= 0, got inf"),
        (0.01, "median", "reduction must be one of mean, sum; got 'median'"),
    ],
)
def test_bad_loss_arguments(tau: float, reduction: str, message: str) -> None:
    task = AdditionTask(numbers=2, digits=1)
    model = SequenceModel(task.input_size, task.output_size, 4, HaltingSettings("act"))
    batch = task.sample(4, torch.Generator().manual_seed(0))
    out = model(batch.x)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        training_loss(out, batch, task, tau=tau, reduction=reduction)  # type: ignore[arg-type]
