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


def resume_worker(
    rank: int, world_size: int, ports: list[int], root: str, runs: list[tuple[str, int, bool]]
) -> None:
    """Train each of ``runs`` (out, stop_at, resume) in turn as rank ``rank`` of two."""
    torch.set_num_threads(1)
    for port, (out, stop_at, resume) in zip(ports, runs, strict=True):
        os.environ.update(
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(world_size),
        )
        config = TrainConfig(
            arch="resnet14",
            halting=HaltingSettings("pact", max_iterations=2, tau=0.01),
            data="cifar10",
            data_dir=root,
            out=out,
            steps=4,
            batch_size=8,
            device="cpu",
            log_every=1,
            checkpoint_every=100,
            stop_at=stop_at,
            resume=resume,
            progress=False,
        )
        run(config)


def _spawn_pair(ports: list[int], root: Path, runs: list[tuple[str, int, bool]]) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=resume_worker, args=(rank, 2, ports, str(root), runs))
        for rank in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [p.exitcode for p in processes] == [0, 0]


def test_a_two_process_run_stopped_and_resumed_ends_with_the_uninterrupted_weights(
    tmp_path: Path,
) -> None:
    """Resume under torchrun: two gloo processes on the CPU, stopped after step 2 of 4.

    ``stop_at=2`` (``--stop-at 2``) writes the checkpoint at step 2 and ends both
    processes there. That is what a kill right after the last checkpoint leaves behind,
    and a kill at any later step leaves the same thing: a resume restarts from the last
    checkpoint, and every step after it is recomputed; the atomic save means a kill
    during a save leaves the previous checkpoint (and an orphaned temporary file, which
    the next start removes). The resume runs in two fresh processes, as after a kill, so
    nothing but the checkpoint carries over. It must end with the weights, optimizer
    state and step of an uninterrupted two-process run.
    """
    write_cifar(tmp_path / "data", per_batch=8)
    whole, split = tmp_path / "whole", tmp_path / "split"
    # The uninterrupted run and the stopped one share a pair of processes; the resume
    # gets its own pair.
    _spawn_pair([free_port(), free_port()], tmp_path / "data",
                [(str(whole), 0, False), (str(split), 2, False)])  # fmt: skip
    stopped = load_checkpoint(split / "checkpoint.pt")
    assert stopped["step"] == 2 and len(stopped["rng"]) == 2
    _spawn_pair([free_port()], tmp_path / "data", [(str(split), 0, True)])
    expected = load_checkpoint(whole / "checkpoint.pt")
    resumed = load_checkpoint(split / "checkpoint.pt")
    assert resumed["step"] == expected["step"] == 4
    assert expected["model"].keys() == resumed["model"].keys()
    for key, value in expected["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    momenta = zip(
        expected["optimizer"]["state"].values(), resumed["optimizer"]["state"].values(), strict=True
    )
    for a, b in momenta:
        assert torch.equal(a["momentum_buffer"], b["momentum_buffer"])
    events = [json.loads(line)["event"] for line in (split / "log.jsonl").open()]
    assert events.count("stop") == 1 and events.count("resume") == 1
