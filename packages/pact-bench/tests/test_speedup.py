"""Controlled halting maps and ``python -m pact_bench.speedup`` (mechanics, not speed)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from pact_bench.halting_maps import control_halting, depth_maps, unit_fractions
from pact_bench.speedup import main, time_seq_compaction
from pact_seq.train import main as train_main
from pact_vision import resnet


@pytest.mark.parametrize("units", [2, 5, 18])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 1.0])
def test_unit_fractions_average_to_the_active_fraction(units: int, fraction: float) -> None:
    shares = unit_fractions(units, fraction)
    assert len(shares) == units - 1
    assert math.isclose(sum(shares) / (units - 1), fraction, abs_tol=1e-12)
    assert all(a >= b for a, b in itertools.pairwise(shares))  # nested units


@pytest.mark.parametrize("kind", ["random", "clustered"])
def test_depth_maps_hit_the_fraction_and_nest(kind: str) -> None:
    generator = torch.Generator().manual_seed(0)
    depth = depth_maps(kind, 16, 32, 32, 5, 0.25, generator)
    assert depth.shape == (16, 32, 32) and depth.dtype == torch.int64
    assert int(depth.min()) >= 1 and int(depth.max()) <= 5
    share = float(((depth - 1) / 4).double().mean())
    # Random maps draw the fraction (about 65k Bernoulli trials); clustered ones hit it
    # up to rounding of each unit's position count.
    assert abs(share - 0.25) < (0.01 if kind == "random" else 0.002)
    if kind == "clustered":  # blobs: most active neighbours of an active position are active
        active = depth > 1
        same = (active[:, 1:, :] == active[:, :-1, :]).float().mean()
        assert float(same) > 0.9


def test_depth_maps_bad_arguments() -> None:
    generator = torch.Generator()
    with pytest.raises(ValueError, match="map kind must be one of random, clustered"):
        depth_maps("stripes", 1, 4, 4, 3, 0.5, generator)
    with pytest.raises(ValueError, match=r"active fraction must be in \[0, 1\], got 1.5"):
        depth_maps("random", 1, 4, 4, 3, 1.5, generator)
    with pytest.raises(ValueError, match="at least 2 units"):
        unit_fractions(1, 0.5)


def test_control_halting_executes_the_depth_map() -> None:
    torch.manual_seed(0)
    model = resnet(3, halting="thresholded").eval()
    generator = torch.Generator().manual_seed(1)
    maps = [depth_maps("clustered", 2, s, s, 3, 0.4, generator) for s in (16, 8, 4)]
    handles = control_halting(model, maps)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 16, 16))
    for executed, depth in zip(out.executed, maps, strict=True):
        assert torch.equal(executed, depth)
    for handle in handles:
        handle.remove()
    with torch.no_grad():
        learned = model(torch.randn(2, 3, 16, 16))
    assert all(int(e.min()) == 3 for e in learned.executed)  # heads at bias -3: no halting
    with pytest.raises(ValueError, match=r"one depth map per block \(3\), got 1"):
        control_halting(model, maps[:1])


def test_speedup_cli_writes_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq_run = tmp_path / "pact"
    assert train_main(["--task", "parity", "--bits", "4", "--hidden-size", "8", "--steps", "20",
                       "--log-every", "10", "--eval-samples", "32", "--max-iterations", "4",
                       "--model", "pact", "--tau", "0.01", "--threads", "1", "--quiet",
                       "--out", str(seq_run)]) == 0  # fmt: skip
    out = tmp_path / "speed.json"
    argv = ["--arch", "resnet14", "--batch", "1,3", "--active", "0.3,1", "--min-run-time",
            "0.001", "--threads", "1", "--seq-checkpoint", str(seq_run / "checkpoint.pt"),
            "--seq-samples", "16", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Machine: ")
    payload = json.loads(out.read_text())
    rows = payload["vision"]
    assert len(rows) == 2 * 2 * 2  # batches x map kinds x fractions
    for row in rows:
        assert row["max_abs_diff"] < 1e-4  # sparse computes what masked computes
        assert row["dense_ms"] > 0 and row["sparse_ms"] > 0
        expected = 1.0 if row["target"] == 1 else 0.3
        assert abs(row["active_fraction"] - expected) < 0.2
    full = [r for r in rows if r["target"] == 1]
    assert all(math.isclose(r["ideal_speedup"], 1.0, rel_tol=0.02) for r in full)
    (seq,) = payload["seq"]
    assert seq["samples"] == 16 and seq["compact_ms"] > 0 and seq["ideal_speedup"] >= 1.0
    assert seq["train_batch"] == 128 and seq["train_compact_ms"] > 0
    assert "train step masked ms" in printed
    assert seq["compiled_masked_ms"] is None  # timed only with --compile


def test_speedup_times_compiled_seq_evaluation(tmp_path: Path) -> None:
    seq_run = tmp_path / "act"
    assert train_main(["--task", "parity", "--bits", "4", "--hidden-size", "8", "--steps", "10",
                       "--log-every", "10", "--eval-samples", "32", "--max-iterations", "3",
                       "--model", "act", "--threads", "1", "--quiet",
                       "--out", str(seq_run)]) == 0  # fmt: skip
    row = time_seq_compaction(
        seq_run / "checkpoint.pt",
        samples=8,
        device=torch.device("cpu"),
        min_run_time=0.001,
        compile_mode="default",
    )
    assert row["compiled_masked_ms"] is not None and row["compiled_masked_ms"] > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--masks", "stripes"], "--masks: unknown kind 'stripes'"),
        (
            ["--active", "1.5"],
            "argument --active: item 1 ('1.5') must be a finite number in [0, 1]",
        ),
        (["--batch", "1,0"], "argument --batch: item 2 ('0') must be an integer >= 1"),
        (["--arch", "resnet33"], "arch must be resnet<6n+2>"),
        (["--masks", "", "--checkpoint", "x.pt"], "--checkpoint needs --data"),
    ],
)
def test_speedup_bad_arguments(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_speedup_profile_prints_both_executions(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--arch", "resnet14", "--batch", "2", "--active", "0.5", "--masks", "clustered",
            "--min-run-time", "0.001", "--threads", "1", "--profile"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "clustered maps, batch 2, active 0.5:" in printed
    assert "dense, 5 passes:" in printed and "sparse (thresholded), 5 passes:" in printed
    assert printed.count("aten::mkldnn_convolution") >= 2 or printed.count("aten::conv") >= 2
