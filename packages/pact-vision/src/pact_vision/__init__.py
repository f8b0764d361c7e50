"""pact-vision: PSACT and SACT, spatially adaptive computation time for CIFAR ResNets.

One pre-activation ResNet runs dense, as SACT (ACT per position) or as PSACT (relaxed,
discrete or thresholded halting per position, Figurnov, Sobolev and Vetrov 2018,
sec. 4.1), with the halting math from :mod:`pact_core` and FLOPs counted as SACT does.

Example::

    >>> import torch
    >>> from pact_vision import resnet32
    >>> model = resnet32(mode="thresholded").eval()
    >>> out = model(torch.randn(1, 3, 32, 32))
    >>> out.logits.shape
    torch.Size([1, 10])
"""

from pact_vision.models import (
    MODES,
    AdaptiveBlock,
    AdaptiveResNet,
    Mode,
    ResNetOptions,
    resnet,
    resnet32,
    resnet110,
    units_per_block,
)
from pact_vision.output import BlockOutput, ResNetOutput

__version__ = "0.1.0"

__all__ = [
    "MODES",
    "AdaptiveBlock",
    "AdaptiveResNet",
    "BlockOutput",
    "Mode",
    "ResNetOptions",
    "ResNetOutput",
    "resnet",
    "resnet32",
    "resnet110",
    "units_per_block",
]
