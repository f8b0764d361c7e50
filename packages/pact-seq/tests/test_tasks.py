from __future__ import annotations

import pytest
import torch
from hypothesis import given
from strategies import batch_sizes, bit_counts, digit_counts, number_counts, seeds

from pact_seq.addition import PAD, AdditionTask
from pact_seq.parity import ParityTask


def decode_parity(row: list[float]) -> tuple[int, int]:
    """Parity of the +1 entries and the number of nonzeros, with Python ints."""
    values = [int(v) for v in row]
    assert all(v in (-1, 0, 1) for v in values)
    return sum(1 for v in values if v == 1) % 2, sum(1 for v in values if v != 0)


@given(bits=bit_counts, batch=batch_sizes, seed=seeds)
def test_parity_targets_match_python_ints(bits: int, batch: int, seed: int) -> None:
    task = ParityTask(bits)
    sample = task.sample(batch, torch.Generator().manual_seed(seed))
    assert sample.x.shape == (batch, 1, bits)
    for row, target in zip(sample.x[:, 0].tolist(), sample.y.tolist(), strict=True):
        parity, count = decode_parity(row)
        assert target == parity
        assert 1 <= count <= bits
        assert all(v != 0 for v in row[:count])  # nonzeros first
        assert all(v == 0 for v in row[count:])


@given(bits=bit_counts, seed=seeds)
def test_parity_random_positions(bits: int, seed: int) -> None:
    task = ParityTask(bits, random_positions=True)
    sample = task.sample(32, torch.Generator().manual_seed(seed))
    for row, target in zip(sample.x[:, 0].tolist(), sample.y.tolist(), strict=True):
        parity, count = decode_parity(row)
        assert target == parity
        assert 1 <= count <= bits


def test_parity_distribution() -> None:
    task = ParityTask(64)
    sample = task.sample(20000, torch.Generator().manual_seed(0))
    counts = (sample.x != 0).sum(dim=-1).flatten().float()
    assert abs(float(counts.mean()) - 32.5) < 0.5  # k ~ U{1..64}
    assert abs(float(sample.y.mean()) - 0.5) < 0.02
    scattered = ParityTask(64, random_positions=True).sample(2000, torch.Generator())
    assert float((scattered.x[:, 0, -1] != 0).float().mean()) > 0.3  # not only a prefix


def test_parity_is_seeded() -> None:
    task = ParityTask(16)
    a = task.sample(8, torch.Generator().manual_seed(5))
    b = task.sample(8, torch.Generator().manual_seed(5))
    assert torch.equal(a.x, b.x)
    assert torch.equal(a.y, b.y)


def decode_number(blocks: list[float], digits: int) -> int | None:
    """The integer in ``digits`` one-hot blocks (missing digits all zero), or None."""
    text = ""
    for j in range(digits):
        block = blocks[10 * j : 10 * (j + 1)]
        if sum(block) == 0:
            assert all(sum(blocks[10 * k : 10 * (k + 1)]) == 0 for k in range(j, digits))
            break
        assert sorted(block) == [0.0] * 9 + [1.0]
        text += str(block.index(1.0))
    assert text, "every number has at least one digit"
    return int(text)


@given(numbers=number_counts, digits=digit_counts, batch=batch_sizes, seed=seeds)
def test_addition_targets_match_python_ints(
    numbers: int, digits: int, batch: int, seed: int
) -> None:
    task = AdditionTask(numbers, digits)
    sample = task.sample(batch, torch.Generator().manual_seed(seed))
    assert sample.x.shape == (batch, numbers, 10 * digits)
    assert sample.y.shape == (batch, numbers - 1, task.out_digits)
    for xs, ys in zip(sample.x.tolist(), sample.y.tolist(), strict=True):
        total = 0
        for t, blocks in enumerate(xs):
            value = decode_number(blocks, digits)
            assert value is not None
            total += value
            if t == 0:
                continue
            text = str(total)
            expected = [int(c) for c in text] + [PAD] * (task.out_digits - len(text))
            assert ys[t - 1] == expected


def test_addition_published_shape() -> None:
    task = AdditionTask()
    assert (task.out_digits, task.input_size, task.output_size) == (6, 50, 66)
    assert task.num_targets == 24
    sample = task.sample(4000, torch.Generator().manual_seed(0))
    present = sample.x.view(4000, 5, 5, 10).sum(dim=-1).sum(dim=-1)  # digits per number
    assert set(present.unique().tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_addition_scoring() -> None:
    task = AdditionTask(3, 2)
    sample = task.sample(5, torch.Generator().manual_seed(1))
    logits = torch.full((5, 3, task.output_size), -10.0)
    scores = logits[:, 1:].view(5, 2, task.out_digits, 11)
    scores.scatter_(-1, sample.y.unsqueeze(-1), 10.0)
    logits[:, 1:] = scores.view(5, 2, -1)
    assert bool(task.target_correct(logits, sample.y).all())
    assert float(task.nll(logits, sample.y).max()) < 1e-3
    logits[0, 1, 0] = 100.0  # digit 0 of the first sum becomes class 0
    right = task.target_correct(logits, sample.y)
    assert bool(right[0, 0]) == (int(sample.y[0, 0, 0]) == 0)


def test_parity_scoring() -> None:
    task = ParityTask(4)
    y = torch.tensor([0.0, 1.0])
    logits = torch.tensor([[[-3.0]], [[2.0]]])
    assert task.target_correct(logits, y).tolist() == [[True], [True]]
    torch.testing.assert_close(
        task.nll(logits, y), torch.nn.functional.softplus(torch.tensor([-3.0, -2.0]))
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ParityTask(0), "bits must be"),
        (lambda: AdditionTask(1, 5), "numbers must be"),
        (lambda: AdditionTask(5, 0), "digits must be"),
    ],
)
def test_bad_task_arguments(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]
