from __future__ import annotations

import doctest
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import pact_seq
import pact_seq.addition
import pact_seq.layer
import pact_seq.parity

README = Path(__file__).resolve().parents[1] / "README.md"
TUTORIAL = Path(__file__).resolve().parents[3] / "docs" / "guide" / "adaptive-blocks.md"


@pytest.mark.parametrize(
    "module", [pact_seq, pact_seq.layer, pact_seq.parity, pact_seq.addition], ids=str
)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0


def test_readme_example_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "the README has a python example"
    assert len(blocks[0].strip().splitlines()) <= 12
    result = subprocess.run(
        [sys.executable, "-c", blocks[0]], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_whole_tutorial_runs_with_pact_seq(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), flags=re.DOTALL)
    assert any("from pact_seq import AdaptiveRecurrent" in b for b in blocks)
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(TUTORIAL), "exec"), namespace)
    assert "torch.Size([5, 3, 16])" in capsys.readouterr().out  # the user's cell in pact-seq
