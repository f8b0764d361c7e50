from __future__ import annotations

import json
import multiprocessing
import os
import socket
from pathlib import Path

import torch
from helpers import write_cifar

from pact_core import HaltingSettings
from pact_vision.checkpoint import load_checkpoint
from pact_vision.train import TrainConfig, run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker(rank: int, world_size: int, port: int, root: str, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
    )
    torch.set_num_threads(1)
    config = TrainConfig(
        arch="resnet14",
        halting=HaltingSettings("pact", max_iterations=2, tau=0.01),
        data="cifar10",
        data_dir=root,
        out=out,
        steps=3,
        batch_size=8,
        device="cpu",
        log_every=3,
        progress=False,
    )
    result = run(config)
    torch.save(result.model.state_dict(), Path(out) / f"rank{rank}.pt")


def test_two_cpu_processes_on_gloo_end_with_identical_weights(tmp_path: Path) -> None:
    write_cifar(tmp_path / "data", per_batch=8)
    out = tmp_path / "out"
    port = free_port()
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=worker, args=(rank, 2, port, str(tmp_path / "data"), str(out)))
        for rank in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [p.exitcode for p in processes] == [0, 0]
    first = torch.load(out / "rank0.pt", weights_only=True)
    second = torch.load(out / "rank1.pt", weights_only=True)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    initial = load_checkpoint(out / "checkpoint.pt")
    assert initial["step"] == 3
    assert len(initial["rng"]) == 2  # every rank's RNG state, for --resume
    log = [json.loads(line) for line in (out / "log.jsonl").open()]
    assert log[0]["world_size"] == 2
    assert log[1]["event"] == "train"
