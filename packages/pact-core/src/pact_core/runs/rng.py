"""The random state a bit-identical resume needs: given generators and torch's global ones."""

from __future__ import annotations

import torch

__all__ = ["rng_state", "set_rng_state"]


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    """The states of ``generators`` plus torch's global CPU (and CUDA) generators."""
    state = {f"generator/{name}": gen.get_state() for name, gen in generators.items()}
    state["torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for index, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            state[f"cuda/{index}"] = cuda_state
    return state


def set_rng_state(state: dict[str, torch.Tensor], generators: dict[str, torch.Generator]) -> None:
    """Restore what :func:`rng_state` captured into ``generators`` and the global ones.

    Raises:
        KeyError: If ``state`` lacks one of ``generators``.
    """
    for name, gen in generators.items():
        gen.set_state(state[f"generator/{name}"])
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            key = f"cuda/{index}"
            if key in state:
                torch.cuda.set_rng_state(state[key], index)
