"""pact-core: adaptive computation time for any block, and its halting math, tested.

* :class:`Adaptive` and :func:`adaptive_loop` make any block adaptive: the one halting
  loop, for ACT, PACT (relaxed, discrete, thresholded; REINFORCE) and a fixed number of
  iterations, per sample, token or spatial position, masked, early-exit or compacted.
* :class:`HaltingSettings` holds the method, the cap ``L`` and the halting constants;
  :func:`adaptive_loss` is the objective (task loss, ``tau * N``, REINFORCE).
* Vector functions take halting probabilities ``h: [..., L]`` (or ``logits=``) with the
  iteration axis last and ``h^L = 1``; :class:`HaltingStream` runs the same math one
  iteration at a time inside the loop.

Equation numbers refer to Figurnov, Sobolev and Vetrov, *Probabilistic Adaptive
Computation Time* (2018).

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
from pact_core.engine import (
    EXECUTIONS,
    UPDATES,
    Adaptive,
    AdaptiveOutput,
    Compact,
    EarlyExit,
    Execution,
    ExecutionName,
    Masked,
    Step,
    StepContext,
    Unrolled,
    Update,
    adaptive_loop,
    resolve_execution,
)
from pact_core.grouping import GROUP_SIZES, SpatialGrouping
from pact_core.halting import (
    expected_iterations,
    halting_distribution,
    halting_log_prob,
    relaxed_halting,
    sample_halting,
    threshold_halting,
)
from pact_core.objective import (
    REDUCTIONS,
    AdaptiveLoss,
    Reduction,
    adaptive_loss,
    geometric_prior,
    ponder_penalty,
    pondernet_kl,
    pondernet_loss,
)
from pact_core.prior import TruncatedGeometric
from pact_core.reinforce import EMABaseline, reinforce_loss
from pact_core.settings import (
    EVAL_HALTING,
    EVAL_HALTINGS,
    HALTINGS,
    METHOD_ALIASES,
    METHODS,
    REPORT_HALTINGS,
    TRAIN_HALTING,
    Halting,
    HaltingSettings,
    Interval,
    Method,
    check_choice,
    parse_method,
)
from pact_core.stream import STREAM_HALTINGS, HaltingStream
from pact_core.warmup import WarmUp

__version__ = "0.2.0"

__all__ = [
    "EVAL_HALTING",
    "EVAL_HALTINGS",
    "EXECUTIONS",
    "GROUP_SIZES",
    "HALTINGS",
    "METHODS",
    "METHOD_ALIASES",
    "REDUCTIONS",
    "REPORT_HALTINGS",
    "STREAM_HALTINGS",
    "TRAIN_HALTING",
    "UPDATES",
    "Adaptive",
    "AdaptiveLoss",
    "AdaptiveOutput",
    "Compact",
    "EMABaseline",
    "EarlyExit",
    "Execution",
    "ExecutionName",
    "Halting",
    "HaltingSettings",
    "HaltingStream",
    "Interval",
    "Masked",
    "Method",
    "Reduction",
    "SpatialGrouping",
    "Step",
    "StepContext",
    "TruncatedGeometric",
    "Unrolled",
    "Update",
    "WarmUp",
    "act_halting",
    "adaptive_loop",
    "adaptive_loss",
    "check_choice",
    "expected_iterations",
    "geometric_prior",
    "halting_distribution",
    "halting_log_prob",
    "parse_method",
    "ponder_penalty",
    "pondernet_kl",
    "pondernet_loss",
    "reinforce_loss",
    "relaxed_halting",
    "resolve_execution",
    "sample_halting",
    "set_validate_args",
    "threshold_halting",
    "validate_args",
    "validate_args_enabled",
]
