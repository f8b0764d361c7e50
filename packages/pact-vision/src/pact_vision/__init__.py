"""pact-vision: PSACT and SACT, spatially adaptive computation time for CIFAR ResNets.

One pre-activation ResNet runs dense, as SACT (ACT per position) or as PSACT (relaxed,
discrete or thresholded halting per position, Figurnov, Sobolev and Vetrov 2018,
sec. 4.1); each block is an adaptive computation block run by
:func:`pact_core.adaptive_loop`, and FLOPs are counted as SACT does.

Example::

    >>> import torch
    >>> from pact_vision import resnet32
    >>> model = resnet32("pact").eval()  # thresholded halting in eval()
    >>> out = model(torch.randn(1, 3, 32, 32))
    >>> out.logits.shape
    torch.Size([1, 10])
"""

from pact_vision.augment import standardize
from pact_vision.checkpoint import (
    CheckpointError,
    build_model,
    load_checkpoint,
    model_config,
    run_config,
    save_checkpoint,
)
from pact_vision.datasets import DataError, ImageSet, load_dataset
from pact_vision.evaluation import EvalResult, evaluate_model
from pact_vision.models import (
    EXECUTIONS,
    AdaptiveBlock,
    AdaptiveResNet,
    Execution,
    ResNetOptions,
    max_iterations_of,
    resnet,
    resnet32,
    resnet110,
)
from pact_vision.output import BlockOutput, ResNetOutput
from pact_vision.sparse import SparseTiles

__version__ = "0.2.0"

__all__ = [
    "EXECUTIONS",
    "AdaptiveBlock",
    "AdaptiveResNet",
    "BlockOutput",
    "CheckpointError",
    "DataError",
    "EvalResult",
    "Execution",
    "ImageSet",
    "ResNetOptions",
    "ResNetOutput",
    "SparseTiles",
    "build_model",
    "evaluate_model",
    "load_checkpoint",
    "load_dataset",
    "max_iterations_of",
    "model_config",
    "resnet",
    "resnet32",
    "resnet110",
    "run_config",
    "save_checkpoint",
    "standardize",
]
