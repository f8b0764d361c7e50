"""pact-seq: ACT, PACT and Repeat-RNN recurrent cells with the parity and addition tasks.

One adaptive recurrent layer (:class:`AdaptiveRecurrent`) wraps ``nn.RNNCell``,
``nn.LSTMCell`` or ``nn.GRUCell`` in one of five modes (``act``, ``pact``,
``pact-reinforce``, ``repeat``, ``plain``); all halting math comes from
:mod:`pact_core` (PACT sec. 4.2, Algorithms 1-4). ``python -m pact_seq.train`` and
``python -m pact_seq.evaluate`` reproduce the sequence experiments of Graves (2016) and
Fojo et al. (2018).

Example::

    >>> import torch
    >>> from pact_seq import ParityTask, parity_model, training_loss
    >>> task = ParityTask(bits=8)
    >>> model = parity_model("pact", bits=8, hidden_size=16, max_ponder=5)
    >>> batch = task.sample(4, torch.Generator().manual_seed(0))
    >>> out = model(batch.x)
    >>> out.logits.shape, out.recurrent.cost.shape
    (torch.Size([4, 1, 1]), torch.Size([4, 1]))
"""

from pact_seq.addition import AdditionTask
from pact_seq.layer import CELL_TYPES, MODES, AdaptiveRecurrent, CellType, Mode, RecurrentOutput
from pact_seq.model import ModelOutput, SequenceModel, addition_model, parity_model
from pact_seq.objective import Loss, training_loss
from pact_seq.parity import ParityTask
from pact_seq.smoothing import savgol_filter, steps_to_solve
from pact_seq.task import Batch, Task

__version__ = "0.1.0"

__all__ = [
    "CELL_TYPES",
    "MODES",
    "AdaptiveRecurrent",
    "AdditionTask",
    "Batch",
    "CellType",
    "Loss",
    "Mode",
    "ModelOutput",
    "ParityTask",
    "RecurrentOutput",
    "SequenceModel",
    "Task",
    "addition_model",
    "parity_model",
    "savgol_filter",
    "steps_to_solve",
    "training_loss",
]
