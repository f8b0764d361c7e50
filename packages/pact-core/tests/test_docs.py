"""The examples in the docstrings and the README run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

MODULES = [
    "pact_core",
    "pact_core._validation",
    "pact_core.act",
    "pact_core.engine",
    "pact_core.halting",
    "pact_core.prior",
    "pact_core.reinforce",
    "pact_core.runs.cli",
    "pact_core.settings",
    "pact_core.stream",
    "pact_core.warmup",
]
README = Path(__file__).parents[1] / "README.md"
#: The tutorial "Make your own block adaptive"; its pact-seq block runs in pact-seq's suite.
TUTORIAL = Path(__file__).parents[3] / "docs" / "guide" / "adaptive-blocks.md"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_readme_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_tutorial_examples_run_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), re.S)
    core_only = [b for b in blocks if "pact_seq" not in b and "pact_vision" not in b]
    assert len(core_only) >= 4  # MLP, residual units, Transformer, own cell
    namespace: dict[str, object] = {}
    for block in core_only:
        exec(compile(block, str(TUTORIAL), "exec"), namespace)
    printed = capsys.readouterr().out
    for halting in ("thresholded", "discrete", "relaxed"):
        assert halting in printed
    assert "torch.Size([8, 12])" in printed  # per-token decisions
