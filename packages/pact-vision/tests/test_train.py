from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import write_cifar, write_fashion

from pact_vision import evaluate, ponder_maps, train
from pact_vision.checkpoint import load_checkpoint
from pact_vision.schedule import BatchSampler, learning_rate


def common(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--arch",
        "resnet14",
        "--data",
        "cifar10",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--batch-size",
        "8",
        "--device",
        "cpu",
        "--log-every",
        "2",
        "--no-progress",
        *extra,
    ]


@pytest.fixture(scope="module")
def cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cifar")
    write_cifar(root, per_batch=8)
    return root


@pytest.fixture(scope="module")
def dense_checkpoint(cifar: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dense")
    assert train.main(common(cifar, out, "--mode", "dense", "--steps", "2")) == 0
    return out / "checkpoint.pt"


def test_schedule_and_sampler() -> None:
    lrs = [learning_rate(s, 100, 0.1) for s in (0, 59, 60, 74, 75, 89, 90, 99)]
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.01, 1e-3, 1e-3, 1e-4, 1e-4])
    whole = BatchSampler(10, 4, seed=0)
    halves = [BatchSampler(10, 4, seed=0, rank=r, world_size=2) for r in range(2)]
    for step in range(5):
        joined = torch.cat([h.indices(step) for h in halves])
        assert sorted(joined.tolist()) == sorted(whole.indices(step).tolist())
    epoch = torch.cat([whole.indices(s) for s in range(2)])
    assert len(set(epoch.tolist())) == 8  # no repeats within an epoch
    with pytest.raises(ValueError, match="fewer than the batch size"):
        BatchSampler(3, 4, seed=0)


def test_dense_run_writes_log_and_checkpoint(dense_checkpoint: Path) -> None:
    payload = load_checkpoint(dense_checkpoint)
    assert payload["step"] == 2
    assert payload["model_config"]["settings"]["method"] == "fixed"
    lines = [json.loads(line) for line in (dense_checkpoint.parent / "log.jsonl").open()]
    assert [line["event"] for line in lines] == ["start", "train", "eval"]
    assert lines[1]["mflops"] > 0
    assert 0 <= lines[2]["test_accuracy"] <= 1


@pytest.mark.parametrize(
    ("mode", "extra"),
    [
        ("relaxed", ["--tau", "0.01", "--group", "2"]),
        ("act", ["--tau", "0.01"]),
        ("pact-reinforce", ["--tau", "0.01", "--group", "4"]),
        ("relaxed", ["--tau", "0.01", "--amp", "on", "--channels-last", "on"]),
    ],
)
def test_adaptive_modes_train_from_a_dense_checkpoint(
    cifar: Path, dense_checkpoint: Path, tmp_path: Path, mode: str, extra: list[str]
) -> None:
    argv = common(cifar, tmp_path, "--mode", mode, "--steps", "2", "--init", str(dense_checkpoint))
    assert train.main(argv + extra) == 0
    payload = load_checkpoint(tmp_path / "checkpoint.pt")
    head_bias = payload["model"]["blocks.0.heads.0.bias"]
    assert head_bias != -3.0  # the heads trained
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").open()]
    assert all(torch.isfinite(torch.tensor(line.get("loss", 0.0))) for line in lines)


def test_resume_equals_uninterrupted(cifar: Path, tmp_path: Path) -> None:
    args = ["--mode", "relaxed", "--tau", "0.01", "--steps", "6", "--checkpoint-every", "100"]
    dense = tmp_path / "dense"
    assert train.main(common(cifar, dense, "--mode", "dense", "--steps", "1")) == 0
    args += ["--init", str(dense / "checkpoint.pt")]
    assert train.main(common(cifar, tmp_path / "whole", *args)) == 0
    split = tmp_path / "split"
    assert train.main(common(cifar, split, *args, "--stop-at", "3")) == 0
    assert load_checkpoint(split / "checkpoint.pt")["step"] == 3
    assert train.main(common(cifar, split, *args, "--resume")) == 0
    whole = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")
    resumed = load_checkpoint(split / "checkpoint.pt")
    assert resumed["step"] == whole["step"] == 6
    for key, value in whole["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    momenta = zip(
        whole["optimizer"]["state"].values(), resumed["optimizer"]["state"].values(), strict=True
    )
    for a, b in momenta:
        assert torch.equal(a["momentum_buffer"], b["momentum_buffer"])
    events = [json.loads(line)["event"] for line in (split / "log.jsonl").open()]
    assert "stop" in events
    assert "resume" in events


def test_bad_arguments_give_one_line_errors(
    cifar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = [
        ["--group", "3"],
        ["--arch", "resnet33"],
        ["--steps", "0"],
        ["--delta", "1.5"],
        ["--mode", "sparse"],
        ["--device", "tpu"],
    ]
    for extra in bad:
        assert train.main(common(cifar, tmp_path, "--steps", "1", *extra)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert "error:" in err


def test_missing_data_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train.main(common(tmp_path / "nowhere", tmp_path / "out", "--steps", "1")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "nowhere" in err
    assert "--download" in err
    argv = ["--data", "fashion-mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path)]
    assert train.main([*argv, "--no-progress"]) == 1
    assert "dataset-fashion-mnist" in capsys.readouterr().err


def test_fashion_mnist_training(tmp_path: Path) -> None:
    data = write_fashion(tmp_path / "fm", train=16, test=4)
    argv = ["--arch", "resnet8", "--data", "fashion-mnist", "--data-dir", str(data)]
    argv += ["--out", str(tmp_path / "o"), "--batch-size", "8", "--steps", "1", "--no-progress"]
    assert train.main(argv) == 0
    assert load_checkpoint(tmp_path / "o" / "checkpoint.pt")["model_config"]["in_channels"] == 1


def test_evaluate_every_mode_and_sact_as_thresholded(
    cifar: Path, dense_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = common(cifar, tmp_path / "sact", "--mode", "act", "--steps", "1")
    assert train.main([*argv, "--init", str(dense_checkpoint)]) == 0
    report = tmp_path / "eval.json"
    checkpoint = str(tmp_path / "sact" / "checkpoint.pt")
    modes = "act,relaxed,discrete,thresholded,fixed"
    assert evaluate.main(["--checkpoint", checkpoint, "--modes", modes, "--json", str(report)]) == 0
    table = capsys.readouterr().out
    for mode in modes.split(","):
        assert mode in table
    results = json.loads(report.read_text())["results"]
    assert [r["halting"] for r in results] == modes.split(",")
    dense = results[-1]
    assert all(r["mean_flops"] <= dense["mean_flops"] * 1.1 for r in results)
    assert all(0 <= r["accuracy"] <= 1 for r in results)
    assert evaluate.main(["--checkpoint", str(dense_checkpoint), "--modes", "relaxed"]) == 2
    assert "needs a halting head" in capsys.readouterr().err
    assert evaluate.main(["--checkpoint", str(tmp_path / "none.pt")]) == 1


def test_ponder_maps_are_written(dense_checkpoint: Path, cifar: Path, tmp_path: Path) -> None:
    out = tmp_path / "psact"
    argv = common(cifar, out, "--mode", "relaxed", "--steps", "1")
    assert train.main([*argv, "--init", str(dense_checkpoint)]) == 0
    maps = tmp_path / "maps"
    argv = ["--checkpoint", str(out / "checkpoint.pt"), "--out", str(maps), "--count", "2"]
    assert ponder_maps.main([*argv, "--scale", "2"]) == 0
    summary = json.loads((maps / "maps.json").read_text())
    assert len(summary["images"]) == 2
    first = summary["images"][0]
    assert (maps / first["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 3 <= first["mean_units"] <= 6
    # The figure's data: the image, its map and the scale, enough to draw it again.
    data = json.loads((maps / first["data"]).read_text())
    assert data["kind"] == "ponder-map" and data["halting"] == "thresholded"
    assert (data["low"], data["high"]) == (3.0, 6.0) == tuple(summary["scale"])
    assert len(data["image"]) == len(data["units"]) == 32  # [H][W][3] beside [H][W]
    assert len(data["image"][0][0]) == 3
    assert data["mean_units"] == pytest.approx(first["mean_units"])
    figure = ponder_maps.ponder_figure(data)
    image_axes, map_axes, colour_bar = figure.axes  # the image, the map and its colour bar
    pixels = image_axes.get_images()[0].get_array()
    assert pixels is not None and pixels.shape == (32, 32, 3)
    assert map_axes.get_images()[0].get_clim() == (3.0, 6.0)
    assert colour_bar.get_ylabel() == "residual units executed"
    # Drawn again from the data alone, as a vector file.
    assert ponder_maps.main(["--from-data", str(maps / first["data"]), "--format", "svg"]) == 0
    assert (maps / first["file"]).with_suffix(".svg").read_text().lstrip().startswith("<?xml")


def test_ponder_maps_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "xy"}))
    assert ponder_maps.main(["--from-data", str(bad)]) == 1
    assert "not the data of a ponder map" in capsys.readouterr().err
    assert ponder_maps.main(["--from-data", str(bad), "--scale", "1000"]) == 2
    assert "argument --scale: must be an integer in [1, 16], got '1000'" in capsys.readouterr().err


def test_old_mode_names_still_train(cifar: Path, tmp_path: Path) -> None:
    out = tmp_path / "old"
    assert train.main(common(cifar, out, "--mode", "dense", "--steps", "1")) == 0
    assert load_checkpoint(out / "checkpoint.pt")["model_config"]["settings"]["method"] == "fixed"


def test_gradient_variance_is_logged(cifar: Path, tmp_path: Path) -> None:
    out = tmp_path / "variance"
    argv = common(cifar, out, "--method", "fixed", "--steps", "4", "--log-every", "2")
    assert train.main([*argv, "--grad-variance"]) == 0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    spreads = [r["grad_variance_log10"] for r in records if r.get("event") == "train"]
    assert len(spreads) == 2 and all(isinstance(v, float) for v in spreads)


def test_gradient_variance_of_known_gradients() -> None:
    from pact_vision.gradients import GradientVariance

    weight = torch.nn.Parameter(torch.zeros(2))
    tracker = GradientVariance([weight])
    for grad in ([1.0, 3.0], [3.0, 5.0]):  # per-element variance 1 and 1
        weight.grad = torch.tensor(grad)
        tracker.observe()
    value = tracker.log10_variance()
    assert value is not None and abs(value - 0.0) < 1e-12
    assert tracker.log10_variance() is None  # the window was reset
