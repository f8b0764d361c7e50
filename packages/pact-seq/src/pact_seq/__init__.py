"""pact-seq: ACT, PACT and Repeat-RNN recurrent cells with the parity and addition tasks.

One adaptive recurrent layer (:class:`AdaptiveRecurrent`) makes ``nn.RNNCell``,
``nn.LSTMCell``, ``nn.GRUCell`` or a cell of your own adaptive with any method of
:class:`pact_core.HaltingSettings` (``act``, ``pact``, ``pact-reinforce``, and ``fixed``
for Repeat-RNN and the plain RNN); the halting loop is :func:`pact_core.adaptive_loop`
(PACT sec. 4.2, Algorithms 1-4). ``python -m pact_seq.train`` and
``python -m pact_seq.evaluate`` reproduce the sequence experiments of Graves (2016) and
Fojo et al. (2018).

Example::

    >>> import torch
    >>> from pact_core import HaltingSettings
    >>> from pact_seq import ParityTask, parity_model, training_loss
    >>> task = ParityTask(bits=8)
    >>> model = parity_model(HaltingSettings("pact", max_iterations=5), bits=8, hidden_size=16)
    >>> batch = task.sample(4, torch.Generator().manual_seed(0))
    >>> out = model(batch.x)
    >>> out.logits.shape, out.recurrent.cost.shape
    (torch.Size([4, 1, 1]), torch.Size([4, 1]))
"""

from pact_seq.addition import AdditionTask
from pact_seq.config import TrainConfig, build_model, build_task, settings_for
from pact_seq.evaluation import Evaluation, evaluate_model, load_model, load_seq_checkpoint
from pact_seq.layer import CELL_TYPES, AdaptiveRecurrent, CellType, RecurrentOutput
from pact_seq.model import ModelOutput, SequenceModel, addition_model, parity_model
from pact_seq.objective import training_loss
from pact_seq.parity import ParityTask
from pact_seq.prefix_parity import PrefixParityTask
from pact_seq.smoothing import SOLVED_ACCURACY, smoothed_accuracy, steps_to_solve
from pact_seq.task import Batch, Task
from pact_seq.trainer import Trainer, run_training, train_step
from pact_seq.transformer import AdaptiveTransformer

__version__ = "0.2.0"

__all__ = [
    "CELL_TYPES",
    "SOLVED_ACCURACY",
    "AdaptiveRecurrent",
    "AdaptiveTransformer",
    "AdditionTask",
    "Batch",
    "CellType",
    "Evaluation",
    "ModelOutput",
    "ParityTask",
    "PrefixParityTask",
    "RecurrentOutput",
    "SequenceModel",
    "Task",
    "TrainConfig",
    "Trainer",
    "addition_model",
    "build_model",
    "build_task",
    "evaluate_model",
    "load_model",
    "load_seq_checkpoint",
    "parity_model",
    "run_training",
    "settings_for",
    "smoothed_accuracy",
    "steps_to_solve",
    "train_step",
    "training_loss",
]
