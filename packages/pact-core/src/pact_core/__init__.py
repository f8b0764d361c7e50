"""pact-core: the halting math of adaptive computation time, framework-light and tested.

Vector functions take halting probabilities ``h: [..., L]`` (or ``logits=``) with the
iteration axis last and ``h^L = 1``; :class:`HaltingStream` runs the same math one
iteration at a time for models. Equation numbers refer to Figurnov, Sobolev and Vetrov,
*Probabilistic Adaptive Computation Time* (2018).

Example::

    >>> import torch
    >>> import pact_core as pc
    >>> logits = torch.tensor([[-1.0, 0.5, 2.0, 0.0]])
    >>> q = pc.halting_distribution(logits=logits)  # eq. 15, on the simplex
    >>> torch.allclose(q.sum(-1), torch.ones(1))
    True
    >>> pc.threshold_halting(logits=logits)
    tensor([2])
"""

from pact_core._validation import set_validate_args, validate_args, validate_args_enabled
from pact_core.act import act_halting
from pact_core.halting import (
    expected_iterations,
    halting_distribution,
    halting_log_prob,
    relaxed_halting,
    sample_halting,
    threshold_halting,
)
from pact_core.prior import TruncatedGeometric
from pact_core.reinforce import EMABaseline, reinforce_loss
from pact_core.stream import HALTING_MODES, HaltingMode, HaltingStream

__version__ = "0.1.0"

__all__ = [
    "HALTING_MODES",
    "EMABaseline",
    "HaltingMode",
    "HaltingStream",
    "TruncatedGeometric",
    "act_halting",
    "expected_iterations",
    "halting_distribution",
    "halting_log_prob",
    "reinforce_loss",
    "relaxed_halting",
    "sample_halting",
    "set_validate_args",
    "threshold_halting",
    "validate_args",
    "validate_args_enabled",
]
