"""The halting state of an adaptive computation block, one iteration at a time.

:func:`pact_core.adaptive_loop` (the halting loop) computes one iteration ``u^l`` at a
time and cannot hand the vector functions a whole ``[..., L]`` tensor up front.
:class:`HaltingStream` is the state machine it advances after each iteration, for a
batch of independent elements (samples, tokens or spatial positions) that halt at
different iterations. It tells the loop which elements are still active, keeps or
accumulates the block output, and reports the expected number of iterations ``N``
(eq. 24), the ACT ponder cost, the executed iteration counts and, for REINFORCE,
``log q(z)``. Use the loop; the stream is its building block.

Example::

    >>> import torch
    >>> from pact_core import HaltingStream
    >>> stream = HaltingStream("thresholded", max_iterations=3, batch_shape=(2,))
    >>> stream.step(logits=torch.tensor([2.0, -2.0]))  # h^1: the first element halts
    >>> stream.active.tolist(), stream.executed.tolist()
    ([False, True], [1, 1])
    >>> stream.step(logits=torch.tensor([0.0, -2.0]))
    >>> stream.step()  # l = L: h^L = 1, everyone halts
    >>> stream.executed.tolist(), stream.finished
    ([1, 3], True)

Per element, the iteration at which it halts is its last: the remaining probability mass
is credited to it and its output, ponder cost, iteration count and ``log q(z)`` are final
from then on. An element halts

* ``discrete``: when ``xi^l ~ Bernoulli(h^l)`` fires (Alg. 1);
* ``thresholded``: when ``h^l > threshold`` (Alg. 2);
* ``relaxed``: when its remaining stick ``r = prod (1 - xi_hat)`` falls to ``<= delta``,
  the clipping of eq. 28 (Alg. 3; with ``delta = 0`` only at ``L``);
* ``act``: when the cumulative ``h`` reaches ``1 - eps`` (Alg. 4);
* ``median``: when ``P(z <= l) = 1 - prod_{i <= l} (1 - h^i)`` reaches 1/2, the median of
  the halting distribution (deterministic; PonderNet's evaluation by the median step);

and every element halts at ``l = L``. The caller keeps halted elements frozen
(``u^l = u^{l-1}``), with :attr:`HaltingStream.mask`.

``N`` follows Alg. 3 (lines 13 and 15) from the ``h`` of *every* element at every step
taken, like the paper's penalty; if the loop stops after ``m < L`` steps, the remaining
mass is credited to ``m``, unless the caller completes ``h`` with
:meth:`HaltingStream.extend_halted` (as :func:`pact_core.adaptive_loop` does). So ``N``
equals :func:`pact_core.expected_iterations` of ``h[..., :m]`` (or of all ``L``), and the
caller must supply ``h`` for halted elements too (for a frozen element it is simply the
head applied to its frozen state).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from pact_core import _noise
from pact_core._validation import (
    check_closed_unit,
    check_halting_values,
    check_max_iterations,
    check_open_unit,
    check_positive,
    check_unit_interval_left_closed,
    validate_args_enabled,
)
from pact_core.halting import exceeds_threshold
from pact_core.settings import Halting, check_choice

__all__ = ["STREAM_HALTINGS", "HaltingStream"]

#: The haltings a stream tracks (all of :data:`pact_core.HALTINGS` but ``"fixed"``).
STREAM_HALTINGS: tuple[Halting, ...] = ("discrete", "thresholded", "relaxed", "act", "median")


class HaltingStream:
    """The halting state of one adaptive computation block, advanced one iteration at a time.

    Args:
        mode: ``"discrete"`` (Alg. 1), ``"thresholded"`` (Alg. 2), ``"relaxed"`` (Alg. 3),
            ``"act"`` (Alg. 4) or ``"median"``.
        max_iterations: ``L >= 1``.
        batch_shape: Shape ``[...]`` of the independent halting decisions, e.g. ``(B,)``
            for an RNN or ``(B, H, W)`` for a spatial block.
        feature_dim: Where the feature axis of the iteration outputs ``u`` sits relative
            to ``batch_shape``: ``u`` has shape ``mask.unsqueeze(feature_dim).shape`` with
            the singleton filled, e.g. ``-1`` for ``u: [B, F]`` and ``1`` for
            ``u: [B, C, H, W]``.
        device: Device of the state tensors.
        dtype: Floating dtype of the state tensors (default: torch's default dtype).
        temperature: Concrete temperature ``lambda > 0`` for ``"relaxed"``.
        delta: Clipping threshold ``delta`` in ``[0, 1)`` for ``"relaxed"`` (eq. 28).
        eps: ACT's ``epsilon`` in ``(0, 1)`` for ``"act"``.
        threshold: Halting threshold in ``[0, 1]`` for ``"thresholded"``.
        generator: Random generator for ``"discrete"`` and ``"relaxed"``.
        validate_args: Check the values of ``h``; ``None`` follows
            :func:`pact_core.set_validate_args`. Checks sync with the host, so models turn
            them off.
    """

    def __init__(
        self,
        mode: Halting,
        max_iterations: int,
        batch_shape: Sequence[int] | torch.Size,
        *,
        feature_dim: int = -1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        temperature: float = 2.0 / 3.0,
        delta: float = 0.0,
        eps: float = 0.01,
        threshold: float = 0.5,
        generator: torch.Generator | None = None,
        validate_args: bool | None = None,
    ) -> None:
        self.mode: Halting = check_choice("mode", mode, STREAM_HALTINGS)
        self.max_iterations = check_max_iterations(max_iterations)
        self.batch_shape = torch.Size(batch_shape)
        if any(s < 0 for s in self.batch_shape):
            raise ValueError(f"batch_shape must hold sizes >= 0, got {tuple(self.batch_shape)}")
        rank = len(self.batch_shape)
        if not -(rank + 1) <= feature_dim <= rank:
            raise ValueError(
                f"feature_dim must be in [{-(rank + 1)}, {rank}] for a batch of rank {rank}, "
                f"got {feature_dim}"
            )
        self.feature_dim = feature_dim
        self.temperature = check_positive("temperature", temperature)
        self.delta = check_unit_interval_left_closed("delta", delta)
        self.eps = check_open_unit("eps", eps)
        self.threshold = check_closed_unit("threshold", threshold)
        self.generator = generator
        self.validate_args = validate_args_enabled() if validate_args is None else validate_args

        dtype = dtype if dtype is not None else torch.get_default_dtype()
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")

        def full(value: float, kind: torch.dtype = dtype) -> Tensor:
            return torch.full(self.batch_shape, value, dtype=kind, device=device)

        self._iteration = 0
        self._active = full(True, torch.bool)
        self._executed = full(0, torch.int64)
        self._probs: list[Tensor] = []  # h^1..h^m, for N (Alg. 3, lines 13 and 15)
        self._log_prob = full(0.0)  # discrete: log q(z)
        self._stick = full(1.0)  # relaxed: r = prod_l (1 - xi_hat^l)
        self._cumulative = full(0.0)  # act: c
        self._remainder = full(1.0)  # act: R
        self._survival = full(1.0)  # median: P(z > l) = prod_{i <= l} (1 - h^i)
        self._output: Tensor | None = None

    # ----------------------------------------------------------------- state queries

    @property
    def iteration(self) -> int:
        """The number of iterations run so far."""
        return self._iteration

    @property
    def finished(self) -> bool:
        """``True`` once all ``L`` iterations have run (no host sync)."""
        return self._iteration >= self.max_iterations

    @property
    def active(self) -> Tensor:
        """Bool ``[...]``: the elements that have not halted (they compute the next iteration)."""
        return self._active

    @property
    def mask(self) -> Tensor:
        """Active mask ``a`` for the next iteration, ``[...]`` (eq. 28).

        ``1``/``0`` for ``"discrete"``, ``"thresholded"`` and ``"act"``; for ``"relaxed"``
        the clipped stick ``r * [r > delta]``, which carries gradients to the halting
        probabilities.
        """
        if self.mode == "relaxed":
            return torch.where(self._active, self._stick, torch.zeros_like(self._stick))
        return self._active.to(self._stick.dtype)

    def expand(self, values: Tensor) -> Tensor:
        """Insert the feature axis into a ``[...]`` tensor so it broadcasts against ``u``."""
        return values.unsqueeze(self.feature_dim)

    def all_halted(self) -> bool:
        """Whether every element has halted, so the caller may stop. Syncs with the host."""
        return self.finished or not bool(self._active.any())

    @property
    def probs(self) -> tuple[Tensor, ...]:
        """``h^1 .. h^m`` ``[...]`` of the iterations run (``h^L = 1`` at the cap)."""
        return tuple(self._probs)

    @property
    def executed(self) -> Tensor:
        """int64 ``[...]``: iterations each element has executed (``z`` once it has halted)."""
        return self._executed

    @property
    def expected_iterations(self) -> Tensor:
        """``N`` ``[...]`` (eq. 24) over the iterations run, the remaining mass at the last.

        Computed on demand (ACT never needs it) in the tail-sum form
        ``N = sum_{l <= m} P(z >= l)`` with ``P(z >= l) = prod_{i<l} (1 - h^i)``, which
        after ``m`` steps equals :func:`pact_core.expected_iterations` of ``h[..., :m]``
        and is differentiable in every ``h`` alike.
        """
        self._require_started()
        if len(self._probs) == 1:
            return torch.ones_like(self._probs[0])
        # Stacked along a new leading axis, so the product runs over contiguous slices.
        survival = torch.cumprod(1 - torch.stack(self._probs[:-1]), dim=0)  # P(z >= 2..m)
        return 1 + survival.sum(dim=0)

    @property
    def ponder(self) -> Tensor:
        """ACT ponder cost ``rho = N + R`` ``[...]`` (Alg. 4); only in ``"act"`` mode."""
        if self.mode != "act":
            raise RuntimeError(f"ponder is the ACT cost; this stream is in {self.mode!r} mode")
        self._require_started()
        # rho = N + R: the remainder stops changing when an element halts.
        return self._executed.to(self._remainder.dtype) + self._remainder

    @property
    def cost(self) -> Tensor:
        """The computation penalty per element: ``ponder`` for ACT, else ``N``."""
        return self.ponder if self.mode == "act" else self.expected_iterations

    @property
    def log_prob(self) -> Tensor:
        """``log q(z)`` ``[...]`` of the sampled halting (eq. 15); only in ``"discrete"`` mode."""
        if self.mode != "discrete":
            raise RuntimeError(
                f"log_prob needs sampled halting; this stream is in {self.mode!r} mode"
            )
        self._require_started()
        return self._log_prob

    @property
    def output(self) -> Tensor:
        """The block output: ``u^z`` (discrete, thresholded) or ``sum_l z_hat^l u^l``."""
        if self._output is None:
            raise RuntimeError("no output: pass the iteration outputs u to step()")
        return self._output

    def _require_started(self) -> None:
        if self._iteration == 0:
            raise RuntimeError("no iteration has been run yet; call step() first")

    # ----------------------------------------------------------------------- stepping

    def step(
        self,
        u: Tensor | None = None,
        h: Tensor | None = None,
        *,
        logits: Tensor | None = None,
        uniform: Tensor | None = None,
    ) -> None:
        """Record iteration ``l = iteration + 1``: its output ``u^l`` and halting ``h^l``.

        Args:
            u: Output of this iteration, ``[...]`` with the feature axis inserted at
                ``feature_dim``, given at every step or at none. With it the stream keeps
                the block output (``u^z``, or the weighted sum ``sum_l z_hat^l u^l`` in
                ``"relaxed"`` and ``"act"`` modes); without it only the halting is tracked,
                for callers that build the output themselves (e.g. through the masked
                residual units of eq. 28, or by freezing halted states).
            h: Halting probabilities ``[...]`` of this iteration. Required for ``l < L``;
                ignored at ``l = L``, where ``h^L = 1``.
            logits: Halting logits ``[...]``, instead of ``h``.
            uniform: ``U(0, 1)`` draws ``[...]`` to use instead of the generator.

        Raises:
            RuntimeError: If all ``L`` iterations have already run.
            ValueError: On a missing or mis-shaped argument.
        """
        if self.finished:
            raise RuntimeError(f"all {self.max_iterations} iterations have already run")
        level = self._iteration + 1
        final = level == self.max_iterations
        self._check_output(u)
        if final:
            values, is_logits = torch.ones_like(self._stick), False
        else:
            values, is_logits = self._halting(h, logits)
        probs = torch.sigmoid(values) if is_logits else values
        active = self._active

        self._executed = self._executed + active  # int64 + bool
        self._probs.append(probs)

        if self.mode == "act":
            halt_now, weight = self._act(probs, active)
        elif self.mode == "relaxed":
            halt_now, weight = self._relaxed(values, is_logits, final, active, uniform)
        else:
            if final:
                fired = torch.ones_like(active)
            elif self.mode == "discrete":
                fired = self._discrete(values, is_logits, active, uniform)
            elif self.mode == "median":
                self._survival = self._survival * (1 - probs)  # P(z > l)
                fired = self._survival <= 0.5
            else:
                fired = exceeds_threshold(values, is_logits, self.threshold)
            halt_now = active & fired
            weight = None
        if u is not None:
            self._record_output(u, halt_now, weight)
        self._active = active ^ halt_now  # halt_now only holds active elements
        self._iteration = level

    def extend_halted(self, probs: list[Tensor]) -> None:
        """Record ``h`` of iterations after every element has halted; only ``N`` changes.

        A loop that stops once every element has halted (after ``m < L`` iterations)
        passes the heads' ``h`` on the frozen states for ``l = m + 1 .. L - 1``, so that
        ``N`` is the same as if all ``L`` iterations had run (Alg. 3, lines 13 and 15).
        Outputs, iteration counts and ``log q(z)`` are final already.

        Args:
            probs: ``L - 1 - m`` halting probabilities ``[...]`` (``h^L = 1`` is added).

        Raises:
            RuntimeError: If an element is still active or the count does not fill ``L``.
        """
        if len(probs) != self.max_iterations - 1 - self._iteration:
            raise RuntimeError(
                f"after {self._iteration} of {self.max_iterations} iterations, "
                f"{self.max_iterations - 1 - self._iteration} halting probabilities are "
                f"needed, got {len(probs)}"
            )
        self._probs.extend(p.to(self._stick.dtype) for p in probs)
        self._probs.append(torch.ones_like(self._stick))

    def _halting(self, h: Tensor | None, logits: Tensor | None) -> tuple[Tensor, bool]:
        if (h is None) == (logits is None):
            got = "both" if h is not None else "neither"
            raise ValueError(
                f"iteration {self._iteration + 1} < L needs exactly one of h and logits, got {got}"
            )
        name, values, is_logits = ("h", h, False) if h is not None else ("logits", logits, True)
        assert values is not None
        if values.shape != self.batch_shape:
            raise ValueError(
                f"{name} must have the batch shape {tuple(self.batch_shape)}, "
                f"got {tuple(values.shape)}"
            )
        if not values.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {values.dtype}")
        if self.validate_args:
            check_halting_values(name, values, is_logits)
        return values.to(self._stick.dtype), is_logits

    def _check_output(self, u: Tensor | None) -> None:
        tracking = self._output is not None
        if self._iteration > 0 and tracking != (u is not None):
            raise ValueError(
                "pass u at every step or at none: the output is accumulated over all steps"
            )
        if u is None:
            return
        expected = self.expand(self._stick).shape
        if u.dim() != len(expected) or any(
            e != 1 and s != e for s, e in zip(u.shape, expected, strict=True)
        ):
            raise ValueError(
                f"u must have the batch shape {tuple(self.batch_shape)} with a feature axis "
                f"at feature_dim={self.feature_dim}, got {tuple(u.shape)}"
            )

    def _record_output(self, u: Tensor, halt_now: Tensor, weight: Tensor | None) -> None:
        if self._output is None:
            self._output = torch.zeros_like(u)
        if weight is None:  # discrete / thresholded: keep u^z
            self._output = torch.where(self.expand(halt_now), u, self._output)
        else:  # relaxed / act: accumulate sum_l z_hat^l u^l
            self._output = torch.addcmul(self._output, self.expand(weight).to(u.dtype), u)

    def _discrete(
        self, values: Tensor, is_logits: bool, active: Tensor, uniform: Tensor | None
    ) -> Tensor:
        u = _noise.draw_uniform(self.batch_shape, values, self.generator, uniform)
        fired = _noise.bernoulli(values, is_logits, u)
        # log q(z) gains log h^l where the element halts and log(1 - h^l) where it goes on.
        if is_logits:
            log_term = torch.where(fired, F.logsigmoid(values), F.logsigmoid(-values))
        else:
            # Select before the log: the chosen factor is > 0 for a sampled event, and
            # halted elements take log 1 = 0, so value and gradient stay finite.
            chosen = torch.where(fired, values, 1 - values)
            log_term = torch.log(torch.where(active, chosen, torch.ones_like(chosen)))
        self._log_prob = self._log_prob + torch.where(active, log_term, torch.zeros_like(log_term))
        return fired

    def _relaxed(
        self,
        values: Tensor,
        is_logits: bool,
        final: bool,
        active: Tensor,
        uniform: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        stick = self._stick
        if final:
            xi_hat, xi_hat_complement = torch.ones_like(stick), torch.zeros_like(stick)
        else:
            u = _noise.draw_uniform(self.batch_shape, values, self.generator, uniform)
            xi_logits = _noise.relaxed_bernoulli(values, is_logits, self.temperature, u)
            xi_hat, xi_hat_complement = torch.sigmoid(xi_logits), torch.sigmoid(-xi_logits)
        zero = torch.zeros_like(stick)
        z_hat = torch.where(active, xi_hat * stick, zero)  # Alg. 3, line 11
        next_stick = stick * xi_hat_complement  # Alg. 3, line 14
        halt_now = active & (next_stick <= self.delta)
        # A clipped element stays frozen, so the rest of its stick belongs to this u^l.
        weight = z_hat + torch.where(halt_now, next_stick, zero)
        self._stick = next_stick
        return halt_now, weight

    def _act(self, probs: Tensor, active: Tensor) -> tuple[Tensor, Tensor]:
        # c keeps growing after an element halts; only active elements read it, and only
        # to compare, so it carries no gradient.
        self._cumulative = self._cumulative + probs.detach()  # Alg. 4, line 10
        halt_now = active & (self._cumulative >= 1 - self.eps)  # line 12
        going_on = active ^ halt_now
        remainder = self._remainder
        step = probs * going_on  # h where the element goes on, else 0
        weight = torch.where(halt_now, remainder, step)  # lines 13 and 16
        self._remainder = remainder - step  # line 14
        return halt_now, weight
