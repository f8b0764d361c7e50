"""The truncated-geometric prior on the number of iterations (eq. 20)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, constraints
from torch.distributions.utils import broadcast_all

from pact_core._validation import check_max_iterations, validate_args_enabled

__all__ = ["TruncatedGeometric"]


class TruncatedGeometric(Distribution):
    """``TruncatedGeometric(z | tau, L)`` over ``z in {1, ..., L}`` (eq. 20).

    ``p(z) = (e^tau - 1) / (1 - e^{-tau L}) * e^{-tau z}``. Its log-density is linear in
    ``z`` with slope ``-tau``, so ``E_q[log p(z)] = -tau N + const`` (eq. 24): the prior
    is what turns the expected number of iterations into the penalty ``tau * N``.
    Batched over ``tau``: ``batch_shape = tau.shape``, ``event_shape = ()``.

    Args:
        tau: Log-scale penalty per iteration, ``> 0``; float or tensor.
        max_iterations: ``L >= 1``.
        validate_args: Passed to :class:`torch.distributions.Distribution`.

    Example::

        >>> import torch
        >>> from pact_core import TruncatedGeometric
        >>> prior = TruncatedGeometric(torch.tensor([0.1, 1.0]), max_iterations=5)
        >>> probs = prior.log_prob(prior.enumerate_support()).exp()  # [L, 2]
        >>> torch.allclose(probs.sum(0), torch.ones(2))
        True
        >>> prior.mean  # fewer iterations under the larger penalty
        tensor([2.8009, 1.5481])
    """

    arg_constraints = {"tau": constraints.positive}  # noqa: RUF012 (torch's own convention)
    has_enumerate_support = True

    def __init__(
        self, tau: Tensor | float, max_iterations: int, validate_args: bool | None = None
    ) -> None:
        self.max_iterations = check_max_iterations(max_iterations)
        (tau_t,) = broadcast_all(tau)
        if not tau_t.is_floating_point():
            tau_t = tau_t.to(torch.get_default_dtype())
        if validate_args_enabled() and tau_t.numel() > 0:
            bad = torch.isnan(tau_t) | (tau_t <= 0) | torch.isinf(tau_t)
            if bool(bad.any()):
                raise ValueError(
                    f"tau must be finite and > 0, got {tau_t[bad].flatten()[0].item()!r}"
                )
        self.tau = tau_t
        super().__init__(batch_shape=tau_t.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self) -> constraints.Constraint:
        """The integers ``1..L``."""
        return constraints.integer_interval(1, self.max_iterations)

    def expand(
        self, batch_shape: torch.Size | Sequence[int], _instance: Any = None
    ) -> TruncatedGeometric:
        """Return a view with ``tau`` expanded to ``batch_shape``."""
        new: TruncatedGeometric = self._get_checked_instance(  # type: ignore[no-untyped-call]
            TruncatedGeometric, _instance
        )
        batch_shape = torch.Size(batch_shape)
        new.max_iterations = self.max_iterations
        new.tau = self.tau.expand(batch_shape)
        super(TruncatedGeometric, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _log_normalizer(self) -> Tensor:
        """``log((e^tau - 1) / (1 - e^{-tau L}))`` without overflow for large ``tau``."""
        tau = self.tau
        return (
            tau
            + torch.log(-torch.expm1(-tau))
            - torch.log(-torch.expm1(-tau * self.max_iterations))
        )

    def log_prob(self, value: Tensor) -> Tensor:
        """``log p(z)`` for integer ``z`` in ``1..L``; shape broadcast with ``batch_shape``."""
        if self._validate_args:
            self._validate_sample(value)
        return self._log_normalizer() - self.tau * value.to(self.tau.dtype)

    @property
    def mean(self) -> Tensor:
        """Closed form ``1 / (1 - e^{-tau}) - L / (e^{tau L} - 1)``."""
        tau, length = self.tau, self.max_iterations
        return 1 / -torch.expm1(-tau) - length / torch.expm1(tau * length)

    @property
    def variance(self) -> Tensor:
        """Exact variance, summed over the support."""
        support = self.enumerate_support(expand=False).to(self.tau.dtype)
        probs = self.log_prob(support).exp()
        mean = (probs * support).sum(0)
        return (probs * (support - mean) ** 2).sum(0)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """``[L, *batch_shape]`` (or ``[L, 1, ...]`` without expansion) holding ``1..L``."""
        values = torch.arange(1, self.max_iterations + 1, device=self.tau.device)
        values = values.view((-1,) + (1,) * len(self.batch_shape))
        if expand:
            values = values.expand((-1, *self.batch_shape))
        return values

    def sample(self, sample_shape: torch.Size | list[int] | tuple[int, ...] = ()) -> Tensor:
        """Draw ``z``: int64 ``[*sample_shape, *batch_shape]`` in ``1..L``."""
        support = self.enumerate_support(expand=False).to(self.tau.dtype)
        logits = torch.movedim(self._log_normalizer() - self.tau * support, 0, -1)
        with torch.no_grad():
            index: Tensor = Categorical(logits=logits).sample(torch.Size(sample_shape))
        return index + 1
