"""The trainer: the halting warm-up, the collapse diagnostic and the penalty reduction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from pact_core import AdaptiveLoss, HaltingSettings, WarmUp
from pact_seq import SequenceModel
from pact_seq.config import TrainConfig
from pact_seq.model import ModelOutput
from pact_seq.trainer import COLLAPSE_SHARE, LOG, Trainer

CPU = torch.device("cpu")


def tiny_config(halting: HaltingSettings, **changes: Any) -> TrainConfig:
    """A parity run small enough for a unit test."""
    options: dict[str, Any] = {
        "bits": 4,
        "hidden_size": 8,
        "batch_size": 16,
        "steps": 6,
        "log_every": 2,
        "checkpoint_every": 100,
        "eval_samples": 64,
        **changes,
    }
    return TrainConfig(task="parity", halting=halting, **options)


def train(trainer: Trainer, steps: int) -> list[tuple[float, ModelOutput, AdaptiveLoss]]:
    """``steps`` training steps as ``Trainer.run`` takes them: the tau, output and loss."""
    trainer.model.train()
    taken = []
    for _ in range(steps):
        tau = trainer.tau
        _, output, loss = trainer.train_once()
        trainer.step += 1
        taken.append((tau, output, loss))
    return taken


def recurrent(trainer: Trainer) -> SequenceModel:
    assert isinstance(trainer.model, SequenceModel)
    return trainer.model


def head_parameters(trainer: Trainer) -> list[Tensor]:
    head = recurrent(trainer).recurrent.halting_head
    assert head is not None
    return [p.detach().clone() for p in head.parameters()]


def cell_parameters(trainer: Trainer) -> list[Tensor]:
    return [p.detach().clone() for p in recurrent(trainer).recurrent.cell.parameters()]


def same(a: list[Tensor], b: list[Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def all_changed(a: list[Tensor], b: list[Tensor]) -> bool:
    return len(a) == len(b) and not any(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("method", ["act", "pact", "pact-reinforce"])
def test_warmup_has_no_penalty_and_a_frozen_head(method: str) -> None:
    halting = HaltingSettings(method, max_iterations=4, tau=0.01)  # type: ignore[arg-type]
    trainer = Trainer.create(tiny_config(halting, warmup=WarmUp(steps=3)), CPU)
    head, cell = head_parameters(trainer), cell_parameters(trainer)
    for step, (tau, output, loss) in enumerate(train(trainer, 3)):
        assert tau == 0.0 == trainer.config.tau_at(step), step
        assert float(loss.penalty) == 0.0, step
        torch.testing.assert_close(loss.total, loss.task + loss.reinforce)
        assert float(output.recurrent.cost.detach().mean()) >= 1.0  # a cost, not charged
        assert same(head_parameters(trainer), head), f"the head moved at step {step}"
    assert trainer.step == 3
    assert all_changed(cell_parameters(trainer), cell), "the cell trains during the warm-up"

    [(tau, output, loss)] = train(trainer, 1)
    assert tau == 0.01 == trainer.config.halting.tau
    torch.testing.assert_close(loss.penalty, 0.01 * output.recurrent.cost.mean())
    assert float(loss.penalty.detach()) > 0.0
    assert all_changed(head_parameters(trainer), head), "the head trains after the warm-up"


def test_without_the_freeze_the_head_trains_during_the_warmup() -> None:
    # The contrast that makes the frozen head above mean something: tau = 0 alone does
    # not keep the head still, the task gradient reaches it.
    halting = HaltingSettings("act", max_iterations=4, tau=0.01)
    config = tiny_config(halting, warmup=WarmUp(steps=3, freeze_head=False))
    trainer = Trainer.create(config, CPU)
    head = head_parameters(trainer)
    for tau, _, loss in train(trainer, 3):
        assert tau == 0.0
        assert float(loss.penalty) == 0.0
    assert all_changed(head_parameters(trainer), head)


def test_tau_ramps_up_linearly_after_the_warmup() -> None:
    halting = HaltingSettings("pact", max_iterations=4, tau=0.02)
    trainer = Trainer.create(tiny_config(halting, warmup=WarmUp(steps=2, ramp_steps=4)), CPU)
    taken = train(trainer, 7)
    expected = [0.0, 0.0, 0.005, 0.01, 0.015, 0.02, 0.02]
    assert [tau for tau, _, _ in taken] == pytest.approx(expected)
    for tau, output, loss in taken:  # parity has one timestep: the penalty is tau * N
        torch.testing.assert_close(loss.penalty, tau * output.recurrent.cost.mean())


def test_warmup_caps_the_iterations_and_restores_the_settings() -> None:
    halting = HaltingSettings("act", max_iterations=4, tau=0.01, halting_bias=-20.0)
    config = tiny_config(halting, warmup=WarmUp(steps=2, max_iterations=2))
    trainer = Trainer.create(config, CPU)
    for step, (_, output, _) in enumerate(train(trainer, 4)):
        cap = 2 if step < 2 else 4  # the bias never halts before the cap
        assert output.recurrent.loop_steps == (cap,), step
        assert torch.equal(output.recurrent.iterations, torch.full((16, 1), cap)), step
        assert recurrent(trainer).recurrent.settings is halting  # restored after each step


@pytest.mark.parametrize("method", ["act", "pact"])
def test_recenter_restores_the_mean_first_logit_once_at_the_end_of_the_warmup(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    halting = HaltingSettings(method, max_iterations=4, tau=0.01, halting_bias=-1.0)  # type: ignore[arg-type]
    config = tiny_config(halting, warmup=WarmUp(steps=3, recenter=True))
    trainer = Trainer.create(config, CPU)
    with torch.no_grad():  # a drifted head, as after a long warm-up
        head = recurrent(trainer).recurrent.halting_head
        assert head is not None
        head.bias.fill_(-6.0)
    seen: list[tuple[int, float]] = []
    recenter = Trainer.recenter_halting

    def spy(self: Trainer, batch: Any) -> None:
        recenter(self, batch)
        with torch.no_grad():
            probe = torch.Generator().manual_seed(0)
            first = self.model(batch.x, generator=probe).recurrent.first_halting
        assert first is not None
        seen.append((self.step, float(torch.logit(first.double(), eps=1e-7).mean())))

    monkeypatch.setattr(Trainer, "recenter_halting", spy)
    train(trainer, 5)
    assert len(seen) == 1 and seen[0][0] == 3  # once, before the first step after it
    assert seen[0][1] == pytest.approx(-1.0, abs=1e-4)  # the initial bias again


def test_a_fixed_model_has_no_penalty_and_no_warmup() -> None:
    halting = HaltingSettings("fixed", max_iterations=2, tau=0.01)
    trainer = Trainer.create(tiny_config(halting, warmup=WarmUp(steps=2)), CPU)
    for tau, output, loss in train(trainer, 3):
        assert tau == 0.0
        assert float(loss.penalty) == 0.0
        assert output.recurrent.first_halting is None


def test_collapse_to_one_iteration_is_reported_from_the_first_log_point(
    tmp_path: Path,
) -> None:
    # A huge halting bias: h^1 = 1 for every input, so every input halts at step 1.
    halting = HaltingSettings("act", max_iterations=4, halting_bias=50.0)
    trainer = Trainer.create(tiny_config(halting), CPU)
    trainer.run(tmp_path, progress=False)
    assert [r["step"] for r in trainer.history] == [2, 4, 6]
    for record in trainer.history:
        assert record["halt_at_first"] == 1.0
        assert record["h1"] == pytest.approx(1.0)
        assert record["ponder"] == 1.0
    logged = [json.loads(line) for line in (tmp_path / LOG).read_text().splitlines()]
    assert [r["halt_at_first"] for r in logged] == [1.0, 1.0, 1.0]
    collapse = trainer.collapse()
    assert collapse == {"collapsed": True, "step": 2, "share": COLLAPSE_SHARE}
    assert trainer.summary()["collapse"] == collapse


def test_a_model_that_keeps_pondering_has_not_collapsed(tmp_path: Path) -> None:
    halting = HaltingSettings("act", max_iterations=4, halting_bias=-50.0)
    trainer = Trainer.create(tiny_config(halting), CPU)
    trainer.run(tmp_path, progress=False)
    assert [r["halt_at_first"] for r in trainer.history] == [0.0, 0.0, 0.0]
    assert all(r["ponder"] == 4.0 for r in trainer.history)
    assert trainer.collapse() == {"collapsed": False, "step": None, "share": COLLAPSE_SHARE}


def test_collapse_counts_the_final_unbroken_stretch() -> None:
    trainer = Trainer.create(tiny_config(HaltingSettings("act", max_iterations=4)), CPU)
    assert trainer.collapse() is None  # nothing logged yet

    def shares(*values: float) -> dict[str, Any] | None:
        trainer.history = [{"step": 10 * (i + 1), "halt_at_first": v} for i, v in enumerate(values)]
        return trainer.collapse()

    assert shares(1.0, 0.5, 1.0, COLLAPSE_SHARE) == {
        "collapsed": True,
        "step": 30,
        "share": COLLAPSE_SHARE,
    }
    assert shares(1.0, 1.0, 0.98) == {"collapsed": False, "step": None, "share": COLLAPSE_SHARE}


def test_a_fixed_model_has_no_collapse_diagnostic(tmp_path: Path) -> None:
    trainer = Trainer.create(tiny_config(HaltingSettings("fixed", max_iterations=2)), CPU)
    trainer.run(tmp_path, progress=False)
    assert trainer.history
    assert all("halt_at_first" not in r and "h1" not in r for r in trainer.history)
    assert trainer.collapse() is None


def test_the_penalty_reduction_reaches_the_loss() -> None:
    # Addition with two numbers: two timesteps, so the sum is twice the mean.
    losses = {}
    for reduction in ("mean", "sum"):
        config = TrainConfig(
            task="addition",
            halting=HaltingSettings("act", max_iterations=3, tau=0.01),
            cell="rnn",
            hidden_size=8,
            batch_size=8,
            numbers=2,
            digits=1,
            penalty_reduction=reduction,
        )
        [(_, output, loss)] = train(Trainer.create(config, CPU), 1)
        assert output.recurrent.cost.shape == (8, 2)
        losses[reduction] = (output.recurrent.cost.detach(), loss)
    cost, mean = losses["mean"]
    torch.testing.assert_close(mean.penalty, 0.01 * cost.mean(dim=1).mean())
    torch.testing.assert_close(losses["sum"][1].penalty, 0.01 * cost.sum(dim=1).mean())
    torch.testing.assert_close(losses["sum"][1].penalty, 2 * mean.penalty)
