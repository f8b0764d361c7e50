"""CIFAR pre-activation ResNets with spatially adaptive computation: dense, SACT and PSACT.

One set of weights runs in five modes (PACT sec. 4.1 and 6):

* ``"dense"``: a plain ResNet (the halting heads, if any, are not run);
* ``"act"``: SACT, Graves' ACT at every spatial position (Alg. 4);
* ``"relaxed"``: PSACT with Concrete-relaxed halting (Alg. 3, eq. 27);
* ``"discrete"``: PSACT with sampled halting (Alg. 1), trained with REINFORCE (eq. 26);
* ``"thresholded"``: PSACT halting at the first ``h > 0.5`` (Alg. 2).

Each of the three blocks of ``n`` residual units is one adaptive computation block per
spatial position (or per ``g x g`` patch with grouping), run by a
:class:`pact_core.HaltingStream`. The first unit of a block always runs everywhere; each
unit but the last is followed by a :class:`~pact_vision.halting_head.HaltingHead`.
Unit ``l > 1`` is the masked residual unit of eq. 28, ``u^l = u^{l-1} + f(u^{l-1}) * a``,
with ``a`` the stream's active mask (0/1, or the clipped stick ``r * [r > delta]`` when
relaxed). In the PACT modes the block output is the last ``u^L``: for discrete and
thresholded halting that is ``u^z``; for the relaxed one the continuous mask has already
weighted each residual by the stick that remains before it, which is how eq. 28 stands in
for the weighted sum of Alg. 3 in a residual network. SACT's output is the ACT-weighted
sum of the states (Alg. 4, as in SACT's code), with a 0/1 mask.

With the default ``execution="masked"`` no halting decision is read on the host: all
``L`` units run (masked), so the forward pass never synchronises with the device. With
``execution="sparse"`` (evaluation in the thresholded or discrete mode) each unit ``l > 1``
computes only the tiles holding an active position and skips itself when there is none
(:mod:`pact_vision.sparse`), which costs one host sync per unit and saves the time the
masks save in FLOPs.
"""

from __future__ import annotations

import re
from typing import Literal, TypedDict, TypeVar, Unpack, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pact_core import HaltingStream
from pact_vision.flops import halting_head_flops, linear_flops, masked_unit_flops
from pact_vision.grouping import (
    GROUP_SIZES,
    from_patches,
    group_logits,
    grouped_shape,
    to_patches,
    ungroup,
)
from pact_vision.halting_head import HaltingHead
from pact_vision.output import BlockOutput, ResNetOutput
from pact_vision.sparse import sparse_unit_forward
from pact_vision.units import LEAKY_SLOPE, PreActUnit, batch_norm, conv3x3

__all__ = [
    "EXECUTIONS",
    "MODES",
    "AdaptiveBlock",
    "AdaptiveResNet",
    "Execution",
    "Mode",
    "ResNetOptions",
    "resnet",
    "resnet32",
    "resnet110",
    "units_per_block",
]

Mode = Literal["dense", "act", "relaxed", "discrete", "thresholded"]
MODES: tuple[Mode, ...] = get_args(Mode)
Execution = Literal["masked", "sparse"]
EXECUTIONS: tuple[Execution, ...] = get_args(Execution)
SPARSE_MODES = ("thresholded", "discrete")


_Choice = TypeVar("_Choice", bound=str)


def _one_of(name: str, value: str, choices: tuple[_Choice, ...]) -> _Choice:
    """Return ``value`` typed as one of ``choices``, else raise a ``ValueError``."""
    for known in choices:
        if value == known:
            return known
    raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def check_mode(mode: str) -> Mode:
    """Return ``mode`` if it is one of :data:`MODES`, else raise ``ValueError``."""
    return _one_of("mode", mode, MODES)


def _block_halting_flops(actives: list[Tensor], channels: int) -> Tensor:
    """int64 ``[B]``: FLOPs of units ``2..L`` and heads ``1..L-1`` of a block, in one pass.

    ``actives[k]`` (bool ``[B, H, W]``) holds the positions that ran unit ``k + 1``; the
    head after unit ``k + 1`` runs where that unit did. Counting all maps at once costs
    a few operations per block instead of several per unit.
    """
    batch = actives[0].shape[0]
    units = torch.stack(actives[1:], dim=1).flatten(0, 1)  # [B * (L - 1), H, W]
    heads = torch.stack(actives[:-1], dim=1).flatten(0, 1)
    per_map = masked_unit_flops(units, channels) + halting_head_flops(heads, channels)
    return per_map.view(batch, -1).sum(dim=1)


class AdaptiveBlock(nn.Module):
    """``L`` residual units at one resolution with a halting head after each but the last.

    Args:
        in_channels: Channels of the block input.
        channels: Channels of every unit output.
        stride: Stride of the first unit.
        num_units: ``L >= 1``.
        halting: Build the ``L - 1`` halting heads.
    """

    def __init__(
        self, in_channels: int, channels: int, stride: int, num_units: int, *, halting: bool
    ) -> None:
        super().__init__()
        self.channels = channels
        self.units = nn.ModuleList(
            [PreActUnit(in_channels, channels, stride)]
            + [PreActUnit(channels, channels) for _ in range(num_units - 1)]
        )
        self.heads = nn.ModuleList(
            [HaltingHead(channels) for _ in range(num_units - 1)] if halting else []
        )

    @property
    def residual_units(self) -> tuple[PreActUnit, ...]:
        """The ``L`` residual units, typed."""
        return tuple(u for u in self.units if isinstance(u, PreActUnit))

    @property
    def halting_heads(self) -> tuple[HaltingHead, ...]:
        """The ``L - 1`` halting heads (none without halting), typed."""
        return tuple(h for h in self.heads if isinstance(h, HaltingHead))

    @property
    def num_units(self) -> int:
        """``L``, the number of residual units."""
        return len(self.units)

    def forward(
        self,
        u: Tensor,
        mode: Mode,
        *,
        group: int,
        temperature: float,
        delta: float,
        eps: float,
        threshold: float,
        execution: Execution = "masked",
    ) -> BlockOutput:
        """Run the block on ``u: [B, C_in, H_in, W_in]`` in ``mode``.

        Args:
            u: Block input.
            mode: One of :data:`MODES`.
            group: Side ``g`` of the halting patches.
            temperature: Concrete temperature ``lambda`` (relaxed).
            delta: Stick clipping threshold ``delta`` (relaxed, eq. 28).
            eps: ACT's ``epsilon`` (act).
            threshold: Halting threshold (thresholded).
            execution: ``"masked"`` or ``"sparse"`` (binary masks, eval mode only).

        Returns:
            The block output ``[B, C, H, W]`` with its FLOPs, cost and maps.
        """
        units, heads = self.residual_units, self.halting_heads
        first = units[0]
        u = first(u)
        batch, _, height, width = u.shape
        dense = first.dense_flops(height, width)
        flops = torch.full((batch,), dense, dtype=torch.int64, device=u.device)
        num_units = self.num_units
        if mode == "dense" or num_units == 1:
            for unit in units[1:]:
                u = unit(u)
            if num_units > 1:
                flops = flops + (num_units - 1) * units[-1].dense_flops(height, width)
            executed = torch.full(
                (batch, height, width), num_units, dtype=torch.int64, device=u.device
            )
            cost_map = executed.to(torch.float32)
            return BlockOutput(u, flops, cost_map.flatten(1).mean(1), cost_map, executed, None)
        if not heads:
            raise ValueError(f"mode {mode!r} needs halting heads; the model was built without")

        stream_dtype = torch.float64 if u.dtype == torch.float64 else torch.float32
        stream = HaltingStream(
            mode,
            num_units,
            (batch, *grouped_shape(height, width, group)),
            feature_dim=1,
            device=u.device,
            dtype=stream_dtype,
            temperature=temperature,
            delta=delta,
            eps=eps,
            threshold=threshold,
            validate_args=False,
        )
        # Only SACT takes its output from the stream (the ACT-weighted sum); PSACT's output is
        # the last u, whose residuals eq. 28 has already weighted by the active mask.
        keep_states = mode == "act"
        # actives[k]: the positions that ran unit k (all of them for the first unit).
        actives = [torch.ones((batch, height, width), dtype=torch.bool, device=u.device)]
        for index, unit in enumerate(units):
            if index > 0:
                mask = ungroup(stream.mask, group, height, width)  # eq. 28: a
                actives.append(mask > 0)
                if execution == "sparse":
                    u = sparse_unit_forward(unit, u, actives[-1], in_place=True)
                else:
                    u = unit(u, mask.unsqueeze(1).to(u.dtype))
            logits = None
            if index < num_units - 1:
                logits = group_logits(heads[index](u).to(stream_dtype), group)
            stream.step(to_patches(u, group) if keep_states else None, logits=logits)
        flops = flops + _block_halting_flops(actives, self.channels)
        if mode == "act":
            features = from_patches(stream.output, group, height, width).to(u.dtype)
        else:
            features = u
        cost_map = ungroup(stream.cost, group, height, width)
        executed = ungroup(stream.executed, group, height, width)
        log_prob = stream.log_prob.flatten(1).sum(dim=1) if mode == "discrete" else None
        return BlockOutput(
            features, flops, cost_map.flatten(1).mean(dim=1), cost_map, executed, log_prob
        )


class AdaptiveResNet(nn.Module):
    """CIFAR pre-activation ResNet of ``6n + 2`` layers with per-position halting.

    The mode and the halting settings are plain attributes, so one model (one set of
    weights) is evaluated every way without being rebuilt.

    Args:
        units_per_block: ``n``, the residual units in each of the three blocks.
        num_classes: Number of classes.
        in_channels: Image channels (3 for CIFAR, 1 for Fashion-MNIST).
        widths: Channels of the three blocks.
        halting: Build the halting heads; ``False`` gives a plain ResNet that only runs
            in ``"dense"`` mode (its checkpoints load into a halting model, which keeps
            its new heads).
        mode: Initial mode, one of :data:`MODES`.
        group: Side ``g`` of the patches whose halting logits are averaged (1, 2, 4, 8).
        temperature: Concrete temperature ``lambda`` of the relaxed mode.
        delta: Clipping threshold ``delta`` of the relaxed mode (eq. 28).
        eps: ACT's ``epsilon`` (SACT mode).
        threshold: Halting threshold of the thresholded mode.
        execution: ``"masked"`` (every unit runs everywhere, multiplied by its mask) or
            ``"sparse"`` (units compute only where their mask is active; evaluation in the
            thresholded or discrete mode only; same outputs up to summation order).

    Example::

        >>> import torch
        >>> from pact_vision import resnet32
        >>> model = resnet32(mode="relaxed")
        >>> out = model(torch.randn(2, 3, 32, 32))
        >>> out.logits.shape, out.flops.shape, len(out.cost_maps)
        (torch.Size([2, 10]), torch.Size([2]), 3)
    """

    def __init__(
        self,
        units_per_block: int,
        *,
        num_classes: int = 10,
        in_channels: int = 3,
        widths: tuple[int, int, int] = (16, 32, 64),
        halting: bool = True,
        mode: Mode = "dense",
        group: int = 1,
        temperature: float = 2.0 / 3.0,
        delta: float = 0.01,
        eps: float = 0.01,
        threshold: float = 0.5,
        execution: Execution = "masked",
    ) -> None:
        super().__init__()
        if isinstance(units_per_block, bool) or not isinstance(units_per_block, int):
            raise ValueError(f"units_per_block must be an integer >= 1, got {units_per_block!r}")
        if units_per_block < 1:
            raise ValueError(f"units_per_block must be an integer >= 1, got {units_per_block}")
        self.units_per_block = units_per_block
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.widths = widths
        self.halting = halting
        self.stem = conv3x3(in_channels, widths[0])
        blocks = []
        previous = widths[0]
        for index, width in enumerate(widths):
            stride = 1 if index == 0 else 2
            blocks.append(AdaptiveBlock(previous, width, stride, units_per_block, halting=halting))
            previous = width
        self.blocks = nn.ModuleList(blocks)
        self.final_bn = batch_norm(previous)
        self.classifier = nn.Linear(previous, num_classes)
        self.mode = mode
        self.group = group
        self.temperature = temperature
        self.delta = delta
        self.eps = eps
        self.threshold = threshold
        self.execution = execution

    @property
    def stages(self) -> tuple[AdaptiveBlock, ...]:
        """The three blocks of residual units, typed."""
        return tuple(b for b in self.blocks if isinstance(b, AdaptiveBlock))

    @property
    def mode(self) -> Mode:
        """The current mode, one of :data:`MODES`; assign to switch."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        mode = check_mode(value)
        if mode != "dense" and not self.halting:
            raise ValueError(f"mode {mode!r} needs halting heads; this model was built without")
        self._mode = mode

    @property
    def execution(self) -> Execution:
        """``"masked"`` or ``"sparse"``, one of :data:`EXECUTIONS`; assign to switch."""
        return self._execution

    @execution.setter
    def execution(self, value: str) -> None:
        self._execution = _one_of("execution", value, EXECUTIONS)

    @property
    def group(self) -> int:
        """Side ``g`` of the grouped halting patches; assign to switch."""
        return self._group

    @group.setter
    def group(self, value: int) -> None:
        if value not in GROUP_SIZES:
            raise ValueError(f"group must be one of {GROUP_SIZES}, got {value!r}")
        self._group = value

    def forward(self, x: Tensor) -> ResNetOutput:
        """Classify images ``x: [B, C, H, W]`` in the current mode.

        Returns:
            Logits, per-image FLOPs, and per-block costs, cost maps, executed-unit maps
            and (discrete mode) ``log q(z)``; see :class:`~pact_vision.output.ResNetOutput`.
        """
        if self._execution == "sparse" and (self.training or self._mode not in SPARSE_MODES):
            raise ValueError(
                "execution='sparse' evaluates binary masks: it needs model.eval() and mode "
                f"thresholded or discrete, got mode {self._mode!r} in "
                f"{'training' if self.training else 'eval'} mode"
            )
        u = self.stem(x)
        batch, _, height, width = u.shape
        stem_flops = 2 * self.stem.in_channels * self.stem.out_channels * 9 * height * width
        flops = torch.full((batch,), stem_flops, dtype=torch.int64, device=x.device)
        outputs = []
        for block in self.stages:
            result = block(
                u,
                self._mode,
                group=self._group,
                temperature=self.temperature,
                delta=self.delta,
                eps=self.eps,
                threshold=self.threshold,
                execution=self._execution,
            )
            outputs.append(result)
            u = result.features
            flops = flops + result.flops
        features = F.leaky_relu(self.final_bn(u), LEAKY_SLOPE).mean(dim=(2, 3))
        logits = self.classifier(features)
        flops = flops + linear_flops(self.classifier.in_features, self.classifier.out_features)
        log_probs = [o.log_prob for o in outputs if o.log_prob is not None]
        return ResNetOutput(
            logits=logits,
            flops=flops,
            costs=tuple(o.cost for o in outputs),
            cost_maps=tuple(o.cost_map for o in outputs),
            executed=tuple(o.executed for o in outputs),
            log_prob=torch.stack(log_probs).sum(dim=0) if log_probs else None,
        )

    def extra_repr(self) -> str:
        """The architecture and halting settings, for ``repr(model)``."""
        return (
            f"n={self.units_per_block}, mode={self._mode!r}, group={self._group}, "
            f"temperature={self.temperature}, delta={self.delta}"
        )


class ResNetOptions(TypedDict, total=False):
    """Keyword options of :class:`AdaptiveResNet`, for the constructors."""

    num_classes: int
    in_channels: int
    widths: tuple[int, int, int]
    halting: bool
    mode: Mode
    group: int
    temperature: float
    delta: float
    eps: float
    threshold: float
    execution: Execution


def _build(units_per_block: int, **kwargs: Unpack[ResNetOptions]) -> AdaptiveResNet:
    return AdaptiveResNet(units_per_block, **kwargs)


def resnet(units_per_block: int, **kwargs: Unpack[ResNetOptions]) -> AdaptiveResNet:
    """A ``6n + 2``-layer adaptive ResNet; keyword arguments go to :class:`AdaptiveResNet`."""
    return _build(units_per_block, **kwargs)


def resnet32(**kwargs: Unpack[ResNetOptions]) -> AdaptiveResNet:
    """ResNet-32 (``n = 5``); keyword arguments go to :class:`AdaptiveResNet`."""
    return _build(5, **kwargs)


def resnet110(**kwargs: Unpack[ResNetOptions]) -> AdaptiveResNet:
    """ResNet-110 (``n = 18``); keyword arguments go to :class:`AdaptiveResNet`."""
    return _build(18, **kwargs)


def units_per_block(arch: str) -> int:
    """Parse an architecture name ``resnet{6n+2}`` (e.g. ``resnet32``) into ``n``."""
    match = re.fullmatch(r"resnet(\d+)", arch)
    depth = int(match.group(1)) if match else -1
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"arch must be resnet<6n+2> with n >= 1 (e.g. resnet32), got {arch!r}")
    return (depth - 2) // 6
