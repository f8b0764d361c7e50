"""Data-parallel runtime: ``torchrun`` environment, process group, device and precision.

Under ``torchrun`` (``WORLD_SIZE > 1``) the process group uses NCCL on CUDA and gloo on
the CPU; a plain ``python -m`` run is a world of one. AMP (bfloat16 autocast, or
float16 with a gradient scaler on GPUs without bfloat16) is on by default on CUDA only;
it can be forced on the CPU, which is how the tests exercise the CUDA code paths.
``channels_last`` is on by default everywhere: on the development CPU a ResNet-32
training step at batch 64 took 187 ms channels-last against 229 ms in NCHW (dense;
240 against 290 ms relaxed PSACT).
"""

from __future__ import annotations

import os
import warnings
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

from pact_core.runs import resolve_device

__all__ = ["Runtime", "setup_runtime"]

ModuleT = TypeVar("ModuleT", bound=nn.Module)


@dataclass(frozen=True)
class Runtime:
    """Where and how this process trains.

    Attributes:
        device: The training device.
        rank: Global rank (0 for a single process).
        world_size: Number of processes.
        amp: Mixed precision on (bfloat16, or float16 with a scaler on older GPUs).
        channels_last: Use the ``channels_last`` memory format.
    """

    device: torch.device
    rank: int
    world_size: int
    amp: bool
    channels_last: bool

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, which logs and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1

    @property
    def amp_dtype(self) -> torch.dtype:
        """The autocast dtype: bfloat16 where supported, else float16 (older GPUs).

        bfloat16 needs no gradient scaler; float16's scaler reads ``found_inf`` on the
        host in every ``step``, the one sync per step that AMP on an old GPU costs.
        """
        if self.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16

    def autocast(self) -> AbstractContextManager[None]:
        """The autocast context for forward passes (a no-op when AMP is off)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, enabled only for float16."""
        enabled = self.amp and self.amp_dtype == torch.float16
        return torch.amp.GradScaler(self.device.type, enabled=enabled)

    def prepare(self, model: ModuleT) -> ModuleT:
        """Move ``model`` to the device (and memory format), in place."""
        model.to(self.device)
        if self.channels_last:  # supported at run time; missing from torch's stubs
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return model

    def wrap(self, model: nn.Module) -> nn.Module:
        """Wrap ``model`` in DDP when distributed, else return it unchanged."""
        if not self.distributed:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        # With one input channel the stem's weight [16, 1, 3, 3] gets gradients whose
        # stride on the size-1 axis differs from the parameter's; DDP then warns on
        # every step although the layouts are the same memory order. Silence just that.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def shutdown(self, synchronize: bool = True) -> None:
        """Destroy the process group, if this runtime created one.

        Args:
            synchronize: Wait at a barrier first, so that no rank tears its gloo threads
                down while another still works (rank 0 evaluates and saves after the
                last step): a rank that left early could abort at exit with
                "terminate called without an active exception". Pass ``False`` after an
                error, when the other ranks may never reach the barrier.
        """
        if self.distributed and dist.is_initialized():
            if synchronize:
                dist.barrier()
            dist.destroy_process_group()


def _switch(value: str, default: bool, name: str) -> bool:
    if value == "auto":
        return default
    if value in ("on", "off"):
        return value == "on"
    raise ValueError(f"{name} must be auto, on or off, got {value!r}")


def setup_runtime(device: str = "auto", amp: str = "auto", channels_last: str = "auto") -> Runtime:
    """Read the ``torchrun`` environment, pick the device and start the process group.

    Args:
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; under ``torchrun``, ``auto`` and
            ``cuda`` mean ``cuda:LOCAL_RANK``.
        amp: ``auto`` (on for CUDA), ``on`` or ``off``.
        channels_last: ``auto`` (on), ``on`` or ``off``.

    Raises:
        ValueError: On a bad device or switch.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = resolve_device(device, local_rank)
    on_cuda = chosen.type == "cuda"
    runtime = Runtime(
        device=chosen,
        rank=rank,
        world_size=world_size,
        amp=_switch(amp, on_cuda, "amp"),
        channels_last=_switch(channels_last, True, "channels_last"),
    )
    if on_cuda:
        torch.cuda.set_device(chosen)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if on_cuda else "gloo", rank=rank, world_size=world_size
        )
    return runtime
