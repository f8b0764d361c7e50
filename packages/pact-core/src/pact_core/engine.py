"""The halting loop: any step made adaptive, once, for every method and execution.

An adaptive computation block runs a step up to ``L`` times per element and lets a
halting head decide after each iteration which elements stop (PACT sec. 3,
Algorithms 1-4). :func:`adaptive_loop` is that loop, the only one in pact: models
supply the step and the head, and get back an :class:`AdaptiveOutput` with everything
a loss and a report need. :class:`Adaptive` wraps it as an ``nn.Module`` around a
user's block.

Two kinds of step (``update``):

* ``"replace"``: the same block applied again and again, ``u^l = F(u^{l-1})`` (ACT
  RNNs, Universal Transformers). The engine freezes halted elements,
  ``u^l = u^{l-1}`` where an element has halted, and the block output is ``u^z``
  (discrete, thresholded) or the weighted sum ``sum_l z_hat^l u^l`` (relaxed, ACT).
* ``"residual"``: residual units ``u^l = u^{l-1} + f_l(u^{l-1}) * a^l`` (eq. 28, PSACT).
  The step applies the active mask ``a`` it is given (:attr:`StepContext.mask`: 0/1,
  or the clipped stick ``r * [r > delta]`` when relaxed), so the block output is the
  last ``u`` (for ACT, as SACT, the ACT-weighted sum of the states).

Halting elements are everything in ``state`` but its feature axis (``feature_dim``):
per sample for ``[B, F]``, per token for ``[B, T, F]``, per position for
``[B, C, H, W]`` with ``feature_dim=1``; spatial blocks may share one decision per
``g x g`` patch (``group``, PACT fig. 4).

Executions (:data:`EXECUTIONS`), all with the same results:

* ``"masked"``: every iteration runs on every element (halted ones are frozen); no host
  synchronisation at all, so it suits CUDA graphs, ``torch.compile(fullgraph=True)``
  and ``torch.export`` (tested for every halting). The exported program runs all ``L``
  iterations: an early exit is a data-dependent loop bound, which neither can express.
* ``"early-exit"``: as masked, but the loop stops once every element has halted (one
  host sync per iteration).
* ``"compact"``: as early exit, and the step runs only on the rows still active
  (gathered and scattered back); for steps that treat elements independently.
* ``"unrolled"``: all ``L`` iterations without freezing, the head once on the stacked
  states, and the halting of every iteration decided at once
  (:mod:`pact_core.unrolled`); for steps that treat elements independently, and
  fastest when elements run most of their ``L`` iterations.

A model may plug in its own :class:`Execution` (pact-vision's sparse tiles do).

Rules the engine enforces so that callers need not know them: the head runs on halted
elements too (``N`` needs every ``h``, Alg. 3); it does not run after iteration ``L``
(``h^L = 1``); halted elements never change; ``u`` is accumulated only where the output
is a weighted sum; tensor-value checks are off in the loop; and the halting follows the
module's training mode unless given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn

from pact_core._validation import HaltingInput
from pact_core.grouping import SpatialGrouping
from pact_core.halting import stick_breaking
from pact_core.settings import Halting, HaltingSettings, check_choice
from pact_core.stream import HaltingStream
from pact_core.unrolled import unrolled_halting

__all__ = [
    "EXECUTIONS",
    "UPDATES",
    "Adaptive",
    "AdaptiveOutput",
    "Compact",
    "EarlyExit",
    "Execution",
    "ExecutionName",
    "Masked",
    "Step",
    "StepContext",
    "Unrolled",
    "Update",
    "adaptive_loop",
    "resolve_execution",
]

Update = Literal["replace", "residual"]
UPDATES: tuple[Update, ...] = get_args(Update)
ExecutionName = Literal["masked", "early-exit", "compact", "unrolled"]
EXECUTIONS: tuple[ExecutionName, ...] = get_args(ExecutionName)


class StepContext:
    """What the engine tells the step about iteration ``l``.

    Attributes:
        iteration: ``l``, from 1 to ``L``.
        rows: Under compact execution, int64 ``[R]`` indices into the flattened batch of
            the rows that ``u`` holds (the step gathers its own per-row inputs with
            them); ``None`` when ``u`` holds every element.
    """

    __slots__ = ("_active", "_grouping", "_mask", "_stream", "feature_dim", "iteration", "rows")

    def __init__(
        self,
        iteration: int,
        stream: HaltingStream | None = None,
        grouping: SpatialGrouping | None = None,
        rows: Tensor | None = None,
        feature_dim: int = -1,
    ) -> None:
        self.iteration = iteration
        self.rows = rows
        self.feature_dim = feature_dim
        self._stream = stream if iteration > 1 else None
        self._grouping = grouping
        self._active: Tensor | None = None
        self._mask: Tensor | None = None

    def expand(self, values: Tensor) -> Tensor:
        """Insert the feature axis into ``[*batch]`` values, to broadcast against ``u``."""
        return values.unsqueeze(self.feature_dim)

    @property
    def active(self) -> Tensor | None:
        """Bool ``[*batch]``: the elements that run this iteration; ``None`` if all do.

        ``None`` at ``l = 1`` (every element runs its first iteration) and for fixed
        halting. Steps may use it to skip work; the engine freezes the rest anyway.
        """
        if self._stream is None:
            return None
        if self._active is None:
            self._active = self._ungroup(self._stream.active)
        return self._active

    @property
    def mask(self) -> Tensor | None:
        """The active mask ``a^l`` ``[*batch]`` of eq. 28, or ``None`` when it is all ones.

        ``1``/``0`` for discrete, thresholded and ACT halting, the clipped stick
        ``r * [r > delta]`` (carrying gradients to the halting head) for relaxed
        halting. Residual steps multiply their residual by it.
        """
        if self._stream is None:
            return None
        if self._mask is None:
            self._mask = self._ungroup(self._stream.mask)
        return self._mask

    def _ungroup(self, values: Tensor) -> Tensor:
        return values if self._grouping is None else self._grouping.ungroup(values)

    def with_rows(self, rows: Tensor) -> StepContext:
        """The same iteration, for a step that sees only ``rows`` of the batch."""
        context = StepContext(self.iteration, self._stream, self._grouping, rows, self.feature_dim)
        context._active, context._mask = self._active, self._mask
        return context


#: A step ``(u^{l-1}, context) -> u^l``. ``u`` has the state's shape (or ``[R, F]``
#: rows under compact execution). Residual steps apply ``context.mask`` themselves.
Step = Callable[[Tensor, StepContext], Tensor]
#: A halting head ``u^l -> logits``, shaped like the batch (a singleton feature axis
#: is allowed), or one head per iteration.
Head = Callable[[Tensor], Tensor]


class Execution:
    """How the engine runs one iteration on the elements, and whether it stops early.

    Subclass it to plug in another execution (pact-vision's sparse tiles); override
    :meth:`apply` and set :attr:`early_exit`.

    Attributes:
        name: For messages and results.
        early_exit: Stop the loop once every element has halted (a host sync per
            iteration).
        sync_free: Never reads a tensor on the host.
    """

    name = "masked"
    early_exit = False
    sync_free = True

    def apply(self, step: Step, u: Tensor, context: StepContext, update: Update) -> Tensor:
        """Run ``step`` for iteration ``context.iteration`` and return the new ``u``.

        Elements that are not active must come back unchanged (for ``"replace"`` steps
        this method freezes them; ``"residual"`` steps do so through the mask).
        """
        new = step(u, context)
        active = context.active
        if update == "replace" and active is not None:
            new = torch.where(context.expand(active), new, u)
        return new

    def check(self, update: Update, feature_dim: int, batch_rank: int) -> None:
        """Raise ``ValueError`` if this execution cannot run such a block."""


class Masked(Execution):
    """Every iteration on every element, frozen where halted; never syncs."""


class EarlyExit(Execution):
    """Masked, stopping once every element has halted (one host sync per iteration)."""

    name = "early-exit"
    early_exit = True
    sync_free = False


class Compact(Execution):
    """Early exit, and the step runs only on the still-active rows (gather and scatter).

    For ``"replace"`` steps over ``[*batch, F]`` states that treat elements
    independently (a recurrent cell, an MLP): the step receives ``u[rows]`` and
    :attr:`StepContext.rows`. Costs one more host sync per iteration (the row indices).
    """

    name = "compact"
    early_exit = True
    sync_free = False

    def apply(self, step: Step, u: Tensor, context: StepContext, update: Update) -> Tensor:
        """Gather the active rows, step them, and scatter them back into ``u``."""
        active = context.active
        if active is None:
            return step(u, context)
        flat = u.reshape(-1, u.shape[-1])
        rows = torch.nonzero(active.reshape(-1)).squeeze(1)
        if rows.shape[0] == flat.shape[0]:  # nobody has halted: a plain step
            return step(u, context)
        new_rows = step(flat.index_select(0, rows), context.with_rows(rows))
        return flat.index_copy(0, rows, new_rows).view(u.shape)

    def check(self, update: Update, feature_dim: int, batch_rank: int) -> None:
        """Compaction gathers rows of ``[*batch, F]``: replace steps, features last."""
        if update != "replace" or feature_dim not in (-1, batch_rank):
            raise ValueError(
                "execution 'compact' runs replace steps on [*batch, F] states (features "
                f"last); got update={update!r}, feature_dim={feature_dim}"
            )


class Unrolled(Execution):
    """All ``L`` iterations without freezing, then the halting of all of them at once.

    For ``"replace"`` steps that treat elements independently (cells, MLPs; not
    attention): the step runs ``L`` times on every element, the head runs once on the
    stacked states, and :func:`pact_core.unrolled.unrolled_halting` decides every
    element's halting in a few tensor operations over the iteration axis. The results
    equal the masked loop's (after an element halts its states are ignored, and ``N``
    uses the head's value on its halting state). No host sync; memory ``L`` states.
    """

    name = "unrolled"

    def check(self, update: Update, feature_dim: int, batch_rank: int) -> None:
        """Unrolling runs replace steps on [*batch, F] states (features last)."""
        if update != "replace" or feature_dim not in (-1, batch_rank):
            raise ValueError(
                "execution 'unrolled' runs replace steps on [*batch, F] states (features "
                f"last); got update={update!r}, feature_dim={feature_dim}"
            )


_EXECUTIONS: dict[str, type[Execution]] = {
    "masked": Masked,
    "early-exit": EarlyExit,
    "compact": Compact,
    "unrolled": Unrolled,
}


def resolve_execution(execution: str | Execution) -> Execution:
    """An :class:`Execution` from its name (one of :data:`EXECUTIONS`) or itself."""
    if isinstance(execution, Execution):
        return execution
    return _EXECUTIONS[check_choice("execution", execution, EXECUTIONS)]()


@dataclass(frozen=True)
class AdaptiveOutput:
    """What one adaptive computation block returns.

    ``[*batch]`` is the state's shape without its feature axis (full resolution, also
    when halting is grouped); ``[*groups]`` is the shape of the halting decisions
    (``[*batch]`` without grouping).

    Attributes:
        output: The block output, shaped like the state: ``u^z`` (discrete,
            thresholded; residual relaxed), or the weighted sum of the iterates
            (replace relaxed, Alg. 3; ACT, Alg. 4).
        state: The last ``u`` (every element frozen at its halting iteration), e.g. the
            recurrent state to carry to the next timestep.
        cost: ``[*batch]`` the ponder penalty term per element: ``N`` (eq. 24) for PACT
            haltings, ACT's ``rho = N + R`` (Alg. 4), ``L`` for fixed halting.
        iterations: int64 ``[*batch]``, iterations each element executed (``z``).
        log_prob: ``[*groups]`` ``log q(z)`` (eq. 15) of discrete halting, for
            REINFORCE (eq. 26); else ``None``.
        loop_steps: Iterations the loop ran (``L``, or fewer after an early exit).
        halting: The halting used.
        probs: ``h^1 .. h^m``, one ``[*groups]`` tensor per iteration run (the last is
            1 at ``L``); empty for fixed halting.
        iterates: ``[L, *state]`` every ``u^l``, for ``"expected"`` halting (PonderNet's
            per-step losses); else ``None``.
        distribution: ``[L, *batch]`` the halting distribution ``q(z = l)`` (eq. 15) of
            ``"expected"`` halting; else ``None``.
    """

    output: Tensor
    state: Tensor
    cost: Tensor
    iterations: Tensor
    log_prob: Tensor | None
    loop_steps: int
    halting: Halting
    probs: tuple[Tensor, ...]
    iterates: Tensor | None = None
    distribution: Tensor | None = None


def _batch_shape(state: Tensor, feature_dim: int) -> torch.Size:
    if state.dim() < 1:
        raise ValueError("state must have a feature axis, got a 0-dim tensor")
    rank = state.dim()
    if not -rank <= feature_dim < rank:
        raise ValueError(
            f"feature_dim must be in [{-rank}, {rank - 1}] for a state of shape "
            f"{tuple(state.shape)}, got {feature_dim}"
        )
    shape = list(state.shape)
    del shape[feature_dim]
    return torch.Size(shape)


def _logits(raw: Tensor, batch_shape: torch.Size, feature_dim: int) -> Tensor:
    """Head output as ``[*batch]`` logits (a singleton feature axis is squeezed)."""
    if raw.shape == batch_shape:
        return raw
    if raw.dim() == len(batch_shape) + 1 and raw.shape[feature_dim] == 1:
        squeezed = raw.squeeze(feature_dim)
        if squeezed.shape == batch_shape:
            return squeezed
    raise ValueError(
        f"the halting head must return logits of the batch shape {tuple(batch_shape)} "
        f"(or with a singleton feature axis), got {tuple(raw.shape)}"
    )


def _head_at(head: Head | Sequence[Head], iteration: int) -> Head:
    """The head of iteration ``l``: one per iteration, or one shared by all."""
    if isinstance(head, nn.ModuleList):
        selected: Head = head[iteration - 1]
        return selected
    if isinstance(head, Sequence):
        return head[iteration - 1]
    return head


def adaptive_loop(
    step: Step,
    head: Head | Sequence[Head] | None,
    state: Tensor,
    settings: HaltingSettings,
    *,
    halting: Halting,
    execution: str | Execution = "masked",
    update: Update = "replace",
    feature_dim: int = -1,
    group: int = 1,
    generator: torch.Generator | None = None,
) -> AdaptiveOutput:
    """Run one adaptive computation block (Algorithms 1-4) over a batch of elements.

    Args:
        step: ``(u^{l-1}, context) -> u^l``; see :class:`StepContext` and the module
            docstring for the two kinds of ``update``.
        head: Halting head ``u^l -> logits [*batch]``, or a sequence of ``L - 1`` heads
            (one per iteration); ``None`` only for fixed halting.
        state: ``u^0``, with a feature axis at ``feature_dim``. The first iteration runs
            on every element and may change the shape (e.g. a strided unit); the halting
            elements ``[*batch]`` are those of ``u^1``.
        settings: ``L`` (``settings.max_iterations``), temperature, delta, eps and
            threshold.
        halting: One the method of ``settings`` can run (``settings.check_halting``);
            ``"expected"`` runs all ``L`` iterations on every element and returns them
            with the halting distribution (the execution does not matter).
        execution: One of :data:`EXECUTIONS`, or an :class:`Execution`.
        update: ``"replace"`` or ``"residual"``.
        feature_dim: The feature axis of ``state``.
        group: Side ``g`` of the patches sharing one halting decision over the last two
            batch axes (``[B, H, W]`` states with ``feature_dim=1``); 1 for none.
        generator: Random generator of discrete and relaxed halting.

    Returns:
        An :class:`AdaptiveOutput`.

    Raises:
        ValueError: On a halting the method cannot run, a missing head, a bad
            ``update``, ``execution``, ``feature_dim`` or ``group``, or head logits of
            the wrong shape.
    """
    halting = settings.check_halting(halting)
    update = check_choice("update", update, UPDATES)
    runner = resolve_execution(execution)
    if not runner.sync_free and torch.compiler.is_compiling():
        raise ValueError(
            f"execution {runner.name!r} reads halting decisions on the host, which "
            "torch.compile and torch.export cannot trace; use 'masked' or 'unrolled'"
        )
    runner.check(update, feature_dim, len(_batch_shape(state, feature_dim)))
    limit = settings.max_iterations
    dtype = torch.float64 if state.dtype == torch.float64 else torch.float32
    if halting != "fixed" and head is None:
        raise ValueError(f"halting {halting!r} needs a halting head; got head=None")
    # Iteration 1 runs everywhere and may change the state's shape (a strided unit), so
    # the halting elements are those of u^1.
    u = step(state, StepContext(1, feature_dim=feature_dim))
    batch_shape = _batch_shape(u, feature_dim)
    if halting == "fixed":
        return _fixed_loop(step, u, limit, batch_shape, dtype, feature_dim)
    assert head is not None
    if halting == "expected":
        grouping = SpatialGrouping.for_batch(group, batch_shape, feature_dim)
        return _expected(step, head, u, limit, batch_shape, feature_dim, dtype, grouping)
    if isinstance(runner, Unrolled) and limit > 1:  # at L = 1 the loop is one iteration
        return _unrolled(step, head, u, settings, halting, dtype, generator)
    grouping = SpatialGrouping.for_batch(group, batch_shape, feature_dim)
    stream = HaltingStream(
        halting,
        limit,
        batch_shape if grouping is None else grouping.shape,
        feature_dim=feature_dim,  # the same axis, relative to the state
        device=u.device,
        dtype=dtype,
        temperature=settings.temperature,
        delta=settings.delta,
        eps=settings.eps,
        threshold=settings.threshold,
        generator=generator,
        validate_args=False,
    )
    # The output is a weighted sum for ACT, and for relaxed replace steps (Alg. 3);
    # residual steps have weighted their updates by the mask already (eq. 28).
    accumulate = halting == "act" or (halting == "relaxed" and update == "replace")
    for level in range(1, limit + 1):
        if level > 1:
            context = StepContext(level, stream, grouping, feature_dim=feature_dim)
            u = runner.apply(step, u, context, update)
        logits = None
        if level < limit:
            raw = _logits(_head_at(head, level)(u), batch_shape, feature_dim).to(dtype)
            logits = raw if grouping is None else grouping.pool(raw)
        kept = None
        if accumulate:
            kept = u if grouping is None else grouping.to_patches(u)
        stream.step(kept, logits=logits)
        if runner.early_exit and stream.all_halted():
            break
    if stream.iteration < limit and halting != "act":
        # Every element has halted and is frozen: the heads on the frozen states give the
        # h of the iterations skipped, so N is that of all L iterations (Alg. 3), the
        # same for every execution. One head serves every l when it is shared.
        stream.extend_halted(
            _skipped_halting(
                head, u, stream.iteration, limit, batch_shape, feature_dim, dtype, grouping
            )
        )
    output = u
    if accumulate:
        output = stream.output if grouping is None else grouping.from_patches(stream.output)
        output = output.to(u.dtype)
    cost, executed = stream.cost, stream.executed
    if grouping is not None:
        cost, executed = grouping.ungroup(cost), grouping.ungroup(executed)
    return AdaptiveOutput(
        output=output,
        state=u,
        cost=cost,
        iterations=executed,
        log_prob=stream.log_prob if halting == "discrete" else None,
        loop_steps=stream.iteration,
        halting=halting,
        probs=stream.probs,
    )


def _skipped_halting(
    head: Head | Sequence[Head],
    u: Tensor,
    ran: int,
    limit: int,
    batch_shape: torch.Size,
    feature_dim: int,
    dtype: torch.dtype,
    grouping: SpatialGrouping | None,
) -> list[Tensor]:
    """``h^l`` for ``l = ran + 1 .. L - 1`` on the final (frozen) states."""

    def probs(level: int) -> Tensor:
        raw = _logits(_head_at(head, level)(u), batch_shape, feature_dim).to(dtype)
        return torch.sigmoid(raw if grouping is None else grouping.pool(raw))

    levels = range(ran + 1, limit)
    if not levels:
        return []
    if isinstance(head, Sequence | nn.ModuleList):
        return [probs(level) for level in levels]
    shared = probs(ran + 1)
    return [shared] * len(levels)


def _every_iteration(step: Step, first: Tensor, limit: int, feature_dim: int) -> list[Tensor]:
    """``[u^1, ..., u^L]``: every element runs every iteration, nothing frozen."""
    states = [first]
    for level in range(2, limit + 1):
        states.append(step(states[-1], StepContext(level, feature_dim=feature_dim)))
    return states


def _unrolled(
    step: Step,
    head: Head | Sequence[Head],
    first: Tensor,
    settings: HaltingSettings,
    halting: Halting,
    dtype: torch.dtype,
    generator: torch.Generator | None,
) -> AdaptiveOutput:
    """The :class:`Unrolled` execution: ``L`` unfrozen steps, then the halting at once."""
    limit = settings.max_iterations
    states = _every_iteration(step, first, limit, -1)
    stacked = torch.stack(states)  # [L, *batch, F]
    logits = _head_logits(head, states, stacked.shape[1:-1], -1, dtype)
    decided = unrolled_halting(logits, halting, settings, generator=generator)
    z = decided.iterations
    index = (z - 1).view(1, *z.shape, 1).expand(1, *stacked.shape[1:])
    last = torch.gather(stacked, 0, index).squeeze(0)  # u^z, the frozen state
    output = last
    if decided.weights is not None:
        output = (decided.weights.unsqueeze(-1).to(stacked.dtype) * stacked).sum(dim=0)
    return AdaptiveOutput(
        output=output,
        state=last,
        cost=decided.cost,
        iterations=z,
        log_prob=decided.log_prob,
        loop_steps=limit,
        halting=halting,
        probs=(*decided.probs.unbind(0), torch.ones_like(decided.cost)),
    )


def _head_logits(
    head: Head | Sequence[Head],
    states: Sequence[Tensor],
    batch_shape: torch.Size,
    feature_dim: int,
    dtype: torch.dtype,
) -> Tensor:
    """``[L - 1, *batch]`` logits of iterations ``1..L-1``; one call when the head is shared."""
    count = len(states) - 1
    if not isinstance(head, Sequence | nn.ModuleList) and feature_dim in (-1, len(batch_shape)):
        raw = _head_at(head, 1)(torch.stack(list(states[:-1])))  # [L - 1, *batch(, 1)]
        logits = raw.squeeze(-1) if raw.dim() == len(batch_shape) + 2 else raw
    else:
        logits = torch.stack(
            [_logits(_head_at(head, level)(states[level - 1]), batch_shape, feature_dim)
             for level in range(1, count + 1)]
        )  # fmt: skip
    return logits.to(dtype)


def _expected(
    step: Step,
    head: Head | Sequence[Head],
    first: Tensor,
    limit: int,
    batch_shape: torch.Size,
    feature_dim: int,
    dtype: torch.dtype,
    grouping: SpatialGrouping | None,
) -> AdaptiveOutput:
    """``"expected"`` halting: every element runs all ``L`` iterations; ``q`` over them.

    The output is the expected state ``sum_l q_l u^l``; ``iterates`` and
    ``distribution`` let a loss take the expectation of per-step losses (PonderNet).
    """
    states = _every_iteration(step, first, limit, feature_dim)
    stacked = torch.stack(states)  # [L, *state]
    logits = _head_logits(head, states, batch_shape, feature_dim, dtype)
    if grouping is not None:
        logits = torch.stack([grouping.pool(g) for g in logits])
    pad = torch.zeros_like(logits[:1])  # h^L = 1 whatever it holds (eq. 15)
    last_axis = torch.cat([logits, pad], dim=0).movedim(0, -1)  # [*groups, L]
    q = stick_breaking(HaltingInput(last_axis, is_logits=True)).movedim(-1, 0)  # eq. 15
    levels = torch.arange(1, limit + 1, dtype=q.dtype, device=q.device)
    cost = (q * levels.view((-1,) + (1,) * (q.dim() - 1))).sum(dim=0)  # eq. 24
    if grouping is not None:
        q = torch.stack([grouping.ungroup(g) for g in q])
        cost = grouping.ungroup(cost)
    axis = feature_dim + 1 if feature_dim >= 0 else feature_dim
    output = (q.unsqueeze(axis).to(stacked.dtype) * stacked).sum(dim=0)
    probs = (*torch.sigmoid(logits).unbind(0), torch.ones_like(pad[0]))
    return AdaptiveOutput(
        output=output,
        state=output,
        cost=cost,
        iterations=torch.full(batch_shape, limit, dtype=torch.int64, device=first.device),
        log_prob=None,
        loop_steps=limit,
        halting="expected",
        probs=probs,
        iterates=stacked,
        distribution=q,
    )


def _fixed_loop(
    step: Step,
    first: Tensor,
    limit: int,
    batch_shape: torch.Size,
    dtype: torch.dtype,
    feature_dim: int,
) -> AdaptiveOutput:
    """Iterations ``2..L`` on every element from ``u^1`` (Repeat-RNN, a dense ResNet block)."""
    u = first
    for level in range(2, limit + 1):
        u = step(u, StepContext(level, feature_dim=feature_dim))
    return AdaptiveOutput(
        output=u,
        state=u,
        cost=torch.full(batch_shape, float(limit), dtype=dtype, device=first.device),
        iterations=torch.full(batch_shape, limit, dtype=torch.int64, device=first.device),
        log_prob=None,
        loop_steps=limit,
        halting="fixed",
        probs=(),
    )


class Adaptive(nn.Module):
    """Make a block adaptive: run it up to ``L`` times per element with a halting head.

    The block is a module applied to the state, in one of two ways (``update``):

    * ``"replace"``: ``block`` maps ``u^{l-1} -> u^l`` and is applied again and again
      (a shared Transformer layer, a residual MLP, a cell with its input bound);
    * ``"residual"``: ``block`` is an ``nn.ModuleList`` of ``L`` residual functions
      ``f_l`` (or one module used for every ``l``), and ``u^l = u^{l-1} + f_l(u^{l-1})
      * a^l`` (eq. 28).

    In ``train()`` mode the halting is the method's training halting
    (``settings.train_halting``), in ``eval()`` mode ``settings.eval_default``; pass
    ``halting=`` to override (any halting the method's weights support). Keyword
    arguments of :meth:`forward` other than those below go to ``block`` at every
    iteration (not with compact execution).

    Args:
        block: The step, see above.
        head: Halting head ``u -> logits`` over the batch shape (a singleton feature
            axis is fine, e.g. ``nn.Linear(F, 1)``); ``None`` for the fixed method.
        settings: The :class:`~pact_core.HaltingSettings`. The head's bias is set to
            ``settings.halting_bias`` when that is given and the head has a ``bias``.
        update: ``"replace"`` or ``"residual"``.
        feature_dim: The feature axis of the state.
        group: Halting patch side over ``[B, H, W]`` positions (PACT fig. 4).
        execution: Default execution, one of :data:`EXECUTIONS` or an
            :class:`Execution`; a plain attribute.

    Example::

        >>> import torch
        >>> from torch import nn
        >>> from pact_core import Adaptive, HaltingSettings
        >>> block = nn.Sequential(nn.Linear(8, 8), nn.Tanh())
        >>> model = Adaptive(block, nn.Linear(8, 1), HaltingSettings("pact", max_iterations=4))
        >>> out = model(torch.randn(5, 8))
        >>> out.output.shape, out.cost.shape, int(out.iterations.max()) <= 4
        (torch.Size([5, 8]), torch.Size([5]), True)
    """

    def __init__(
        self,
        block: nn.Module,
        head: nn.Module | None,
        settings: HaltingSettings,
        *,
        update: Update = "replace",
        feature_dim: int = -1,
        group: int = 1,
        execution: str | Execution = "masked",
    ) -> None:
        super().__init__()
        self.update: Update = check_choice("update", update, UPDATES)
        if settings.has_halting and head is None:
            raise ValueError(f"the {settings.method!r} method needs a halting head")
        if (
            update == "residual"
            and isinstance(block, nn.ModuleList)
            and len(block) != settings.max_iterations
        ):
            raise ValueError(
                f"a residual block needs one module per iteration: got {len(block)} "
                f"modules for max_iterations={settings.max_iterations}"
            )
        self.block = block
        self.head = head
        self.settings = settings
        self.feature_dim = feature_dim
        self.group = group
        self.execution = resolve_execution(execution)
        bias = getattr(head, "bias", None)
        if settings.halting_bias is not None and isinstance(bias, Tensor):
            with torch.no_grad():
                bias.fill_(settings.halting_bias)

    def _step(self, kwargs: dict[str, Any]) -> Step:
        block = self.block
        if self.update == "replace":
            return lambda u, context: block(u, **kwargs)

        def residual(u: Tensor, context: StepContext) -> Tensor:
            f = block[context.iteration - 1] if isinstance(block, nn.ModuleList) else block
            update: Tensor = f(u, **kwargs)
            mask = context.mask
            if mask is None:
                return u + update
            return torch.addcmul(u, update, context.expand(mask).to(update.dtype))

        return residual

    def forward(
        self,
        state: Tensor,
        *,
        halting: Halting | None = None,
        execution: str | Execution | None = None,
        generator: torch.Generator | None = None,
        **block_kwargs: Any,
    ) -> AdaptiveOutput:
        """Run the block on ``state`` (``u^0``) and return an :class:`AdaptiveOutput`."""
        if halting is None:
            halting = self.settings.halting_for(self.training)
        runner = resolve_execution(self.execution if execution is None else execution)
        if block_kwargs and isinstance(runner, Compact):
            raise ValueError("block keyword arguments cannot be compacted; use 'early-exit'")
        return adaptive_loop(
            self._step(block_kwargs),
            self.head,
            state,
            self.settings,
            halting=halting,
            execution=runner,
            update=self.update,
            feature_dim=self.feature_dim,
            group=self.group,
            generator=generator,
        )

    def extra_repr(self) -> str:
        """The settings, update and execution, for ``repr(model)``."""
        return f"{self.settings}, update={self.update!r}, execution={self.execution.name!r}"
