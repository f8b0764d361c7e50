"""CIFAR pre-activation ResNets with spatially adaptive computation: dense, SACT and PSACT.

One set of weights runs with every halting of :class:`pact_core.HaltingSettings`
(PACT sec. 4.1 and 6):

* ``"fixed"``: a plain (dense) ResNet; the halting heads, if any, are not run;
* ``"act"``: SACT, Graves' ACT at every spatial position (Alg. 4);
* ``"relaxed"``: PSACT with Concrete-relaxed halting (Alg. 3, eq. 27);
* ``"discrete"``: PSACT with sampled halting (Alg. 1), trained with REINFORCE (eq. 26);
* ``"thresholded"``: PSACT halting at the first ``h > 0.5`` (Alg. 2).

Each of the three blocks of ``L`` residual units is one adaptive computation block per
spatial position (or per ``g x g`` patch with grouping), run by
:func:`pact_core.adaptive_loop` with residual steps: the first unit of a block always runs
everywhere; each unit but the last is followed by a
:class:`~pact_vision.halting_head.HaltingHead`; unit ``l > 1`` is the masked residual unit
of eq. 28, ``u^l = u^{l-1} + f(u^{l-1}) * a``, with ``a`` the active mask (0/1, or the
clipped stick ``r * [r > delta]`` when relaxed). In the PACT haltings the block output is
the last ``u^L``: for discrete and thresholded halting that is ``u^z``; for the relaxed
one the continuous mask has already weighted each residual by the stick that remains
before it, which is how eq. 28 stands in for the weighted sum of Alg. 3 in a residual
network. SACT's output is the ACT-weighted sum of the states (Alg. 4, as in SACT's code),
with a 0/1 mask.

With the default ``execution="masked"`` no halting decision is read on the host: all
``L`` units run (masked), so the forward pass never synchronises with the device. With
``execution="sparse"`` (evaluation with thresholded or discrete halting) each unit
``l > 1`` computes only the tiles holding an active position and skips itself when there
is none (:class:`~pact_vision.sparse.SparseTiles`, an execution plugged into the
engine), which costs one host sync per unit and saves the time the masks save in FLOPs.
"""

from __future__ import annotations

import re
from typing import Literal, TypedDict, Unpack, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pact_core import (
    GROUP_SIZES,
    Halting,
    HaltingSettings,
    Method,
    StepContext,
    adaptive_loop,
    check_choice,
)
from pact_vision.flops import halting_head_flops, linear_flops, masked_unit_flops
from pact_vision.halting_head import INIT_BIAS, HaltingHead
from pact_vision.output import BlockOutput, ResNetOutput
from pact_vision.sparse import SparseTiles
from pact_vision.units import LEAKY_SLOPE, PreActUnit, batch_norm, conv3x3

__all__ = [
    "EXECUTIONS",
    "AdaptiveBlock",
    "AdaptiveResNet",
    "Execution",
    "ResNetOptions",
    "max_iterations_of",
    "resnet",
    "resnet32",
    "resnet110",
]

Execution = Literal["masked", "sparse"]
EXECUTIONS: tuple[Execution, ...] = get_args(Execution)
SPARSE_HALTINGS: tuple[Halting, ...] = ("thresholded", "discrete")


def _block_halting_flops(executed: Tensor, num_units: int, channels: int) -> Tensor:
    """int64 ``[B]``: FLOPs of units ``2..L`` and heads ``1..L-1`` of a block, in one pass.

    Unit ``l`` ran at the positions that executed at least ``l`` units (``executed``,
    int64 ``[B, H, W]``; a halted position never runs again), and the head after unit
    ``l`` ran where that unit did. Counting all maps at once costs a few operations per
    block instead of several per unit.
    """
    batch = executed.shape[0]
    levels = torch.arange(1, num_units + 1, device=executed.device).view(1, -1, 1, 1)
    ran = executed.unsqueeze(1) >= levels  # [B, L, H, W]: ran unit l
    units = ran[:, 1:].flatten(0, 1)  # [B * (L - 1), H, W]
    heads = ran[:, :-1].flatten(0, 1)
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
        halting_bias: Initial bias of the heads.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int,
        num_units: int,
        *,
        halting: bool,
        halting_bias: float = INIT_BIAS,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.units = nn.ModuleList(
            [PreActUnit(in_channels, channels, stride)]
            + [PreActUnit(channels, channels) for _ in range(num_units - 1)]
        )
        self.heads = nn.ModuleList(
            [HaltingHead(channels, bias=halting_bias) for _ in range(num_units - 1)]
            if halting
            else []
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

    def _step(self, u: Tensor, context: StepContext) -> Tensor:
        """Unit ``l`` as a residual step of eq. 28 (the mask is ``None`` when all run)."""
        unit = self.units[context.iteration - 1]
        mask = context.mask
        out: Tensor = unit(u, None if mask is None else mask.unsqueeze(1).to(u.dtype))
        return out

    def forward(
        self,
        u: Tensor,
        halting: Halting,
        settings: HaltingSettings,
        *,
        group: int = 1,
        execution: Execution = "masked",
    ) -> BlockOutput:
        """Run the block on ``u: [B, C_in, H_in, W_in]``.

        Args:
            u: Block input.
            halting: One of the haltings of ``settings``' method.
            settings: Temperature, delta, eps and threshold (the cap is the block's ``L``).
            group: Side ``g`` of the halting patches.
            execution: ``"masked"`` or ``"sparse"`` (binary masks, eval mode only).

        Returns:
            The block output ``[B, C, H, W]`` with its FLOPs, cost and maps.
        """
        num_units = self.num_units
        if num_units == 1:
            halting = "fixed"  # no unit can be skipped
        elif halting != "fixed" and not self.heads:
            raise ValueError(
                f"halting {halting!r} needs halting heads; the model was built without"
            )
        block = adaptive_loop(
            self._step,
            self.heads,
            u,
            settings.replace(max_iterations=num_units),
            halting=halting,
            execution=SparseTiles(self.residual_units) if execution == "sparse" else "masked",
            update="residual",
            feature_dim=1,
            group=group,
        )
        features, executed = block.output, block.iterations
        batch, _, height, width = features.shape
        dense = self.residual_units[0].dense_flops(height, width)
        flops = torch.full((batch,), dense, dtype=torch.int64, device=features.device)
        if halting == "fixed":
            if num_units > 1:
                flops = flops + (num_units - 1) * self.residual_units[-1].dense_flops(height, width)
        else:
            flops = flops + _block_halting_flops(executed, num_units, self.channels)
        cost_map = block.cost
        log_prob = None if block.log_prob is None else block.log_prob.flatten(1).sum(dim=1)
        return BlockOutput(
            features, flops, cost_map.flatten(1).mean(dim=1), cost_map, executed, log_prob
        )


class AdaptiveResNet(nn.Module):
    """CIFAR pre-activation ResNet of ``6L + 2`` layers with per-position halting.

    The halting, grouping and execution are plain attributes, so one model (one set of
    weights) is evaluated every way without being rebuilt.

    Args:
        settings: The method (``"fixed"`` builds a plain ResNet without halting heads,
            whose checkpoints load into a halting model that keeps its new heads), the
            residual units per block ``L = max_iterations`` (5 for ResNet-32, 18 for
            ResNet-110), and the halting constants. The heads start at
            ``settings.halting_bias``, by default -3 (SACT).
        num_classes: Number of classes.
        in_channels: Image channels (3 for CIFAR, 1 for Fashion-MNIST).
        widths: Channels of the three blocks.
        halting: The halting of :meth:`forward`; ``None`` (the default) follows the
            training mode: ``settings.train_halting`` in ``train()``,
            ``settings.eval_default`` in ``eval()``.
        group: Side ``g`` of the patches whose halting logits are averaged (1, 2, 4, 8).
        execution: ``"masked"`` (every unit runs everywhere, multiplied by its mask) or
            ``"sparse"`` (units compute only where their mask is active; evaluation with
            thresholded or discrete halting only; same outputs up to summation order).

    Example::

        >>> import torch
        >>> from pact_core import HaltingSettings
        >>> from pact_vision import AdaptiveResNet
        >>> model = AdaptiveResNet(HaltingSettings("pact", max_iterations=5))
        >>> out = model(torch.randn(2, 3, 32, 32))  # relaxed in train() mode
        >>> out.logits.shape, out.flops.shape, len(out.cost_maps)
        (torch.Size([2, 10]), torch.Size([2]), 3)
    """

    def __init__(
        self,
        settings: HaltingSettings,
        *,
        num_classes: int = 10,
        in_channels: int = 3,
        widths: tuple[int, int, int] = (16, 32, 64),
        halting: Halting | None = None,
        group: int = 1,
        execution: Execution = "masked",
    ) -> None:
        super().__init__()
        self.settings = settings
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.widths = widths
        self.stem = conv3x3(in_channels, widths[0])
        bias = settings.resolved_bias(INIT_BIAS)
        blocks = []
        previous = widths[0]
        for index, width in enumerate(widths):
            stride = 1 if index == 0 else 2
            blocks.append(
                AdaptiveBlock(
                    previous,
                    width,
                    stride,
                    settings.max_iterations,
                    halting=settings.has_halting,
                    halting_bias=bias,
                )
            )
            previous = width
        self.blocks = nn.ModuleList(blocks)
        self.final_bn = batch_norm(previous)
        self.classifier = nn.Linear(previous, num_classes)
        self.halting = halting
        self.group = group
        self.execution = execution

    @property
    def max_iterations(self) -> int:
        """``L``, the residual units in each block."""
        return self.settings.max_iterations

    @property
    def stages(self) -> tuple[AdaptiveBlock, ...]:
        """The three blocks of residual units, typed."""
        return tuple(b for b in self.blocks if isinstance(b, AdaptiveBlock))

    @property
    def halting(self) -> Halting | None:
        """The halting of :meth:`forward`, or ``None`` to follow the training mode."""
        return self._halting

    @halting.setter
    def halting(self, value: Halting | None) -> None:
        self._halting = None if value is None else self.settings.check_halting(value)

    @property
    def current_halting(self) -> Halting:
        """The halting the next :meth:`forward` uses."""
        if self._halting is not None:
            return self._halting
        return self.settings.halting_for(self.training)

    @property
    def execution(self) -> Execution:
        """``"masked"`` or ``"sparse"``, one of :data:`EXECUTIONS`; assign to switch."""
        return self._execution

    @execution.setter
    def execution(self, value: str) -> None:
        self._execution = check_choice("execution", value, EXECUTIONS)

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
        """Classify images ``x: [B, C, H, W]`` with :attr:`current_halting`.

        Returns:
            Logits, per-image FLOPs, and per-block costs, cost maps, executed-unit maps
            and (discrete halting) ``log q(z)``; see :class:`~pact_vision.output.ResNetOutput`.
        """
        halting = self.current_halting
        if self._execution == "sparse" and (self.training or halting not in SPARSE_HALTINGS):
            raise ValueError(
                "execution='sparse' evaluates binary masks: it needs model.eval() and "
                f"halting thresholded or discrete, got halting {halting!r} in "
                f"{'training' if self.training else 'eval'} mode"
            )
        u = self.stem(x)
        batch, _, height, width = u.shape
        stem_flops = 2 * self.stem.in_channels * self.stem.out_channels * 9 * height * width
        flops = torch.full((batch,), stem_flops, dtype=torch.int64, device=x.device)
        outputs = []
        for block in self.stages:
            result = block(u, halting, self.settings, group=self._group, execution=self._execution)
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
        return f"{self.settings}, halting={self._halting!r}, group={self._group}"


class ResNetOptions(TypedDict, total=False):
    """Keyword options of :class:`AdaptiveResNet`, for the constructors."""

    num_classes: int
    in_channels: int
    widths: tuple[int, int, int]
    halting: Halting | None
    group: int
    execution: Execution


def resnet(
    max_iterations: int, method: Method = "pact", **options: Unpack[ResNetOptions]
) -> AdaptiveResNet:
    """A ``6L + 2``-layer adaptive ResNet with default halting settings for ``method``.

    For other halting constants build :class:`AdaptiveResNet` with your own settings.
    """
    return AdaptiveResNet(HaltingSettings(method, max_iterations=max_iterations), **options)


def resnet32(method: Method = "pact", **options: Unpack[ResNetOptions]) -> AdaptiveResNet:
    """ResNet-32 (``L = 5`` units per block); see :func:`resnet`."""
    return resnet(5, method, **options)


def resnet110(method: Method = "pact", **options: Unpack[ResNetOptions]) -> AdaptiveResNet:
    """ResNet-110 (``L = 18`` units per block); see :func:`resnet`."""
    return resnet(18, method, **options)


def max_iterations_of(arch: str) -> int:
    """Parse an architecture name ``resnet{6L+2}`` (e.g. ``resnet32``) into ``L``."""
    match = re.fullmatch(r"resnet(\d+)", arch)
    depth = int(match.group(1)) if match else -1
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"arch must be resnet<6n+2> with n >= 1 (e.g. resnet32), got {arch!r}")
    return (depth - 2) // 6
