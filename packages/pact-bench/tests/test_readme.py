"""The repository README's example runs, and its first lines are the two commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[3] / "README.md"

pytestmark = pytest.mark.skipif(not README.is_file(), reason="outside the monorepo checkout")


def test_readme_starts_with_the_two_commands() -> None:
    first = re.search(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert first is not None
    lines = first.group(1).strip().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("python -m pact_bench.compare")
    assert lines[1].endswith("nox -s tests")


def test_readme_python_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "the README has a python example"
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    iterations = namespace["z"]
    assert isinstance(iterations, torch.Tensor)
    assert int(iterations.min()) >= 1 and int(iterations.max()) <= 6
